#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""test_body_sizes.py - the body size histograms (http_{server,client}_{request,response}_
body_size_bytes), exact: uploads with Content-Length and chunked, downloads with
Content-Length, chunked, delimited by the close, and a HEAD; per route the delta of _count,
_sum and of every bucket, on the server and the client side of the server's port.

The server is this file run as `test_body_sizes.py serve` (python http.server in the test
cgroup): it reads every request body (Content-Length or chunked) before it answers."""

import collections
import http.client
import math
import os
import select
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (CLIENT_TIMEOUT, PYTHON, SERVER_START_TIMEOUT, Key, Procs,  # noqa: E402
                     Series, Suite, check, connect, curl_session, fail, fmt_key, fmt_num,
                     http_delta, le_value, Req)

T = Suite("body_sizes")
H = "127.0.0.1"
THIS = os.path.abspath(__file__)

# Default body size bounds of the agent (bytes), then +Inf.
SIZE_BOUNDS = (64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
SIZE_FAMILY = {
    ("server", "request"): "http_server_request_body_size_bytes",
    ("server", "response"): "http_server_response_body_size_bytes",
    ("client", "request"): "http_client_request_body_size_bytes",
    ("client", "response"): "http_client_response_body_size_bytes",
}
ROLES = ("server", "client")

MIB = 1 << 20
KIB100 = 100 * 1024

# The server's answer to every upload: 200 with this body and X-Received: <body bytes read>.
STORED = b"stored\n"

# Uploads with Content-Length: route -> body size. 64/65 sit on both sides of the first bound.
UPLOADS = [("/up/zero", 0), ("/up/three", 3), ("/up/sixtyfour", 64), ("/up/sixtyfive", 65),
           ("/up/kilo", 1000), ("/up/mib", MIB)]
# Chunked uploads of 100 KiB: http.client (encode_chunked, uppercase hex sizes) and a raw
# socket (lowercase hex, chunk size lines and data in segments of their own).
UP_CHUNKS_HTTPCLIENT = [1, 100, 1000, 10000, 50000, KIB100 - 61101]
UP_CHUNKS_RAW = [4000, 1, 65535, 2, KIB100 - 69538]

# Downloads with Content-Length: route -> body size (the server sends that many bytes).
DOWNLOADS = {"/down/zero": 0, "/down/three": 3, "/down/kilo": 1000, "/down/mib": MIB}
# /down/chunked: a chunked 200 of 100 KiB in chunks of these sizes.
DOWN_CHUNKS = [1, 15, 16, 255, 4096, 8191, 30000, KIB100 - 42574]
# /down/close: an HTTP/1.0 200 without Content-Length, this many bytes, then the close.
DOWN_CLOSE = 5000

# A response ends (and its sizes are recorded) while the kernel handles its last segment, or
# at the close for /down/close; the tests scrape again until the sizes show, for at most this
# long, and say so when the first scrape was early.
SETTLE_TIMEOUT = 2.0

assert sum(UP_CHUNKS_HTTPCLIENT) == KIB100 and sum(UP_CHUNKS_RAW) == KIB100
assert sum(DOWN_CHUNKS) == KIB100


def note(msg):
    print("NOTE " + msg, flush=True)


# ---------------------------------------------------------------------------------------------
# The server (run as: test_body_sizes.py serve).

def _serve():
    import http.server

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # each write goes out as segments of its own

        def log_message(self, *a):
            pass

        def read_body(self):
            """Reads the whole request body; returns its size (chunked: the data bytes)."""
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                n = 0
                while True:
                    line = self.rfile.readline(1024)
                    size = int(line.split(b";")[0].strip(), 16)
                    if size == 0:
                        break
                    data = self.rfile.read(size)
                    if len(data) != size or self.rfile.read(2) != b"\r\n":
                        raise ValueError("short chunk")
                    n += size
                while self.rfile.readline(65536) not in (b"\r\n", b"\n", b""):
                    pass  # trailer fields
                return n
            n = int(self.headers.get("Content-Length") or 0)
            return len(self.rfile.read(n)) if n else 0

        def fixed(self, body, head=False, extra=()):
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            for k, v in extra:
                self.send_header(k, v)
            self.end_headers()
            if body and not head:
                self.wfile.write(body)

        def do_POST(self):
            n = self.read_body()
            if self.path.startswith("/up/"):
                self.fixed(STORED, extra=[("X-Received", str(n))])
            else:
                self.send_error(404)

        def download(self, head):
            if self.path in DOWNLOADS:
                self.fixed(b"d" * DOWNLOADS[self.path], head)
            elif self.path == "/down/chunked":
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                if head:
                    return
                for size in DOWN_CHUNKS:
                    self.wfile.write(b"%x\r\n" % size)
                    self.wfile.write(b"c" * size + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            elif self.path == "/down/close":
                # HTTP/1.0 style: no Content-Length, the close ends the body.
                self.close_connection = True
                self.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream"
                                 b"\r\n\r\n")
                if not head:
                    for part in (1, DOWN_CLOSE // 2, DOWN_CLOSE - 1 - DOWN_CLOSE // 2):
                        self.wfile.write(b"z" * part)
            else:
                self.send_error(404)

        def do_GET(self):
            self.download(False)

        def do_HEAD(self):
            self.download(True)

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True

    srv = Server((H, 0), Handler)
    print("READY %d" % srv.server_address[1], flush=True)
    import signal
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    srv.serve_forever()


class SizeServer:
    """This file's server in a subprocess in the test cgroup."""

    def __init__(self, env):
        self.log = os.path.join(env.tmpdir, "size-server-%d.log" % id(self))
        with open(self.log, "wb") as err:
            self.proc = env.procs.start([PYTHON, THIS, "serve"], stdout=subprocess.PIPE,
                                        stderr=err, stdin=subprocess.DEVNULL,
                                        preexec_fn=env.cgroup.enter)
        r, _, _ = select.select([self.proc.stdout], [], [], SERVER_START_TIMEOUT)
        line = self.proc.stdout.readline().decode() if r else ""
        if not line.startswith("READY "):
            Procs.stop(self.proc)
            fail("the test's size server did not start: %r" % line, self.log_tail())
        self.port = int(line.split()[1])

    def log_tail(self):
        try:
            with open(self.log, errors="replace") as f:
                return ["server stderr: " + x for x in f.read().splitlines()[-10:]]
        except OSError:
            return []

    def stop(self):
        Procs.stop(self.proc)
        self.proc.stdout.close()


# ---------------------------------------------------------------------------------------------
# Reading the size families.

def size_series(scrape, fam, port):
    """{Key: Series} of one size family for one server_port, summed over any other labels."""
    out = collections.defaultdict(Series)
    for name, labels, v in scrape.samples:
        if not name.startswith(fam + "_") or labels.get("server_port") != str(port):
            continue
        key = Key(labels.get("http_request_method"), labels.get("http_route"),
                  labels.get("http_response_status_code"), labels.get("network_protocol_version"))
        suffix = name[len(fam):]
        if suffix == "_count":
            out[key].count += v
        elif suffix == "_sum":
            out[key].sum += v
        elif suffix == "_bucket":
            out[key].buckets[le_value(labels.get("le", "?"))] += v
    return dict(out)


def size_delta(before, after, fam, port):
    b, a = size_series(before, fam, port), size_series(after, fam, port)
    out = {}
    for k in set(a) | set(b):
        d = a.get(k, Series()).minus(b.get(k, Series()))
        if d.nonzero():
            out[k] = d
    return out


def le_str(le):
    return "+Inf" if le == math.inf else "%d" % le


def expected_series(sizes):
    e = Series()
    e.count = len(sizes)
    e.sum = sum(sizes)
    for le in list(SIZE_BOUNDS) + [math.inf]:
        e.buckets[le] = sum(1 for s in sizes if s <= le)
    return e


def series_problems(fam, k, e, g):
    """Lines for every difference between expected and got deltas of one series."""
    sid = "%s{%s}" % (fam, fmt_key(k))
    lines = []
    if g is None:
        return ["%s: missing (expected _count %d, _sum %d)" % (sid, e.count, e.sum)]
    if g.count != e.count:
        lines.append("%s: _count delta %s, expected %d" % (sid, fmt_num(g.count), e.count))
    if g.sum != e.sum:
        lines.append("%s: _sum delta %s, expected %d" % (sid, fmt_num(g.sum), e.sum))
    for le in sorted(set(e.buckets) | set(g.buckets)):
        ev, gv = e.buckets.get(le), g.buckets.get(le, 0.0)
        if ev is None:
            lines.append('%s: unexpected bucket le="%s" (delta %s)' % (sid, le_str(le),
                                                                      fmt_num(gv)))
        elif gv != ev:
            lines.append('%s: bucket le="%s" delta %s, expected %d'
                         % (sid, le_str(le), fmt_num(gv), ev))
    return lines


def shape_problems(scrape, fam, port):
    """Per raw series of fam on port: le set == SIZE_BOUNDS + +Inf, cumulative, +Inf ==
    _count, _sum present."""
    want = sorted(list(SIZE_BOUNDS) + [math.inf])
    groups = collections.defaultdict(lambda: {"b": {}, "count": None, "sum": None})
    for name, labels, v in scrape.samples:
        if not name.startswith(fam + "_") or labels.get("server_port") != str(port):
            continue
        rest = dict(labels)
        le = rest.pop("le", None)
        g = groups[tuple(sorted(rest.items()))]
        suffix = name[len(fam):]
        if suffix == "_bucket":
            g["b"][le_value(le)] = v
        elif suffix == "_count":
            g["count"] = v
        elif suffix == "_sum":
            g["sum"] = v
    lines = []
    for labels, g in sorted(groups.items()):
        sid = "%s{%s}" % (fam, ",".join('%s="%s"' % kv for kv in labels))
        les = sorted(g["b"])
        if les != want:
            lines.append("%s: le set %s, want %s" % (sid, [le_str(x) for x in les],
                                                     [le_str(x) for x in want]))
        vals = [g["b"][le] for le in les]
        if any(b < a for a, b in zip(vals, vals[1:])):
            lines.append("%s: buckets not cumulative: %s" % (sid, vals))
        if g["count"] is None or g["sum"] is None:
            lines.append("%s: _count or _sum missing" % sid)
        elif g["b"].get(math.inf) != g["count"]:
            lines.append("%s: +Inf bucket %s != _count %s" % (sid, g["b"].get(math.inf),
                                                             g["count"]))
    return lines


def all_size_problems(before, after, port, want):
    """want: {Key: (request sizes, response sizes)}; the same on both sides."""
    lines = []
    for role in ROLES:
        for which, i in (("request", 0), ("response", 1)):
            fam = SIZE_FAMILY[(role, which)]
            d = size_delta(before, after, fam, port)
            for k in sorted(set(want) | set(d), key=lambda k: tuple(map(str, k))):
                if k not in want:
                    lines.append("%s{%s}: unexpected series, _count delta %s, _sum delta %s"
                                 % (fam, fmt_key(k), fmt_num(d[k].count), fmt_num(d[k].sum)))
                    continue
                lines += series_problems(fam, k, expected_series(want[k][i]), d.get(k))
            lines += shape_problems(after, fam, port)
    return lines


def duration_problems(before, after, port, want):
    """The duration families count each request once under the same Keys."""
    lines = []
    for role in ROLES:
        d = http_delta(before, after, role, port)
        got = {k: v.count for k, v in d.items()}
        exp = {k: len(v[0]) for k, v in want.items()}
        for k in sorted(set(got) | set(exp), key=lambda k: tuple(map(str, k))):
            if got.get(k, 0) != exp.get(k, 0):
                lines.append("http_%s_request_duration_seconds{%s}: _count delta %s, expected %d"
                             % (role, fmt_key(k), fmt_num(got.get(k, 0)), exp.get(k, 0)))
    return lines


def assert_sizes(env, before, port, want, describe):
    """Scrapes until the size deltas are exact (at most SETTLE_TIMEOUT s), then fails with
    every difference, the request mix and the expected values."""
    t0, tries = time.monotonic(), 0
    while True:
        after = env.agent.scrape()
        tries += 1
        probs = all_size_problems(before, after, port, want)
        if not probs or time.monotonic() - t0 >= SETTLE_TIMEOUT:
            break
        time.sleep(0.05)
    if not probs and tries > 1:
        note("port %d: sizes exact only on scrape %d, after %.2f s"
             % (port, tries, time.monotonic() - t0))
    probs += duration_problems(before, after, port, want)
    if probs:
        exp = ["expected %s: request bodies %s, response bodies %s"
               % (fmt_key(k), list(v[0]), list(v[1]))
               for k, v in sorted(want.items(), key=lambda kv: tuple(map(str, kv[0])))]
        fail("body sizes on port %d differ from what was sent (after %d scrapes in %.1f s)"
             % (port, tries, time.monotonic() - t0), probs + describe + exp)
    return after


# ---------------------------------------------------------------------------------------------
# Clients.

def post(conn, route, body, **kw):
    """One POST on a kept-alive http.client connection; the server must have read it all."""
    conn.request("POST", route, body=body, **kw)
    r = conn.getresponse()
    data = r.read()
    n = sum(map(len, body)) if isinstance(body, list) else len(body)
    check(r.status == 200 and data == STORED and r.getheader("X-Received") == str(n),
          "test premise: POST %s (%d B) answered %d, X-Received %s, body %r"
          % (route, n, r.status, r.getheader("X-Received"), data[:40]))


def raw_chunked_upload(port, route, chunks):
    """POST with Transfer-Encoding: chunked on a raw socket; every size line, chunk data and
    the last chunk is a write of its own (TCP_NODELAY)."""
    s = connect(H, port, nodelay=True)
    try:
        s.sendall(("POST %s HTTP/1.1\r\nHost: %s:%d\r\nTransfer-Encoding: chunked\r\n"
                   "Content-Type: application/octet-stream\r\n\r\n" % (route, H, port)).encode())
        for size in chunks:
            s.sendall(b"%x\r\n" % size)
            s.sendall(b"u" * size + b"\r\n")
        s.sendall(b"0\r\n\r\n")
        r = http.client.HTTPResponse(s, method="POST")
        try:
            r.begin()
            data = r.read()
        finally:
            r.close()
        check(r.status == 200 and data == STORED and
              r.getheader("X-Received") == str(sum(chunks)),
              "test premise: raw chunked POST %s answered %d, X-Received %s, body %r"
              % (route, r.status, r.getheader("X-Received"), data[:40]))
    finally:
        s.close()


def read_all(s):
    buf = bytearray()
    while True:
        data = s.recv(1 << 16)
        if not data:
            return bytes(buf)
        buf += data


def close_delimited_download(port, route):
    """An HTTP/1.0 GET on a raw socket; the response has no length: read to EOF."""
    s = connect(H, port)
    try:
        s.sendall(("GET %s HTTP/1.0\r\nHost: %s:%d\r\n\r\n" % (route, H, port)).encode())
        resp = read_all(s)
    finally:
        s.close()
    head, sep, body = resp.partition(b"\r\n\r\n")
    check(sep and head.startswith(b"HTTP/1.0 200 ") and b"content-length" not in head.lower()
          and len(body) == DOWN_CLOSE,
          "test premise: GET %s (HTTP/1.0) got %r and %d body bytes, want 200 without "
          "Content-Length and %d" % (route, head[:80], len(body), DOWN_CLOSE))


# ---------------------------------------------------------------------------------------------
# The tests.

@T.test
def upload_sizes_land_in_their_exact_buckets(env):
    srv = SizeServer(env)
    port = srv.port
    want = {}
    describe = []
    try:
        before = env.agent.scrape()
        conn = http.client.HTTPConnection(H, port, timeout=CLIENT_TIMEOUT)
        try:
            for route, n in UPLOADS:
                post(conn, route, b"u" * n)
                want[Key("POST", route, "200", "1.1")] = ([n], [len(STORED)])
            post(conn, "/up/chunked", [b"u" * c for c in UP_CHUNKS_HTTPCLIENT],
                 encode_chunked=True)
            want[Key("POST", "/up/chunked", "200", "1.1")] = ([KIB100], [len(STORED)])
            check(conn.sock is not None, "test premise: the server closed the keep-alive "
                  "connection of the uploads")
        finally:
            conn.close()
        describe.append("sent: one http.client HTTP/1.1 keep-alive connection: "
                        + ", ".join("POST %s with Content-Length: %d" % u for u in UPLOADS)
                        + ", POST /up/chunked chunked (encode_chunked) chunks %s = %d B"
                        % (UP_CHUNKS_HTTPCLIENT, KIB100))
        raw_chunked_upload(port, "/up/rawchunks", UP_CHUNKS_RAW)
        want[Key("POST", "/up/rawchunks", "200", "1.1")] = ([KIB100], [len(STORED)])
        describe.append("sent: raw socket HTTP/1.1, POST /up/rawchunks chunked, chunks %s = "
                        "%d B, each size line and chunk a segment of its own"
                        % (UP_CHUNKS_RAW, KIB100))
        describe.append("every answer: 200 with Content-Length: %d" % len(STORED))
        assert_sizes(env, before, port, want, describe)
    finally:
        srv.stop()


@T.test
def download_sizes_land_in_their_exact_buckets(env):
    srv = SizeServer(env)
    port = srv.port
    want = {}
    describe = []
    try:
        before = env.agent.scrape()
        reqs = [Req("GET", route, 200, route) for route in DOWNLOADS]
        reqs += [Req("GET", "/down/chunked", 200, "/down/chunked"),
                 Req("HEAD", "/down/kilo", 200, "/down/kilo")]
        n = curl_session(H, port, reqs)
        check(n == 1, "test premise: curl opened %d connections for one keep-alive session" % n)
        for route, size in DOWNLOADS.items():
            want[Key("GET", route, "200", "1.1")] = ([0], [size])
        want[Key("GET", "/down/chunked", "200", "1.1")] = ([0], [KIB100])
        want[Key("HEAD", "/down/kilo", "200", "1.1")] = ([0], [0])
        describe.append("sent: one curl HTTP/1.1 keep-alive connection: %s; responses: %s, "
                        "/down/chunked chunked, chunks %s = %d B, HEAD /down/kilo "
                        "(Content-Length: 1000, no body)"
                        % (", ".join(map(repr, reqs)),
                           ", ".join("%s Content-Length: %d" % kv for kv in DOWNLOADS.items()),
                           DOWN_CHUNKS, KIB100))
        close_delimited_download(port, "/down/close")
        want[Key("GET", "/down/close", "200", "1.0")] = ([0], [DOWN_CLOSE])
        describe.append("sent: raw socket GET /down/close HTTP/1.0; response HTTP/1.0 200 "
                        "without Content-Length, %d B, then the server closed" % DOWN_CLOSE)
        assert_sizes(env, before, port, want, describe)
    finally:
        srv.stop()


@T.test
def promtool_accepts_the_size_families(env):
    sc = env.agent.scrape()
    missing = [f for f in SIZE_FAMILY.values() if "# TYPE %s histogram" % f not in sc.text]
    check(not missing, "size families missing from the scrape after the tests' traffic",
          missing)
    p = subprocess.run(["promtool", "check", "metrics"], input=sc.text, capture_output=True,
                       text=True, timeout=30)
    out = (p.stdout + p.stderr).strip().splitlines()
    check(p.returncode == 0, "promtool check metrics exited %d" % p.returncode, out[:30])


if __name__ == "__main__":
    if sys.argv[1:] == ["serve"]:
        _serve()
    else:
        T.main()
