#!/bin/sh
# make valgrind: the relay and every filter under valgrind's memcheck.
#
# An echo server (tcptap LISTEN -- cat) behind a relay with two taps
# (tap-hexdump, and cat recording the tap stream), one client sending a
# few KB through; then each filter on the recorded tap stream (and
# tap-tsv -d, tap-replay on the TSV).  Every process (the listeners,
# each forked relay, the taps, sh and cat included) runs under
# valgrind --leak-check=full with its own log; any error, any definite,
# indirect or possible leak in any of them fails the run (exit 1).
set -u
cd "$(dirname "$0")/.." || exit 3
command -v valgrind >/dev/null || { echo "valgrind: not installed" >&2; exit 3; }
for p in bin/tcptap bin/tap-cat bin/tap-frame bin/tap-hexdump bin/tap-json \
    bin/tap-pcap bin/tap-replay bin/tap-tsv tests/bin/tt-peer; do
	[ -x "$p" ] || { echo "$p: missing (make all)" >&2; exit 3; }
done
t=$(mktemp -d "${TMPDIR:-/tmp}/tcptap-vg.XXXXXX")
echo_pid= relay_pid=
cleanup() {
	[ -n "$relay_pid" ] && kill "$relay_pid" 2>/dev/null
	[ -n "$echo_pid" ] && kill "$echo_pid" 2>/dev/null
}
trap cleanup EXIT
VG="valgrind -q --leak-check=full --show-leak-kinds=definite,indirect,possible
    --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99
    --trace-children=yes --child-silent-after-fork=no
    --log-file=$t/vg.%p.log"
B=$PWD/bin

wait_file() {	# wait_file FILE: up to 60 s (valgrind is slow to start)
	i=0
	while [ ! -s "$1" ]; do
		i=$((i + 1))
		[ $i -gt 600 ] && { echo "timeout waiting for $1" >&2; exit 1; }
		sleep 0.1
	done
}

head -c 6000 /dev/urandom >"$t/in.bin"
$VG "$B/tcptap" -q -P "$t/echo.port" 127.0.0.1:0 -- cat &
echo_pid=$!
wait_file "$t/echo.port"
$VG "$B/tcptap" -q -P "$t/relay.port" -t "$B/tap-hexdump >/dev/null" \
    -t "cat >$t/rec.tap" 127.0.0.1:0 "127.0.0.1:$(cat "$t/echo.port")" &
relay_pid=$!
wait_file "$t/relay.port"
# Two clients in turn: the second one's relay is the first one's, reused.
for c in 1 2; do
	tests/bin/tt-peer -o "$t/out.bin" connect \
	    "127.0.0.1:$(cat "$t/relay.port")" file="$t/in.bin" shut eof \
	    >/dev/null || { echo "client $c failed" >&2; exit 1; }
	cmp -s "$t/in.bin" "$t/out.bin" || { echo "echo $c differs" >&2; exit 1; }
	# The recording is whole once its close record is in.
	i=0
	until grep -q '^tap1 close ' "$t/rec.tap" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt 600 ] && { echo "no close record" >&2; exit 1; }
		sleep 0.1
	done
done
kill -TERM "$relay_pid" "$echo_pid"
wait "$relay_pid" "$echo_pid"
relay_pid= echo_pid=

# Each filter on the recorded session (exit status is theirs to choose:
# only memcheck's verdict counts here).
run() {	# run NAME CMD...: stdin from rec.tap
	name=$1
	shift
	"$@" <"$t/rec.tap" >"$t/$name.out" 2>"$t/$name.err"
	[ $? -eq 99 ] && echo "valgrind: errors in $name"
}
run hexdump $VG "$B/tap-hexdump"
run hexdump-n $VG "$B/tap-hexdump" -s -n 16
run cat $VG "$B/tap-cat" -d c2s
run cat-o $VG "$B/tap-cat" -o "$t/split"
run frame $VG "$B/tap-frame" -H 2
run frame-keep $VG "$B/tap-frame" -H 4 --keep-header --skip 3
run json $VG "$B/tap-json"
run json-text $VG "$B/tap-json" --text
run pcap $VG "$B/tap-pcap" -w "$t/s.pcap"
run tsv $VG "$B/tap-tsv"
cp "$t/tsv.out" "$t/s.tsv"
$VG "$B/tap-tsv" -d "$t/s.tsv" >"$t/tsv-d.out" 2>"$t/tsv-d.err"
# tap-replay as the server: the client's bytes on stdin, answers to a file.
$VG "$B/tap-replay" -H 0 --timing none "$t/s.tsv" <"$t/in.bin" \
    >"$t/replay.out" 2>"$t/replay.err"
cmp -s "$t/replay.out" "$t/in.bin" || echo "note: tap-replay answered differently"
# and a mismatch, which exits through die()
head -c 100 "$t/in.bin" | $VG "$B/tap-replay" -H 0 --timing none "$t/s.tsv" \
    >/dev/null 2>"$t/replay-bad.err"

# The verdict: every process's log.
bad=0
n=0
for log in "$t"/vg.*.log; do
	n=$((n + 1))
	if [ -s "$log" ]; then
		bad=1
		echo "== $log"
		cat "$log"
	fi
done
if [ $bad -ne 0 ]; then
	echo "valgrind: FAILED (logs in $t)"
	exit 1
fi
echo "valgrind: $n processes, no error and no leak"
rm -rf "$t"
