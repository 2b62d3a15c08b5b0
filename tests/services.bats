#!/usr/bin/env bats
# The shipped service-manager configurations, run for real: the systemd
# units in share/systemd/ (their ExecStart under systemd-socket-activate),
# examples/inetd.conf under openbsd-inetd and examples/xinetd.conf under
# xinetd, each in the foreground on a loopback port of its own, with a real
# client through it to a real server.  tcpserver running `tcptap --inetd`
# is in modes.bats.

load test_helper

UNITS=$ROOT/share/systemd
XINETD=$ROOT/tests/.cache/xinetd/usr/sbin/xinetd

# unit_get FILE KEY: the value of KEY= in FILE (the last one, as systemd).
unit_get() {
	sed -n "s/^$2=//p" "$1" | tail -n 1
}

# exec_start UNIT TARGET: the words of UNIT's ExecStart= into CMD, with the
# installed tcptap (/usr/local/bin/tcptap) replaced by the one under test
# and the example target 127.0.0.1:6379 by TARGET.  Everything else is run
# as the unit has it.
exec_start() {
	local line
	line=$(unit_get "$1" ExecStart)
	[[ $line == /usr/local/bin/tcptap\ * ]] ||
	    fail "$1: ExecStart does not run /usr/local/bin/tcptap: '$line'"
	# Words only: no specifiers or variables that systemd would expand.
	[[ $line != *[%\$\"\'\\]* ]] ||
	    fail "$1: ExecStart needs systemd's expansion: '$line'"
	[[ $line == *' 127.0.0.1:6379' ]] ||
	    fail "$1: ExecStart does not end with the target 127.0.0.1:6379: '$line'"
	line=${line/#\/usr\/local\/bin\/tcptap/$TCPTAP}
	line=${line/% 127.0.0.1:6379/ $2}
	read -ra CMD <<<"$line"
}

# listen_stream UNIT PORT: UNIT's ListenStream= address with port PORT.
listen_stream() {
	local addr
	addr=$(unit_get "$1" ListenStream)
	[[ $addr == 127.0.0.1:* ]] ||
	    fail "$1: ListenStream is not on 127.0.0.1: '$addr'"
	echo "${addr%:*}:$2"
}

# wait_listening PORT: until a TCP socket listens on 127.0.0.1:PORT.
wait_listening() {
	wait_for 10 "[ -n \"\$(ss -Hltn 'src 127.0.0.1:$1')\" ]"
}

# children PID: the number of child processes of PID.
children() {
	pgrep -c -P "$1" || true
}

# tcptap_children PID: the number of child processes of PID that are tcptap.
tcptap_children() {
	ps -o comm= --ppid "$1" | grep -cx tcptap || true
}

# need_xinetd: skip unless tests/deps-xinetd.sh unpacked a working xinetd.
need_xinetd() {
	[ -x "$XINETD" ] ||
	    skip "no xinetd in tests/.cache (run tests/deps-xinetd.sh; make deps does)"
	! ldd "$XINETD" | grep -q 'not found' ||
	    skip "$XINETD lacks libraries: $(ldd "$XINETD" | grep 'not found')"
}

# run_as: the user the examples name (nobody), or root when nobody cannot
# reach the tcptap under test (a checkout under a private directory).
run_as() {
	if runuser -u nobody -- test -x "$TCPTAP" 2>/dev/null; then
		echo nobody
	else
		echo root
	fi
}

# xinetd_conf PORT TARGET: examples/xinetd.conf with its port, server and
# target replaced, into $T/xinetd.conf; checks that each was there.
xinetd_conf() {
	local conf=$ROOT/examples/xinetd.conf
	sed -E -e "s/^([[:space:]]*port[[:space:]]*=) 7000$/\1 $1/" \
	    -e "s|^([[:space:]]*server[[:space:]]*=) /usr/local/bin/tcptap$|\1 $TCPTAP|" \
	    -e "s/ 127\.0\.0\.1:6379$/ $2/" \
	    -e "s/^([[:space:]]*user[[:space:]]*=) nobody$/\1 $(run_as)/" \
	    "$conf" >"$T/xinetd.conf"
	grep -Eq "port[[:space:]]*= $1\$" "$T/xinetd.conf" || fail "no 'port = 7000' in $conf"
	grep -Eq "server[[:space:]]*= $TCPTAP\$" "$T/xinetd.conf" ||
	    fail "no 'server = /usr/local/bin/tcptap' in $conf"
	grep -q " $2\$" "$T/xinetd.conf" || fail "no target 127.0.0.1:6379 in $conf"
}

# example_line FILE: the one configuration line of examples/inetd.conf.
example_line() {
	local -a lines
	mapfile -t lines < <(grep -Ev '^[[:space:]]*(#|$)' "$1")
	[ "${#lines[@]}" -eq 1 ] ||
	    fail "$1: expected one service line, found ${#lines[@]}"
	echo "${lines[0]}"
}

@test "systemd units: systemd-analyze verify accepts all four" {
	mkdir "$T/units"
	for u in tcptap.socket tcptap@.service tcptap-sd.socket tcptap-sd.service; do
		sed "s|/usr/local/bin/tcptap|$TCPTAP|" "$UNITS/$u" >"$T/units/$u"
	done
	cd "$T/units"
	run timeout 60 systemd-analyze verify --man=no ./tcptap.socket \
	    ./tcptap@.service ./tcptap-sd.socket ./tcptap-sd.service
	assert_success
	assert_output ''
}

@test "systemd Accept=yes: tcptap@.service's ExecStart under systemd-socket-activate -a --inetd, one tcptap per connection" {
	sock=$UNITS/tcptap.socket svc=$UNITS/tcptap@.service
	assert_equal "$(unit_get "$sock" Accept)" yes
	assert_equal "$(unit_get "$svc" StandardInput)" socket
	assert_equal "$(unit_get "$svc" StandardOutput)" socket
	# Else fd 2 is the client too and the log goes to syslog.
	assert_equal "$(unit_get "$svc" StandardError)" journal
	random_file "$T/in" 1M
	start_server srv 127.0.0.1:0 echo
	port=$("$PEER" freeport)
	exec_start "$svc" "127.0.0.1:$srv_port"
	bg sa systemd-socket-activate -a --inetd \
	    -l "$(listen_stream "$sock" "$port")" "${CMD[@]}"
	wait_listening "$port"

	# Two clients at once: two tcptap processes, each relaying its own.
	for i in 1 2; do
		bg "c$i" "$PEER" -o "$T/got.$i" connect "127.0.0.1:$port" \
		    "file=$T/in" "recv=1048576" wait="$T/go" shut eof
	done
	wait_for 10 '[ "$(tcptap_children "$sa_pid")" -eq 2 ]'
	assert_equal "$(children "$sa_pid")" 2
	touch "$T/go"
	for i in 1 2; do
		pid_var=c${i}_pid
		wait_exit "${!pid_var}" 20
		assert_equal "$exit_status" 0
		assert_same_file "$T/in" "$T/got.$i"
	done
	wait_for 10 '[ "$(log_count "$T/sa.err" "^tcptap: close sid=$SID_RE reason=eof .*c2s_bytes=1048576 s2c_bytes=1048576")" -eq 2 ]'
	wait_for 10 '[ "$(children "$sa_pid")" -eq 0 ]'
}

@test "systemd Accept=no: tcptap-sd.service's ExecStart under systemd-socket-activate -l, READY=1 for Type=notify, one tcptap serves all" {
	sock=$UNITS/tcptap-sd.socket svc=$UNITS/tcptap-sd.service
	assert_equal "$(unit_get "$sock" Accept)" no
	assert_equal "$(unit_get "$svc" Type)" notify
	bg notify socat -u "UNIX-RECV:$T/notify.sock" STDOUT
	wait_for 10 "[ -S '$T/notify.sock' ]"
	random_file "$T/in" 1M
	start_server srv 127.0.0.1:0 echo
	port=$("$PEER" freeport)
	exec_start "$svc" "127.0.0.1:$srv_port"
	bg sa systemd-socket-activate -E "NOTIFY_SOCKET=$T/notify.sock" \
	    -l "$(listen_stream "$sock" "$port")" "${CMD[@]}"
	wait_listening "$port"

	for i in 1 2 3; do
		run peer -o "$T/got.$i" connect "127.0.0.1:$port" "file=$T/in" shut eof
		assert_success
		assert_same_file "$T/in" "$T/got.$i"
	done
	# systemd would time the start out without it.
	wait_for 10 "grep -qx 'READY=1' '$T/notify.out'"
	wait_for 10 '[ "$(log_count "$T/sa.err" "^tcptap: close sid=$SID_RE reason=eof ")" -eq 3 ]'
	# systemd-socket-activate exec'd tcptap: the main process is tcptap.
	assert_equal "$(cat "/proc/$sa_pid/comm")" tcptap
}

@test "systemd Accept=no: SIGTERM to the main process only (KillMode=mixed) lets a live connection finish, exit 0" {
	sock=$UNITS/tcptap-sd.socket svc=$UNITS/tcptap-sd.service
	assert_equal "$(unit_get "$svc" KillMode)" mixed
	start_server srv 127.0.0.1:0 echo
	port=$("$PEER" freeport)
	exec_start "$svc" "127.0.0.1:$srv_port"
	# The drain deadline (-T, default 5) must end before systemd's SIGKILL.
	drain=5
	for ((i = 0; i < ${#CMD[@]} - 1; i++)); do
		[ "${CMD[i]}" = -T ] && drain=${CMD[i + 1]}
	done
	stop=$(unit_get "$svc" TimeoutStopSec)
	((${stop:-90} > drain)) ||
	    fail "TimeoutStopSec=$stop does not exceed the drain deadline -T $drain"
	bg sa systemd-socket-activate -l "$(listen_stream "$sock" "$port")" "${CMD[@]}"
	wait_listening "$port"

	bg client "$PEER" -o "$T/got" connect "127.0.0.1:$port" send=hello \
	    recv=5 mark="$T/mid" wait="$T/go" send=world shut eof
	wait_for 10 "[ -e '$T/mid' ]"
	# What systemd does on stop with KillMode=mixed: SIGTERM to the main
	# process (tcptap itself: systemd-socket-activate exec'd it), not to
	# the relays.
	kill -TERM "$sa_pid"
	wait_log "$T/sa.err" '^tcptap: drain conns=1 '
	touch "$T/go"
	wait_exit "$client_pid" 10
	assert_equal "$exit_status" 0
	assert_equal "$(cat "$T/got")" helloworld
	wait_exit "$sa_pid" $((drain + 5))
	assert_equal "$exit_status" 0
	assert_equal "$(log_count "$T/sa.err" "^tcptap: close sid=$SID_RE reason=eof .*c2s_bytes=10 s2c_bytes=10")" 1
}

@test "openbsd-inetd: the line of examples/inetd.conf, run by inetd -d, one tcptap per connection, relayed exact" {
	line=$(example_line "$ROOT/examples/inetd.conf")
	read -ra f <<<"$line"
	assert_equal "${f[*]:1:3}" 'stream tcp nowait'
	assert_equal "${f[5]}" /usr/local/bin/tcptap
	random_file "$T/in" 1M
	start_server srv 127.0.0.1:0 echo
	port=$("$PEER" freeport)
	line=${line/127.0.0.1:7000/127.0.0.1:$port}
	line=${line/\/usr\/local\/bin\/tcptap/$TCPTAP}
	line=${line/% 127.0.0.1:6379/ 127.0.0.1:$srv_port}
	line=${line/$'\t'nobody$'\t'/$'\t'$(run_as)$'\t'}
	printf '%s\n' "$line" >"$T/inetd.conf"
	bg inetd inetd -d "$T/inetd.conf"
	wait_listening "$port"

	for i in 1 2; do
		run peer -o "$T/got.$i" connect "127.0.0.1:$port" "file=$T/in" shut eof
		assert_success
		assert_same_file "$T/in" "$T/got.$i"
	done
	# inetd's debug log: it started tcptap once per connection.
	wait_for 10 '[ "$(log_count "$T/inetd.err" "execv $TCPTAP\$")" -eq 2 ]'
}

@test "openbsd-inetd: with the socket on fds 0, 1 and 2, -v and a tap writing to stdout, the client gets exactly the server's bytes" {
	start_server srv 127.0.0.1:0 echo
	port=$("$PEER" freeport)
	# The tap copies its stream to a file and to its stdout, which is the
	# relay's fd 2: the client socket, unless tcptap moves it away.
	printf '#!/bin/sh\nexec tee "%s"\n' "$T/stream" >"$T/tap"
	chmod 755 "$T/tap"
	# root: the tap writes into this test's private directory.
	printf '127.0.0.1:%s\tstream\ttcp\tnowait\troot\t%s\ttcptap -v -t %s --inetd 127.0.0.1:%s\n' \
	    "$port" "$TCPTAP" "$T/tap" "$srv_port" >"$T/inetd.conf"
	bg inetd inetd -d "$T/inetd.conf"
	wait_listening "$port"

	for i in 1 2; do
		run peer -o "$T/got.$i" connect "127.0.0.1:$port" send=hello \
		    recv=5 send=world shut eof
		assert_success
		assert_equal "$(cat "$T/got.$i")" helloworld
	done
	# The tap did run and see the conversation.
	wait_for 10 "grep -q '^tap1 close ' '$T/stream'"
	run grep -c '^tap1 open ' "$T/stream"
	assert_output 1
}

@test "xinetd: examples/xinetd.conf, run by xinetd -dontfork, relayed exact" {
	need_xinetd
	random_file "$T/in" 1M
	start_server srv 127.0.0.1:0 echo
	port=$("$PEER" freeport)
	conf=$ROOT/examples/xinetd.conf
	grep -Eq '^[[:space:]]*wait[[:space:]]*= no$' "$conf" || fail "$conf: not wait = no"
	grep -Eq '^[[:space:]]*bind[[:space:]]*= 127\.0\.0\.1$' "$conf" || fail "$conf: not bound to 127.0.0.1"
	xinetd_conf "$port" "127.0.0.1:$srv_port"
	bg xinetd "$XINETD" -dontfork -f "$T/xinetd.conf"
	wait_listening "$port"

	for i in 1 2; do
		run peer -o "$T/got.$i" connect "127.0.0.1:$port" "file=$T/in" shut eof
		assert_success
		assert_same_file "$T/in" "$T/got.$i"
	done
}

@test "xinetd: two clients at once get a tcptap each (wait = no)" {
	need_xinetd
	start_server srv 127.0.0.1:0 echo
	port=$("$PEER" freeport)
	xinetd_conf "$port" "127.0.0.1:$srv_port"
	bg xinetd "$XINETD" -dontfork -f "$T/xinetd.conf"
	wait_listening "$port"

	for i in 1 2; do
		bg "c$i" "$PEER" -o "$T/got.$i" connect "127.0.0.1:$port" \
		    send=hello$i recv=6 wait="$T/go" shut eof
	done
	wait_for 10 '[ "$(tcptap_children "$xinetd_pid")" -eq 2 ]'
	assert_equal "$(children "$xinetd_pid")" 2
	touch "$T/go"
	for i in 1 2; do
		pid_var=c${i}_pid
		wait_exit "${!pid_var}" 10
		assert_equal "$exit_status" 0
		assert_equal "$(cat "$T/got.$i")" "hello$i"
	done
}

@test "docs: the README shows the shipped units' and examples' lines, unchanged" {
	readme=$ROOT/README.md
	for u in tcptap.socket tcptap@.service tcptap-sd.socket tcptap-sd.service; do
		for key in ExecStart ListenStream Accept Type KillMode TimeoutStopSec \
		    StandardInput StandardOutput StandardError; do
			v=$(unit_get "$UNITS/$u" "$key")
			[ -z "$v" ] || grep -qxF "    $key=$v" "$readme" ||
			    fail "README lacks '$key=$v' of $u"
		done
	done
	grep -qxF "    $(example_line "$ROOT/examples/inetd.conf")" "$readme" ||
	    fail "README lacks the line of examples/inetd.conf"
	while IFS= read -r l; do
		grep -qxF "    $l" "$readme" || fail "README lacks xinetd.conf's '$l'"
	done < <(grep -E '^[[:space:]]*[a-z_]+[[:space:]]*= ' "$ROOT/examples/xinetd.conf")
}
