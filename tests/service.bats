#!/usr/bin/env bats
# What a service manager and an operator see: readiness, process titles,
# resource exhaustion.

load test_helper

@test "service: with NOTIFY_SOCKET set, tcptap sends READY=1 once listening" {
	bg notify socat -u "UNIX-RECV:$T/notify.sock" STDOUT
	wait_for 10 "[ -S '$T/notify.sock' ]"
	start_server srv 127.0.0.1:0 echo
	NOTIFY_SOCKET=$T/notify.sock start_tcptap 127.0.0.1:0 "127.0.0.1:$srv_port"

	wait_for 10 "grep -qx 'READY=1' '$T/notify.out'"
}

@test "service: ps shows each relay as 'tcptap: CLIENT -> SERVER'" {
	start_server srv 127.0.0.1:0 eof
	start_tcptap 127.0.0.1:0 "127.0.0.1:$srv_port"
	bg client "$PEER" connect "127.0.0.1:$tap_port" wait="$T/go" eof
	wait_log "$T/tap.err" '^tcptap: open '
	cport=$(sed -nE 's/^tcptap: open .*client=127\.0\.0\.1:([0-9]+) .*/\1/p' "$T/tap.err")

	run ps -o args= --ppid "$tap_pid"
	assert_output "tcptap: 127.0.0.1:$cport -> 127.0.0.1:$srv_port"
	touch "$T/go"
}

# lowest_free_fd PID: the number the next fd PID opens would get.
lowest_free_fd() {
	local fd=0
	while [ -e "/proc/$1/fd/$fd" ] && ((fd < 4096)); do
		fd=$((fd + 1))
	done
	echo "$fd"
}

@test "service: out of file descriptors, the listener backs off instead of spinning, then recovers" {
	start_server srv 127.0.0.1:0 echo
	start_tcptap 127.0.0.1:0 "127.0.0.1:$srv_port"
	# No room for one more fd: accept(2) fails with EMFILE.
	prlimit --pid "$tap_pid" --nofile="$(lowest_free_fd "$tap_pid"):"
	bg client "$PEER" connect "127.0.0.1:$tap_port" send=hi recv=2 shut eof
	wait_log "$T/tap.err" '^tcptap: backoff accept: Too many open files'

	# Backing off, it burns almost no CPU while the client waits.
	t0=$(awk '{ print $14 + $15 }' "/proc/$tap_pid/stat")
	sleep 1
	t1=$(awk '{ print $14 + $15 }' "/proc/$tap_pid/stat")
	((t1 - t0 < 20)) || fail "listener used $((t1 - t0)) ticks in 1 s"

	# With room again, the waiting client is served.
	prlimit --pid "$tap_pid" --nofile=1024:
	wait_exit "$client_pid" 10
	assert_equal "$exit_status" 0
	wait_log "$T/tap.err" '^tcptap: close .*c2s_bytes=2 s2c_bytes=2'
	assert_equal "$(log_count "$T/tap.err" '^tcptap: backoff accept')" 1
	assert_equal "$(log_count "$T/tap.err" '^tcptap: backoff over')" 1
}
