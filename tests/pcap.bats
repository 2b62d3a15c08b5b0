#!/usr/bin/env bats
# tap-pcap: tap stream -> pcap that tshark dissects like a real capture.

load test_helper

PCAP=$ROOT/bin/tap-pcap
TAPGEN=$ROOT/tests/bin/tt-tapgen

# rec KIND SID US DIR TEXT: one tap record, TEXT as printf %b (no NULs).
rec() {
	local LC_ALL=C p
	p=$(printf '%b' "$5"; echo x)
	p=${p%x}
	printf '%-63s\n' "tap1 $1 $2 $3 $4 ${#p}"
	printf '%s' "$p"
}

# open_rec SID US CLIENT SERVER: an open record as the relay writes it.
open_rec() {
	rec open "$1" "$2" - "client=$3\nserver=$4\nlisten=127.0.0.1:9000\n"
}

# close_rec SID US REASON BY: a close record.
close_rec() {
	rec close "$1" "$2" - "reason=$3\nby=$4\nc2s_bytes=0\ns2c_bytes=0\nduration_us=1\n"
}

# tsh ARGS...: tshark, its chatter ("Running as root") kept out of the way.
tsh() {
	timeout 60 tshark "$@" 2>>"$T/tshark.err"
}

# fields PCAP FILTER FIELD...: one line per matching frame, tab-separated.
fields() {
	local f=$1 y=$2 a=()
	shift 2
	for x in "$@"; do
		a+=(-e "$x")
	done
	tsh -r "$f" -Y "$y" -T fields "${a[@]}"
}

# hexof FILE: its bytes as one line of lowercase hex.
hexof() {
	od -An -v -tx1 "$1" | tr -d ' \n'
}

# follow_hex PCAP STREAM NODE: the bytes tshark reassembles in TCP stream
# STREAM from node NODE (0: the side that sent the SYN), as hex.
follow_hex() {
	tsh -r "$1" -q -z "follow,tcp,raw,$2" | awk -v want="$3" '
	    /^Node 1:/ { on = 1; next }
	    on && /^=+$/ { exit }
	    on && /^\t/ { if (want == 1) printf "%s", substr($0, 2); next }
	    on { if (want == 0) printf "%s", $0 }'
}

# assert_expert_clean PCAP: tshark's expert info has nothing to say but
# the handshake and the closing: no malformed packet, no out-of-order,
# retransmission, lost or ACKed-unseen segment, no dup ACK, no full
# window, no bad checksum.
assert_expert_clean() {
	run tsh -r "$1" -q -z expert
	assert_success
	assert_output --partial 'Connection establish request (SYN)'
	refute_output --regexp '[Mm]alformed|[Oo]ut-[Oo]f-[Oo]rder|[Rr]etransmission'
	refute_output --regexp 'captured|[Dd]uplicate|Dup ACK|[Ww]indow|[Cc]hecksum'
	refute_output --regexp 'Errors \(|Warns \('
}

# capture LISTEN TARGET: a relay whose tap writes $T/cap.pcap and then its
# exit status to $T/cap.rc; sets tap_port.
capture() {
	start_tcptap -t "'$PCAP' -w '$T/cap.pcap'; echo \$? >'$T/cap.rc'" "$@"
}

# wait_capture: until the tap is done; it must have succeeded.
wait_capture() {
	wait_file "$T/cap.rc" 20
	assert_equal "$(cat "$T/cap.rc")" 0
}

# start_redis: a private redis-server on a free loopback port; sets
# redis_port once it answers.
start_redis() {
	redis_port=$("$PEER" freeport)
	bg redis redis-server --port "$redis_port" --bind 127.0.0.1 \
	    --save '' --appendonly no --dir "$T"
	poll 10 "timeout 2 redis-cli -p $redis_port ping 2>/dev/null | grep -q PONG" ||
	    fail "redis-server did not answer: $(cat "$T/redis.out" "$T/redis.err")"
}

@test "pcap: redis-cli sessions through the relay show their RESP commands" {
	command -v redis-server >/dev/null || skip "no redis-server"
	start_redis
	# One pcap per session, named by its SID, as tap-pcap(1) suggests.
	mkdir "$T/cap"
	start_tcptap -t "'$PCAP' -w '$T/cap/'\$TCPTAP_SID.pcap; echo \$? >'$T/cap/'\$TCPTAP_SID.rc" \
	    127.0.0.1:0 "127.0.0.1:$redis_port"

	run timeout 10 redis-cli -p "$tap_port" SET k hello
	assert_output OK
	run timeout 10 redis-cli -p "$tap_port" GET k
	assert_output hello
	wait_for 20 "[ \$(ls '$T/cap' | grep -c '\\.rc\$') -eq 2 ]"
	assert_equal "$(cat "$T/cap/"*.rc)" "0
0"
	for sid in $(grep -Eo '^tcptap: open sid=[^ ]+' "$T/tap.err" | cut -d= -f2); do
		tsh -r "$T/cap/$sid.pcap" -d "tcp.port==$redis_port,resp" -Y resp
		assert_expert_clean "$T/cap/$sid.pcap"
	done >"$T/resp"
	run cat "$T/resp"
	assert_line --index 0 --regexp "127\.0\.0\.1 → 127\.0\.0\.1 +RESP .* Request: SET k hello\$"
	assert_line --index 1 --regexp 'Response: OK$'
	assert_line --index 2 --regexp 'Request: GET k$'
	assert_line --index 3 --regexp 'Response: hello$'
}

@test "pcap: a curl request through the relay shows its request line" {
	local www_port
	mkdir "$T/www"
	echo 'hello from the web' >"$T/www/index.html"
	www_port=$("$PEER" freeport)
	bg www python3 -m http.server --bind 127.0.0.1 \
	    --directory "$T/www" "$www_port"
	wait_for 10 "timeout 2 curl -sf http://127.0.0.1:$www_port/ >/dev/null"
	capture 127.0.0.1:0 "127.0.0.1:$www_port"

	run timeout 10 curl -sf "http://127.0.0.1:$tap_port/"
	assert_success
	assert_output 'hello from the web'
	wait_capture
	run tsh -r "$T/cap.pcap" -d "tcp.port==$www_port,http" -Y http.request
	assert_success
	assert_output --partial 'GET / HTTP/1.1'
	run tsh -r "$T/cap.pcap" -d "tcp.port==$www_port,http" \
	    -Y http.response -T fields -e http.response.code
	assert_output 200
	assert_expert_clean "$T/cap.pcap"
}

@test "pcap: the packets are between the real client and server addresses" {
	start_server1 srv 127.0.0.1:0 recv=4 send=pong eof
	capture 127.0.0.1:0 "127.0.0.1:$srv_port"

	run peer connect "127.0.0.1:$tap_port" send=ping recv=4 shut eof
	assert_success
	wait_capture
	client=$(grep -Eo 'client=127\.0\.0\.1:[0-9]+' "$T/tap.err")
	run fields "$T/cap.pcap" 'tcp.flags.syn == 1 && tcp.flags.ack == 0' \
	    ip.src tcp.srcport ip.dst tcp.dstport
	assert_output "$(printf '127.0.0.1\t%s\t127.0.0.1\t%s' \
	    "${client##*:}" "$srv_port")"
	assert_expert_clean "$T/cap.pcap"
}

@test "pcap: an IPv6 session is dissected with its [::1] addresses" {
	start_server1 srv '[::1]:0' recv=4 send=pong eof
	capture '[::1]:0' "[::1]:$srv_port"

	run peer connect "[::1]:$tap_port" send=ping recv=4 shut eof
	assert_success
	wait_capture
	run fields "$T/cap.pcap" 'tcp.len > 0' ipv6.src ipv6.dst tcp.dstport tcp.payload
	assert_success
	assert_line --index 0 --regexp "^::1	::1	$srv_port	70696e67\$"
	assert_line --index 1 --regexp '^::1	::1	[0-9]+	706f6e67$'
	assert_expert_clean "$T/cap.pcap"
}

@test "pcap: an IPv4 client of an IPv6 server appears IPv4-mapped" {
	start_server1 srv '[::1]:0' recv=4 send=pong eof
	capture 127.0.0.1:0 "[::1]:$srv_port"

	run peer connect "127.0.0.1:$tap_port" send=ping recv=4 shut eof
	assert_success
	wait_capture
	run fields "$T/cap.pcap" 'tcp.flags.syn == 1 && tcp.flags.ack == 0' \
	    ipv6.src ipv6.dst tcp.dstport
	assert_output "$(printf '::ffff:127.0.0.1\t::1\t%s' "$srv_port")"
	assert_expert_clean "$T/cap.pcap"
}

@test "pcap: every IPv4 and TCP checksum is valid" {
	random_file "$T/c2s" 100K
	random_file "$T/s2c" 100K
	printf 'abc' >>"$T/c2s"		# an odd length: the padded last word
	"$TAPGEN" -m 3001 s1 "$T/c2s" "$T/s2c" >"$T/stream"
	run "$PCAP" -w "$T/cap.pcap" <"$T/stream"
	assert_success
	run tsh -r "$T/cap.pcap" -o ip.check_checksum:TRUE \
	    -o tcp.check_checksum:TRUE -T fields -e ip.checksum.status \
	    -e tcp.checksum.status
	assert_success
	# Status 1 is "Good": every frame checked, none bad or unverified.
	[ "${#lines[@]}" -gt 100 ] || fail "only ${#lines[@]} frames"
	refute_output --regexp '(^|	)[^1	]'
}

@test "pcap: every IPv6 TCP checksum is valid" {
	{
		open_rec v6 1700000000000000 '[2001:db8::1]:40000' '[2001:db8::2]:6379'
		rec data v6 1700000000000100 c2s 'odd length!'
		rec data v6 1700000000000200 s2c '+OK\r\n'
		close_rec v6 1700000000000300 eof client
	} >"$T/stream"
	run "$PCAP" -w "$T/cap.pcap" <"$T/stream"
	assert_success
	run tsh -r "$T/cap.pcap" -o tcp.check_checksum:TRUE -T fields \
	    -e ipv6.src -e tcp.checksum.status
	assert_success
	[ "${#lines[@]}" -ge 9 ] || fail "only ${#lines[@]} frames"
	refute_output --regexp '	[^1]'
	assert_line --index 0 '2001:db8::1	1'
}

@test "pcap: a 4 MiB exchange reassembles to the exact bytes, in MSS-sized packets" {
	random_file "$T/c2s" 4M
	random_file "$T/s2c" 4M
	start_server1 srv 127.0.0.1:0 "file=$T/s2c" shut eof
	capture 127.0.0.1:0 "127.0.0.1:$srv_port"

	run peer -o "$T/got" connect "127.0.0.1:$tap_port" "file=$T/c2s" shut eof
	assert_success
	wait_capture
	assert_equal "$(follow_hex "$T/cap.pcap" 0 0)" "$(hexof "$T/c2s")"
	assert_equal "$(follow_hex "$T/cap.pcap" 0 1)" "$(hexof "$T/s2c")"
	run fields "$T/cap.pcap" 'frame.len > 1514' frame.number
	assert_output ''
	run fields "$T/cap.pcap" 'tcp.len == 1460' frame.number
	[ "${#lines[@]}" -gt 5000 ] || fail "only ${#lines[@]} full segments"
	# The receiver's ACKs keep what is in flight within its window.
	run fields "$T/cap.pcap" tcp.analysis.bytes_in_flight \
	    tcp.analysis.bytes_in_flight
	most=$(sort -n <<<"$output" | tail -n 1)
	((most > 0 && most < 65535)) || fail "$most bytes in flight"
	assert_expert_clean "$T/cap.pcap"
}

@test "pcap: a half-close is a FIN at its place, acknowledged by the other side's data" {
	start_server1 srv 127.0.0.1:0 eof send=world shut
	capture 127.0.0.1:0 "127.0.0.1:$srv_port"

	run peer connect "127.0.0.1:$tap_port" send=hello shut eof
	assert_success
	wait_capture
	# Relative numbers: the client's FIN takes seq 6 after "hello" (1-5)
	# and the server's "world" comes after it, acknowledging it (7).
	run fields "$T/cap.pcap" 'tcp.len > 0 || tcp.flags.fin == 1' \
	    tcp.dstport tcp.seq tcp.ack tcp.flags.fin tcp.len
	assert_success
	assert_output "$(printf '%s\t1\t1\t0\t5\n' "$srv_port")
$(printf '%s\t6\t1\t1\t0\n' "$srv_port")
$(printf '%s\t1\t7\t0\t5\n' "${lines[2]%%	*}")
$(printf '%s\t6\t7\t1\t0' "${lines[2]%%	*}")"
	[ "${lines[2]%%	*}" != "$srv_port" ] || fail "world went to the server"
	assert_expert_clean "$T/cap.pcap"
}

@test "pcap: a client reset is an RST from the client at its next sequence number" {
	start_server1 srv 127.0.0.1:0 eof
	capture 127.0.0.1:0 "127.0.0.1:$srv_port"

	run peer connect "127.0.0.1:$tap_port" send=hello reset
	wait_capture
	run fields "$T/cap.pcap" 'tcp.flags.reset == 1' tcp.dstport tcp.seq
	assert_output "$(printf '%s\t6' "$srv_port")"
	# The RST ends the conversation: nothing after it.
	run fields "$T/cap.pcap" 'tcp.flags.reset == 1' frame.number
	assert_equal "$output" "$(fields "$T/cap.pcap" frame frame.number | tail -n 1)"
}

@test "pcap: a relay timeout is an RST from the server side" {
	{
		open_rec to 1700000000000000 127.0.0.1:40000 127.0.0.1:6379
		rec data to 1700000000000100 c2s 'ping'
		close_rec to 1700000001000000 timeout relay
	} | "$PCAP" >"$T/cap.pcap"
	run fields "$T/cap.pcap" 'tcp.flags.reset == 1' tcp.srcport tcp.seq tcp.ack
	assert_output "$(printf '6379\t1\t5')"
}

@test "pcap: a gap is a sequence jump that tshark shows as bytes not captured" {
	{
		open_rec g 1700000000000000 127.0.0.1:40000 127.0.0.1:6379
		rec data g 1700000000000100 c2s 'abc'
		rec gap g 1700000000000200 c2s 'bytes=1000\n'
		rec data g 1700000000000300 c2s 'def'
		close_rec g 1700000000000400 eof client
	} | "$PCAP" >"$T/cap.pcap"
	run fields "$T/cap.pcap" 'tcp.len > 0' tcp.seq tcp.payload
	assert_output "$(printf '1\t616263\n1004\t646566')"
	# Exactly the segment after the gap is flagged, nothing else.
	run fields "$T/cap.pcap" tcp.analysis.lost_segment tcp.seq
	assert_output 1004
	run fields "$T/cap.pcap" 'tcp.analysis.retransmission || tcp.analysis.out_of_order || _ws.malformed' frame.number
	assert_output ''
}

@test "pcap: two sessions in one stream are two conversations, each reassembled" {
	random_file "$T/a.c2s" 30K
	random_file "$T/a.s2c" 50K
	random_file "$T/b.c2s" 40K
	random_file "$T/b.s2c" 20K
	"$TAPGEN" -u sessA "$T/a.c2s" "$T/a.s2c" sessB "$T/b.c2s" "$T/b.s2c" \
	    >"$T/stream"
	run "$PCAP" -w "$T/cap.pcap" <"$T/stream"
	assert_success
	run fields "$T/cap.pcap" tcp tcp.stream
	assert_equal "$(sort -u <<<"$output" | tr '\n' ' ')" '0 1 '
	# tt-tapgen gives session i client port 40000 + i.
	run fields "$T/cap.pcap" 'tcp.stream == 0 && tcp.flags.syn == 1 && tcp.flags.ack == 0' tcp.srcport
	assert_output 40000
	assert_equal "$(follow_hex "$T/cap.pcap" 0 0)" "$(hexof "$T/a.c2s")"
	assert_equal "$(follow_hex "$T/cap.pcap" 0 1)" "$(hexof "$T/a.s2c")"
	assert_equal "$(follow_hex "$T/cap.pcap" 1 0)" "$(hexof "$T/b.c2s")"
	assert_equal "$(follow_hex "$T/cap.pcap" 1 1)" "$(hexof "$T/b.s2c")"
	assert_expert_clean "$T/cap.pcap"
}

@test "pcap: -s keeps one session of several" {
	echo one >"$T/x"
	"$TAPGEN" s0 "$T/x" "$T/x" s1 "$T/x" "$T/x" >"$T/stream"
	run "$PCAP" -s s1 -w "$T/cap.pcap" <"$T/stream"
	assert_success
	run fields "$T/cap.pcap" 'tcp.flags.syn == 1 && tcp.flags.ack == 0' tcp.srcport
	assert_output 40001
}

@test "pcap: a unix-socket client gets the stand-in 127.0.0.1 and a port from its SID" {
	start_server1 srv 127.0.0.1:0 recv=4 send=pong eof
	capture "unix:$T/tap.sock" "127.0.0.1:$srv_port"

	run peer connect "unix:$T/tap.sock" send=ping recv=4 shut eof
	assert_success
	wait_capture
	run fields "$T/cap.pcap" 'tcp.flags.syn == 1 && tcp.flags.ack == 0' \
	    ip.src tcp.srcport ip.dst tcp.dstport
	assert_output --regexp "^127\.0\.0\.1	[0-9]+	127\.0\.0\.1	$srv_port\$"
	port=$(cut -f 2 <<<"$output")
	((port >= 49152 && port <= 65535)) || fail "client port $port"
	assert_expert_clean "$T/cap.pcap"
}

@test "pcap: a unix-socket server gets the stand-in 127.0.0.2 at the listen port" {
	start_server1 srv "unix:$T/srv.sock" recv=4 send=pong eof
	capture 127.0.0.1:0 "unix:$T/srv.sock"

	run peer connect "127.0.0.1:$tap_port" send=ping recv=4 shut eof
	assert_success
	wait_capture
	run fields "$T/cap.pcap" 'tcp.flags.syn == 1 && tcp.flags.ack == 0' \
	    ip.dst tcp.dstport
	assert_output "$(printf '127.0.0.2\t%s' "$tap_port")"
	assert_expert_clean "$T/cap.pcap"
}

@test "pcap: packet times are the record times, to the microsecond" {
	{
		open_rec t 1700000000123456 127.0.0.1:40000 127.0.0.1:6379
		rec data t 1700000001654321 c2s 'x'
	} | "$PCAP" >"$T/cap.pcap"
	run fields "$T/cap.pcap" 'tcp.flags.syn == 1 && tcp.flags.ack == 0' frame.time_epoch
	assert_output 1700000000.123456000
	run fields "$T/cap.pcap" 'tcp.len > 0' frame.time_epoch
	assert_output 1700000001.654321000
}

@test "pcap: the same stream gives the same file: ISNs come from the SID" {
	echo hello >"$T/x"
	"$TAPGEN" s0 "$T/x" "$T/x" >"$T/stream"
	"$PCAP" <"$T/stream" >"$T/one.pcap"
	"$PCAP" <"$T/stream" >"$T/two.pcap"
	assert_same_file "$T/one.pcap" "$T/two.pcap"
	# Absolute sequence numbers are not all zero-based.
	run fields "$T/one.pcap" 'tcp.flags.syn == 1' tcp.seq_raw
	refute_line 0
}

@test "pcap: a malformed stream exits 1 naming the record, the pcap so far readable" {
	{
		open_rec m 1700000000000000 127.0.0.1:40000 127.0.0.1:6379
		rec data m 1700000000000100 c2s 'hello'
		printf '%-63s\n' 'tap1 data m 1700000000000200 c2s 01'
	} >"$T/stream"
	run --separate-stderr "$PCAP" -w "$T/cap.pcap" <"$T/stream"
	assert_failure 1
	assert_equal "$stderr" 'tap-pcap: record 3: bad header (LEN)'
	# SYN, SYN-ACK, ACK, "hello" and its ACK.
	run fields "$T/cap.pcap" frame frame.number
	assert_success
	assert_equal "${#lines[@]}" 5
	run fields "$T/cap.pcap" 'tcp.len > 0' tcp.payload
	assert_output 68656c6c6f
}

@test "pcap: data after its direction's shut is bad input" {
	{
		open_rec m 1700000000000000 127.0.0.1:40000 127.0.0.1:6379
		rec shut m 1700000000000100 c2s ''
		rec data m 1700000000000200 c2s 'late'
	} >"$T/stream"
	run --separate-stderr "$PCAP" <"$T/stream"
	assert_failure 1
	assert_equal "$stderr" 'tap-pcap: record 3: data in c2s after its shut'
}

@test "pcap: an open record with a bad address is bad input" {
	open_rec m 1700000000000000 'not-an-address' 127.0.0.1:6379 >"$T/stream"
	run --separate-stderr "$PCAP" <"$T/stream"
	assert_failure 1
	assert_equal "$stderr" 'tap-pcap: record 1: client=not-an-address: not IP:PORT, [V6]:PORT or unix:PATH'
}

@test "pcap: -h prints usage on stdout; bad usage exits 2; an unwritable -w exits 3" {
	run --separate-stderr "$PCAP" -h
	assert_success
	assert_output 'usage: tap-pcap [-s sid] [-w file]'
	run --separate-stderr "$PCAP" -x
	assert_failure 2
	assert_equal "${stderr_lines[-1]}" 'usage: tap-pcap [-s sid] [-w file]'
	run --separate-stderr "$PCAP" extra
	assert_failure 2
	run --separate-stderr "$PCAP" -w "$T/no/such/dir/x.pcap" </dev/null
	assert_failure 3
}

@test "pcap: a TSV recording piped through tap-pcap is read by tshark -r -" {
	printf '# ts_proxy recording v1\n0\tc2s\t%s\n1500\ts2c\t%s\n' \
	    "$(printf 'GET /x HTTP/1.1\r\nHost: h\r\n\r\n' | od -An -v -tx1 | tr -d ' \n')" \
	    "$(printf 'HTTP/1.1 204 No Content\r\n\r\n' | od -An -v -tx1 | tr -d ' \n')" \
	    >"$T/s.tsv"
	run bash -c "'$ROOT/bin/tap-tsv' -d --server 127.0.0.1:80 '$T/s.tsv' |
	    '$PCAP' | tshark -r - -Y http -T fields -e http.request.uri \
	    -e http.response.code 2>/dev/null"
	assert_success
	assert_output "$(printf '/x\t\n\t204')"
}
