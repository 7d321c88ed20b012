#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""soak.py - bench/soak.sh's driver: the agent under hours-like traffic for --minutes (default
30), with series churn, sampled every --every seconds; writes a CSV, a plot and its section of
bench/results.md, and says whether what must stay flat did.

Traffic, all on loopback, in cgroups of our own:
- services: 3 slots, each a python HTTP server on a fixed port in a fixed cgroup, replaced by
  a new process every --restart seconds in turn (processes come and go: the identity caches
  see pids appear and vanish);
- routes: a pool of 120 paths (/soak/<name>/r<NNN>, statuses 200, 201, 404, 500 by prefix,
  each served by one slot), of which a window of 30 is in use at a time, moving by 15 every
  minute: routes come and go, and after ~7 minutes every route has been seen, so the series
  (~11,000 lines, and the kernel's map keys) stop growing: that is the warm-up;
- clients: keep-alive connections of 20 requests each (connections come and go too), about
  --rate requests a second in all, answers checked;
- scrapes: text every second, OpenMetrics with gzip every 5 s (a fast Prometheus and a second
  scraper).
The agent counts only the services' ports (ports.include), so other work on the host does not
add series.

Sampled: the agent's RSS, open fds, threads, every map's entries (sockeye_bpf_map_entries), the
identity caches' entries and evictions, series lines, scrape time, requests sent and counted.
After warm-up (the first third, at least 6 minutes) the first and last quarters of what is left
are compared: RSS, fds, threads, map entries and cache entries must be flat (within 5% or a
small absolute margin), and the caches must have evicted. Exit status 1 when something is not.
"""

import argparse
import csv
import http.client
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402

ROOT = lib.ROOT
N_SLOTS = 3
POOL = 120
WINDOW = 30
WINDOW_STEP = 15
STATUS_PREFIX = (("ok", 200), ("new", 201), ("gone", 404), ("err", 500))


# ---------------------------------------------------------------------------------------------
# The service (run as `soak.py serve PORT`): any path, status by its first segment.

def serve(port):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    status = dict(STATUS_PREFIX)

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *a):
            pass

        def do_GET(self):
            parts = self.path.split("/")
            st = status.get(parts[2] if len(parts) > 2 else "", 200)
            body = b"soak %d\n" % st
            self.send_response(st)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    class S(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    srv = S(("127.0.0.1", port), H)
    print("READY %d" % port, flush=True)
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    srv.serve_forever()


# ---------------------------------------------------------------------------------------------

class Slot:
    """One service slot: a fixed port and cgroup, a process replaced now and then."""

    def __init__(self, procs, i, port):
        self.procs = procs
        self.port = port
        self.cgroup = lib.Cgroup("sockeye-soak-%d-svc%d" % (os.getpid(), i))
        self.proc = None
        self.generation = 0
        self.restart()

    def restart(self):
        if self.proc is not None:
            self.procs.stop(self.proc)
        for _ in range(50):  # the old process' socket may linger a moment
            self.proc = self.procs.start([lib.PYTHON, os.path.abspath(__file__), "serve",
                                          str(self.port)], stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                         preexec_fn=self.cgroup.enter)
            line = lib.readline_timeout(self.proc.stdout, lib.START_TIMEOUT)
            if line.startswith("READY"):
                self.generation += 1
                return
            self.procs.stop(self.proc)
            time.sleep(0.1)
        raise lib.BenchError("service on port %d did not start" % self.port)


def route_name(k):
    prefix = STATUS_PREFIX[k % len(STATUS_PREFIX)][0]
    return "/soak/%s/r%03d" % (prefix, k)


class Clients:
    """Keep-alive connections of 20 requests each to the slots, about rate requests a second,
    routes from the moving window."""

    def __init__(self, slots, rate, t0):
        self.slots, self.rate, self.t0 = slots, rate, t0
        self.sent = self.errors = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True)
                        for i in range(4)]
        for t in self.threads:
            t.start()

    def window(self):
        start = int((time.monotonic() - self.t0) / 60) * WINDOW_STEP
        return [(start + i) % POOL for i in range(WINDOW)]

    def run(self, i):
        rnd = random.Random(i)
        pause = len(self.threads) / self.rate
        while not self.stop.is_set():
            n = rnd.randrange(N_SLOTS)
            slot = self.slots[n]
            mine = [k for k in self.window() if k % N_SLOTS == n]  # a route has one slot
            try:
                c = http.client.HTTPConnection("127.0.0.1", slot.port, timeout=10)
                for _ in range(20):
                    if self.stop.is_set():
                        break
                    k = rnd.choice(mine)
                    c.request("GET", route_name(k) + "?q=%d" % rnd.randrange(1000))
                    r = c.getresponse()
                    r.read()
                    with self.lock:
                        self.sent += 1
                    self.stop.wait(pause)
                c.close()
            except (OSError, http.client.HTTPException):
                with self.lock:
                    self.errors += 1  # a slot being replaced: expected now and then
                self.stop.wait(0.05)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def threads(pid):
    return lib.proc_status_kib(pid, "Threads")


def sample(agent, t0, clients, slots):
    sc = agent.scrape()
    row = {"t_s": round(time.monotonic() - t0, 1),
           "rss_mib": round(lib.proc_status_kib(agent.pid, "VmRSS") / 1024.0, 2),
           "fds": fd_count(agent.pid), "threads": threads(agent.pid),
           "http_lines": sc.http_series_lines(),
           "scrape_s": sc.value(PREFIX + "scrape_duration_seconds") or 0.0,
           "sent": clients.sent, "client_errors": clients.errors,
           "counted": sum(sc.http_total("server", s.port) for s in slots),
           "generations": sum(s.generation for s in slots)}
    for n, ls, v in sc.samples:
        if n == PREFIX + "bpf_map_entries":
            row["map_" + ls.get("map", "?")] = int(v)
        elif n == PREFIX + "identity_cache_entries":
            row["cache_" + ls.get("cache", "?")] = int(v)
        elif n == PREFIX + "identity_cache_evictions_total":
            row["evicted_" + ls.get("cache", "?")] = int(v)
        elif n == PREFIX + "parser_events_total" and v:
            row["event_" + ls.get("event", "?")] = int(v)
    return row


PREFIX = "sockeye_"


def mean(rows, key):
    vals = [r.get(key, 0) for r in rows]
    return sum(vals) / len(vals) if vals else 0.0


def judge(rows, warm_s):
    """(lines, ok): first vs last quarter after warm-up."""
    post = [r for r in rows if r["t_s"] >= warm_s]
    if len(post) < 8:
        return [("samples after warm-up: too few to judge", len(post), len(post), False)], False
    q = max(2, len(post) // 4)
    a, b = post[:q], post[-q:]
    lines, ok = [], True
    flat_keys = ["rss_mib", "fds", "threads"] + sorted(k for k in rows[-1]
                                                       if k.startswith(("map_", "cache_")))
    margins = {"rss_mib": 2.0, "fds": 2, "threads": 2}
    for k in flat_keys:
        x, y = mean(a, k), mean(b, k)
        margin = max(0.05 * x, margins.get(k, 8))
        flat = abs(y - x) <= margin
        ok &= flat
        lines.append((k, x, y, flat))
    return lines, ok


def plot(rows, out_png, tmpdir, warm_s):
    data = lib.write_data(tmpdir, "soak.dat", [
        [r["t_s"] / 60.0, r["rss_mib"], r["fds"], r["threads"],
         sum(v for k, v in r.items() if k.startswith("map_")),
         sum(v for k, v in r.items() if k.startswith("cache_")), r["http_lines"] / 1000.0]
        for r in rows])
    lib.gnuplot("""
set terminal pngcairo size 1000,700 noenhanced font ",10"
set output %s
set multiplot layout 2,1 title "sockeye soak: %.0f minutes, series churn (grey line: end of warm-up)"
set grid
set xlabel "minutes"
set arrow from %f, graph 0 to %f, graph 1 nohead lc "grey"
set ylabel "RSS MiB / fds / threads"
plot %s using 1:2 with lines lw 2 title "agent RSS (MiB)", \\
     %s using 1:3 with lines title "open fds", \\
     %s using 1:4 with lines title "threads"
set ylabel "entries"
plot %s using 1:5 with lines lw 2 title "BPF map entries (all maps)", \\
     %s using 1:6 with lines title "identity cache entries", \\
     %s using 1:7 with lines title "http series lines (thousands)"
unset multiplot
""" % (lib.gp_quote(out_png), rows[-1]["t_s"] / 60.0, warm_s / 60.0, warm_s / 60.0,
       *([lib.gp_quote(data)] * 6)), tmpdir)


SOAK_BEGIN = "<!-- soak: written by bench/soak.sh; bench/run keeps it -->"
SOAK_END = "<!-- /soak -->"


def write_section(path, text):
    """Puts text between the soak markers of results.md (appended when there are none)."""
    old = ""
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
    block = SOAK_BEGIN + "\n" + text.rstrip("\n") + "\n" + SOAK_END + "\n"
    if SOAK_BEGIN in old and SOAK_END in old:
        head, _, rest = old.partition(SOAK_BEGIN)
        _, _, tail = rest.partition(SOAK_END + "\n")
        new = head + block + tail
    else:
        new = old.rstrip("\n") + "\n\n" + block
    with open(path + ".tmp", "w") as f:
        f.write(new)
    os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--every", type=float, default=10.0, help="sample interval (s)")
    ap.add_argument("--restart", type=float, default=45.0, help="a service is replaced this often")
    ap.add_argument("--rate", type=float, default=150.0, help="requests a second in all")
    ap.add_argument("--out", default=lib.BENCH, help="directory of results.md, soak.png, soak.csv")
    args = ap.parse_args()
    agent_bin = os.environ.get("SOCKEYE_AGENT") or os.path.join(ROOT, "build", "sockeye")
    procs = lib.Procs()
    tmp = tempfile.mkdtemp(prefix="sockeye-soak-")
    status = 0
    try:
        m = lib.machine()
        ports = []
        while len(ports) < N_SLOTS:
            p = lib.free_port()
            if p not in ports:
                ports.append(p)
        # Only the services' ports: other work on the host (other tests) must not add series.
        agent = lib.Agent(procs, agent_bin, tmp, name="soak",
                          config="ports:\n  include: [%s]\n" % ", ".join(map(str, ports)))
        slots = [Slot(procs, i, ports[i]) for i in range(N_SLOTS)]
        t0 = time.monotonic()
        clients = Clients(slots, args.rate, t0)
        scrapers = [lib.Scraper(agent.url("/metrics"), 1.0)]
        gz_stop = threading.Event()

        def om_gzip():
            while not gz_stop.wait(5.0):
                try:
                    c = http.client.HTTPConnection("127.0.0.1", agent.port, timeout=30)
                    c.request("GET", "/metrics", headers={
                        "Accept": "application/openmetrics-text; version=1.0.0",
                        "Accept-Encoding": "gzip"})
                    c.getresponse().read()
                    c.close()
                except (OSError, http.client.HTTPException):
                    pass

        gz = threading.Thread(target=om_gzip, daemon=True)
        gz.start()
        rows = []
        end = t0 + args.minutes * 60
        next_restart = t0 + args.restart
        turn = 0
        while time.monotonic() < end:
            if not agent.alive():
                raise lib.BenchError("the agent died: %s" % agent.log_tail())
            if time.monotonic() >= next_restart:
                slots[turn % N_SLOTS].restart()
                turn += 1
                next_restart += args.restart
            rows.append(sample(agent, t0, clients, slots))
            r = rows[-1]
            lib.log("t=%5.0fs rss=%.1fMiB fds=%d threads=%d maps=%d caches=%d lines=%d sent=%d"
                    % (r["t_s"], r["rss_mib"], r["fds"], r["threads"],
                       sum(v for k, v in r.items() if k.startswith("map_")),
                       sum(v for k, v in r.items() if k.startswith("cache_")), r["http_lines"],
                       r["sent"]))
            time.sleep(max(0.0, t0 + len(rows) * args.every - time.monotonic()))
        clients.finish()
        gz_stop.set()
        for s in scrapers:
            s.stop()
        rows.append(sample(agent, t0, clients, slots))
        keys = sorted({k for r in rows for k in r}, key=lambda k: (k != "t_s", k))
        csv_path = os.path.join(args.out, "soak.csv")
        with open(csv_path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            for r in rows:
                w.writerow({k: r.get(k, "") for k in keys})
        warm_s = max(420.0, rows[-1]["t_s"] / 3) if args.minutes >= 15 else rows[-1]["t_s"] / 3
        lines, ok = judge(rows, warm_s)
        png = os.path.join(args.out, "soak.png")
        plot(rows, png, tmp, warm_s)
        first, last = rows[0], rows[-1]
        evicted = {k: last.get(k, 0) for k in last if k.startswith("evicted_")}
        out = ["## Soak", "", "_%s_" % m["line"], "",
               "`bench/soak.sh --minutes %g` (agent %s): %.0f minutes of loopback traffic with "
               "series churn: 3 services replaced in turn every %.0f s (%d processes in all), "
               "routes from a pool of %d in a window of %d moving every minute, keep-alive "
               "connections of 20 requests (about %.0f requests/s), a text scrape every second "
               "and an OpenMetrics+gzip scrape every 5 s. Sampled every %.0f s; warm-up is the "
               "first %.0f minutes (every route seen). Flat means the last quarter after "
               "warm-up is within 5%% (or a small margin) of the first quarter."
               % (args.minutes, os.path.basename(agent_bin), last["t_s"] / 60, args.restart,
                  last["generations"], POOL, WINDOW, args.rate, args.every, warm_s / 60),
               "",
               lib.md_table(["measure", "start", "after warm-up (first quarter)",
                             "end (last quarter)", "flat"],
                            [[k, first.get(k, ""), "%.1f" % x, "%.1f" % y, "yes" if f else "NO"]
                             for k, x, y, f in lines]),
               "",
               "Requests sent %d (client errors while a service was being replaced: %d), "
               "counted by the agent on the services' ports %d; identity cache evictions: %s; "
               "parser events: %s." % (
                   last["sent"], last["client_errors"], last["counted"],
                   ", ".join("%s %d" % (k[8:], v) for k, v in sorted(evicted.items())) or "none",
                   ", ".join("%s %d" % (k[6:], v) for k, v in sorted(last.items())
                             if k.startswith("event_")) or "none"),
               "", "![soak](soak.png)", "", "Raw samples: `soak.csv`."]
        if not ok:
            out += ["", "**NOT FLAT:** " + ", ".join(k for k, _, _, f in lines if not f)]
            status = 1
        if not any(evicted.values()):
            out += ["", "**No identity cache evicted anything.**"]
            status = 1
        text = "\n".join(out) + "\n"
        write_section(os.path.join(args.out, "results.md"), text)
        print(text)
        lib.log("wrote %s, %s and the soak section of %s" % (csv_path, png,
                                                             os.path.join(args.out, "results.md")))
        agent.stop()
    except lib.BenchError as e:
        lib.log("error: %s" % e)
        status = 1
    finally:
        procs.stop_all()
        lib.remove_cgroups()
    return status


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    else:
        sys.exit(main())
