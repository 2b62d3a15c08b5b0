#!/usr/bin/env bats
# tap-tsv: tap stream -> ts_proxy recording v1 TSV, and back with -d.

load test_helper

TSV=$ROOT/bin/tap-tsv
TAPCAT=$ROOT/bin/tap-cat
TAPGEN=$ROOT/tests/bin/tt-tapgen
FIX=$ROOT/tests/fixtures/tsv
MAGIC='# ts_proxy recording v1'

# rec KIND SID US DIR TEXT: one tap record, TEXT as printf %b (no NULs).
rec() {
	local LC_ALL=C p
	p=$(printf '%b' "$5"; echo x)
	p=${p%x}
	printf '%-63s\n' "tap1 $1 $2 $3 $4 ${#p}"
	printf '%s' "$p"
}

# headers FILE: "KIND SID US DIR LEN" per record, payloads skipped.
headers() {
	python3 - "$1" <<'EOF'
import sys
data, i = open(sys.argv[1], 'rb').read(), 0
while i < len(data):
    f = data[i:i + 64].decode().split()
    print(' '.join(f[1:6]))
    i += 64 + int(f[5])
EOF
}

# expect_tsv STREAM [SID]: the recording, computed independently (python).
expect_tsv() {
	python3 - "$@" <<'EOF'
import sys
data = open(sys.argv[1], 'rb').read()
want = sys.argv[2] if len(sys.argv) > 2 else None
out, base, i = ['# ts_proxy recording v1'], None, 0
while i < len(data):
    f = data[i:i + 64].split()
    kind, sid, us, d, n = f[1].decode(), f[2].decode(), int(f[3]), f[4].decode(), int(f[5])
    p = data[i + 64:i + 64 + n]
    i += 64 + n
    want = want or sid
    if sid != want:
        continue
    if base is None:
        base = us
    if kind == 'close':
        break
    if kind == 'data':
        out.append('%d\t%s\t%s' % (us - base, d, p.hex()))
print('\n'.join(out))
EOF
}

# hexof FILE: its bytes as one line of lowercase hex.
hexof() {
	od -An -v -tx1 "$1" | tr -d ' \n'
}

# to_out ARGS...: tap-tsv with stdout to $T/out (for run: stderr only).
to_out() {
	"$TSV" "$@" >"$T/out"
}

# bad_tsv LINE_TEXT: a recording with two good lines, then LINE_TEXT.
bad_tsv() {
	printf '%s\n10\tc2s\t6869\n20\ts2c\t6f6b\n%b\n30\tc2s\t00\n' \
	    "$MAGIC" "$1" >"$T/bad.tsv"
}

# check_bad WHAT: -d on $T/bad.tsv fails at line 4 with WHAT, exit 1, and
# the stream written holds the open record and both lines before it.
check_bad() {
	run -1 to_out -d "$T/bad.tsv"
	assert_output "tap-tsv: $T/bad.tsv:4: $1"
	run headers "$T/out"
	assert_output "open tsv 0 - 57
data tsv 10 c2s 2
data tsv 20 s2c 2"
	assert_equal "$("$TAPCAT" <"$T/out")" "hiok"
}

@test "tsv: the hand-written reference fixture reads back byte for byte" {
	"$TSV" -d "$FIX/reference.tsv" >"$T/stream"
	"$TSV" <"$T/stream" >"$T/again.tsv"
	assert_same_file "$FIX/reference.tsv" "$T/again.tsv"
}

@test "tsv: -d writes open, one data record per line, shut both ways, close" {
	"$TSV" -d "$FIX/reference.tsv" >"$T/stream"
	run headers "$T/stream"
	assert_output "open tsv 0 - 57
data tsv 0 c2s 14
data tsv 812 s2c 7
data tsv 1500 c2s 0
data tsv 1500 s2c 4
data tsv 2000003 c2s 13
data tsv 2000150 s2c 13
shut tsv 2000150 c2s 0
shut tsv 2000150 s2c 0
close tsv 2000150 - 67"
	"$TAPCAT" -d c2s <"$T/stream" >"$T/c2s"
	printf '*1\r\n$4\r\nPING\r\n\0\0\0\0\0\0\0\5hello' >"$T/c2s.want"
	assert_same_file "$T/c2s.want" "$T/c2s"
	"$TAPCAT" -d s2c <"$T/stream" >"$T/s2c"
	printf '+PONG\r\n\0\377\177\200\0\0\0\0\0\0\0\5world' >"$T/s2c.want"
	assert_same_file "$T/s2c.want" "$T/s2c"
	run grep -a -E '^[a-z0-9_]+=' "$T/stream"
	assert_output "client=127.0.0.1:1
server=127.0.0.1:2
listen=127.0.0.1:2
reason=eof
by=client
c2s_bytes=27
s2c_bytes=24
duration_us=2000150"
}

@test "tsv: -d takes --client, --server, --listen, -s and --base-us for the stream" {
	"$TSV" -d -s rec-1 --base-us 1700000000000000 --client 10.0.0.1:5000 \
	    --server '[::1]:6379' --listen 0.0.0.0:9000 \
	    <"$FIX/reference.tsv" >"$T/stream"
	run headers "$T/stream"
	assert_line --index 0 "open rec-1 1700000000000000 - 59"
	assert_line --index 2 "data rec-1 1700000000000812 s2c 7"
	assert_line --index 9 "close rec-1 1700000002000150 - 67"
	run grep -a -E '^(client|server|listen)=' "$T/stream"
	assert_output "client=10.0.0.1:5000
server=[::1]:6379
listen=0.0.0.0:9000"
	# The base does not change the recording.
	"$TSV" <"$T/stream" >"$T/again.tsv"
	assert_same_file "$FIX/reference.tsv" "$T/again.tsv"
}

@test "tsv: a generated three-session stream records the first session exactly" {
	random_file "$T/c1" 20000
	random_file "$T/s1" 30000
	random_file "$T/c2" 5000
	random_file "$T/s2" 7000
	random_file "$T/c3" 100
	random_file "$T/s3" 0
	"$TAPGEN" -u -m 700 -S 7 one "$T/c1" "$T/s1" two "$T/c2" "$T/s2" \
	    three "$T/c3" "$T/s3" >"$T/stream"
	"$TSV" <"$T/stream" >"$T/got.tsv"
	expect_tsv "$T/stream" >"$T/want.tsv"
	assert_same_file "$T/want.tsv" "$T/got.tsv"
	# Lines are time, direction, lowercase hex of one record each.
	run grep -c -v -E $'^[0-9]+\t(c2s|s2c)\t([0-9a-f]{2})+$' "$T/got.tsv"
	assert_output 1
	assert_equal "$(awk -F'\t' '$2 == "c2s" { printf "%s", $3 }' "$T/got.tsv")" \
	    "$(hexof "$T/c1")"
	assert_equal "$(awk -F'\t' '$2 == "s2c" { printf "%s", $3 }' "$T/got.tsv")" \
	    "$(hexof "$T/s1")"
}

@test "tsv: times are microseconds since the session's open record" {
	{
		rec open a 1000000 - 'client=1.2.3.4:5\n'
		rec data a 1000007 c2s 'ab'
		rec shut a 1000010 c2s ''
		rec data a 1002000 s2c 'xyz'
		rec close a 1002001 - 'reason=eof\n'
	} >"$T/stream"
	run "$TSV" <"$T/stream"
	assert_success
	assert_output "$MAGIC
7	c2s	6162
2000	s2c	78797a"
}

@test "tsv: a stream with no open for the session counts from its first record" {
	{
		rec data late 5000 c2s 'a'
		rec data late 5300 s2c 'b'
	} >"$T/stream"
	run "$TSV" <"$T/stream"
	assert_success
	assert_output "$MAGIC
0	c2s	61
300	s2c	62"
}

@test "tsv: -s picks one session of a multi-session stream" {
	random_file "$T/c1" 3000
	random_file "$T/s1" 3000
	random_file "$T/c2" 4000
	random_file "$T/s2" 2000
	"$TAPGEN" -m 500 -S 3 first "$T/c1" "$T/s1" second "$T/c2" "$T/s2" \
	    >"$T/stream"
	"$TSV" -s second <"$T/stream" >"$T/got.tsv"
	expect_tsv "$T/stream" second >"$T/want.tsv"
	assert_same_file "$T/want.tsv" "$T/got.tsv"
	assert_equal "$(awk -F'\t' '$2 == "c2s" { printf "%s", $3 }' "$T/got.tsv")" \
	    "$(hexof "$T/c2")"
	assert_equal "$(awk -F'\t' '$2 == "s2c" { printf "%s", $3 }' "$T/got.tsv")" \
	    "$(hexof "$T/s2")"
}

@test "tsv: without -s the session of the first record is recorded, others ignored" {
	{
		rec open b 100 - 'client=1.2.3.4:5\n'
		rec open a 150 - 'client=1.2.3.4:6\n'
		rec data a 160 c2s 'A'
		rec data b 170 c2s 'B'
		rec data a 180 s2c 'AA'
		rec data b 190 s2c 'BB'
	} >"$T/stream"
	run "$TSV" <"$T/stream"
	assert_success
	assert_output "$MAGIC
70	c2s	42
90	s2c	4242"
}

@test "tsv: a session -s names that is not in the stream is exit 1" {
	rec open a 100 - 'client=1.2.3.4:5\n' >"$T/stream"
	run -1 to_out -s nosuch <"$T/stream"
	assert_output "tap-tsv: stdin: no record of session nosuch"
	assert_equal "$(cat "$T/out")" "$MAGIC"
}

@test "tsv: recording stops at the session's close without waiting for EOF" {
	{
		rec open a 100 - 'client=1.2.3.4:5\n'
		rec data a 110 c2s 'hi'
		rec close a 120 - 'reason=eof\n'
		rec data a 130 c2s 'after'
	} >"$T/stream"
	# stdin stays open (a writer sleeps on the fifo) after the close.
	mkfifo "$T/fifo"
	bg feed sh -c 'exec >"$2"; cat "$1"; exec sleep 30' sh "$T/stream" "$T/fifo"
	run timeout 10 "$TSV" <"$T/fifo"
	assert_success
	assert_output "$MAGIC
10	c2s	6869"
}

@test "tsv: -f writes each line while the stream is still open" {
	{
		rec open a 100 - 'client=1.2.3.4:5\n'
		rec data a 110 c2s 'hi'
	} >"$T/stream"
	mkfifo "$T/fifo"
	bg feed sh -c 'exec >"$2"; cat "$1"; exec sleep 30' sh "$T/stream" "$T/fifo"
	"$TSV" -f <"$T/fifo" >"$T/out" 3>&- &
	BG_PIDS+=($!)
	wait_for 5 "[ \"\$(cat '$T/out')\" = \"$MAGIC
10	c2s	6869\" ]"
}

@test "tsv: without -f the output is buffered until the stream ends" {
	{
		rec open a 100 - 'client=1.2.3.4:5\n'
		rec data a 110 c2s 'hi'
	} >"$T/stream"
	mkfifo "$T/fifo"
	bg feed sh -c 'exec >"$2"; cat "$1"; exec sleep 2' sh "$T/stream" "$T/fifo"
	"$TSV" <"$T/fifo" >"$T/out" 3>&- &
	tsv_pid=$!
	BG_PIDS+=($tsv_pid)
	sleep 1
	assert_equal "$(stat -c %s "$T/out")" 0
	wait_exit "$tsv_pid" 10
	assert_equal "$exit_status" 0
	assert_equal "$(cat "$T/out")" "$MAGIC
10	c2s	6869"
}

@test "tsv: a zero-length data record is a line with an empty hex field, and back" {
	{
		rec open a 100 - 'client=1.2.3.4:5\n'
		rec data a 105 c2s ''
		rec data a 107 s2c 'x'
	} >"$T/stream"
	run "$TSV" <"$T/stream"
	assert_output "$MAGIC
5	c2s	
7	s2c	78"
	"$TSV" <"$T/stream" | "$TSV" -d >"$T/back"
	run headers "$T/back"
	assert_line --index 1 "data tsv 5 c2s 0"
	assert_line --index 2 "data tsv 7 s2c 1"
}

@test "tsv: -d accepts uppercase and mixed-case hex; tap-tsv writes it lowercase" {
	printf '%s\n1\tc2s\tDEADBEEF\n2\ts2c\taBcDeF\n' "$MAGIC" >"$T/upper.tsv"
	"$TSV" -d "$T/upper.tsv" | "$TAPCAT" -d c2s >"$T/c2s"
	printf '\336\255\276\357' >"$T/c2s.want"
	assert_same_file "$T/c2s.want" "$T/c2s"
	run sh -c '"$1" -d "$2" | "$1"' sh "$TSV" "$T/upper.tsv"
	assert_success
	assert_output "$MAGIC
1	c2s	deadbeef
2	s2c	abcdef"
}

@test "tsv: -d skips blank, whitespace-only and # lines, and takes a last line without newline" {
	run sh -c '"$1" -d <"$2" | "$1"' sh "$TSV" "$FIX/lenient.tsv"
	assert_success
	assert_output "$(cat "$FIX/lenient.expected.tsv")"
}

@test "tsv: -d: odd number of hex digits" {
	bad_tsv '40\tc2s\tabc'
	check_bad 'odd number of hex digits'
}

@test "tsv: -d: a non-hex character names its column" {
	bad_tsv '40\tc2s\t00zz'
	check_bad 'non-hex character at column 10'
}

@test "tsv: -d: an unknown direction" {
	bad_tsv '40\tsc2\t00'
	check_bad 'unknown direction: want c2s or s2c'
}

@test "tsv: -d: an unknown direction on stdin names stdin" {
	bad_tsv '40\tC2S\t00'
	run -1 to_out -d <"$T/bad.tsv"
	assert_output "tap-tsv: stdin:4: unknown direction: want c2s or s2c"
	assert_equal "$("$TAPCAT" <"$T/out")" "hiok"
}

@test "tsv: -d: a missing field" {
	bad_tsv '40\tc2s'
	check_bad 'missing field: want TIME<tab>DIR<tab>HEX'
}

@test "tsv: -d: an extra field" {
	bad_tsv '40\tc2s\t00\tcomment'
	check_bad 'extra field after the hex payload'
}

@test "tsv: -d: a non-numeric time" {
	bad_tsv '4O\tc2s\t00'
	check_bad 'time is not a decimal number'
}

@test "tsv: -d: an empty time" {
	bad_tsv '\tc2s\t00'
	check_bad 'time is not a decimal number'
}

@test "tsv: -d: a time past 2^64 - 1" {
	bad_tsv '18446744073709551616\tc2s\t00'
	check_bad 'time out of range'
}

@test "tsv: -d: a decreasing time" {
	bad_tsv '19\tc2s\t00'
	check_bad 'time goes back: 19 after 20'
}

@test "tsv: -d: a line longer than 2 x max + 64 bytes" {
	# -m 16: lines up to 96 bytes; this one is 97.
	bad_tsv "40\tc2s\t$(printf '0%.0s' {1..90})"
	run -1 to_out -d -m 16 "$T/bad.tsv"
	assert_output "tap-tsv: $T/bad.tsv:4: line longer than 96 bytes"
	assert_equal "$("$TAPCAT" <"$T/out")" "hiok"
	# Exactly 96 bytes: not too long, but a payload over 16 bytes.
	bad_tsv "400\tc2s\t$(printf '0%.0s' {1..88})"
	run -1 to_out -d -m 16 "$T/bad.tsv"
	assert_output "tap-tsv: $T/bad.tsv:4: payload of 44 bytes over the maximum 16"
}

@test "tsv: -d: a 4 GB line with no newline is refused in bounded memory" {
	# Default -m: the limit is 32 MiB + 64; 200 MB of address space for
	# the reader, which must stop long before the 4 GB arrive.
	[ -z "${SANITIZE:-}" ] ||
	    skip "a sanitizer build needs more address space than the cap"
	run -1 timeout 60 bash -c '
	    { printf "0\tc2s\t"; head -c 4G /dev/zero | tr "\0" "a"; } |
	    (ulimit -v 200000; exec "$1" -d >/dev/null)' bash "$TSV"
	assert_output "tap-tsv: stdin:1: line longer than 33554496 bytes"
}

@test "tsv: a malformed tap stream is 'record N', exit 1, lines before it kept" {
	{
		rec open a 100 - 'client=1.2.3.4:5\n'
		rec data a 110 c2s 'hi'
		printf '%-63s\n' 'tap1 data a 120 c2s 5x'
	} >"$T/stream"
	run -1 to_out <"$T/stream"
	assert_output "tap-tsv: record 3: bad header (LEN)"
	assert_equal "$(cat "$T/out")" "$MAGIC
10	c2s	6869"
}

@test "tsv: a data record over -m is exit 1, lines before it kept" {
	{
		rec open a 100 - 'client=1.2.3.4:5\n'
		rec data a 110 c2s 'hi'
		rec data a 120 s2c 'too long'
	} >"$T/stream"
	run -1 to_out -m 4 <"$T/stream"
	assert_output "tap-tsv: record 3: data record of 8 bytes over the maximum 4 (-m)"
	assert_equal "$(cat "$T/out")" "$MAGIC
10	c2s	6869"
}

@test "tsv: a gap is reported, recording goes on, exit 1 at the end" {
	{
		rec open a 100 - 'client=1.2.3.4:5\n'
		rec data a 110 c2s 'hi'
		rec gap a 120 s2c 'bytes=4096\n'
		rec data a 130 s2c 'ok'
		rec close a 140 - 'reason=eof\n'
	} >"$T/stream"
	run -1 to_out <"$T/stream"
	assert_output "tap-tsv: record 3: gap of 4096 bytes in s2c: the recording lacks them"
	assert_equal "$(cat "$T/out")" "$MAGIC
10	c2s	6869
30	s2c	6f6b"
}

@test "tsv: usage errors are exit 2 with the usage" {
	run -2 "$TSV" --client 1.2.3.4:5
	assert_line --index 0 'tap-tsv: --base-us, --client, --server and --listen need -d'
	assert_line --index 1 --partial 'usage: tap-tsv [-f]'
	run -2 "$TSV" -s 'bad sid'
	assert_line --index 0 'tap-tsv: -s bad sid: not a session id'
	run -2 "$TSV" -m 0
	assert_line --index 0 'tap-tsv: -m 0: too small'
	run -2 "$TSV" -d a.tsv b.tsv
	assert_line --index 0 'tap-tsv: b.tsv: one file at most'
	run -2 "$TSV" somefile
	assert_line --index 0 'tap-tsv: somefile: no operands: the input is stdin'
}

@test "tsv: a recording that cannot be opened is exit 3" {
	run -3 "$TSV" -d "$T/nosuch.tsv"
	assert_output "tap-tsv: $T/nosuch.tsv: No such file or directory"
}

# One client: send its data, read the echo, then shut.
client_n() {
	peer -o "$T/got.$1" connect "127.0.0.1:$tap_port" "file=$T/data.$1" \
	    shut eof >/dev/null
}

# recorded: all 20 recordings are whole (their s2c bytes are all there).
recorded() {
	local f n=0 want=0 i
	for i in $(seq 1 20); do
		want=$((want + 2 * $(stat -c %s "$T/data.$i")))
	done
	for f in "$T"/rec/*.tsv; do
		[ -f "$f" ] || return 1
		n=$((n + $(awk -F'\t' '$2 == "s2c" { n += length($3) } END { print n + 0 }' "$f")))
	done
	[ "$n" -eq "$want" ]
}

@test "tsv: 20 concurrent clients through a relay, each recorded to its own file exactly" {
	mkdir "$T/rec"
	for i in $(seq 1 20); do
		random_file "$T/data.$i" $((20000 + 997 * i))
	done
	start_server srv 127.0.0.1:0 echo
	start_tcptap -t "'$TSV' > '$T/rec/'\$TCPTAP_SID.tsv" 127.0.0.1:0 \
	    "127.0.0.1:$srv_port"

	pids=()
	for i in $(seq 1 20); do
		client_n "$i" 3>&- &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p" || fail "client (pid $p) failed"
	done
	wait_for 20 '[ "$(log_count "$T/tap.err" "^tcptap: close ")" -eq 20 ]'
	wait_for 20 recorded
	assert_equal "$(ls "$T/rec" | wc -l)" 20
	: >"$T/seen"
	for f in "$T"/rec/*.tsv; do
		assert_equal "$(head -n 1 "$f")" "$MAGIC"
		# Times never go back, every line is well formed.
		awk -F'\t' 'NR > 1 && ($1 < t || NF != 3 || $2 !~ /^(c2s|s2c)$/ ||
		    $3 !~ /^([0-9a-f][0-9a-f])+$/) { exit 1 } NR > 1 { t = $1 }' "$f" ||
		    fail "$f: malformed or going back"
		c=$(awk -F'\t' '$2 == "c2s" { printf "%s", $3 }' "$f")
		s=$(awk -F'\t' '$2 == "s2c" { printf "%s", $3 }' "$f")
		[ "$c" = "$s" ] || fail "$f: the echo differs from what was sent"
		echo "$c" >>"$T/seen"
	done
	for i in $(seq 1 20); do
		assert_same_file "$T/data.$i" "$T/got.$i"
		hexof "$T/data.$i" >>"$T/sent"
		echo >>"$T/sent"
	done
	# Each client's bytes are in exactly one recording.
	assert_equal "$(sort "$T/seen")" "$(sort "$T/sent")"
}
