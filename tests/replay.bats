#!/usr/bin/env bats
# tap-replay: a TSV recording played as a fake server (fd 0/1) or, with
# --connect, as a client against a real server.

load test_helper

REPLAY=$ROOT/bin/tap-replay
FIX=$ROOT/tests/fixtures/replay

# hex TEXT: TEXT as lowercase hex, as a recording holds it.
hex() {
	printf %s "$1" | od -An -tx1 -v | tr -d ' \n'
}

# tsv FILE "US DIR [HEX]"...: a recording with these lines.
tsv() {
	local f=$1 l us dir h
	shift
	echo '# ts_proxy recording v1' >"$f"
	for l; do
		read -r us dir h <<<"$l"
		printf '%s\t%s\t%s\n' "$us" "$dir" "$h" >>"$f"
	done
}

# be N LEN: printf escapes for LEN as an N-byte big-endian field.
be() {
	local i
	for ((i = $1 - 1; i >= 0; i--)); do
		if ((i >= 8)); then
			printf '\\x00'
		else
			printf '\\x%02x' $((($2 >> (8 * i)) & 255))
		fi
	done
}

# frame N TEXT: TEXT behind an N-byte big-endian length.
frame() {
	printf "$(be "$1" "${#2}")%s" "$2"
}

# start_replay [-t CMD] ARGS...: tcptap (with tap CMD) runs `tap-replay
# ARGS` per connection; its stderr goes to $T/replay.err and its status
# to $T/replay.rc.
start_replay() {
	local -a tap=()
	if [ "$1" = -t ]; then
		tap=(-t "$2")
		shift 2
	fi
	start_tcptap "${tap[@]}" 127.0.0.1:0 -- sh -c \
	    'd=$1; shift; "$0" "$@" 2>"$d/replay.err"
	    echo $? >"$d/replay.rc.tmp" && mv "$d/replay.rc.tmp" "$d/replay.rc"' \
	    "$REPLAY" "$T" "$@"
}

# replay_status: wait for the replay to end; its status in replay_rc.
replay_status() {
	wait_file "$T/replay.rc"
	replay_rc=$(cat "$T/replay.rc")
}

# roundtrip N: a client sends N-byte-header frames (a 0-byte one too),
# gets the recorded answers framed the same way, and the replay is happy.
roundtrip() {
	local n=$1 big
	big=$(printf 'x%.0s' {1..200})
	((n == 1)) || big=$big$big	# 400 bytes: two length bytes in use
	tsv "$T/r.tsv" "0 c2s $(hex hello)" "10 s2c $(hex "$big")" \
	    "20 c2s" "30 s2c $(hex '!')"
	{ frame "$n" hello; frame "$n" ''; } >"$T/c2s"
	{ frame "$n" "$big"; frame "$n" '!'; } >"$T/want"
	start_replay -H "$n" "$T/r.tsv"

	run peer -o "$T/got" connect "127.0.0.1:$tap_port" "file=$T/c2s" eof
	assert_success
	assert_same_file "$T/want" "$T/got"
	replay_status
	assert_equal "$replay_rc" 0
	assert_equal "$(cat "$T/replay.err")" ''
}

@test "replay: server role, -H 1 round trip" {
	roundtrip 1
}

@test "replay: server role, -H 2 round trip" {
	roundtrip 2
}

@test "replay: server role, -H 8 (the default) round trip" {
	roundtrip 8
}

@test "replay: server role, -H 10 round trip" {
	roundtrip 10
}

@test "replay: server role, -H 16 round trip" {
	roundtrip 16
}

@test "replay: a type byte, little-endian length that counts the header" {
	# Type byte, then a 4-byte little-endian length of the whole frame.
	tsv "$T/r.tsv" "0 c2s $(hex hello)" "10 s2c $(hex world!)"
	printf 'Q\x0a\x00\x00\x00hello' >"$T/c2s"
	# The type byte is not recorded: the replay sends it as zero.
	printf '\x00\x0b\x00\x00\x00world!' >"$T/want"
	start_replay -H 4 --length-offset 1 --little-endian \
	    --length-includes-header "$T/r.tsv"

	run peer -o "$T/got" connect "127.0.0.1:$tap_port" "file=$T/c2s" eof
	assert_success
	assert_same_file "$T/want" "$T/got"
	replay_status
	assert_equal "$replay_rc" 0
}

@test "replay: --keep-header recordings hold whole frames, checked and sent as is" {
	# PostgreSQL-like: type byte, 2-byte length.  The header is compared
	# too, so a wrong type byte would fail.
	printf 'Q\x00\x05hello' >"$T/c2s"
	printf 'R\x00\x06world!' >"$T/want"
	tsv "$T/r.tsv" "0 c2s $(od -An -tx1 -v "$T/c2s" | tr -d ' \n')" \
	    "10 s2c $(od -An -tx1 -v "$T/want" | tr -d ' \n')"
	start_replay -H 2 --length-offset 1 --keep-header "$T/r.tsv"

	run peer -o "$T/got" connect "127.0.0.1:$tap_port" "file=$T/c2s" eof
	assert_success
	assert_same_file "$T/want" "$T/got"
	replay_status
	assert_equal "$replay_rc" 0
}

@test "replay: --skip passes a greeting unframed, then frames" {
	tsv "$T/r.tsv" "0 c2s $(hex HI)" "5 s2c $(hex OK)" \
	    "10 c2s $(hex hello)" "20 s2c $(hex world)"
	{ printf HI; frame 2 hello; } >"$T/c2s"
	{ printf OK; frame 2 world; } >"$T/want"
	start_replay -H 2 --skip 2 "$T/r.tsv"

	run peer -o "$T/got" connect "127.0.0.1:$tap_port" "file=$T/c2s" eof
	assert_success
	assert_same_file "$T/want" "$T/got"
	replay_status
	assert_equal "$replay_rc" 0
}

@test "replay: -H 0, a client sending byte by byte matches a one-line recording" {
	tsv "$T/r.tsv" "0 c2s $(hex $'PING\r\n')" "10 s2c $(hex $'+PONG\r\n')"
	start_replay -t "cat > '$T/stream'" -H 0 "$T/r.tsv"

	exec {fd}<>"/dev/tcp/127.0.0.1/$tap_port"
	for c in P I N G $'\r' $'\n'; do
		printf %s "$c" >&$fd
		sleep 0.05
	done
	got=$(timeout 5 cat <&$fd)
	exec {fd}>&-
	assert_equal "$got" $'+PONG\r'
	replay_status
	assert_equal "$replay_rc" 0
	# It really came in six pieces.
	stop_tcptap
	assert_equal "$(grep -a -o -E 'tap1 data [^ ]+ [0-9]+ c2s 1 ' \
	    "$T/stream" | wc -l)" 6
}

@test "replay: -H 0, a client sending at once matches a recording in pieces" {
	tsv "$T/r.tsv" "0 c2s $(hex $'*1\r\n')" "1 c2s $(hex $'$4\r\n')" \
	    "2 c2s $(hex $'PING\r\n')" "10 s2c $(hex $'+PONG\r\n')"
	start_replay -H 0 "$T/r.tsv"

	run peer -o "$T/got" connect "127.0.0.1:$tap_port" \
	    $'send=*1\r\n$4\r\nPING\r\n' eof
	assert_success
	assert_equal "$(cat "$T/got")" $'+PONG\r'
	replay_status
	assert_equal "$replay_rc" 0
}

@test "replay: -H 0 sends each answer only once the bytes before it came" {
	tsv "$T/r.tsv" "0 c2s $(hex one)" "1 s2c $(hex ONE)" \
	    "2 c2s $(hex two)" "3 s2c $(hex TWO)"
	start_replay -H 0 "$T/r.tsv"

	# recv=3 completes before "two" is sent: only ONE may have come.
	run peer -o "$T/got" connect "127.0.0.1:$tap_port" send=one recv=3 \
	    send=two eof
	assert_success
	assert_equal "$(cat "$T/got")" ONETWO
	replay_status
	assert_equal "$replay_rc" 0
}

@test "replay: inetd style (socket on fd 0 and 1) under tcpserver" {
	bg ts tcpserver -1 -q 127.0.0.1 0 "$REPLAY" -H 2 "$FIX/hello-h2.tsv"
	wait_file "$T/ts.out"
	port=$(cat "$T/ts.out")

	run peer -o "$T/got" connect "127.0.0.1:$port" "file=$FIX/hello.h2" eof
	assert_success
	assert_same_file "$FIX/world.h2" "$T/got"
	assert_equal "$(cat "$T/ts.err")" ''
}

@test "replay: inetd style with fd 2 = the socket, an error never reaches the client" {
	bg ts tcpserver -1 -q 127.0.0.1 0 \
	    sh -c 'exec "$0" "$@" 2>&0' "$REPLAY" -H 2 "$FIX/hello-h2.tsv"
	wait_file "$T/ts.out"
	port=$(cat "$T/ts.out")

	printf '\x00\x05HELLO' >"$T/c2s"
	run peer -o "$T/got" connect "127.0.0.1:$port" "file=$T/c2s" eof
	assert_success
	assert_equal "$(stat -c %s "$T/got")" 0
}

@test "replay: a mismatching client gets the documented error, exit 1" {
	tsv "$T/r.tsv" "0 c2s $(hex hello)" "10 s2c $(hex world)" \
	    "20 c2s $(hex 'hello world!')" "30 s2c $(hex bye)"
	{ frame 8 hello; frame 8 'hello World!'; } >"$T/c2s"
	start_replay "$T/r.tsv"

	run peer -o "$T/got" connect "127.0.0.1:$tap_port" "file=$T/c2s" eof
	# It got the first answer, then the connection closed.
	frame 8 world >"$T/want"
	assert_same_file "$T/want" "$T/got"
	replay_status
	assert_equal "$replay_rc" 1
	assert_equal "$(cat "$T/replay.err")" "tap-replay: $T/r.tsv:4: c2s mismatch: expected 12 bytes, got 12, first difference at offset 6: expected 776f726c6421, got 576f726c6421"
}

@test "replay: a client frame of another length is a mismatch naming both lengths" {
	tsv "$T/r.tsv" "0 c2s $(hex hello)" "10 s2c $(hex world)"
	frame 8 help >"$T/c2s"
	start_replay "$T/r.tsv"

	run peer connect "127.0.0.1:$tap_port" "file=$T/c2s" eof
	replay_status
	assert_equal "$replay_rc" 1
	assert_equal "$(cat "$T/replay.err")" "tap-replay: $T/r.tsv:2: c2s mismatch: expected 5 bytes, got 4, first difference at offset 3: expected 6c6f, got 70"
}

@test "replay: a client that closes mid-frame is a short read, exit 1" {
	tsv "$T/r.tsv" "0 c2s $(hex hello)" "10 s2c $(hex world)"
	frame 8 hello | head -c 10 >"$T/c2s"
	start_replay "$T/r.tsv"

	run peer connect "127.0.0.1:$tap_port" "file=$T/c2s" shut eof
	assert_success
	replay_status
	assert_equal "$replay_rc" 1
	assert_equal "$(cat "$T/replay.err")" "tap-replay: $T/r.tsv:2: c2s short read: expected 5 bytes, got 2 of a 5-byte frame before the connection closed"
}

@test "replay: a client that closes mid-header is a short read, exit 1" {
	tsv "$T/r.tsv" "0 c2s $(hex hello)" "10 s2c $(hex world)"
	start_replay "$T/r.tsv"

	run peer connect "127.0.0.1:$tap_port" send=abc shut eof
	assert_success
	replay_status
	assert_equal "$replay_rc" 1
	assert_equal "$(cat "$T/replay.err")" "tap-replay: $T/r.tsv:2: c2s short read: expected a frame of 5 bytes, got 3 of its 8 header bytes before the connection closed"
}

@test "replay: -H 0, a client that stops early is a short read, exit 1" {
	tsv "$T/r.tsv" "0 c2s $(hex 'GET / HTTP/1.0')" "10 s2c $(hex ok)"
	start_replay -H 0 "$T/r.tsv"

	run peer connect "127.0.0.1:$tap_port" 'send=GET /' shut eof
	assert_success
	replay_status
	assert_equal "$replay_rc" 1
	assert_equal "$(cat "$T/replay.err")" "tap-replay: $T/r.tsv:2: c2s short read: expected 14 bytes, got 5 before the connection closed"
}

@test "replay: a frame over -m is refused before it is read, exit 1" {
	tsv "$T/r.tsv" "0 c2s $(hex hello)" "10 s2c $(hex world)"
	printf "$(be 4 100000)hello" >"$T/c2s"
	start_replay -H 4 -m 10 "$T/r.tsv"

	run peer connect "127.0.0.1:$tap_port" "file=$T/c2s" eof
	replay_status
	assert_equal "$replay_rc" 1
	assert_equal "$(cat "$T/replay.err")" "tap-replay: $T/r.tsv:2: c2s bad frame: frame of 100000 bytes over the maximum 10"
}

@test "replay: -w ends a replay whose client goes quiet, exit 1" {
	tsv "$T/r.tsv" "0 c2s $(hex hello)" "10 s2c $(hex world)"
	start_replay -H 0 -w 1 "$T/r.tsv"

	start=$(date +%s%N)
	run peer connect "127.0.0.1:$tap_port" send=hel eof
	assert_success
	replay_status
	assert_equal "$replay_rc" 1
	assert_equal "$(cat "$T/replay.err")" "tap-replay: $T/r.tsv:2: c2s short read: expected 5 bytes, got 3 and then nothing for 1 s (-w)"
	(($(ms_since "$start") < 5000))
}

@test "replay: a malformed recording is FILE:LINE: what, exit 1" {
	local -a bad=(
	    $'0\tc2s\t123'		'odd number of hex digits'
	    $'0\tc2x\t00'		'unknown direction: want c2s or s2c'
	    $'0\tc2s\tzz'		'non-hex character at column 7'
	    $'x\tc2s\t00'		'time is not a decimal number'
	    $'0\tc2s'			'missing field: want TIME<tab>DIR<tab>HEX'
	)
	# (not a for loop over an index: bats's run clobbers i)
	set -- "${bad[@]}"
	while (($# >= 2)); do
		printf '# ts_proxy recording v1\n\n# a comment\n%s\n' "$1" \
		    >"$T/bad.tsv"
		run -1 "$REPLAY" "$T/bad.tsv" </dev/null
		assert_output "tap-replay: $T/bad.tsv:4: $2"
		shift 2
	done
}

@test "replay: a malformed line after good ones ends the conversation there" {
	printf '# ts_proxy recording v1\n0\tc2s\t%s\n10\ts2c\t%s\n5\ts2c\t00\n' \
	    "$(hex hello)" "$(hex world)" >"$T/r.tsv"
	start_replay -H 0 "$T/r.tsv"

	run peer -o "$T/got" connect "127.0.0.1:$tap_port" send=hello eof
	assert_success
	assert_equal "$(cat "$T/got")" world
	replay_status
	assert_equal "$replay_rc" 1
	assert_equal "$(cat "$T/replay.err")" "tap-replay: $T/r.tsv:4: time goes back: 5 after 10"
}

@test "replay: usage errors exit 2 with the usage, a missing file 3" {
	tsv "$T/r.tsv" "0 c2s 00"
	for args in "-H 17 $T/r.tsv" "--timing fast $T/r.tsv" \
	    "--speed 0 $T/r.tsv" "-H 0 --little-endian $T/r.tsv" \
	    "--connect nowhere $T/r.tsv" "" "$T/r.tsv $T/r.tsv"; do
		run -2 "$REPLAY" $args
		assert_line --index 0 --regexp '^tap-replay: '
		assert_line --partial 'usage: tap-replay '
	done
	run -3 "$REPLAY" "$T/none.tsv"
	assert_output "tap-replay: $T/none.tsv: No such file or directory"
	run -0 "$REPLAY" -h
	assert_line --index 0 --partial 'usage: tap-replay '
}

@test "replay: client role against a framed tt-peer server, exit 0" {
	tsv "$T/r.tsv" "0 c2s $(hex hello)" "10 s2c $(hex world)" \
	    "20 c2s $(hex again)" "30 s2c $(hex 'and again')"
	{ frame 2 hello; frame 2 again; } >"$T/want"
	{ frame 2 world; frame 2 'and again'; } >"$T/s2c"
	start_server1 srv 127.0.0.1:0 recv=7 "file=$T/s2c" recv=14 eof

	run "$REPLAY" -H 2 --connect "127.0.0.1:$srv_port" "$T/r.tsv"
	assert_success
	assert_output ''
	wait_exit "$srv_pid"
	assert_same_file "$T/want" "$T/srv.data"
}

@test "replay: client role against an echo server, exit 0" {
	tsv "$T/r.tsv" "0 c2s $(hex 'hello ')" "1 c2s $(hex world)" \
	    "10 s2c $(hex 'hello world')" "20 c2s $(hex '!')" "30 s2c $(hex '!')"
	start_tcptap 127.0.0.1:0 -- cat

	run "$REPLAY" -H 0 --connect "127.0.0.1:$tap_port" "$T/r.tsv"
	assert_success
	assert_output ''
}

@test "replay: client role, a server answering otherwise is exit 1 with the message" {
	tsv "$T/r.tsv" "0 c2s $(hex hello)" "10 s2c $(hex hellO)"
	start_tcptap 127.0.0.1:0 -- cat

	run -1 "$REPLAY" -H 0 --connect "127.0.0.1:$tap_port" "$T/r.tsv"
	assert_output "tap-replay: $T/r.tsv:3: s2c mismatch: expected 5 bytes, got 5 so far, first difference at offset 4: expected 4f, got 6f"
}

@test "replay: client role, a server sending more than the recording is exit 1" {
	tsv "$T/r.tsv" "0 c2s $(hex hi)" "10 s2c $(hex ho)"
	start_server1 srv 127.0.0.1:0 recv=2 send=hohum eof

	run -1 "$REPLAY" -H 0 --connect "127.0.0.1:$srv_port" "$T/r.tsv"
	assert_output "tap-replay: $T/r.tsv: end of the recording: s2c mismatch: expected no more bytes, got 3: 68756d"
}

@test "replay: client role over a unix socket" {
	tsv "$T/r.tsv" "0 c2s $(hex ping)" "10 s2c $(hex pong)"
	start_server1 srv "unix:$T/s.sock" recv=4 send=pong eof

	run "$REPLAY" -H 0 --connect "unix:$T/s.sock" "$T/r.tsv"
	assert_success
	assert_equal "$(cat "$T/srv.data")" ping
}

@test "replay: client role, nothing listening is a system error, exit 3" {
	tsv "$T/r.tsv" "0 c2s $(hex ping)"
	port=$("$PEER" freeport)

	run -3 "$REPLAY" --connect "127.0.0.1:$port" "$T/r.tsv"
	assert_output "tap-replay: connect 127.0.0.1:$port: Connection refused"
}

# timed ARGS...: milliseconds a client waits for the answer recorded
# 4 s after its request, tap-replay run with ARGS; in ms.  The gap is
# long so that starting a process on a busy machine stays small beside
# it; bounds are the asked time to 3 x it.
timed() {
	tsv "$T/r.tsv" "0 c2s $(hex ping)" "4000000 s2c $(hex pong)"
	start_replay -H 0 "$@" "$T/r.tsv"
	local start
	start=$(date +%s%N)
	run peer -o "$T/got" connect "127.0.0.1:$tap_port" send=ping eof
	ms=$(ms_since "$start")
	assert_success
	assert_equal "$(cat "$T/got")" pong
	replay_status
	assert_equal "$replay_rc" 0
}

@test "replay: --timing original keeps a recorded 4 s gap" {
	timed --timing original
	((ms >= 4000 && ms < 12000)) || fail "took $ms ms"
}

@test "replay: --timing none answers at once, well inside the gap" {
	timed --timing none
	((ms < 2000)) || fail "took $ms ms"
}

@test "replay: --speed 4 takes about a quarter of the gap" {
	timed --speed 4
	((ms >= 1000 && ms < 3000)) || fail "took $ms ms"
}

@test "replay: --max-gap caps the pause" {
	timed --max-gap 0.5
	((ms >= 500 && ms < 1500)) || fail "took $ms ms"
}

@test "replay: a recorded redis-cli session replays to the same output" {
	command -v redis-server >/dev/null || skip "no redis-server"
	command -v redis-cli >/dev/null || skip "no redis-cli"
	printf 'SET greeting hello\nGET greeting\nINCR n\nINCR n\nPING\n' \
	    >"$T/cmds"
	bg redis redis-server --port 0 --unixsocket "$T/r.sock" \
	    --save '' --appendonly no
	wait_for 10 "[ -S '$T/r.sock' ]"
	start_tcptap -t "'$ROOT/bin/tap-tsv' > '$T/rec.tsv'" 127.0.0.1:0 \
	    "unix:$T/r.sock"
	timeout 10 redis-cli -p "$tap_port" <"$T/cmds" >"$T/live"
	# The tap has written the recording once the last answer is in it.
	wait_for 10 "grep -q '$(hex $'+PONG\r\n')\$' '$T/rec.tsv'"
	stop_tcptap
	kill -TERM "$redis_pid"
	wait_exit "$redis_pid"
	assert_equal "$(cat "$T/live")" $'OK\nhello\n1\n2\nPONG'
	grep -q $'\tc2s\t' "$T/rec.tsv" || fail "no c2s line in the recording"

	rm -f "$T/tap.port"
	start_replay -H 0 --timing none "$T/rec.tsv"
	timeout 10 redis-cli -p "$tap_port" <"$T/cmds" >"$T/replayed"
	assert_same_file "$T/live" "$T/replayed"
	replay_status
	assert_equal "$replay_rc" 0
}

@test "replay: a 1 MiB frame each way, exact" {
	random_file "$T/in" 1M
	random_file "$T/out" 1M
	tsv "$T/r.tsv" "0 c2s $(od -An -tx1 -v "$T/in" | tr -d ' \n')" \
	    "10 s2c $(od -An -tx1 -v "$T/out" | tr -d ' \n')"
	{ printf "$(be 4 1048576)"; cat "$T/in"; } >"$T/c2s"
	{ printf "$(be 4 1048576)"; cat "$T/out"; } >"$T/want"
	start_replay -H 4 "$T/r.tsv"

	run peer -o "$T/got" connect "127.0.0.1:$tap_port" "file=$T/c2s" eof
	assert_success
	assert_same_file "$T/want" "$T/got"
	replay_status
	assert_equal "$replay_rc" 0
}

@test "replay: client role, 1 MiB each way through an echo server, exact" {
	random_file "$T/in" 1M
	h=$(od -An -tx1 -v "$T/in" | tr -d ' \n')
	tsv "$T/r.tsv" "0 c2s $h" "10 s2c $h"
	start_tcptap 127.0.0.1:0 -- cat

	run "$REPLAY" -H 0 --connect "127.0.0.1:$tap_port" "$T/r.tsv"
	assert_success
	assert_output ''
}
