#!/usr/bin/env bats
# Inline filters (-x): programs in the data path of one direction.

load test_helper

@test "inline: gzip | gunzip on each direction leaves 64 MiB each way sha256-exact" {
	heavy
	random_file "$T/c2s" 64M
	random_file "$T/s2c" 64M
	start_server1 srv 127.0.0.1:0 "file=$T/s2c" shut eof
	start_tcptap -x c2s:'gzip -1' -x c2s:gunzip -x s2c:'gzip -1' -x s2c:gunzip \
	    127.0.0.1:0 "127.0.0.1:$srv_port"
	run timeout 120 "$PEER" -o "$T/got" connect "127.0.0.1:$tap_port" \
	    "file=$T/c2s" shut eof
	assert_success
	wait_exit "$srv_pid" 60
	assert_same_file "$T/c2s" "$T/srv.data"
	assert_same_file "$T/s2c" "$T/got"
	wait_log "$T/tap.err" '^tcptap: close .*reason=eof .*c2s_bytes=67108864 s2c_bytes=67108864'
}

@test "inline: a buffering sed does not stall a request/response once the client half-closes" {
	start_server srv 127.0.0.1:0 echo
	start_tcptap -x c2s:'sed s/ping/PING/' 127.0.0.1:0 "127.0.0.1:$srv_port"
	run peer -o "$T/got" connect "127.0.0.1:$tap_port" send='ping
' shut eof
	assert_success
	assert_equal "$(cat "$T/got")" PING
}

@test "inline: several filters on one direction chain in command-line order" {
	start_server srv 127.0.0.1:0 echo
	start_tcptap -x c2s:'tr a b' -x c2s:'tr b c' -x s2c:'tr c d' \
	    127.0.0.1:0 "127.0.0.1:$srv_port"
	run peer -o "$T/got" connect "127.0.0.1:$tap_port" send=aaa shut eof
	assert_success
	assert_equal "$(cat "$T/got")" ddd
}

@test "inline: taps see the bytes as sent by default, and as delivered with --tap-point delivered" {
	# tr buffers until its EOF: the client half-closes first.
	start_server srv 127.0.0.1:0 echo
	start_tcptap -x c2s:'tr a-z A-Z' -t "cat > '$T/sent'" 127.0.0.1:0 \
	    "127.0.0.1:$srv_port"
	run peer connect "127.0.0.1:$tap_port" send=hello shut eof
	assert_success
	stop_tcptap
	run "$ROOT/bin/tap-cat" -d c2s <"$T/sent"
	assert_output hello
	run grep -ac '^tap_point=sent$' "$T/sent"
	assert_output 1

	start_tcptap --tap-point delivered -x c2s:'tr a-z A-Z' \
	    -t "cat > '$T/delivered'" 127.0.0.1:0 "127.0.0.1:$srv_port"
	run peer connect "127.0.0.1:$tap_port" send=hello shut eof
	assert_success
	stop_tcptap
	run "$ROOT/bin/tap-cat" -d c2s <"$T/delivered"
	assert_output HELLO
	run grep -ac '^tap_point=delivered$' "$T/delivered"
	assert_output 1
}

@test "inline: a filter that exits 99 ends the connection with a reset" {
	start_server1 srv 127.0.0.1:0 send=abcdef wait="$T/never" eof
	start_tcptap -x s2c:'head -c 3; exit 99' 127.0.0.1:0 "127.0.0.1:$srv_port"
	run peer -o "$T/got" connect "127.0.0.1:$tap_port" eof
	assert_output --regexp 'recv=3 end=reset$'
	assert_equal "$(cat "$T/got")" abc
	wait_log "$T/tap.err" '^tcptap: close .*reason=reset by=relay'
}

@test "inline: in exec mode the filters sit between the client and the program" {
	start_tcptap -x s2c:'tr a-z A-Z' 127.0.0.1:0 -- cat
	run peer -o "$T/got" connect "127.0.0.1:$tap_port" send=hello shut eof
	assert_success
	assert_equal "$(cat "$T/got")" HELLO
}

@test "inline: a bad -x or --tap-point is a usage error" {
	run "$TCPTAP" -x up:cat 127.0.0.1:0 127.0.0.1:1
	assert_equal "$status" 2
	assert_output --partial 'not c2s:CMD or s2c:CMD'
	run "$TCPTAP" --tap-point middle 127.0.0.1:0 127.0.0.1:1
	assert_equal "$status" 2
}

@test "inline: fault-delay on each direction adds its latency once per chunk, not per byte" {
	start_server srv 127.0.0.1:0 echo
	start_tcptap -x c2s:"'$ROOT/bin/fault-delay' 300ms" \
	    -x s2c:"'$ROOT/bin/fault-delay' 300ms" 127.0.0.1:0 "127.0.0.1:$srv_port"
	msg=0123456789012345678901234567890123456789
	start=$(date +%s%N)
	run peer connect "127.0.0.1:$tap_port" send=$msg recv=40 shut eof
	ms=$(ms_since "$start")
	assert_success
	# Two delays at least; per byte would be 80 of them (24 s).
	((ms >= 600 && ms < 5000)) || fail "round trip took $ms ms"
}

@test "inline: fault-cut -m reset resets the client after exactly N bytes" {
	start_server1 srv 127.0.0.1:0 send=abcdefghij wait="$T/never" eof
	start_tcptap -x s2c:"'$ROOT/bin/fault-cut' -n 4 -m reset" 127.0.0.1:0 \
	    "127.0.0.1:$srv_port"
	run peer -o "$T/got" connect "127.0.0.1:$tap_port" eof
	assert_output --regexp 'recv=4 end=reset$'
	assert_equal "$(cat "$T/got")" abcd
	wait_log "$T/tap.err" 'fault-cut: '
}

@test "inline: tap-redact -r stars a secret on the wire" {
	start_server1 srv 127.0.0.1:0 eof
	start_tcptap -x c2s:"'$ROOT/bin/tap-redact' -r -F s3cret" 127.0.0.1:0 \
	    "127.0.0.1:$srv_port"
	run peer connect "127.0.0.1:$tap_port" send='token=s3cret;' shut eof
	assert_success
	wait_exit "$srv_pid"
	assert_equal "$(cat "$T/srv.data")" 'token=******;'
}
