#!/usr/bin/env bats
# tap-frame: length-prefixed frames out of a tap stream.

load test_helper

FRAME=$ROOT/bin/tap-frame
TAPCAT=$ROOT/bin/tap-cat
HEXDUMP=$ROOT/bin/tap-hexdump
TAPGEN=$ROOT/tests/bin/tt-tapgen
FRAMEGEN=$ROOT/tests/bin/tt-framegen

# records FILE: "KIND DIR LEN" per record of tap stream FILE, read by
# tap-hexdump (which fails on a malformed stream).
records() {
	"$HEXDUMP" -n 0 <"$1" >"$T/records.dump" ||
	    fail "tap-hexdump cannot read $1: not a valid tap stream"
	awk '$1 == "#" && $3 ~ /^\+/ { print $4, $5, $6 }' "$T/records.dump"
}

# lens FILE SID DIR: the payload lengths of FILE's data records of SID DIR.
lens() {
	"$HEXDUMP" -n 0 <"$1" |
	    awk -v s="$2" -v d="$3" '$1 == "#" && $2 == s && $4 == "data" &&
	    $5 == d { print $6 }'
}

# frame ARGS...: tap-frame ARGS <$T/in >$T/out; run it to see stderr.
frame() {
	"$FRAME" "$@" <"$T/in" >"$T/out"
}

# rec KIND SID US DIR PRINTF-FORMAT: one tap record, payload from printf.
rec() {
	printf -- "$5" >"$T/.payload"
	printf '%-63s\n' "tap1 $1 $2 $3 $4 $(stat -c %s "$T/.payload")"
	cat "$T/.payload"
}

# open_rec SID US: an open record.
open_rec() {
	rec open "$1" "$2" - 'client=127.0.0.1:40000\nserver=127.0.0.1:6379\nlisten=127.0.0.1:9000\n'
}

# close_rec SID US
close_rec() {
	rec close "$1" "$2" - 'reason=eof\nby=client\nc2s_bytes=0\ns2c_bytes=0\nduration_us=1\n'
}

# roundtrip "FRAMEGEN-OPTS" "TAP-FRAME-OPTS" CUT SIZE...: frames of SIZE
# bytes both ways, cut into records of 1..CUT bytes at random, through
# tap-frame: each direction's records are exactly the frames.
roundtrip() {
	local gen=$1 opts=$2 cut=$3 d
	shift 3
	$FRAMEGEN $gen -S 1 -e "$T/want.c2s" -l "$T/lens.c2s" "$@" >"$T/c2s"
	$FRAMEGEN $gen -S 2 -e "$T/want.s2c" -l "$T/lens.s2c" "$@" >"$T/s2c"
	"$TAPGEN" -m "$cut" s1 "$T/c2s" "$T/s2c" >"$T/in"
	run -0 frame $opts
	assert_output ''
	for d in c2s s2c; do
		"$TAPCAT" -d $d <"$T/out" >"$T/got.$d"
		assert_same_file "$T/want.$d" "$T/got.$d"
		lens "$T/out" s1 $d >"$T/gotlens.$d"
		assert_same_file "$T/lens.$d" "$T/gotlens.$d"
	done
}

@test "frame: -H 1 round trip, frames of 0, 1 and 255 bytes" {
	roundtrip "-H 1" "-H 1" 7 0 1 255 3 0 200
}

@test "frame: -H 2 round trip" {
	roundtrip "-H 2" "-H 2" 50 1 0 65535 17 1000
}

@test "frame: default -H 8 round trip" {
	roundtrip "-H 8" "" 100 5 0 1 4096 77
}

@test "frame: -H 10 round trip (a length wider than 64 bits, leading zeros)" {
	roundtrip "-H 10" "-H 10" 30 12 0 300 1
}

@test "frame: -H 16 round trip" {
	roundtrip "-H 16" "-H 16" 40 9 1 0 500
}

@test "frame: --length-offset round trip (payload only)" {
	roundtrip "-O 3 -H 2" "--length-offset 3 -H 2" 20 4 0 100 1
}

@test "frame: --little-endian round trip" {
	roundtrip "-L -H 4" "-H 4 --little-endian" 20 258 0 1 70000
}

@test "frame: --length-includes-header round trip" {
	roundtrip "-I -O 1 -H 4" "--length-offset 1 -H 4 --length-includes-header" 20 \
	    0 1 33 600
}

@test "frame: --adjust -4 equals --length-includes-header with a 4-byte field" {
	roundtrip "-I -H 4" "-H 4 --adjust -4" 20 0 9 400
}

@test "frame: a positive --adjust (a length that leaves out a trailing byte)" {
	roundtrip "-a 1 -H 3 -L" "-H 3 --little-endian --adjust 1" 20 1 2 500
}

@test "frame: --keep-header emits each frame as it was on the wire" {
	roundtrip "-K -O 1 -H 4" "--length-offset 1 -H 4 --keep-header" 25 0 5 300
	# Frames back to back are the wire bytes, headers and all.
	assert_same_file "$T/c2s" "$T/got.c2s"
	assert_same_file "$T/s2c" "$T/got.s2c"
}

@test "frame: --keep-header with --length-includes-header and little-endian" {
	roundtrip "-K -I -L -O 2 -H 2" \
	    "--length-offset 2 -H 2 --little-endian --length-includes-header --keep-header" \
	    13 0 1 2 1000
}

@test "frame: a 1 MiB frame cut into records of up to 64 KiB" {
	roundtrip "-H 4" "-H 4" 65536 1048576 1 1048576
}

@test "frame: a frame of exactly the default maximum (16 MiB) is accepted" {
	roundtrip "-H 4" "-H 4" 1000000 16777216
}

@test "frame: a frame of exactly -m is accepted, zero-length frames with -m 0" {
	roundtrip "-H 2" "-H 2 -m 1000" 100 1000 0 999 1000
	roundtrip "-H 2" "-H 2 -m 0" 3 0 0 0
}

@test "frame: frames split byte by byte, one record per byte" {
	roundtrip "-H 4" "-H 4" 1 3 0 1 40 2
	# One input record per byte really.
	n=$(records "$T/in" | grep -c '^data c2s 1$')
	assert_equal "$n" "$(stat -c %s "$T/c2s")"
}

@test "frame: many frames in one record, each its own record out" {
	"$FRAMEGEN" -H 2 -e "$T/want" -l "$T/lens" $(seq 0 199) >"$T/c2s"
	{
		open_rec s1 1000
		printf '%-63s\n' "tap1 data s1 1005 c2s $(stat -c %s "$T/c2s")"
		cat "$T/c2s"
		close_rec s1 1009
	} >"$T/in"
	run -0 frame -H 2
	lens "$T/out" s1 c2s >"$T/got"
	assert_same_file "$T/lens" "$T/got"
	assert_equal "$(wc -l <"$T/got")" 200
	"$TAPCAT" <"$T/out" >"$T/bytes"
	assert_same_file "$T/want" "$T/bytes"
}

@test "frame: a frame's record has the time of the record with its last byte" {
	{
		open_rec s1 1000000
		rec data s1 1000010 c2s '\0\0\0\3a'
		rec data s1 1000020 c2s 'b'
		rec data s1 1000030 c2s 'c\0\0\0\1x\0\0'
		rec data s1 1000040 c2s '\0\2yz'
	} >"$T/in"
	run -0 frame -H 4
	run -0 "$HEXDUMP" <"$T/out"
	assert_output - <<'EOF'
# s1 +0.000000 open - 67 client=127.0.0.1:40000 server=127.0.0.1:6379 listen=127.0.0.1:9000
# s1 +0.000030 data c2s 3
00000000  61 62 63                                          |abc|
# s1 +0.000030 data c2s 1
00000000  78                                                |x|
# s1 +0.000040 data c2s 2
00000000  79 7a                                             |yz|
EOF
}

@test "frame: a frame over the maximum: one error, that direction stops, exit 1" {
	{
		open_rec s1 1000
		# ok, then 99999999 announced, then bytes that look like a frame
		rec data s1 1001 c2s '\0\0\0\2ok\5\365\340\377abc'
		rec data s1 1002 s2c '\0\0\0\3one'
		rec data s1 1003 c2s '\0\0\0\3bad\0\0\0\1x'
		rec data s1 1004 s2c '\0\0\0\3two'
		close_rec s1 1005
	} >"$T/in"
	run -1 frame -H 4
	assert_output 'tap-frame: session s1 c2s: frame of 99999999 bytes over the maximum 16777216'
	run -0 records "$T/out"
	assert_output - <<'EOF'
open - 67
data c2s 2
data s2c 3
data s2c 3
close - 59
EOF
	run -0 "$TAPCAT" -d c2s <"$T/out"
	assert_output ok
	run -0 "$TAPCAT" -d s2c <"$T/out"
	assert_output onetwo
}

@test "frame: one byte over -m is rejected" {
	"$FRAMEGEN" -H 4 1001 >"$T/c2s"
	"$FRAMEGEN" -H 4 1000 >"$T/s2c"
	"$TAPGEN" -m 300 s1 "$T/c2s" "$T/s2c" >"$T/in"
	run -1 frame -H 4 -m 1000
	assert_output 'tap-frame: session s1 c2s: frame of 1001 bytes over the maximum 1000'
	assert_equal "$(lens "$T/out" s1 c2s)" ""
	assert_equal "$(lens "$T/out" s1 s2c)" 1000
}

@test "frame: a bogus 4 GiB length allocates nothing up front" {
	{
		open_rec s1 1000
		rec data s1 1001 c2s '\377\377\377\377abc'
		close_rec s1 1002
	} >"$T/in"
	# 64 MiB of address space: 4 GiB could not be allocated.
	! ldd "$FRAME" | grep -q 'lib[at]san' ||
	    skip "a sanitizer build needs more address space"
	run -0 bash -c "ulimit -v 65536; exec '$FRAME' -H 4 -m 4294967296 \
	    <'$T/in' >'$T/out'"
	assert_output 'tap-frame: session s1 c2s: 7 bytes of an incomplete frame at close'
	assert_equal "$(lens "$T/out" s1 c2s)" ""
}

@test "frame: -H 10 with leading zero bytes is read, a non-zero high byte is over" {
	{
		open_rec s1 1000
		rec data s1 1001 c2s '\0\0\0\0\0\0\0\0\0\2hi'
		rec data s1 1002 s2c '\1\0\0\0\0\0\0\0\0\2hi\0\0\0\0\0\0\0\0\0\1x'
		close_rec s1 1003
	} >"$T/in"
	run -1 frame -H 10
	assert_output 'tap-frame: session s1 s2c: frame length field 0x01000000000000000002 (over 64 bits) over the maximum 16777216'
	run -0 "$TAPCAT" -d c2s <"$T/out"
	assert_output hi
	assert_equal "$(lens "$T/out" s1 s2c)" ""
}

@test "frame: -H 16 with only the top bit set is over, not truncated to 64 bits" {
	{
		open_rec s1 1000
		rec data s1 1001 c2s '\200\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1z'
	} >"$T/in"
	run -1 frame -H 16
	assert_output 'tap-frame: session s1 c2s: frame length field 0x80000000000000000000000000000001 (over 64 bits) over the maximum 16777216'
	assert_equal "$(lens "$T/out" s1 c2s)" ""
}

@test "frame: a length below the header it includes is rejected" {
	{
		open_rec s1 1000
		rec data s1 1001 c2s '\0\0\0\2ab'
	} >"$T/in"
	run -1 frame -H 4 --length-includes-header
	assert_output 'tap-frame: session s1 c2s: frame length field 2 with adjust -4: a negative payload'
}

@test "frame: closing mid-frame is reported and the partial frame not emitted" {
	{
		open_rec s1 1000
		rec data s1 1001 c2s '\0\0\0\1a\0\0\0\5he'
		rec data s1 1002 s2c '\0\0'
		close_rec s1 1003
	} >"$T/in"
	run -0 frame -H 4
	assert_line --index 0 'tap-frame: session s1 c2s: 6 bytes of an incomplete frame at close'
	assert_line --index 1 'tap-frame: session s1 s2c: 2 bytes of an incomplete frame at close'
	run -0 records "$T/out"
	assert_output - <<'EOF'
open - 67
data c2s 1
close - 59
EOF
}

@test "frame: a half-close mid-frame and the end of input mid-frame are reported" {
	{
		open_rec s1 1000
		rec data s1 1001 c2s '\0\0\0\5he'
		rec shut s1 1002 c2s ''
		rec data s1 1003 s2c '\0\0\0\5wor'
	} >"$T/in"
	run -0 frame -H 4
	assert_output - <<'EOF'
tap-frame: session s1 c2s: 6 bytes of an incomplete frame at shut
tap-frame: session s1 s2c: 7 bytes of an incomplete frame at end of input
EOF
	run -0 records "$T/out"
	assert_output - <<'EOF'
open - 67
shut c2s 0
EOF
}

@test "frame: a gap resets its direction and is passed through" {
	{
		open_rec s1 1000
		rec data s1 1001 c2s '\0\0\0\5he'
		rec data s1 1002 s2c '\0\0\0\5wo'
		rec gap s1 1003 c2s 'bytes=100\n'
		rec data s1 1004 c2s '\0\0\0\2ok'
		rec data s1 1005 s2c 'rld'
	} >"$T/in"
	run -0 frame -H 4
	run -0 records "$T/out"
	assert_output - <<'EOF'
open - 67
gap c2s 10
data c2s 2
data s2c 5
EOF
	run -0 --separate-stderr "$TAPCAT" -d c2s <"$T/out"
	assert_output ok
	run -0 --separate-stderr "$TAPCAT" -d s2c <"$T/out"
	assert_output world
}

@test "frame: --skip passes each direction's first bytes through unframed" {
	{
		open_rec s1 1000
		rec data s1 1001 c2s 'HE'
		rec data s1 1002 c2s 'L\0\0\0\2ok'
		rec data s1 1003 s2c 'xyz\0\0\0\0'
	} >"$T/in"
	run -0 frame -H 4 --skip 3
	run -0 records "$T/out"
	assert_output - <<'EOF'
open - 67
data c2s 2
data c2s 1
data c2s 2
data s2c 3
data s2c 0
EOF
	run -0 "$TAPCAT" -d c2s <"$T/out"
	assert_output HELok
}

@test "frame: the man page's PostgreSQL preset: --skip the startup message, then typed messages" {
	{
		open_rec s1 1000
		# SSLRequest (8 bytes, a length that counts itself, no type)
		rec data s1 1001 c2s '\0\0\0\010\004\322\026\057Q\0\0\0\016SEL'
		rec data s1 1002 c2s 'ECT 1;\0X\0\0\0\004'
	} >"$T/in"
	run -0 frame --skip 8 --length-offset 1 -H 4 --adjust -4 --keep-header
	run -0 records "$T/out"
	assert_output - <<'EOF'
open - 67
data c2s 8
data c2s 15
data c2s 5
EOF
	"$TAPCAT" <"$T/out" | tail -c 20 | head -c 15 >"$T/q"
	run -0 od -An -c "$T/q"
	assert_output --partial 'S   E   L   E   C   T       1   ;  \0'
}

@test "frame: the man page's TLS preset keeps each 5-byte record header" {
	{
		open_rec s1 1000
		rec data s1 1001 s2c '\026\003\003\0\002ab\027\003'
		rec data s1 1002 s2c '\003\0\001c'
	} >"$T/in"
	run -0 frame --length-offset 3 -H 2 --keep-header
	assert_equal "$(lens "$T/out" s1 s2c | tr '\n' ' ')" "7 6 "
	"$TAPCAT" <"$T/out" >"$T/got"
	printf '\026\003\003\0\002ab\027\003\003\0\001c' >"$T/want"
	assert_same_file "$T/want" "$T/got"
}

@test "frame: records of unknown kinds pass through unchanged and in order" {
	"$FRAMEGEN" -H 2 3 0 50 7 >"$T/c2s"
	"$FRAMEGEN" -S 3 -H 2 9 9 >"$T/s2c"
	"$TAPGEN" -u -m 5 -S 4 s1 "$T/c2s" "$T/s2c" >"$T/in"
	run -0 frame -H 2
	records "$T/in" | grep -v '^data ' >"$T/in.other"
	records "$T/out" | grep -v '^data ' >"$T/out.other"
	grep -q '^zzz - 6$' "$T/in.other" || fail "tt-tapgen made no zzz record"
	assert_same_file "$T/in.other" "$T/out.other"
	# And byte for byte: each zzz record's payload is there.
	assert_equal "$(grep -ac noise "$T/out")" "$(grep -ac noise "$T/in")"
}

@test "frame: two interleaved sessions are framed independently" {
	"$FRAMEGEN" -H 4 -S 1 -e "$T/a.want" -l "$T/a.lens" 10 0 300 5 >"$T/a.c2s"
	"$FRAMEGEN" -H 4 -S 2 1 2 3 >"$T/a.s2c"
	"$FRAMEGEN" -H 4 -S 3 -e "$T/b.want" -l "$T/b.lens" 7 700 0 >"$T/b.c2s"
	"$FRAMEGEN" -H 4 -S 4 40 >"$T/b.s2c"
	"$TAPGEN" -m 9 -S 5 sa "$T/a.c2s" "$T/a.s2c" sb "$T/b.c2s" "$T/b.s2c" \
	    >"$T/in"
	# The sessions' records really interleave.
	"$HEXDUMP" -n 0 <"$T/in" | awk '$4 == "data" { print $2 }' | uniq |
	    wc -l >"$T/runs"
	(($(cat "$T/runs") > 4)) || fail "sessions do not interleave"
	run -0 frame -H 4
	assert_output ''
	for s in a b; do
		lens "$T/out" s$s c2s >"$T/$s.got"
		assert_same_file "$T/$s.lens" "$T/$s.got"
		"$TAPCAT" -s s$s -d c2s <"$T/out" >"$T/$s.bytes"
		assert_same_file "$T/$s.want" "$T/$s.bytes"
	done
	assert_equal "$(lens "$T/out" sa s2c | tr '\n' ' ')" "1 2 3 "
	assert_equal "$(lens "$T/out" sb s2c)" 40
}

@test "frame: a malformed stream is an error naming the record; earlier output stays" {
	{
		open_rec s1 1000
		rec data s1 1001 c2s '\0\0\0\2ok'
		printf '%-63s\n' "tap1 data s1 1002 c2s 0x"
	} >"$T/in"
	run -1 frame -H 4
	assert_output 'tap-frame: record 3: bad header (LEN)'
	run -0 "$TAPCAT" <"$T/out"
	assert_output ok
}

@test "frame: a truncated payload is an error" {
	{
		open_rec s1 1000
		printf '%-63s\n' "tap1 data s1 1001 c2s 10"
		printf '\0\0\0\1x'
	} >"$T/in"
	run -1 frame -H 4
	assert_output 'tap-frame: record 2: truncated payload, 5 bytes missing'
	run -0 "$TAPCAT" <"$T/out"
	assert_output x
}

@test "frame: bad options are usage errors" {
	run -2 "$FRAME" -H 17 </dev/null
	assert_line --index 0 'tap-frame: -H 17: too large'
	assert_line --index 1 --partial 'usage: tap-frame [-H bytes]'
	run -2 "$FRAME" -H 0 </dev/null
	assert_line --index 0 --partial 'tap-frame: -H 0:'
	run -2 "$FRAME" -m 4294967297 </dev/null
	assert_line --index 0 'tap-frame: -m 4294967297: too large'
	run -2 "$FRAME" --adjust x </dev/null
	assert_line --index 0 'tap-frame: --adjust x: invalid'
	run -2 "$FRAME" --adjust -4 --length-includes-header </dev/null
	assert_line --index 0 'tap-frame: --length-includes-header and --adjust exclude each other'
	run -2 "$FRAME" --length-offset 49 -H 16 </dev/null
	assert_line --index 0 'tap-frame: --length-offset 49: too large'
	run -2 "$FRAME" file </dev/null
	assert_line --index 0 'tap-frame: file: no operands: the input is stdin'
}

@test "frame: live: a relay's tap frames a client's messages split across writes" {
	# Frames of 5, 0, 3000 and 2 bytes, sent in three writes that cut
	# the second header and the 3000-byte payload.
	"$FRAMEGEN" -H 4 -e "$T/want" -l "$T/lens" 5 0 3000 2 >"$T/all"
	head -c 11 "$T/all" >"$T/p1"
	tail -c +12 "$T/all" | head -c 1000 >"$T/p2"
	tail -c +1012 "$T/all" >"$T/p3"
	start_server1 srv 127.0.0.1:0 eof
	start_tcptap -t "cat > '$T/raw'" -t "'$FRAME' -H 4 > '$T/frames'" \
	    127.0.0.1:0 "127.0.0.1:$srv_port"
	bg cli "$PEER" connect "127.0.0.1:$tap_port" "file=$T/p1" \
	    "wait=$T/go1" "file=$T/p2" "wait=$T/go2" "file=$T/p3" shut eof
	# Each write reaches the tap before the next is sent.
	wait_for 10 "[ \$('$TAPCAT' -d c2s <'$T/raw' 2>/dev/null | wc -c) -ge 11 ]"
	touch "$T/go1"
	wait_for 10 "[ \$('$TAPCAT' -d c2s <'$T/raw' 2>/dev/null | wc -c) -ge 1011 ]"
	touch "$T/go2"
	wait_exit "$cli_pid"
	assert_equal "$exit_status" 0
	wait_log "$T/tap.err" '^tcptap: close '
	stop_tcptap
	(($(records "$T/raw" | grep -c '^data c2s') >= 3)) ||
	    fail "the client's bytes came in fewer than 3 records"
	lens "$T/frames" "$(awk 'NR == 1 { print $3 }' "$T/raw")" c2s >"$T/got"
	assert_same_file "$T/lens" "$T/got"
	"$TAPCAT" -d c2s <"$T/frames" >"$T/bytes"
	assert_same_file "$T/want" "$T/bytes"
	# The framed stream still has the open and close records.
	run -0 records "$T/frames"
	assert_line --index 0 --regexp '^open - [0-9]+$'
	assert_line --regexp '^close - [0-9]+$'
}
