#!/usr/bin/env bats
# Every program: -h and --help print the usage on stdout and exit 0; an
# unknown option prints it on stderr and exits 2.

load test_helper

programs() {
	ls "$ROOT/bin"
}

@test "usage: -h and --help print the usage on stdout, exit 0, for every program" {
	for p in $(programs); do
		for flag in -h --help; do
			run --separate-stderr "$ROOT/bin/$p" "$flag"
			[ "$status" -eq 0 ] || fail "$p $flag exited $status"
			[[ "$output" == "usage: $p "* ]] ||
			    fail "$p $flag printed: $output"
			[ -z "$stderr" ] || fail "$p $flag wrote on stderr: $stderr"
		done
	done
}

@test "usage: an unknown option exits 2 with the usage on stderr, for every program" {
	for p in $(programs); do
		run --separate-stderr "$ROOT/bin/$p" --no-such-option
		[ "$status" -eq 2 ] || fail "$p --no-such-option exited $status"
		[ -z "$output" ] || fail "$p wrote on stdout: $output"
		[[ "$stderr" == *"usage: $p "* ]] ||
		    fail "$p printed no usage on stderr: $stderr"
	done
}
