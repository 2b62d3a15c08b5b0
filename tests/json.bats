#!/usr/bin/env bats
# tap-json: a tap stream as JSON Lines, one object per record and a
# Zeek conn.log-style summary per close.  Everything is read back with jq.

load test_helper

JSON=$ROOT/bin/tap-json
GEN=$ROOT/tests/bin/tt-tapgen

. "$ROOT/tests/fixtures/session.sh"

# two_sessions: sessions a and b with random payloads cut into records of
# 1..70000 bytes, unknown kinds mixed in, as $T/s.tap.
two_sessions() {
	random_file "$T/a.c2s" 1000000
	random_file "$T/a.s2c" 700001
	random_file "$T/b.c2s" 30003
	random_file "$T/b.s2c" 77
	"$GEN" -u -m 70000 -S "$RANDOM" \
	    a "$T/a.c2s" "$T/a.s2c" b "$T/b.c2s" "$T/b.s2c" >"$T/s.tap"
}

# records FILE: the number of records in a tap stream, header by header.
records() {
	python3 -c 'import sys
d = open(sys.argv[1], "rb").read()
i = n = 0
while i < len(d):
    n += 1
    i += 64 + int(d[i:i + 64].split()[5])
print(n)' "$1"
}

# conn FILE FILTER: FILTER applied to the one summary in FILE, raw.
conn() {
	jq -r "select(.kind==\"conn\") | $2" "$1"
}

# relay_json STEPS...: a live relay with tap-json as its tap; the server
# steps are in $srv_steps, the client's are the arguments.  Waits for the
# summary line in $T/out.
relay_json() {
	start_server1 srv 127.0.0.1:0 $srv_steps
	start_tcptap -t "'$JSON' > '$T/out'" 127.0.0.1:0 "127.0.0.1:$srv_port"
	peer connect "127.0.0.1:$tap_port" "$@" >"$T/client" || true
	wait_log "$T/out" '"kind":"conn"'
	client_port=$(sed -E 's/^local=[^ ]*:([0-9]+) .*/\1/' "$T/client")
}

@test "every line is valid JSON: one per record plus one summary per session" {
	two_sessions
	"$JSON" <"$T/s.tap" >"$T/out"
	jq -c . <"$T/out" >"$T/parsed"
	assert_equal "$(wc -l <"$T/parsed")" "$(wc -l <"$T/out")"
	assert_equal "$(wc -l <"$T/out")" "$(($(records "$T/s.tap") + 2))"
	assert_equal "$(jq -r 'select(.kind=="zzz") | .data' "$T/out" | sort -u)" \
	    "$(printf 'noise\n' | base64)"
}

@test "record members: ts with microseconds, sid, kind, dir, len, key=value members" {
	session_tap >"$T/s.tap"
	"$JSON" <"$T/s.tap" >"$T/out"
	run jq -c '[.ts, .sid, .kind, .dir, .len]' "$T/out"
	assert_line --index 0 '[1700000000,"s1","open",null,67]'
	assert_line --index 1 '[1700000000.001234,"s1","data","c2s",5]'
	assert_line --index 4 '[1700000000.003,"s1","shut","c2s",0]'
	# The text keeps all six decimals.
	run grep -c '^{"ts":1700000000\.001234,"sid":"s1","kind":"data"' "$T/out"
	assert_output 1
	run jq -c 'select(.kind=="open") | [.client, .server, .listen]' "$T/out"
	assert_output '["127.0.0.1:41000","127.0.0.1:6379","127.0.0.1:9000"]'
	run jq -c 'select(.kind=="close") | [.reason, .by, .c2s_bytes, .s2c_bytes, .duration_us]' "$T/out"
	assert_output '["eof","client",5,38,4500]'
	run jq -c 'select(.kind=="gap") | [.dir, .bytes, (.bytes|type), has("data")]' "$T/out"
	assert_output '["s2c",7,"number",false]'
	run jq -c 'select(.kind=="shut") | has("data")' "$T/out"
	assert_output false
}

@test "data decodes from base64 to the exact bytes, per session and direction" {
	two_sessions
	"$JSON" <"$T/s.tap" >"$T/out"
	for s in a b; do
		for d in c2s s2c; do
			jq -r "select(.sid==\"$s\" and .kind==\"data\" and .dir==\"$d\") | .data" \
			    "$T/out" | base64 -d >"$T/got.$s.$d"
			assert_same_file "$T/$s.$d" "$T/got.$s.$d"
		done
	done
}

@test "--text: quotes, backslash, control bytes, 0x00, 0x7f, 0xff round-trip through jq" {
	printf '"q" \\ \n\r\t\000\001\037\177\200\377 end' >"$T/tricky"
	{ rec data s1 1700000000000001 c2s "$(stat -c %s "$T/tricky")"
	  cat "$T/tricky"; } >"$T/s.tap"
	"$JSON" --text <"$T/s.tap" >"$T/out"
	jq -j .text "$T/out" | iconv -f UTF-8 -t ISO-8859-1 >"$T/back"
	assert_same_file "$T/tricky" "$T/back"
	run grep -cF '"text":"\"q\" \\ \n\r\t\u0000\u0001\u001f\u007f\u0080\u00ff end"' "$T/out"
	assert_output 1
	jq -r .data "$T/out" | base64 -d >"$T/back64"
	assert_same_file "$T/tricky" "$T/back64"
}

@test "--text: all 256 byte values come back exactly" {
	python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 3)' >"$T/all"
	{ rec data s1 1700000000000001 s2c 768; cat "$T/all"; } >"$T/s.tap"
	"$JSON" --text <"$T/s.tap" >"$T/out"
	jq -j .text "$T/out" | iconv -f UTF-8 -t ISO-8859-1 >"$T/back"
	assert_same_file "$T/all" "$T/back"
}

@test "--no-data: metadata and key=value members only, no payload" {
	session_tap >"$T/s.tap"
	run "$JSON" --no-data <"$T/s.tap"
	assert_success
	refute_output --partial '"data":'
	refute_output --partial '"text":'
	assert_equal "$(printf '%s\n' "$output" | jq -c 'select(.kind=="data") | .len')" "5
38"
	assert_equal "$(printf '%s\n' "$output" | jq -r 'select(.kind=="open") | .client')" \
	    127.0.0.1:41000
	assert_equal "$(printf '%s\n' "$output" | jq -r 'select(.kind=="conn") | .resp_bytes')" 38
}

@test "-s SID: only that session's records and summary" {
	two_sessions
	"$JSON" -s b <"$T/s.tap" >"$T/out"
	assert_equal "$(jq -r .sid "$T/out" | sort -u)" b
	assert_equal "$(conn "$T/out" '[.uid, .orig_bytes, .resp_bytes] | @tsv')" \
	    "$(printf 'b\t30003\t77')"
}

@test "two interleaved sessions: each summary has its own bytes and history" {
	two_sessions
	"$JSON" <"$T/s.tap" >"$T/out"
	run jq -r 'select(.kind=="conn") | [.uid, .orig_bytes, .resp_bytes, .conn_state] | @tsv' "$T/out"
	assert_line "$(printf 'a\t1000000\t700001\tSF')"
	assert_line "$(printf 'b\t30003\t77\tSF')"
	assert_equal "${#lines[@]}" 2
	# The summary follows its session's close record.
	run jq -r 'select(.kind=="close" or .kind=="conn") | .kind + " " + .sid' "$T/out"
	assert_equal "${lines[0]#close }" "${lines[1]#conn }"
	assert_equal "${lines[2]#close }" "${lines[3]#conn }"
}

@test "live eof: conn_state SF, addresses, bytes, duration and history" {
	srv_steps="recv=5 send=world! shut eof"
	relay_json send=hello eof shut
	stop_tcptap
	assert_equal "$(conn "$T/out" .conn_state)" SF
	assert_equal "$(conn "$T/out" '[.proto, ."id.orig_h", ."id.resp_h", .reason] | @tsv')" \
	    "$(printf 'tcp\t127.0.0.1\t127.0.0.1\teof')"
	assert_equal "$(conn "$T/out" '."id.resp_p"')" "$srv_port"
	assert_equal "$(conn "$T/out" '."id.orig_p" | type')" number
	assert_equal "$(conn "$T/out" '."id.orig_p"')" "$client_port"
	assert_equal "$(conn "$T/out" '[.orig_bytes, .resp_bytes] | @tsv')" \
	    "$(printf '5\t6')"
	# duration is the close record's duration_us, in seconds.
	us=$(jq -r 'select(.kind=="close") | .duration_us' "$T/out")
	[ "$us" -gt 0 ] || fail "duration_us is $us"
	run grep -cE "\"duration\":$((us / 1000000))\.$(printf %06d $((us % 1000000)))," "$T/out"
	assert_output 1
	# ts is the open record's time.
	assert_equal "$(grep '"kind":"conn"' "$T/out" | grep -oE '^\{"ts":[0-9.]+')" \
	    "$(grep '"kind":"open"' "$T/out" | grep -oE '^\{"ts":[0-9.]+')"
	history=$(conn "$T/out" .history)
	[[ "$history" == ShA* ]] || fail "history $history"
	for l in D d F f; do
		[[ "$history" == *"$l"* ]] || fail "history $history lacks $l"
	done
}

@test "live client reset: conn_state RSTO, history ends in R" {
	srv_steps=eof
	relay_json send=hello reset
	stop_tcptap
	assert_equal "$(conn "$T/out" '[.conn_state, .reason, .by, .orig_bytes] | @tsv')" \
	    "$(printf 'RSTO\treset\tclient\t5')"
	history=$(conn "$T/out" .history)
	[[ "$history" == ShAD*R ]] || fail "history $history"
}

@test "live server reset: conn_state RSTR, history ends in r" {
	srv_steps="recv=5 send=hey reset"
	relay_json send=hello eof
	stop_tcptap
	assert_equal "$(conn "$T/out" '[.conn_state, .reason, .by, .resp_bytes] | @tsv')" \
	    "$(printf 'RSTR\treset\tserver\t3')"
	history=$(conn "$T/out" .history)
	[[ "$history" == *r ]] || fail "history $history"
}

@test "live refused target: conn_state REJ, no responder, no bytes" {
	port=$("$PEER" freeport)
	start_tcptap -t "'$JSON' > '$T/out'" 127.0.0.1:0 "127.0.0.1:$port"
	peer connect "127.0.0.1:$tap_port" eof || true
	wait_log "$T/out" '"kind":"conn"'
	stop_tcptap
	assert_equal "$(conn "$T/out" '[.conn_state, .reason, .history, .orig_bytes, .resp_bytes, .duration] | @tsv')" \
	    "$(printf 'REJ\terror\tS\t0\t0\t0')"
	assert_equal "$(conn "$T/out" '[."id.resp_h", ."id.resp_p"] | tojson')" \
	    '[null,null]'
	assert_equal "$(conn "$T/out" '."id.orig_h"')" 127.0.0.1
}

@test "live IPv6 relay: [::1]:PORT split into host and port" {
	start_server1 srv '[::1]:0' recv=2 send=ok shut eof
	start_tcptap -t "'$JSON' > '$T/out'" '[::1]:0' "[::1]:$srv_port"
	peer connect "[::1]:$tap_port" send=hi eof shut >"$T/client"
	wait_log "$T/out" '"kind":"conn"'
	stop_tcptap
	client_port=$(sed -E 's/^local=\[::1\]:([0-9]+) .*/\1/' "$T/client")
	assert_equal "$(conn "$T/out" '[."id.orig_h", ."id.orig_p", ."id.resp_h", ."id.resp_p"] | tojson')" \
	    "[\"::1\",$client_port,\"::1\",$srv_port]"
	assert_equal "$(jq -r 'select(.kind=="open") | .server' "$T/out")" \
	    "[::1]:$srv_port"
}

@test "addresses: full IPv6, unix:PATH (null port), unreadable, absent" {
	open=$'client=[2001:db8::7]:51000\nserver=unix:/run/x.sock\nlisten=:80\n'
	close=$'reason=timeout\nby=relay\nc2s_bytes=0\ns2c_bytes=0\nduration_us=3000001\n'
	{ rec open s1 1700000000000000 - ${#open}; printf %s "$open"
	  rec close s1 1700000003000001 - ${#close}; printf %s "$close"; } >"$T/s.tap"
	"$JSON" <"$T/s.tap" >"$T/out"
	assert_equal "$(conn "$T/out" '[."id.orig_h", ."id.orig_p", ."id.resp_h", ."id.resp_p", .conn_state] | tojson')" \
	    '["2001:db8::7",51000,"unix:/run/x.sock",null,"OTH"]'
	run grep -c '"duration":3\.000001,' "$T/out"
	assert_output 1

	open=$'client=bogus:99999\nlisten=[::1]:80\n'
	{ rec open s2 1700000000000000 - ${#open}; printf %s "$open"
	  rec close s2 1700000003000001 - ${#close}; printf %s "$close"; } >"$T/s.tap"
	"$JSON" <"$T/s.tap" >"$T/out"
	assert_equal "$(conn "$T/out" '[."id.orig_h", ."id.orig_p", ."id.resp_h", ."id.resp_p"] | tojson')" \
	    '["bogus:99999",null,null,null]'
}

@test "a close without its open: summary with null addresses, ts from the duration" {
	close=$'reason=eof\nby=server\nc2s_bytes=10\ns2c_bytes=20\nduration_us=2500000\n'
	{ rec data s9 1700000002000000 c2s 3; printf abc
	  rec close s9 1700000005000000 - ${#close}; printf %s "$close"; } >"$T/s.tap"
	"$JSON" <"$T/s.tap" >"$T/out"
	assert_equal "$(grep '"kind":"conn"' "$T/out" | grep -oE '^\{"ts":[0-9.]+')" \
	    '{"ts":1700000002.500000'
	assert_equal "$(conn "$T/out" '[."id.orig_h", .orig_bytes, .resp_bytes, .history, .conn_state] | tojson')" \
	    '[null,10,20,"D","SF"]'
}

@test "key=value oddities: repeated key keeps the first, record members are not overwritten" {
	open=$'client=127.0.0.1:1\nclient=10.0.0.1:2\nlen=999\nkind=x\nnoequals\n=v\nbig=1234567890123456\nzero=007\n'
	{ rec open s1 1700000000000000 - ${#open}; printf %s "$open"; } >"$T/s.tap"
	"$JSON" <"$T/s.tap" >"$T/out"
	assert_equal "$(jq -c '[.client, .len, .["kv.len"], .kind, .["kv.kind"], .big, .zero]' "$T/out")" \
	    "[\"127.0.0.1:1\",${#open},999,\"open\",\"x\",\"1234567890123456\",\"007\"]"
	assert_equal "$(jq -c 'keys | length' "$T/out")" 10
}

@test "one write(2) per line, also for lines of megabytes" {
	two_sessions
	n=$(($(records "$T/s.tap") + 2))
	env ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace -o "$T/trace" -e trace=write "$JSON" --text <"$T/s.tap" >"$T/out"
	assert_equal "$(wc -l <"$T/out")" "$n"
	assert_equal "$(grep -c '^write(1, ' "$T/trace")" "$n"
	run grep -vE '^(write\(1, |\+\+\+ exited with 0)' "$T/trace"
	assert_output ''
	[ "$(wc -L <"$T/out")" -gt 100000 ] || fail "no long line in the test"
}

@test "bad header: exit 1, record named, every earlier line intact" {
	session_tap >"$T/s.tap"
	rec data s1 1700000000009000 c2s 012 >>"$T/s.tap"
	run --separate-stderr "$JSON" <"$T/s.tap"
	assert_failure 1
	assert_equal "$stderr" 'tap-json: record 8: bad header (LEN)'
	assert_equal "$(printf '%s\n' "$output" | jq -c . | wc -l)" 8
	assert_equal "$(printf '%s\n' "$output" | tail -n 1 | jq -r .kind)" conn
}

@test "truncated payload: exit 1, earlier lines intact, no half line" {
	{ rec data s1 1700000000000001 c2s 5; printf hello
	  rec data s1 1700000000000002 s2c 100; printf short; } >"$T/s.tap"
	run --separate-stderr "$JSON" <"$T/s.tap"
	assert_failure 1
	assert_equal "$stderr" 'tap-json: record 2: truncated payload, 95 bytes missing'
	assert_equal "$(printf '%s\n' "$output" | jq -r .data)" "$(printf hello | base64)"
}

@test "usage: -h on stdout exits 0; bad options and --no-data with --text exit 2" {
	run --separate-stderr "$JSON" -h
	assert_success
	assert_output 'usage: tap-json [--no-data | --text] [-s sid]'
	run --separate-stderr "$JSON" --no-data --text
	assert_failure 2
	[[ "$stderr" == *'usage: tap-json '* ]] || fail "stderr: $stderr"
	run --separate-stderr "$JSON" -s 'bad sid!'
	assert_failure 2
	run --separate-stderr "$JSON" file.tap
	assert_failure 2
}
