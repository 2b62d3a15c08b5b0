#!/usr/bin/env bats
# The README's example filters, run as taps on a real relay.

load test_helper

@test "filters: the Python example counts payload bytes per direction per session" {
	start_server srv 127.0.0.1:0 recv=10 send=PONG shut eof
	start_tcptap -t "python3 '$ROOT/examples/filters/bytes-per-dir.py' > '$T/counts'" \
	    127.0.0.1:0 "127.0.0.1:$srv_port"

	run peer connect "127.0.0.1:$tap_port" 'send=PING hello' eof shut
	assert_success
	stop_tcptap
	run cat "$T/counts"
	assert_output --regexp "^$SID_RE c2s=10 s2c=4\$"
}

@test "filters: the shell example prints the c2s lines that start with a word" {
	printf 'SET a 1\nGET a\nSET b 2\n' >"$T/cmds"
	start_server srv 127.0.0.1:0 recv=22 send=OK shut eof
	start_tcptap -t "bash '$ROOT/examples/filters/c2s-lines.sh' SET > '$T/sets'" \
	    127.0.0.1:0 "127.0.0.1:$srv_port"

	run peer connect "127.0.0.1:$tap_port" "file=$T/cmds" eof shut
	assert_success
	stop_tcptap
	run cat "$T/sets"
	assert_output 'SET a 1
SET b 2'
}

@test "examples: record-replay.sh records and replays framed echo and Redis sessions" {
	run timeout 120 sh "$ROOT/examples/record-replay.sh"
	assert_success
	assert_equal "$(grep -c 'replayed as the server: ok' <<<"$output")" 4
	assert_equal "$(grep -c 'replayed as the client: ok' <<<"$output")" 4
	assert_output --partial 'with Redis gone: ok'
}
