#!/bin/sh
# Record a conversation once, replay it both ways.
#
# 1. A framed protocol: a client speaking length-prefixed messages to an
#    echo server, through a relay that frames (tap-frame) and records
#    (tap-tsv).  The recording then plays the server for a new client,
#    and the client against the real server, for header lengths 1, 8,
#    10 and 16.
# 2. Redis: redis-cli through a relay recording with plain tap-tsv (RESP
#    is not length-prefixed), then tap-replay -H 0 stands in for Redis.
#
# Run from the repository root after `make`: sh examples/record-replay.sh

BIN=$(cd "$(dirname "$0")/../bin" && pwd) || exit 3
dir=$(mktemp -d "${TMPDIR:-/tmp}/tcptap-rr.XXXXXX") || exit 3
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	for p in $pids; do wait "$p" 2>/dev/null; done
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
	echo "record-replay: $*" >&2
	exit 1
}

# serve NAME ARGS...: tcptap ARGS on an ephemeral port; sets $port.
serve() {
	name=$1
	shift
	rm -f "$dir/$name.port"
	"$BIN/tcptap" -q -P "$dir/$name.port" "$@" 2>>"$dir/log" &
	pids="$pids $!"
	i=0
	while [ ! -s "$dir/$name.port" ]; do
		i=$((i + 1))
		[ "$i" -le 250 ] || die "$name did not start: $(cat "$dir/log")"
		sleep 0.02
	done
	port=$(cat "$dir/$name.port")
}

# stop: stop the servers started so far (recordings are complete when
# their relay has exited).
stop() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	for p in $pids; do wait "$p" 2>/dev/null; done
	pids=
}

# The client's script: what it says and what it expects back (an echo).
cat >"$dir/script.tsv" <<'TSV'
# ts_proxy recording v1
0	c2s	68656c6c6f
0	s2c	68656c6c6f
1000	c2s	
1000	s2c	
2000	c2s	0001020304050607
2000	s2c	0001020304050607
TSV

for h in 1 8 10 16; do
	echo "== framed, $h-byte length header"
	serve echo 127.0.0.1:0 -- cat
	echo_port=$port
	serve rec -t "'$BIN/tap-frame' -H $h | '$BIN/tap-tsv' > '$dir/rec$h.tsv'" \
	    127.0.0.1:0 "127.0.0.1:$echo_port"
	"$BIN/tap-replay" -H "$h" --timing none --connect "127.0.0.1:$port" \
	    "$dir/script.tsv" || die "recording -H $h: the client failed"
	stop
	sed 's/^/    /' "$dir/rec$h.tsv"

	# The recording plays the server for the client ...
	serve fake 127.0.0.1:0 -- "$BIN/tap-replay" -H "$h" --timing none \
	    "$dir/rec$h.tsv"
	"$BIN/tap-replay" -H "$h" --timing none --connect "127.0.0.1:$port" \
	    "$dir/script.tsv" || die "replay as server -H $h failed"
	echo "  replayed as the server: ok"
	stop

	# ... and the client against the real server.
	serve echo 127.0.0.1:0 -- cat
	"$BIN/tap-replay" -H "$h" --timing none --connect "127.0.0.1:$port" \
	    "$dir/rec$h.tsv" || die "replay as client -H $h failed"
	echo "  replayed as the client: ok"
	stop
done

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null
then
	echo "== redis: skipped (redis-server or redis-cli not installed)"
	exit 0
fi
echo "== redis, unframed (-H 0)"
redis-server --port 0 --unixsocket "$dir/redis.sock" --save '' \
    --appendonly no >/dev/null 2>&1 &
redis_pid=$!
i=0
until redis-cli -s "$dir/redis.sock" ping >/dev/null 2>&1; do
	i=$((i + 1))
	[ "$i" -le 250 ] || die "redis-server did not start"
	sleep 0.02
done
serve rec -t "'$BIN/tap-tsv' > '$dir/redis.tsv'" 127.0.0.1:0 \
    "unix:$dir/redis.sock"
want=$(redis-cli -p "$port" incrby counter 41)
stop
kill "$redis_pid"
wait "$redis_pid"
sed 's/^/    /' "$dir/redis.tsv"

serve fake 127.0.0.1:0 -- "$BIN/tap-replay" -H 0 "$dir/redis.tsv"
got=$(redis-cli -p "$port" incrby counter 41)
[ "$got" = "$want" ] || die "redis replay: got '$got', want '$want'"
echo "  redis-cli got '$got' from the recording, with Redis gone: ok"
