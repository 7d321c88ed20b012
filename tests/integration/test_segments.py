#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""test_segments.py - TCP segments the parser must not count twice or lose: a request segment
dropped once by a test-only BPF program (tests/bpf/drop_once.bpf.c, attached to the server's
cgroup by build/tests/tools/cgdrop) so that TCP retransmits it, and a header section longer
than the per-segment scan bound."""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ROOT, Req, Suite, Traffic, assert_counts, check, connect,  # noqa: E402
                     fail, raw_request, read_response, scrape_after)

T = Suite("segments")
H = "127.0.0.1"
CGDROP = os.path.join(ROOT, "build", "tests", "tools", "cgdrop")
DROP_OBJ = os.path.join(ROOT, "build", "tests", "drop_once.bpf.o")


def event(scrape, name):
    return scrape.value("sockeye_parser_events_total", event=name)


@T.test
def dropped_and_retransmitted_request_is_counted_once(env):
    for f in (CGDROP, DROP_OBJ):
        if not os.path.exists(f):
            fail("%s missing: run 'make test' (it builds the test tools)" % f)
    srv = env.pyserver("1.1")
    dropper = subprocess.Popen([CGDROP, env.cgroup.path, DROP_OBJ], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        line = dropper.stdout.readline().decode().strip()
        check(line == "ready", "cgdrop did not start: %r" % line)
        reqs = [Req("GET", "/users/1", 200, "/users/{id}"),
                Req("GET", "/retransmit/me", 404, "/retransmit/me"),
                Req("GET", "/users/2", 200, "/users/{id}")]
        tr = Traffic()
        before = env.agent.scrape()
        with connect(H, srv.port, nodelay=True) as s:
            f = s.makefile("rb")
            for r in reqs:
                s.sendall(raw_request(r))
                got = read_response(f, r.method)
                check(got == r.status, "test premise: %s answered %s" % (r.target, got))
        tr.add(reqs, "1.1", "one keep-alive connection; the second request dropped once")
        after = scrape_after(env.agent, before, srv.port, tr.expected)
    finally:
        out, _ = dropper.communicate(b"", timeout=10)
    drops = out.decode().split()
    check(drops[-2:] == ["drops", "1"], "premise: the dropper dropped %r (want 1)" % drops[-2:])
    assert_counts(before, after, srv.port, tr)
    # The client socket's egress saw the segment twice: the retransmission was recognised.
    check(event(after, "retransmit") > event(before, "retransmit"),
          "no retransmitted segment was recognised",
          ["retransmit events before %s after %s" % (event(before, "retransmit"),
                                                      event(after, "retransmit"))])


@T.test
def retransmitted_body_segment_is_skipped_once(env):
    """A body segment dropped once at the server's ingress (after the agent's hook saw it, as
    every cgroup program runs) comes again as a retransmission: skipped by sequence number, so
    the body is framed right and its size, the request and the next one stay exact. (A gap
    the hook never saw is covered by test_http_parser's http_gap cases.)"""
    for f in (CGDROP, DROP_OBJ):
        if not os.path.exists(f):
            fail("%s missing: run 'make test' (it builds the test tools)" % f)
    srv = env.pyserver("1.1")
    dropper = subprocess.Popen([CGDROP, env.cgroup.path, DROP_OBJ], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        line = dropper.stdout.readline().decode().strip()
        check(line == "ready", "cgdrop did not start: %r" % line)
        # The middle piece starts with the dropper's marker: a body segment, dropped once.
        body = [b"a" * 1000, b"GET /retransmit-me-inside-a-body" + b"b" * 968, b"c" * 1000]
        post = Req("POST", "/orders/7/items", 201, "/orders/{id}/items")
        after_it = Req("GET", "/users/9", 200, "/users/{id}")
        tr = Traffic()
        before = env.agent.scrape()
        with connect(H, srv.port, nodelay=True) as s:
            f = s.makefile("rb")
            s.sendall(b"POST /orders/7/items HTTP/1.1\r\nHost: x\r\nContent-Length: 3000"
                      b"\r\n\r\n")
            for piece in body:
                time.sleep(0.05)  # each piece its own segment
                s.sendall(piece)
            got = read_response(f, "POST")
            check(got == 201, "test premise: POST answered %s" % got)
            s.sendall(raw_request(after_it))
            got = read_response(f, "GET")
            check(got == 200, "test premise: GET answered %s" % got)
        tr.add([post, after_it], "1.1",
               "3000-byte body in 3 segments, the second dropped once and retransmitted")
        after = scrape_after(env.agent, before, srv.port, tr.expected)
    finally:
        out, _ = dropper.communicate(b"", timeout=10)
    drops = out.decode().split()
    check(drops[-2:] == ["drops", "1"], "premise: the dropper dropped %r (want 1)" % drops[-2:])
    assert_counts(before, after, srv.port, tr)
    size = "http_server_request_body_size_bytes_sum"
    got = (after.value(size, server_port=srv.port, http_route="/orders/{id}/items") -
           before.value(size, server_port=srv.port, http_route="/orders/{id}/items"))
    check(got == 3000, "request body size after the retransmission: %s, want 3000" % got)


@T.test
def header_section_over_the_scan_bound_keeps_the_connection_counted(env):
    srv = env.pyserver("1.1")
    big = Req("GET", "/big/1", 404, "/big/{id}", headers={"X-Filler": "a" * 12000})
    small = [Req("GET", "/users/3", 200, "/users/{id}"), Req("GET", "/users/4", 200,
                                                             "/users/{id}")]
    tr = Traffic()
    before = env.agent.scrape()
    with connect(H, srv.port) as s:
        f = s.makefile("rb")
        for r in [big] + small:
            s.sendall(raw_request(r))  # 12 KB in one send: one skb on loopback
            got = read_response(f, r.method)
            check(got == r.status, "test premise: %s answered %s" % (r.target, got))
    # The over-long request is counted from its request line; the parser skips the rest of
    # that segment and picks up the next request at the next segment.
    tr.add([big] + small, "1.1", "one keep-alive connection, the first request 12 KB")
    after = scrape_after(env.agent, before, srv.port, tr.expected)
    assert_counts(before, after, srv.port, tr)
    check(event(after, "header_too_long") >= event(before, "header_too_long") + 2,
          "the 12 KB header section was not reported (both sockets)",
          ["header_too_long before %s after %s" % (event(before, "header_too_long"),
                                                    event(after, "header_too_long"))])


if __name__ == "__main__":
    T.main()
