#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""app.py - bench/run's small JSON service in python (http.server, threaded, keep-alive): the
same routes as app.js. With --instrument it measures itself the way a team would with
prometheus_client: the default registry (process, platform, gc collectors), a request-duration
histogram labelled by method, route template and status, and /metrics on the same port.
Prints "READY <port>" once listening on 127.0.0.1 (an ephemeral port).

Run it with /usr/bin/python3: Debian's python3-prometheus-client is installed only there.
"""

import json
import os
import re
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

INSTRUMENT = "--instrument" in sys.argv[1:]
if INSTRUMENT:
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Histogram, generate_latest

    DURATION = Histogram("http_request_duration_seconds", "Duration of HTTP requests in seconds.",
                         ["method", "route", "status_code"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5,
                                  5, 7.5, 10))

ITEMS = [
    {"id": 1, "name": "anchor", "qty": 3},
    {"id": 2, "name": "buoy", "qty": 7},
    {"id": 3, "name": "cleat", "qty": 12},
]
ITEM_RE = re.compile(r"^/api/items/([^/]+)$")


def json_body(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # header and body writes go out without waiting for an ACK

    def log_message(self, *a):
        pass

    def send(self, status, body, ctype="application/json; charset=utf-8"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_one(self, method):
        """(route template, status, body, content type) of one request."""
        path = self.path.split("?", 1)[0]
        if method == "GET" and path == "/api/items":
            return "/api/items", 200, json_body(ITEMS), None
        m = ITEM_RE.match(path)
        if method == "GET" and m:
            item = next((it for it in ITEMS if str(it["id"]) == m.group(1)), None)
            if item is None:
                return "/api/items/:id", 404, json_body({"error": "no such item"}), None
            return "/api/items/:id", 200, json_body(item), None
        if method == "POST" and path == "/api/items":
            n = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(n) or b"{}") if n else {}
            body = dict(body, id=len(ITEMS) + 1)
            return "/api/items", 201, json_body(body), None
        if method == "GET" and path == "/api/fail":
            return "/api/fail", 500, json_body({"error": "failed on purpose"}), None
        if INSTRUMENT and method == "GET" and path == "/metrics":
            return "/metrics", 200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST
        return "unmatched", 404, json_body({"error": "not found"}), None

    def serve(self, method):
        t0 = time.perf_counter()
        route, status, body, ctype = self.handle_one(method)
        if ctype:
            self.send(status, body, ctype)
        else:
            self.send(status, body)
        if INSTRUMENT:
            DURATION.labels(method, route, str(status)).observe(time.perf_counter() - t0)

    def do_GET(self):
        self.serve("GET")

    def do_POST(self):
        self.serve("POST")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def main():
    srv = Server(("127.0.0.1", 0), Handler)
    print("READY %d" % srv.server_address[1], flush=True)
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    srv.serve_forever()


if __name__ == "__main__":
    main()
