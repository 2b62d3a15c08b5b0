#!/usr/bin/env bats
# tap-redact: matches starred per direction in a tap stream, across
# records within the window (and not beyond it), lengths unchanged,
# binary-safe; -F fixed strings; -r raw bytes, also inline-style;
# malformed streams.

load test_helper

REDACT=$ROOT/bin/tap-redact

# rec KIND SID UNIX_US DIR LEN, session_tap: tests/fixtures/session.sh.
. "$BATS_TEST_DIRNAME/fixtures/session.sh"

# headers FILE: the record header lines of a tap stream, as tap-hexdump
# shows them (kind, direction, length...).
headers() {
	"$ROOT/bin/tap-hexdump" <"$1" | grep '^# '
}

# payloads FILE [DIR]: the data bytes of DIR (both if empty).
payloads() {
	"$ROOT/bin/tap-cat" ${2:+-d "$2"} <"$1"
}

@test "redact: matches starred in each direction, other bytes and lengths unchanged" {
	{ rec data s1 1 c2s 27; printf 'POST /?password=hunter2&a=1'
	  rec data s1 2 s2c 16; printf 'token=abc; ok=1\n'
	  rec shut s1 3 c2s 0
	  rec close s1 4 - 0; } >"$T/in.tap"
	"$REDACT" -e 'password=[^&]*' -e 'token=[a-z]*' <"$T/in.tap" >"$T/out.tap"
	assert_equal "$(payloads "$T/out.tap" c2s)" 'POST /?****************&a=1'
	assert_equal "$(payloads "$T/out.tap" s2c)" '*********; ok=1'
	assert_equal "$(headers "$T/out.tap")" "$(headers "$T/in.tap")"
	assert_equal "$(stat -c %s "$T/out.tap")" "$(stat -c %s "$T/in.tap")"
}

@test "redact: a match split across two records of a direction is found, records between of the other direction kept in order" {
	{ rec data s1 1 c2s 13; printf 'user=a&passwo'
	  rec data s1 2 s2c 5; printf 'HELLO'
	  rec data s1 3 c2s 14; printf 'rd=hunter2&x=1'
	  rec close s1 4 - 0; } >"$T/in.tap"
	"$REDACT" -e 'password=[^&]*' <"$T/in.tap" >"$T/out.tap"
	assert_equal "$(payloads "$T/out.tap")" 'user=a&******HELLO**********&x=1'
	assert_equal "$(headers "$T/out.tap")" "$(headers "$T/in.tap")"
}

@test "redact: a match longer than the window (-w) is not found, as documented" {
	{ rec data s1 1 c2s 9; printf SECRETSEC
	  rec data s1 2 c2s 9; printf RETSECRET; } >"$T/in.tap"
	"$REDACT" -w 8 -F SECRETSECRETSECRET <"$T/in.tap" >"$T/small.tap"
	assert_equal "$(payloads "$T/small.tap")" SECRETSECRETSECRET
	# With the default window (4096) the same match is found.
	"$REDACT" -F SECRETSECRETSECRET <"$T/in.tap" >"$T/big.tap"
	assert_equal "$(payloads "$T/big.tap")" '******************'
}

@test "redact: directions and sessions are searched apart" {
	{ rec data a 1 c2s 4; printf pass
	  rec data a 2 s2c 4; printf word
	  rec data b 3 c2s 4; printf word
	  rec data a 4 c2s 4; printf word; } >"$T/in.tap"
	"$REDACT" -F password <"$T/in.tap" >"$T/out.tap"
	assert_equal "$(payloads "$T/out.tap")" '****wordword****'
	assert_equal "$("$ROOT/bin/tap-cat" -s a -d c2s <"$T/out.tap")" '********'
}

@test "redact: NUL bytes in a payload are bytes: matches around and after them found" {
	{ rec data s1 1 c2s 27
	  printf 'user\0bob\0password=x1\0key=k\0'; } >"$T/in.tap"
	"$REDACT" -e 'password=[a-z0-9]*' -F bob -e 'key=.' <"$T/in.tap" >"$T/out.tap"
	payloads "$T/out.tap" >"$T/got"
	printf 'user\0***\0***********\0*****\0' >"$T/expect"
	assert_same_file "$T/expect" "$T/got"
}

@test "redact -F: fixed strings, regex characters taken literally" {
	{ rec data s1 1 c2s 15; printf 'a.b axb a.b [x]'; } >"$T/in.tap"
	"$REDACT" -F a.b -F '[x]' <"$T/in.tap" >"$T/out.tap"
	assert_equal "$(payloads "$T/out.tap")" '*** axb *** ***'
}

@test "redact: records of every kind pass through, byte-identical when nothing matches" {
	session_tap >"$T/in.tap"
	"$REDACT" -e 'no such thing' <"$T/in.tap" >"$T/out.tap"
	assert_same_file "$T/in.tap" "$T/out.tap"
}

@test "redact -r: raw bytes, stdin to stdout, a match split across writes" {
	run bash -c "{ printf 'GET /?passw'; sleep 0.3; printf 'ord=hunter2&x=1 and secret\n'; } |
	    '$REDACT' -r -t 1000 -e 'password=[^&]*' -F secret"
	assert_success
	assert_output 'GET /?****************&x=1 and ******'
}

@test "redact -r inline-style: an echo service that stars a secret, no stall on a request" {
	start_tcptap 127.0.0.1:0 -- "$REDACT" -r -F secret
	# The reply must come while the client still holds the connection open.
	run peer -o "$T/got" connect "127.0.0.1:$tap_port" \
	    send='my secret is out' recv=16
	assert_success
	assert_equal "$(cat "$T/got")" 'my ****** is out'
}

@test "redact as a tap: the tap sees stars, the wire is unchanged" {
	start_server1 srv 127.0.0.1:0 recv=25 send=ok shut eof
	start_tcptap -t "'$REDACT' -e 'password=[^&]*' >'$T/tap.out'" \
	    127.0.0.1:0 "127.0.0.1:$srv_port"
	run peer -o "$T/got" connect "127.0.0.1:$tap_port" \
	    send='user=x&password=hunter2&z' shut eof
	assert_success
	wait_exit "$srv_pid"
	assert_equal "$(cat "$T/srv.data")" 'user=x&password=hunter2&z'
	wait_for 10 "grep -q '^tap1 close ' '$T/tap.out'"
	assert_equal "$(payloads "$T/tap.out" c2s)" 'user=x&****************&z'
	assert_equal "$(payloads "$T/tap.out" s2c)" ok
}

@test "redact: a malformed stream: record N named, exit 1, the records before it written" {
	{ rec data s1 1 c2s 6; printf secret
	  printf '%-63s\n' 'not a header line'; } >"$T/in.tap"
	run --separate-stderr bash -c "'$REDACT' -F secret <'$T/in.tap' >'$T/out.tap'"
	assert_equal "$status" 1
	assert_equal "$stderr" 'tap-redact: record 2: bad header (not tap1)'
	assert_equal "$(payloads "$T/out.tap")" '******'
}

@test "redact: a data record with DIR - is bad data (exit 1)" {
	{ rec data s1 1 - 3; printf abc; } >"$T/in.tap"
	run --separate-stderr bash -c "'$REDACT' -F b <'$T/in.tap' >/dev/null"
	assert_equal "$status" 1
	assert_equal "$stderr" 'tap-redact: record 1: data record with DIR -'
}

@test "redact: a bad regex or no pattern is a usage error (exit 2)" {
	run --separate-stderr "$REDACT" -e 'a(' </dev/null
	assert_equal "$status" 2
	[[ "$stderr" == "tap-redact: -e a(: "* ]] || fail "$stderr"
	run --separate-stderr "$REDACT" </dev/null
	assert_equal "$status" 2
	[[ "$stderr" == *"usage: tap-redact "* ]] || fail "$stderr"
}
