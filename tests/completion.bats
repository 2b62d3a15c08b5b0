#!/usr/bin/env bats
# Bash completion (share/bash-completion/completions/tcptap), sourced in
# the test's own bash and driven the way bash drives it: COMP_WORDS split
# at blanks and at = and :, COMP_CWORD, COMP_LINE, COMP_POINT.

load test_helper

COMPLETION=$ROOT/share/bash-completion/completions/tcptap

setup() {
	T=$BATS_TEST_TMPDIR
	BG_PIDS=()
	[ -x "$TCPTAP" ] || fail "$TCPTAP is not built (run make)"
	# The programs as a user has them: by name, on PATH.
	PATH=$(dirname "$TCPTAP"):$ROOT/bin:$PATH
	# shellcheck source=/dev/null
	source "$COMPLETION"
}

# complete_line LINE: run the completion registered for LINE's command on
# LINE, cursor at its end; leaves the candidates in COMPREPLY.
complete_line() {
	local line=$1 func
	COMP_LINE=$line
	COMP_POINT=${#line}
	# Split as bash does with the default COMP_WORDBREAKS: at blanks, and
	# = and : are words of their own.
	mapfile -t COMP_WORDS < <(printf '%s' "$line" | grep -oE '[^ =:]+|[=:]+')
	[[ $line == *' ' ]] && COMP_WORDS+=('')
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	func=$(complete -p "${COMP_WORDS[0]}" | sed -E 's/.* -F ([^ ]+) .*/\1/')
	COMPREPLY=()
	"$func" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" \
	    "${COMP_WORDS[COMP_CWORD - 1]}"
}

# assert_reply WORD...: COMPREPLY holds exactly these words (any order).
assert_reply() {
	assert_equal "$(printf '%s\n' "${COMPREPLY[@]}" | sort)" \
	    "$(printf '%s\n' "$@" | sort)"
}

@test "completion: registered for tcptap and every tap-* program" {
	run complete -p tcptap
	assert_output 'complete -F _tcptap tcptap'
	for f in "$ROOT"/filters/tap-*.c; do
		f=${f##*/}
		run complete -p "${f%.c}"
		assert_output "complete -F _tcptap_filter ${f%.c}"
	done
}

@test "completion: tcptap --no- completes to --no-splice, and only to --no-* options" {
	complete_line 'tcptap --no-'
	[[ " ${COMPREPLY[*]} " == *' --no-splice '* ]] ||
	    fail "no --no-splice in: ${COMPREPLY[*]}"
	for w in "${COMPREPLY[@]}"; do
		[[ $w == --no-* ]] || fail "$w offered for --no-"
	done
}

@test "completion: tcptap - offers every option of tcptap's usage, long and short" {
	complete_line 'tcptap -'
	words=" ${COMPREPLY[*]} "
	# Every option the usage names, taken from the usage independently.
	for opt in $("$TCPTAP" --help | grep -oE -- '(\[| )--?[A-Za-z][-A-Za-z0-9]*' |
	    tr -d '[ ' | grep -v -- '^-[a-zA-Z][a-zA-Z]'); do
		[[ $words == *" $opt "* ]] || fail "no $opt in: $words"
	done
	for opt in -q -v -b -c -P -T -t -w --inetd --no-splice --tap-timeout; do
		[[ $words == *" $opt "* ]] || fail "no $opt in: $words"
	done
}

@test "completion: after -t, commands" {
	complete_line 'tcptap -t tap-hexd'
	assert_reply tap-hexdump
}

@test "completion: LISTEN and TARGET get nothing, not file names" {
	cd "$T" && touch 127.0.0.1-file
	complete_line 'tcptap 127'
	assert_reply
	complete_line 'tcptap 127.0.0.1:7000 '
	assert_reply
}

@test "completion: after LISTEN --, a command, then its arguments as files" {
	complete_line 'tcptap 127.0.0.1:7000 -- tap-repl'
	assert_reply tap-replay
	cd "$T" && touch rec.tsv
	complete_line 'tcptap -t tap-hexdump 127.0.0.1:7000 -- tap-replay rec.'
	assert_reply rec.tsv
}

@test "completion: an option's listed values: tap-cat -d, tap-replay --timing=" {
	complete_line 'tap-cat -d '
	assert_reply c2s s2c
	# Readline replaces only what follows the =.
	complete_line 'tap-replay --timing=o'
	assert_reply original
}

@test "completion: a filter's operand is a file" {
	cd "$T" && touch session.tsv
	complete_line 'tap-replay sess'
	assert_reply session.tsv
}
