#!/usr/bin/env bats
# The fault matrix: whatever the peers, the taps or the operator do, the
# relay loses no byte, hangs on nothing and never crashes.

load test_helper

TAPCAT=$ROOT/bin/tap-cat

# relay_children: the pids of the listener's relays.
relay_children() {
	ps -o pid= --ppid "$tap_pid" | tr -d ' '
}

@test "faults: 16 connections, 32 MiB each way, a tap on each: wire and taps exact (1 GiB; 4 GiB long)" {
	heavy
	mkdir "$T/taps"
	start_server srv 127.0.0.1:0 echo
	start_tcptap -t "'$TAPCAT' -o '$T/taps/'\$TCPTAP_SID" 127.0.0.1:0 \
	    "127.0.0.1:$srv_port"
	random_file "$T/data" "$(long_size 32M 128M)"
	pids=()
	for i in $(seq 16); do
		bg "c$i" "$PEER" -o "$T/got.$i" connect "127.0.0.1:$tap_port" \
		    "file=$T/data" shut eof
		pids+=("$!")
	done
	for i in $(seq 16); do
		wait_exit "${pids[i - 1]}" 120
		assert_equal "$exit_status" 0
		assert_same_file "$T/data" "$T/got.$i"
	done
	stop_tcptap 60
	assert_equal "$(ls "$T/taps" | wc -l)" 32
	for f in "$T"/taps/*; do
		assert_same_file "$T/data" "$f"
	done
}

@test "faults: both sides half-close at once; each still gets the other's bytes" {
	start_server1 srv 127.0.0.1:0 send=world shut eof
	start_tcptap 127.0.0.1:0 "127.0.0.1:$srv_port"
	run peer -o "$T/got" connect "127.0.0.1:$tap_port" send=hello shut eof
	assert_success
	wait_exit "$srv_pid"
	assert_equal "$(cat "$T/got")" world
	assert_equal "$(cat "$T/srv.data")" hello
	wait_log "$T/tap.err" '^tcptap: close .*reason=eof .*c2s_bytes=5 s2c_bytes=5'
}

@test "faults: a server that never reads: backpressure holds, relay memory stays bounded" {
	start_server1 srv 127.0.0.1:0 wait="$T/never"
	start_tcptap 127.0.0.1:0 "127.0.0.1:$srv_port"
	random_file "$T/data" 256M
	bg client "$PEER" connect "127.0.0.1:$tap_port" "file=$T/data" shut eof
	wait_log "$T/tap.err" '^tcptap: open '
	relay=$(relay_children)
	# The socket buffers and the relay's pipe fill, then everything stops.
	sleep 2
	rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$relay/status")
	((rss < 16384)) || fail "relay RSS ${rss} kB"
	kill -0 "$client_pid" || fail "the client finished: nothing held it back"
}

@test "faults: a server that closes before reading: the client learns it, the relay logs the end" {
	start_server srv 127.0.0.1:0
	start_tcptap 127.0.0.1:0 "127.0.0.1:$srv_port"
	random_file "$T/data" 8M
	run peer connect "127.0.0.1:$tap_port" "file=$T/data" shut eof
	assert_output --regexp 'end=(eof|reset)$'
	wait_log "$T/tap.err" '^tcptap: close .*reason=(eof|reset) '
	kill -0 "$tap_pid"
}

@test "faults: a client that connects and sends nothing" {
	start_server1 srv 127.0.0.1:0 send=hi shut eof
	start_tcptap 127.0.0.1:0 "127.0.0.1:$srv_port"
	run peer connect "127.0.0.1:$tap_port" recv=2 shut eof
	assert_success
	wait_log "$T/tap.err" '^tcptap: close .*reason=eof .*c2s_bytes=0 s2c_bytes=2'
}

@test "faults: a flood of 5 x -c: none dropped, never more than -c served at once" {
	start_server srv 127.0.0.1:0 echo
	start_tcptap -c 4 127.0.0.1:0 "127.0.0.1:$srv_port"
	random_file "$T/data" 1M
	pids=()
	for i in $(seq 20); do
		bg "c$i" "$PEER" -o "$T/got.$i" connect "127.0.0.1:$tap_port" \
		    wait="$T/go" "file=$T/data" shut eof
		pids+=("$!")
	done
	# The first four are served and hold on; the rest wait their turn.
	wait_for 10 "[ \"\$(log_count '$T/tap.err' '^tcptap: open ')\" -eq 4 ]"
	touch "$T/go"
	for i in $(seq 20); do
		wait_exit "${pids[i - 1]}" 60
		assert_equal "$exit_status" 0
		assert_same_file "$T/data" "$T/got.$i"
	done
	wait_for 10 "[ \"\$(log_count '$T/tap.err' '^tcptap: close ')\" -eq 20 ]"
	# Log lines are single writes in order: count the live ones.
	run awk '/^tcptap: open / { n++; if (n > max) max = n }
	    /^tcptap: close / { n-- } END { print max }' "$T/tap.err"
	assert_output 4
}

@test "faults: SIGTERM under load ends every connection within the deadline, exit 0, no relay left" {
	start_server srv 127.0.0.1:0 echo
	start_tcptap -T 1 127.0.0.1:0 "127.0.0.1:$srv_port"
	for i in $(seq 8); do
		bg "c$i" "$PEER" connect "127.0.0.1:$tap_port" send=x wait="$T/never" eof
	done
	wait_for 10 "[ \"\$(log_count '$T/tap.err' '^tcptap: open ')\" -eq 8 ]"
	relays=$(relay_children)
	start=$(date +%s%N)
	stop_tcptap 10
	assert_equal "$exit_status" 0
	(($(ms_since "$start") < 4000)) || fail "drain took $(ms_since "$start") ms"
	assert_equal "$(log_count "$T/tap.err" '^tcptap: close .*reason=shutdown by=relay')" 8
	for pid in $relays; do
		! kill -0 "$pid" 2>/dev/null || fail "relay $pid still running"
	done
}

@test "faults: SIGKILL of one relay leaves the other connections exact" {
	start_server srv 127.0.0.1:0 echo
	start_tcptap 127.0.0.1:0 "127.0.0.1:$srv_port"
	random_file "$T/data" 16M
	pids=()
	for i in $(seq 5); do
		bg "c$i" "$PEER" -o "$T/got.$i" connect "127.0.0.1:$tap_port" \
		    wait="$T/go" "file=$T/data" shut eof
		pids+=("$!")
	done
	wait_for 10 "[ \"\$(log_count '$T/tap.err' '^tcptap: open ')\" -eq 5 ]"
	victim=$(relay_children | head -n 1)
	kill -KILL "$victim"
	touch "$T/go"
	ok=0
	for i in $(seq 5); do
		wait_exit "${pids[i - 1]}" 60
		if cmp -s "$T/data" "$T/got.$i"; then ok=$((ok + 1)); fi
	done
	assert_equal "$ok" 4
	kill -0 "$tap_pid"
}

# mutate IN OUT SEED: OUT is IN with a few bytes flipped, a cut, or a
# huge number spliced in, chosen by SEED.
mutate() {
	local size=$(stat -c %s "$1") off
	RANDOM=$3
	cp "$1" "$2"
	case $((RANDOM % 3)) in
	0)	for _ in 1 2 3; do
			off=$(((RANDOM * 32768 + RANDOM) % size))
			printf "\\$(printf %03o $((RANDOM % 256)))" |
			    dd of="$2" bs=1 seek="$off" conv=notrunc status=none
		done ;;
	1)	truncate -s $(((RANDOM * 32768 + RANDOM) % size)) "$2" ;;
	2)	off=$(((RANDOM * 32768 + RANDOM) % size))
		printf '99999999999' |
		    dd of="$2" bs=1 seek="$off" conv=notrunc status=none ;;
	esac
}

@test "faults: mutated inputs into every filter: a clear error or success, never a crash or hang" {
	"$ROOT/tests/bin/tt-tapgen" -h >/dev/null 2>&1 || true
	# A real recorded stream to start from.
	start_server srv 127.0.0.1:0 echo
	start_tcptap -t "cat > '$T/stream'" 127.0.0.1:0 "127.0.0.1:$srv_port"
	printf '\0\0\0\005hello\0\0\0\003abc' >"$T/framed"
	run peer connect "127.0.0.1:$tap_port" "file=$T/framed" shut eof
	stop_tcptap
	"$ROOT/bin/tap-tsv" <"$T/stream" >"$T/rec.tsv"
	filters=(tap-cat tap-hexdump "tap-frame -H 4" tap-json tap-pcap tap-tsv)
	for seed in $(seq 1 25); do
		mutate "$T/stream" "$T/m" "$seed"
		for f in "${filters[@]}"; do
			run timeout 10 $ROOT/bin/$f <"$T/m"
			((status <= 1)) ||
			    fail "$f on mutation $seed exited $status: $output"
			((status == 0)) || [[ "$output" == *"record "* ]] ||
			    fail "$f on mutation $seed: unclear error: $output"
		done
		mutate "$T/rec.tsv" "$T/mt" "$seed"
		run timeout 10 "$ROOT/bin/tap-tsv" -d "$T/mt"
		((status <= 1)) || fail "tap-tsv -d on mutation $seed exited $status"
		((status == 0)) || [[ "$output" == *"mt:"* ]] ||
		    fail "tap-tsv -d on mutation $seed: unclear error: $output"
	done
}
