#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""harness.py - shared helpers of the integration tests: the agent, servers in their own cgroup,
clients that record what they sent, exposition parsing, exact comparison and the test runner.

Every test drives real servers with real clients, scrapes the agent before and after, and
compares the delta of the series whose server_port is the port under test with the exact
request mix it sent. Nothing here retries a request or loosens a count.

Run as `/usr/bin/python3 harness.py pyserver PROTO HOST` to get the python http.server the tests
use (it prints "READY <port>" once listening). Debian's python3-prometheus-client is installed
only for /usr/bin/python3.
"""

import collections
import http.client
import math
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# SOCKEYE_AGENT runs the suites against another binary (default: the one "make all" built).
# Absolute: tests hand it to tools that insist (systemd-analyze), and run.sh passes build/...
AGENT = os.path.abspath(os.environ.get("SOCKEYE_AGENT") or os.path.join(ROOT, "build", "sockeye"))
PYTHON = "/usr/bin/python3"
NGINX = "/usr/sbin/nginx"
HERE = os.path.abspath(__file__)

# Default histogram bounds of the agent (seconds), then +Inf.
DEFAULT_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
FAMILY = {
    "server": "http_server_request_duration_seconds",
    "client": "http_client_request_duration_seconds",
}

# Bytes that look like the start of a response, for bodies that must not be taken as one.
LOOKALIKE_STATUS = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
# ... and like requests.
LOOKALIKE_REQUEST = b"GET /users/1 HTTP/1.1\r\nHost: x\r\n\r\n"

UUID = "3f2b8c1e-9d4a-4e5b-8f6a-1b2c3d4e5f60"
SECRET = "secret123"
QUERY = "?token=" + SECRET + "&x=1"

AGENT_READY_TIMEOUT = 30.0
AGENT_STOP_TIMEOUT = 10.0
SERVER_START_TIMEOUT = 10.0
CLIENT_TIMEOUT = 30.0


class TestFailure(Exception):
    """A test's assertion failed; the message is the reason (first line) plus details."""


def fail(reason, details=()):
    raise TestFailure("\n".join([reason] + ["    " + d for d in details]))


def check(cond, reason, details=()):
    if not cond:
        fail(reason, details)


def wait_until(pred, timeout, interval=0.05):
    """Polls pred() until it returns a true value or timeout seconds pass; returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def free_port(host="127.0.0.1"):
    """A port the kernel considers free right now (bind port 0, read it, close)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def url_host(host):
    return "[%s]" % host if ":" in host else host


# ---------------------------------------------------------------------------------------------
# Processes we start. Each is stopped by its own PID; nothing is ever killed by name.

class Procs:
    def __init__(self):
        self.procs = []

    def start(self, argv, **kw):
        p = subprocess.Popen(argv, **kw)
        self.procs.append(p)
        return p

    @staticmethod
    def stop(p, sig=signal.SIGTERM, timeout=5.0):
        """Signals p and waits for it; SIGKILL after timeout. Returns its exit status."""
        if p.poll() is None:
            try:
                p.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        return p.returncode

    def stop_all(self):
        for p in reversed(self.procs):
            self.stop(p)
        self.procs = []


class Cgroup:
    """A cgroup v2 directory of our own: the servers run in it, as they would in a container."""

    def __init__(self, name):
        mnt = None
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) > 2 and parts[2] == "cgroup2":
                    mnt = parts[1]
                    break
        if mnt is None:
            raise RuntimeError("no cgroup2 mount in /proc/mounts")
        self.path = os.path.join(mnt, "%s-%d" % (name, os.getpid()))
        os.mkdir(self.path)

    def enter(self):
        """preexec_fn: moves the child (before exec) into this cgroup."""
        with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
            f.write("0")

    def pids(self):
        try:
            with open(os.path.join(self.path, "cgroup.procs")) as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            return []

    def remove(self):
        # Only processes we started are in here (our servers and their workers).
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_until(lambda: not self.pids(), 5.0)
        try:
            os.rmdir(self.path)
        except OSError as e:
            print("harness: could not remove cgroup %s: %s" % (self.path, e), file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# The agent.

def http_get(host, port, path, timeout=10.0):
    """One GET on a fresh connection. Returns (status, headers dict lower-cased, body str)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        r = conn.getresponse()
        body = r.read().decode("utf-8", "replace")
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    finally:
        conn.close()


class Agent:
    def __init__(self, procs, tmpdir, config=None, args=(), telemetry_path="/metrics"):
        self.procs = procs
        self.tmpdir = tmpdir
        self.config = config
        self.args = list(args)
        self.telemetry_path = telemetry_path
        self.port = None
        self.proc = None
        self.log_path = os.path.join(tmpdir, "agent-%d.log" % id(self))

    def start(self):
        """Starts the agent and waits for /readyz == 200. Raises TestFailure with its log."""
        if not os.access(AGENT, os.X_OK):
            fail("agent binary %s missing: run 'make all' first" % AGENT)
        self.port = free_port()
        argv = [AGENT, "--web.listen-address=127.0.0.1:%d" % self.port] + self.args
        if self.config is not None:
            cfg = os.path.join(self.tmpdir, "agent-%d.yaml" % id(self))
            with open(cfg, "w") as f:
                f.write(self.config)
            argv.append("--config.file=" + cfg)
        self.argv = argv
        log = open(self.log_path, "wb")
        self.proc = self.procs.start(argv, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log.close()

        def ready():
            if self.proc.poll() is not None:
                return "exited"
            try:
                st, _, _ = http_get("127.0.0.1", self.port, "/readyz", timeout=2)
                return "ready" if st == 200 else None
            except OSError:
                return None

        st = wait_until(ready, AGENT_READY_TIMEOUT, 0.1)
        if st != "ready":
            why = ("exited with status %s" % self.proc.returncode if st == "exited"
                   else "not ready after %.0f s" % AGENT_READY_TIMEOUT)
            self.stop()
            fail("agent %s: %s" % (" ".join(argv), why), self.log_tail())
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def ready(self):
        try:
            return http_get("127.0.0.1", self.port, "/readyz")[0] == 200
        except OSError:
            return False

    def scrape(self, path=None):
        st, headers, body = http_get("127.0.0.1", self.port, path or self.telemetry_path)
        check(st == 200, "scrape of %s returned %d" % (path or self.telemetry_path, st))
        return Scrape(body, headers)

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None:
            return None
        return Procs.stop(self.proc, sig, AGENT_STOP_TIMEOUT)

    def log_tail(self, n=15):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return []
        return ["agent log: " + line for line in lines[-n:]]


# ---------------------------------------------------------------------------------------------
# Exposition text.

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LNAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def parse_sample_line(line):
    """'name{a="b",...} value [ts]' -> (name, {labels}, float). Raises ValueError."""
    m = _NAME.match(line)
    if not m:
        raise ValueError("no metric name")
    name, i, labels = m.group(0), m.end(), {}
    if i < len(line) and line[i] == "{":
        i += 1
        while True:
            while i < len(line) and line[i] in " \t":
                i += 1
            if i < len(line) and line[i] == "}":
                i += 1
                break
            lm = _LNAME.match(line, i)
            if not lm:
                raise ValueError("bad label name at %d" % i)
            lname, i = lm.group(0), lm.end()
            if line[i:i + 2] != '="':
                raise ValueError("expected =\" after label %s" % lname)
            i += 2
            val = []
            while True:
                if i >= len(line):
                    raise ValueError("unterminated label value")
                c = line[i]
                if c == "\\":
                    nxt = line[i + 1:i + 2]
                    if nxt not in ("\\", '"', "n"):
                        raise ValueError("bad escape \\%s" % nxt)
                    val.append("\n" if nxt == "n" else nxt)
                    i += 2
                elif c == '"':
                    i += 1
                    break
                else:
                    val.append(c)
                    i += 1
            if lname in labels:
                raise ValueError("duplicate label %s" % lname)
            labels[lname] = "".join(val)
            if i < len(line) and line[i] == ",":
                i += 1
            elif i < len(line) and line[i] == "}":
                i += 1
                break
            else:
                raise ValueError("expected , or } at %d" % i)
    rest = line[i:].split()
    if len(rest) not in (1, 2):
        raise ValueError("expected value [timestamp]")
    return name, labels, float(rest[0])


def le_value(s):
    return math.inf if s in ("+Inf", "Inf") else float(s)


Key = collections.namedtuple("Key", "method route status version")


def fmt_key(k):
    return "%s %s %s HTTP/%s" % (k.method, k.route, k.status, k.version)


class Series:
    """One histogram: count, sum and per-le cumulative bucket values."""

    def __init__(self):
        self.count = 0.0
        self.sum = 0.0
        self.buckets = collections.defaultdict(float)

    def minus(self, other):
        d = Series()
        d.count = self.count - other.count
        d.sum = self.sum - other.sum
        for le in set(self.buckets) | set(other.buckets):
            d.buckets[le] = self.buckets.get(le, 0.0) - other.buckets.get(le, 0.0)
        return d

    def nonzero(self):
        return self.count != 0 or self.sum != 0 or any(v != 0 for v in self.buckets.values())


class Scrape:
    def __init__(self, text, headers=None):
        self.text = text
        self.headers = headers or {}
        self.samples = []
        self.errors = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            try:
                self.samples.append(parse_sample_line(line))
            except ValueError as e:
                self.errors.append("line %d: %s: %r" % (n, e, line))

    def value(self, name, **labels):
        """Sum of the samples of name whose labels include the given ones."""
        return sum(v for n, l, v in self.samples
                   if n == name and all(l.get(k) == str(x) for k, x in labels.items()))

    def http(self, role, port):
        """{Key: Series} of a family for one server_port, summed over any other labels."""
        fam = FAMILY[role]
        out = collections.defaultdict(Series)
        for name, labels, v in self.samples:
            if not name.startswith(fam) or labels.get("server_port") != str(port):
                continue
            key = Key(labels.get("http_request_method"), labels.get("http_route"),
                      labels.get("http_response_status_code"),
                      labels.get("network_protocol_version"))
            suffix = name[len(fam):]
            if suffix == "_count":
                out[key].count += v
            elif suffix == "_sum":
                out[key].sum += v
            elif suffix == "_bucket":
                out[key].buckets[le_value(labels.get("le", "?"))] += v
        return dict(out)

    def ports(self, role):
        fam = FAMILY[role]
        return {l.get("server_port") for n, l, v in self.samples if n.startswith(fam)}

    def histogram_problems(self, port=None, bounds=DEFAULT_BOUNDS):
        """Per raw series (all labels but le): the le set is bounds + +Inf, buckets are
        cumulative, +Inf == _count, _sum present. port=None checks every series."""
        want_les = sorted(list(bounds) + [math.inf])
        groups = collections.defaultdict(lambda: {"b": {}, "count": None, "sum": None})
        probs = []
        for name, labels, v in self.samples:
            for fam in FAMILY.values():
                if not name.startswith(fam + "_"):
                    continue
                if port is not None and labels.get("server_port") != str(port):
                    continue
                rest = dict(labels)
                le = rest.pop("le", None)
                g = groups[(fam, tuple(sorted(rest.items())))]
                suffix = name[len(fam):]
                if suffix == "_bucket":
                    g["b"][le_value(le)] = v
                elif suffix == "_count":
                    g["count"] = v
                elif suffix == "_sum":
                    g["sum"] = v
        for (fam, labels), g in sorted(groups.items(), key=lambda x: repr(x[0])):
            sid = "%s{%s}" % (fam, ",".join('%s="%s"' % kv for kv in labels))
            les = sorted(g["b"])
            if les != want_les:
                probs.append("%s: le set %s, want %s" % (sid, les, want_les))
            vals = [g["b"][le] for le in les]
            if any(b < a for a, b in zip(vals, vals[1:])):
                probs.append("%s: buckets not cumulative: %s" % (sid, vals))
            if g["count"] is None or g["sum"] is None:
                probs.append("%s: _count or _sum missing" % sid)
            elif g["b"].get(math.inf) != g["count"]:
                probs.append("%s: +Inf bucket %s != _count %s" % (sid, g["b"].get(math.inf),
                                                                  g["count"]))
            elif g["sum"] < 0:
                probs.append("%s: negative _sum %s" % (sid, g["sum"]))
        return probs


def http_delta(before, after, role, port):
    """{Key: Series} of what changed between two scrapes (only series that changed)."""
    b, a = before.http(role, port), after.http(role, port)
    out = {}
    for k in set(a) | set(b):
        d = a.get(k, Series()).minus(b.get(k, Series()))
        if d.nonzero():
            out[k] = d
    return out


def count_problems(expected, delta):
    """Lines 'KEY: expected E, got G' for every Key whose count differs (incl. unexpected ones)."""
    lines = []
    for k in sorted(set(expected) | set(delta), key=lambda k: tuple(str(x) for x in k)):
        e = expected.get(k, 0)
        g = delta[k].count if k in delta else 0
        if e != g:
            lines.append("%s: expected %d, got %s" % (fmt_key(k), e, fmt_num(g)))
    return lines


def fmt_num(v):
    return str(int(v)) if float(v).is_integer() else repr(v)


SETTLE_TIMEOUT = 1.0


def scrape_after(agent, before, port, expected, roles=("server", "client")):
    """The 'after' scrape. A request is counted when its response status line is seen, which
    is before the client has read it, so the first scrape should already be exact; if it is
    not, scrape again for up to SETTLE_TIMEOUT s (counts only grow, so a later exact scrape
    means the first was merely early) and say so."""
    t0 = time.monotonic()
    tries = 0
    while True:
        after = agent.scrape()
        tries += 1
        if all(not count_problems(expected, http_delta(before, after, r, port)) for r in roles):
            if tries > 1:
                print("NOTE port %d: counts became exact only on scrape %d, after %.2f s"
                      % (port, tries, time.monotonic() - t0), flush=True)
            return after
        if time.monotonic() - t0 >= SETTLE_TIMEOUT:
            return after
        time.sleep(0.1)


def assert_counts(before, after, port, traffic, roles=("server", "client"),
                  bounds=DEFAULT_BOUNDS):
    """Exact per-Key count deltas for each role on port, and consistent histograms."""
    problems = []
    for role in roles:
        d = http_delta(before, after, role, port)
        cp = count_problems(traffic.expected, d)
        if cp:
            problems.append("%s family (%s), server_port=%d:" % (role, FAMILY[role], port))
            problems += ["  " + x for x in cp]
    hp = after.histogram_problems(port, bounds)
    problems += hp
    if problems:
        fail("counts differ from the requests sent (%d requests)" % sum(traffic.expected.values()),
             problems + traffic.describe())


# ---------------------------------------------------------------------------------------------
# Requests and clients. A Req is one request with the labels the agent must give it.

class Req:
    def __init__(self, method, target, status, route, body=None, headers=None):
        self.method, self.target, self.status, self.route = method, target, status, route
        self.body = body
        self.headers = dict(headers or {})

    def key(self, version):
        return Key(self.method, self.route, str(self.status), version)

    def __repr__(self):
        return "%s %s -> %d" % (self.method, self.target, self.status)


class Traffic:
    """What the test sent: the expected counts per Key plus a description of each session."""

    def __init__(self):
        self.expected = collections.Counter()
        self.sessions = []

    def add(self, reqs, version, how):
        for r in reqs:
            self.expected[r.key(version)] += 1
        seen = collections.Counter(map(repr, reqs))
        text = ", ".join(r if n == 1 else "%s (x%d)" % (r, n) for r, n in seen.items())
        self.sessions.append("%s, HTTP/%s, %d requests: %s" % (how, version, len(reqs), text))

    def describe(self):
        return ["sent: " + s for s in self.sessions]


def curl_session(host, port, reqs, version="1.1", extra=()):
    """One curl invocation for all reqs (transfers joined with --next share curl's connection
    pool). Returns the number of TCP connections curl opened. Fails on any wrong status."""
    argv = ["curl"]
    base = "http://%s:%d" % (url_host(host), port)
    for i, r in enumerate(reqs):
        if i:
            argv.append("--next")
        argv += ["-sS", "-g", "--max-time", "20", "-o", "/dev/null",
                 "-w", "%{http_code} %{num_connects}\\n"]
        argv += list(extra)
        if version == "1.0":
            argv.append("--http1.0")
        if r.method == "HEAD":
            argv.append("-I")
        elif r.method != "GET":
            argv += ["-X", r.method]
        if r.body is not None:
            argv += ["--data-binary", r.body]
        for k, v in r.headers.items():
            argv += ["-H", "%s: %s" % (k, v)]
        if r.target == "*":
            argv += ["--request-target", "*", base + "/"]
        else:
            argv.append(base + r.target)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=CLIENT_TIMEOUT)
    lines = p.stdout.split()
    codes = [int(x) for x in lines[0::2]]
    conns = sum(int(x) for x in lines[1::2])
    want = [r.status for r in reqs]
    check(p.returncode == 0 and codes == want,
          "curl (test client) failed: exit %d, statuses %s, want %s" % (p.returncode, codes, want),
          [p.stderr.strip()])
    return conns


class CountingHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.connects = 0

    def connect(self):
        self.connects += 1
        super().connect()


def httpclient_session(host, port, reqs, version="1.1"):
    """All reqs through one http.client.HTTPConnection (it reconnects only when the server
    closes). Returns the number of TCP connections it opened. Fails on any wrong status."""
    conn = CountingHTTPConnection(host, port, timeout=CLIENT_TIMEOUT)
    if version == "1.0":
        conn._http_vsn, conn._http_vsn_str = 10, "HTTP/1.0"
    try:
        for r in reqs:
            body = r.body.encode() if isinstance(r.body, str) else r.body
            conn.request(r.method, r.target, body=body, headers=r.headers)
            resp = conn.getresponse()
            resp.read()
            check(resp.status == r.status, "http.client (test client): %r got %d" % (r, resp.status))
    finally:
        conn.close()
    return conn.connects


def read_response(f, method):
    """Reads one final response (skipping 1xx) from a socket file; returns its status."""
    while True:
        line = f.readline(65536)
        check(line.startswith(b"HTTP/1."), "bad status line from server: %r" % line)
        status = int(line.split()[1])
        length, chunked = 0, False
        while True:
            h = f.readline(65536)
            check(h != b"", "connection closed inside a header section")
            if h in (b"\r\n", b"\n"):
                break
            name, _, value = h.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value.strip())
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if 100 <= status < 200:
            continue
        if method == "HEAD" or status in (204, 304):
            return status
        if chunked:
            while True:
                size = int(f.readline(1024).split(b";")[0], 16)
                data = f.read(size + 2)
                check(len(data) == size + 2, "short chunk")
                if size == 0:
                    return status
        if length:
            body = f.read(length)
            check(len(body) == length, "short body: %d of %d" % (len(body), length))
        return status


def raw_request(r, version="1.1", host="x"):
    body = r.body.encode() if isinstance(r.body, str) else (r.body or b"")
    head = "%s %s HTTP/%s\r\nHost: %s\r\n" % (r.method, r.target, version, host)
    for k, v in r.headers.items():
        head += "%s: %s\r\n" % (k, v)
    if body or r.method in ("POST", "PUT"):
        head += "Content-Length: %d\r\n" % len(body)
    return head.encode() + b"\r\n" + body


def connect(host, port, nodelay=False):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(CLIENT_TIMEOUT)
    if nodelay:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.connect((host, port))
    return s


# ---------------------------------------------------------------------------------------------
# Servers.

class PyServer:
    """python http.server (ThreadingHTTPServer) in a subprocess in the test cgroup.
    proto "1.0": protocol_version HTTP/1.0, one request per connection.
    proto "1.1": keep-alive, Content-Length on every response with a body."""

    def __init__(self, procs, cgroup, proto, host="127.0.0.1"):
        self.proc = procs.start([PYTHON, HERE, "pyserver", proto, host], stdout=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, preexec_fn=cgroup.enter)
        self.host = host
        r, _, _ = select.select([self.proc.stdout], [], [], SERVER_START_TIMEOUT)
        line = self.proc.stdout.readline().decode() if r else ""
        if not line.startswith("READY "):
            Procs.stop(self.proc)
            fail("python http.server (proto %s) did not start: %r" % (proto, line))
        self.port = int(line.split()[1])

    def stop(self):
        Procs.stop(self.proc)


NGINX_CONF = """
daemon off;
master_process on;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    default_type text/plain;
    keepalive_timeout 60s;
    keepalive_requests {keepalive_requests};
    server {{
        listen {listen};
{locations}
    }}
}}
"""

# Every `return` has a text: a bare `return 500` goes through nginx's special response handler,
# which turns keep-alive off for 500 (and 400, 413, 414, 501).
NGINX_LOCATIONS = """
        location = / { return 200 "root\\n"; }
        location ~ ^/users/[0-9]+$ { return 200 "user\\n"; }
        location ~ ^/orders/[^/]+/items$ { return 201 "created\\n"; }
        location = /missing { return 404 "missing\\n"; }
        location = /boom { return 500 "boom\\n"; }
        location ~ ^/r/ { return 200 "r\\n"; }
        location / { return 404 "not found\\n"; }
"""


class Nginx:
    """nginx (master + 1 worker) in a temp dir, in the test cgroup."""

    def __init__(self, procs, cgroup, tmpdir, host="127.0.0.1", locations=NGINX_LOCATIONS,
                 keepalive_requests=1000, port=None):
        self.dir = tempfile.mkdtemp(prefix="nginx-", dir=tmpdir)
        self.host = host
        self.port = port or free_port(host)
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(dir=self.dir, listen="%s:%d" % (url_host(host), self.port),
                                      locations=locations,
                                      keepalive_requests=keepalive_requests))
        log = open(os.path.join(self.dir, "stderr.log"), "wb")
        self.proc = procs.start([NGINX, "-p", self.dir, "-c", conf, "-e",
                                 os.path.join(self.dir, "error.log")],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                preexec_fn=cgroup.enter)
        log.close()
        # Ready when the pid file exists (written after the listen socket is bound).
        ok = wait_until(lambda: self.proc.poll() is not None or
                        os.path.exists(os.path.join(self.dir, "nginx.pid")), SERVER_START_TIMEOUT)
        if not ok or self.proc.poll() is not None:
            Procs.stop(self.proc)
            with open(os.path.join(self.dir, "error.log"), errors="replace") as f:
                err = f.read().splitlines()[-5:]
            fail("nginx did not start on port %d" % self.port, err)

    def stop(self):
        Procs.stop(self.proc)  # SIGTERM to the master: fast shutdown of master and worker


def serve_garbage(host="127.0.0.1"):
    """A TCP server speaking no HTTP: it reads whatever comes and answers with bytes of its own.
    Returns (port, stop function)."""
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.bind((host, 0))
    ls.listen(16)
    ls.settimeout(0.2)
    stop = threading.Event()

    def conn_loop(c):
        with c:
            c.settimeout(5)
            try:
                while True:
                    data = c.recv(4096)
                    if not data:
                        return
                    c.sendall(b"\x00\xffNOPE\x17\x03\x03" + data[:32][::-1])
            except OSError:
                return

    def accept_loop():
        while not stop.is_set():
            try:
                c, _ = ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=conn_loop, args=(c,), daemon=True).start()
        ls.close()

    t = threading.Thread(target=accept_loop, daemon=True)
    t.start()

    def stopper():
        stop.set()
        t.join(2)

    return ls.getsockname()[1], stopper


# ---------------------------------------------------------------------------------------------
# The runner: one line per test, "N passed, N failed" at the end, exit status 1 on a failure.

class Env:
    """What a suite's tests share: processes, a temp dir, the test cgroup, and the agent."""

    def __init__(self, suite):
        self.suite = suite
        self.procs = Procs()
        self.agent = None
        self.cgroup = Cgroup("sockeye-it-" + suite)
        self.tmpdir = tempfile.mkdtemp(prefix="sockeye-it-%s-" % suite)

    def start_agent(self, **kw):
        a = Agent(self.procs, self.tmpdir, **kw)
        a.start()
        return a

    def pyserver(self, proto, host="127.0.0.1"):
        return PyServer(self.procs, self.cgroup, proto, host)

    def nginx(self, **kw):
        return Nginx(self.procs, self.cgroup, self.tmpdir, **kw)

    def close(self):
        self.procs.stop_all()
        if self.cgroup is not None:
            self.cgroup.remove()
        keep_agent_logs(self.tmpdir, self.suite)
        shutil.rmtree(self.tmpdir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Secrets and logs. tests/run.sh sets SOCKEYE_LOG_DIR: every suite keeps its agents' logs there
# and names the secrets it gave the agent or sent it (passwords, Authorization headers, private
# keys); tests/integration/secrets_in_logs.py then reads every line of every log for them.

LOG_DIR = os.environ.get("SOCKEYE_LOG_DIR")


def remember_secret(what, value):
    """Records a secret the agent must never log (value: str or bytes)."""
    if not LOG_DIR or not value:
        return
    if isinstance(value, str):
        value = value.encode()
    os.makedirs(LOG_DIR, exist_ok=True)
    with open(os.path.join(LOG_DIR, "secrets"), "a") as f:
        f.write("%s\t%s\n" % (value.hex(), what.replace("\t", " ").replace("\n", " ")))


def remember_password(user, password):
    """A password as the agent could see it: itself and inside a Basic Authorization header."""
    import base64
    remember_secret("password of %s" % user, password)
    remember_secret("Authorization header of %s" % user,
                    base64.b64encode(("%s:%s" % (user, password)).encode()))


def remember_key_file(path):
    """Every base64 line of a PEM private key's body."""
    with open(path) as f:
        for line in f:
            line = line.strip()
            if len(line) >= 32 and not line.startswith("-----"):
                remember_secret("line of private key %s" % os.path.basename(path), line)


def keep_agent_logs(tmpdir, suite):
    """Copies every agent*.log under tmpdir to $SOCKEYE_LOG_DIR/SUITE/."""
    if not LOG_DIR:
        return
    dest = os.path.join(LOG_DIR, suite)
    for root, _dirs, files in os.walk(tmpdir):
        for n in files:
            if n.startswith("agent") and n.endswith(".log"):
                os.makedirs(dest, exist_ok=True)
                rel = os.path.relpath(os.path.join(root, n), tmpdir).replace(os.sep, "_")
                shutil.copyfile(os.path.join(root, n), os.path.join(dest, rel))


def _terminate(signum, frame):
    raise SystemExit(128 + signum)


class Suite:
    def __init__(self, name, agent=True):
        self.name = name
        self.tests = []
        self.want_agent = agent

    def test(self, fn):
        self.tests.append(fn)
        return fn

    def main(self):
        signal.signal(signal.SIGTERM, _terminate)
        signal.signal(signal.SIGINT, _terminate)
        passed = failed = 0
        env = None

        def report(name, err):
            nonlocal passed, failed
            if err is None:
                passed += 1
                print("PASS %s" % name, flush=True)
            else:
                failed += 1
                print("FAIL %s: %s" % (name, err), flush=True)

        # SOCKEYE_TESTS=name,name runs only those tests of the suite (while working on them).
        only = [x for x in os.environ.get("SOCKEYE_TESTS", "").split(",") if x]
        if only:
            self.tests = [fn for fn in self.tests if fn.__name__ in only]
        try:
            setup_err = None
            try:
                env = Env(self.name)
                if self.want_agent:
                    env.agent = env.start_agent()
            except TestFailure as e:
                setup_err = str(e)
            except Exception:  # noqa: BLE001 - reported as a failure of every test
                setup_err = "setup: %s" % traceback.format_exc().strip().replace("\n", "\n    ")
            for fn in self.tests:
                if setup_err is not None:
                    report(fn.__name__, setup_err.splitlines()[0])
                    continue
                try:
                    fn(env)
                    err = None
                except TestFailure as e:
                    err = str(e)
                except Exception:  # noqa: BLE001 - a crash of one test is its failure
                    err = "crashed:\n    " + traceback.format_exc().strip().replace("\n", "\n    ")
                if err is None and env.agent is not None and not env.agent.alive():
                    err = "the agent died during the test (status %s)" % env.agent.proc.returncode
                report(fn.__name__, err)
            if setup_err is not None and len(self.tests) == 0:
                report("setup", setup_err)
            if setup_err is not None:
                print("    " + setup_err.replace("\n", "\n    "), flush=True)
            if env is not None and env.agent is not None:
                st = env.agent.stop(signal.SIGTERM)
                report("agent_exits_0_on_sigterm",
                       None if st == 0 else "exit status %s\n    %s" % (
                           st, "\n    ".join(env.agent.log_tail())))
        finally:
            if env is not None:
                env.close()
        print("%d passed, %d failed" % (passed, failed), flush=True)
        sys.exit(1 if failed else 0)


# ---------------------------------------------------------------------------------------------
# The python http.server the tests drive (run as: harness.py pyserver PROTO HOST).

def _pyserver_main(proto, host):
    import http.server

    user_re = re.compile(r"^/users/[0-9]+$")
    items_re = re.compile(r"^/orders/[^/]+/items$")
    ok_prefixes = ("/blob/", "/t/", "/r/")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0" if proto == "1.0" else "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out without waiting for an ACK

        def log_message(self, *a):
            pass

        def reply(self, code, body=b"", head=False, extra=()):
            self.send_response(code)
            if self.close_connection and self.protocol_version == "HTTP/1.1":
                # http.server closes after an HTTP/1.0 request without saying so in an
                # HTTP/1.1 response; clients would then reuse a dead connection.
                self.send_header("Connection", "close")
            for k, v in extra:
                self.send_header(k, v)
            if code not in (204, 304):
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body and not head and code not in (204, 304):
                self.wfile.write(body)

        def chunked(self, head):
            """A chunked 200 whose chunk data start segments with status line lookalikes."""
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if head:
                return
            for data in (LOOKALIKE_STATUS, b"HTTP/1.1 500 Internal Server Error\r\n\r\n",
                         b"HTTP/1.0 404 Not Found\r\nContent-Length: 3\r\n\r\nabc"):
                self.wfile.write(b"%x\r\n" % len(data))
                time.sleep(0.02)  # TCP_NODELAY: the data starts a segment of its own
                self.wfile.write(data + b"\r\n")
                time.sleep(0.02)
            self.wfile.write(b"0\r\n\r\n")

        def read_body(self):
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def route(self, head=False):
            path = urllib.parse.urlsplit(self.path).path
            if path == "/" or user_re.match(path) or path.startswith(ok_prefixes):
                self.reply(200, b"hello " + path.encode() + b"\n", head)
            elif path == "/slow":
                time.sleep(0.3)
                self.reply(200, b"slow\n", head)
            elif path == "/boom":
                self.reply(500, b"boom\n", head)
            elif path == "/cached":
                self.reply(304)
            elif path == "/chunked" and self.protocol_version == "HTTP/1.1":
                self.chunked(head)
            else:
                self.reply(404, b"not found\n", head)

        def do_GET(self):
            self.route()

        def do_HEAD(self):
            self.route(head=True)

        def do_POST(self):
            body = self.read_body()
            path = urllib.parse.urlsplit(self.path).path
            if path == "/echo":
                # The body goes out in its own segment, starting with a status line lookalike.
                self.reply(200, LOOKALIKE_STATUS + body)
            elif items_re.match(path):
                self.reply(201, b"created " + str(len(body)).encode() + b"\n")
            else:
                self.reply(404, b"not found\n")

        def do_PUT(self):
            self.read_body()
            self.reply(204)

        def do_DELETE(self):
            self.reply(200, b"deleted\n")

        def do_OPTIONS(self):
            self.reply(200, b"", extra=[("Allow", "GET, HEAD, POST, PUT, DELETE, OPTIONS")])

    class Server(http.server.ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        daemon_threads = True

    srv = Server((host, 0), Handler)
    print("READY %d" % srv.server_address[1], flush=True)
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    srv.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "pyserver":
        _pyserver_main(sys.argv[2], sys.argv[3])
    else:
        print("usage: harness.py pyserver 1.0|1.1 HOST", file=sys.stderr)
        sys.exit(2)
