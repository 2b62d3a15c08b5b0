#!/usr/bin/env bats
# Start-up modes: exec (LISTEN -- PROG), inetd (--inetd), systemd (sd).

load test_helper

# start_activate NAME ARGS...: systemd-socket-activate ARGS in the
# background; waits until it listens.
start_activate() {
	local name=$1
	shift
	bg "$name" systemd-socket-activate "$@"
	wait_log "$T/$name.err" '^Listening on '
}

@test "exec: PROG gets the socket on fd 0 and 1 and the UCSPI environment" {
	start_tcptap 127.0.0.1:0 -- sh -c 'env >"$1.tmp" && mv "$1.tmp" "$1" && exec cat' sh "$T/env"

	run peer -o "$T/got" connect "127.0.0.1:$tap_port" send=hello shut eof
	assert_success
	assert_equal "$(cat "$T/got")" hello
	cport=$(sed -E 's/^local=127\.0\.0\.1:([0-9]+) .*/\1/' <<<"$output")
	run cat "$T/env"
	assert_line PROTO=TCP
	assert_line TCPLOCALIP=127.0.0.1
	assert_line "TCPLOCALPORT=$tap_port"
	assert_line TCPREMOTEIP=127.0.0.1
	assert_line "TCPREMOTEPORT=$cport"
	assert_line --regexp "^TCPTAP_SID=$SID_RE\$"
}

@test "exec: '-- cat' is an echo server, 4 MiB exact" {
	random_file "$T/in" 4M
	start_tcptap 127.0.0.1:0 -- cat

	run peer -o "$T/got" connect "127.0.0.1:$tap_port" "file=$T/in" shut eof
	assert_success
	assert_same_file "$T/in" "$T/got"
}

@test "exec: every connection gets its own session id" {
	start_tcptap 127.0.0.1:0 -- sh -c 'printf %s "$TCPTAP_SID"'

	run peer -o "$T/sid1" connect "127.0.0.1:$tap_port" shut eof
	assert_success
	run peer -o "$T/sid2" connect "127.0.0.1:$tap_port" shut eof
	assert_success
	sid1=$(cat "$T/sid1") sid2=$(cat "$T/sid2")
	[[ $sid1 =~ ^$SID_RE$ ]] || fail "bad session id '$sid1'"
	[[ $sid2 =~ ^$SID_RE$ ]] || fail "bad session id '$sid2'"
	[ "$sid1" != "$sid2" ] || fail "two connections share session id $sid1"
}

@test "inetd: under systemd-socket-activate --inetd -a, each connection relayed exact" {
	random_file "$T/in" 4M
	start_server srv 127.0.0.1:0 echo
	port=$("$PEER" freeport)
	start_activate sa --inetd -a -l "127.0.0.1:$port" \
	    "$TCPTAP" --inetd "127.0.0.1:$srv_port"

	for i in 1 2; do
		run peer -o "$T/got.$i" connect "127.0.0.1:$port" "file=$T/in" shut eof
		assert_success
		assert_same_file "$T/in" "$T/got.$i"
	done
	# fd 2 is not the socket here: tcptap logs to stderr.
	wait_for 10 '[ "$(log_count "$T/sa.err" "^tcptap: close sid=$SID_RE reason=eof ")" -eq 2 ]'
}

@test "inetd: under ucspi-tcp tcpserver, relayed exact" {
	random_file "$T/in" 4M
	start_server srv 127.0.0.1:0 echo
	bg ts tcpserver -1 -q 127.0.0.1 0 "$TCPTAP" --inetd "127.0.0.1:$srv_port"
	wait_file "$T/ts.out"
	port=$(cat "$T/ts.out")

	run peer -o "$T/got" connect "127.0.0.1:$port" "file=$T/in" shut eof
	assert_success
	assert_same_file "$T/in" "$T/got"
	wait_log "$T/ts.err" "^tcptap: close sid=$SID_RE reason=eof .*c2s_bytes=4194304 s2c_bytes=4194304"
}

@test "inetd: with fd 2 = the socket (2>&0), the client gets exactly the server's bytes" {
	start_server srv 127.0.0.1:0 echo
	bg ts tcpserver -1 -q 127.0.0.1 0 \
	    sh -c 'exec "$0" -v --inetd "$1" 2>&0' "$TCPTAP" "127.0.0.1:$srv_port"
	wait_file "$T/ts.out"
	port=$(cat "$T/ts.out")

	for i in 1 2; do
		run peer -o "$T/got.$i" connect "127.0.0.1:$port" send=hello shut eof
		assert_success
		assert_equal "$(cat "$T/got.$i")" hello
	done
}

@test "sd: under systemd-socket-activate -l (Accept=no), one tcptap serves every connection" {
	random_file "$T/in" 1M
	start_server srv 127.0.0.1:0 echo
	port=$("$PEER" freeport)
	start_activate sa -l "127.0.0.1:$port" "$TCPTAP" sd "127.0.0.1:$srv_port"

	for i in 1 2 3; do
		run peer -o "$T/got.$i" connect "127.0.0.1:$port" "file=$T/in" shut eof
		assert_success
		assert_same_file "$T/in" "$T/got.$i"
	done
	wait_for 10 '[ "$(log_count "$T/sa.err" "^tcptap: close sid=$SID_RE reason=eof ")" -eq 3 ]'
	# systemd-socket-activate exec'd tcptap in place: still the same process.
	kill -0 "$sa_pid" || fail "tcptap sd exited: $(cat "$T/sa.err")"
}
