#!/usr/bin/env bats
# Every program has a man page whose SYNOPSIS is exactly its usage().

load test_helper

# synopsis PAGE: the SYNOPSIS section as mandoc renders it, unindented.
synopsis() {
	mandoc -T ascii "$1" | col -bx |
	    awk '/^SYNOPSIS/ { on = 1; next } /^[A-Z]/ { on = 0 } on && NF' |
	    sed -E 's/^ {5}//'
}

# usage_of PROG: what PROG -h prints (or the usage part of its error).
usage_of() {
	"$ROOT/bin/$1" -h 2>&1 | sed -n '/^usage: /,$p' |
	    sed -E 's/^usage: //; s/^       //'
}

check_page() {
	local prog=$1 page=$ROOT/share/man/man1/$1.1
	[ -f "$page" ] || fail "no man page $page"
	run mandoc -T lint -W warning "$page"
	assert_success
	assert_output ''
	assert_equal "$(synopsis "$page")" "$(usage_of "$prog")"
}

@test "man: tcptap(1) lints clean and its SYNOPSIS is tcptap's usage" {
	check_page tcptap
}

@test "man: tap-hexdump(1) lints clean and its SYNOPSIS is tap-hexdump's usage" {
	check_page tap-hexdump
}

@test "man: tap-cat(1) lints clean and its SYNOPSIS is tap-cat's usage" {
	check_page tap-cat
}

@test "man: tap-frame(1) lints clean and its SYNOPSIS is tap-frame's usage" {
	check_page tap-frame
}

@test "man: tap-tsv(1) lints clean and its SYNOPSIS is tap-tsv's usage" {
	check_page tap-tsv
}

@test "man: tap-replay(1) lints clean and its SYNOPSIS is tap-replay's usage" {
	check_page tap-replay
}

@test "man: tap-json(1) lints clean and its SYNOPSIS is tap-json's usage" {
	check_page tap-json
}

@test "man: tap-pcap(1) lints clean and its SYNOPSIS is tap-pcap's usage" {
	check_page tap-pcap
}

@test "man: fault-delay(1) lints clean and its SYNOPSIS is fault-delay's usage" {
	check_page fault-delay
}

@test "man: fault-throttle(1) lints clean and its SYNOPSIS is fault-throttle's usage" {
	check_page fault-throttle
}

@test "man: fault-slice(1) lints clean and its SYNOPSIS is fault-slice's usage" {
	check_page fault-slice
}

@test "man: fault-cut(1) lints clean and its SYNOPSIS is fault-cut's usage" {
	check_page fault-cut
}

@test "man: fault-corrupt(1) lints clean and its SYNOPSIS is fault-corrupt's usage" {
	check_page fault-corrupt
}

@test "man: tap-redact(1) lints clean and its SYNOPSIS is tap-redact's usage" {
	check_page tap-redact
}
