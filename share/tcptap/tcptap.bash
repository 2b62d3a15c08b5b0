# tcptap.bash: record and replay TCP conversations in your own bats tests.
#
#	load /usr/local/share/tcptap/tcptap.bash
#	teardown() { tcptap_stop; }
#
#	@test "client talks to a recorded server" {
#		tcptap_replay_server -H 0 test/fixtures/redis.tsv
#		run my-client --port "$TCPTAP_PORT"
#		...
#	}
#
# Every process it starts is stopped by its PID in tcptap_stop, every
# wait is bounded, and everything listens on 127.0.0.1 port 0 (the port
# the kernel picks is exported, so tests never collide).  Programs are
# taken from $TCPTAP_BINDIR when set, else from PATH.

TCPTAP_PIDS=()

_tcptap_bin() {
	if [ -n "${TCPTAP_BINDIR:-}" ]; then
		echo "$TCPTAP_BINDIR/$1"
	else
		command -v "$1" || { echo "tcptap.bash: $1 not found" >&2; return 1; }
	fi
}

_tcptap_dir() {
	local d=${BATS_TEST_TMPDIR:-${TMPDIR:-/tmp}}/tcptap.$$.$RANDOM
	mkdir -p "$d" && echo "$d"
}

# _tcptap_start DIR ARGS...: tcptap -P DIR/port ARGS in the background;
# sets TCPTAP_PORT once it listens (10 s at most).
_tcptap_start() {
	local dir=$1 tcptap i
	shift
	tcptap=$(_tcptap_bin tcptap) || return 1
	"$tcptap" -q -P "$dir/port" "$@" 3>&- </dev/null 2>"$dir/tcptap.log" &
	TCPTAP_PIDS+=("$!")
	for ((i = 0; i < 500; i++)); do
		[ -s "$dir/port" ] && break
		kill -0 "$!" 2>/dev/null || break
		sleep 0.02
	done
	[ -s "$dir/port" ] || {
		echo "tcptap.bash: tcptap did not start: $(cat "$dir/tcptap.log")" >&2
		return 1
	}
	export TCPTAP_PORT
	TCPTAP_PORT=$(cat "$dir/port")
}

# tcptap_replay_server [TAP-REPLAY OPTIONS] FILE: a fake server on
# 127.0.0.1:$TCPTAP_PORT that plays the recording FILE to each client
# (tap-replay's server role).  Its log is $TCPTAP_LOG.
tcptap_replay_server() {
	local dir replay
	dir=$(_tcptap_dir) || return 1
	replay=$(_tcptap_bin tap-replay) || return 1
	export TCPTAP_LOG=$dir/tcptap.log
	_tcptap_start "$dir" 127.0.0.1:0 -- "$replay" "$@"
}

# tcptap_record_relay TARGET [TAP-FRAME OPTIONS]: a relay on
# 127.0.0.1:$TCPTAP_PORT in front of TARGET (HOST:PORT or unix:PATH)
# that records each connection to $TCPTAP_RECORDING/SID.tsv.  With
# framing options, each message is framed by tap-frame first.
tcptap_record_relay() {
	local target=$1 dir tsv frame cmd
	shift
	dir=$(_tcptap_dir) || return 1
	tsv=$(_tcptap_bin tap-tsv) || return 1
	cmd="'$tsv' > '$dir/rec/'\$TCPTAP_SID.tsv"
	if [ $# -gt 0 ]; then
		frame=$(_tcptap_bin tap-frame) || return 1
		cmd="'$frame' $* | $cmd"
	fi
	mkdir -p "$dir/rec"
	export TCPTAP_RECORDING=$dir/rec TCPTAP_LOG=$dir/tcptap.log
	_tcptap_start "$dir" -t "$cmd" 127.0.0.1:0 "$target"
}

# tcptap_stop: stop everything started here, by PID; wait 5 s at most
# each (the relays finish their recordings first), then kill.
tcptap_stop() {
	local pid i
	for pid in "${TCPTAP_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || continue
		for ((i = 0; i < 250; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.02
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	TCPTAP_PIDS=()
}

# _tcptap_sent DIR TEXT: true when a recording has a DIR line whose
# payload contains TEXT.
_tcptap_sent() {
	local hex
	hex=$(printf '%s' "$2" | od -An -v -tx1 | tr -d ' \n')
	cat "$TCPTAP_RECORDING"/*.tsv 2>/dev/null |
	    grep -q -P "^[0-9]+\t$1\t([0-9a-f]{2})*$hex"
}

# tcptap_assert_sent c2s|s2c TEXT: some recorded message in that
# direction contains TEXT.  tcptap_refute_sent: none does.
tcptap_assert_sent() {
	_tcptap_sent "$@" && return 0
	echo "tcptap_assert_sent: no $1 message containing '$2' in $TCPTAP_RECORDING" >&2
	return 1
}

tcptap_refute_sent() {
	_tcptap_sent "$@" || return 0
	echo "tcptap_refute_sent: a $1 message contains '$2' in $TCPTAP_RECORDING" >&2
	return 1
}
