#!/usr/bin/env bats
# tap-cat: raw payload out of a tap stream, byte-exact, by direction,
# file prefix and session; splice and read/write paths; bad streams.

bats_require_minimum_version 1.5.0
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

setup() {
	ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
	CAT=$ROOT/bin/tap-cat
	GEN=$ROOT/tests/bin/tt-tapgen
	T=$BATS_TEST_TMPDIR
	[ -x "$CAT" ] || fail "$CAT is not built (run make)"
	[ -x "$GEN" ] || fail "$GEN is not built (run make)"
	. "$ROOT/tests/fixtures/session.sh"
}

# two_sessions: random payloads for sessions a and b cut into many
# records of 1..70000 bytes, with unknown-kind records mixed in;
# $T/all is every data payload in stream order.
two_sessions() {
	head -c 3000000 /dev/urandom >"$T/a.c2s"
	head -c 2000001 /dev/urandom >"$T/a.s2c"
	head -c 100003 /dev/urandom >"$T/b.c2s"
	head -c 77 /dev/urandom >"$T/b.s2c"
	"$GEN" -u -m 70000 -S "$RANDOM" -e "$T/all" \
	    a "$T/a.c2s" "$T/a.s2c" b "$T/b.c2s" "$T/b.s2c" >"$T/s.tap"
	[ "$(grep -ao 'tap1 data ' "$T/s.tap" | wc -l)" -gt 100 ] ||
	    fail "the generator made too few records"
}

# same A B: byte-identical files.
same() {
	cmp "$1" "$2" || fail "$1 ($(stat -c %s "$1") bytes) differs from $2 ($(stat -c %s "$2") bytes)"
}

@test "-d c2s -s a: one session's client bytes, from a pipe (splice)" {
	two_sessions
	cat "$T/s.tap" | "$CAT" -d c2s -s a >"$T/out"
	same "$T/a.c2s" "$T/out"
}

@test "-d s2c -s a: one session's server bytes, from a file (read/write)" {
	two_sessions
	"$CAT" -d s2c -s a <"$T/s.tap" >"$T/out"
	same "$T/a.s2c" "$T/out"
}

@test "default: both directions of all sessions in stream order" {
	two_sessions
	cat "$T/s.tap" | "$CAT" >"$T/out"
	same "$T/all" "$T/out"
}

@test "-o PREFIX: each direction to its own file" {
	two_sessions
	cat "$T/s.tap" | "$CAT" -s a -o "$T/got"
	same "$T/a.c2s" "$T/got.c2s"
	same "$T/a.s2c" "$T/got.s2c"
}

@test "-o PREFIX -d s2c: only that direction's file" {
	two_sessions
	"$CAT" -s b -d s2c -o "$T/got" <"$T/s.tap"
	same "$T/b.s2c" "$T/got.s2c"
	[ ! -e "$T/got.c2s" ] || fail "-d s2c wrote $T/got.c2s"
}

@test "-s SID: only that session, both directions" {
	{ rec data a 1 c2s 3; printf AAA; rec data b 2 c2s 3; printf BBB
	  rec data a 3 s2c 2; printf aa; rec data b 4 s2c 2; printf bb; } >"$T/s.tap"
	run "$CAT" -s b <"$T/s.tap"
	assert_success
	assert_output 'BBBbb'
}

@test "kinds other than data carry no bytes to the output" {
	session_tap >"$T/s.tap"
	run --separate-stderr "$CAT" <"$T/s.tap"
	assert_success
	assert_output "hello$(printf 'world\000\001 0123456789\n\377\033[31mred\033[0m----\r\n' | tr -d '\000')"
	[ "$(cat "$T/s.tap" | "$CAT" | wc -c)" -eq 43 ] || fail "not 5 + 38 bytes"
}

@test "a gap is reported on stderr" {
	session_tap >"$T/s.tap"
	run --separate-stderr "$CAT" -d c2s <"$T/s.tap"
	assert_success
	assert_output 'hello'
	assert_equal "$stderr" 'tap-cat: record 4: gap in s2c (session s1)'
}

@test "splice moves the payload when stdin is a pipe; only headers are read" {
	command -v strace >/dev/null || skip "strace not installed"
	# LeakSanitizer cannot run under ptrace: for SANITIZE= builds.
	head -c 2000000 /dev/urandom >"$T/c2s"
	"$GEN" -m 70000 a "$T/c2s" /dev/null >"$T/s.tap"
	cat "$T/s.tap" | env ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace -o "$T/trace" -e trace=splice,read "$CAT" -d c2s >"$T/out"
	same "$T/c2s" "$T/out"
	# Every payload byte went by splice(2) ...
	run awk '/^splice\(0,/ { n += $NF } END { print n + 0 }' "$T/trace"
	assert_output 2000000
	# ... and read(2) took only headers and the short open/close payloads.
	run awk '/^read\(0,/ && $NF > 100 { print }' "$T/trace"
	assert_output ''
}

@test "an O_APPEND output (splice says EINVAL) falls back to read/write" {
	two_sessions
	printf 'old\n' >"$T/out"
	cat "$T/s.tap" | "$CAT" -d s2c -s a >>"$T/out"
	{ printf 'old\n'; cat "$T/a.s2c"; } >"$T/want"
	same "$T/want" "$T/out"
}

@test "an empty stream gives empty output" {
	run "$CAT" </dev/null
	assert_success
	assert_output ''
}

@test "malformed: truncated payload, exit 1, earlier bytes written" {
	{ rec data s1 1 c2s 5; printf hello; rec data s1 2 c2s 10; printf 12345; } >"$T/s.tap"
	run --separate-stderr sh -c "cat '$T/s.tap' | '$CAT' >'$T/out'"
	assert_failure 1
	assert_equal "$stderr" 'tap-cat: record 2: truncated payload, 5 bytes missing'
	assert_equal "$(cat "$T/out")" 'hello12345'
}

@test "malformed: bad header, exit 1, names the record" {
	{ rec data s1 1 c2s 5; printf hello; printf '%-63s\n' 'tap1 data s1 1 sideways 0'; } >"$T/s.tap"
	run --separate-stderr "$CAT" <"$T/s.tap"
	assert_failure 1
	assert_output 'hello'
	assert_equal "$stderr" 'tap-cat: record 2: bad header (DIR)'
}

@test "malformed: a data record without a direction" {
	{ rec data s1 1 - 1; printf x; } >"$T/s.tap"
	run --separate-stderr "$CAT" <"$T/s.tap"
	assert_failure 1
	assert_equal "$stderr" 'tap-cat: record 1: data record with DIR -'
}

@test "usage errors exit 2 with the usage" {
	run --separate-stderr "$CAT" -d both
	assert_failure 2
	assert_equal "${stderr_lines[0]}" 'tap-cat: -d both: not c2s or s2c'
	assert_equal "${stderr_lines[1]}" 'usage: tap-cat [-d c2s|s2c] [-o prefix] [-s sid]'
	run --separate-stderr "$CAT" -s 'no/such'
	assert_failure 2
	run --separate-stderr "$CAT" extra
	assert_failure 2
}

@test "an -o file that cannot be opened is a system error" {
	run --separate-stderr "$CAT" -o "$T/no/such/dir/x" </dev/null
	assert_failure 3
	assert_equal "$stderr" "tap-cat: $T/no/such/dir/x.c2s: No such file or directory"
}
