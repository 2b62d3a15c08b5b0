# Shared helpers for the tcptap bats suites.  Load with `load test_helper`.
#
# Every background process is started with bg (3>&- so bats does not wait
# on it), remembered, and stopped by its PID in teardown.  Every wait is
# bounded: timeout(1) around blocking commands, a capped loop (poll) around
# readiness checks.  Set TCPTAP_BIN to run the suite on another binary.

bats_require_minimum_version 1.5.0
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
TCPTAP=${TCPTAP_BIN:-$ROOT/bin/tcptap}
PEER=$ROOT/tests/bin/tt-peer
SID_RE='[0-9A-Za-z._-]{1,20}'

setup() {
	T=$BATS_TEST_TMPDIR
	BG_PIDS=()
	[ -x "$TCPTAP" ] || fail "$TCPTAP is not built (run make)"
	[ -x "$PEER" ] || fail "$PEER is not built (run make)"
}

teardown() {
	local pid
	for pid in "${BG_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || continue
		timeout 5 tail -s 0.02 --pid="$pid" -f /dev/null ||
		    kill -KILL "$pid" 2>/dev/null || true
	done
	for pid in "${BG_PIDS[@]}"; do
		timeout 5 tail -s 0.02 --pid="$pid" -f /dev/null || true
	done
}

# bg NAME CMD...: run CMD in the background, stdout to $T/NAME.out, stderr
# to $T/NAME.err; sets NAME_pid.
bg() {
	local name=$1
	shift
	"$@" 3>&- </dev/null >"$T/$name.out" 2>"$T/$name.err" &
	BG_PIDS+=($!)
	printf -v "${name}_pid" %s "$!"
}

# poll SECS CONDITION: true once the (bash) condition holds, false if it did
# not within SECS seconds; bounded in time and in the number of tries.
poll() {
	local secs=$1 i deadline=$((SECONDS + $1 + 1))
	shift
	for ((i = 0; i < secs * 50; i++)); do
		eval "$*" && return 0
		((SECONDS < deadline)) || return 1
		sleep 0.02
	done
	return 1
}

# wait_for SECS SHELL-CONDITION: poll, fail the test on timeout.
wait_for() {
	poll "$@" || fail "timed out after ${1}s waiting for: ${*:2}"
}

# wait_file FILE [SECS]: until FILE exists and is non-empty.
wait_file() {
	poll "${2:-10}" "[ -s '$1' ]" ||
	    fail "timed out after ${2:-10}s waiting for $1"
}

# wait_log FILE ERE [SECS]: until a line of FILE matches ERE.
wait_log() {
	poll "${3:-10}" "grep -Eq -- '$2' '$1'" ||
	    fail "no line matching /$2/ in $1 after ${3:-10}s; it has:
$(cat "$1")"
}

# wait_exit PID [SECS]: until PID exits; sets exit_status.  Fails on timeout.
wait_exit() {
	local pid=$1 secs=${2:-10}
	timeout "$secs" tail -s 0.02 --pid="$pid" -f /dev/null ||
	    fail "process $pid still running after ${secs}s"
	exit_status=0
	wait "$pid" || exit_status=$?
}

# start_server NAME ADDR STEP...: a tt-peer listener (forks per connection)
# on ADDR; sets NAME_port (once it listens) and NAME_pid.
start_server() {
	local name=$1 addr=$2
	shift 2
	bg "$name" "$PEER" -P "$T/$name.port" listen "$addr" "$@"
	wait_file "$T/$name.port"
	printf -v "${name}_port" %s "$(cat "$T/$name.port")"
}

# start_server1 NAME ADDR STEP...: like start_server, one connection only,
# received bytes in $T/NAME.data, report line in $T/NAME.out.
start_server1() {
	local name=$1 addr=$2
	shift 2
	bg "$name" "$PEER" -1 -o "$T/$name.data" -P "$T/$name.port" \
	    listen "$addr" "$@"
	wait_file "$T/$name.port"
	printf -v "${name}_port" %s "$(cat "$T/$name.port")"
}

# start_tcptap ARGS...: tcptap -P on port 0 (the caller puts the listen
# address, e.g. 127.0.0.1:0, in ARGS); log in $T/tap.err; sets tap_port
# and tap_pid once the port file is written.
start_tcptap() {
	rm -f "$T/tap.port"	# a port file left by an earlier tcptap
	bg tap "$TCPTAP" -P "$T/tap.port" "$@"
	poll 10 "[ -s '$T/tap.port' ] || ! kill -0 $tap_pid 2>/dev/null"
	[ -s "$T/tap.port" ] ||
	    fail "tcptap wrote no port file; its stderr: $(cat "$T/tap.err")"
	tap_port=$(cat "$T/tap.port")
}

# peer ARGS...: run a tt-peer client in the foreground, bounded (20 s).
peer() {
	timeout 20 "$PEER" "$@"
}

# random_file FILE SIZE: SIZE (head -c syntax) random bytes.
random_file() {
	head -c "$2" /dev/urandom >"$1"
}

# assert_same_file A B: byte-identical, compared by sha256.
assert_same_file() {
	local -a sum
	[ -f "$1" ] || fail "$1: no such file"
	[ -f "$2" ] || fail "$2: no such file"
	sum=($(sha256sum "$1" "$2"))
	[ "${sum[0]}" = "${sum[2]}" ] ||
	    fail "$1 ($(stat -c %s "$1") bytes, sha256 ${sum[0]}) differs from $2 ($(stat -c %s "$2") bytes, sha256 ${sum[2]})"
}

# stop_tcptap [SECS]: SIGTERM the listener, wait for it; sets exit_status.
stop_tcptap() {
	kill -TERM "$tap_pid"
	wait_exit "$tap_pid" "${1:-10}"
}

# accept_queue PORT: connections waiting in the accept queue of the TCP
# listener on PORT (Recv-Q of the listening socket).
accept_queue() {
	ss -Hltn "sport = :$1" | awk '{ print $2; exit }'
}

# log_count FILE ERE: the number of lines of FILE matching ERE.
log_count() {
	grep -Ec -- "$2" "$1" || true
}

# ms_since START_NS: milliseconds elapsed since START_NS (date +%s%N).
ms_since() {
	echo $((($(date +%s%N) - $1) / 1000000))
}


# heavy: the bulk cases (hundreds of MiB) that make a sanitizer run too
# slow for CI: skipped in a SANITIZE build unless TCPTAP_LONG is set
# (make check-long), which also makes them bigger (long_size).
heavy() {
	[ -z "${SANITIZE:-}" ] || [ -n "${TCPTAP_LONG:-}" ] ||
	    skip "bulk case: make check-long runs it under sanitizers"
}

# long_size NORMAL LONG: NORMAL, or LONG under make check-long.
long_size() {
	if [ -n "${TCPTAP_LONG:-}" ]; then echo "$2"; else echo "$1"; fi
}

