#!/usr/bin/env bats
# The command line: usage errors, --help, -P, -q, start-up failures.

load test_helper

# assert_usage_error ARGS...: tcptap ARGS exits 2 with usage on stderr.
assert_usage_error() {
	run --separate-stderr timeout 10 "$TCPTAP" "$@"
	[ "$status" -eq 2 ] ||
	    fail "tcptap $* exited $status, want 2; stderr: $stderr"
	[[ $stderr == *"usage: tcptap"* ]] ||
	    fail "tcptap $*: no usage on stderr: $stderr"
	[ -z "$output" ] || fail "tcptap $*: wrote to stdout: $output"
}

@test "cli: --help prints the usage and exits 0" {
	run timeout 10 "$TCPTAP" --help
	assert_success
	assert_output --partial "usage: tcptap"
	assert_output --partial "--inetd"
}

@test "cli: no arguments is a usage error (exit 2)" {
	assert_usage_error
}

@test "cli: LISTEN without TARGET is a usage error (exit 2)" {
	assert_usage_error 127.0.0.1:0
}

@test "cli: an extra operand is a usage error (exit 2)" {
	assert_usage_error 127.0.0.1:0 127.0.0.1:1 127.0.0.1:2
}

@test "cli: an unknown option is a usage error (exit 2)" {
	assert_usage_error -Z 127.0.0.1:0 127.0.0.1:1
}

@test "cli: a non-numeric -c is a usage error (exit 2)" {
	assert_usage_error -c lots 127.0.0.1:0 127.0.0.1:1
}

@test "cli: a port out of range is a usage error (exit 2)" {
	assert_usage_error 127.0.0.1:70000 127.0.0.1:1
}

@test "cli: LISTEN without a port is a usage error (exit 2)" {
	assert_usage_error 127.0.0.1 127.0.0.1:1
}

@test "cli: '--' without a program is a usage error (exit 2)" {
	assert_usage_error 127.0.0.1:0 --
}

@test "cli: --inetd with LISTEN and TARGET is a usage error (exit 2)" {
	assert_usage_error --inetd 127.0.0.1:0 127.0.0.1:1
}

@test "cli: an unresolvable TARGET exits 3 and names it" {
	run --separate-stderr timeout 30 "$TCPTAP" -P "$T/port" 127.0.0.1:0 nosuch.invalid:80
	assert_equal "$status" 3
	[[ $stderr == *"nosuch.invalid:80"* ]] ||
	    fail "stderr does not name the target: $stderr"
}

@test "cli: --inetd with an unresolvable TARGET exits 3 and names it" {
	run --separate-stderr timeout 30 "$TCPTAP" --inetd nosuch.invalid:80 </dev/null
	assert_equal "$status" 3
	[[ $stderr == *"nosuch.invalid:80"* ]] ||
	    fail "stderr does not name the target: $stderr"
}

@test "cli: a LISTEN address in use exits 3" {
	start_server srv 127.0.0.1:0 echo
	run --separate-stderr timeout 10 "$TCPTAP" "127.0.0.1:$srv_port" 127.0.0.1:1
	assert_equal "$status" 3
	[ -n "$stderr" ] || fail "no message on stderr"
}

@test "cli: -P writes the bound port and a newline once listening" {
	start_server srv 127.0.0.1:0 echo
	start_tcptap 127.0.0.1:0 "127.0.0.1:$srv_port"
	printf '%s\n' "$tap_port" | cmp - "$T/tap.port" ||
	    fail "port file is not one number and a newline: $(od -c "$T/tap.port")"
	[ "$tap_port" -gt 0 ] && [ "$tap_port" -lt 65536 ]
	run grep -E "^tcptap: listen addr=127\.0\.0\.1:$tap_port( |$)" "$T/tap.err"
	assert_success
	run peer -o "$T/got" connect "127.0.0.1:$tap_port" send=hello shut eof
	assert_success
	assert_equal "$(cat "$T/got")" hello
}

@test "cli: -q logs no open/close lines" {
	start_server srv 127.0.0.1:0 echo
	start_tcptap -q 127.0.0.1:0 "127.0.0.1:$srv_port"
	run peer connect "127.0.0.1:$tap_port" send=hello shut eof
	assert_success
	stop_tcptap
	assert_equal "$exit_status" 0
	run grep -E '^tcptap: (open|close) ' "$T/tap.err"
	assert_failure
}
