#!/bin/bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# test_bench_funcs.sh - `bench/funcs.py --smoke` still works end to end, so the function
# metrics benchmark cannot rot: it exits 0 (it fails itself when the agent's counts differ from
# the calls it made) and its table has a row per probe shape with numbers. Timing is printed,
# never asserted.
set -u
cd "$(dirname "$0")/../.." || exit 1

passed=0
failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }

OUT=$(mktemp -d /tmp/sockeye-bench-funcs.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
MD=$OUT/funcs.md

timeout -k 10 240 /usr/bin/python3 bench/funcs.py --smoke --md "$MD" >"$OUT/stdout.log" \
	2>"$OUT/stderr.log"
rc=$?
cat "$OUT/stdout.log"
if [ "$rc" -eq 0 ]; then
	pass bench_funcs_smoke_exits_0
else
	fail bench_funcs_smoke_exits_0 "status $rc; last lines of its stderr:"
	tail -n 10 "$OUT/stderr.log" | sed 's/^/    /'
fi
rows=$(grep -cE '^\| [a-z].* \| [0-9.]+ \| [0-9.]+ \| -?[0-9]+ \| [0-9]+ \|$' "$MD" 2>/dev/null)
if [ "${rows:-0}" -eq 5 ]; then
	pass table_has_a_row_per_probe_shape
else
	fail table_has_a_row_per_probe_shape "${rows:-0} rows with numbers in $MD, want 5"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
