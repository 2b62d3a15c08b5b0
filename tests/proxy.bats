#!/usr/bin/env bats
# --proxy-protocol: the target learns the real client address first.

load test_helper

# relay_once VERSION LISTEN SERVER-ADDR: a one-connection server, a
# relay with --proxy-protocol VERSION in front, one client sending
# "hello"; sets cport (the client's port) and leaves what the server got
# in $T/srv.data.
relay_once() {
	start_server1 srv "$3" eof
	start_tcptap --proxy-protocol "$1" "$2" "$(server_addr "$3")"
	run peer connect "$(listen_addr "$2")" send=hello shut eof
	assert_success
	cport=$(sed -E 's/^local=.*:([0-9]+) peer=.*/\1/' <<<"$output")
	wait_exit "$srv_pid"
}

server_addr() {
	case $1 in
	\[::1\]:0) echo "[::1]:$srv_port" ;;
	*) echo "127.0.0.1:$srv_port" ;;
	esac
}

listen_addr() {
	case $1 in
	\[::1\]:0) echo "[::1]:$tap_port" ;;
	*) echo "127.0.0.1:$tap_port" ;;
	esac
}

@test "proxy: v1 sends 'PROXY TCP4 client relay cport rport' before the data" {
	relay_once v1 127.0.0.1:0 127.0.0.1:0
	printf 'PROXY TCP4 127.0.0.1 127.0.0.1 %s %s\r\nhello' "$cport" \
	    "$tap_port" >"$T/want"
	cmp "$T/want" "$T/srv.data"
}

@test "proxy: v1 over IPv6 sends 'PROXY TCP6 ::1 ::1 ...'" {
	relay_once v1 '[::1]:0' '[::1]:0'
	printf 'PROXY TCP6 ::1 ::1 %s %s\r\nhello' "$cport" "$tap_port" \
	    >"$T/want"
	cmp "$T/want" "$T/srv.data"
}

@test "proxy: v2 sends the binary header with both IPv4 addresses and ports" {
	relay_once v2 127.0.0.1:0 127.0.0.1:0
	{
		printf '\r\n\r\n\0\r\nQUIT\n\041\021\0\014'
		printf '\177\0\0\001\177\0\0\001'
		printf "\\$(printf %03o $((cport >> 8)))\\$(printf %03o $((cport & 255)))"
		printf "\\$(printf %03o $((tap_port >> 8)))\\$(printf %03o $((tap_port & 255)))"
		printf hello
	} >"$T/want"
	cmp "$T/want" "$T/srv.data"
}

@test "proxy: v2 over IPv6 carries 36 bytes of addresses" {
	relay_once v2 '[::1]:0' '[::1]:0'
	run od -An -tx1 -N 16 "$T/srv.data"
	assert_output --regexp '0d 0a 0d 0a 00 0d 0a 51 55 49 54 0a 21 21 00 24'
	run tail -c 5 "$T/srv.data"
	assert_output hello
	assert_equal "$(stat -c %s "$T/srv.data")" $((16 + 36 + 5))
}

@test "proxy: a unix-socket client is sent as UNKNOWN (v1)" {
	start_server1 srv 127.0.0.1:0 eof
	start_tcptap --proxy-protocol v1 "unix:$T/l.sock" "127.0.0.1:$srv_port"
	run peer connect "unix:$T/l.sock" send=hello shut eof
	assert_success
	wait_exit "$srv_pid"
	printf 'PROXY UNKNOWN\r\nhello' >"$T/want"
	cmp "$T/want" "$T/srv.data"
}

@test "proxy: haproxy accepts our v2 header and passes the real client on" {
	command -v haproxy >/dev/null || skip "haproxy not installed"
	start_server1 srv 127.0.0.1:0 eof
	hport=$("$PEER" freeport)
	cat >"$T/haproxy.cfg" <<-CFG
	defaults
		mode tcp
		timeout connect 5s
		timeout client 10s
		timeout server 10s
	frontend fe
		bind 127.0.0.1:$hport accept-proxy
		default_backend be
	backend be
		server s 127.0.0.1:$srv_port send-proxy
	CFG
	bg haproxy haproxy -db -f "$T/haproxy.cfg"
	wait_for 10 "ss -Hltn 'sport = :$hport' | grep -q LISTEN"
	start_tcptap --proxy-protocol v2 127.0.0.1:0 "127.0.0.1:$hport"

	run peer connect "127.0.0.1:$tap_port" send=hello shut eof
	assert_success
	cport=$(sed -E 's/^local=.*:([0-9]+) peer=.*/\1/' <<<"$output")
	wait_exit "$srv_pid"
	# haproxy re-sends, as v1, the client it learned from our header.
	printf 'PROXY TCP4 127.0.0.1 127.0.0.1 %s %s\r\nhello' "$cport" \
	    "$tap_port" >"$T/want"
	cmp "$T/want" "$T/srv.data"
}

@test "proxy: a bad --proxy-protocol value is a usage error" {
	run "$TCPTAP" --proxy-protocol v3 127.0.0.1:0 127.0.0.1:1
	assert_equal "$status" 2
	assert_output --partial 'not v1 or v2'
}
