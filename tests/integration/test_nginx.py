#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""test_nginx.py - nginx (master + 1 worker, keep-alive, `return` locations) driven by curl,
http.client and a pipelining raw socket: exact counts in the server and client families."""

import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (QUERY, UUID, Req, Suite, Traffic, assert_counts, check,  # noqa: E402
                     connect, curl_session, httpclient_session, raw_request, read_response,
                     scrape_after)

T = Suite("nginx")
H = "127.0.0.1"
U = "/users/{id}"
ITEMS = "/orders/{id}/items"
ITEMS_PATH = "/orders/%s/items" % UUID


def mix():
    """The nginx config's locations: 200, 201, 404 (named and fallback), 500; every method."""
    return [
        Req("GET", "/users/123", 200, U),
        Req("GET", "/users/7" + QUERY, 200, U),
        Req("GET", "/missing", 404, "/missing"),
        Req("GET", "/boom", 500, "/boom"),
        Req("HEAD", "/users/9", 200, U),
        Req("DELETE", "/users/5", 200, U),
        Req("PUT", "/users/6", 200, U, body="name=x"),
        Req("POST", ITEMS_PATH, 201, ITEMS, body='{"qty": 2}'),
        Req("GET", "/", 200, "/"),
        Req("GET", "/nope", 404, "/nope"),
    ]


@T.test
def nginx_keepalive_counts_each_request_once(env):
    ngx = env.nginx()
    try:
        tr = Traffic()
        before = env.agent.scrape()
        reqs = mix() * 3
        n = curl_session(H, ngx.port, reqs)
        check(n == 1, "test premise: curl opened %d connections for one keep-alive session" % n)
        tr.add(reqs, "1.1", "one curl invocation, one connection")
        for _ in range(4):
            reqs = [Req("GET", "/users/1", 200, U), Req("POST", ITEMS_PATH, 201, ITEMS, body="a"),
                    Req("GET", "/boom", 500, "/boom")]
            curl_session(H, ngx.port, reqs)
            tr.add(reqs, "1.1", "separate curl invocation, one connection")
        reqs = mix()
        n = curl_session(H, ngx.port, reqs, version="1.0")
        tr.add(reqs, "1.0", "one curl --http1.0 invocation (%d connections)" % n)
        reqs = (mix() * 10)[:100]
        n = httpclient_session(H, ngx.port, reqs)
        check(n == 1, "test premise: http.client opened %d connections for one session" % n)
        tr.add(reqs, "1.1", "http.client, 100 requests on one connection")
        reqs = mix()
        n = httpclient_session(H, ngx.port, reqs, version="1.0")
        tr.add(reqs, "1.0", "http.client HTTP/1.0 (%d connections)" % n)
        after = scrape_after(env.agent, before, ngx.port, tr.expected)
        assert_counts(before, after, ngx.port, tr)
    finally:
        ngx.stop()


@T.test
def nginx_pipelined_requests_are_counted_in_order(env):
    ngx = env.nginx()
    try:
        tr = Traffic()
        before = env.agent.scrape()
        batches = [
            [Req("GET", "/users/1", 200, U), Req("GET", "/missing", 404, "/missing"),
             Req("POST", ITEMS_PATH, 201, ITEMS, body="abc=1&def=2"),
             Req("GET", "/boom", 500, "/boom"), Req("HEAD", "/users/2", 200, U)],
            [Req("DELETE", "/users/3", 200, U), Req("HEAD", "/missing", 404, "/missing"),
             Req("GET", "/", 200, "/"), Req("PUT", "/users/4", 200, U, body="x"),
             Req("GET", "/nope" + QUERY, 404, "/nope")],
        ]
        with connect(H, ngx.port) as s:
            f = s.makefile("rb")
            for reqs in batches:
                s.sendall(b"".join(raw_request(r) for r in reqs))
                got = [read_response(f, r.method) for r in reqs]
                check(got == [r.status for r in reqs],
                      "test premise: nginx answered %s to %s" % (got, reqs))
                tr.add(reqs, "1.1", "raw socket, 5 requests in one sendall, then 5 responses")
        after = scrape_after(env.agent, before, ngx.port, tr.expected)
        assert_counts(before, after, ngx.port, tr)
    finally:
        ngx.stop()


@T.test
def other_methods_are_counted_with_their_names(env):
    """PATCH, OPTIONS and TRACE keep their names; a method outside the known set is _OTHER."""
    ngx = env.nginx()
    try:
        tr = Traffic()
        before = env.agent.scrape()
        for r in [Req("PATCH", "/users/1", 200, U, body="a=1"), Req("OPTIONS", "/users/2", 200, U),
                  Req("TRACE", "/users/3", 405, U), Req("PURGE", "/users/4", 200, U)]:
            with connect(H, ngx.port) as s:
                s.sendall(raw_request(r))
                got = read_response(s.makefile("rb"), r.method)
                check(got == r.status, "test premise: nginx answered %s %d" % (r.method, got))
            if r.method == "PURGE":
                tr.expected[r.key("1.1")._replace(method="_OTHER")] += 1
                tr.sessions.append("raw socket, HTTP/1.1: %r (expected as _OTHER)" % r)
            else:
                tr.add([r], "1.1", "raw socket")
        after = scrape_after(env.agent, before, ngx.port, tr.expected)
        assert_counts(before, after, ngx.port, tr)
    finally:
        ngx.stop()


@T.test
def concurrent_connections_are_counted_exactly(env):
    """16 keep-alive connections at once from threads, plus 8 curl processes: the per-CPU
    values must add up to exactly what was sent."""
    ngx = env.nginx()
    try:
        tr = Traffic()
        before = env.agent.scrape()
        reqs = (mix() * 4)[:40]
        errors = []

        def worker():
            try:
                httpclient_session(H, ngx.port, reqs)
            except Exception as e:  # noqa: BLE001 - collected and reported below
                errors.append(repr(e))

        def curl_worker():
            try:
                curl_session(H, ngx.port, reqs[:20])
            except Exception as e:  # noqa: BLE001 - collected and reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=worker) for _ in range(16)]
        threads += [threading.Thread(target=curl_worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        check(not errors and not any(t.is_alive() for t in threads),
              "test premise: clients failed: %s" % errors[:3])
        for _ in range(16):
            tr.add(reqs, "1.1", "http.client thread, one connection (16 at once)")
        for _ in range(8):
            tr.add(reqs[:20], "1.1", "curl process, one connection (8 at once)")
        after = scrape_after(env.agent, before, ngx.port, tr.expected)
        assert_counts(before, after, ngx.port, tr)
    finally:
        ngx.stop()


if __name__ == "__main__":
    T.main()
