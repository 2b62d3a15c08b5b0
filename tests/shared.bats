#!/usr/bin/env bats
# --shared-tap: one program for all sessions, fed whole records.

load test_helper

TAPCAT=$ROOT/bin/tap-cat
HEXDUMP=$ROOT/bin/tap-hexdump

# twenty_clients: 20 concurrent clients through $tap_port, each sending
# its own 1 MiB file in.N and getting the echo in got.N.
twenty_clients() {
	local i pids=()
	for i in $(seq 20); do
		random_file "$T/in.$i" 1M
		bg "c$i" "$PEER" -o "$T/got.$i" connect "127.0.0.1:$tap_port" \
		    "file=$T/in.$i" shut eof
		pids+=("$!")
	done
	for i in $(seq 20); do
		wait_exit "${pids[i - 1]}" 60
		assert_equal "$exit_status" 0
		assert_same_file "$T/in.$i" "$T/got.$i"
	done
}

@test "shared: 20 concurrent sessions into one tap, each session's bytes exact" {
	start_server srv 127.0.0.1:0 echo
	start_tcptap --shared-tap "cat > '$T/all'" 127.0.0.1:0 "127.0.0.1:$srv_port"
	twenty_clients
	stop_tcptap
	assert_equal "$exit_status" 0

	sids=$("$HEXDUMP" <"$T/all" | awk '$4 == "open" { print $2 }')
	assert_equal "$(wc -w <<<"$sids")" 20
	for sid in $sids; do
		"$TAPCAT" -s "$sid" -d c2s <"$T/all" >"$T/c2s"
		"$TAPCAT" -s "$sid" -d s2c <"$T/all" >"$T/s2c"
		cmp "$T/c2s" "$T/s2c"
		found=
		for i in $(seq 20); do
			cmp -s "$T/c2s" "$T/in.$i" && found=$i
		done
		[ -n "$found" ] || fail "session $sid matches no client's data"
	done
}

@test "shared: one tap-hexdump for 20 sessions parses every record" {
	start_server srv 127.0.0.1:0 echo
	start_tcptap --shared-tap "'$HEXDUMP' > '$T/dump'; echo \$? > '$T/status'" \
	    127.0.0.1:0 "127.0.0.1:$srv_port"
	twenty_clients
	stop_tcptap
	wait_file "$T/status"
	assert_equal "$(cat "$T/status")" 0
	assert_equal "$(grep -c '^# [^ ]* [^ ]* open ' "$T/dump")" 20
	assert_equal "$(grep -c '^# [^ ]* [^ ]* close .*reason=eof' "$T/dump")" 20
}

@test "shared: one tap-json | jq for 20 sessions gives 20 conn summaries" {
	[ -x "$ROOT/bin/tap-json" ] || skip "tap-json not built"
	start_server srv 127.0.0.1:0 echo
	start_tcptap --shared-tap "'$ROOT/bin/tap-json' | jq -c 'select(.kind == \"conn\")' > '$T/conns'" \
	    127.0.0.1:0 "127.0.0.1:$srv_port"
	twenty_clients
	stop_tcptap
	assert_equal "$(wc -l <"$T/conns")" 20
	run jq -s 'map(.orig_bytes) | unique' "$T/conns"
	assert_output --regexp '^\[[[:space:]]*1048576[[:space:]]*\]$'
}

@test "shared: a shared tap that exits is logged once; relaying goes on, exact" {
	start_server srv 127.0.0.1:0 echo
	start_tcptap --shared-tap 'exit 0' 127.0.0.1:0 "127.0.0.1:$srv_port"
	twenty_clients
	wait_log "$T/tap.err" '^tcptap: tap shared .*dropped'
	assert_equal "$(log_count "$T/tap.err" 'dropped')" 1
}

@test "shared: with --inetd the shared tap is the one connection's tap" {
	start_server srv 127.0.0.1:0 echo
	port=$("$PEER" freeport)
	bg act systemd-socket-activate -l "127.0.0.1:$port" -a --inetd \
	    "$TCPTAP" --inetd --shared-tap "cat > '$T/one'" "127.0.0.1:$srv_port"
	wait_for 10 "ss -Hltn 'sport = :$port' | grep -q LISTEN"
	run peer connect "127.0.0.1:$port" send=hello recv=5 shut eof
	assert_success
	wait_for 10 "[ -s '$T/one' ] && grep -qa 'tap1 close' '$T/one'"
	run "$TAPCAT" -d c2s <"$T/one"
	assert_output hello
}
