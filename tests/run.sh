#!/bin/sh
# Run every bats suite in tests/ with TAP output, pass it through, and end
# with exactly one line "N passed, N failed".  Exit non-zero if a test
# failed, if none ran, or if fewer ran than bats planned (a crash).
cd "$(dirname "$0")/.." || exit 2
out=$(mktemp) || exit 2
trap 'rm -f "$out"' EXIT
trap 'exit 130' INT TERM

bats --tap tests/*.bats 2>&1 | tee "$out"

passed=$(grep -c '^ok ' "$out")
failed=$(grep -c '^not ok ' "$out")
planned=$(sed -n 's/^1\.\.\([0-9][0-9]*\)$/\1/p' "$out" | head -n 1)
rc=0
if [ "$((passed + failed))" -ne "${planned:-0}" ]; then
	echo "# bats planned ${planned:-no} tests, $((passed + failed)) ran"
	rc=1
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ] && exit "$rc"
exit 1
