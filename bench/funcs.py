#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""funcs.py - what a function metric costs per call (docs/functions.md, "Cost").

bench/apps/funcbench.c calls one small function (or fires one USDT probe) N times in a tight
loop and prints the nanoseconds per call. Each probe shape is measured side by side, in rounds:
without the agent, with the agent (the declarations below), and with the agent and
--bpf.run-time-stats (the kernel's run time of the BPF programs per hit). Printed: the median
of the rounds for each, the time a call gains, and the BPF program time per hit.

    bench/funcs.py            N=200000 calls, 3 rounds (about a minute on a 2-CPU VM)
    bench/funcs.py --smoke    N=20000, 1 round (a few seconds), to check the script itself
    bench/funcs.py --md FILE  also writes the table as markdown to FILE

Exits non-zero when a tool fails, the agent does not start or stop cleanly, or the agent's
counts differ from the calls made (every call is counted exactly once: that is checked too).
Every process it starts is stopped by its PID; its temp dir is removed.
"""

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402

AGENT = os.environ.get("SOCKEYE_AGENT") or os.path.join(lib.ROOT, "build", "sockeye")

# (function, what its probe is, metric, programs that run per call)
SHAPES = [
    ("fn_push_count", "counter, entry probe on `push` (emulated)", "bench_push_calls_total",
     ["uprobe_func"]),
    ("fn_push_hist", "histogram, entry + return on `push`", "bench_push_duration_seconds",
     ["uprobe_func", "uretprobe_func"]),
    ("fn_push_str", "histogram + string label (arg1), entry + return",
     "bench_str_duration_seconds", ["uprobe_func", "uretprobe_func"]),
    ("fn_mov_count", "counter, entry probe on `mov` (single-stepped)", "bench_mov_calls_total",
     ["uprobe_func"]),
    ("usdt", "counter of a USDT probe, 2 labels (string, int)", "bench_usdt_ops_total",
     ["usdt_func"]),
]


def config(binary):
    return """
functions:
  - metric: bench_push_calls_total
    type: counter
    binary: {b}
    symbol: fn_push_count
  - metric: bench_push_duration_seconds
    type: histogram
    binary: {b}
    symbol: fn_push_hist
  - metric: bench_str_duration_seconds
    type: histogram
    binary: {b}
    symbol: fn_push_str
    labels:
      - name: operation
        from: arg1
        type: string
  - metric: bench_mov_calls_total
    type: counter
    binary: {b}
    symbol: fn_mov_count
  - metric: bench_usdt_ops_total
    type: counter
    binary: {b}
    usdt: "funcbench:op"
    labels:
      - name: operation
        from: arg1
        type: string
      - name: kind
        from: arg2
        type: int
""".format(b=binary)


def run_bench(binary, fn, n):
    p = subprocess.run([binary, fn, str(n)], capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise lib.BenchError("funcbench %s failed: %s" % (fn, p.stderr.strip()))
    return float(p.stdout.split()[1])


def family_total(scrape, metric):
    name = metric if metric.endswith("_total") else metric + "_count"
    return sum(v for m, _, v in scrape.samples if m == name)


def main():
    n, rounds, md = 200000, 3, None
    args = sys.argv[1:]
    while args:
        a = args.pop(0)
        if a == "--smoke":
            n, rounds = 20000, 1
        elif a == "--md" and args:
            md = args.pop(0)
        else:
            print("usage: %s [--smoke] [--md FILE]" % sys.argv[0], file=sys.stderr)
            return 2
    if os.geteuid() != 0:
        raise lib.BenchError("must run as root (loads BPF programs)")
    if not os.access(AGENT, os.X_OK):
        raise lib.BenchError("%s missing: run 'make all' first" % AGENT)
    tmp = tempfile.mkdtemp(prefix="sockeye-bench-funcs-")
    procs = lib.Procs()
    try:
        binary = os.path.join(tmp, "funcbench")
        p = subprocess.run(["gcc", "-O2", "-Wall", "-Werror", "-o", binary,
                            os.path.join(lib.BENCH, "apps", "funcbench.c")],
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise lib.BenchError("building funcbench: " + p.stderr.strip())
        base = {fn: [] for fn, _, _, _ in SHAPES}
        with_agent = {fn: [] for fn, _, _, _ in SHAPES}
        bpf_ns = {fn: [] for fn, _, _, _ in SHAPES}
        for r in range(rounds):
            lib.log("round %d/%d" % (r + 1, rounds))
            for fn, _, _, _ in SHAPES:
                base[fn].append(run_bench(binary, fn, n))
            for stats in (False, True):
                agent = lib.Agent(procs, AGENT, tmp, config=config(binary), name="funcs",
                                  args=["--bpf.run-time-stats"] if stats else [])
                try:
                    for fn, _, metric, progs in SHAPES:
                        before = agent.scrape()
                        ns = run_bench(binary, fn, n)
                        after = agent.scrape()
                        got = family_total(after, metric) - family_total(before, metric)
                        if got != n:
                            raise lib.BenchError("%s: the agent counted %s calls of %d"
                                                 % (metric, got, n))
                        if not stats:
                            with_agent[fn].append(ns)
                            continue
                        pb, pa = before.programs(), after.programs()
                        runs = pa["uprobe_func" if fn != "usdt" else "usdt_func"][0] - \
                            pb["uprobe_func" if fn != "usdt" else "usdt_func"][0]
                        secs = sum(pa[p][1] - pb[p][1] for p in progs)
                        bpf_ns.setdefault(fn, []).append(secs * 1e9 / runs if runs else None)
                finally:
                    agent.stop()
        syscall_ns = lib.median([run_bench(binary, "syscall", n) for _ in range(rounds)])
        rows = []
        for fn, what, _, _ in SHAPES:
            b, w = lib.median(base[fn]), lib.median(with_agent[fn])
            rows.append([what, lib.fmt(b, "%.1f"), lib.fmt(w, "%.1f"),
                         lib.fmt(w - b if None not in (w, b) else None, "%.0f"),
                         lib.fmt(lib.median(bpf_ns[fn]), "%.0f")])
        table = lib.md_table(["probe", "ns/call without", "ns/call with", "added ns/call",
                              "BPF ns/call"], rows)
        m = lib.machine()
        head = ("%d calls per run, median of %d rounds; %s. BPF ns/call from kernel.bpf_stats "
                "(it adds ~20-25 ns per program run to what it reports). For scale: one "
                "getppid() system call takes %.0f ns here."
                % (n, rounds, m["line"], syscall_ns))
        print(head)
        print(table)
        if md:
            with open(md, "w") as f:
                f.write(head + "\n\n" + table + "\n")
        return 0
    finally:
        procs.stop_all()
        lib.remove_cgroups()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except lib.BenchError as e:
        print("funcs.py: %s" % e, file=sys.stderr)
        sys.exit(1)
