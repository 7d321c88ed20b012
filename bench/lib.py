#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""lib.py - what bench/run is built from: processes started and stopped by PID, the agent,
nginx, node-exporter, wrk, exposition parsing, the machine's description, gnuplot plots.

Nothing here asserts a timing. Every wait is bounded; every process is stopped by its own PID.
"""

import datetime
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
PYTHON = "/usr/bin/python3"  # the only python with Debian's python3-prometheus-client
NGINX = "/usr/sbin/nginx"
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
# Debian packages bench/run installs when missing (besides what `make deps-test` brings).
APT_PACKAGES = ("gnuplot-nox", "prometheus-node-exporter", "redis-server", "redis-tools")

AGENT_READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
START_TIMEOUT = 15.0


class BenchError(Exception):
    """A tool failed, a server did not start, or the agent misbehaved: the run cannot go on."""


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def wait_until(pred, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prog_delta(s0, s1):
    """{program: (runs, run seconds)} between two Scrapes of the agent."""
    p0, p1 = s0.programs(), s1.programs()
    return {p: (p1[p][0] - p0.get(p, (0, 0))[0], p1[p][1] - p0.get(p, (0, 0))[1]) for p in p1}


def http_get(url, timeout=10.0):
    """(status, body bytes); status 0 when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (OSError, ValueError):
        return 0, b""


def mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


# ---------------------------------------------------------------------------------------------
# Processes we start. Each is stopped by its own PID, never by name.

class Procs:
    def __init__(self):
        self.procs = []

    def start(self, argv, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        p = subprocess.Popen(argv, **kw)
        self.procs.append(p)
        return p

    def stop(self, p, timeout=STOP_TIMEOUT):
        """SIGTERM, wait up to timeout, then SIGKILL. Returns the exit status."""
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        if p in self.procs:
            self.procs.remove(p)
        return p.returncode

    def stop_all(self):
        for p in list(reversed(self.procs)):
            self.stop(p)


def proc_cpu_seconds(pid):
    """utime + stime of a process (all its threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status_kib(pid, field):
    """A "Field: N kB" line of /proc/PID/status (VmRSS, VmHWM), in KiB."""
    return read_kib("/proc/%d/status" % pid, field)


def read_kib(path, field):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


# ---------------------------------------------------------------------------------------------
# The machine.

def machine():
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kib = read_kib("/proc/meminfo", "MemTotal")
    try:
        with open("/etc/debian_version") as f:
            debian = "Debian " + f.read().strip()
    except OSError:
        debian = platform.platform()
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    now = datetime.datetime.now(datetime.timezone.utc)
    m = {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "mem_gib": round(mem_kib / 1048576) if mem_kib else None,
        "kernel": os.uname().release,
        "os": debian,
        "date": now.strftime("%Y-%m-%d %H:%M UTC"),
        "day": now.strftime("%Y-%m-%d"),
        "load_at_start": load,
    }
    m["line"] = "%d cores (%s), %s GiB, kernel %s, %s; %s" % (
        m["cores"], m["cpu"], m["mem_gib"], m["kernel"], m["os"], m["date"])
    m["short"] = "%d cores %s, kernel %s, %s" % (m["cores"], m["cpu"], m["kernel"], m["day"])
    return m


def tool_version(argv, pattern=None):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    out = (p.stdout + p.stderr).strip()
    if pattern:
        m = re.search(pattern, out)
        return m.group(1) if m else "?"
    return out.splitlines()[0] if out else "?"


# ---------------------------------------------------------------------------------------------
# Exposition text.

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \S+)?$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_samples(text):
    """[(name, {label: value}, float)] of every sample line."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        if not m:
            continue
        labels = dict(LABEL_RE.findall(m.group(2) or ""))
        try:
            v = float(m.group(3))
        except ValueError:
            continue
        out.append((m.group(1), labels, v))
    return out


class Scrape:
    def __init__(self, text):
        self.text = text
        self.samples = parse_samples(text)

    def value(self, name, **labels):
        for n, ls, v in self.samples:
            if n == name and all(ls.get(k) == str(x) for k, x in labels.items()):
                return v
        return None

    def http_counts(self, role, port):
        """{(method, route, status): count} of one family for server_port=port."""
        fam = "http_%s_request_duration_seconds_count" % role
        out = {}
        for n, ls, v in self.samples:
            if n == fam and ls.get("server_port") == str(port):
                k = (ls.get("http_request_method"), ls.get("http_route"),
                     ls.get("http_response_status_code"))
                out[k] = out.get(k, 0) + v
        return out

    def http_total(self, role, port):
        return sum(self.http_counts(role, port).values())

    def programs(self):
        """{program: (runs, run seconds)} from sockeye's own BPF run-time families."""
        runs, secs = {}, {}
        for n, ls, v in self.samples:
            if n.endswith("bpf_program_runs_total"):
                runs[ls.get("program")] = v
            elif n.endswith("bpf_program_run_seconds_total"):
                secs[ls.get("program")] = v
        return {p: (runs.get(p, 0), secs.get(p, 0.0)) for p in set(runs) | set(secs)}

    def http_series_lines(self):
        return sum(1 for n, _, _ in self.samples if n.startswith("http_"))

    def http_label_sets(self):
        return sum(1 for n, _, _ in self.samples
                   if n.startswith("http_") and n.endswith("_count"))


def delta_counts(before, after):
    out = {}
    for k in set(before) | set(after):
        d = after.get(k, 0) - before.get(k, 0)
        if d:
            out[k] = d
    return out


# ---------------------------------------------------------------------------------------------
# The agent.

class Agent:
    def __init__(self, procs, binary, tmpdir, config=None, name="agent", args=()):
        self.procs, self.binary = procs, binary
        self.port = free_port()
        self.logpath = os.path.join(tmpdir, "%s-%d.log" % (name, self.port))
        argv = [binary, "--web.listen-address=127.0.0.1:%d" % self.port] + list(args)
        if config:
            cpath = os.path.join(tmpdir, "%s-%d.yml" % (name, self.port))
            with open(cpath, "w") as f:
                f.write(config)
            argv.append("--config.file=" + cpath)
        self.log = open(self.logpath, "wb")
        # Its own cgroup: cpu.stat counts every thread's CPU time (also of threads that have
        # exited) in microseconds, where /proc/PID/stat has 10 ms ticks.
        self.cgroup = Cgroup("sockeye-bench-agent-%d" % self.port)
        self.proc = procs.start(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                preexec_fn=self.cgroup.enter)
        self.pid = self.proc.pid
        ok = wait_until(lambda: self.proc.poll() is not None or
                        http_get(self.url("/readyz"), 2)[0] == 200, AGENT_READY_TIMEOUT, 0.05)
        if not ok or self.proc.poll() is not None:
            self.stop(check=False)
            raise BenchError("agent did not become ready: %s" % self.log_tail())

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def scrape(self):
        st, body = http_get(self.url("/metrics"), 60)
        if st != 200:
            raise BenchError("scrape of the agent failed (status %d): %s" % (st, self.log_tail()))
        return Scrape(body.decode("utf-8", "replace"))

    def cpu_seconds(self):
        v = self.cgroup.cpu_seconds()
        return v if v is not None else proc_cpu_seconds(self.pid)

    def rss_kib(self):
        return proc_status_kib(self.pid, "VmRSS"), proc_status_kib(self.pid, "VmHWM")

    def alive(self):
        return self.proc.poll() is None

    def log_tail(self, n=5):
        try:
            with open(self.logpath, errors="replace") as f:
                return " | ".join(f.read().splitlines()[-n:])
        except OSError:
            return ""

    def stop(self, check=True):
        st = self.procs.stop(self.proc)
        self.log.close()
        self.cgroup.remove()
        if check and st != 0:
            raise BenchError("agent exited with status %s on SIGTERM: %s" % (st, self.log_tail()))
        return st


CGROUPS = []  # every Cgroup made, for remove_cgroups() at the end of a run


def remove_cgroups():
    """At the end of a run, after every process was stopped."""
    for cg in CGROUPS:
        cg.remove()


def cgroup2_mount():
    with open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) > 2 and parts[2] == "cgroup2":
                return parts[1]
    return None


class Cgroup:
    """A cgroup v2 directory of our own under the cgroup2 mount, for one process we start.
    Without a cgroup2 mount it does nothing and cpu_seconds() returns None."""

    def __init__(self, name):
        mnt = cgroup2_mount()
        self.path = os.path.join(mnt, name) if mnt else None
        if self.path:
            try:
                os.mkdir(self.path)
                CGROUPS.append(self)
            except OSError:
                self.path = None

    def enter(self):
        """preexec_fn: moves the child (before exec) into this cgroup."""
        if self.path:
            with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
                f.write("0")

    def cpu_seconds(self):
        if not self.path:
            return None
        try:
            with open(os.path.join(self.path, "cpu.stat")) as f:
                for line in f:
                    if line.startswith("usage_usec "):
                        return int(line.split()[1]) / 1e6
        except OSError:
            pass
        return None

    def pids(self):
        try:
            with open(os.path.join(self.path, "cgroup.procs")) as f:
                return [int(x) for x in f.read().split()]
        except (OSError, TypeError):
            return []

    def remove(self):
        """At the end: only processes we started are in here (a server's leftover workers, if
        any), so SIGKILL them by PID, then remove the directory."""
        if not self.path:
            return
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if wait_until(lambda: self._rmdir(), 5.0):
            self.path = None
        else:
            log("could not remove cgroup %s" % self.path)

    def _rmdir(self):
        try:
            os.rmdir(self.path)
            return True
        except FileNotFoundError:
            return True
        except OSError:
            return False


class Scraper:
    """Scrapes a URL every interval seconds in a thread (a fast Prometheus) until stopped."""

    def __init__(self, url, interval=1.0):
        self.url, self.interval = url, interval
        self.stopped = threading.Event()
        self.count = self.failures = 0
        self.t = threading.Thread(target=self.loop, daemon=True)
        self.t.start()

    def loop(self):
        while not self.stopped.wait(self.interval):
            st, _ = http_get(self.url, 10)
            self.count += 1
            self.failures += st != 200

    def stop(self):
        self.stopped.set()
        self.t.join(15)


def foreign_programs(exclude_pid=None):
    """'id:name' of loaded cgskb_/sockops_/uprobe_ programs not held by exclude_pid: another
    agent attached beside ours would run in every phase and blur the comparison."""
    mine = set()
    if exclude_pid:
        d = "/proc/%d/fdinfo" % exclude_pid
        for fd in os.listdir(d):
            try:
                with open(os.path.join(d, fd)) as f:
                    for line in f:
                        if line.startswith("prog_id:"):
                            mine.add(int(line.split()[1]))
            except OSError:
                pass
    try:
        p = subprocess.run(["bpftool", "prog", "show", "-j"], capture_output=True, text=True,
                           timeout=20)
        progs = json.loads(p.stdout or "[]")
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return []
    return ["%d:%s" % (x["id"], x.get("name", "")) for x in progs
            if x.get("name", "").startswith(("cgskb_", "sockops_", "uprobe_", "uretprobe_"))
            and x["id"] not in mine]


# ---------------------------------------------------------------------------------------------
# nginx.

NGINX_CONF = """daemon off;
master_process on;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    default_type text/plain;
    keepalive_timeout 60s;
    keepalive_requests 100000000;
    server {{
{listen}
{extra}
{locations}
    }}
}}
"""

# `return` with a text for every code: a bare `return 500` turns keep-alive off.
LOC_OK = '        location / { return 200 "ok\\n"; }'
LOC_STATUS = """        location / {
            if ($arg_s = "201") { return 201 "created\\n"; }
            if ($arg_s = "404") { return 404 "missing\\n"; }
            if ($arg_s = "500") { return 500 "boom\\n"; }
            return 200 "ok\\n";
        }"""


class Nginx:
    def __init__(self, procs, tmpdir, ports, locations=LOC_OK, tls=None, cgroup=None):
        self.procs = procs
        self.dir = tempfile.mkdtemp(prefix="nginx-", dir=tmpdir)
        self.ports = list(ports)
        ssl = " ssl" if tls else ""
        listen = "\n".join("        listen 127.0.0.1:%d%s;" % (p, ssl) for p in self.ports)
        extra = ""
        if tls:
            extra = ("        ssl_certificate %s;\n        ssl_certificate_key %s;\n"
                     "        ssl_session_cache shared:SSL:1m;" % tls)
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(dir=self.dir, listen=listen, extra=extra,
                                      locations=locations))
        self.errlog = os.path.join(self.dir, "error.log")
        out = open(os.path.join(self.dir, "stderr.log"), "wb")
        self.proc = procs.start([NGINX, "-p", self.dir, "-c", conf, "-e", self.errlog],
                                stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=cgroup.enter if cgroup else None)
        out.close()
        pidfile = os.path.join(self.dir, "nginx.pid")
        ok = wait_until(lambda: self.proc.poll() is not None or os.path.exists(pidfile),
                        START_TIMEOUT)
        if not ok or self.proc.poll() is not None:
            self.stop()
            raise BenchError("nginx did not start: %s" % tail(self.errlog))

    def stop(self):
        self.procs.stop(self.proc)


def tail(path, n=3):
    try:
        with open(path, errors="replace") as f:
            return " | ".join(f.read().splitlines()[-n:])
    except OSError:
        return ""


def self_signed_cert(tmpdir):
    crt, key = os.path.join(tmpdir, "tls.crt"), os.path.join(tmpdir, "tls.key")
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=localhost",
                        "-days", "2", "-keyout", key, "-out", crt], capture_output=True,
                       text=True, timeout=30)
    if p.returncode != 0:
        raise BenchError("openssl req failed: %s" % p.stderr.strip()[-300:])
    return crt, key


# ---------------------------------------------------------------------------------------------
# Apps of section 2: the same small service in Node.js (express) and python (http.server).

class App:
    def __init__(self, procs, tmpdir, kind, instrument, cgroup=None):
        self.procs = procs
        if kind == "node":
            argv = ["node", os.path.join(BENCH, "apps", "app.js")]
            env = dict(os.environ, NODE_PATH=os.path.join(BENCH, "node_modules"),
                       NODE_ENV="production")
        else:
            argv = [PYTHON, os.path.join(BENCH, "apps", "app.py")]
            env = dict(os.environ)
        if instrument:
            argv.append("--instrument")
        # stderr to a file: a pipe nobody reads would block the app once it filled up.
        self.logpath = os.path.join(tmpdir, "%s-app-%d.log" % (kind, time.monotonic_ns()))
        with open(self.logpath, "wb") as log:
            self.proc = procs.start(argv, stdout=subprocess.PIPE, stderr=log, env=env,
                                    preexec_fn=cgroup.enter if cgroup else None)
        line = readline_timeout(self.proc.stdout, START_TIMEOUT)
        if not line.startswith("READY "):
            self.procs.stop(self.proc)
            raise BenchError("%s app did not start: %r %s" % (kind, line, tail(self.logpath)))
        self.port = int(line.split()[1])
        self.pid = self.proc.pid

    def metrics(self):
        st, body = http_get("http://127.0.0.1:%d/metrics" % self.port, 30)
        if st != 200:
            raise BenchError("scrape of the in-app /metrics failed (status %d)" % st)
        return Scrape(body.decode("utf-8", "replace"))

    def stop(self):
        self.procs.stop(self.proc)


def readline_timeout(f, timeout):
    import select
    r, _, _ = select.select([f], [], [], timeout)
    return f.readline().decode(errors="replace").strip() if r else ""


# ---------------------------------------------------------------------------------------------
# wrk.

UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def parse_duration(s):
    m = re.match(r"^([0-9.]+)(us|ms|s|m)$", s)
    return float(m.group(1)) * UNITS[m.group(2)] if m else None


def wrk(url, duration, conns=16, threads=1, script=None, cgroup=None, account=None):
    """Runs wrk at saturation (in cgroup, when given); returns {requests, rps, p50, p99
    (seconds), non2xx, errors, cpu}: cpu maps each name of account (name -> object with
    cpu_seconds(), e.g. a Cgroup or the Agent) to the CPU seconds it used during the run."""
    argv = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % duration, "--timeout", "10s",
            "--latency"]
    if script:
        argv += ["-s", script]
    argv.append(url)
    account = account or {}
    c0 = {k: v.cpu_seconds() for k, v in account.items()}
    h0, t0 = host_busy_seconds(), time.monotonic()
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60,
                           preexec_fn=cgroup.enter if cgroup else None)
    except subprocess.TimeoutExpired:
        raise BenchError("wrk did not finish: %s" % " ".join(argv))
    c1 = {k: v.cpu_seconds() for k, v in account.items()}
    h1, t1 = host_busy_seconds(), time.monotonic()
    out = p.stdout
    if p.returncode != 0:
        raise BenchError("wrk failed (%d): %s %s" % (p.returncode, out[-300:], p.stderr[-300:]))
    r = {"non2xx": 0, "errors": "",
         "cpu": {k: c1[k] - c0[k] for k in account if c0[k] is not None and c1[k] is not None}}
    # Everything else the machine did meanwhile (other people's work, and ours not accounted),
    # in cores: what explains a phase that stands out.
    r["other_cores"] = max(0.0, (h1 - h0) - sum(r["cpu"].values())) / (t1 - t0)
    m = re.search(r"^\s*(\d+) requests in ", out, re.M)
    m2 = re.search(r"^Requests/sec:\s*([0-9.]+)", out, re.M)
    if not m or not m2:
        raise BenchError("cannot read wrk's output: %s" % out[-500:])
    r["requests"], r["rps"] = int(m.group(1)), float(m2.group(1))
    for q in ("50", "99"):
        mq = re.search(r"^\s*%s%%\s+(\S+)" % q, out, re.M)
        r["p" + q] = parse_duration(mq.group(1)) if mq else None
    mn = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if mn:
        r["non2xx"] = int(mn.group(1))
    me = re.search(r"Socket errors: (.*)", out)
    if me:
        r["errors"] = me.group(1).strip()
    return r


def host_busy_seconds():
    """CPU time the whole machine spent busy (all CPUs, not idle or iowait), from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is inside user already)
    return (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def cpu_us_per_request(r, names):
    """CPU microseconds per completed request, summed over the named parts of r["cpu"]."""
    if not r["requests"] or any(n not in r["cpu"] for n in names):
        return None
    return sum(r["cpu"][n] for n in names) / r["requests"] * 1e6


# ---------------------------------------------------------------------------------------------
# node-exporter with only its textfile collector.

class NodeExporter:
    def __init__(self, procs, tmpdir, textfile_dir):
        self.procs = procs
        self.port = free_port()
        self.logpath = os.path.join(tmpdir, "node-exporter-%d.log" % self.port)
        self.log = open(self.logpath, "wb")
        self.proc = procs.start([NODE_EXPORTER, "--web.listen-address=127.0.0.1:%d" % self.port,
                                 "--collector.disable-defaults", "--collector.textfile",
                                 "--collector.textfile.directory=" + textfile_dir,
                                 "--web.disable-exporter-metrics"],
                                stdout=self.log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        ok = wait_until(lambda: self.proc.poll() is not None or
                        http_get(self.url(), 30)[0] == 200, START_TIMEOUT, 0.1)
        if not ok or self.proc.poll() is not None:
            self.stop()
            raise BenchError("node-exporter did not start: %s" % tail(self.logpath))

    def url(self):
        return "http://127.0.0.1:%d/metrics" % self.port

    def stop(self):
        self.procs.stop(self.proc)
        self.log.close()


def timed_scrapes(url, n, budget):
    """Scrapes url with curl up to n times (at least 3, while within budget seconds):
    [(seconds, bytes)]. curl's time_total excludes curl's own start-up."""
    out = []
    t0 = time.monotonic()
    while len(out) < n and (len(out) < 3 or time.monotonic() - t0 < budget):
        p = subprocess.run(["curl", "-sS", "--max-time", "120", "-o", "/dev/null", "-w",
                            "%{http_code} %{time_total} %{size_download}", url],
                           capture_output=True, text=True, timeout=150)
        parts = p.stdout.split()
        if p.returncode != 0 or len(parts) != 3 or parts[0] != "200":
            raise BenchError("scrape of %s failed: %s %s" % (url, p.stdout, p.stderr.strip()))
        out.append((float(parts[1]), int(parts[2])))
    return out


# ---------------------------------------------------------------------------------------------
# Traffic for section 4: one request per distinct (port, route, status).

def drive_combos(combos, timeout):
    """combos: [(port, path, status)]. One keep-alive connection per port, a thread each.
    Returns the number of requests whose status was the one asked for."""
    import http.client
    by_port = {}
    for port, path, status in combos:
        by_port.setdefault(port, []).append((path, status))
    ok = [0]
    errs = []
    lock = threading.Lock()
    deadline = time.monotonic() + timeout

    def run(port, reqs):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        n = 0
        try:
            for path, status in reqs:
                if time.monotonic() > deadline:
                    errs.append("time budget exceeded on port %d" % port)
                    break
                conn.request("GET", "%s?s=%d" % (path, status))
                r = conn.getresponse()
                r.read()
                if r.status == status:
                    n += 1
                else:
                    errs.append("port %d %s: got %d, want %d" % (port, path, r.status, status))
        except OSError as e:
            errs.append("port %d: %s" % (port, e))
        finally:
            conn.close()
        with lock:
            ok[0] += n

    ts = [threading.Thread(target=run, args=(p, rs), daemon=True) for p, rs in by_port.items()]
    for t in ts:
        t.start()
    for t in ts:
        t.join(max(1.0, deadline - time.monotonic() + 5))
    if errs:
        raise BenchError("series traffic: %s" % "; ".join(errs[:3]))
    return ok[0]


def drive_mix(port, mix, conns, per_conn, timeout):
    """A clean client for exact counts: conns threads, each one keep-alive connection sending
    per_conn requests from mix [(method, path, body or None, status)] in rotation and reading
    every response before the next; connections close only after their last response, so
    nothing is in flight at the end. Returns {(method, path, status): completed}."""
    import http.client
    done = {}
    errs = []
    lock = threading.Lock()
    deadline = time.monotonic() + timeout

    def run(k):
        mine = {}
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            for i in range(per_conn):
                if time.monotonic() > deadline:
                    errs.append("time budget exceeded")
                    break
                method, path, body, status = mix[(i + k) % len(mix)]
                headers = {"Content-Type": "application/json"} if body else {}
                conn.request(method, path, body=body, headers=headers)
                r = conn.getresponse()
                r.read()
                if r.status != status:
                    errs.append("%s %s: got %d, want %d" % (method, path, r.status, status))
                    break
                key = (method, path, status)
                mine[key] = mine.get(key, 0) + 1
        except OSError as e:
            errs.append(str(e))
        finally:
            conn.close()
        with lock:
            for key, n in mine.items():
                done[key] = done.get(key, 0) + n

    ts = [threading.Thread(target=run, args=(k,), daemon=True) for k in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(max(1.0, deadline - time.monotonic() + 15))
    if errs:
        raise BenchError("clean client: %s" % "; ".join(errs[:3]))
    return done


def paced(port, path, rate, duration, conns=4):
    """A service at its own pace: rate requests per second in all, spread over conns keep-alive
    connections, for duration seconds, every response read. Returns the requests completed."""
    import http.client
    done = [0] * conns
    errs = []
    t0 = time.monotonic()

    def run(k):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        period = conns / rate
        nxt = t0 + k * period / conns
        try:
            while True:
                now = time.monotonic()
                if now - t0 >= duration:
                    break
                if nxt > now:
                    time.sleep(nxt - now)
                nxt += period
                conn.request("GET", path)
                r = conn.getresponse()
                r.read()
                done[k] += 1
        except OSError as e:
            errs.append(str(e))
        finally:
            conn.close()

    ts = [threading.Thread(target=run, args=(k,), daemon=True) for k in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(duration + 30)
    if errs:
        raise BenchError("paced client: %s" % "; ".join(errs[:3]))
    return sum(done)


# ---------------------------------------------------------------------------------------------
# Output.

def fmt(v, spec="%.3f", none="n/a"):
    return none if v is None else spec % v


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(x) for x in r) + " |")
    return "\n".join(out)


def gnuplot(script, tmpdir):
    path = os.path.join(tmpdir, "plot.gp")
    with open(path, "w") as f:
        f.write(script)
    p = subprocess.run(["gnuplot", path], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise BenchError("gnuplot failed: %s" % p.stderr.strip()[-500:])


def gp_quote(s):
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')


def write_data(tmpdir, name, rows):
    path = os.path.join(tmpdir, name)
    with open(path, "w") as f:
        for r in rows:
            f.write("\t".join(gp_quote(x) if isinstance(x, str) else repr(x) for x in r) + "\n")
    return path


def is_png(path):
    try:
        with open(path, "rb") as f:
            return f.read(8) == b"\x89PNG\r\n\x1a\n"
    except OSError:
        return False
