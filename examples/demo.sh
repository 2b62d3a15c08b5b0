#!/bin/sh
# tcptap demo: a real relay in front of a real Redis, and a short scripted
# conversation through it.  Run from the repository root after `make`
# (`make demo` does both).  Needs redis-server and redis-cli (redis-server
# and redis-tools on Debian; `make deps` installs them).
#
#   redis-cli --(TCP 127.0.0.1:PORT)--> tcptap --(unix socket)--> redis-server
#
# Everything lives in a temporary directory and every process is stopped by
# its PID on exit.  Exit status 0 when the conversation went as expected.

set -u

TCPTAP=${TCPTAP:-bin/tcptap}
dir=
redis_pid=
relay_pid=

die() {
	echo "demo: $*" >&2
	exit 1
}

cleanup() {
	for pid in $relay_pid $redis_pid; do
		kill "$pid" 2>/dev/null
	done
	for pid in $relay_pid $redis_pid; do
		wait "$pid" 2>/dev/null
	done
	[ -n "$dir" ] && rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

[ -x "$TCPTAP" ] || die "$TCPTAP not built: run make first"
for prog in redis-server redis-cli; do
	command -v "$prog" >/dev/null 2>&1 ||
	    die "$prog not found: run make deps (as root) or install redis"
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/tcptap-demo.XXXXXX") || die "mktemp failed"

# wait_for DESCRIPTION COMMAND...: run COMMAND every 0.05 s, up to 5 s.
wait_for() {
	what=$1
	shift
	i=0
	until "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ "$i" -ge 100 ] && die "timed out waiting for $what"
		sleep 0.05
	done
}

# 1. A private Redis on a unix socket in the temp dir: no TCP port, no disk.
redis-server --port 0 --unixsocket "$dir/redis.sock" --save '' \
    --appendonly no --daemonize no --dir "$dir" \
    >"$dir/redis.log" 2>&1 </dev/null &
redis_pid=$!
wait_for "redis-server" redis-cli -s "$dir/redis.sock" ping

# 2. The relay: an ephemeral loopback port, forwarding to Redis's socket,
#    with a tap per connection: tap-hexdump appends what flowed to one
#    file (one write per record, so sessions never interleave in a record).
hexdump=$(cd "$(dirname "$TCPTAP")" && pwd)/tap-hexdump
[ -x "$hexdump" ] || die "$hexdump not built: run make first"
"$TCPTAP" -P "$dir/port" -t "'$hexdump' >> '$dir/flow.txt'" \
    127.0.0.1:0 "unix:$dir/redis.sock" 2>"$dir/tcptap.log" </dev/null &
relay_pid=$!
wait_for "tcptap to listen" test -s "$dir/port"
port=$(cat "$dir/port")

echo "redis-server (pid $redis_pid) on unix:$dir/redis.sock"
echo "tcptap (pid $relay_pid) on 127.0.0.1:$port -> unix:$dir/redis.sock"
echo

# 3. The conversation.  Each command is its own connection through the relay.
fail=0
say() {
	want=$1
	shift
	echo "> $*"
	got=$(redis-cli --no-raw -p "$port" "$@" 2>&1)
	echo "$got" | sed 's/^/  /'
	if [ "$got" != "$want" ]; then
		echo "  (expected: $want)"
		fail=1
	fi
}

nl='
'
echo "== a conversation through the relay (redis-cli -p $port, one connection each)"
say 'OK'            SET greeting hello
say '"hello"'       GET greeting
say '(integer) 1'   INCR counter
say '(integer) 2'   INCR counter
say '(integer) 3'   LPUSH langs c sh awk
say "1) \"awk\"${nl}2) \"sh\"${nl}3) \"c\"" LRANGE langs 0 -1
say '(integer) 1'   DEL greeting
say '(nil)'         GET greeting
echo

# 4. Stop the relay the way a service manager does, and wait for it.
kill -TERM "$relay_pid"
wait "$relay_pid"
rc=$?
relay_pid=
[ "$rc" -eq 0 ] || { echo "demo: tcptap exited with status $rc" >&2; fail=1; }

echo "== what flowed, as the tap saw it (tap-hexdump)"
cat "$dir/flow.txt"
grep -q 'greeting' "$dir/flow.txt" || fail=1
echo
echo "== what the relay logged"
cat "$dir/tcptap.log"
grep -q '^tcptap: open ' "$dir/tcptap.log" || fail=1
grep -q '^tcptap: close .*c2s_bytes=' "$dir/tcptap.log" || fail=1

echo
if [ "$fail" -ne 0 ]; then
	echo "demo: FAILED" >&2
	exit 1
fi
echo "demo: ok"
