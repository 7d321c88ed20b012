#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""test_config.py - the agent started with --config.file and --web.telemetry-path: route table
overflow into {other}, ports.include, custom duration buckets, exit statuses for SIGINT, a
bad flag and a bad config file."""

import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (AGENT, Req, Suite, Traffic, assert_counts, check, curl_session,  # noqa: E402
                     fmt_key, fmt_num, free_port, http_delta, http_get, httpclient_session,
                     scrape_after)

T = Suite("config", agent=False)
H = "127.0.0.1"
U = "/users/{id}"
PATH = "/custom/metrics"
WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
         "juliet")
N = 3  # requests per route
_ctx = {}


def small_table_agent(env):
    """Agent A: route_table_size 4, counting only the nginx port, on a custom telemetry path.
    Nothing else on the host can fill its route table."""
    if "a" not in _ctx:
        _ctx["a"] = None
        ngx = env.nginx()
        cfg = "http:\n  route_table_size: 4\nports:\n  include: [%d]\n" % ngx.port
        _ctx["ngx"] = ngx
        _ctx["a"] = env.start_agent(config=cfg, args=["--web.telemetry-path=" + PATH],
                                    telemetry_path=PATH)
    check(_ctx["a"] is not None, "agent A (route_table_size 4) did not start (see first test)")
    return _ctx["a"], _ctx["ngx"]


@T.test
def route_table_overflow_counts_under_other(env):
    agent, ngx = small_table_agent(env)
    before = agent.scrape()
    routes = ["/r/" + w for w in WORDS]
    sent = []
    for r in routes:  # one route after the other: the first ones take the table
        curl_session(H, ngx.port, [Req("GET", r, 200, r)] * N)
        sent.append("%s x%d" % (r, N))
    after = agent.scrape()
    probs = []
    for role in ("server", "client"):
        d = http_delta(before, after, role, ngx.port)
        got = {k.route: v.count for k, v in d.items()}
        bad_keys = [fmt_key(k) for k in d if (k.method, k.status, k.version) !=
                    ("GET", "200", "1.1")]
        named = [r for r in routes if r in got]
        want_named = routes[:4]
        want = {r: N for r in want_named}
        want["{other}"] = N * (len(routes) - len(want_named))
        total = sum(got.values())
        if got != want or bad_keys:
            probs.append("%s family: got %s" % (role, {k: fmt_num(v) for k, v in got.items()}))
            probs.append("  want %s (total %d; got total %s; named %s)"
                         % (want, N * len(routes), fmt_num(total), named))
            if bad_keys:
                probs.append("  unexpected series: %s" % bad_keys)
    # Each request counted under {other} (in either family) is one route_table_full event.
    ev = "sockeye_parser_events_total"
    full = (after.value(ev, event="route_table_full") - before.value(ev, event="route_table_full"))
    others = sum(v.count for role in ("server", "client")
                 for k, v in http_delta(before, after, role, ngx.port).items()
                 if k.route == "{other}")
    if full != others:
        probs.append('%s{event="route_table_full"} grew by %s; requests counted under {other}'
                     " in both families: %s" % (ev, fmt_num(full), fmt_num(others)))
    check(not probs, "route table of 4 entries: wrong split between names and {other}",
          probs + ["sent in this order, one curl invocation each: " + ", ".join(sent)])


@T.test
def ports_include_counts_only_listed_ports(env):
    agent, ngx = small_table_agent(env)
    srv = env.pyserver("1.1")
    try:
        before = agent.scrape()
        reqs = [Req("GET", "/users/1", 200, U), Req("GET", "/missing", 404, "/missing")] * 3
        curl_session(H, srv.port, reqs)
        httpclient_session(H, srv.port, reqs)
        n = curl_session(H, ngx.port, [Req("GET", "/users/%d" % i, 200, U) for i in range(5)])
        check(n == 1, "test premise: curl used %d connections" % n)
        after = agent.scrape()
        probs = []
        for role in ("server", "client"):
            if after.http(role, srv.port):
                probs.append("%s family counted the excluded port %d: %s"
                             % (role, srv.port, after.http(role, srv.port)))
            d = http_delta(before, after, role, ngx.port)
            total = sum(v.count for v in d.values())
            if total != 5:
                probs.append("%s family: %s requests on the included port %d, want 5: %s"
                             % (role, fmt_num(total), ngx.port,
                                {fmt_key(k): v.count for k, v in d.items()}))
        check(not probs, "ports.include not honoured", probs)
    finally:
        srv.stop()


@T.test
def custom_telemetry_path_serves_metrics(env):
    agent, _ = small_table_agent(env)
    st, headers, body = http_get(H, agent.port, PATH)
    check(st == 200 and "sockeye_build_info" in body,
          "GET %s: status %d, sockeye_build_info %s" % (PATH, st,
                                                         "present" if "sockeye_build_info" in body
                                                         else "absent"))
    st, _, _ = http_get(H, agent.port, "/metrics")
    check(st == 404, "GET /metrics with --web.telemetry-path=%s: status %d, want 404"
          % (PATH, st))


@T.test
def agent_exits_0_on_sigterm(env):
    agent, _ = small_table_agent(env)
    st = agent.stop(signal.SIGTERM)
    check(st == 0, "exit status %s after SIGTERM" % st, agent.log_tail())


@T.test
def custom_duration_buckets_are_used(env):
    srv = env.pyserver("1.1")
    cfg = ("http:\n  duration_buckets: [0.1, 0.2, 0.4]\nports:\n  include: [%d]\n" % srv.port)
    agent = env.start_agent(config=cfg)
    _ctx["b"] = agent
    try:
        tr = Traffic()
        before = agent.scrape()
        slow, fast = Req("GET", "/slow", 200, "/slow"), Req("GET", "/users/1", 200, U)
        reqs = [fast, slow, fast, slow]
        httpclient_session(H, srv.port, reqs)
        tr.add(reqs, "1.1", "http.client, one connection; /slow sleeps 0.3 s")
        after = scrape_after(agent, before, srv.port, tr.expected)
        assert_counts(before, after, srv.port, tr, bounds=(0.1, 0.2, 0.4))
        probs = []
        for role in ("server", "client"):
            d = http_delta(before, after, role, srv.port)
            s, f = d.get(slow.key("1.1")), d.get(fast.key("1.1"))
            if s is None or f is None:
                probs.append("%s: series missing" % role)
                continue
            sb = {le: s.buckets.get(le) for le in (0.2, 0.4)}
            if sb != {0.2: 0, 0.4: 2}:
                probs.append("%s GET /slow buckets %s, want le=0.2: 0, le=0.4: 2" % (role, sb))
            if f.buckets.get(0.1) != 2:
                probs.append("%s GET %s le=0.1: %s, want 2" % (role, U, f.buckets.get(0.1)))
        check(not probs, "custom buckets not applied", probs + tr.describe())
    finally:
        srv.stop()


@T.test
def agent_exits_0_on_sigint(env):
    agent = _ctx.get("b")
    check(agent is not None, "agent B did not start (see custom_duration_buckets_are_used)")
    st = agent.stop(signal.SIGINT)
    check(st == 0, "exit status %s after SIGINT" % st, agent.log_tail())


@T.test
def bad_flag_exits_2_and_bad_config_exits_1(env):
    check(os.access(AGENT, os.X_OK), "agent binary %s missing: run 'make all' first" % AGENT)
    probs = []

    def run(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=10)
        except subprocess.TimeoutExpired:  # subprocess.run has killed it
            return None

    p = run([AGENT, "--no-such-flag"])
    if p is None:
        probs.append("--no-such-flag: still running after 10 s")
    else:
        if p.returncode != 2:
            probs.append("--no-such-flag: exit %d, want 2 (usage)" % p.returncode)
        if not p.stderr.strip():
            probs.append("--no-such-flag: nothing on stderr")
    bad = os.path.join(env.tmpdir, "bad.yaml")
    with open(bad, "w") as f:
        f.write("http:\n  duration_buckets: [0.5, 0.1]\n  route_table_size: [\n")
    p = run([AGENT, "--web.listen-address=127.0.0.1:%d" % free_port(), "--config.file=" + bad])
    if p is None:
        probs.append("invalid YAML config: the agent started anyway (still running after 10 s)")
    else:
        if p.returncode != 1:
            probs.append("invalid YAML config: exit %d, want 1" % p.returncode)
        if "bad.yaml" not in p.stderr:
            probs.append("invalid YAML config: stderr does not name the file: %r"
                         % p.stderr.strip()[:200])
    check(not probs, "wrong exit status for bad input", probs)


if __name__ == "__main__":
    T.main()
