#!/usr/bin/env bats
# Access control and privileges: -A/-D, -C, -u, --no-root-taps, and
# backing off when the user may not fork.

load test_helper

TESTUSER=tcptap-test

setup_file() {
	id -u "$TESTUSER" >/dev/null 2>&1 ||
	    useradd -r -M -s /usr/sbin/nologin "$TESTUSER"
}

# shared_dir: a directory the test user can write in (the test's own
# temp dir may be closed to it); removed by the test.
shared_dir() {
	U=$(mktemp -d /tmp/tcptap-access.XXXXXX)
	chmod 1777 "$U"
}

# denied ADDR: a client connecting to ADDR is reset at once and the
# target never sees a connection.
assert_denied() {
	run peer connect "$1" send=hello eof
	assert_output --regexp 'recv=0 end=(reset|eof)$'
	wait_log "$T/tap.err" '^tcptap: deny '
	assert_equal "$(log_count "$T/tap.err" '^tcptap: open ')" 0
}

@test "access: -D 127.0.0.1 denies an IPv4 client before the target is contacted" {
	start_server srv 127.0.0.1:0 echo
	start_tcptap -D 127.0.0.1 127.0.0.1:0 "127.0.0.1:$srv_port"
	assert_denied "127.0.0.1:$tap_port"
	run grep -E '^tcptap: deny client=127\.0\.0\.1:[0-9]+ rule=deny:127\.0\.0\.1$' "$T/tap.err"
	assert_success
}

@test "access: -D ::1/128 denies an IPv6 client" {
	start_server srv '[::1]:0' echo
	start_tcptap -D ::1/128 '[::1]:0' "[::1]:$srv_port"
	assert_denied "[::1]:$tap_port"
	wait_log "$T/tap.err" '^tcptap: deny client=\[::1\]:[0-9]+ rule=deny:::1/128$'
}

@test "access: with an allow list, a client it does not name is denied by default" {
	start_server srv 127.0.0.1:0 echo
	start_tcptap -A 10.0.0.0/8 -A ::1 127.0.0.1:0 "127.0.0.1:$srv_port"
	assert_denied "127.0.0.1:$tap_port"
	wait_log "$T/tap.err" 'rule=default:deny$'
}

@test "access: an allowed IPv6 client is relayed, and an IPv4 rule does not match it" {
	start_server srv '[::1]:0' echo
	start_tcptap -D 127.0.0.0/8 -A ::1/128 '[::1]:0' "[::1]:$srv_port"
	run peer connect "[::1]:$tap_port" send=hello recv=5 shut eof
	assert_success
	assert_output --regexp 'recv=5 end=eof$'
}

@test "access: the first matching rule wins, in command-line order" {
	start_server srv 127.0.0.1:0 echo
	start_tcptap -A 127.0.0.1 -D 127.0.0.0/8 127.0.0.1:0 "127.0.0.1:$srv_port"
	run peer connect "127.0.0.1:$tap_port" send=hello recv=5 shut eof
	assert_output --regexp 'recv=5 end=eof$'
	stop_tcptap

	start_tcptap -D 127.0.0.0/8 -A 127.0.0.1 127.0.0.1:0 "127.0.0.1:$srv_port"
	assert_denied "127.0.0.1:$tap_port"
}

@test "access: TCPTAP_RULE names the rule that let the client in" {
	start_tcptap -A 127.0.0.0/8 127.0.0.1:0 -- sh -c 'echo "$TCPTAP_RULE"'
	run peer -o "$T/rule" connect "127.0.0.1:$tap_port" eof
	assert_success
	assert_equal "$(cat "$T/rule")" 'allow:127.0.0.0/8'
}

@test "access: TCPTAP_RULE is default:allow without rules, and taps see it" {
	start_server srv 127.0.0.1:0 echo
	start_tcptap -t "echo \"\$TCPTAP_RULE\" > '$T/rule'; cat >/dev/null" \
	    127.0.0.1:0 "127.0.0.1:$srv_port"
	run peer connect "127.0.0.1:$tap_port" send=x recv=1 shut eof
	stop_tcptap
	assert_equal "$(cat "$T/rule")" 'default:allow'
}

@test "access: -C 1 rejects a second connection from the same client, then serves it again" {
	start_server srv 127.0.0.1:0 echo
	start_tcptap -C 1 127.0.0.1:0 "127.0.0.1:$srv_port"
	bg first "$PEER" connect "127.0.0.1:$tap_port" wait="$T/go" send=a recv=1 shut eof
	wait_log "$T/tap.err" '^tcptap: open '

	run peer connect "127.0.0.1:$tap_port" send=hello eof
	assert_output --regexp 'recv=0 end=(reset|eof)$'
	wait_log "$T/tap.err" '^tcptap: limit client=127\.0\.0\.1:[0-9]+ conns=1 max=1$'

	touch "$T/go"
	wait_exit "$first_pid"
	assert_equal "$exit_status" 0
	wait_log "$T/tap.err" '^tcptap: close '
	run peer connect "127.0.0.1:$tap_port" send=hello recv=5 shut eof
	assert_output --regexp 'recv=5 end=eof$'
}

@test "access: -C counts IPv6 clients per /64" {
	start_server srv '[::1]:0' echo
	start_tcptap -C 1 '[::1]:0' "[::1]:$srv_port"
	bg first "$PEER" connect "[::1]:$tap_port" wait="$T/go" eof
	wait_log "$T/tap.err" '^tcptap: open '
	run peer connect "[::1]:$tap_port" send=hello eof
	wait_log "$T/tap.err" '^tcptap: limit client=\[::1\]:'
	touch "$T/go"
}

@test "access: a bad range is a usage error" {
	run "$TCPTAP" -A 10.0.0.0/33 127.0.0.1:0 127.0.0.1:1
	assert_equal "$status" 2
	assert_output --partial '-A 10.0.0.0/33: not an address range'
	run "$TCPTAP" -D nonsense 127.0.0.1:0 127.0.0.1:1
	assert_equal "$status" 2
}

@test "privileges: -u drops root; the listener, relays and taps run as that user" {
	shared_dir
	start_server srv 127.0.0.1:0 echo
	start_tcptap -u "$TESTUSER" -t "id -un > '$U/tapuser'; cat >/dev/null" \
	    127.0.0.1:0 "127.0.0.1:$srv_port"
	assert_equal "$(ps -o user= -p "$tap_pid")" "$TESTUSER"
	bg client "$PEER" connect "127.0.0.1:$tap_port" wait="$T/go" send=a recv=1 shut eof
	wait_log "$T/tap.err" '^tcptap: open '
	assert_equal "$(ps -o user= --ppid "$tap_pid" | sort -u)" "$TESTUSER"
	touch "$T/go"
	wait_exit "$client_pid"
	assert_equal "$exit_status" 0
	wait_file "$U/tapuser"
	assert_equal "$(cat "$U/tapuser")" "$TESTUSER"
	rm -rf "$U"
}

@test "privileges: -u with an unknown user exits 3 before serving" {
	run "$TCPTAP" -u no-such-user-here 127.0.0.1:0 127.0.0.1:1
	assert_equal "$status" 3
	assert_output --partial 'no such user'
}

@test "privileges: --no-root-taps refuses taps as root, and allows them with -u" {
	run "$TCPTAP" --no-root-taps -t cat 127.0.0.1:0 127.0.0.1:1
	assert_equal "$status" 2
	assert_output --partial 'taps would run as root'

	start_tcptap --no-root-taps -u "$TESTUSER" -t 'cat >/dev/null' \
	    127.0.0.1:0 127.0.0.1:1
	kill -0 "$tap_pid"
}

@test "privileges: out of processes (prlimit --nproc), the listener backs off once and recovers" {
	shared_dir
	start_server srv 127.0.0.1:0 echo
	# The test user may run 2 processes: the listener and one relay.
	bg tap runuser -u "$TESTUSER" -- prlimit --nproc=2 \
	    "$TCPTAP" -P "$U/port" 127.0.0.1:0 "127.0.0.1:$srv_port"
	wait_file "$U/port"
	tap_port=$(cat "$U/port")
	rm -rf "$U"
	bg first "$PEER" connect "127.0.0.1:$tap_port" wait="$T/go" send=a recv=1 shut eof
	wait_log "$T/tap.err" '^tcptap: open '

	for i in 1 2 3; do
		run peer connect "127.0.0.1:$tap_port" send=hello eof
		assert_output --regexp 'recv=0 end=(reset|eof)$'
	done
	wait_log "$T/tap.err" '^tcptap: backoff fork: Resource temporarily unavailable'
	assert_equal "$(log_count "$T/tap.err" '^tcptap: backoff fork')" 1

	touch "$T/go"
	wait_exit "$first_pid"
	wait_for 15 "$PEER connect 127.0.0.1:$tap_port send=hello recv=5 shut eof 2>/dev/null | grep -q 'recv=5 end=eof'"
	wait_log "$T/tap.err" '^tcptap: backoff over'
}
