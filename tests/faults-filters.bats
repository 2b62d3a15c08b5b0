#!/usr/bin/env bats
# The fault-* filters (raw bytes, stdin to stdout): each effect measured
# with bounds that hold on a noisy 2-core machine (latency at least the
# asked and at most 3x it; throughput at most the asked rate + 10% and
# at least a third of it), byte counts exact, logs that match what was
# done, seeds that reproduce.  Standalone in pipes and, inline-style,
# as the program of `tcptap LISTEN -- PROG` (the relay's pipes around it).

load test_helper

F=$ROOT/bin

# latency CMD...: feed CMD 10 chunks of 100 bytes 50 ms apart; check
# the output is the input, print "MIN MAX TOTAL": the least and most
# latency of a chunk, and the time from the first byte sent to the EOF
# out (ms; python3 itself can take seconds to start, so it times).
latency() {
	cat >"$T/lat.py" <<'EOF'
import subprocess, sys, threading, time
p = subprocess.Popen(sys.argv[1:], stdin=subprocess.PIPE,
    stdout=subprocess.PIPE)
chunks = [bytes([65 + i]) * 100 for i in range(10)]
sent = []
def writer():
    for c in chunks:
        sent.append(time.monotonic())
        p.stdin.write(c)
        p.stdin.flush()
        time.sleep(0.05)
    p.stdin.close()
threading.Thread(target=writer).start()
got, lat = b"", []
while True:
    b = p.stdout.read1(65536)
    if not b:
        break
    got += b
    now = time.monotonic()
    while len(lat) < len(got) // 100:
        lat.append((now - sent[len(lat)]) * 1000)
if got != b"".join(chunks) or p.wait() != 0:
    sys.exit("output differs from input or the filter failed")
print("%d %d %d" % (min(lat), max(lat), (time.monotonic() - sent[0]) * 1000))
EOF
	timeout 30 python3 "$T/lat.py" "$@"
}

# write_sizes STRACE-FILE: the sizes of the writes to fd 1, one a line.
write_sizes() {
	sed -nE 's/^([0-9]+ +)?write\(1, .*\) += ([0-9]+)$/\2/p' "$1"
}

@test "fault-delay 200ms: every chunk at least 200 ms late, at most 600 ms" {
	run --separate-stderr latency "$F/fault-delay" 200ms
	assert_success
	read -r min max total <<<"$output"
	((min >= 200)) || fail "a chunk came after ${min} ms"
	((max <= 600)) || fail "a chunk came after ${max} ms"
}

@test "fault-delay: delays overlap instead of adding up (10 chunks, 0.45 s apart, 300 ms each)" {
	run --separate-stderr latency "$F/fault-delay" -d 300
	assert_success
	read -r min max total <<<"$output"
	# Serialized delays would take 10 x 300 ms; the EOF came at 450 ms.
	((total >= 750 && total < 2000)) || fail "took ${total} ms"
}

@test "fault-delay -j: latency between the delay and 3x delay plus jitter" {
	run --separate-stderr latency "$F/fault-delay" -d 100 -j 100ms --seed 7
	assert_success
	read -r min max total <<<"$output"
	((min >= 100)) || fail "a chunk came after ${min} ms"
	((max <= 600)) || fail "a chunk came after ${max} ms"
}

@test "fault-delay: EOF passes through, delayed too; one log line" {
	start=$(date +%s%N)
	printf hello | timeout 10 "$F/fault-delay" 300ms >"$T/out" 2>"$T/err"
	elapsed=$(ms_since "$start")
	assert_equal "$(cat "$T/out")" hello
	((elapsed >= 300 && elapsed <= 900)) || fail "took ${elapsed} ms"
	assert_equal "$(cat "$T/err")" "fault-delay: delay 300ms"
}

@test "fault-delay inline-style: a 200 ms echo service round trip over TCP" {
	start_tcptap 127.0.0.1:0 -- "$F/fault-delay" 200ms
	start=$(date +%s%N)
	# Timed to the echo, not to the EOF (which is delayed too).
	run peer -o "$T/got" connect "127.0.0.1:$tap_port" send=hello recv=5
	elapsed=$(ms_since "$start")
	assert_success
	assert_equal "$(cat "$T/got")" hello
	((elapsed >= 200 && elapsed <= 600)) || fail "took ${elapsed} ms"
}

@test "fault-throttle 256k: 512 KiB at most 10% above the rate, at least a third of it" {
	random_file "$T/in" 512K
	start=$(date +%s%N)
	timeout 30 "$F/fault-throttle" 256k <"$T/in" >"$T/out" 2>"$T/err"
	elapsed=$(ms_since "$start")
	assert_same_file "$T/in" "$T/out"
	rate=$((524288 * 1000 / elapsed))
	((rate <= 262144 * 11 / 10)) || fail "$rate bytes/s in ${elapsed} ms"
	((rate >= 262144 / 3)) || fail "$rate bytes/s in ${elapsed} ms"
	assert_equal "$(cat "$T/err")" \
	    "fault-throttle: throttle to 262144 bytes/s, burst 13107"
}

@test "fault-throttle inline-style: a 64 KiB/s echo service, 128 KiB round trip" {
	start_tcptap 127.0.0.1:0 -- "$F/fault-throttle" -r 64k
	random_file "$T/in" 128K
	start=$(date +%s%N)
	run peer -o "$T/got" connect "127.0.0.1:$tap_port" "file=$T/in" shut eof
	elapsed=$(ms_since "$start")
	assert_success
	assert_same_file "$T/in" "$T/got"
	rate=$((131072 * 1000 / elapsed))
	((rate <= 65536 * 11 / 10 && rate >= 65536 / 3)) ||
	    fail "$rate bytes/s in ${elapsed} ms"
}

@test "fault-slice -s 7: output is the input, no write larger than 7 bytes" {
	command -v strace >/dev/null || skip "strace is not installed"
	random_file "$T/in" 20000
	timeout 30 env ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace -o "$T/trace" -e trace=write \
	    "$F/fault-slice" -s 7 <"$T/in" >"$T/out" 2>/dev/null
	assert_same_file "$T/in" "$T/out"
	write_sizes "$T/trace" >"$T/sizes"
	assert_equal "$(awk '{ n += $1 } END { print n }' "$T/sizes")" 20000
	assert_equal "$(awk '$1 > 7' "$T/sizes" | wc -l)" 0
	(($(wc -l <"$T/sizes") >= 2858)) || fail "too few writes"
}

@test "fault-slice -p 50: 20 bytes in writes of 2 take 9 pauses (450 ms to 1350 ms)" {
	printf 0123456789abcdefghij >"$T/in"
	start=$(date +%s%N)
	timeout 10 "$F/fault-slice" -s 2 -p 50ms <"$T/in" >"$T/out" 2>"$T/err"
	elapsed=$(ms_since "$start")
	assert_same_file "$T/in" "$T/out"
	((elapsed >= 450 && elapsed <= 1350)) || fail "took ${elapsed} ms"
	assert_equal "$(cat "$T/err")" \
	    "fault-slice: slice into writes of 2 bytes, pause 50ms"
}

@test "fault-slice -R --seed: sizes vary within 1..N, the same for the same seed" {
	command -v strace >/dev/null || skip "strace is not installed"
	random_file "$T/in" 5000
	for i in 1 2; do
		timeout 30 env ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace -o "$T/trace$i" -e trace=write \
		    "$F/fault-slice" -R -s 64 --seed 42 <"$T/in" >"$T/out$i" \
		    2>/dev/null
		assert_same_file "$T/in" "$T/out$i"
		write_sizes "$T/trace$i" >"$T/sizes$i"
	done
	cmp "$T/sizes1" "$T/sizes2" || fail "the same seed gave other sizes"
	assert_equal "$(awk '$1 > 64 || $1 < 1' "$T/sizes1" | wc -l)" 0
	(($(sort -u "$T/sizes1" | wc -l) > 10)) || fail "sizes hardly vary"
}

@test "fault-cut -n 1000: exactly 1000 bytes, then EOF, exit 0" {
	random_file "$T/in" 100K
	run --separate-stderr bash -c \
	    "'$F/fault-cut' -n 1000 <'$T/in' >'$T/out'"
	assert_success
	assert_equal "$(stat -c %s "$T/out")" 1000
	cmp -n 1000 "$T/in" "$T/out" || fail "the 1000 bytes differ"
	assert_equal "$stderr" "fault-cut: cut after 1000 bytes: close"
}

@test "fault-cut -m reset: exactly N bytes, then exit 99 (the reset convention)" {
	random_file "$T/in" 100K
	run --separate-stderr bash -c \
	    "'$F/fault-cut' -m reset -n 4k <'$T/in' >'$T/out'"
	assert_equal "$status" 99
	assert_equal "$(stat -c %s "$T/out")" 4096
	assert_equal "$stderr" "fault-cut: cut after 4096 bytes: reset"
}

@test "fault-cut -m silent: N bytes, then reads on without forwarding until EOF" {
	random_file "$T/in" 100K
	start=$(date +%s%N)
	{ cat "$T/in"; sleep 1; } | timeout 10 "$F/fault-cut" -m silent -n 100 \
	    >"$T/out" 2>"$T/err"
	status=$?
	elapsed=$(ms_since "$start")
	assert_equal "$status" 0
	assert_equal "$(stat -c %s "$T/out")" 100
	# It waited for the EOF that came a second later.
	((elapsed >= 900)) || fail "exited after ${elapsed} ms, before EOF"
	assert_equal "$(cat "$T/err")" "fault-cut: cut after 100 bytes: silent"
}

@test "fault-cut: EOF before N bytes passes everything and is no fault" {
	random_file "$T/in" 500
	run --separate-stderr bash -c \
	    "'$F/fault-cut' -m reset -n 1000 <'$T/in' >'$T/out'"
	assert_success
	assert_same_file "$T/in" "$T/out"
	assert_equal "$stderr" ""
}

@test "fault-cut -n LO-HI --seed: the same cut point for the same seed, within the range" {
	random_file "$T/in" 10K
	for i in 1 2; do
		"$F/fault-cut" -n 100-5000 --seed 9 <"$T/in" >"$T/out$i" 2>/dev/null
	done
	n=$(stat -c %s "$T/out1")
	((n >= 100 && n <= 5000)) || fail "cut after $n bytes"
	assert_equal "$(stat -c %s "$T/out2")" "$n"
}

@test "fault-cut inline-style: a client of an echo service gets exactly N bytes, then EOF" {
	start_tcptap 127.0.0.1:0 -- "$F/fault-cut" -n 3000
	random_file "$T/in" 64K
	run peer -o "$T/got" connect "127.0.0.1:$tap_port" "file=$T/in" eof
	assert_equal "$(stat -c %s "$T/got")" 3000
	cmp -n 3000 "$T/in" "$T/got" || fail "the 3000 bytes differ"
	wait_log "$T/tap.err" '^fault-cut: cut after 3000 bytes: close$'
}

@test "fault-corrupt -n 100: every 100th byte has one bit flipped, each one logged" {
	random_file "$T/in" 10000
	"$F/fault-corrupt" -n 100 <"$T/in" >"$T/out" 2>"$T/err"
	assert_equal "$(stat -c %s "$T/out")" 10000
	# cmp -l: 1-based offset, old and new in octal; the log: 0-based, hex.
	cmp -l "$T/in" "$T/out" >"$T/diff" || true
	while read -r off old new; do
		x=$((8#$old ^ 8#$new))
		# One bit each: old XOR new is a power of two.
		((x != 0 && (x & (x - 1)) == 0)) ||
		    fail "byte $off: $old -> $new (octal) is not one bit"
		printf 'fault-corrupt: flip at byte %d: 0x%02x -> 0x%02x\n' \
		    $((off - 1)) $((8#$old)) $((8#$new))
	done <"$T/diff" >"$T/expect"
	assert_equal "$(wc -l <"$T/expect")" 100
	cmp "$T/expect" "$T/err" ||
	    fail "log and flips differ: $(diff "$T/expect" "$T/err" | head)"
}

@test "fault-corrupt -r: flips logged up to 100 lines, summary count is the bytes that differ" {
	random_file "$T/in" 1M
	"$F/fault-corrupt" -r 0.001 --seed 42 <"$T/in" >"$T/out" 2>"$T/err"
	differ=$(cmp -l "$T/in" "$T/out" | wc -l)
	((differ > 100)) || fail "only $differ bytes flipped"
	assert_equal "$(grep -c ': flip at byte ' "$T/err")" 100
	grep -q 'more flips than -l 100: counting them only' "$T/err" ||
	    fail "no log limit line: $(tail -3 "$T/err")"
	assert_equal "$(tail -1 "$T/err")" \
	    "fault-corrupt: $differ bytes flipped of 1048576 (seed 42)"
}

@test "fault-corrupt --seed: the same seed corrupts the same way, another seed not" {
	random_file "$T/in" 256K
	"$F/fault-corrupt" -r 0.01 --seed 1 <"$T/in" >"$T/a" 2>/dev/null
	"$F/fault-corrupt" -r 0.01 --seed 1 <"$T/in" >"$T/b" 2>/dev/null
	"$F/fault-corrupt" -r 0.01 --seed 2 <"$T/in" >"$T/c" 2>/dev/null
	assert_same_file "$T/a" "$T/b"
	! cmp -s "$T/a" "$T/in" || fail "nothing was flipped"
	! cmp -s "$T/a" "$T/c" || fail "seeds 1 and 2 flipped the same bytes"
}

@test "fault-corrupt inline-style: what the echo client gets differs by the logged flips" {
	start_tcptap 127.0.0.1:0 -- sh -c "'$F/fault-corrupt' -r 0.0005 --seed 3 | cat"
	random_file "$T/in" 100K
	run peer -o "$T/got" connect "127.0.0.1:$tap_port" "file=$T/in" shut eof
	assert_success
	assert_equal "$(stat -c %s "$T/got")" 102400
	differ=$(cmp -l "$T/in" "$T/got" | wc -l)
	((differ > 0)) || fail "nothing was flipped"
	wait_for 10 "[ \$(grep -c '^fault-corrupt: flip at byte ' '$T/tap.err') -eq $differ ]"
}

@test "fault-*: no fault given, or a bad one, is a usage error (exit 2)" {
	for cmd in "fault-delay" "fault-delay 10x" "fault-delay -j 5" \
	    "fault-throttle" "fault-throttle -r 0" "fault-throttle 1q" \
	    "fault-slice -s 0" "fault-slice extra" "fault-cut" \
	    "fault-cut -n 1 -m drop" "fault-cut -n 9-3" "fault-corrupt" \
	    "fault-corrupt -n 5 -r 0.1" "fault-corrupt -r 1.5" \
	    "fault-delay 5 --seed x"; do
		run --separate-stderr $F/$cmd </dev/null
		[ "$status" -eq 2 ] || fail "$cmd exited $status"
		[[ "$stderr" == *"usage: ${cmd%% *} "* ]] ||
		    fail "$cmd printed no usage: $stderr"
	done
}
