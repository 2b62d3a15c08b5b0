#!/usr/bin/env bats
# Taps: each connection's bytes, both directions in order, as a tap stream.

load test_helper

TAPCAT=$ROOT/bin/tap-cat

# headers FILE: "KIND DIR LEN" for each record of a text-only stream,
# read as a filter would: 64 header bytes, then LEN payload bytes.
headers() {
	local LC_ALL=C hdr payload
	while IFS= read -r -N 64 hdr; do
		set -- $hdr
		echo "$2 $5 $6"
		[ "$6" -eq 0 ] || IFS= read -r -N "$6" payload
	done <"$1"
}

@test "taps: tap bytes equal wire bytes both ways on a 64 MiB exchange" {
	heavy
	random_file "$T/c2s" 32M
	random_file "$T/s2c" 32M
	start_server1 srv 127.0.0.1:0 "file=$T/s2c" shut eof
	start_tcptap -t "cat > '$T/stream'" 127.0.0.1:0 "127.0.0.1:$srv_port"

	run peer -o "$T/got" connect "127.0.0.1:$tap_port" "file=$T/c2s" shut eof
	assert_success
	wait_log "$T/tap.err" '^tcptap: close '
	stop_tcptap
	assert_same_file "$T/s2c" "$T/got"
	"$TAPCAT" -d c2s <"$T/stream" >"$T/tap.c2s"
	"$TAPCAT" -d s2c <"$T/stream" >"$T/tap.s2c"
	assert_same_file "$T/c2s" "$T/tap.c2s"
	assert_same_file "$T/s2c" "$T/tap.s2c"
}

@test "taps: every header is 64 bytes and the stream is open, data, shut, data, shut, close" {
	start_server1 srv 127.0.0.1:0 recv=5 send=world shut eof
	start_tcptap -t "cat > '$T/stream'" 127.0.0.1:0 "127.0.0.1:$srv_port"

	run peer connect "127.0.0.1:$tap_port" send=hello eof shut
	assert_success
	stop_tcptap
	run headers "$T/stream"
	assert_line --index 0 --regexp '^open - [0-9]+$'
	assert_line --index 1 'data c2s 5'
	assert_line --index 2 'data s2c 5'
	assert_line --index 3 'shut s2c 0'
	assert_line --index 4 'shut c2s 0'
	assert_line --index 5 --regexp '^close - [0-9]+$'
	# Six 64-byte headers and their payloads make up the whole stream.
	total=$(headers "$T/stream" | awk '{ n += 64 + $3 } END { print n }')
	assert_equal "$total" "$(stat -c %s "$T/stream")"
	run grep -a -E '^(client|server|listen)=' "$T/stream"
	assert_line --index 0 --regexp '^client=127\.0\.0\.1:[0-9]+$'
	assert_line --index 1 "server=127.0.0.1:$srv_port"
	assert_line --index 2 "listen=127.0.0.1:$tap_port"
	run grep -a -E '^(reason|by|c2s_bytes|s2c_bytes)=' "$T/stream"
	assert_output "reason=eof
by=server
c2s_bytes=5
s2c_bytes=5"
}

@test "taps: a client reset ends the stream with close reason=reset by=client" {
	start_server1 srv 127.0.0.1:0 eof
	start_tcptap -t "cat > '$T/stream'" 127.0.0.1:0 "127.0.0.1:$srv_port"

	run peer connect "127.0.0.1:$tap_port" send=hello reset
	wait_exit "$srv_pid"
	stop_tcptap
	run headers "$T/stream"
	assert_line --index 0 --partial 'open - '
	assert_line --index -1 --partial 'close - '
	run grep -a -E '^(reason|by)=' "$T/stream"
	assert_output "reason=reset
by=client"
}

@test "taps: an idle timeout ends the stream with close reason=timeout by=relay" {
	start_server1 srv 127.0.0.1:0 eof
	start_tcptap -w 1 -t "cat > '$T/stream'" 127.0.0.1:0 "127.0.0.1:$srv_port"

	run peer connect "127.0.0.1:$tap_port" send=hi eof
	assert_success
	stop_tcptap
	run grep -a -E '^(reason|by)=' "$T/stream"
	assert_output "reason=timeout
by=relay"
}

@test "taps: a refused target still gives the tap open (no server=) and close reason=error" {
	port=$("$PEER" freeport)
	start_tcptap -t "cat > '$T/stream'" 127.0.0.1:0 "127.0.0.1:$port"

	run peer connect "127.0.0.1:$tap_port" eof
	wait_log "$T/tap.err" '^tcptap: fail '
	stop_tcptap
	run headers "$T/stream"
	assert_line --index 0 --partial 'open - '
	assert_line --index 1 --partial 'close - '
	run grep -a -c '^server=' "$T/stream"
	assert_output 0
	run grep -a '^reason=' "$T/stream"
	assert_output 'reason=error'
}

@test "taps: two taps get byte-identical streams" {
	random_file "$T/data" 4M
	start_server srv 127.0.0.1:0 echo
	start_tcptap -t "cat > '$T/one'" -t "cat > '$T/two'" 127.0.0.1:0 \
	    "127.0.0.1:$srv_port"

	run peer connect "127.0.0.1:$tap_port" "file=$T/data" shut eof
	assert_success
	stop_tcptap
	cmp "$T/one" "$T/two"
	"$TAPCAT" -d s2c <"$T/one" >"$T/echoed"
	assert_same_file "$T/data" "$T/echoed"
}

@test "taps: a tap that exits at once is dropped with one log line; the connection is exact" {
	random_file "$T/data" 4M
	start_server srv 127.0.0.1:0 echo
	start_tcptap -t true 127.0.0.1:0 "127.0.0.1:$srv_port"

	run peer -o "$T/got" connect "127.0.0.1:$tap_port" "file=$T/data" shut eof
	assert_success
	assert_same_file "$T/data" "$T/got"
	wait_log "$T/tap.err" '^tcptap: close .*reason=eof'
	assert_equal "$(log_count "$T/tap.err" '^tcptap: tap sid=.* cmd="true" dropped')" 1
}

@test "taps: a tap that crashes mid-stream is dropped; the connection is exact" {
	random_file "$T/data" 8M
	start_server srv 127.0.0.1:0 echo
	start_tcptap -t 'head -c 100000 >/dev/null; kill -SEGV $$' 127.0.0.1:0 \
	    "127.0.0.1:$srv_port"

	run peer -o "$T/got" connect "127.0.0.1:$tap_port" "file=$T/data" shut eof
	assert_success
	assert_same_file "$T/data" "$T/got"
	wait_log "$T/tap.err" '^tcptap: close .*reason=eof'
	wait_log "$T/tap.err" '^tcptap: tap sid=.* dropped'
}

@test "taps: a tap that never reads is dropped after --tap-timeout; the connection is exact" {
	random_file "$T/data" 4M
	start_server srv 127.0.0.1:0 echo
	start_tcptap --tap-timeout 1 -t 'exec sleep 60' 127.0.0.1:0 \
	    "127.0.0.1:$srv_port"

	start=$(date +%s%N)
	run peer -o "$T/got" connect "127.0.0.1:$tap_port" "file=$T/data" shut eof
	assert_success
	assert_same_file "$T/data" "$T/got"
	wait_log "$T/tap.err" '^tcptap: tap sid=.* dropped: took nothing for --tap-timeout'
	(($(ms_since "$start") < 10000))
}

@test "taps: a slow tap slows the connection but loses nothing, and its stream stays whole" {
	random_file "$T/data" 8M
	start_server srv 127.0.0.1:0 echo
	start_tcptap -t "sleep 1; cat > '$T/stream'" 127.0.0.1:0 "127.0.0.1:$srv_port"

	start=$(date +%s%N)
	run peer -o "$T/got" connect "127.0.0.1:$tap_port" "file=$T/data" shut eof
	assert_success
	(($(ms_since "$start") >= 900)) || fail "the connection did not wait for the tap"
	stop_tcptap
	"$ROOT/bin/tap-hexdump" -n 0 <"$T/stream" >/dev/null
	"$TAPCAT" -d c2s <"$T/stream" >"$T/tap.c2s"
	"$TAPCAT" -d s2c <"$T/stream" >"$T/tap.s2c"
	assert_same_file "$T/data" "$T/tap.c2s"
	assert_same_file "$T/data" "$T/tap.s2c"
}

@test "taps: --tap-policy drop: traffic never waits, the tap gets exact gap counts" {
	random_file "$T/data" 8M
	start_server srv 127.0.0.1:0 echo
	start_tcptap --tap-policy drop -t "sleep 2; cat > '$T/stream'" \
	    127.0.0.1:0 "127.0.0.1:$srv_port"

	start=$(date +%s%N)
	run peer -o "$T/got" connect "127.0.0.1:$tap_port" "file=$T/data" shut eof
	assert_success
	(($(ms_since "$start") < 1500)) || fail "the connection waited for the tap"
	assert_same_file "$T/data" "$T/got"
	stop_tcptap
	# Per direction, the bytes the tap saw plus the gaps it was told of
	# are exactly the bytes on the wire.
	for dir in c2s s2c; do
		run bash -c "'$ROOT/bin/tap-json' --no-data < '$T/stream' | jq -s \
		    '[.[] | select(.dir == \"$dir\") | if .kind == \"gap\" then .bytes elif .kind == \"data\" then .len else 0 end] | add'"
		assert_output 8388608
	done
	run bash -c "'$ROOT/bin/tap-json' --no-data < '$T/stream' | jq -s '[.[] | select(.kind == \"gap\")] | length'"
	[ "$output" -ge 1 ]
}

@test "taps: 20 concurrent sessions each write their own file, all exact" {
	mkdir "$T/rec"
	start_server srv 127.0.0.1:0 echo
	start_tcptap -t "cat > '$T/rec/'\$TCPTAP_SID" 127.0.0.1:0 "127.0.0.1:$srv_port"
	pids=()
	for i in $(seq 20); do
		random_file "$T/in.$i" 128K
		bg "c$i" "$PEER" -o "$T/got.$i" connect "127.0.0.1:$tap_port" \
		    "file=$T/in.$i" shut eof
		pids+=("$!")
	done
	for i in $(seq 20); do
		wait_exit "${pids[i - 1]}" 30
		assert_equal "$exit_status" 0
	done
	stop_tcptap
	assert_equal "$(ls "$T/rec" | wc -l)" 20
	for f in "$T"/rec/*; do
		sid=$(basename "$f")
		[ "$(head -c 10 "$f")" = "tap1 open " ]
		assert_equal "$(grep -a -c "tap1 close $sid " "$f")" 1
		"$TAPCAT" -d c2s <"$f" >"$T/c2s"
		"$TAPCAT" -d s2c <"$f" >"$T/s2c"
		cmp "$T/c2s" "$T/s2c"
		[ "$(stat -c %s "$T/c2s")" -eq 131072 ]
	done
}

@test "taps: in exec mode the tap sees PROG's conversation" {
	start_tcptap -t "cat > '$T/stream'" 127.0.0.1:0 -- cat

	run peer connect "127.0.0.1:$tap_port" send=hello recv=5 shut eof
	assert_success
	assert_output --regexp 'recv=5 end=eof$'
	stop_tcptap
	run headers "$T/stream"
	assert_line --index 0 --partial 'open - '
	assert_line --index 1 'data c2s 5'
	assert_line --index 2 'data s2c 5'
	assert_line --index -1 --partial 'close - '
	run grep -a '^prog=' "$T/stream"
	assert_output 'prog=cat'
}

@test "taps: the relay moves payload to taps by splice and tee only (strace)" {
	command -v strace >/dev/null || skip "strace not installed"
	# ASan's runtime reads /proc itself: the proof is the plain build's.
	[ -z "${SANITIZE:-}" ] || skip "sanitizer runtime does reads of its own"
	random_file "$T/data" 16M
	start_server srv 127.0.0.1:0 echo
	bg tap env ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace -f -o "$T/trace" -e trace=read,write,splice,tee,execve \
	    "$TCPTAP" -P "$T/tap.port" -t "cat > /dev/null" 127.0.0.1:0 \
	    "127.0.0.1:$srv_port"
	wait_file "$T/tap.port" 20
	tap_port=$(cat "$T/tap.port")

	run peer -o "$T/got" connect "127.0.0.1:$tap_port" "file=$T/data" shut eof
	assert_success
	assert_same_file "$T/data" "$T/got"
	# Stop tcptap itself (strace's child), then strace ends with it.
	kill -TERM "$(pgrep -P "$tap_pid")"
	wait_exit "$tap_pid" 20
	# Taps are the processes that exec a program (sh, cat); the ones
	# that never do are tcptap's listener and relay.
	taps=$(awk '/ execve\("/ && !/bin\/tcptap"/ { printf "%s|", $1 }' "$T/trace")
	run awk -v taps="^(${taps%|})\$" '
	    $1 !~ taps && $2 ~ /^(read|write)\(/ && $NF + 0 > 1024' "$T/trace"
	assert_output ''
	[ "$(grep -c ' tee(' "$T/trace")" -gt 0 ]
	[ "$(awk -v taps="^(${taps%|})\$" '$1 !~ taps && / splice\(/' "$T/trace" | wc -l)" -gt 0 ]
}
