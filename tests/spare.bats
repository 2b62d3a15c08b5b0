#!/usr/bin/env bats
# Spare relays: a relay whose connection ended serves the next one.

load test_helper

# relay_pids LOG: the relay pid in each open line's SID (base36 after -).
relay_pids() {
	sed -n 's/^tcptap: open sid=[0-9a-z]*-\([0-9a-z]*\) .*/\1/p' "$1"
}

# wait_spare PID: until relay PID waits as a spare (its process title,
# set once the listener has its word that it is free).
wait_spare() {
	wait_for 10 "tr '\\0' ' ' </proc/$1/cmdline | grep -q 'tcptap: spare'"
}

# fd_count PID: how many fds the process holds.
fd_count() {
	ls "/proc/$1/fd" | wc -l
}

@test "spare: the relay that served one connection serves the next" {
	start_server srv 127.0.0.1:0 echo
	start_tcptap 127.0.0.1:0 "127.0.0.1:$srv_port"
	for i in 1 2 3; do
		run peer connect "127.0.0.1:$tap_port" send="hello$i" recv=6 shut eof
		assert_success
		assert_output --partial "recv=6 end=eof"
		relay=$(ps -o pid= --ppid "$tap_pid" | tr -d ' ')
		wait_spare "$relay"
	done
	wait_for 10 '[ "$(log_count "$T/tap.err" "^tcptap: close .*reason=eof")" -eq 3 ]'
	assert_equal "$(relay_pids "$T/tap.err" | sort -u | wc -l)" 1
	assert_equal "$(ps -o pid= --ppid "$tap_pid" | wc -l)" 1
}

@test "spare: --spare 0 forks a fresh relay for every connection and keeps none" {
	start_server srv 127.0.0.1:0 echo
	start_tcptap --spare 0 127.0.0.1:0 "127.0.0.1:$srv_port"
	for i in 1 2 3; do
		run peer connect "127.0.0.1:$tap_port" send=hello shut eof
		assert_success
	done
	wait_for 10 '[ "$(log_count "$T/tap.err" "^tcptap: close .*reason=eof")" -eq 3 ]'
	assert_equal "$(relay_pids "$T/tap.err" | sort -u | wc -l)" 3
	wait_for 5 '[ -z "$(ps -o pid= --ppid "$tap_pid")" ]'
}

@test "spare: after a burst of 6, at most --spare 2 relays wait, and none is a zombie" {
	start_server srv 127.0.0.1:0 echo
	start_tcptap --spare 2 127.0.0.1:0 "127.0.0.1:$srv_port"
	for i in 1 2 3 4 5 6; do
		bg "c$i" "$PEER" connect "127.0.0.1:$tap_port" send=x recv=1 \
		    mark="$T/up$i" wait="$T/go" shut eof
	done
	wait_for 10 '[ "$(ls "$T"/up* 2>/dev/null | wc -l)" -eq 6 ]'
	assert_equal "$(ps -o pid= --ppid "$tap_pid" | wc -l)" 6
	touch "$T/go"
	for i in 1 2 3 4 5 6; do
		pid_var="c${i}_pid"
		wait_exit "${!pid_var}"
		assert_equal "$exit_status" 0
	done
	wait_for 10 '[ "$(ps -o pid= --ppid "$tap_pid" | wc -l)" -eq 2 ]'
	run ps -o stat= --ppid "$tap_pid"
	refute_output --partial Z
	# The spares still serve.
	run peer connect "127.0.0.1:$tap_port" send=again recv=5 shut eof
	assert_output --partial "recv=5 end=eof"
}

@test "spare: a relay reused 60 times, through taps and refused targets, holds no more fds than after its first" {
	start_server srv 127.0.0.1:0 echo
	start_tcptap -t 'cat >/dev/null' 127.0.0.1:0 "127.0.0.1:$srv_port"
	run peer connect "127.0.0.1:$tap_port" send=first recv=5 shut eof
	assert_success
	wait_log "$T/tap.err" '^tcptap: close '
	relay=$(ps -o pid= --ppid "$tap_pid" | tr -d ' ')
	[ -n "$relay" ] || fail "no spare relay under the listener"
	wait_for 5 '[ -z "$(ps -o pid= --ppid "$relay")" ]'	# its tap reaped
	before=$(fd_count "$relay")

	# Each time, the client waits until the relay is a spare again.
	for i in $(seq 40); do
		run peer connect "127.0.0.1:$tap_port" send=abc recv=3 shut eof
		assert_output --partial "recv=3 end=eof"
		wait_spare "$relay"
	done
	kill "$srv_pid"
	wait_exit "$srv_pid"
	for i in $(seq 20); do
		run peer connect "127.0.0.1:$tap_port" send=abc eof
		wait_for 10 "[ \$(log_count '$T/tap.err' '^tcptap: fail ') -eq $i ]"
		wait_spare "$relay"
	done
	wait_for 10 '[ "$(log_count "$T/tap.err" "^tcptap: fail ")" -eq 20 ]'
	assert_equal "$(relay_pids "$T/tap.err" | sort -u | wc -l)" 1
	assert_equal "$(ps -o pid= --ppid "$tap_pid" | tr -d ' ')" "$relay"
	wait_for 5 '[ -z "$(ps -o pid= --ppid "$relay")" ]'
	assert_equal "$(fd_count "$relay")" "$before"
}

@test "spare: SIGUSR1 while the relay waits as a spare: its next connection starts with capture off" {
	start_server srv 127.0.0.1:0 echo
	start_tcptap -t "'$ROOT/bin/tap-cat' -d c2s >> '$T/c2s'" 127.0.0.1:0 "127.0.0.1:$srv_port"
	run peer connect "127.0.0.1:$tap_port" send=one recv=3 shut eof
	assert_success
	relay=$(ps -o pid= --ppid "$tap_pid" | tr -d ' ')
	wait_spare "$relay"
	kill -USR1 "$tap_pid"
	wait_log "$T/tap.err" '^tcptap: capture off'
	run peer connect "127.0.0.1:$tap_port" send=two recv=3 shut eof
	assert_success
	wait_spare "$relay"
	# Off then on at once: the switch, not the signals' order, decides.
	kill -USR1 "$tap_pid"
	kill -USR2 "$tap_pid"
	wait_log "$T/tap.err" '^tcptap: capture on'
	run peer connect "127.0.0.1:$tap_port" send=three recv=5 shut eof
	assert_success
	stop_tcptap
	assert_equal "$(relay_pids "$T/tap.err" | sort -u | wc -l)" 1
	assert_equal "$(cat "$T/c2s")" onethree
}

@test "spare: SIGTERM with only spares left: the listener exits at once, exit 0" {
	start_server srv 127.0.0.1:0 echo
	start_tcptap -T 30 127.0.0.1:0 "127.0.0.1:$srv_port"
	run peer connect "127.0.0.1:$tap_port" send=x recv=1 shut eof
	assert_success
	wait_log "$T/tap.err" '^tcptap: close '
	relay=$(ps -o pid= --ppid "$tap_pid" | tr -d ' ')
	t0=$(date +%s%N)
	stop_tcptap
	assert_equal "$exit_status" 0
	ms=$(ms_since "$t0")
	[ "$ms" -lt 5000 ] || fail "listener took $ms ms to leave with no live connection"
	! kill -0 "$relay" 2>/dev/null || fail "spare relay $relay outlived the listener"
}
