#!/bin/sh
# Run the libFuzzer harnesses (built by `make fuzz-build`).
#   run.sh fuzz NAME...     each: the regression files and the corpus
#                           once, then FUZZ_SECONDS (default 30) of
#                           fuzzing on tests/fuzz/corpus/NAME, which
#                           grows (commit what it gains).
#   run.sh regress NAME...  each: only the regression and corpus files.
# Non-zero on any crash, sanitizer report, leak, timeout or OOM; a new
# crashing input lands in tests/fuzz/artifacts/ (move it to
# tests/fuzz/regress/NAME/ once fixed).
set -u
mode=$1
shift
dir=tests/fuzz
secs=${FUZZ_SECONDS:-30}
mkdir -p "$dir/artifacts"
status=0

# Longest input worth trying, per harness.
max_len() {
	case $1 in
	tapstream)	echo 140000 ;;	# > the reader's 64 KiB buffer
	replay)		echo 70000 ;;	# recording + a pipe's worth of peer
	frame|tsv)	echo 16384 ;;
	*)		echo 1024 ;;
	esac
}

for name; do
	bin=$dir/bin/fuzz_$name
	corpus=$dir/corpus/$name
	regress=$dir/regress/$name
	mkdir -p "$corpus"
	# tap-replay's usage and warnings go to stderr: keep them quiet.
	quiet=
	[ "$name" = replay ] && quiet=-close_fd_mask=2
	common="-rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 $quiet"
	n=$(find "$corpus" "$regress" -type f 2>/dev/null | wc -l)
	echo "fuzz_$name: replaying $n corpus and regression files"
	if ! find "$regress" "$corpus" -type f -print0 2>/dev/null |
	    xargs -0 -r "$bin" $common >"$dir/artifacts/$name.regress.log" 2>&1
	then
		tail -n 40 "$dir/artifacts/$name.regress.log"
		echo "fuzz_$name: FAILED on a regression or corpus file" \
		    "(log: $dir/artifacts/$name.regress.log)"
		status=1
		continue
	fi
	[ "$mode" = fuzz ] || continue
	echo "fuzz_$name: fuzzing for $secs s"
	if ! "$bin" $common -max_len="$(max_len "$name")" \
	    -max_total_time="$secs" -print_final_stats=1 \
	    -artifact_prefix="$dir/artifacts/$name-" "$corpus" \
	    >"$dir/artifacts/$name.log" 2>&1; then
		tail -n 60 "$dir/artifacts/$name.log"
		echo "fuzz_$name: FAILED (log: $dir/artifacts/$name.log," \
		    "input: $dir/artifacts/$name-*)"
		status=1
		continue
	fi
	grep -E '^stat::(number_of_executed_units|new_units_added)' \
	    "$dir/artifacts/$name.log" | sed "s/^/fuzz_$name: /"
done
exit $status
