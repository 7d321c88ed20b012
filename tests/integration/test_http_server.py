#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""test_http_server.py - python http.server (HTTP/1.0 and keep-alive HTTP/1.1) driven by curl,
http.client and raw sockets: exact counts per (method, route, status, version) in the server
family AND the client family of the server's port, latency buckets, and what never leaks."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (QUERY, SECRET, UUID, Req, Suite, Traffic, assert_counts, check,  # noqa: E402
                     connect, curl_session, fail, http_delta, httpclient_session, raw_request,
                     read_response, scrape_after)

T = Suite("http_server")
H = "127.0.0.1"
U = "/users/{id}"
ITEMS = "/orders/{id}/items"
ITEMS_PATH = "/orders/%s/items" % UUID


def mix():
    """Every method, status and body shape the server has, each once."""
    return [
        Req("GET", "/users/123", 200, U),
        Req("GET", "/users/7" + QUERY, 200, U),
        Req("GET", "/missing", 404, "/missing"),
        Req("GET", "/boom", 500, "/boom"),
        Req("HEAD", "/users/9", 200, U),
        Req("DELETE", "/users/5", 200, U),
        Req("PUT", "/users/6", 204, U, body="name=x"),
        Req("POST", ITEMS_PATH, 201, ITEMS, body='{"qty": 2}'),
        Req("GET", "/", 200, "/"),
    ]


@T.test
def http10_server_counts_each_request_once(env):
    srv = env.pyserver("1.0")
    try:
        tr = Traffic()
        before = env.agent.scrape()
        reqs = mix()
        n = curl_session(H, srv.port, reqs)
        tr.add(reqs, "1.1", "one curl invocation (%d connections: server closes each)" % n)
        reqs = [Req("GET", "/users/42", 200, U), Req("GET", "/", 200, "/"),
                Req("POST", ITEMS_PATH, 201, ITEMS, body="a=1")]
        n = curl_session(H, srv.port, reqs, version="1.0")
        tr.add(reqs, "1.0", "one curl --http1.0 invocation (%d connections)" % n)
        for _ in range(3):
            reqs = [Req("GET", "/users/1", 200, U)]
            curl_session(H, srv.port, reqs)
            tr.add(reqs, "1.1", "separate curl invocation")
        reqs = [Req("GET", "/users/10", 200, U), Req("GET", "/blob/deadbeef12", 200, "/blob/{id}"),
                Req("OPTIONS", "*", 200, "*"), Req("GET", "/missing" + QUERY, 404, "/missing"),
                Req("HEAD", "/", 200, "/")]
        n = httpclient_session(H, srv.port, reqs, version="1.0")
        tr.add(reqs, "1.0", "http.client HTTP/1.0 (%d connections)" % n)
        reqs = [Req("GET", "/users/11", 200, U), Req("HEAD", "/", 200, "/"),
                Req("DELETE", "/users/12", 200, U)]
        n = httpclient_session(H, srv.port, reqs)
        tr.add(reqs, "1.1", "http.client HTTP/1.1 (%d connections)" % n)
        after = scrape_after(env.agent, before, srv.port, tr.expected)
        assert_counts(before, after, srv.port, tr)
    finally:
        srv.stop()


@T.test
def keepalive_counts_each_request_once(env):
    srv = env.pyserver("1.1")
    try:
        tr = Traffic()
        before = env.agent.scrape()
        reqs = mix() + mix()
        n = curl_session(H, srv.port, reqs)
        check(n == 1, "test premise: curl opened %d connections for one keep-alive session" % n)
        tr.add(reqs, "1.1", "one curl invocation, one connection")
        reqs = mix()[:4]
        n = curl_session(H, srv.port, reqs, version="1.0")
        tr.add(reqs, "1.0", "one curl --http1.0 invocation (%d connections)" % n)
        for _ in range(3):
            reqs = [Req("GET", "/users/1", 200, U), Req("GET", "/missing", 404, "/missing")]
            curl_session(H, srv.port, reqs)
            tr.add(reqs, "1.1", "separate curl invocation, one connection")
        reqs = (mix() * 6)[:50]
        n = httpclient_session(H, srv.port, reqs)
        check(n == 1, "test premise: http.client opened %d connections for one session" % n)
        tr.add(reqs, "1.1", "http.client, 50 requests on one connection")
        reqs = [Req("GET", "/users/%d" % i, 200, U, headers={"Connection": "keep-alive"})
                for i in range(5)]
        n = httpclient_session(H, srv.port, reqs, version="1.0")
        check(n == 1, "test premise: HTTP/1.0 keep-alive used %d connections" % n)
        tr.add(reqs, "1.0", "http.client HTTP/1.0 with Connection: keep-alive, one connection")
        after = scrape_after(env.agent, before, srv.port, tr.expected)
        assert_counts(before, after, srv.port, tr)
    finally:
        srv.stop()


@T.test
def slow_request_lands_in_le_0_5_not_le_0_25(env):
    srv = env.pyserver("1.1")
    try:
        tr = Traffic()
        before = env.agent.scrape()
        reqs = [Req("GET", "/users/1", 200, U), Req("GET", "/slow", 200, "/slow"),
                Req("GET", "/users/2", 200, U), Req("GET", "/slow", 200, "/slow"),
                Req("GET", "/slow", 200, "/slow"), Req("GET", "/users/3", 200, U)]
        httpclient_session(H, srv.port, reqs)
        tr.add(reqs, "1.1", "http.client, one connection; /slow sleeps 0.3 s")
        after = scrape_after(env.agent, before, srv.port, tr.expected)
        assert_counts(before, after, srv.port, tr)
        probs = []
        for role in ("server", "client"):
            d = http_delta(before, after, role, srv.port)
            for route, n in (("/slow", 3), (U, 3)):
                s = d.get(reqs[1 if route == "/slow" else 0].key("1.1"))
                if s is None:
                    probs.append("%s %s: no series" % (role, route))
                    continue
                got = {le: int(s.buckets.get(le, -1)) for le in (0.1, 0.25, 0.5, float("inf"))}
                if route == "/slow":
                    ok = got[0.25] == 0 and got[0.5] == n and 0.3 * n - 0.01 <= s.sum <= 0.5 * n
                    want = "le=0.25: 0, le=0.5: %d, sum in [%.2f, %.2f]" % (n, 0.3 * n, 0.5 * n)
                else:
                    ok = got[0.25] == n
                    want = "le=0.25: %d (fast requests)" % n
                if not ok:
                    probs.append("%s GET %s: buckets %s, sum %.4f; want %s"
                                 % (role, route, got, s.sum, want))
        if probs:
            fail("latency buckets wrong", probs + tr.describe())
    finally:
        srv.stop()


@T.test
def query_string_and_fragment_never_exported(env):
    srv = env.pyserver("1.1")
    try:
        tr = Traffic()
        before = env.agent.scrape()
        reqs = [Req("GET", "/users/7" + QUERY, 200, U), Req("GET", "/r/search" + QUERY, 200,
                                                           "/r/search"),
                Req("GET", "/" + QUERY, 200, "/"), Req("HEAD", "/users/3" + QUERY, 200, U),
                Req("POST", ITEMS_PATH + QUERY, 201, ITEMS, body="q=1")]
        curl_session(H, srv.port, reqs)
        tr.add(reqs, "1.1", "one curl invocation")
        reqs = [Req("GET", "/users/8#fragsecret", 200, U),
                Req("GET", "/r/page" + QUERY + "#fragsecret", 200, "/r/page"),
                Req("GET", "/r/page?" + SECRET, 200, "/r/page")]
        httpclient_session(H, srv.port, reqs)
        tr.add(reqs, "1.1", "http.client, fragments sent on the wire")
        after = scrape_after(env.agent, before, srv.port, tr.expected)
        leaks = [w for w in (SECRET, "token=", "fragsecret") if w in after.text]
        leaks += ["route label %r" % k.route for role in ("server", "client")
                  for k in after.http(role, srv.port) if "?" in k.route or "#" in k.route]
        if leaks:
            fail("query string or fragment exported: %s" % ", ".join(leaks),
                 [line for line in after.text.splitlines()
                  if SECRET in line or "token=" in line or "fragsecret" in line][:5])
        assert_counts(before, after, srv.port, tr)
    finally:
        srv.stop()


@T.test
def route_normalisation_replaces_id_segments(env):
    srv = env.pyserver("1.1")
    try:
        tr = Traffic()
        before = env.agent.scrape()
        ids = ["123", UUID, "deadbeef12", "deadbee1", "abc123def456ghij", "a1b2c3d4e5f6g7h8",
               "12345678901234567890"]
        reqs = [
            Req("GET", "/users/123", 200, U),
            Req("POST", ITEMS_PATH, 201, ITEMS, body="x"),
            Req("GET", "/blob/deadbeef12", 200, "/blob/{id}"),
            Req("GET", "/blob/deadbee1", 200, "/blob/{id}"),
            Req("GET", "/blob/deadbeef", 200, "/blob/deadbeef"),  # hex but no digit
            Req("GET", "/blob/dead12", 200, "/blob/dead12"),      # hex with digit, < 8 chars
            Req("GET", "/t/abc123def456ghij", 200, "/t/{id}"),    # 16 chars, digit and letter
            Req("GET", "/t/a1b2c3d4e5f6g7h8", 200, "/t/{id}"),
            Req("GET", "/t/abcdefghijklmnopqrst", 200, "/t/abcdefghijklmnopqrst"),  # no digit
            Req("GET", "/t/v2", 200, "/t/v2"),
            Req("GET", "/t/1/2/3", 200, "/t/{id}/{id}/{id}"),
            Req("GET", "/r/12345678901234567890", 200, "/r/{id}"),
            Req("GET", "/", 200, "/"),
            Req("OPTIONS", "*", 200, "*"),
        ]
        httpclient_session(H, srv.port, reqs)
        tr.add(reqs, "1.1", "http.client, one connection")
        curl_session(H, srv.port, reqs)
        tr.add(reqs, "1.1", "one curl invocation")
        after = scrape_after(env.agent, before, srv.port, tr.expected)
        assert_counts(before, after, srv.port, tr)
        leaked = [i for i in ids[1:] if i in after.text]
        check(not leaked, "ID segments exported verbatim: %s" % leaked)
    finally:
        srv.stop()


@T.test
def bodyless_responses_keep_framing_on_keepalive(env):
    """HEAD, 204 and 304 carry no body: a parser that waits for one would swallow the next
    response on the connection."""
    srv = env.pyserver("1.1")
    try:
        tr = Traffic()
        before = env.agent.scrape()
        reqs = [Req("HEAD", "/users/1", 200, U), Req("GET", "/users/2", 200, U),
                Req("PUT", "/users/3", 204, U, body="v=1"), Req("GET", "/users/4", 200, U),
                Req("GET", "/cached", 304, "/cached"), Req("GET", "/users/5", 200, U),
                Req("HEAD", "/missing", 404, "/missing"), Req("GET", "/boom", 500, "/boom"),
                Req("DELETE", "/users/6", 200, U)] * 2
        n = httpclient_session(H, srv.port, reqs)
        check(n == 1, "test premise: http.client opened %d connections" % n)
        tr.add(reqs, "1.1", "http.client, one connection")
        n = curl_session(H, srv.port, reqs)
        check(n == 1, "test premise: curl opened %d connections" % n)
        tr.add(reqs, "1.1", "one curl invocation, one connection")
        after = scrape_after(env.agent, before, srv.port, tr.expected)
        assert_counts(before, after, srv.port, tr)
    finally:
        srv.stop()


@T.test
def interim_100_continue_is_not_the_response(env):
    srv = env.pyserver("1.1")
    try:
        tr = Traffic()
        before = env.agent.scrape()
        body = b"x" * 2000
        post = Req("POST", ITEMS_PATH, 201, ITEMS, headers={"Expect": "100-continue"})
        get = Req("GET", "/users/77", 200, U)
        with connect(H, srv.port) as s:
            f = s.makefile("rb")
            head = raw_request(post).replace(b"Content-Length: 0", b"Content-Length: %d"
                                             % len(body))
            s.sendall(head)
            line = f.readline()
            check(line.startswith(b"HTTP/1.1 100"), "test premise: no 100 Continue: %r" % line)
            check(f.readline() == b"\r\n", "test premise: 100 Continue has headers")
            s.sendall(body)
            check(read_response(f, "POST") == 201, "POST did not get 201")
            s.sendall(raw_request(get))
            check(read_response(f, "GET") == 200, "GET did not get 200")
        tr.add([post, get], "1.1",
               "raw socket: POST with Expect: 100-continue, 100, body, 201; then GET")
        after = scrape_after(env.agent, before, srv.port, tr.expected)
        assert_counts(before, after, srv.port, tr)
    finally:
        srv.stop()


@T.test
def ipv6_loopback_requests_are_counted(env):
    srv = env.pyserver("1.1", host="::1")
    try:
        tr = Traffic()
        before = env.agent.scrape()
        reqs = mix()
        n = curl_session("::1", srv.port, reqs)
        check(n == 1, "test premise: curl opened %d connections" % n)
        tr.add(reqs, "1.1", "one curl invocation to [::1], one connection")
        reqs = mix()
        httpclient_session("::1", srv.port, reqs, version="1.0")
        tr.add(reqs, "1.0", "http.client HTTP/1.0 to [::1]")
        after = scrape_after(env.agent, before, srv.port, tr.expected)
        assert_counts(before, after, srv.port, tr)
    finally:
        srv.stop()


if __name__ == "__main__":
    T.main()
