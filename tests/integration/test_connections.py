#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""test_connections.py - the TCP connection families (sockeye_tcp_*) and the requests in flight
(http_{server,client}_active_requests), exact: connections held to a plain TCP server of the
test, exact byte counts both ways, a /slow request scraped in flight, a half request abandoned
by its client, a reset in the middle of a request, and a connection open before the agent."""

import os
import random
import select
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (CLIENT_TIMEOUT, HERE, PYTHON, SERVER_START_TIMEOUT, Procs, Req,  # noqa: E402
                     Suite, check, connect, fail, fmt_num, http_delta, le_value, raw_request,
                     read_response, wait_until)

T = Suite("connections")
H = "127.0.0.1"
IN, OUT = "inbound", "outbound"

# Counters are compared as deltas between two scrapes, gauges as values.
COUNTERS = {
    "opened": "sockeye_tcp_connections_opened_total",
    "closed": "sockeye_tcp_connections_closed_total",
    "bytes_sent": "sockeye_tcp_bytes_sent_total",
    "bytes_received": "sockeye_tcp_bytes_received_total",
    "retransmitted": "sockeye_tcp_retransmitted_segments_total",
    "rtt_count": "sockeye_tcp_rtt_seconds_count",
}
GAUGES = {"active": "sockeye_tcp_connections_active"}
NAMES = dict(COUNTERS, **GAUGES)
RTT = "sockeye_tcp_rtt_seconds"

# A close, a reset or a response is seen by the agent while the kernel handles the segment;
# on loopback that may finish in softirq context just after the syscall returned. The tests
# scrape again until the expected values show, for at most this long, and say so when needed.
SETTLE_TIMEOUT = 2.0


def note(msg):
    print("NOTE " + msg, flush=True)


# ---------------------------------------------------------------------------------------------
# Reading the families.

def tcp_value(scrape, what, direction, port):
    """One TCP family for (direction, server_port), summed over any other labels."""
    return scrape.value(NAMES[what], direction=direction, server_port=port)


def tcp_problems(before, after, port, want):
    """want: {(what, direction): expected delta (counters) or value (gauges, and every family
    when before is EMPTY)}."""
    lines = []
    for (what, d), e in sorted(want.items()):
        a = tcp_value(after, what, d, port)
        if what in COUNTERS and before is not EMPTY:
            g, kind = a - tcp_value(before, what, d, port), "delta"
        else:
            g, kind = a, "value"
        if g != e:
            lines.append('%s{direction="%s",server_port="%d"}: expected %s %s, got %s'
                         % (NAMES[what], d, port, kind, fmt_num(e), fmt_num(g)))
    return lines


def inflight(scrape, role, port, method="GET"):
    return scrape.value("http_%s_active_requests" % role, http_request_method=method,
                        server_port=port)


def inflight_problems(scrape, port, want, method="GET"):
    """want: {role: expected in-flight value}."""
    lines = []
    for role, e in sorted(want.items()):
        g = inflight(scrape, role, port, method)
        if g != e:
            lines.append('http_%s_active_requests{http_request_method="%s",server_port="%d"}: '
                         'expected %s, got %s' % (role, method, port, fmt_num(e), fmt_num(g)))
    return lines


def scrape_until(agent, problems, what, timeout=SETTLE_TIMEOUT):
    """Scrapes until problems(scrape) is empty or timeout s pass. Returns (scrape, problems);
    prints a NOTE when the first scrape was not yet right."""
    t0, tries = time.monotonic(), 0
    while True:
        s = agent.scrape()
        tries += 1
        p = problems(s)
        if not p:
            if tries > 1:
                note("%s: right only on scrape %d, after %.2f s" % (what, tries,
                                                                   time.monotonic() - t0))
            return s, []
        if time.monotonic() - t0 >= timeout:
            return s, p + ["(still so after %d scrapes in %.1f s)" % (tries, timeout)]
        time.sleep(0.05)


def rtt_histogram(scrape, direction, port):
    """({le: cumulative count}, count, sum) of sockeye_tcp_rtt_seconds, summed over others."""
    buckets, count, total = {}, 0.0, 0.0
    for name, labels, v in scrape.samples:
        if not name.startswith(RTT + "_") or labels.get("direction") != direction or \
                labels.get("server_port") != str(port):
            continue
        if name == RTT + "_bucket":
            le = le_value(labels.get("le", "?"))
            buckets[le] = buckets.get(le, 0.0) + v
        elif name == RTT + "_count":
            count += v
        elif name == RTT + "_sum":
            total += v
    return buckets, count, total


def rtt_problems(before, after, port, n):
    """n more connections closed in each direction: n more RTT observations, every one in
    some bucket (+Inf == _count), cumulative buckets, a positive sum."""
    lines = []
    for d in (IN, OUT):
        b0, c0, s0 = rtt_histogram(before, d, port)
        b1, c1, s1 = rtt_histogram(after, d, port)
        sid = '%s{direction="%s",server_port="%d"}' % (RTT, d, port)
        les = sorted(set(b0) | set(b1))
        deltas = [b1.get(le, 0.0) - b0.get(le, 0.0) for le in les]
        if c1 - c0 != n:
            lines.append("%s_count: expected delta %d, got %s" % (sid, n, fmt_num(c1 - c0)))
        if not les or les[-1] != float("inf"):
            lines.append("%s: no +Inf bucket (le set %s)" % (sid, les))
        elif deltas[-1] != c1 - c0:
            lines.append("%s: +Inf bucket delta %s != _count delta %s"
                         % (sid, fmt_num(deltas[-1]), fmt_num(c1 - c0)))
        if b1.get(float("inf")) != c1:
            lines.append("%s: +Inf bucket %s != _count %s" % (sid, b1.get(float("inf")), c1))
        vals = [b1[le] for le in sorted(b1)]
        if any(y < x for x, y in zip(vals, vals[1:])):
            lines.append("%s: buckets not cumulative: %s" % (sid, vals))
        if n and not s1 - s0 > 0:
            lines.append("%s_sum: expected a positive delta, got %r" % (sid, s1 - s0))
    return lines


# ---------------------------------------------------------------------------------------------
# A plain TCP server (no HTTP) in threads of the test.

def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        data = s.recv(min(n - len(buf), 1 << 16))
        if not data:
            break
        buf += data
    return bytes(buf)


def read_to_eof(s):
    n = 0
    while True:
        data = s.recv(1 << 16)
        if not data:
            return n
        n += len(data)


class PlainServer:
    """Listens on 127.0.0.1 (port 0: the kernel picks) and runs handler(sock) for each accepted
    connection in a thread of its own; the socket is closed when the handler returns."""

    def __init__(self, handler=read_to_eof, port=0, host=H):
        self.handler = handler
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.bind((host, port))
        self.ls.listen(64)
        self.ls.settimeout(0.1)
        self.port = self.ls.getsockname()[1]
        self.accepted = 0
        self.finished = 0
        self.errors = []
        self.lock = threading.Lock()
        self.threads = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def _accept_loop(self):
        while not self.stopping.is_set():
            try:
                c, _ = self.ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.accepted += 1
            t = threading.Thread(target=self._conn, args=(c,), daemon=True)
            self.threads.append(t)
            t.start()

    def _conn(self, c):
        try:
            with c:
                c.settimeout(CLIENT_TIMEOUT)
                self.handler(c)
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.errors.append("%s: %s" % (type(e).__name__, e))
        finally:
            with self.lock:
                self.finished += 1

    def wait(self, accepted=None, finished=None, timeout=5.0):
        ok = wait_until(lambda: (accepted is None or self.accepted >= accepted) and
                        (finished is None or self.finished >= finished), timeout)
        check(ok, "test premise: the test's TCP server on port %d accepted %d and finished %d "
              "connections in %.0f s (want %s and %s)"
              % (self.port, self.accepted, self.finished, timeout, accepted, finished),
              self.errors)
        check(not self.errors, "test premise: the test's TCP server failed", self.errors)

    def stop(self):
        self.stopping.set()
        self.thread.join(2)
        self.ls.close()
        for t in self.threads:
            t.join(2)


def exchange(n_in, n_out):
    """A handler: reads exactly n_in bytes, sends n_out, then reads to EOF."""
    def handler(c):
        got = recv_exact(c, n_in)
        if len(got) != n_in:
            raise RuntimeError("server read %d of %d bytes" % (len(got), n_in))
        c.sendall(b"s" * n_out)
        rest = read_to_eof(c)
        if rest:
            raise RuntimeError("server read %d bytes more than %d" % (rest, n_in))
    return handler


def linger0_close(s):
    """Closes s with a reset (RST) instead of a FIN."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


class QuietPyServer:
    """The harness's python http.server with its stderr to a file: requests whose client reset
    the connection make http.server print a traceback."""

    def __init__(self, env, proto):
        self.log = os.path.join(env.tmpdir, "pyserver-%d.log" % id(self))
        with open(self.log, "wb") as err:
            self.proc = env.procs.start([PYTHON, HERE, "pyserver", proto, H],
                                        stdout=subprocess.PIPE, stderr=err,
                                        stdin=subprocess.DEVNULL, preexec_fn=env.cgroup.enter)
        r, _, _ = select.select([self.proc.stdout], [], [], SERVER_START_TIMEOUT)
        line = self.proc.stdout.readline().decode() if r else ""
        if not line.startswith("READY "):
            Procs.stop(self.proc)
            fail("python http.server (proto %s) did not start: %r" % (proto, line))
        self.port = int(line.split()[1])

    def stop(self):
        Procs.stop(self.proc)


# ---------------------------------------------------------------------------------------------
# The tests.

N_HELD = 7


@T.test
def held_connections_are_active_then_opened_and_closed_once(env):
    srv = PlainServer()
    port = srv.port
    clients = []
    try:
        before = env.agent.scrape()
        for _ in range(N_HELD):
            clients.append(connect(H, port))
        srv.wait(accepted=N_HELD)
        want = {("active", IN): N_HELD, ("active", OUT): N_HELD,
                ("opened", IN): N_HELD, ("opened", OUT): N_HELD,
                ("closed", IN): 0, ("closed", OUT): 0}
        held, probs = scrape_until(env.agent, lambda s: tcp_problems(before, s, port, want),
                                   "port %d, %d connections held" % (port, N_HELD))
        if probs:
            fail("while %d connections to port %d are held" % (N_HELD, port), probs)
        for s in clients:
            s.close()
        clients = []
        srv.wait(finished=N_HELD)
        want = {("opened", IN): N_HELD, ("opened", OUT): N_HELD,
                ("closed", IN): N_HELD, ("closed", OUT): N_HELD,
                ("active", IN): 0, ("active", OUT): 0,
                ("rtt_count", IN): N_HELD, ("rtt_count", OUT): N_HELD}
        after, probs = scrape_until(env.agent, lambda s: tcp_problems(before, s, port, want),
                                    "port %d, all %d connections closed" % (port, N_HELD))
        probs += rtt_problems(before, after, port, N_HELD)
        if probs:
            fail("after the %d connections to port %d closed" % (N_HELD, port), probs)
    finally:
        for s in clients:
            s.close()
        srv.stop()


SENT_HEAD = 1000
SENT_BODY = 1 << 20
SENT = SENT_HEAD + SENT_BODY
ANSWER = 12345


@T.test
def bytes_both_ways_are_counted_exactly(env):
    srv = PlainServer(exchange(SENT, ANSWER))
    port = srv.port
    try:
        before = env.agent.scrape()
        with connect(H, port) as s:
            s.sendall(b"a" * SENT_HEAD)
            s.sendall(b"b" * SENT_BODY)
            got = recv_exact(s, ANSWER)
            check(len(got) == ANSWER, "test premise: client read %d of %d bytes"
                  % (len(got), ANSWER))
        srv.wait(accepted=1, finished=1)
        want = {("opened", IN): 1, ("opened", OUT): 1, ("closed", IN): 1, ("closed", OUT): 1,
                ("active", IN): 0, ("active", OUT): 0,
                ("bytes_received", IN): SENT, ("bytes_sent", IN): ANSWER,
                ("bytes_sent", OUT): SENT, ("bytes_received", OUT): ANSWER}
        after, probs = scrape_until(env.agent, lambda x: tcp_problems(before, x, port, want),
                                    "port %d, one connection, %d bytes up, %d down"
                                    % (port, SENT, ANSWER))
        if probs:
            fail("one connection to port %d: the client sent %d + %d bytes, the server %d"
                 % (port, SENT_HEAD, SENT_BODY, ANSWER),
                 probs + ["retransmitted segments: inbound delta %s, outbound delta %s" % (
                     fmt_num(tcp_value(after, "retransmitted", IN, port) -
                             tcp_value(before, "retransmitted", IN, port)),
                     fmt_num(tcp_value(after, "retransmitted", OUT, port) -
                             tcp_value(before, "retransmitted", OUT, port)))])
    finally:
        srv.stop()


N_EMPTY = 3


@T.test
def connections_without_payload_add_no_bytes(env):
    srv = PlainServer()
    port = srv.port
    try:
        before = env.agent.scrape()
        for _ in range(N_EMPTY):
            with connect(H, port):
                pass
        srv.wait(accepted=N_EMPTY, finished=N_EMPTY)
        want = {("opened", IN): N_EMPTY, ("opened", OUT): N_EMPTY,
                ("closed", IN): N_EMPTY, ("closed", OUT): N_EMPTY,
                ("active", IN): 0, ("active", OUT): 0}
        for d in (IN, OUT):
            for what in ("bytes_sent", "bytes_received"):
                want[(what, d)] = 0
        _, probs = scrape_until(env.agent, lambda x: tcp_problems(before, x, port, want),
                                "port %d, %d connections without payload" % (port, N_EMPTY))
        if probs:
            fail("%d connections to port %d opened and closed without payload"
                 % (N_EMPTY, port), probs)
    finally:
        srv.stop()


SLOW = Req("GET", "/slow", 200, "/slow")


def scrape_in_flight(env, s, port, sent_at, what):
    """Scrapes while the /slow request on s is waiting for its response (the server sleeps
    0.3 s): server and client in-flight must be 1. Fails if the response already arrived."""
    want = {"server": 1, "client": 1}
    deadline = sent_at + 0.2
    while True:
        mid = env.agent.scrape()
        early = select.select([s], [], [], 0)[0]
        check(not early, "test premise: the /slow response arrived before the scrape during "
              "the request finished (%.3f s after the request)" % (time.monotonic() - sent_at))
        probs = inflight_problems(mid, port, want)
        if not probs:
            return mid
        if time.monotonic() >= deadline:
            fail("%s: while GET /slow on port %d waits for its response" % (what, port), probs)
        time.sleep(0.02)


@T.test
def slow_request_is_in_flight_until_its_response(env):
    srv = env.pyserver("1.1")
    port = srv.port
    try:
        before = env.agent.scrape()
        with connect(H, port, nodelay=True) as s:
            f = s.makefile("rb")
            s.sendall(raw_request(SLOW))
            sent_at = time.monotonic()
            scrape_in_flight(env, s, port, sent_at, "in flight")
            st = read_response(f, "GET")
            check(st == 200, "test premise: GET /slow answered %s" % st)
            # The status line was seen by both sockets before the client could read it.
            _, probs = scrape_until(env.agent, lambda x: inflight_problems(
                x, port, {"server": 0, "client": 0}), "port %d, /slow answered" % port)
            if probs:
                fail("after the response to GET /slow on port %d was read" % port, probs)
            f.close()
        for role in ("server", "client"):
            d = http_delta(before, env.agent.scrape(), role, port)
            counts = {k: v.count for k, v in d.items()}
            key = SLOW.key("1.1")
            check(counts == {key: 1}, "the /slow request was not counted once in the %s family"
                  % role, ["%s: %s" % (k, fmt_num(v)) for k, v in counts.items()])
    finally:
        srv.stop()


@T.test
def half_request_abandoned_by_its_client_leaves_flight(env):
    ngx = env.nginx()
    port = ngx.port
    try:
        before = env.agent.scrape()
        with connect(H, port, nodelay=True) as s:
            # The request line and one header; the header section never ends.
            s.sendall(b"GET /users/1 HTTP/1.1\r\nHost: x\r\n")
            mid, probs = scrape_until(env.agent, lambda x: inflight_problems(
                x, port, {"server": 1, "client": 1}), "port %d, half a request sent" % port,
                timeout=1.0)
            if probs:
                fail("after the request line and one header of GET /users/1 on port %d" % port,
                     probs)
        closed_at = time.monotonic()
        # nginx reads the EOF ("client prematurely closed connection") and closes, answering
        # nothing.
        after, probs = scrape_until(env.agent, lambda x: inflight_problems(
            x, port, {"server": 0, "client": 0}), "port %d, half request closed" % port)
        if probs:
            fail("%.1f s after the client closed with half a request on port %d"
                 % (time.monotonic() - closed_at, port), probs)
        for role in ("server", "client"):
            d = http_delta(before, after, role, port)
            check(not d, "the unanswered half request was counted in the %s family" % role,
                  ["%s: count %s" % (k, fmt_num(v.count)) for k, v in d.items()])
    finally:
        ngx.stop()


@T.test
def reset_in_the_middle_of_a_request_leaves_flight(env):
    srv = QuietPyServer(env, "1.1")
    port = srv.port
    try:
        before = env.agent.scrape()
        s = connect(H, port, nodelay=True)
        try:
            s.sendall(raw_request(SLOW))
            scrape_in_flight(env, s, port, time.monotonic(), "before the reset")
        finally:
            linger0_close(s)  # RST while the server sleeps before its response
        reset_at = time.monotonic()
        want = {("closed", IN): 1, ("closed", OUT): 1, ("active", IN): 0, ("active", OUT): 0}
        after, probs = scrape_until(env.agent, lambda x: inflight_problems(
            x, port, {"server": 0, "client": 0}) + tcp_problems(before, x, port, want),
            "port %d, reset during GET /slow" % port)
        if probs:
            fail("%.1f s after the client reset GET /slow on port %d"
                 % (time.monotonic() - reset_at, port), probs)
        # The server's response, 0.3 s later, finds a closed socket: nothing is sent.
        time.sleep(0.4)
        after = env.agent.scrape()
        probs = inflight_problems(after, port, {"server": 0, "client": 0})
        for role in ("server", "client"):
            d = http_delta(before, after, role, port)
            probs += ["%s family: %s counted %s" % (role, k, fmt_num(v.count))
                      for k, v in d.items()]
        if probs:
            fail("after the reset GET /slow on port %d and the server's failed response" % port,
                 probs)
    finally:
        srv.stop()


def port_below_ephemeral_range():
    """A free port below net.ipv4.ip_local_port_range, as a real server's would be: the agent
    tells the direction of a connection it first sees established from the local port."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        lo = int(f.read().split()[0])
    check(lo > 11000, "test premise: ip_local_port_range starts at %d" % lo)
    for _ in range(100):
        port = random.randrange(10000, lo)
        try:
            return PlainServer(exchange(PRE_UP, PRE_DOWN), port=port)
        except OSError:
            continue
    fail("test premise: no free port in 10000..%d after 100 tries" % lo)


PRE_UP = 777
PRE_DOWN = 333


@T.test
def connection_open_before_the_agent_counts_from_its_first_event(env):
    srv = port_below_ephemeral_range()
    port = srv.port
    late = None
    s = None
    try:
        s = connect(H, port)
        srv.wait(accepted=1)
        late = env.start_agent()
        seen = []

        def problems_of(x, want):
            seen.append(x)
            return tcp_problems(EMPTY, x, port, want)

        before = late.scrape()
        seen.append(before)
        s.sendall(b"u" * PRE_UP)
        got = recv_exact(s, PRE_DOWN)
        check(len(got) == PRE_DOWN, "test premise: client read %d of %d bytes"
              % (len(got), PRE_DOWN))
        want_open = {("opened", IN): 1, ("opened", OUT): 1, ("closed", IN): 0,
                     ("closed", OUT): 0, ("active", IN): 1, ("active", OUT): 1}
        _, probs_open = scrape_until(late, lambda x: problems_of(x, want_open),
                                     "port %d, old connection after its first bytes" % port)
        s.close()
        s = None
        srv.wait(finished=1)
        want = {("opened", IN): 1, ("opened", OUT): 1, ("closed", IN): 1, ("closed", OUT): 1,
                ("active", IN): 0, ("active", OUT): 0,
                ("bytes_received", IN): PRE_UP, ("bytes_sent", IN): PRE_DOWN,
                ("bytes_sent", OUT): PRE_UP, ("bytes_received", OUT): PRE_DOWN}
        _, probs = scrape_until(late, lambda x: problems_of(x, want),
                                "port %d, old connection closed" % port)
        probs = ["with the connection open, after %d bytes up and %d down: %s"
                 % (PRE_UP, PRE_DOWN, p) for p in probs_open] + \
            ["after the close: " + p for p in probs]
        for i, x in enumerate(seen):
            for d in (IN, OUT):
                o, c = tcp_value(x, "opened", d, port), tcp_value(x, "closed", d, port)
                if c > o:
                    probs.append("scrape %d: %s closed %s > opened %s (active would be "
                                 "negative)" % (i, d, fmt_num(c), fmt_num(o)))
        if probs:
            fail("a connection to port %d open before the agent started (values of the agent "
                 "started after it)" % port, probs)
    finally:
        if s is not None:
            s.close()
        if late is not None:
            late.stop()
        srv.stop()


@T.test
def connections_to_an_excluded_port_are_counted_nowhere(env):
    """ports.exclude: neither the port nor anything else (server_port="0" once was: the last
    transition of a closing socket comes after its port is released) gains a TCP series."""
    srv = PlainServer(exchange(10, 10))
    agent = None
    try:
        agent = env.start_agent(config="ports:\n  exclude: [%d]\n" % srv.port)
        before = agent.scrape()
        for _ in range(3):
            s = connect(H, srv.port)
            s.sendall(b"u" * 10)
            check(len(recv_exact(s, 10)) == 10, "test premise: no answer from the server")
            s.close()
        srv.wait(finished=3)
        time.sleep(0.3)
        after = agent.scrape()
        grew = ["%s%s %s -> %s" % (n, ls, fmt_num(before.value(n, **ls)), fmt_num(v))
                for n, ls, v in after.samples
                if n == COUNTERS["opened"] and v > before.value(n, **ls)
                and ls.get("server_port") in ("0", str(srv.port))]
        check(not grew, "connections to excluded port %d were counted" % srv.port, grew)
    finally:
        if agent is not None:
            agent.stop()
        srv.stop()


class _Empty:
    samples = []

    @staticmethod
    def value(name, **labels):
        return 0.0


EMPTY = _Empty()  # a scrape with nothing in it: the late agent's values are compared as is


if __name__ == "__main__":
    T.main()
