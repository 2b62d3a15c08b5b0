#!/usr/bin/env bats
# share/tcptap/tcptap.bash, used the way a user's own test suite would:
# record a real session once, then test a client against the recording.

load test_helper
load ../share/tcptap/tcptap.bash

setup() {
	T=$BATS_TEST_TMPDIR
	export TCPTAP_BINDIR=$ROOT/bin
	command -v redis-server >/dev/null || skip "redis-server not installed"
	redis-server --port 0 --unixsocket "$T/redis.sock" --save '' \
	    --appendonly no 3>&- >/dev/null 2>&1 &
	REDIS_PID=$!
	wait_for 10 "redis-cli -s '$T/redis.sock' ping >/dev/null 2>&1"
}

teardown() {
	tcptap_stop
	kill "$REDIS_PID" 2>/dev/null || true
	wait "$REDIS_PID" 2>/dev/null || true
}

@test "userhelper: a recording relay records what redis-cli and Redis said" {
	tcptap_record_relay "unix:$T/redis.sock"
	run redis-cli -p "$TCPTAP_PORT" set greeting hello
	assert_output OK
	tcptap_stop

	tcptap_assert_sent c2s greeting
	tcptap_assert_sent s2c '+OK'
	tcptap_refute_sent c2s FLUSHALL
	run tcptap_refute_sent c2s greeting
	assert_failure
}

@test "userhelper: a replay server answers redis-cli as the recording says, without Redis" {
	tcptap_record_relay "unix:$T/redis.sock"
	redis-cli -p "$TCPTAP_PORT" set greeting hello
	run redis-cli -p "$TCPTAP_PORT" get greeting
	assert_output hello
	tcptap_stop
	kill "$REDIS_PID"
	recording=$(ls "$TCPTAP_RECORDING"/*.tsv | tail -n 1)
	grep -q "$(printf get | od -An -tx1 | tr -d ' \n')" "$recording"

	tcptap_replay_server -H 0 --timing none "$recording"
	run redis-cli -p "$TCPTAP_PORT" get greeting
	assert_output hello
}

@test "userhelper: tcptap_stop stops everything it started, by PID" {
	tcptap_record_relay "unix:$T/redis.sock"
	pids=("${TCPTAP_PIDS[@]}")
	tcptap_stop
	for pid in "${pids[@]}"; do
		! kill -0 "$pid" 2>/dev/null || fail "process $pid still running"
	done
	assert_equal "${#TCPTAP_PIDS[@]}" 0
}
