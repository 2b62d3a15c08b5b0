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
# Group 3, rate: short connections per second (connect, send 100 bytes,
# read the 100-byte echo, close) from 1 and 8 parallel clients
# (BENCH_RATE_CLIENTS), BENCH_RATE_SECS (default 5) per run, BENCH_RATE_RUNS
# (default 3) runs, against bench/bin/echo (one epoll loop): direct,
# tcptap, socat fork, tcpserver running socat as the relay, haproxy (tcp
# mode).  Also this machine's fork ceiling (fork + _exit + waitpid per
# second), the bound for a fork-per-connection relay.
#
# Group 4, redis: redis-benchmark -q -t ping,set,get -n BENCH_REDIS_N
# (default 100000) -c BENCH_REDIS_C (default 50) -P 1 --csv against a
# private redis-server (--save '' --appendonly no), direct and through
# tcptap, socat fork and haproxy, BENCH_REDIS_RUNS (default 1) runs each:
# requests/s, redis-benchmark's avg/p50/p99 latency, relay CPU per request.
#
# Group 5, scale: BENCH_SCALE_CONNS (default 10000) concurrent idle
# connections through one tcptap listener to bench/bin/echo, opened with
# non-blocking connects (at most BENCH_SCALE_BATCH, default 500, in
# progress, and at most 2000 accepted by the kernel but not yet by a relay,
# so none outlives the listen backlog), waiting at most BENCH_SCALE_SECS
# (default 120) for the relays;
# then one message on each, every echo checked.  Reports the
# time to establish, the relays' Pss per connection (smaps_rollup), and
# kernel memory deltas (/proc/meminfo, /proc/slabinfo, /proc/net/sockstat).
# Raises `ulimit -n` (needs root or a high hard limit); the count is capped,
# with a note, when the open-file limit or pid_max cannot allow it.
#
# BENCH_GROUPS (default "bulk hex rate redis scale") picks the groups to run.
# Defaults keep a run under about 10 minutes on 2 cores.  Loopback only;
# every server is started here, recorded, and stopped by its PID; every
# wait is bounded.  Peers that are not installed are skipped with a note
# (`apt-get install` of the missing ones is tried once when running as root).
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
RATE_SECS=${BENCH_RATE_SECS:-5}
RATE_RUNS=${BENCH_RATE_RUNS:-3}
RATE_CLIENTS=${BENCH_RATE_CLIENTS:-1 8}
REDIS_N=${BENCH_REDIS_N:-100000}
REDIS_C=${BENCH_REDIS_C:-50}
REDIS_RUNS=${BENCH_REDIS_RUNS:-1}
SCALE_CONNS=${BENCH_SCALE_CONNS:-10000}
SCALE_BATCH=${BENCH_SCALE_BATCH:-500}
SCALE_SECS=${BENCH_SCALE_SECS:-120}
WANT_GROUPS=${BENCH_GROUPS:-bulk hex rate redis scale}
BULK=bench/bin/bulk
ECHO=bench/bin/echo
CONN=bench/bin/conn
TCPTAP=$ROOT/bin/tcptap
TAPCAT=$ROOT/bin/tap-cat
TAPHEX=$ROOT/bin/tap-hexdump
CLK_TCK=$(getconf CLK_TCK)
FAILED=0

case $RUNS in ''|*[!0-9]*|0) echo "bench: BENCH_RUNS must be a positive integer" >&2; exit 2;; esac
case $BYTES in ''|*[!0-9]*|0) echo "bench: BENCH_BYTES must be a positive integer" >&2; exit 2;; esac
case $HEX_MIB in ''|*[!0-9]*|0) echo "bench: BENCH_HEX_MIB must be a positive integer" >&2; exit 2;; esac
case $HEX_RUNS in ''|*[!0-9]*|0) echo "bench: BENCH_HEX_RUNS must be a positive integer" >&2; exit 2;; esac
for v in RATE_SECS RATE_RUNS REDIS_N REDIS_C REDIS_RUNS SCALE_CONNS SCALE_BATCH SCALE_SECS; do
	eval "x=\$$v"
	case $x in ''|*[!0-9]*|0) echo "bench: BENCH_$v must be a positive integer" >&2; exit 2;; esac
done
for c in $RATE_CLIENTS; do
	case $c in ''|*[!0-9]*|0) echo "bench: BENCH_RATE_CLIENTS: $c is not a positive integer" >&2; exit 2;; esac
	[ "$c" -le 256 ] || { echo "bench: BENCH_RATE_CLIENTS: at most 256" >&2; exit 2; }
done
[ "$RATE_SECS" -le 600 ] && [ "$SCALE_SECS" -le 3600 ] && [ "$SCALE_CONNS" -le 1000000 ] ||
    { echo "bench: BENCH_RATE_SECS <= 600, BENCH_SCALE_SECS <= 3600, BENCH_SCALE_CONNS <= 1000000" >&2; exit 2; }
for g in $WANT_GROUPS; do
	case $g in bulk|hex|rate|redis|scale) ;; *) echo "bench: BENCH_GROUPS: unknown group $g (bulk, hex, rate, redis, scale)" >&2; exit 2;; esac
done
want_group() { case " $WANT_GROUPS " in *" $1 "*) return 0;; esac; return 1; }
[ "$RUNS" -le 100 ] && [ "$HEX_RUNS" -le 100 ] && [ "$RATE_RUNS" -le 100 ] &&
    [ "$REDIS_RUNS" -le 100 ] || { echo "bench: at most 100 runs" >&2; exit 2; }

mkdir -p bench/bin
for t in bulk echo conn; do
	cc -O2 -Wall -Wextra -Werror -o "bench/bin/$t" "bench/$t.c" \
	    bench/util.c -lbsd || exit 3
done

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

# CPU clock ticks of PID and of its reaped children, plus those of its
# children still alive: tcptap's spare relays (and the taps they reaped).
cpu_ticks() {
	t=$(sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 + $14 + $15 }')
	for k in $(pgrep -P "$1" 2>/dev/null); do
		c=$(sed 's/.*) //' "/proc/$k/stat" 2>/dev/null |
		    awk '{ print $12 + $13 + $14 + $15 }')
		t=$((t + ${c:-0}))
	done
	echo "$t"
}

# is_spare PID: a tcptap relay waiting for its next connection.
is_spare() {
	tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q '^tcptap: spare'
}

# wait_no_children PID: until PID has no live children but spare
# relays (at most 10 s).
wait_no_children() {
	n=0
	while [ $n -lt 100 ]; do
		kids=$(pgrep -P "$1" 2>/dev/null)
		live=0
		for k in $kids; do alive "$k" && ! is_spare "$k" && live=1; done
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
PATH=$PATH:/usr/sbin:/sbin
# The peers, by command and the Debian package that has it (the
# Makefile's BENCH_DEPS, `make bench-deps`, lists the same packages).
MISSING=""
for cp in socat:socat haproxy:haproxy tcpserver:ucspi-tcp \
    redis-server:redis-server redis-benchmark:redis-tools; do
	command -v "${cp%%:*}" >/dev/null || MISSING="$MISSING ${cp#*:}"
done
if [ -n "$MISSING" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	note "bench: installing$MISSING"
	DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y \
	    --no-install-recommends $MISSING >"$TMP/apt.log" 2>&1 ||
	    note "bench: apt-get failed; skipping missing peers"
fi

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

# ---------------------------------------------------------------- formatters
hex_group() {
if [ ! -x "$TAPHEX" ]; then
	echo "Formatters: skipped, bin/tap-hexdump not built"
	echo
	return
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
rm -f "$RAND"
echo
}

# ---------------------------------------------------------------- relays
# Shared by the rate and redis groups: one relay (or none) in front of a
# server on 127.0.0.1:TARGET, each started fresh per case and stopped by PID.

# start_relay KIND TARGET: sets RPORT (where clients connect) and RPID.
start_relay() {
	RPID=""
	RPORT=""
	: >"$TMP/relay.err"
	case $1 in
	direct)
		RPORT=$2
		return 0 ;;
	tcptap|tcptap-nospare)
		# tcptap-nospare: a fork for every connection, as DESIGN.md has it.
		spare=
		[ "$1" = tcptap-nospare ] && spare="--spare 0"
		rm -f "$TMP/relay.port"
		"$TCPTAP" -q $spare -P "$TMP/relay.port" 127.0.0.1:0 "127.0.0.1:$2" \
		    2>"$TMP/relay.err" &
		RPID=$!
		PIDS="$PIDS $RPID"
		wait_file "$TMP/relay.port" 10 || return 1
		RPORT=$(cat "$TMP/relay.port") ;;
	socat)
		# socat's backlog is 5 unless told: 50 clients at once overflow it.
		RPORT=$("$BULK" freeport) || return 1
		socat "TCP-LISTEN:$RPORT,bind=127.0.0.1,fork,reuseaddr,backlog=1024" \
		    "TCP:127.0.0.1:$2" 2>"$TMP/relay.err" &
		RPID=$!
		PIDS="$PIDS $RPID"
		"$BULK" listening "$RPORT" 10 || return 1 ;;
	tcpserver)
		# -HRl0: no DNS or ident lookups per connection (tcpserver's
		# resolver does not read /etc/hosts).
		RPORT=$("$BULK" freeport) || return 1
		tcpserver -q -HRl0 127.0.0.1 "$RPORT" \
		    socat STDIO "TCP:127.0.0.1:$2" 2>"$TMP/relay.err" &
		RPID=$!
		PIDS="$PIDS $RPID"
		"$BULK" listening "$RPORT" 10 || return 1 ;;
	haproxy)
		RPORT=$("$BULK" freeport) || return 1
		{
			echo "global"
			echo "	maxconn 4096"
			echo "defaults"
			echo "	mode tcp"
			echo "	timeout connect 5s"
			echo "	timeout client 60s"
			echo "	timeout server 60s"
			echo "listen bench"
			echo "	bind 127.0.0.1:$RPORT"
			echo "	server target 127.0.0.1:$2"
		} >"$TMP/haproxy-relay.cfg"
		haproxy -f "$TMP/haproxy-relay.cfg" -db >"$TMP/relay.err" 2>&1 &
		RPID=$!
		PIDS="$PIDS $RPID"
		"$BULK" listening "$RPORT" 10 || return 1 ;;
	*)
		return 1 ;;
	esac
}

# have_relay KIND: is the peer installed?
have_relay() {
	case $1 in
	direct|tcptap|tcptap-nospare) return 0 ;;
	*) command -v "$1" >/dev/null ;;
	esac
}

# relay_failed NAME: report a relay that did not start, and stop it.
relay_failed() {
	note "bench: $1: relay did not start"
	[ -s "$TMP/relay.err" ] && head -n 5 "$TMP/relay.err" >&2
	[ -n "$RPID" ] && stop_pid "$RPID"
	FAILED=1
}

# start_echo NAME: start bench/bin/echo; sets ECHO_PORT and ECHO_PID.
start_echo() {
	rm -f "$TMP/echo.port"
	"$ECHO" -P "$TMP/echo.port" 2>"$TMP/echo.err" &
	ECHO_PID=$!
	PIDS="$PIDS $ECHO_PID"
	wait_file "$TMP/echo.port" 10 || { note "bench: echo server did not start"; cat "$TMP/echo.err" >&2; exit 3; }
	ECHO_PORT=$(cat "$TMP/echo.port")
}

# ---------------------------------------------------------------- rate
rate_group() {
start_echo
RESULTS=$TMP/rate.tsv
NOTES=$TMP/rate.notes
: >"$RESULTS"
: >"$NOTES"

# The fork ceiling: fork + _exit + waitpid in a loop, 1 s, RATE_RUNS times.
: >"$TMP/fork"
i=0
while [ $i -lt "$RATE_RUNS" ]; do
	i=$((i + 1))
	"$CONN" forkcost 1 | cut -d' ' -f1 >>"$TMP/fork" || exit 3
done
FORK_CEIL=$(stats <"$TMP/fork")
note "bench: fork ceiling: $FORK_CEIL (median min max) forks/s"

# rate_case NAME KIND
rate_case() {
	name=$1
	if ! have_relay "$2"; then
		echo "$name: skipped, $2 not installed" >>"$NOTES"
		return
	fi
	if ! start_relay "$2" "$ECHO_PORT"; then
		relay_failed "$name"
		for c in $RATE_CLIENTS; do printf '%s\t%s\tFAILED\n' "$name" "$c" >>"$RESULTS"; done
		return
	fi
	for c in $RATE_CLIENTS; do
		: >"$TMP/cps"
		: >"$TMP/us"
		errs=0
		i=0
		while [ $i -lt "$RATE_RUNS" ]; do
			i=$((i + 1))
			out=$(timeout $((RATE_SECS + 60)) "$CONN" rate "$RPORT" "$RATE_SECS" "$c" 2>>"$TMP/rate.err")
			set -- $out
			if [ $# -ne 4 ]; then
				note "bench: $name: $c clients: run $i failed"
				tail -n 3 "$TMP/rate.err" >&2
				errs=FAILED
				break
			fi
			echo "$1" >>"$TMP/cps"
			echo "$4" >>"$TMP/us"
			errs=$((errs + $3))
			note "bench: $name: $c clients: run $i: $1 conn/s, $2 ok, $3 failed, $4 us each"
		done
		if [ "$errs" = FAILED ]; then
			printf '%s\t%s\tFAILED\n' "$name" "$c" >>"$RESULTS"
			FAILED=1
			continue
		fi
		[ "$errs" = 0 ] || FAILED=1
		printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$c" "$(stats <"$TMP/cps")" \
		    "$(stats <"$TMP/us" | cut -d' ' -f1)" "$errs" >>"$RESULTS"
	done
	[ -n "$RPID" ] && stop_pid "$RPID"
}

rate_case "direct" direct
rate_case "tcptap" tcptap
rate_case "tcptap --spare 0" tcptap-nospare
rate_case "socat fork" socat
rate_case "tcpserver + socat" tcpserver
rate_case "haproxy" haproxy
stop_pid "$ECHO_PID"

echo "Short connections: connect, send 100 bytes, read the echo, close; $RATE_SECS s per run, $RATE_RUNS runs per case;"
echo "echo server bench/bin/echo (one epoll loop); load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
awk -F '\t' -v fork="${FORK_CEIL%% *}" '
	{ name[NR] = $1; cl[NR] = $2; split($3, s, " "); med[NR] = s[1]
	  lo[NR] = s[2]; hi[NR] = s[3]; us[NR] = $4; err[NR] = $5
	  bad[NR] = ($3 == "FAILED")
	  if (!bad[NR]) one[$1, $2] = s[1]
	  if (length($1) > w) w = length($1) }
	END {
		fmt = "%-" w "s  %7s  %8s %8s %8s  %8s  %7s  %6s  %8s  %9s  %6s\n"
		printf fmt, "case", "clients", "median", "min", "max", "x direct", "x socat",
		    "x fork", "x 1", "mean", "failed"
		printf fmt, "", "", "conn/s", "conn/s", "conn/s", "", "fork", "ceiling",
		    "client", "us/conn", ""
		for (i = 1; i <= NR; i++) {
			if (bad[i]) { printf fmt, name[i], cl[i], "FAILED", "", "", "", "", "", "", "", ""; continue }
			d = one["direct", cl[i]]; so = one["socat fork", cl[i]]; c1 = one[name[i], 1]
			printf fmt, name[i], cl[i], med[i], lo[i], hi[i],
			    d ? sprintf("%.2f", med[i] / d) : "-",
			    so ? sprintf("%.2f", med[i] / so) : "-",
			    fork ? sprintf("%.2f", med[i] / fork) : "-",
			    (cl[i] != 1 && c1) ? sprintf("%.2f", med[i] / c1) : "-",
			    us[i], err[i]
		}
	}' "$RESULTS"
set -- $FORK_CEIL
echo "fork ceiling: fork + _exit + waitpid, $1 per second median (min $2, max $3; $(awk -v f="$1" 'BEGIN { printf "%.0f", 1e6 / f }') us each)"
[ -s "$NOTES" ] && sed 's/^/note: /' "$NOTES"
echo "conn/s: the sum over clients of completed connections / elapsed; each echo is"
echo "checked byte for byte; \"failed\" counts refused, reset, short or wrong echoes."
echo "tcpserver runs \`tcpserver -q -HRl0 127.0.0.1 PORT socat STDIO TCP:127.0.0.1:ECHO\`."
echo
}

# ---------------------------------------------------------------- redis
redis_group() {
if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
	echo "redis-benchmark: skipped, redis-server or redis-benchmark not installed"
	echo
	return
fi
RESULTS=$TMP/redis.tsv
NOTES=$TMP/redis.notes
: >"$RESULTS"
: >"$NOTES"
: >"$TMP/redis.cpu"
mkdir -p "$TMP/redis"
REDIS_PORT=$("$BULK" freeport) || exit 3
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize no --protected-mode no --dir "$TMP/redis" \
    --logfile "$TMP/redis/log" >/dev/null 2>&1 &
REDIS_PID=$!
PIDS="$PIDS $REDIS_PID"
"$BULK" listening "$REDIS_PORT" 10 || { note "bench: redis-server did not start"; exit 3; }

# redis_case NAME KIND
redis_case() {
	name=$1
	if ! have_relay "$2"; then
		echo "$name: skipped, $2 not installed" >>"$NOTES"
		return
	fi
	if ! start_relay "$2" "$REDIS_PORT"; then
		relay_failed "$name"
		printf '%s\t-\tFAILED\n' "$name" >>"$RESULTS"
		return
	fi
	[ -n "$RPID" ] && t0=$(cpu_ticks "$RPID")
	i=0
	while [ $i -lt "$REDIS_RUNS" ]; do
		i=$((i + 1))
		if ! timeout 600 redis-benchmark -h 127.0.0.1 -p "$RPORT" -q \
		    -t ping,set,get -n "$REDIS_N" -c "$REDIS_C" -P 1 --csv \
		    >"$TMP/rb.csv" 2>"$TMP/rb.err"; then
			note "bench: $name: redis-benchmark run $i failed"
			head -n 5 "$TMP/rb.err" >&2
			printf '%s\t-\tFAILED\n' "$name" >>"$RESULTS"
			FAILED=1
			break
		fi
		tr -d '"' <"$TMP/rb.csv" | awk -F, -v n="$name" '
			NR == 1 { for (k = 1; k <= NF; k++) col[$k] = k; next }
			{ printf "%s\t%s\t%s\t%s\t%s\t%s\n", n, $1, $(col["rps"]),
			    col["avg_latency_ms"] ? $(col["avg_latency_ms"]) : "-",
			    col["p50_latency_ms"] ? $(col["p50_latency_ms"]) : "-",
			    col["p99_latency_ms"] ? $(col["p99_latency_ms"]) : "-" }' >>"$RESULTS"
		note "bench: $name: run $i: $(tr -d '"' <"$TMP/rb.csv" | awk -F, 'NR > 1 { printf "%s %s/s  ", $1, $2 }')"
	done
	if [ -n "$RPID" ]; then
		reqs=$(awk -F '\t' -v n="$name" '$1 == n && $3 != "FAILED" { c++ } END { print c + 0 }' "$RESULTS")
		if wait_no_children "$RPID" && alive "$RPID"; then
			t1=$(cpu_ticks "$RPID")
			printf '%s\t%s\n' "$name" "$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" \
			    -v r="$((reqs * REDIS_N))" 'BEGIN { printf "%.1f", r ? d / hz / r * 1e6 : 0 }')" >>"$TMP/redis.cpu"
		fi
		stop_pid "$RPID"
	fi
}

redis_case "direct" direct
redis_case "tcptap" tcptap
redis_case "socat fork" socat
redis_case "haproxy" haproxy
stop_pid "$REDIS_PID"

echo "redis-benchmark -q -t ping,set,get -n $REDIS_N -c $REDIS_C -P 1 --csv, $REDIS_RUNS runs per case,"
echo "one redis-server ($(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'), --save '' --appendonly no); load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
awk -F '\t' '
	function med(list,   n, a, i, j, t) {
		n = split(list, a, " ")
		for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
		lo_ = a[1]; hi_ = a[n]
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	FILENAME ~ /cpu$/ { cpu[$1] = $2; next }
	$3 == "FAILED" { if (!(($1) in seen)) { seen[$1] = 1; order[++no] = $1 } failed[$1] = 1; next }
	{ if (!(($1) in seen)) { seen[$1] = 1; order[++no] = $1 }
	  k = $1 SUBSEP $2
	  if (!(k in have)) { have[k] = 1; tests[$1] = tests[$1] " " $2 }
	  rps[k] = rps[k] " " $3; avg[k] = avg[k] " " $4; p50[k] = p50[k] " " $5; p99[k] = p99[k] " " $6
	  if (length($1) > w) w = length($1) }
	END {
		if (w < 4) w = 4
		for (c = 1; c <= no; c++) { n = order[c]
			nt = split(tests[n], tl, " ")
			for (t = 1; t <= nt; t++) { k = n SUBSEP tl[t]
				m[k] = med(rps[k]); mlo[k] = lo_; mhi[k] = hi_
				ma[k] = med(avg[k]); m5[k] = med(p50[k]); m9[k] = med(p99[k]) } }
		fmt = "%-" w "s  %-11s  %9s %9s %9s  %8s  %9s  %7s %7s %7s  %8s\n"
		printf fmt, "case", "test", "median", "min", "max", "x direct", "x haproxy", "avg", "p50", "p99", "relay CPU"
		printf fmt, "", "", "req/s", "req/s", "req/s", "", "", "ms", "ms", "ms", "us/req"
		for (c = 1; c <= no; c++) { n = order[c]
			if (failed[n] && tests[n] == "") { printf fmt, n, "-", "FAILED", "", "", "", "", "", "", "", ""; continue }
			nt = split(tests[n], tl, " ")
			for (t = 1; t <= nt; t++) { k = n SUBSEP tl[t]
				d = m["direct" SUBSEP tl[t]]; h = m["haproxy" SUBSEP tl[t]]
				printf fmt, n, tl[t], sprintf("%.0f", m[k]), sprintf("%.0f", mlo[k]), sprintf("%.0f", mhi[k]),
				    d ? sprintf("%.2f", m[k] / d) : "-", h ? sprintf("%.2f", m[k] / h) : "-",
				    ma[k], m5[k], m9[k], (t == 1 && (n in cpu)) ? cpu[n] : (n in cpu ? "" : "-") } }
	}' "$RESULTS" "$TMP/redis.cpu"
[ -s "$NOTES" ] && sed 's/^/note: /' "$NOTES"
echo "Latencies are the medians over runs of redis-benchmark's own avg/p50/p99 figures."
echo "relay CPU: user+system seconds of the relay (tcptap: listener and relays;"
echo "socat: parent and children; haproxy: the process) over all runs and tests of"
echo "the case, per request, from /proc/PID/stat after every child was reaped."
echo
}

# ---------------------------------------------------------------- scale
# meminfo_snap FILE: the /proc/meminfo fields we compare, and the slabs.
meminfo_snap() {
	awk '/^(MemAvailable|Slab|SReclaimable|SUnreclaim|KernelStack|PageTables):/ { print $1, $2 }' /proc/meminfo >"$1"
	if [ -r /proc/slabinfo ]; then
		awk 'NR > 2 { print "slab:" $1, $3 * $4 / 1024, $3 }' /proc/slabinfo >>"$1"
	fi
	awk '$1 == "TCP:" { for (k = 2; k < NF; k += 2) if ($k == "mem") print "tcp_mem_pages:", $(k + 1) }' /proc/net/sockstat >>"$1"
}

# wait_line FILE WORD SECS: until a line starting with WORD is in FILE.
wait_line() {
	n=0
	while ! grep -Eq "^$2( |\$)" "$1" 2>/dev/null && [ $n -lt $(($3 * 10)) ]; do sleep 0.1; n=$((n + 1)); done
	grep -Eq "^$2( |\$)" "$1" 2>/dev/null
}

scale_group() {
N=$SCALE_CONNS
need=$((N + 1024))
ulimit -n $((need * 2)) 2>/dev/null || ulimit -n "$need" 2>/dev/null ||
    note "bench: scale: could not raise the open-file limit to $need (now $(ulimit -n))"
avail=$(ulimit -n)
pidmax=$(cat /proc/sys/kernel/pid_max)
nproc_now=$(ls -d /proc/[0-9]* 2>/dev/null | wc -l)
somax=$(cat /proc/sys/net/core/somaxconn)
limits="open files $avail, pid_max $pidmax ($nproc_now processes now), somaxconn $somax"
if [ "$avail" -lt "$need" ]; then
	N=$((avail - 1024))
	echo "scale: the open-file limit ($avail) caps the count at $N" >>"$TMP/scale.notes"
fi
if [ $((pidmax - nproc_now - 1000)) -lt "$N" ]; then
	N=$((pidmax - nproc_now - 1000))
	echo "scale: pid_max ($pidmax) caps the count at $N relay processes" >>"$TMP/scale.notes"
fi
start_echo
rm -f "$TMP/tt.port"
"$TCPTAP" -q -c "$N" -b "$N" -P "$TMP/tt.port" 127.0.0.1:0 "127.0.0.1:$ECHO_PORT" \
    2>"$TMP/scale-tt.err" &
TT_PID=$!
PIDS="$PIDS $TT_PID"
wait_file "$TMP/tt.port" 10 || { note "bench: scale: tcptap did not start"; cat "$TMP/scale-tt.err" >&2; exit 3; }
TT_PORT=$(cat "$TMP/tt.port")
rm -rf "$TMP/scale"
mkdir -p "$TMP/scale"
sleep 1
meminfo_snap "$TMP/mem0"
: >"$TMP/hold.out"
"$CONN" hold "$TT_PORT" "$N" "$SCALE_BATCH" "$TMP/scale" "$SCALE_SECS" "$TT_PID" \
    >"$TMP/hold.out" 2>"$TMP/hold.err" &
HOLD_PID=$!
PIDS="$PIDS $HOLD_PID"
ok=1
if wait_line "$TMP/hold.out" relays $((SCALE_SECS + 10)); then
	sleep 1
	meminfo_snap "$TMP/mem1"
	PSS1=$("$CONN" pss "$TT_PID")
	# A relay's descriptors, for the record.
	one=$(pgrep -P "$TT_PID" | head -n 1)
	FDS1=$(ls -l "/proc/$one/fd" 2>/dev/null | awk 'NR > 1 { sub(/:.*/, "", $NF); t[$NF]++ } END { for (k in t) { printf "%s%d %s", s, t[k], k; s = ", " } }')
	: >"$TMP/scale/go1"
	if wait_line "$TMP/hold.out" echoed $((SCALE_SECS + 10)); then
		sleep 1
		meminfo_snap "$TMP/mem2"
		PSS2=$("$CONN" pss "$TT_PID")
	else
		ok=0
	fi
else
	ok=0
fi
: >"$TMP/scale/go1"
: >"$TMP/scale/go2"
wait_line "$TMP/hold.out" closed 30 || ok=0
n=0
while alive "$HOLD_PID" && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
stop_pid "$HOLD_PID"
# Relays exit once their connections close, but for the 16 spares
# tcptap keeps by default; then the listener goes.
t_close=$(date +%s%N)
wait_no_children "$TT_PID"
n=0
while [ "$("$CONN" children "$TT_PID")" -gt 16 ] && [ $n -lt 60 ]; do sleep 1; n=$((n + 1)); done
left=$("$CONN" children "$TT_PID")
t_gone=$(awk -v s="$t_close" -v e="$(date +%s%N)" 'BEGIN { printf "%.1f", (e - s) / 1e9 }')
stop_pid "$TT_PID"
stop_pid "$ECHO_PID"

echo "Scale: $N concurrent connections through one tcptap listener (-c $N -b $N) to"
echo "bench/bin/echo; client bench/bin/conn hold: non-blocking connects, at most $SCALE_BATCH in"
echo "progress and at most 2000 waiting for a relay; limits: $limits; load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
sed 's/^/client: /' "$TMP/hold.out"
[ -s "$TMP/hold.err" ] && sed 's/^/client error: /' "$TMP/hold.err" | head -n 5
if [ $ok = 0 ] || ! grep -q "^echoed $N 0 " "$TMP/hold.out"; then
	echo "scale: FAILED (see the client lines above)"
	[ -s "$TMP/scale-tt.err" ] && head -n 5 "$TMP/scale-tt.err" | sed 's/^/tcptap: /'
	FAILED=1
fi
for w in 1 2; do
	eval "pss=\${PSS$w:-}"
	[ -n "$pss" ] || continue
	[ $w = 1 ] && when="held idle" || when="after the echo"
	set -- $pss
	awk -v when="$when" -v n="$1" -v pss="$2" -v rss="$3" -v priv="$4" -v lp="$5" 'BEGIN {
		printf "relay memory, %s: %d relay processes, Pss %.1f MiB in all = %.1f KiB per connection\n", when, n, pss / 1024, n ? pss / n : 0
		printf "  (Rss %.1f KiB, private %.1f KiB per relay; the listener itself Pss %d KiB)\n", n ? rss / n : 0, n ? priv / n : 0, lp }'
done
[ -n "${FDS1:-}" ] && echo "one relay's descriptors: $FDS1"
if [ -s "$TMP/mem1" ]; then
	for w in 1 2; do
		[ -s "$TMP/mem$w" ] || continue
		[ $w = 1 ] && when="held idle" || when="after the echo"
		eval "pss=\${PSS$w:-}"
		held=${pss%% *}
		[ -n "$held" ] && [ "$held" -gt 0 ] 2>/dev/null || held=$N
		echo "kernel memory, $when, change since before connecting (whole system; includes"
		echo "the client's and the echo server's sockets; per connection = / $held relays held):"
		awk -v n="$held" '
			FNR == NR { a[$1] = $2; if (NF > 2) ao[$1] = $3; next }
			{ b[$1] = $2; if (NF > 2) bo[$1] = $3; keys[$1] = 1 }
			END {
				split("MemAvailable: Slab: SUnreclaim: KernelStack: PageTables:", f, " ")
				for (i = 1; i <= 5; i++) { k = f[i]; d = b[k] - a[k]
					printf "  %-14s %+10d KiB  %+8.1f KiB/conn\n", k, d, d / n }
				if ("tcp_mem_pages:" in b) printf "  %-14s %+10d pages (TCP buffers, /proc/net/sockstat)\n", "TCP mem", b["tcp_mem_pages:"] - a["tcp_mem_pages:"]
				# Top slab caches by growth.
				m = 0
				for (k in keys) if (k ~ /^slab:/) { d = b[k] - a[k]; if (d > 0) { m++; nm[m] = k; dv[m] = d; dobj[m] = bo[k] - ao[k] } }
				for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (dv[j] > dv[i]) {
					t = dv[i]; dv[i] = dv[j]; dv[j] = t; t = nm[i]; nm[i] = nm[j]; nm[j] = t
					t = dobj[i]; dobj[i] = dobj[j]; dobj[j] = t }
				for (i = 1; i <= m && i <= 10; i++) { s = nm[i]; sub(/^slab:/, "", s)
					printf "  slab %-22s %+9.0f KiB  %+7.2f objects/conn  %+7.2f KiB/conn\n", s, dv[i], dobj[i] / n, dv[i] / n }
			}' "$TMP/mem0" "$TMP/mem$w"
	done
fi
[ -s "$TMP/scale.notes" ] && sed 's/^/note: /' "$TMP/scale.notes"
echo "relays left $t_gone s after the client closed: $left (spares: up to 16 stay)"
echo "Pss: sum of Pss over the listener's children from /proc/PID/smaps_rollup."
echo "Pipe memory: tcptap's pipes are empty while idle, so they hold no data pages;"
echo "what they cost is the pipe_inode_info and pipe_buffer ring (kmalloc-cg-*"
echo "slabs above), plus the two pipe files and inodes each."
echo
}

want_group bulk && bulk_group
want_group hex && hex_group
want_group rate && rate_group
want_group redis && redis_group
want_group scale && scale_group

[ $FAILED = 0 ]
