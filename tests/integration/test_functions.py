#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""test_functions.py - function metrics declared in the config (docs/functions.md), on real
programs: tests/funcs/shopd.c and libshop.c built here with gcc -O2, Debian's nginx and
python3. Each test makes a known number of calls with known arguments and sleeps and compares
the scrape's deltas exactly: counts per label set, buckets, "other", "{other}", string labels
cut cleanly, a shared library used by two services, processes started before and after the
agent, 8 threads, recursion, longjmp, SIGHUP reload, errors at start, promtool and
prometheus_client on the result."""

import os
import re
import select
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (AGENT, ROOT, Cgroup, Req, Suite, check, curl_session,  # noqa: E402
                     fmt_num, free_port, wait_until)

T = Suite("functions", agent=False)
SRC = os.path.join(ROOT, "tests", "funcs")
PYTHON_REAL = os.path.realpath("/usr/bin/python3")
NGINX = "/usr/sbin/nginx"
H = "127.0.0.1"
# A string label longer than the 63 bytes the kernel reads, with a 2-byte character across
# the cut: bytes 0..61 are ASCII, byte 62 is the first byte of "é".
LONG_OP = "op_" + "a" * 59 + "ééé_and_more_than_64_bytes"
LONG_OP_CUT = "op_" + "a" * 59
_ctx = {}


def config(d):
    shopd, lib = d["shopd"], d["libshop"]
    return """
identity:
  rules:
    # Other nginx processes on the host are named nginx too: this one gets a name of its own.
    - match: {{exe: {nginx}, cgroup: {cgroup}}}
      service_name: functions-test-nginx
functions:
  - metric: shop_storage_operation_duration_seconds
    type: histogram
    binary: {shopd}
    symbol: storage_op
    buckets: [0.005, 0.05, 0.5, 2]
    labels:
      - name: operation
        from: arg1
        type: string
      - name: backend
        from: arg2
        type: int
        values: {{0: memory, 1: disk}}
  - metric: shop_cache_lookups_total
    type: counter
    binary: {shopd}
    symbol: cache_get
    help: Cache lookups by result.
    labels:
      - name: result
        from: return
        type: int
        values: {{0: miss, 1: hit}}
  - metric: shop_tags_total
    type: counter
    binary: {shopd}
    symbol: tag
    max_series: 3
    labels:
      - name: tag
        from: arg1
        type: long
  - metric: shop_recursion_seconds
    type: histogram
    binary: {shopd}
    symbol: recurse
    buckets: [0.075, 0.125, 0.175, 0.225]
    labels:
      - name: depth
        from: arg1
        type: int
  - metric: shop_work_seconds
    type: histogram
    binary: {shopd}
    symbol: work
    buckets: [0.002, 0.5]
    labels:
      - name: thread
        from: arg1
        type: int
  - metric: shop_escape_seconds
    type: histogram
    binary: {shopd}
    symbol: escape
  - metric: shop_messages_processed_total
    type: counter
    binary: {shopd}
    usdt: "shopd:message_processed"
    labels:
      - name: queue
        from: arg1
        type: string
      - name: size
        from: arg2
        type: int
  - metric: shop_request_duration_seconds
    type: histogram
    binary: {shopd}
    usdt: "shopd:request_done"
    value: arg2
    buckets: [0.001, 0.01, 0.1]
    labels:
      - name: operation
        from: arg1
        type: string
  - metric: shop_lib_operations_total
    type: counter
    binary: {lib}
    symbol: lib_op
    labels:
      - name: kind
        from: arg1
        type: int
        values: {{0: read, 1: write}}
  - metric: nginx_http_requests_handled_total
    type: counter
    binary: {nginx}
    symbol: ngx_http_handler
  - metric: python_module_imports_total
    type: counter
    binary: {python}
    usdt: "python:import__find__load__start"
    max_series: 1024
    labels:
      - name: module
        from: arg1
        type: string
""".format(shopd=shopd, lib=lib, nginx=NGINX, python=PYTHON_REAL, cgroup=d["cgroup"])


def build(tmp):
    """Compiles libshop.so and two services linking it (shopd, billingd) with gcc -O2."""
    d = {"libshop": os.path.join(tmp, "libshop.so"), "shopd": os.path.join(tmp, "shopd"),
         "billingd": os.path.join(tmp, "billingd")}
    cmds = [["gcc", "-O2", "-g", "-shared", "-fPIC", "-o", d["libshop"],
             os.path.join(SRC, "libshop.c")]]
    for name in ("shopd", "billingd"):
        cmds.append(["gcc", "-O2", "-g", "-Wall", "-Wextra", "-Werror", "-o", d[name],
                     os.path.join(SRC, "shopd.c"), "-L" + tmp, "-lshop", "-Wl,-rpath," + tmp,
                     "-lpthread"])
    for c in cmds:
        p = subprocess.run(c, capture_output=True, text=True, timeout=120)
        check(p.returncode == 0, "building the test service failed: " + " ".join(c),
              p.stderr.splitlines()[-10:])
    return d


def cgroup_of_its_own(name):
    """A cgroup for one service: processes of one executable name in one cgroup are one
    process group, named after the last one seen (docs/functions.md)."""
    cg = Cgroup("sockeye-it-functions-" + name)
    _ctx.setdefault("cgroups", []).append(cg)
    return cg


class Service:
    """One shopd/billingd process (in the test cgroup unless told), driven a command at a
    time."""

    def __init__(self, env, path, service_name=None, cgroup=None):
        e = dict(os.environ)
        e.pop("OTEL_SERVICE_NAME", None)
        e.pop("OTEL_RESOURCE_ATTRIBUTES", None)
        if service_name:
            e["OTEL_SERVICE_NAME"] = service_name
        self.p = env.procs.start([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 env=e, preexec_fn=(cgroup or env.cgroup).enter)
        self.pid = self.p.pid

    def do(self, cmd, timeout=60):
        """Sends one command and waits for its "ok": the calls have all returned."""
        self.p.stdin.write((cmd + "\n").encode())
        self.p.stdin.flush()
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        line = self.p.stdout.readline().decode() if r else ""
        check(line == "ok\n", "test service: %r answered %r" % (cmd, line))

    def stop(self):
        if self.p.poll() is None:
            self.p.stdin.write(b"quit\n")
            self.p.stdin.flush()
            self.p.wait(10)


def setup(env):
    """Builds the programs, starts one shopd BEFORE the agent, then the agent."""
    if "agent" not in _ctx:
        _ctx["agent"] = None
        d = build(env.tmpdir)
        _ctx["bins"] = d
        _ctx["early"] = Service(env, d["shopd"], "early-shop", cgroup_of_its_own("early"))
        d["cgroup"] = "/" + os.path.basename(env.cgroup.path)  # relative to the cgroup2 mount
        _ctx["agent"] = env.start_agent(config=config(d))
    check(_ctx["agent"] is not None, "the agent did not start (see the first test)")
    return _ctx["agent"], _ctx["bins"]


def delta(before, after, name, **labels):
    return after.value(name, **labels) - before.value(name, **labels)


def series_of(scrape, name, **labels):
    """{frozenset(labels without le): value} of the samples of name matching labels."""
    out = {}
    for n, l, v in scrape.samples:
        if n == name and all(l.get(k) == str(x) for k, x in labels.items()):
            out[frozenset(l.items())] = v
    return out


def expect(probs, what, got, want):
    if got != want:
        probs.append("%s: got %s, want %s" % (what, fmt_num(got) if isinstance(got, float)
                                              else got, want))


@T.test
def storage_calls_counted_per_operation_and_backend_with_durations_in_their_buckets(env):
    agent, d = setup(env)
    svc = Service(env, d["shopd"])
    try:
        before = agent.scrape()
        svc.do("storage get 0 10000 5")    # 10 ms each: (0.005, 0.05]
        svc.do("storage put 1 100000 3")   # 100 ms each: (0.05, 0.5]
        svc.do("storage delete 2 0 4")     # backend 2 is not in values: "other"; < 5 ms
        svc.do("storage %s 1 0 2" % LONG_OP)
        after = agent.scrape()
    finally:
        svc.stop()
    f = "shop_storage_operation_duration_seconds"
    probs = []
    want = {  # (operation, backend): (count, {le: cumulative count})
        ("get", "memory"): (5, {"0.005": 0, "0.05": 5, "0.5": 5, "2": 5, "+Inf": 5}),
        ("put", "disk"): (3, {"0.005": 0, "0.05": 0, "0.5": 3, "2": 3, "+Inf": 3}),
        ("delete", "other"): (4, {"0.005": 4, "0.05": 4, "0.5": 4, "2": 4, "+Inf": 4}),
        (LONG_OP_CUT, "disk"): (2, {"0.005": 2, "0.05": 2, "0.5": 2, "2": 2, "+Inf": 2}),
    }
    for (op, backend), (n, buckets) in want.items():
        lab = {"operation": op, "backend": backend, "service_name": "shopd"}
        expect(probs, "%s_count%s" % (f, lab), delta(before, after, f + "_count", **lab), n)
        for le, c in buckets.items():
            expect(probs, "%s_bucket%s le=%s" % (f, lab, le),
                   delta(before, after, f + "_bucket", le=le, **lab), c)
    s = delta(before, after, f + "_sum", operation="put", backend="disk", service_name="shopd")
    if not 0.300 <= s < 1.5:
        probs.append("put/disk _sum %s: want 3 x 100 ms and a little" % s)
    ops = {dict(k)["operation"] for k in series_of(after, f + "_count")}
    bad = [o for o in ops if len(o.encode()) > 63 or "\ufffd" in o or "?" in o]
    expect(probs, "operations longer than 63 bytes or with a broken character", bad, [])
    check(not probs, "storage_op histogram differs from the calls made", probs)


@T.test
def counter_labelled_by_return_value_counts_hits_and_misses(env):
    agent, d = setup(env)
    svc = Service(env, d["shopd"])
    try:
        before = agent.scrape()
        svc.do("cache 1 4")
        svc.do("cache 0 3")
        after = agent.scrape()
    finally:
        svc.stop()
    probs = []
    f = "shop_cache_lookups_total"
    expect(probs, "hits", delta(before, after, f, result="hit", service_name="shopd"), 4)
    expect(probs, "misses", delta(before, after, f, result="miss", service_name="shopd"), 3)
    expect(probs, "HELP", "# HELP shop_cache_lookups_total Cache lookups by result." in
           after.text, True)
    expect(probs, "TYPE", "# TYPE shop_cache_lookups_total counter" in after.text, True)
    expect(probs, "return probe hits",
           delta(before, after, "sockeye_function_probe_hits_total", metric=f, probe="return"),
           7)
    check(not probs, "cache_get counter differs from the calls made", probs)


@T.test
def label_sets_past_max_series_are_counted_under_other(env):
    agent, d = setup(env)
    svc = Service(env, d["shopd"])
    try:
        before = agent.scrape()
        for v in range(1, 6):  # tag v called v times; max_series is 3
            svc.do("tag %d %d" % (v, v))
        after = agent.scrape()
    finally:
        svc.stop()
    f = "shop_tags_total"
    got = {dict(k)["tag"]: v for k, v in series_of(after, f).items()}
    want = {"1": 1, "2": 2, "3": 3, "{other}": 4 + 5}
    probs = []
    expect(probs, "series", got, want)
    expect(probs, "counted_as_other events",
           delta(before, after, "sockeye_function_events_total", event="counted_as_other"), 9)
    check(not probs, "max_series not honoured", probs)


@T.test
def recursion_times_each_level_from_its_own_entry(env):
    agent, d = setup(env)
    svc = Service(env, d["shopd"])
    try:
        before = agent.scrape()
        svc.do("recurse 4 50000")  # depth d returns after d sleeps of 50 ms
        after = agent.scrape()
    finally:
        svc.stop()
    f = "shop_recursion_seconds"
    probs = []
    les = ["0.075", "0.125", "0.175", "0.225", "+Inf"]
    for depth in range(1, 5):
        lab = {"depth": depth, "service_name": "shopd"}
        got = [delta(before, after, f + "_bucket", le=le, **lab) for le in les]
        want = [0] * (depth - 1) + [1] * (6 - depth)
        expect(probs, "depth %d cumulative buckets %s" % (depth, les), got, want)
    s = delta(before, after, f + "_sum")
    if not 0.500 <= s < 0.700:
        probs.append("_sum %s: want 50+100+150+200 ms plus call overhead" % s)
    check(not probs, "recursive calls timed wrong", probs)


@T.test
def eight_threads_calling_at_once_are_each_counted(env):
    agent, d = setup(env)
    svc = Service(env, d["shopd"])
    try:
        before = agent.scrape()
        svc.do("threads 8 50 3000")  # 8 threads, 50 calls each, 3 ms per call
        after = agent.scrape()
    finally:
        svc.stop()
    f = "shop_work_seconds"
    probs = []
    for t in range(8):
        lab = {"thread": t, "service_name": "shopd"}
        expect(probs, "thread %d count" % t, delta(before, after, f + "_count", **lab), 50)
        expect(probs, "thread %d le=0.002" % t,
               delta(before, after, f + "_bucket", le="0.002", **lab), 0)
        expect(probs, "thread %d le=0.5" % t,
               delta(before, after, f + "_bucket", le="0.5", **lab), 50)
    expect(probs, "returns without entry",
           delta(before, after, "sockeye_function_events_total", event="return_without_entry"),
           0)
    check(not probs, "concurrent calls miscounted", probs)


@T.test
def usdt_probes_count_by_arguments_and_observe_a_duration_argument(env):
    agent, d = setup(env)
    svc = Service(env, d["shopd"])
    try:
        before = agent.scrape()
        svc.do("msg orders 10 7")
        svc.do("msg billing 3 2")
        svc.do("done get 2000000 3")    # 2 ms in ns
        svc.do("done put 50000000 2")   # 50 ms
        after = agent.scrape()
    finally:
        svc.stop()
    probs = []
    f = "shop_messages_processed_total"
    expect(probs, "orders/10", delta(before, after, f, queue="orders", size=10), 7)
    expect(probs, "billing/3", delta(before, after, f, queue="billing", size=3), 2)
    h = "shop_request_duration_seconds"
    for op, buckets in (("get", [0, 3, 3, 3]), ("put", [0, 0, 2, 2])):
        got = [delta(before, after, h + "_bucket", le=le, operation=op)
               for le in ("0.001", "0.01", "0.1", "+Inf")]
        expect(probs, "%s buckets" % op, got, buckets)
    # The values are exact nanoseconds: the sum is exact too.
    expect(probs, "get _sum", round(delta(before, after, h + "_sum", operation="get"), 9),
           0.006)
    expect(probs, "put _sum", round(delta(before, after, h + "_sum", operation="put"), 9), 0.1)
    expect(probs, "usdt hits", delta(before, after, "sockeye_function_probe_hits_total",
                                     metric=f, probe="usdt"), 9)
    check(not probs, "USDT metrics differ from the probes fired", probs)


@T.test
def shared_library_function_counted_for_each_service_using_it(env):
    agent, d = setup(env)
    shop = Service(env, d["shopd"])
    billing = Service(env, d["billingd"], service_name="billing")
    try:
        before = agent.scrape()
        shop.do("lib 1 0 5")
        billing.do("lib 0 0 3")
        billing.do("lib 1 0 1")
        after = agent.scrape()  # while both run: their names are read from /proc
    finally:
        shop.stop()
        billing.stop()
    f = "shop_lib_operations_total"
    probs = []
    expect(probs, "shopd writes", delta(before, after, f, kind="write", service_name="shopd"), 5)
    expect(probs, "shopd reads", delta(before, after, f, kind="read", service_name="shopd"), 0)
    expect(probs, "billing reads",
           delta(before, after, f, kind="read", service_name="billing"), 3)
    expect(probs, "billing writes",
           delta(before, after, f, kind="write", service_name="billing"), 1)
    check(not probs, "lib_op in libshop.so miscounted", probs)


@T.test
def processes_started_before_and_after_the_agent_are_both_probed(env):
    agent, d = setup(env)
    early = _ctx["early"]
    late = Service(env, d["shopd"], "late-shop", cgroup_of_its_own("late"))
    try:
        before = agent.scrape()
        early.do("cache 1 6")   # started before the agent
        late.do("cache 1 8")    # started now
        after = agent.scrape()
    finally:
        late.stop()
    f = "shop_cache_lookups_total"
    probs = []
    expect(probs, "early process", delta(before, after, f, result="hit",
                                         service_name="early-shop"), 6)
    expect(probs, "late process", delta(before, after, f, result="hit",
                                        service_name="late-shop"), 8)
    check(not probs, "a process was not probed from its first call", probs)


@T.test
def longjmp_out_of_a_timed_function_leaves_nothing_behind(env):
    agent, d = setup(env)
    svc = Service(env, d["shopd"])
    try:
        before = agent.scrape()
        svc.do("longjmp 20000")
        mid = agent.scrape()
        svc.do("recurse 2 50000")
        after = agent.scrape()
    finally:
        svc.stop()
    probs = []
    hits = "sockeye_function_probe_hits_total"
    expect(probs, "escape entries", delta(before, mid, hits, metric="shop_escape_seconds",
                                          probe="entry"), 20000)
    expect(probs, "escape returns", delta(before, mid, hits, metric="shop_escape_seconds",
                                          probe="return"), 0)
    expect(probs, "escape observations", delta(before, mid, "shop_escape_seconds_count"), 0)
    # Every escape() was entered at the same stack depth of the same thread: its entries
    # replaced each other. Other calls in progress on the host (none here) would add theirs.
    calls = mid.value("sockeye_bpf_map_entries", map="fn_calls")
    if calls > 4:
        probs.append("fn_calls holds %s entries after 20000 calls left by longjmp" % calls)
    expect(probs, "fn_calls capacity", mid.value("sockeye_bpf_map_capacity", map="fn_calls"),
           8192)
    f = "shop_recursion_seconds_bucket"
    got = [delta(mid, after, f, le="0.075", depth=1), delta(mid, after, f, le="0.125", depth=2),
           delta(mid, after, f, le="0.075", depth=2)]
    expect(probs, "recursion afterwards [d1 <= 75 ms, d2 <= 125 ms, d2 <= 75 ms]", got,
           [1, 1, 0])
    check(not probs, "calls that never return disturb the counts", probs)


@T.test
def third_party_binaries_nginx_symbol_and_python_usdt(env):
    agent, _ = setup(env)
    probs = []
    ngx = env.nginx()
    try:
        before = agent.scrape()
        curl_session(H, ngx.port, [Req("GET", "/users/%d" % i, 200, "") for i in range(6)] +
                     [Req("GET", "/missing", 404, "")])
        after = agent.scrape()
    finally:
        ngx.stop()
    expect(probs, "nginx: ngx_http_handler calls for 7 requests",
           delta(before, after, "nginx_http_requests_handled_total",
                 service_name="functions-test-nginx"), 7)
    # python3's USDT probes are gated by semaphores, which attaching sets.
    # The process waits for the scrape: a process gone by then is named from its comm.
    code = "import sys\nimport fractions, colorsys\nimport fractions\nprint('ok', flush=True)\n" \
           "sys.stdin.readline()\n"
    e = dict(os.environ, OTEL_SERVICE_NAME="py-imports")
    before = agent.scrape()
    p = env.procs.start([PYTHON_REAL, "-c", code], env=e, stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE, preexec_fn=env.cgroup.enter)
    r, _, _ = select.select([p.stdout], [], [], 60)
    expect(probs, "python ready", p.stdout.readline() if r else b"", b"ok\n")
    after = agent.scrape()
    p.communicate(b"\n", timeout=30)
    expect(probs, "python exit status", p.returncode, 0)
    f = "python_module_imports_total"
    for mod in ("fractions", "colorsys"):
        expect(probs, "python: imports of %s" % mod,
               delta(before, after, f, module=mod, service_name="py-imports"), 1)
    check(not probs, "third-party binaries", probs)


@T.test
def sighup_reloads_functions_and_reports_errors_without_stopping(env):
    agent, d = setup(env)
    cfg_path = [a for a in agent.argv if a.startswith("--config.file=")][0].split("=", 1)[1]
    original = open(cfg_path).read()
    svc = Service(env, d["shopd"])
    probs = []
    try:
        svc.do("cache 1 2")
        before = agent.scrape()
        # Drop shop_tags_total, add shop_tag_values_total; everything else unchanged.
        new = original.replace("metric: shop_tags_total", "metric: shop_tag_values_total")
        with open(cfg_path, "w") as f:
            f.write(new)
        agent.proc.send_signal(signal.SIGHUP)
        ok = wait_until(lambda: "shop_tag_values_total" in agent.scrape().text, 5)
        expect(probs, "new family after SIGHUP", bool(ok), True)
        mid = agent.scrape()
        expect(probs, "removed family gone", "shop_tags_total" in mid.text, False)
        expect(probs, "unchanged counter kept its count",
               mid.value("shop_cache_lookups_total", result="hit", service_name="shopd") -
               before.value("shop_cache_lookups_total", result="hit", service_name="shopd"), 0)
        svc.do("tag 7 3")
        svc.do("cache 1 1")
        after = agent.scrape()
        expect(probs, "new family counts", after.value("shop_tag_values_total", tag=7), 3)
        expect(probs, "kept family still counts",
               delta(mid, after, "shop_cache_lookups_total", result="hit"), 1)
        # A missing symbol: reported with its position, nothing changes, the agent runs on.
        bad = new.replace("symbol: cache_get", "symbol: no_such_function")
        with open(cfg_path, "w") as f:
            f.write(bad)
        log_size = os.path.getsize(agent.log_path)
        agent.proc.send_signal(signal.SIGHUP)
        line = bad.splitlines().index("    symbol: no_such_function") + 1
        want = "%s:%d:13: functions[]: no function symbol 'no_such_function' in %s" % (
            cfg_path, line, d["shopd"])

        def logged():
            with open(agent.log_path, errors="replace") as f:
                f.seek(log_size)
                return want in f.read()
        expect(probs, "error line in the log: %s" % want, bool(wait_until(logged, 5)), True)
        svc.do("cache 1 2")
        last = agent.scrape()
        expect(probs, "agent alive", agent.alive(), True)
        expect(probs, "declarations unchanged after the bad reload",
               delta(after, last, "shop_cache_lookups_total", result="hit"), 2)
    finally:
        with open(cfg_path, "w") as f:
            f.write(original)
        svc.stop()
    check(not probs, "SIGHUP reload of the functions section", probs)


@T.test
def agent_without_functions_loads_their_programs_when_sighup_declares_some(env):
    _, d = setup(env)
    cfg = os.path.join(env.tmpdir, "later.yaml")
    with open(cfg, "w") as f:
        f.write("labels:\n  zone: test\n")
    agent = env.start_agent(args=["--config.file=" + cfg])
    svc = Service(env, d["shopd"], "later-shop", cgroup_of_its_own("later"))
    probs = []
    try:
        s = agent.scrape()
        # Verified at start, then unloaded: on, but no programs.
        expect(probs, "feature before", s.value("sockeye_feature_enabled", feature="functions"),
               1)
        expect(probs, "programs before", "program=\"uprobe_func\"" in s.text, False)
        with open(cfg, "w") as f:
            f.write("labels:\n  zone: test\nfunctions:\n  - metric: later_lookups_total\n"
                    "    type: counter\n    binary: %s\n    symbol: cache_get\n" % d["shopd"])
        agent.proc.send_signal(signal.SIGHUP)
        ok = wait_until(lambda: "later_lookups_total" in agent.scrape().text, 10)
        expect(probs, "declaration after SIGHUP", bool(ok), True)
        svc.do("cache 0 5")
        after = agent.scrape()
        expect(probs, "calls counted", after.value("later_lookups_total",
                                                   service_name="later-shop", zone="test"), 5)
        expect(probs, "programs listed", "program=\"uprobe_func\"" in after.text, True)
    finally:
        svc.stop()
        st = agent.stop()
    expect(probs, "exit status on SIGTERM", st, 0)
    check(not probs, "functions declared by SIGHUP in an agent started without any", probs)


@T.test
def reload_attaches_after_capabilities_are_reduced_without_https(env):
    """With --tls.disable nothing else keeps cap_sys_admin after start: declared functions do,
    so that a SIGHUP can attach new ones."""
    _, d = setup(env)
    decl = ("functions:\n  - metric: caps_lookups_total\n    type: counter\n    binary: %s\n"
            "    symbol: cache_get\n" % d["shopd"])
    cfg = os.path.join(env.tmpdir, "caps.yaml")
    with open(cfg, "w") as f:
        f.write(decl)
    agent = env.start_agent(args=["--config.file=" + cfg, "--tls.disable"])
    svc = Service(env, d["shopd"], "caps-shop", cgroup_of_its_own("caps"))
    probs = []
    try:
        with open(cfg, "w") as f:
            f.write(decl + "  - metric: caps_tags_total\n    type: counter\n    binary: %s\n"
                    "    symbol: tag\n" % d["shopd"])
        agent.proc.send_signal(signal.SIGHUP)
        ok = wait_until(lambda: "caps_tags_total" in agent.scrape().text, 10)
        expect(probs, "new declaration after SIGHUP", bool(ok), True)
        svc.do("tag 1 3")
        svc.do("cache 1 2")
        s = agent.scrape()
        expect(probs, "failed probes", s.value("sockeye_function_probes", metric="caps_tags_total",
                                               state="failed"), 0)
        expect(probs, "tags counted", s.value("caps_tags_total", service_name="caps-shop"), 3)
        expect(probs, "lookups counted", s.value("caps_lookups_total", service_name="caps-shop"),
               2)
    finally:
        svc.stop()
        agent.stop()
    check(not probs, "reload with reduced capabilities", probs)


@T.test
def promtool_and_prometheus_client_accept_the_scrape(env):
    agent, _ = setup(env)
    sc = agent.scrape()
    p = subprocess.run(["promtool", "check", "metrics"], input=sc.text, capture_output=True,
                       text=True, timeout=30)
    check(p.returncode == 0, "promtool check metrics exited %d" % p.returncode,
          (p.stdout + p.stderr).splitlines()[:20])
    from prometheus_client.parser import text_string_to_metric_families
    fams = {f.name: f for f in text_string_to_metric_families(sc.text)}
    probs = []
    for name, typ in (("shop_storage_operation_duration_seconds", "histogram"),
                      ("shop_cache_lookups", "counter"), ("shop_messages_processed", "counter"),
                      ("sockeye_function_probes", "gauge"),
                      ("sockeye_function_probe_hits", "counter")):
        f = fams.get(name)
        if f is None or f.type != typ:
            probs.append("%s: %s" % (name, "missing" if f is None else f.type))
    probes = [s for s in fams["sockeye_function_probes"].samples
              if s.labels.get("state") == "failed" and s.value != 0]
    expect(probs, "failed probes", probes, [])
    check(not probs, "families as parsed by prometheus_client", probs)


@T.test
def check_lists_each_declaration_and_where_it_is_probed(env):
    agent, d = setup(env)
    cfg_path = [a for a in agent.argv if a.startswith("--config.file=")][0].split("=", 1)[1]
    p = subprocess.run([AGENT, "--check", "--config.file=" + cfg_path], capture_output=True,
                       text=True, timeout=120)
    lines = [line for line in p.stdout.splitlines() if line.startswith("function ")]
    probs = []
    expect(probs, "exit status", p.returncode, 0)
    expect(probs, "last line", p.stdout.rstrip().splitlines()[-1:],
           ["check ok: programs load and attach"])
    expect(probs, "declarations listed", len(lines), config(d).count("- metric:"))
    want = ("function shop_cache_lookups_total attached: symbol cache_get in %s at file offset "
            % d["shopd"])
    expect(probs, "cache_get line", any(line.startswith(want) and line.endswith("(return, "
                                                                               "emulated)") or
                                        line.startswith(want) and
                                        line.endswith("(return, single-stepped)")
                                        for line in lines), True)
    want = ("function shop_messages_processed_total attached: usdt shopd:message_processed in "
            "%s, 1 site" % d["shopd"])
    expect(probs, "USDT line", want in lines, True)
    check(not probs, "--check with declared functions", probs + p.stdout.splitlines()[-14:])


@T.test
def bad_declarations_exit_1_at_start_with_file_line_column(env):
    _, d = setup(env)
    cases = [
        ("a symbol missing from the binary",
         "functions:\n  - metric: a_total\n    type: counter\n    binary: %s\n"
         "    symbol: nope\n" % d["shopd"],
         r"^(\S+):5:13: functions\[\]: no function symbol 'nope' in %s$" % re.escape(d["shopd"])),
        ("from: arg7",
         "functions:\n  - metric: a_total\n    type: counter\n    binary: %s\n"
         "    symbol: tag\n    labels:\n      - name: x\n        from: arg7\n"
         "        type: int\n" % d["shopd"],
         r"^(\S+):8:15: functions\[\]\.labels\[\]\.from: 'arg7' is not arg1\.\.arg6 or return"),
    ]
    probs = []
    for i, (name, text, pattern) in enumerate(cases):
        path = os.path.join(env.tmpdir, "bad-%d.yaml" % i)
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.run([AGENT, "--config.file=" + path,
                            "--web.listen-address=127.0.0.1:%d" % free_port()],
                           capture_output=True, text=True, timeout=30)
        m = [line for line in p.stderr.splitlines() if re.search(pattern, line)]
        if p.returncode != 1 or not m or not m[0].startswith(path):
            probs.append("%s: exit %d, stderr %r" % (name, p.returncode, p.stderr[-300:]))
    check(not probs, "bad declarations at start", probs)


if __name__ == "__main__":
    try:
        T.main()
    finally:  # after the suite stopped every process it started
        for cg in _ctx.get("cgroups", []):
            cg.remove()
