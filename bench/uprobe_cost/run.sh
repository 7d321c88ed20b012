#!/bin/bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# run.sh - what one uprobe hit costs on this machine, by the instruction the probe sits on and
# with or without a return probe (empty BPF programs: the kernel's part only). docs/tls.md
# quotes it. Builds into build/uprobe_cost/; needs root. Prints microseconds per call, the
# median of ROUNDS (default 5) runs of CALLS (default 200000) calls each.
#   bench/uprobe_cost/run.sh [ROUNDS] [CALLS]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-5}
CALLS=${2:-200000}
B=build/uprobe_cost
mkdir -p "$B"
cc -O2 -o "$B/target" bench/uprobe_cost/target.c
cc -O2 -Wall -o "$B/attach" bench/uprobe_cost/attach.c -lbpf
clang -O2 -g -target bpf -I/usr/include/$(uname -m)-linux-gnu -c bench/uprobe_cost/probe.bpf.c -o "$B/probe.bpf.o"

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# cost F MODE: median time per call of function F with the probes of MODE (none, entry, ret)
cost() {
	local f=$1 mode=$2 pid=
	if [ "$mode" != none ]; then
		"$B/attach" "$B/probe.bpf.o" "$B/target" "f_$f" "$mode" > "$B/attach.out" &
		pid=$!
		for _ in $(seq 50); do grep -q attached "$B/attach.out" 2>/dev/null && break; sleep 0.1; done
		grep -q attached "$B/attach.out" || { kill "$pid"; echo "attach failed" >&2; exit 1; }
	fi
	for _ in $(seq "$ROUNDS"); do "$B/target" "${f:0:1}" "$CALLS"; done | median
	if [ -n "$pid" ]; then kill -TERM "$pid"; wait "$pid" || true; fi
}

printf '%-28s %10s %10s %10s\n' "first instruction" "no probe" "entry" "entry+ret"
for f in push nop5 sub; do
	printf '%-28s %10s %10s %10s\n' "$f" "$(cost $f none)" "$(cost $f entry)" "$(cost $f ret)"
done
echo "(microseconds per call; kernel $(uname -r))"
