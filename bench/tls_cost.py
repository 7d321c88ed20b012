#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""tls_cost.py - what HTTPS support costs, side by side in one run: nginx (1 worker, `return
200`) under wrk -t1 -c16, both on this host, phases of each variant interleaved round by round.

  bench/tls_cost.py                 plain HTTP and HTTPS, 5 rounds of 4 s phases (~3 minutes)
  bench/tls_cost.py --plain         plain HTTP only: no agent, default, --tls.disable
  bench/tls_cost.py --https         HTTPS only: no agent, the agent
  bench/tls_cost.py --rounds N --seconds S
  SOCKEYE_BASELINE=PATH bench/tls_cost.py   adds the variants again with another agent binary
                                    (e.g. a build of main), so before and after share a run
  SOCKEYE_BENCH_PRELOAD=LIB         runs nginx and wrk (HTTPS part) with LIB preloaded: a copy
                                    of libssl under another name keeps other agents on a
                                    shared host (they attach files named libssl.so*) off their
                                    SSL calls; the agents measured must be builds that attach
                                    LIB's name too

Per phase: requests, CPU microseconds per request of nginx and wrk (each in a cgroup of its own,
cpu.stat: the BPF programs and uprobe breakpoints run on their stacks, so their time is in it),
and from the agent's own metrics uprobe hits per request (sockeye_tls_probe_hits_total). The
summary gives, per variant, the median over rounds of its CPU per request minus that of the
no-agent phase of the same round. One more phase per agent binary at the end runs with
--bpf.run-time-stats (which itself costs two clock reads per program run, so it is not part of
the comparison) for the BPF run time per request and program, both sides. A benchmark, not a test: nothing asserts a timing (the machine is shared); it exits 1
when a tool fails or the agent does not start, stop cleanly or count exactly what wrk completed
(every request, at most one per connection more).
"""

import argparse
import contextlib
import os
import signal
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import BenchError, log  # noqa: E402

CONNS = 16
PRELOAD = os.environ.get("SOCKEYE_BENCH_PRELOAD")


@contextlib.contextmanager
def preloaded(on):
    """LD_PRELOAD=PRELOAD for the processes started inside (on and PRELOAD set)."""
    if not (on and PRELOAD):
        yield
        return
    os.environ["LD_PRELOAD"] = PRELOAD
    try:
        yield
    finally:
        del os.environ["LD_PRELOAD"]


def agent_numbers(before, after, port, requests):
    """(server count, client count, bpf ns per request, {program: ns/req}, hits per request)."""
    srv = after.http_total("server", port) - before.http_total("server", port)
    cli = after.http_total("client", port) - before.http_total("client", port)
    p0, p1 = before.programs(), after.programs()
    per_prog = {}
    for prog, (_, secs) in p1.items():
        d = secs - p0.get(prog, (0, 0.0))[1]
        if d > 0:
            per_prog[prog] = d / requests * 1e9
    hits = None
    h0 = sum(v for n, _, v in before.samples if n.endswith("tls_probe_hits_total"))
    h1 = sum(v for n, _, v in after.samples if n.endswith("tls_probe_hits_total"))
    if any(n.endswith("tls_probe_hits_total") for n, _, _ in after.samples):
        hits = (h1 - h0) / requests
    return srv, cli, sum(per_prog.values()), per_prog, hits


def phase(procs, tmpdir, url, port, seconds, variant, cg_nginx, cg_wrk, tls=False):
    """One phase: wrk against nginx, with the variant's agent (None: no agent)."""
    agent = None
    if variant["binary"]:
        agent = lib.Agent(procs, variant["binary"], tmpdir, args=variant["args"],
                          name="agent-" + variant["name"].replace(" ", "_"))
        before = agent.scrape()
    account = {"nginx": cg_nginx, "wrk": cg_wrk} if cg_nginx else {}
    with preloaded(tls):
        r = lib.wrk(url, seconds, conns=CONNS, cgroup=cg_wrk, account=account)
    out = {"requests": r["requests"], "rps": r["rps"],
           "cpu_us": lib.cpu_us_per_request(r, ["nginx", "wrk"]) if account else None}
    if agent:
        after = agent.scrape()
        agent.stop()
        srv, cli, bpf, per_prog, hits = agent_numbers(before, after, port, r["requests"])
        out.update(srv=srv, cli=cli, bpf_ns=bpf, per_prog=per_prog, hits=hits)
        for role, n in (("server", srv), ("client", cli)):
            if not r["requests"] <= n <= r["requests"] + CONNS:
                raise BenchError("%s: agent counted %d %s requests, wrk completed %d"
                                 % (variant["name"], n, role, r["requests"]))
    return out


def run_part(title, procs, tmpdir, tls, variants, rounds, seconds):
    port = lib.free_port()
    cg_nginx = lib.Cgroup("sockeye-tlscost-nginx-%d" % port)
    cg_wrk = lib.Cgroup("sockeye-tlscost-wrk-%d" % port)
    cert = lib.self_signed_cert(tmpdir) if tls else None
    with preloaded(tls):
        ngx = lib.Nginx(procs, tmpdir, [port], tls=cert, cgroup=cg_nginx)
    url = "%s://127.0.0.1:%d/" % ("https" if tls else "http", port)
    try:
        with preloaded(tls):
            ok = lib.wait_until(lambda: lib.wrk(url, 1, conns=1)["requests"] > 0, 10, 0.2)
        if not ok:
            raise BenchError("nginx does not answer on %s" % url)
        print("## %s\n" % title)
        print("nginx %s (1 worker, return 200); wrk -t1 -c%d -d%ds; %d rounds of: %s\n"
              % (url, CONNS, seconds, rounds, ", ".join(v["name"] for v in variants)))
        foreign = lib.foreign_programs()
        if foreign:
            print("warning: other programs named like the agent's are loaded (%s): they run in "
                  "every phase and blur the comparison\n" % " ".join(foreign[:8]))
        print("| round | variant | requests | req/s | CPU us/req | probe hits/req |")
        print("|---|---|---|---|---|---|")
        results = {v["name"]: [] for v in variants}
        for rnd in range(1, rounds + 1):
            for v in variants:
                r = phase(procs, tmpdir, url, port, seconds, v, cg_nginx, cg_wrk, tls)
                results[v["name"]].append(r)
                print("| %d | %s | %d | %.0f | %s | %s |" % (
                    rnd, v["name"], r["requests"], r["rps"], lib.fmt(r["cpu_us"], "%.1f"),
                    lib.fmt(r.get("hits"), "%.2f", "-")), flush=True)
        print()
        base = results[variants[0]["name"]]
        print("| variant | CPU us/req added (median of rounds) | per round | "
              "throughput kept (median) | probe hits/req |")
        print("|---|---|---|---|---|")
        for v in variants[1:]:
            rs = results[v["name"]]
            added = [r["cpu_us"] - b["cpu_us"] for r, b in zip(rs, base)
                     if r["cpu_us"] is not None and b["cpu_us"] is not None]
            kept = [r["rps"] / b["rps"] for r, b in zip(rs, base) if b["rps"]]
            hits = [r["hits"] for r in rs if r.get("hits") is not None]
            print("| %s | %s | %s | %s | %s |" % (
                v["name"], lib.fmt(statistics.median(added) if added else None, "%.2f"),
                " ".join("%.2f" % a for a in added),
                lib.fmt(statistics.median(kept) if kept else None, "%.3f"),
                lib.fmt(statistics.median(hits) if hits else None, "%.2f", "-")))
        print()
        return results
    finally:
        ngx.stop()


def bpf_breakdown(procs, tmpdir, tls, agents, seconds):
    """One phase per agent binary with --bpf.run-time-stats: BPF ns per request by program."""
    port = lib.free_port()
    cert = lib.self_signed_cert(tmpdir) if tls else None
    with preloaded(tls):
        ngx = lib.Nginx(procs, tmpdir, [port], tls=cert)
    url = "%s://127.0.0.1:%d/" % ("https" if tls else "http", port)
    try:
        with preloaded(tls):
            lib.wait_until(lambda: lib.wrk(url, 1, conns=1)["requests"] > 0, 10, 0.2)
        for suffix, b in agents:
            for extra in ([], ["--tls.disable"]) if not tls else ([],):
                name = "agent" + suffix + (" " + " ".join(extra) if extra else "")
                v = {"name": name, "binary": b, "args": ["--bpf.run-time-stats"] + extra}
                r = phase(procs, tmpdir, url, port, seconds, v, None, None, tls)
                progs = sorted(r["per_prog"].items(), key=lambda x: -x[1])
                print("%s, %s: BPF %.0f ns/req (both sides): %s" % (
                    "HTTPS" if tls else "plain HTTP", name, r["bpf_ns"],
                    ", ".join("%s %.0f" % p for p in progs)))
        print()
    finally:
        ngx.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--plain", action="store_true")
    ap.add_argument("--https", action="store_true")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=4)
    a = ap.parse_args()
    # SIGTERM and SIGINT end the run through the cleanup below (processes, cgroups).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
    if os.geteuid() != 0:
        print("tls_cost.py: must run as root", file=sys.stderr)
        return 2
    both = not a.plain and not a.https
    binary = os.environ.get("SOCKEYE_AGENT", os.path.join(lib.ROOT, "build", "sockeye"))
    baseline = os.environ.get("SOCKEYE_BASELINE")
    agents = [("", binary)] + ([(" (baseline)", baseline)] if baseline else [])
    none = {"name": "no agent", "binary": None, "args": []}
    procs = lib.Procs()
    try:
        with tempfile.TemporaryDirectory(prefix="sockeye-tlscost-") as tmp:
            if both or a.plain:
                vs = [none]
                for suffix, b in agents:
                    vs += [{"name": "default" + suffix, "binary": b, "args": []},
                           {"name": "--tls.disable" + suffix, "binary": b,
                            "args": ["--tls.disable"]}]
                run_part("Plain HTTP: what HTTPS support costs plain traffic", procs, tmp,
                         False, vs, a.rounds, a.seconds)
                bpf_breakdown(procs, tmp, False, agents, a.seconds)
            if both or a.https:
                vs = [none] + [{"name": "agent" + s, "binary": b, "args": []} for s, b in agents]
                run_part("HTTPS: what the OpenSSL probes cost", procs, tmp, True, vs, a.rounds,
                         a.seconds)
                bpf_breakdown(procs, tmp, True, agents, a.seconds)
    except BenchError as e:
        print("tls_cost.py: %s" % e, file=sys.stderr)
        return 1
    finally:
        procs.stop_all()
        lib.remove_cgroups()
    return 0


if __name__ == "__main__":
    log("tls_cost.py: starting")
    sys.exit(main())
