#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""breakdown.py - where the socket hooks' time goes under load: the agent is run with its
socket hooks stopping after each stage of their work in turn (SOCKEYE_BENCH_STAGE, see
docs/performance.md), against nginx (1 worker, `return 200`) under `wrk -t1 -c16`, both on
this host so both sockets of every request are parsed. Per stage: the BPF run time of
cgskb_ingress and cgskb_egress per request per side (from the agent's own
sockeye_bpf_program_run_seconds_total, --bpf.run-time-stats), the median of the rounds, and
what the stage adds to the one before. The stages are interleaved round by round.

  bench/breakdown.py                 3 rounds of 4 s phases (about 2 minutes)
  bench/breakdown.py --pinned        also with nginx and wrk on one CPU (twice as long): the
                                     difference is what sharing a socket between CPUs costs
  bench/breakdown.py --rounds N --duration S
  bench/breakdown.py --smoke         1 round of 1 s phases, to check the script itself

A benchmark, not a test: nothing here asserts a timing. Needs root and build/sockeye
(SOCKEYE_AGENT=PATH runs another binary). Exits 1 when a tool fails or the agent does not start
or stop cleanly, 2 on a usage error. Every process it starts is stopped by its PID.
"""

import argparse
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import BenchError, log, md_table, median  # noqa: E402

# Sync note: enum bench_stage in bpf/stream.bpf.h. Run in this order; 0 (every stage) last.
STAGES = [
    (1, "attached, returns at once"),
    (2, "+ headers, socket, sk_storage lookup"),
    (3, "+ sequence numbers, TCP counters, protocol decision"),
    (4, "+ HTTP driver up to the scan (scratch, clock)"),
    (5, "+ scan, request/response pairing, in-flight counts"),
    (0, "+ duration and size histograms (everything: the default)"),
]
HOOKS = ("cgskb_ingress", "cgskb_egress")


class Pin:
    """A preexec for lib.wrk's cgroup argument: the child runs on CPU 0 only."""

    def enter(self):
        os.sched_setaffinity(0, {0})


def pin_tree(pid, cpus):
    """nginx's master and workers (its children) onto cpus."""
    os.sched_setaffinity(pid, cpus)
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                for child in f.read().split():
                    os.sched_setaffinity(int(child), cpus)
        except OSError:
            pass


def phase(procs, tmp, binary, url, stage, duration, pinned):
    """One phase: the agent at stage, wrk for duration. Returns {requests, ns per request per
    side, ns per run of each hook, runs per request}."""
    os.environ["SOCKEYE_BENCH_STAGE"] = str(stage)
    try:
        agent = lib.Agent(procs, binary, tmp, args=("--bpf.run-time-stats",))
    finally:
        del os.environ["SOCKEYE_BENCH_STAGE"]
    try:
        s0 = agent.scrape()
        r = lib.wrk(url, duration, cgroup=Pin() if pinned else None)
        s1 = agent.scrape()
    finally:
        agent.stop()
    progs = lib.prog_delta(s0, s1)
    out = {"requests": r["requests"], "rps": r["rps"]}
    total = 0.0
    runs = 0.0
    for h in HOOKS:
        if h not in progs:
            raise BenchError("the agent exports no run time for %s" % h)
        n, t = progs[h]
        out[h] = t / n * 1e9 if n else None
        total += t
        runs += n
    if not r["requests"]:
        raise BenchError("wrk completed no request")
    out["side_ns"] = total / r["requests"] / 2 * 1e9
    out["runs_per_req"] = runs / r["requests"]
    return out


def fmt(v, spec="%.0f"):
    return lib.fmt(v, spec)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=4, help="seconds per phase")
    ap.add_argument("--pinned", action="store_true",
                    help="also run every phase with nginx and wrk on CPU 0")
    ap.add_argument("--smoke", action="store_true", help="1 round of 1 s phases")
    args = ap.parse_args()
    if args.smoke:
        args.rounds, args.duration = 1, 1
    if args.rounds < 1 or args.duration < 1:
        ap.error("--rounds and --duration must be at least 1")
    if os.geteuid() != 0:
        print("breakdown.py: must run as root (the agent loads BPF programs)", file=sys.stderr)
        return 1
    binary = os.environ.get("SOCKEYE_AGENT", os.path.join(lib.ROOT, "build", "sockeye"))
    if not os.access(binary, os.X_OK):
        print("breakdown.py: %s missing: run 'make all' first" % binary, file=sys.stderr)
        return 1

    procs = lib.Procs()
    tmp = tempfile.mkdtemp(prefix="sockeye-breakdown-")
    modes = [False, True] if args.pinned else [False]
    res = {(m, s): [] for m in modes for s, _ in STAGES}
    try:
        port = lib.free_port()
        ngx = lib.Nginx(procs, tmp, [port])
        url = "http://127.0.0.1:%d/" % port
        try:
            for rnd in range(args.rounds):
                for pinned in modes:
                    pin_tree(ngx.proc.pid, {0} if pinned else set(range(os.cpu_count())))
                    for stage, _ in STAGES:
                        r = phase(procs, tmp, binary, url, stage, args.duration, pinned)
                        res[(pinned, stage)].append(r)
                        log("round %d/%d%s stage %d: %.0f req/s, %.0f ns per request per side"
                            " (%.2f runs per request)" % (
                                rnd + 1, args.rounds, " pinned" if pinned else "", stage,
                                r["rps"], r["side_ns"], r["runs_per_req"]))
        finally:
            ngx.stop()
    except BenchError as e:
        print("breakdown.py: %s" % e, file=sys.stderr)
        return 1
    finally:
        procs.stop_all()
        lib.remove_cgroups()
        shutil.rmtree(tmp, ignore_errors=True)

    print("\n" + lib.machine()["line"] + "\n")
    print("nginx (1 worker, `return 200`), wrk -t1 -c16, %d round(s) of %d s per stage, "
          "stages interleaved; BPF ns per request per side = (cgskb_ingress + cgskb_egress "
          "run time) / wrk's requests / 2 (median of rounds; the run-time statistics add about "
          "20-25 ns per run).\n" % (args.rounds, args.duration))
    header = ["stage", "the hooks do", "ns per request per side", "added by the stage",
              "ingress ns/run", "egress ns/run", "req/s"]
    if args.pinned:
        header += ["pinned: ns per request per side", "pinned: added"]
    rows = []
    prev = {m: None for m in modes}
    for stage, what in STAGES:
        row = [str(stage), what]
        for pinned in modes:
            rs = res[(pinned, stage)]
            med = median(r["side_ns"] for r in rs)
            add = med - prev[pinned] if med is not None and prev[pinned] is not None else None
            prev[pinned] = med
            if not pinned:
                row += ["%s (%s)" % (fmt(med), " ".join(fmt(r["side_ns"]) for r in rs)),
                        fmt(add, "%+.0f") if add is not None else "",
                        fmt(median(r["cgskb_ingress"] for r in rs)),
                        fmt(median(r["cgskb_egress"] for r in rs)),
                        fmt(median(r["rps"] for r in rs))]
            else:
                row += [fmt(med), fmt(add, "%+.0f") if add is not None else ""]
        rows.append(row)
    print(md_table(header, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
