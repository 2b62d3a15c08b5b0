#!/usr/bin/env bats
# tap-hexdump: -r against util-linux hexdump, the per-record view, -n,
# color, malformed streams.

bats_require_minimum_version 1.5.0
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

setup() {
	ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
	HD=$ROOT/bin/tap-hexdump
	T=$BATS_TEST_TMPDIR
	[ -x "$HD" ] || fail "$HD is not built (run make)"
	. "$ROOT/tests/fixtures/session.sh"
}

# raw_same FILE: -r equals hexdump -C and -r -v equals hexdump -Cv,
# byte for byte, with stdin a file and a pipe.
raw_same() {
	hexdump -C <"$1" >"$T/want"
	"$HD" -r <"$1" >"$T/got" || fail "tap-hexdump -r failed"
	cmp "$T/want" "$T/got" || fail "-r differs from hexdump -C: $(diff "$T/want" "$T/got" | head)"
	cat "$1" | "$HD" -r >"$T/got" || fail "tap-hexdump -r (pipe) failed"
	cmp "$T/want" "$T/got" || fail "-r from a pipe differs from hexdump -C"
	hexdump -Cv <"$1" >"$T/want"
	"$HD" -r -v <"$1" >"$T/got" || fail "tap-hexdump -r -v failed"
	cmp "$T/want" "$T/got" || fail "-r -v differs from hexdump -Cv: $(diff "$T/want" "$T/got" | head)"
}

random_same() {
	head -c "$1" /dev/urandom >"$T/in"
	raw_same "$T/in"
}

@test "-r: empty input prints nothing, like hexdump -C" {
	: >"$T/in"
	run "$HD" -r <"$T/in"
	assert_success
	assert_output ''
	raw_same "$T/in"
}

@test "-r: 1 random byte" { random_same 1; }
@test "-r: 15 random bytes" { random_same 15; }
@test "-r: 16 random bytes" { random_same 16; }
@test "-r: 17 random bytes" { random_same 17; }
@test "-r: 4095 random bytes" { random_same 4095; }
@test "-r: 65537 random bytes" { random_same 65537; }
@test "-r: 3 MiB random bytes (several input chunks)" { random_same 3M; }

@test "-r: zeros fold into one '*' line" {
	head -c 4096 /dev/zero >"$T/in"
	raw_same "$T/in"
	run "$HD" -r <"$T/in"
	assert_equal "${#lines[@]}" 3
	assert_line --index 1 '*'
	assert_line --index 2 '00001000'
}

@test "-r: a repeated 16-byte pattern folds" {
	yes abcdefghijklmno | head -c 8000 >"$T/in"
	raw_same "$T/in"
}

@test "-r: repeats ending in the middle of a line" {
	head -c 167 /dev/zero >"$T/in"
	raw_same "$T/in"
}

@test "-r: repeats at the end after random bytes" {
	{ head -c 40 /dev/urandom; head -c 96 /dev/zero; } >"$T/in"
	raw_same "$T/in"
}

@test "-r: exactly two equal rows, then a different one, then repeats" {
	{ head -c 32 /dev/zero; printf x; head -c 63 /dev/zero; yes 0123456789abcde | head -c 64; } >"$T/in"
	raw_same "$T/in"
}

@test "-r: a repeat run across the 1 MiB input chunk border" {
	{ head -c 1048570 /dev/zero; printf 'abcdefghijklmnopqrstuvwxyz'; head -c 1048600 /dev/zero; } >"$T/in"
	raw_same "$T/in"
}

@test "per record: header lines and dumps for open, data, gap, shut, close, unknown" {
	session_tap >"$T/s.tap"
	run --separate-stderr "$HD" <"$T/s.tap"
	assert_success
	assert_output "$(cat "$ROOT/tests/fixtures/session.hexdump")"
}

@test "per record: dump lines are hexdump -Cv of the payload, offsets from each record" {
	head -c 4095 /dev/urandom >"$T/p1"
	head -c 100 /dev/urandom >"$T/p2"
	{ rec data s1 1 c2s 4095; cat "$T/p1"; rec data s1 2 s2c 100; cat "$T/p2"; } >"$T/s.tap"
	{ echo '# s1 +0.000000 data c2s 4095'; hexdump -Cv "$T/p1" | sed '$d'
	  echo '# s1 +0.000001 data s2c 100'; hexdump -Cv "$T/p2" | sed '$d'; } >"$T/want"
	"$HD" <"$T/s.tap" >"$T/got"
	cmp "$T/want" "$T/got" || fail "$(diff "$T/want" "$T/got" | head)"
}

@test "per record: a long generated stream dumps back to its bytes" {
	[ -x "$ROOT/tests/bin/tt-tapgen" ] || fail "tt-tapgen is not built"
	head -c 700000 /dev/urandom >"$T/c"
	head -c 500000 /dev/urandom >"$T/s"
	# Many records of 1..3000 bytes: headers cross the reader's buffer.
	"$ROOT/tests/bin/tt-tapgen" -m 3000 -e "$T/all" a "$T/c" "$T/s" >"$T/s.tap"
	"$HD" <"$T/s.tap" >"$T/dump"
	# Hex columns of every dump line, back to bytes.
	grep -v '^#' "$T/dump" | cut -c11-58 | tr -d ' \n' | xxd -r -p >"$T/back"
	cmp "$T/all" "$T/back" || fail "the dump does not give the payload back"
	run grep -c '^# a .* data ' "$T/dump"
	[ "$output" -gt 500 ] || fail "only $output data records"
}

@test "per record: no '*' folding by default, folding with -s" {
	{ rec data s1 1 c2s 64; head -c 64 /dev/zero; } >"$T/s.tap"
	run "$HD" <"$T/s.tap"
	assert_success
	refute_line '*'
	assert_equal "${#lines[@]}" 5
	run "$HD" -s <"$T/s.tap"
	assert_success
	assert_line --index 2 '*'
	assert_equal "${#lines[@]}" 3
}

@test "per record: time is since the session's open, per session" {
	{ rec open a 1000000 - 0; rec open b 5000000 - 0
	  rec data a 3500000 c2s 1; printf x; rec data b 5000042 s2c 1; printf y; } >"$T/s.tap"
	run "$HD" <"$T/s.tap"
	assert_success
	assert_line --index 2 '# a +2.500000 data c2s 1'
	assert_line --index 4 '# b +0.000042 data s2c 1'
}

@test "-n: at most BYTES per record, and how many were left out" {
	{ rec data s1 1 c2s 100; head -c 100 /dev/urandom; rec data s1 2 s2c 3; printf abc; } >"$T/s.tap"
	run "$HD" -n 20 <"$T/s.tap"
	assert_success
	assert_equal "${#lines[@]}" 6
	assert_line --index 2 --regexp '^00000010  ([0-9a-f]{2} ){4} +\|'
	# The text column lines up with a full line's.
	assert_equal "${lines[2]:60:1}" '|'
	assert_line --index 3 '# 80 bytes left out'
	assert_line --index 5 --partial '|abc|'
	refute_line '# 0 bytes left out'
}

@test "-n 0: header lines only" {
	session_tap >"$T/s.tap"
	run "$HD" -n 0 <"$T/s.tap"
	assert_success
	refute_output --regexp $'(^|\n)0000'
	assert_line '# 38 bytes left out'
}

@test "--color=always: directions and non-printable bytes colored" {
	session_tap >"$T/s.tap"
	run "$HD" --color=always <"$T/s.tap"
	assert_success
	assert_line $'\e[32m# s1 +0.001234 data c2s 5\e[0m'
	assert_line $'\e[36m# s1 +0.002000 data s2c 38\e[0m'
	assert_line --partial $'|world\e[33m..\e[0m 01234567|'
}

@test "--color=never: no escape codes" {
	session_tap >"$T/s.tap"
	run "$HD" --color=never <"$T/s.tap"
	assert_success
	refute_output --partial $'\e['
}

@test "--color=auto colors a terminal and honors NO_COLOR" {
	session_tap >"$T/s.tap"
	run script -qec "'$HD' <'$T/s.tap'" /dev/null
	assert_success
	assert_output --partial $'\e[32m'
	NO_COLOR=1 run script -qec "'$HD' <'$T/s.tap'" /dev/null
	assert_success
	refute_output --partial $'\e['
	# Not a terminal: never.
	run "$HD" <"$T/s.tap"
	refute_output --partial $'\e['
}

@test "each record is written with one write(2)" {
	command -v strace >/dev/null || skip "strace not installed"
	# LeakSanitizer cannot run under ptrace: for SANITIZE= builds.
	session_tap >"$T/s.tap"
	env ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace -o "$T/trace" -e trace=write "$HD" <"$T/s.tap" >/dev/null
	run grep -c '^write(1,' "$T/trace"
	assert_output 7
}

@test "malformed: bad header keeps earlier records and names the record" {
	{ rec data s1 1 c2s 5; printf hello; rec data s1 2 s2c 1; printf x
	  printf '%-63s\n' "tap1 data s1 3 c2s 0012"; } >"$T/s.tap"
	run --separate-stderr "$HD" <"$T/s.tap"
	assert_failure 1
	assert_line --index 1 --partial '|hello|'
	assert_line --index 3 --partial '|x|'
	assert_equal "$stderr" 'tap-hexdump: record 3: bad header (LEN)'
}

@test "malformed: truncated payload says how much is missing" {
	{ rec data s1 1 c2s 5; printf hello; rec data s1 2 s2c 100; printf 0123456789; } >"$T/s.tap"
	run --separate-stderr "$HD" <"$T/s.tap"
	assert_failure 1
	assert_line --partial '|hello|'
	assert_line --partial '|0123456789|'
	assert_equal "$stderr" 'tap-hexdump: record 2: truncated payload, 90 bytes missing'
}

@test "malformed: garbage is a bad header at record 1" {
	head -c 200 /dev/urandom | base64 >"$T/s.tap"
	run --separate-stderr "$HD" <"$T/s.tap"
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" 'tap-hexdump: record 1: bad header (not tap1)'
}

@test "malformed: a stream ending inside a header" {
	{ rec data s1 1 c2s 1; printf x; rec data s1 2 c2s 1 | head -c 30; } >"$T/s.tap"
	run --separate-stderr "$HD" <"$T/s.tap"
	assert_failure 1
	assert_line --partial '|x|'
	assert_equal "$stderr" 'tap-hexdump: record 2: truncated header (30 of 64 bytes)'
}

@test "malformed: header fields checked one by one" {
	local bad why
	while IFS='|' read -r bad why; do
		printf '%-63s\n' "$bad" >"$T/s.tap"
		run --separate-stderr "$HD" <"$T/s.tap"
		assert_failure 1
		assert_equal "$stderr" "tap-hexdump: record 1: bad header ($why)"
	done <<-'END'
	tap2 data s1 1 c2s 0|not tap1
	tap1 Data s1 1 c2s 0|KIND
	tap1 toolongkind s1 1 c2s 0|KIND
	tap1 data s/1 1 c2s 0|SID
	tap1 data s1  1 c2s 0|UNIX_US
	tap1 data s1 1x c2s 0|UNIX_US
	tap1 data s1 123456789012345678901 c2s 0|UNIX_US
	tap1 data s1 18446744073709551616 c2s 0|UNIX_US
	tap1 data s1 1 up 0|DIR
	tap1 data s1 1 c2s 012|LEN
	tap1 data s1 1 c2s 123456789012|LEN
	tap1 data s1 1 c2s 0 x|padding
	END
	printf '%-63s\r' "tap1 data s1 1 c2s 0" >"$T/s.tap"
	run --separate-stderr "$HD" <"$T/s.tap"
	assert_failure 1
	assert_equal "$stderr" 'tap-hexdump: record 1: bad header (no newline at byte 64)'
}

@test "an unknown kind is shown with its payload" {
	{ rec zork s9 7 - 4; printf 'ab\ncd' | head -c 4; } >"$T/s.tap"
	run "$HD" <"$T/s.tap"
	assert_success
	assert_line --index 0 '# s9 +0.000000 zork - 4'
	assert_line --index 1 '00000000  61 62 0a 63                                       |ab.c|'
}

@test "usage errors exit 2 with the usage" {
	run --separate-stderr "$HD" -x
	assert_failure 2
	assert_equal "${stderr_lines[1]}" 'usage: tap-hexdump [-sv] [-n bytes] [--color[=when]]'
	assert_equal "${stderr_lines[2]}" '       tap-hexdump -r [-sv]'
	run --separate-stderr "$HD" -r -n 5
	assert_failure 2
	run --separate-stderr "$HD" --color=sometimes
	assert_failure 2
	assert_equal "${stderr_lines[0]}" 'tap-hexdump: --color: sometimes: not auto, always or never'
	run --separate-stderr "$HD" -n 1x
	assert_failure 2
	run --separate-stderr "$HD" file
	assert_failure 2
}
