#!/bin/bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# run.sh - runs each libFuzzer target (build/fuzz/fuzz_*) for FUZZ_SECONDS (default 10) and ends
# with "N passed, N failed". A target passes when it ran its time without a crash, a leak, a
# sanitizer report or a broken invariant; then its line gives executions, coverage (cov: edges,
# ft: features) and corpus size.
#   tests/fuzz/run.sh [TARGET...]     e.g. tests/fuzz/run.sh http_parser render
# Environment: FUZZ_SECONDS, FUZZ_JOBS (targets run at once, default 2), FUZZ_LOG_DIR (default
# build/fuzz/logs).
# Each target starts from its seeds (tests/fuzz/corpus/TARGET, checked in, regress-* inputs of
# past crashes among them) and from what earlier runs found (build/fuzz/corpus/TARGET). A crash
# leaves its input in build/fuzz/artifacts/TARGET/: reproduce it with build/fuzz/fuzz_TARGET FILE,
# then keep it as tests/fuzz/corpus/TARGET/regress-NAME with a unit test of the fix.
set -u
cd "$(dirname "$0")/../.." || exit 1
seconds=${FUZZ_SECONDS:-10}
jobs=${FUZZ_JOBS:-2}
logs=${FUZZ_LOG_DIR:-build/fuzz/logs}
mkdir -p "$logs"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	for b in build/fuzz/fuzz_*; do
		[ -x "$b" ] && targets+=("${b#build/fuzz/fuzz_}")
	done
fi
if [ ${#targets[@]} -eq 0 ]; then
	echo "tests/fuzz/run.sh: no fuzz targets in build/fuzz (make fuzz builds them)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

# Longest input per target: segments of a whole header section; a small library file.
max_len() {
	case "$1" in
	http_parser) echo 16384 ;;
	tls_elf) echo 16384 ;;
	*) echo 4096 ;;
	esac
}

run_one() {
	local t=$1 bin=build/fuzz/fuzz_$1 log=$logs/$1.log
	local work=build/fuzz/corpus/$1 art=build/fuzz/artifacts/$1 seeds=tests/fuzz/corpus/$1
	local dict=() rc
	mkdir -p "$work" "$art" "$seeds"
	[ -f "tests/fuzz/$1.dict" ] && dict=(-dict="tests/fuzz/$1.dict")
	# -close_fd_mask=3: the targets' own stdout/stderr (usage text, config errors) are noise;
	# libFuzzer and the sanitizers still report on a copy of stderr.
	timeout -k 10 $((seconds + 120)) "$bin" -max_total_time="$seconds" -print_final_stats=1 \
		-close_fd_mask=3 -timeout=20 -rss_limit_mb=2048 -max_len="$(max_len "$t")" \
		-artifact_prefix="$art/" "${dict[@]}" "$work" "$seeds" >"$log" 2>&1
	rc=$?
	echo "$rc" >"$log.rc"
}

# At most $jobs targets at a time.
running=0
for t in "${targets[@]}"; do
	if [ ! -x "build/fuzz/fuzz_$t" ]; then
		echo "tests/fuzz/run.sh: build/fuzz/fuzz_$t missing (make fuzz builds it)" >"$logs/$t.log"
		echo 1 >"$logs/$t.log.rc"
		continue
	fi
	run_one "$t" &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait -n
		running=$((running - 1))
	fi
done
wait

pass=0
fail=0
for t in "${targets[@]}"; do
	log=$logs/$t.log
	rc=$(cat "$log.rc" 2>/dev/null || echo 1)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1)
	cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p')
	if [ "$rc" -eq 0 ] && [ -n "$execs" ]; then
		pass=$((pass + 1))
		echo "PASS fuzz_$t: $execs executions in ${seconds}s ($rate/s), cov $cov ft $ft, corpus $corp"
	else
		fail=$((fail + 1))
		echo "FAIL fuzz_$t: exit status $rc"
		grep -E 'invariant|runtime error:|==ERROR|SUMMARY|disagree|Test unit written|^#.*DONE' "$log" |
			head -n 12 | sed 's/^/    /'
		echo "    full log: $log"
	fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
