#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""test_http_parsing.py - what stresses the in-kernel parser on real sockets: pipelining, a
request line split over many TCP segments, and non-HTTP bytes on a TCP port, after which valid
traffic must still be counted exactly."""

import os
import random
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (FAMILY, LOOKALIKE_REQUEST, LOOKALIKE_STATUS, UUID, Req, Suite,  # noqa: E402
                     Traffic, assert_counts, check, connect, curl_session, fail,
                     httpclient_session, raw_request, read_response, scrape_after, serve_garbage)

T = Suite("http_parsing")
H = "127.0.0.1"
U = "/users/{id}"
ITEMS = "/orders/{id}/items"
ITEMS_PATH = "/orders/%s/items" % UUID


@T.test
def pipelined_requests_on_python_server_are_counted_in_order(env):
    srv = env.pyserver("1.1")
    try:
        tr = Traffic()
        before = env.agent.scrape()
        reqs = [Req("GET", "/users/1", 200, U), Req("GET", "/missing", 404, "/missing"),
                Req("POST", ITEMS_PATH, 201, ITEMS, body="abc=1&def=2"),
                Req("HEAD", "/users/2", 200, U), Req("GET", "/boom", 500, "/boom")]
        with connect(H, srv.port) as s:
            f = s.makefile("rb")
            s.sendall(b"".join(raw_request(r) for r in reqs))
            got = [read_response(f, r.method) for r in reqs]
            check(got == [r.status for r in reqs], "test premise: server answered %s" % got)
        tr.add(reqs, "1.1", "raw socket, 5 requests in one sendall, then 5 responses")
        after = scrape_after(env.agent, before, srv.port, tr.expected)
        assert_counts(before, after, srv.port, tr)
    finally:
        srv.stop()


def send_in_pieces(s, pieces, pause):
    for p in pieces:
        s.sendall(p)
        time.sleep(pause)


@T.test
def split_request_line_is_counted_once(env):
    srv = env.pyserver("1.1")
    try:
        tr = Traffic()
        before = env.agent.scrape()
        get = Req("GET", "/users/42", 200, U)
        with connect(H, srv.port, nodelay=True) as s:
            f = s.makefile("rb")
            send_in_pieces(s, [b"GE", b"T /us", b"ers/42 HT", b"TP/1.1\r\nHost: x\r\n", b"\r\n"],
                           0.05)
            check(read_response(f, "GET") == 200, "test premise: split GET did not get 200")
            tr.add([get], "1.1", "raw socket, TCP_NODELAY, request line in 5 segments")
            # The same connection goes on with a whole request: the parser is in sync again.
            get = Req("GET", "/users/43", 200, U)
            s.sendall(raw_request(get))
            check(read_response(f, "GET") == 200, "test premise: whole GET did not get 200")
            tr.add([get], "1.1", "same connection, whole request")
        with connect(H, srv.port, nodelay=True) as s:
            f = s.makefile("rb")
            get = Req("GET", "/users/44?token=x", 200, U)
            data = raw_request(get)
            send_in_pieces(s, [data[i:i + 1] for i in range(len(data))], 0.005)
            check(read_response(f, "GET") == 200, "test premise: byte-wise GET did not get 200")
            tr.add([get], "1.1", "raw socket, TCP_NODELAY, one byte per segment")
        with connect(H, srv.port, nodelay=True) as s:
            f = s.makefile("rb")
            post = Req("POST", ITEMS_PATH, 201, ITEMS, body="k=" + "v" * 300)
            data = raw_request(post)
            cut = data.index(b"\r\n\r\n") + 4
            send_in_pieces(s, [data[:7], data[7:30], data[30:cut - 2], data[cut - 2:cut + 10],
                               data[cut + 10:]], 0.05)
            check(read_response(f, "POST") == 201, "test premise: split POST did not get 201")
            tr.add([post], "1.1", "raw socket, TCP_NODELAY, POST with headers and body split")
        after = scrape_after(env.agent, before, srv.port, tr.expected)
        assert_counts(before, after, srv.port, tr)
    finally:
        srv.stop()


BODY = (LOOKALIKE_REQUEST + LOOKALIKE_STATUS) * 3


def send_head_then_body(s, r):
    """Header section and body in separate segments, so the body starts a segment."""
    data = raw_request(r)
    cut = data.index(b"\r\n\r\n") + 4
    s.sendall(data[:cut])
    time.sleep(0.05)
    s.sendall(data[cut:])


@T.test
def http_lookalike_bodies_are_not_counted(env):
    """Request and response bodies (framed by Content-Length) that begin segments with request
    lines and status lines are body, not messages."""
    srv = env.pyserver("1.1")
    try:
        tr = Traffic()
        before = env.agent.scrape()
        echo = Req("POST", "/echo", 200, "/echo", body=BODY)
        get = Req("GET", "/users/2", 200, "/users/{id}")
        with connect(H, srv.port, nodelay=True) as s:
            f = s.makefile("rb")
            for _ in range(2):
                send_head_then_body(s, echo)
                check(read_response(f, "POST") == 200, "test premise: /echo did not get 200")
                s.sendall(raw_request(get))
                check(read_response(f, "GET") == 200, "test premise: GET did not get 200")
            tr.add([echo, get] * 2, "1.1", "raw socket, keep-alive; bodies of HTTP lookalikes in"
                   " segments of their own (response: status line lookalike first)")
            # The same, pipelined: while /users/3 is outstanding, the /echo response body starts
            # a segment with a status line.
            reqs = [echo, Req("GET", "/users/3", 200, "/users/{id}"), echo, get]
            s.sendall(b"".join(raw_request(r) for r in reqs))
            got = [read_response(f, r.method) for r in reqs]
            check(got == [r.status for r in reqs], "test premise: pipelined answers %s" % got)
            tr.add(reqs, "1.1", "same connection, 4 requests pipelined in one sendall")
        after = scrape_after(env.agent, before, srv.port, tr.expected)
        assert_counts(before, after, srv.port, tr)
    finally:
        srv.stop()


@T.test
def chunked_response_with_lookalike_chunks_keeps_framing(env):
    """A chunked response whose chunk data start segments with status lines, alone on a
    keep-alive connection and pipelined ahead of other requests."""
    srv = env.pyserver("1.1")
    try:
        tr = Traffic()
        before = env.agent.scrape()
        ch = Req("GET", "/chunked", 200, "/chunked")
        reqs = [ch, Req("GET", "/users/5", 200, "/users/{id}"), Req("HEAD", "/chunked", 200,
                                                                      "/chunked"), ch]
        n = httpclient_session(H, srv.port, reqs)
        check(n == 1, "test premise: http.client used %d connections" % n)
        tr.add(reqs, "1.1", "http.client, one connection")
        reqs = [ch, Req("GET", "/users/6", 200, "/users/{id}"), ch,
                Req("GET", "/missing", 404, "/missing"), Req("GET", "/users/7", 200, "/users/{id}")]
        with connect(H, srv.port) as s:
            f = s.makefile("rb")
            s.sendall(b"".join(raw_request(r) for r in reqs))
            got = [read_response(f, r.method) for r in reqs]
            check(got == [r.status for r in reqs], "test premise: pipelined answers %s" % got)
        tr.add(reqs, "1.1", "raw socket, 5 requests pipelined in one sendall")
        after = scrape_after(env.agent, before, srv.port, tr.expected)
        assert_counts(before, after, srv.port, tr)
    finally:
        srv.stop()


@T.test
def large_headers_and_bodies_keep_framing(env):
    srv = env.pyserver("1.1")
    try:
        tr = Traffic()
        before = env.agent.scrape()
        big = "k=" + "v" * 200000
        reqs = [Req("GET", "/users/1", 200, "/users/{id}", headers={"Cookie": "c=" + "x" * 3000}),
                Req("POST", "/orders/%s/items" % UUID, 201, "/orders/{id}/items", body=big),
                Req("GET", "/users/2", 200, "/users/{id}"),
                Req("POST", "/echo", 200, "/echo", body=big),
                Req("GET", "/users/3", 200, "/users/{id}")]
        n = httpclient_session(H, srv.port, reqs)
        check(n == 1, "test premise: http.client used %d connections" % n)
        tr.add(reqs, "1.1", "http.client, one connection; 3 KB Cookie, 200 KB bodies both ways")
        after = scrape_after(env.agent, before, srv.port, tr.expected)
        assert_counts(before, after, srv.port, tr)
    finally:
        srv.stop()


def client_hello():
    """A TLS 1.2 ClientHello record as a client would send it (SNI localhost)."""
    sni = b"localhost"
    ext_sni = struct.pack("!HHHBH", 0, len(sni) + 5, len(sni) + 3, 0, len(sni)) + sni
    body = (b"\x03\x03" + bytes(random.getrandbits(8) for _ in range(32)) + b"\x00"
            + struct.pack("!H", 4) + b"\x13\x01\xc0\x2f" + b"\x01\x00"
            + struct.pack("!H", len(ext_sni)) + ext_sni)
    hs = b"\x01" + struct.pack("!I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
H2_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


@T.test
def garbage_and_other_protocols_count_nothing(env):
    gport, gstop = serve_garbage()
    srv = env.pyserver("1.1")
    try:
        before = env.agent.scrape()
        rnd = random.Random(1234)
        blobs = [
            ("random bytes", bytes(rnd.getrandbits(8) for _ in range(1500))),
            ("HTTP/2 preface + SETTINGS", H2_PREFACE + H2_SETTINGS),
            ("TLS ClientHello", client_hello()),
            ("NUL bytes", b"\x00" * 64),
            ("a request line without CRLF", b"GET /users/1 HTTP/1.1"),
            ("a request answered with garbage", b"GET /users/1 HTTP/1.1\r\nHost: x\r\n\r\n"),
            ("random printable text", bytes(rnd.randrange(32, 127) for _ in range(3000))),
        ]
        for _name, blob in blobs:
            with connect(H, gport, nodelay=True) as s:
                s.sendall(blob)
                s.recv(4096)
                s.sendall(blob[: len(blob) // 2])
                s.recv(4096)
        # Garbage sent in small pieces over one connection, too.
        with connect(H, gport, nodelay=True) as s:
            for _name, blob in blobs:
                s.sendall(blob[:100])
                s.recv(4096)
        check(env.agent.alive(), "the agent died after non-HTTP traffic",
              env.agent.log_tail())
        check(env.agent.ready(), "/readyz is not 200 after non-HTTP traffic")
        after = env.agent.scrape()
        counted = ["%s: %s" % (FAMILY[role], after.http(role, gport))
                   for role in ("server", "client") if after.http(role, gport)]
        if counted:
            fail("non-HTTP traffic on port %d was counted" % gport,
                 counted + ["sent: %s" % ", ".join(n for n, _ in blobs)])

        # Valid traffic on new connections to a real server is still counted exactly.
        tr = Traffic()
        before = env.agent.scrape()
        reqs = [Req("GET", "/users/1", 200, U), Req("GET", "/missing", 404, "/missing"),
                Req("POST", ITEMS_PATH, 201, ITEMS, body="x=1"), Req("GET", "/", 200, "/")]
        curl_session(H, srv.port, reqs)
        tr.add(reqs, "1.1", "one curl invocation after the garbage")
        after = scrape_after(env.agent, before, srv.port, tr.expected)
        assert_counts(before, after, srv.port, tr)
    finally:
        gstop()
        srv.stop()


if __name__ == "__main__":
    T.main()
