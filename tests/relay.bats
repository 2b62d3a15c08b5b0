#!/usr/bin/env bats
# Relay mode: bytes, half-close, resets, failures and timeouts.

load test_helper

@test "relay: logs one listen line, then one open and one close line per connection" {
	start_server srv 127.0.0.1:0 echo
	start_tcptap 127.0.0.1:0 "127.0.0.1:$srv_port"
	assert_equal "$(log_count "$T/tap.err" "^tcptap: listen addr=127\.0\.0\.1:$tap_port( |$)")" 1

	run peer connect "127.0.0.1:$tap_port" send=hello shut eof
	assert_success
	assert_output --regexp 'recv=5 end=eof$'
	cport=$(sed -E 's/^local=127\.0\.0\.1:([0-9]+) .*/\1/' <<<"$output")

	wait_log "$T/tap.err" '^tcptap: close '
	run grep -E "^tcptap: open sid=$SID_RE client=127\.0\.0\.1:$cport server=127\.0\.0\.1:$srv_port( |$)" "$T/tap.err"
	assert_success
	sid=$(sed -E 's/^tcptap: open sid=([^ ]+) .*/\1/' <<<"$output")
	run grep -E "^tcptap: close sid=$sid reason=eof by=[a-z]+ c2s_bytes=5 s2c_bytes=5 duration_us=[0-9]+( |$)" "$T/tap.err"
	assert_success
}

@test "relay: 64 MiB each way at the same time arrive sha256-exact" {
	heavy
	random_file "$T/c2s" 64M
	random_file "$T/s2c" 64M
	start_server1 srv 127.0.0.1:0 "file=$T/s2c" shut eof
	start_tcptap 127.0.0.1:0 "127.0.0.1:$srv_port"

	run peer -o "$T/got" connect "127.0.0.1:$tap_port" "file=$T/c2s" shut eof
	assert_success
	wait_exit "$srv_pid"
	assert_equal "$exit_status" 0
	assert_same_file "$T/c2s" "$T/srv.data"
	assert_same_file "$T/s2c" "$T/got"
	wait_log "$T/tap.err" "^tcptap: close sid=$SID_RE reason=eof .*c2s_bytes=67108864 s2c_bytes=67108864"
}

@test "relay: 50 concurrent connections all arrive exact" {
	start_server srv 127.0.0.1:0 echo
	start_tcptap 127.0.0.1:0 "127.0.0.1:$srv_port"
	pids=()
	for i in $(seq 50); do
		random_file "$T/in.$i" 256K
		# Connect, then wait until all 50 relays are open before sending.
		bg "c$i" "$PEER" -o "$T/got.$i" connect "127.0.0.1:$tap_port" \
		    wait="$T/go" "file=$T/in.$i" shut eof
		pids+=("$!")
	done
	wait_for 30 '[ "$(log_count "$T/tap.err" "^tcptap: open ")" -ge 50 ]'
	touch "$T/go"

	for i in $(seq 50); do
		wait_exit "${pids[i - 1]}" 30
		[ "$exit_status" -eq 0 ] ||
		    fail "client $i exited $exit_status: $(cat "$T/c$i.err")"
		assert_same_file "$T/in.$i" "$T/got.$i"
	done
	wait_for 10 '[ "$(log_count "$T/tap.err" "^tcptap: close .*reason=eof .*c2s_bytes=262144 s2c_bytes=262144")" -eq 50 ]'
}

@test "relay: half-close: the client shuts its write side and still receives" {
	start_server1 srv 127.0.0.1:0 eof send=reply shut
	start_tcptap 127.0.0.1:0 "127.0.0.1:$srv_port"

	# The server answers only after it has seen the client's FIN.
	run peer -o "$T/got" connect "127.0.0.1:$tap_port" send=hello shut eof
	assert_success
	assert_output --regexp 'recv=5 end=eof$'
	assert_equal "$(cat "$T/got")" reply
	wait_exit "$srv_pid"
	assert_equal "$exit_status" 0
	assert_equal "$(cat "$T/srv.data")" hello
	wait_log "$T/tap.err" "^tcptap: close sid=$SID_RE reason=eof .*c2s_bytes=5 s2c_bytes=5"
}

@test "relay: half-close: the server shuts its write side and still receives" {
	start_server1 srv 127.0.0.1:0 send=hello shut eof
	start_tcptap 127.0.0.1:0 "127.0.0.1:$srv_port"

	# The client answers only after it has seen the server's FIN.
	run peer -o "$T/got" connect "127.0.0.1:$tap_port" eof send=reply shut
	assert_success
	assert_equal "$(cat "$T/got")" hello
	wait_exit "$srv_pid"
	assert_equal "$exit_status" 0
	assert_equal "$(cat "$T/srv.data")" reply
	run cat "$T/srv.out"
	assert_output --regexp 'recv=5 end=eof$'
	wait_log "$T/tap.err" "^tcptap: close sid=$SID_RE reason=eof .*c2s_bytes=5 s2c_bytes=5"
}

@test "relay: a client RST is logged as reason=reset and ends the server side" {
	start_server1 srv 127.0.0.1:0 echo
	start_tcptap 127.0.0.1:0 "127.0.0.1:$srv_port"

	run peer connect "127.0.0.1:$tap_port" send=ping recv=4 reset
	assert_success
	wait_log "$T/tap.err" "^tcptap: close sid=$SID_RE reason=reset by=client "
	wait_exit "$srv_pid"
	run cat "$T/srv.out"
	assert_output --regexp 'end=(reset|eof)$'
}

@test "relay: a server RST is logged as reason=reset and ends the client side" {
	start_server1 srv 127.0.0.1:0 recv=4 reset
	start_tcptap 127.0.0.1:0 "127.0.0.1:$srv_port"

	run peer connect "127.0.0.1:$tap_port" send=ping eof
	assert_success
	assert_output --regexp 'end=(reset|eof)$'
	wait_log "$T/tap.err" "^tcptap: close sid=$SID_RE reason=reset by=server "
}

@test "relay: target refused: the client is reset at once, the log says why, the listener goes on" {
	port=$("$PEER" freeport)	# nobody listens there
	start_tcptap 127.0.0.1:0 "127.0.0.1:$port"

	t0=$(date +%s%N)
	run peer connect "127.0.0.1:$tap_port" eof
	assert_success
	assert_output --regexp 'end=reset$'
	[ "$(ms_since "$t0")" -lt 3000 ] || fail "client closed only after $(ms_since "$t0") ms"
	wait_log "$T/tap.err" "^tcptap: fail sid=$SID_RE client=127\.0\.0\.1:[0-9]+ target=127\.0\.0\.1:$port error=.*[Rr]efused"

	# The listener is unaffected: a second client gets the same treatment.
	run peer connect "127.0.0.1:$tap_port" eof
	assert_success
	assert_output --regexp 'end=reset$'
	wait_for 10 '[ "$(log_count "$T/tap.err" "^tcptap: fail ")" -eq 2 ]'
	stop_tcptap
	assert_equal "$exit_status" 0
}

@test "relay: --connect-timeout gives up on a target that drops SYNs, the client is closed" {
	# A listener that never accepts, its backlog (0: one slot) filled: the
	# kernel then drops every new SYN to it.
	bg blackhole "$PEER" -b 0 -n -P "$T/blackhole.port" listen 127.0.0.1:0
	wait_file "$T/blackhole.port"
	port=$(cat "$T/blackhole.port")
	bg filler "$PEER" connect "127.0.0.1:$port" wait="$T/never"
	wait_for 10 '[ "$(accept_queue "$port")" = 1 ]'
	start_tcptap --connect-timeout 1 127.0.0.1:0 "127.0.0.1:$port"

	t0=$(date +%s%N)
	run peer connect "127.0.0.1:$tap_port" eof
	assert_success
	assert_output --regexp 'end=(reset|eof)$'
	ms=$(ms_since "$t0")
	[ "$ms" -ge 900 ] || fail "client closed after $ms ms, before the 1 s connect timeout"
	[ "$ms" -lt 5000 ] || fail "client closed only after $ms ms"
	wait_log "$T/tap.err" "^tcptap: fail sid=$SID_RE client=127\.0\.0\.1:[0-9]+ target=127\.0\.0\.1:$port error=.*([Tt]imed out|[Tt]ime-?out)"
}

@test "relay: -w idle timeout closes both sides with reason=timeout by=relay" {
	start_server1 srv 127.0.0.1:0 echo
	start_tcptap -w 1 127.0.0.1:0 "127.0.0.1:$srv_port"

	t0=$(date +%s%N)
	run peer connect "127.0.0.1:$tap_port" send=hi recv=2 eof
	assert_success
	assert_output --regexp 'recv=2 end=(eof|reset)$'
	ms=$(ms_since "$t0")
	[ "$ms" -ge 900 ] || fail "closed after $ms ms, before the 1 s idle timeout"
	[ "$ms" -lt 5000 ] || fail "closed only after $ms ms"
	wait_log "$T/tap.err" "^tcptap: close sid=$SID_RE reason=timeout by=relay "
	wait_exit "$srv_pid"
	run cat "$T/srv.out"
	assert_output --regexp 'recv=2 end=(eof|reset)$'
}

@test "relay: --no-splice moves 16 MiB each way exact" {
	random_file "$T/c2s" 16M
	random_file "$T/s2c" 16M
	start_server1 srv 127.0.0.1:0 "file=$T/s2c" shut eof
	start_tcptap --no-splice 127.0.0.1:0 "127.0.0.1:$srv_port"

	run peer -o "$T/got" connect "127.0.0.1:$tap_port" "file=$T/c2s" shut eof
	assert_success
	wait_exit "$srv_pid"
	assert_same_file "$T/c2s" "$T/srv.data"
	assert_same_file "$T/s2c" "$T/got"
	wait_log "$T/tap.err" "^tcptap: close sid=$SID_RE reason=eof .*c2s_bytes=16777216 s2c_bytes=16777216"
}

@test "relay: IPv6 loopback on both sides, exact, [::1] in the log" {
	random_file "$T/c2s" 1M
	random_file "$T/s2c" 1M
	start_server1 srv '[::1]:0' "file=$T/s2c" shut eof
	start_tcptap '[::1]:0' "[::1]:$srv_port"
	wait_log "$T/tap.err" "^tcptap: listen addr=\[::1\]:$tap_port( |$)"

	run peer -o "$T/got" connect "[::1]:$tap_port" "file=$T/c2s" shut eof
	assert_success
	wait_exit "$srv_pid"
	assert_same_file "$T/c2s" "$T/srv.data"
	assert_same_file "$T/s2c" "$T/got"
	wait_log "$T/tap.err" "^tcptap: open sid=$SID_RE client=\[::1\]:[0-9]+ server=\[::1\]:$srv_port( |$)"
}

@test "relay: unix sockets on both sides, exact" {
	random_file "$T/c2s" 1M
	random_file "$T/s2c" 1M
	start_server1 srv "unix:$T/srv.sock" "file=$T/s2c" shut eof
	bg tap "$TCPTAP" "unix:$T/tap.sock" "unix:$T/srv.sock"
	wait_log "$T/tap.err" "^tcptap: listen addr=unix:$T/tap.sock( |$)"

	run peer -o "$T/got" connect "unix:$T/tap.sock" "file=$T/c2s" shut eof
	assert_success
	wait_exit "$srv_pid"
	assert_same_file "$T/c2s" "$T/srv.data"
	assert_same_file "$T/s2c" "$T/got"
	wait_log "$T/tap.err" "^tcptap: close sid=$SID_RE reason=eof .*c2s_bytes=1048576 s2c_bytes=1048576"
}
