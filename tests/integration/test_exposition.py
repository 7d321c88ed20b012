#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""test_exposition.py - the scrape itself after real traffic: Content-Type, `promtool check
metrics`, prometheus_client's parser, histogram shape across every series, the agent's own
families, and no duplicate series."""

import collections
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (CONTENT_TYPE, FAMILY, QUERY, UUID, Req, check, curl_session,  # noqa: E402
                     fail, httpclient_session, Suite)

T = Suite("exposition")
H = "127.0.0.1"
_cache = {}


def scraped(env):
    """One scrape taken after traffic to python http.server and nginx (done once per suite)."""
    if "scrape" not in _cache:
        srv, ngx = env.pyserver("1.1"), env.nginx()
        try:
            reqs = [Req("GET", "/users/1", 200, ""), Req("GET", "/missing" + QUERY, 404, ""),
                    Req("POST", "/orders/%s/items" % UUID, 201, "", body="a=1"),
                    Req("GET", "/boom", 500, ""), Req("HEAD", "/", 200, "")]
            for port in (srv.port, ngx.port):
                curl_session(H, port, reqs)
                httpclient_session(H, port, reqs, version="1.0")
            sc = env.agent.scrape()
        finally:
            srv.stop()
            ngx.stop()
        ports = [p for p in (srv.port, ngx.port)
                 if not all(sc.http(role, p) for role in ("server", "client"))]
        _cache["scrape"], _cache["missing"] = sc, ports
    check(not _cache["missing"], "test premise: no http series for port(s) %s after traffic;"
          " the checks below need real histograms" % _cache["missing"])
    return _cache["scrape"]


@T.test
def metrics_content_type_is_text_0_0_4(env):
    sc = env.agent.scrape()
    got = sc.headers.get("content-type")
    check(got == CONTENT_TYPE, "Content-Type %r, want %r" % (got, CONTENT_TYPE))


@T.test
def promtool_check_metrics_accepts_the_scrape(env):
    sc = scraped(env)
    p = subprocess.run(["promtool", "check", "metrics"], input=sc.text, capture_output=True,
                       text=True, timeout=30)
    out = (p.stdout + p.stderr).strip().splitlines()
    check(p.returncode == 0, "promtool check metrics exited %d" % p.returncode, out[:30])


@T.test
def prometheus_client_parses_the_scrape(env):
    from prometheus_client.parser import text_string_to_metric_families
    sc = scraped(env)
    try:
        fams = {f.name: f for f in text_string_to_metric_families(sc.text)}
    except Exception as e:  # noqa: BLE001 - any parser error is the failure
        fail("prometheus_client parser: %s: %s" % (type(e).__name__, e))
    probs = []
    want_labels = {"http_request_method", "http_response_status_code", "http_route",
                   "network_protocol_version", "server_port"}
    for fam in FAMILY.values():
        f = fams.get(fam)
        if f is None:
            probs.append("family %s missing" % fam)
            continue
        if f.type != "histogram":
            probs.append("%s has type %s" % (fam, f.type))
        for s in f.samples:
            missing = want_labels - set(s.labels)
            if missing:
                probs.append("%s%s lacks labels %s" % (s.name, s.labels, sorted(missing)))
                break
    if sc.errors:
        probs += ["harness parser: " + e for e in sc.errors[:10]]
    check(not probs, "scrape does not parse as expected", probs)


@T.test
def every_histogram_is_cumulative_and_count_equals_inf(env):
    sc = scraped(env)
    probs = sc.histogram_problems()
    check(not probs, "%d histogram series are inconsistent" % len(probs), probs[:20])


@T.test
def no_series_appears_twice(env):
    sc = scraped(env)
    seen = collections.Counter((n, tuple(sorted(l.items()))) for n, l, _ in sc.samples)
    dups = ["%s%s x%d" % (n, dict(l), c) for (n, l), c in seen.items() if c > 1]
    check(not dups, "%d duplicate series" % len(dups), dups[:10])


@T.test
def build_info_and_parser_events_are_exported(env):
    sc = scraped(env)
    bi = [(l, v) for n, l, v in sc.samples if n == "sockeye_build_info"]
    probs = []
    if len(bi) != 1:
        probs.append("sockeye_build_info: %d series, want 1" % len(bi))
    else:
        l, v = bi[0]
        if v != 1 or not l.get("version") or not l.get("revision"):
            probs.append("sockeye_build_info%s %s: want version and revision labels, value 1"
                         % (l, v))
    ev = [(l, v) for n, l, v in sc.samples if n == "sockeye_parser_events_total"]
    if not ev:
        probs.append("sockeye_parser_events_total: no series")
    elif any(not l.get("event") or v < 0 for l, v in ev):
        probs.append("sockeye_parser_events_total: series without an event label: %s" % ev)
    if "# TYPE sockeye_parser_events_total counter" not in sc.text:
        probs.append("sockeye_parser_events_total is not TYPE counter")
    check(not probs, "own families wrong", probs)


if __name__ == "__main__":
    T.main()
