#!/usr/bin/env bats
# SIGUSR1 switches taps off, SIGUSR2 on, for live and new connections.

load test_helper

@test "capture: SIGUSR1 turns a live connection's taps off, SIGUSR2 on; the gap is counted" {
	start_server srv 127.0.0.1:0 echo
	start_tcptap -v -t "cat > '$T/stream'" 127.0.0.1:0 "127.0.0.1:$srv_port"
	bg client "$PEER" connect "127.0.0.1:$tap_port" send=aaaa recv=4 \
	    wait="$T/go1" send=bbbbbb recv=10 mark="$T/m1" wait="$T/go2" \
	    send=cc recv=12 shut eof
	wait_for 10 "grep -qa aaaa '$T/stream'"

	kill -USR1 "$tap_pid"
	wait_log "$T/tap.err" '^tcptap: capture off sid='
	touch "$T/go1"
	wait_for 10 "[ -e '$T/m1' ]"
	kill -USR2 "$tap_pid"
	wait_log "$T/tap.err" '^tcptap: capture on sid='
	touch "$T/go2"
	wait_exit "$client_pid"
	assert_equal "$exit_status" 0
	stop_tcptap

	run --separate-stderr "$ROOT/bin/tap-cat" -d c2s <"$T/stream"
	assert_output aaaacc
	run bash -c "'$ROOT/bin/tap-json' --no-data < '$T/stream' | jq -c 'select(.kind == \"gap\") | [.dir, .bytes]'"
	assert_output '["c2s",6]
["s2c",6]'
}

@test "capture: connections that start while capture is off get open, gaps, close" {
	start_server srv 127.0.0.1:0 echo
	start_tcptap -t "cat > '$T/stream'" 127.0.0.1:0 "127.0.0.1:$srv_port"
	kill -USR1 "$tap_pid"
	wait_log "$T/tap.err" '^tcptap: capture off conns=0'
	run peer connect "127.0.0.1:$tap_port" send=hello recv=5 shut eof
	assert_success
	stop_tcptap
	run bash -c "'$ROOT/bin/tap-json' --no-data < '$T/stream' | jq -r '.kind' | sort | uniq -c | awk '{ print \$2, \$1 }'"
	assert_line 'open 1'
	assert_line 'close 1'
	assert_line 'shut 2'
	refute_line --partial 'data'
	run bash -c "'$ROOT/bin/tap-json' --no-data < '$T/stream' | jq -s '[.[] | select(.kind == \"gap\") | .bytes] | add'"
	assert_output 10
}

@test "capture: the signals reach relays, never taps or an exec'd program" {
	# cat dies of SIGUSR1 if it ever gets one.
	start_tcptap 127.0.0.1:0 -- cat
	bg client "$PEER" connect "127.0.0.1:$tap_port" send=hi recv=2 wait="$T/go" send=x recv=3 shut eof
	wait_log "$T/tap.err" '^tcptap: open '
	prog=$(ps -o pid= --ppid "$tap_pid" | tr -d ' ')
	kill -USR1 "$tap_pid"
	wait_log "$T/tap.err" '^tcptap: capture off'
	kill -0 "$prog"
	touch "$T/go"
	wait_exit "$client_pid"
	assert_equal "$exit_status" 0
}
