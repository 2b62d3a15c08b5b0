#!/usr/bin/env bats
# The listener: connection limit, SIGTERM drain, reaping.

load test_helper

@test "listener: SIGTERM stops accepting, a live connection finishes within -T, exit 0, relays reaped" {
	start_server srv 127.0.0.1:0 echo
	start_tcptap --spare 0 -T 10 127.0.0.1:0 "127.0.0.1:$srv_port"

	# A connection that has ended leaves no child (nor zombie) behind.
	run peer connect "127.0.0.1:$tap_port" send=a shut eof
	assert_success
	wait_log "$T/tap.err" '^tcptap: close '
	wait_for 5 '[ -z "$(ps -o pid= --ppid "$tap_pid")" ]'

	# A live connection, half-way through its conversation.
	bg cli "$PEER" -o "$T/cli.data" connect "127.0.0.1:$tap_port" \
	    send=first recv=5 mark="$T/ready" wait="$T/go" send=second shut eof
	wait_for 10 '[ -e "$T/ready" ]'
	relays=$(ps -o pid= --ppid "$tap_pid")
	[ -n "$relays" ] || fail "no relay process under the listener"

	t0=$(date +%s%N)
	kill -TERM "$tap_pid"
	# The listening socket goes away: new clients are refused.
	wait_for 5 '! "$PEER" connect "127.0.0.1:$tap_port" 2>/dev/null'
	kill -0 "$tap_pid" || fail "listener exited before its live connection ended"

	# The live connection may finish its conversation.
	touch "$T/go"
	wait_exit "$cli_pid" 10
	assert_equal "$exit_status" 0
	assert_equal "$(cat "$T/cli.data")" firstsecond
	wait_exit "$tap_pid" 10
	assert_equal "$exit_status" 0
	ms=$(ms_since "$t0")
	[ "$ms" -lt 9000 ] || fail "listener took $ms ms, it should exit when the last connection ends"
	assert_equal "$(log_count "$T/tap.err" "^tcptap: close .*reason=eof .*c2s_bytes=11 s2c_bytes=11 ")" 1
	assert_equal "$(log_count "$T/tap.err" "reason=shutdown")" 0
	for pid in $relays; do
		! kill -0 "$pid" 2>/dev/null || fail "relay $pid outlived the listener"
	done
}

@test "listener: SIGTERM ends connections still open after -T with reason=shutdown, exit 0, relays reaped" {
	start_server srv 127.0.0.1:0 echo
	start_tcptap -T 1 127.0.0.1:0 "127.0.0.1:$srv_port"

	bg cli "$PEER" connect "127.0.0.1:$tap_port" \
	    send=x recv=1 mark="$T/ready" eof
	wait_for 10 '[ -e "$T/ready" ]'
	relays=$(ps -o pid= --ppid "$tap_pid")
	[ -n "$relays" ] || fail "no relay process under the listener"

	t0=$(date +%s%N)
	kill -TERM "$tap_pid"
	wait_exit "$tap_pid" 10
	assert_equal "$exit_status" 0
	ms=$(ms_since "$t0")
	[ "$ms" -ge 900 ] || fail "listener exited after $ms ms, before the 1 s drain deadline"
	[ "$ms" -lt 5000 ] || fail "listener took $ms ms for a 1 s drain deadline"
	wait_log "$T/tap.err" "^tcptap: close sid=$SID_RE reason=shutdown "

	# The client is told: its connection ends (EOF or reset).
	wait_exit "$cli_pid" 5
	assert_equal "$exit_status" 0
	run cat "$T/cli.out"
	assert_output --regexp 'recv=1 end=(eof|reset)$'
	for pid in $relays; do
		! kill -0 "$pid" 2>/dev/null || fail "relay $pid outlived the listener"
	done
}

@test "listener: -c 1 queues the second client in the backlog until the first ends, then serves it" {
	start_server srv 127.0.0.1:0 echo
	start_tcptap -c 1 127.0.0.1:0 "127.0.0.1:$srv_port"

	bg a "$PEER" -o "$T/a.data" connect "127.0.0.1:$tap_port" \
	    send=a recv=1 mark="$T/a.ready" wait="$T/a.go" shut eof
	wait_for 10 '[ -e "$T/a.ready" ]'
	bg b "$PEER" -o "$T/b.data" connect "127.0.0.1:$tap_port" send=b shut eof

	# b waits in the listen backlog: connected by the kernel, not accepted.
	wait_for 10 '[ "$(accept_queue "$tap_port")" = 1 ]'
	# A negative check needs time: give a wrong listener the chance to
	# accept b anyway.
	sleep 0.5
	assert_equal "$(accept_queue "$tap_port")" 1
	assert_equal "$(log_count "$T/tap.err" '^tcptap: open ')" 1
	[ ! -s "$T/b.data" ] || fail "b was served while a was still open"
	kill -0 "$b_pid" || fail "b ended while queued: $(cat "$T/b.out" "$T/b.err")"

	# a ends; b is then accepted and served, not dropped.
	touch "$T/a.go"
	wait_exit "$a_pid" 10
	assert_equal "$exit_status" 0
	assert_equal "$(cat "$T/a.data")" a
	wait_exit "$b_pid" 10
	assert_equal "$exit_status" 0
	assert_equal "$(cat "$T/b.data")" b
	wait_for 10 '[ "$(log_count "$T/tap.err" "^tcptap: close .*reason=eof")" -eq 2 ]'
}

