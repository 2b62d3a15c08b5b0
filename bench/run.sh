#!/bin/sh
# bench/run.sh: tcptap's benchmark (run by `make bench` after the build).
#
# Group 1, bulk throughput: BENCH_BYTES (default 1 GiB) one way, client to
# server, over loopback, BENCH_RUNS times (default 3) per case: no relay
# (direct), tcptap with and without taps, socat, haproxy.  Prints median,
# min and max MiB/s, the median's ratio to direct and to haproxy with
# splice forced both ways, and the relay's CPU seconds per GiB.
#
# Group 2, formatter speed: tap-hexdump -r against hexdump -C, xxd and
# od on BENCH_HEX_MIB (default 64) MiB of random bytes to /dev/null,
# BENCH_HEX_RUNS (default 3) runs each, after checking that tap-hexdump -r
# output is byte-identical to hexdump -C.
#
# BENCH_GROUPS (default "bulk hex") picks the groups to run.
# Defaults keep a run under about 5 minutes on 2 cores.  Loopback only;
# every server is started here, recorded, and stopped by its PID; every
# wait is bounded.  Peers that are not installed are skipped with a note
# (`apt-get install haproxy socat` is tried once when running as root).
#
# Measuring: bench/bin/bulk send times from just before connect(2) to the
# EOF it gets back after shutting down its write side; bench/bin/bulk sink
# closes only after reading EOF, so every figure includes delivery through
# the relay.  Each run is checked: the sink must report exactly BENCH_BYTES.
#
# Relay CPU: each case starts its server fresh, and reads utime + stime +
# cutime + cstime (fields 14-17 of /proc/PID/stat) of the server process
# before and after its runs, once every child has been reaped.  tcptap and
# socat fork one process per connection and reap it, so cutime/cstime hold
# the per-connection relays, and for tcptap also the taps the relay runs
# and reaps (tap CPU counts as watching cost); haproxy is one process, so
# its own utime/stime hold everything.  The delta divided by the GiB moved
# is "CPU s/GiB".  It is the whole relay (accept, fork, setup, copy), not
# the sender's or the sink's.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 3

RUNS=${BENCH_RUNS:-3}
BYTES=${BENCH_BYTES:-1073741824}
HEX_MIB=${BENCH_HEX_MIB:-64}
HEX_RUNS=${BENCH_HEX_RUNS:-3}
WANT_GROUPS=${BENCH_GROUPS:-bulk hex}
BULK=bench/bin/bulk
TCPTAP=$ROOT/bin/tcptap
TAPCAT=$ROOT/bin/tap-cat
TAPHEX=$ROOT/bin/tap-hexdump
CLK_TCK=$(getconf CLK_TCK)
FAILED=0

case $RUNS in ''|*[!0-9]*|0) echo "bench: BENCH_RUNS must be a positive integer" >&2; exit 2;; esac
case $BYTES in ''|*[!0-9]*|0) echo "bench: BENCH_BYTES must be a positive integer" >&2; exit 2;; esac
case $HEX_MIB in ''|*[!0-9]*|0) echo "bench: BENCH_HEX_MIB must be a positive integer" >&2; exit 2;; esac
case $HEX_RUNS in ''|*[!0-9]*|0) echo "bench: BENCH_HEX_RUNS must be a positive integer" >&2; exit 2;; esac
for g in $WANT_GROUPS; do
	case $g in bulk|hex) ;; *) echo "bench: BENCH_GROUPS: unknown group $g (bulk, hex)" >&2; exit 2;; esac
done
want_group() { case " $WANT_GROUPS " in *" $1 "*) return 0;; esac; return 1; }
[ "$RUNS" -le 100 ] && [ "$HEX_RUNS" -le 100 ] || { echo "bench: at most 100 runs" >&2; exit 2; }

mkdir -p bench/bin
cc -O2 -Wall -Wextra -Werror -o "$BULK" bench/bulk.c || exit 3

TMP=$(mktemp -d "${TMPDIR:-/tmp}/tcptap-bench.XXXXXX") || exit 3
PIDS=""

# A process is gone when /proc/PID is gone or it is a zombie (our child,
# not yet waited for).
alive() {
	[ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$st" ] && [ "$st" != Z ]
}

# stop PID: SIGTERM, up to 5 s, then SIGKILL; reap; forget it.
stop_pid() {
	kill -TERM "$1" 2>/dev/null
	n=0
	while alive "$1" && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
	alive "$1" && kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	rest=""
	for q in $PIDS; do [ "$q" = "$1" ] || rest="$rest $q"; done
	PIDS=$rest
}

cleanup() {
	for p in $PIDS; do stop_pid "$p"; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# wait_file FILE SECS: until FILE is non-empty.
wait_file() {
	n=0
	while [ ! -s "$1" ] && [ $n -lt $(($2 * 20)) ]; do sleep 0.05; n=$((n + 1)); done
	[ -s "$1" ]
}

# CPU clock ticks of PID and of its reaped children.
cpu_ticks() {
	sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 + $14 + $15 }'
}

# wait_no_children PID: until PID has no live children (at most 10 s).
wait_no_children() {
	n=0
	while [ $n -lt 100 ]; do
		kids=$(pgrep -P "$1" 2>/dev/null)
		live=0
		for k in $kids; do alive "$k" && live=1; done
		[ $live = 0 ] && return 0
		sleep 0.1; n=$((n + 1))
	done
	return 1
}

# Median, min and max of the numbers on stdin, one a line.
stats() {
	sort -n | awk '{ v[NR] = $1 } END {
		if (NR == 0) exit 1
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%s %s %s\n", m, v[1], v[NR] }'
}

note() { printf '%s\n' "$*" >&2; }

# ---------------------------------------------------------------- machine
echo "tcptap bench, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) CPU ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)), $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# ---------------------------------------------------------------- peers
if { ! command -v socat >/dev/null || ! command -v haproxy >/dev/null; } &&
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	note "bench: installing socat and haproxy"
	DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y \
	    --no-install-recommends haproxy socat >"$TMP/apt.log" 2>&1 ||
	    note "bench: apt-get failed (see above); skipping missing peers"
fi
PATH=$PATH:/usr/sbin:/sbin

# ---------------------------------------------------------------- bulk
bulk_group() {
"$BULK" sink -P "$TMP/sink.port" >"$TMP/sink.out" 2>"$TMP/sink.err" &
SINK_PID=$!
PIDS="$PIDS $SINK_PID"
wait_file "$TMP/sink.port" 10 || { note "bench: sink did not start"; cat "$TMP/sink.err" >&2; exit 3; }
SINK_PORT=$(cat "$TMP/sink.port")
RESULTS=$TMP/bulk.tsv
NOTES=$TMP/bulk.notes
: >"$RESULTS"
: >"$NOTES"

# start_server KIND ARGS...: start one relay to the sink; sets SPORT, SPID.
start_server() {
	kind=$1; shift
	SPID=""
	SPORT=""
	case $kind in
	direct)
		SPORT=$SINK_PORT
		return 0 ;;
	tcptap)
		rm -f "$TMP/tt.port"
		"$TCPTAP" -q -P "$TMP/tt.port" "$@" 127.0.0.1:0 \
		    "127.0.0.1:$SINK_PORT" 2>"$TMP/server.err" &
		SPID=$!
		PIDS="$PIDS $SPID"
		wait_file "$TMP/tt.port" 10 || return 1
		SPORT=$(cat "$TMP/tt.port") ;;
	socat)
		SPORT=$("$BULK" freeport) || return 1
		socat "$@" "TCP-LISTEN:$SPORT,bind=127.0.0.1,fork,reuseaddr" \
		    "TCP:127.0.0.1:$SINK_PORT" 2>"$TMP/server.err" &
		SPID=$!
		PIDS="$PIDS $SPID"
		"$BULK" listening "$SPORT" 10 || return 1 ;;
	haproxy)
		# One process, default threads and pipe size (what a user
		# gets), tcp mode; "$@" are the splice option lines.
		SPORT=$("$BULK" freeport) || return 1
		{
			echo "global"
			echo "	maxconn 64"
			echo "defaults"
			echo "	mode tcp"
			echo "	timeout connect 5s"
			echo "	timeout client 120s"
			echo "	timeout server 120s"
			for o in "$@"; do echo "	option $o"; done
			echo "listen bench"
			echo "	bind 127.0.0.1:$SPORT"
			echo "	server sink 127.0.0.1:$SINK_PORT"
		} >"$TMP/haproxy.cfg"
		haproxy -f "$TMP/haproxy.cfg" -db >"$TMP/server.err" 2>&1 &
		SPID=$!
		PIDS="$PIDS $SPID"
		"$BULK" listening "$SPORT" 10 || return 1 ;;
	esac
}

# bulk_case NAME KIND ARGS...
bulk_case() {
	name=$1; shift
	if ! start_server "$@"; then
		note "bench: $name: server did not start"
		[ -s "$TMP/server.err" ] && head -n 5 "$TMP/server.err" >&2
		[ -n "$SPID" ] && stop_pid "$SPID"
		printf '%s\tFAILED\n' "$name" >>"$RESULTS"
		FAILED=1
		return
	fi
	[ -n "$SPID" ] && t0=$(cpu_ticks "$SPID")
	: >"$TMP/mibps"
	i=0
	ok=1
	while [ $i -lt "$RUNS" ]; do
		i=$((i + 1))
		before=$(wc -l <"$TMP/sink.out")
		if ! out=$(timeout 300 "$BULK" send "$SPORT" "$BYTES"); then
			note "bench: $name: run $i failed"
			ok=0
			break
		fi
		after=$(wc -l <"$TMP/sink.out")
		got=$(tail -n 1 "$TMP/sink.out" | cut -d' ' -f1)
		if [ "$after" -ne $((before + 1)) ] || [ "$got" != "$BYTES" ]; then
			note "bench: $name: run $i: sink got ${got:-nothing}, not $BYTES bytes"
			ok=0
			break
		fi
		echo "${out%% *}" >>"$TMP/mibps"
		note "bench: $name: run $i: ${out%% *} MiB/s"
	done
	cpu=-
	if [ -n "$SPID" ]; then
		if wait_no_children "$SPID" && alive "$SPID"; then
			t1=$(cpu_ticks "$SPID")
			cpu=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v b="$BYTES" -v r="$i" \
			    'BEGIN { printf "%.2f", d / hz / (b * r / 1073741824) }')
		else
			cpu="?"
		fi
		stop_pid "$SPID"
	fi
	if [ $ok = 1 ]; then
		printf '%s\t%s\t%s\n' "$name" "$(stats <"$TMP/mibps")" "$cpu" >>"$RESULTS"
	else
		[ -s "$TMP/server.err" ] && head -n 5 "$TMP/server.err" >&2
		printf '%s\tFAILED\n' "$name" >>"$RESULTS"
		FAILED=1
	fi
}

bulk_case "direct" direct
bulk_case "tcptap" tcptap
bulk_case "tcptap --no-splice" tcptap --no-splice
bulk_case "tcptap -t 'cat >/dev/null'" tcptap -t 'cat >/dev/null'
if [ -x "$TAPCAT" ]; then
	bulk_case "tcptap -t 'tap-cat -d c2s >/dev/null'" tcptap -t "$TAPCAT -d c2s >/dev/null"
else
	echo "tcptap -t tap-cat: skipped, bin/tap-cat not built" >>"$NOTES"
fi
if [ -x "$TAPHEX" ]; then
	bulk_case "tcptap -t 'tap-hexdump >/dev/null'" tcptap -t "$TAPHEX >/dev/null"
else
	echo "tcptap -t tap-hexdump: skipped, bin/tap-hexdump not built" >>"$NOTES"
fi
if command -v socat >/dev/null; then
	bulk_case "socat fork" socat
	bulk_case "socat fork -b 65536" socat -b 65536
else
	echo "socat: skipped, not installed" >>"$NOTES"
fi
if command -v haproxy >/dev/null; then
	bulk_case "haproxy splice-request+response" haproxy splice-request splice-response
	bulk_case "haproxy splice-auto" haproxy splice-auto
else
	echo "haproxy: skipped, not installed" >>"$NOTES"
fi
stop_pid "$SINK_PID"

echo "Bulk throughput: $(awk -v b="$BYTES" 'BEGIN { printf "%.3g", b / 1073741824 }') GiB one way, client -> server, loopback, $RUNS runs per case"
awk -F '\t' '
	{ name[NR] = $1; split($2, s, " "); med[NR] = s[1]; lo[NR] = s[2]
	  hi[NR] = s[3]; cpu[NR] = $3; bad[NR] = ($2 == "FAILED")
	  if ($1 == "direct" && !bad[NR]) direct = s[1]
	  if ($1 == "haproxy splice-request+response" && !bad[NR]) hap = s[1]
	  if (length($1) > w) w = length($1) }
	END {
		fmt = "%-" w "s  %9s %9s %9s  %8s  %10s  %9s\n"
		printf fmt, "case", "median", "min", "max", "x direct", "x haproxy", "CPU s/GiB"
		printf fmt, "", "MiB/s", "MiB/s", "MiB/s", "", "splice", "of relay"
		for (i = 1; i <= NR; i++) {
			if (bad[i]) { printf fmt, name[i], "FAILED", "", "", "", "", ""; continue }
			rd = direct ? sprintf("%.2f", med[i] / direct) : "-"
			rh = hap ? sprintf("%.2f", med[i] / hap) : "-"
			printf fmt, name[i], sprintf("%.1f", med[i]), sprintf("%.1f", lo[i]),
			    sprintf("%.1f", hi[i]), rd, rh, cpu[i]
		}
	}' "$RESULTS"
[ -s "$NOTES" ] && sed 's/^/note: /' "$NOTES"
echo "CPU s/GiB: user+system seconds of the relay processes (tcptap: listener,"
echo "relays and the taps they run; socat: parent and children; haproxy: the"
echo "process) per GiB moved, from /proc/PID/stat after every child was reaped."
echo
}
want_group bulk && bulk_group
want_group hex || { [ $FAILED = 0 ]; exit; }

# ---------------------------------------------------------------- formatters
if [ ! -x "$TAPHEX" ]; then
	echo "Formatters: skipped, bin/tap-hexdump not built"
	[ $FAILED = 0 ]
	exit
fi

RAND=$TMP/random.bin
head -c $((HEX_MIB * 1048576)) /dev/urandom >"$RAND" || exit 3
: >"$TMP/hex.tsv"
: >"$TMP/hex.notes"

# Identity: tap-hexdump -r against hexdump -C, through two FIFOs into cmp.
if command -v hexdump >/dev/null; then
	mkfifo "$TMP/fa" "$TMP/fb"
	timeout 300 hexdump -C <"$RAND" >"$TMP/fa" 2>/dev/null &
	pa=$!
	timeout 300 "$TAPHEX" -r <"$RAND" >"$TMP/fb" 2>/dev/null &
	pb=$!
	if cmp "$TMP/fa" "$TMP/fb" >"$TMP/cmp.out" 2>&1; then
		identity="identical to hexdump -C (cmp, $HEX_MIB MiB)"
	else
		identity="DIFFERS from hexdump -C: $(head -n 1 "$TMP/cmp.out")"
		FAILED=1
	fi
	wait $pa 2>/dev/null
	wait $pb 2>/dev/null
else
	identity="not checked: hexdump not installed"
fi

# hex_case NAME TOOL ARGS...
hex_case() {
	name=$1; shift
	if ! command -v "$1" >/dev/null; then
		echo "$name: skipped, $1 not installed" >>"$TMP/hex.notes"
		return
	fi
	: >"$TMP/secs"
	i=0
	while [ $i -lt "$HEX_RUNS" ]; do
		i=$((i + 1))
		s=$(date +%s%N)
		if ! timeout 300 "$@" <"$RAND" >/dev/null; then
			note "bench: $name: run $i failed"
			printf '%s\tFAILED\n' "$name" >>"$TMP/hex.tsv"
			FAILED=1
			return
		fi
		e=$(date +%s%N)
		secs=$(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.4f", (e - s) / 1e9 }')
		echo "$secs" >>"$TMP/secs"
		note "bench: $name: run $i: $secs s"
	done
	printf '%s\t%s\n' "$name" "$(stats <"$TMP/secs")" >>"$TMP/hex.tsv"
}

hex_case "tap-hexdump -r" "$TAPHEX" -r
hex_case "hexdump -C" hexdump -C
hex_case "xxd" xxd
hex_case "od -A x -t x1z" od -A x -t x1z

echo "Formatters: $HEX_MIB MiB of random bytes to /dev/null, $HEX_RUNS runs each"
awk -F '\t' -v mib="$HEX_MIB" '
	{ name[NR] = $1; split($2, s, " "); med[NR] = s[1]; lo[NR] = s[2]
	  hi[NR] = s[3]; bad[NR] = ($2 == "FAILED")
	  if ($1 == "tap-hexdump -r" && !bad[NR]) th = s[1]
	  if (length($1) > w) w = length($1) }
	END {
		fmt = "%-" w "s  %8s %8s %8s  %8s  %13s\n"
		printf fmt, "tool", "median", "min", "max", "MiB/s", "tap-hexdump"
		printf fmt, "", "s", "s", "s", "(median)", "is x faster"
		for (i = 1; i <= NR; i++) {
			if (bad[i]) { printf fmt, name[i], "FAILED", "", "", "", ""; continue }
			printf fmt, name[i], sprintf("%.3f", med[i]), sprintf("%.3f", lo[i]),
			    sprintf("%.3f", hi[i]), sprintf("%.1f", mib / med[i]),
			    th ? sprintf("%.1f", med[i] / th) : "-"
		}
	}' "$TMP/hex.tsv"
[ -s "$TMP/hex.notes" ] && sed 's/^/note: /' "$TMP/hex.notes"
echo "tap-hexdump -r output: $identity"

[ $FAILED = 0 ]
