#!/bin/sh
# make bench: run every group (bench/run.sh), show it, and keep it with
# a description of the machine in bench/RESULTS.md.
cd "$(dirname "$0")/.." || exit 2
out=$(mktemp) || exit 2
trap 'rm -f "$out" "$out.rc"' EXIT
{ sh bench/run.sh; echo $? >"$out.rc"; } 2>&1 | tee "$out"
rc=$(cat "$out.rc")
{
	echo "# tcptap benchmark results"
	echo
	echo "Written by \`make bench\` on $(date -u '+%Y-%m-%d %H:%M UTC')."
	echo "Machine: $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo),"
	echo "$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) memory, Linux $(uname -r);"
	echo "load average when it ended: $(cut -d' ' -f1-3 /proc/loadavg)."
	echo "Settings: BENCH_GROUPS='${BENCH_GROUPS:-all}' BENCH_BYTES='${BENCH_BYTES:-default}' BENCH_RUNS='${BENCH_RUNS:-default}'."
	echo
	echo '```'
	cat "$out"
	echo '```'
} >bench/RESULTS.md
exit "$rc"
