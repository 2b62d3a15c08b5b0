#!/bin/sh
# Run every bats suite in tests/ with TAP output, pass it through, and end
# with exactly one line "N passed, N failed".  Exit non-zero if a test
# failed, if none ran, if fewer ran than bats planned (a crash), or, in
# a sanitizer build (SANITIZE set), if any process wrote a report: each
# report counts as one more failure.
cd "$(dirname "$0")/.." || exit 2
out=$(mktemp) || exit 2
reports=$(mktemp -d) || exit 2
trap 'rm -rf "$out" "$reports"' EXIT
trap 'exit 130' INT TERM

if [ -n "${SANITIZE:-}" ]; then
	# Reports go to files: a relay's stderr is a log, not the terminal.
	export ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1:${ASAN_OPTIONS:-}"
	export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1:${UBSAN_OPTIONS:-}"
fi

bats --tap tests/*.bats 2>&1 | tee "$out"

passed=$(grep -c '^ok ' "$out")
failed=$(grep -c '^not ok ' "$out")
planned=$(sed -n 's/^1\.\.\([0-9][0-9]*\)$/\1/p' "$out" | head -n 1)
rc=0
if [ "$((passed + failed))" -ne "${planned:-0}" ]; then
	echo "# bats planned ${planned:-no} tests, $((passed + failed)) ran"
	rc=1
fi
nrep=$(find "$reports" -type f | wc -l)
if [ "$nrep" -gt 0 ]; then
	echo "# $nrep sanitizer report(s); the first:"
	find "$reports" -type f | head -n 1 | xargs sed -n '1,40s/^/# /p'
	failed=$((failed + nrep))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ] && exit "$rc"
exit 1
