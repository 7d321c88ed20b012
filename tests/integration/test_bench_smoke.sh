#!/bin/bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# test_bench_smoke.sh - `bench/run --smoke` still works end to end, so the benchmark cannot rot:
# it exits 0 and writes results.md (machine line, the five sections each with a table, exact
# counts in sections 2 and 5) and PNG plots that results.md links; bench/breakdown.py --smoke
# prints its stage table. Timing is printed, never asserted. Output goes to a temp dir (removed
# at the end), not over bench/results.md.
set -u
cd "$(dirname "$0")/../.." || exit 1

passed=0
failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
check() { # check NAME REASON COMMAND...
	local name=$1 reason=$2
	shift 2
	if "$@"; then pass "$name"; else fail "$name" "$reason"; fi
}

OUT=$(mktemp -d /tmp/sockeye-bench-smoke.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
MD=$OUT/results.md

t0=$(date +%s)
timeout -k 10 240 bench/run --smoke --out "$OUT" >"$OUT/stdout.log" 2>"$OUT/stderr.log"
rc=$?
echo "bench/run --smoke took $(($(date +%s) - t0)) s (exit status $rc)"
if [ "$rc" -eq 0 ]; then
	pass bench_run_smoke_exits_0
else
	fail bench_run_smoke_exits_0 "status $rc; last lines of its stderr:"
	tail -n 15 "$OUT/stderr.log" | sed 's/^/    /'
fi

check results_md_is_written "$MD missing or empty" test -s "$MD"
check results_md_names_machine_and_date "no 'Machine: N cores (...) kernel ...; YYYY-MM-DD' line" \
	grep -sEq '^Machine: [0-9]+ cores \(.*kernel [^ ,]+.*; [0-9]{4}-[0-9]{2}-[0-9]{2} ' "$MD"

# section N -> its text, from its heading to the next '## '
section() {
	awk -v n="$1" '/^## / { on = index($0, "## " n ". ") == 1 } on' "$MD" 2>/dev/null
}
for s in "1. Overhead" "2. Against in-app instrumentation" "3. Per-request BPF cost" \
	"4. Scrape cost at scale" "5. Accuracy under load" "6. A typical service at its own pace" \
	"7. A Redis client"; do
	n=${s%%.*}
	name=$(echo "${s#*. }" | tr 'A-Z -' 'a-z__' | tr -cd 'a-z_')
	check "section_${n}_${name}_has_heading" "no '## $s' heading" grep -sq "^## $s" "$MD"
	check "section_${n}_${name}_has_table_and_stamp" "no table or machine stamp under '## $s'" \
		bash -c '[ "$(printf "%s\n" "$1" | grep -c "^|")" -ge 3 ] &&
			printf "%s\n" "$1" | grep -sEq "^_[0-9]+ cores .*kernel "' _ "$(section "$n")"
done

check summary_table_has_the_goal_rows "no Summary table with throughput, BPF ns, HTTPS and typical service rows" \
	bash -c 't=$(awk "/^## Summary/ { on = 1; next } /^## / { on = 0 } on" "$1");
		for k in "throughput kept, defaults" "--tls.disable" "BPF ns per request per side" \
			"agent CPU" "typical service"; do
			printf "%s\n" "$t" | grep -q -- "$k" || exit 1
		done' _ "$MD"
check in_app_and_sockeye_counts_are_equal "section 2 does not say 'equal' for both apps" \
	bash -c '[ "$(grep -sc "^| [a-z]* | \*\*all\*\* .*| \*\*equal\*\* |$" "$1")" -eq 2 ]' _ "$MD"
check accuracy_rows_all_ok "a section 5 row is not 'ok'" \
	bash -c '[ "$(printf "%s\n" "$1" | grep -c "| ok |$")" -ge 3 ] &&
		! printf "%s\n" "$1" | grep -q FAILED' _ "$(section 5)"

for png in overhead.png scrape.png; do
	base=${png%.png}
	check "plot_${base}_is_png" "$png missing or not a PNG" \
		bash -c '[ "$(head -c 8 "$1" 2>/dev/null | od -An -tx1 | tr -d " \n")" = 89504e470d0a1a0a ]' _ \
		"$OUT/$png"
	check "plot_${base}_is_linked_from_results_md" "no ($png) link in results.md" \
		grep -sq "($png)" "$MD"
done

# bench/breakdown.py --smoke: exits 0 and prints its table with the six stages in order, each
# with a number of ns (stage 0, everything, last); and a stage the agent does not know is
# refused with a message and a non-zero exit.
BD=$OUT/breakdown.txt
timeout -k 10 120 bench/breakdown.py --smoke >"$BD" 2>"$OUT/breakdown.err"
rc=$?
check breakdown_smoke_exits_0 "status $rc: $(tail -n 3 "$OUT/breakdown.err" | tr '\n' ' ')" \
	test "$rc" -eq 0
check breakdown_prints_six_stages_in_order "no table rows for stages 1 2 3 4 5 0 with ns figures" \
	bash -c '[ "$(grep -E "^\| [0-5] \| [^|]+ \| [0-9]+ \([0-9 ]+\) \|" "$1" | cut -d"|" -f2 |
		tr -d " \n")" = 123450 ]' _ "$BD"
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SOCKEYE_BENCH_STAGE=7 timeout 20 build/sockeye --web.listen-address=127.0.0.1:"$PORT" \
	>"$OUT/stage7.log" 2>&1
rc=$?
check agent_refuses_an_unknown_bench_stage "status $rc, log: $(tail -n 2 "$OUT/stage7.log" | tr '\n' ' ')" \
	bash -c '[ "$1" -ne 0 ] && grep -q "SOCKEYE_BENCH_STAGE=7: not a benchmark stage" "$2"' _ \
	"$rc" "$OUT/stage7.log"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
