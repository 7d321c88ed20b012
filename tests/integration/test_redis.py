#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""test_redis.py - Redis client metrics, exact: a redis-server of the test's own on its own port
(temp dir, no persistence), driven by redis-cli (one command per run: counts, hits and misses,
WRONGTYPE and unknown-command errors, RESP3), DEBUG SLEEP in its bucket, redis-benchmark
pipelined 16 deep, python3-redis pipelines (within the FIFO, past it, MULTI/EXEC), pub/sub left
alone, and a connection pool's idle/used gauges at known moments, with a command outstanding at
close. Every count is the delta of the series of the test's port between two scrapes."""

import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Suite, check, fail, free_port, wait_until  # noqa: E402
from dbfamilies import CACHE, SETTLE_TIMEOUT, DbFamilies, delta  # noqa: E402

import redis  # noqa: E402  (python3-redis)

T = Suite("redis")
H = "127.0.0.1"
SERVER = {}


def start_redis(env):
    port = free_port()
    argv = ["/usr/bin/redis-server", "--port", str(port), "--bind", H, "--save", "",
            "--appendonly", "no", "--dir", env.tmpdir, "--enable-debug-command", "local",
            "--daemonize", "no", "--logfile", os.path.join(env.tmpdir, "redis.log")]
    p = env.procs.start(argv, preexec_fn=env.cgroup.enter, stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def up():
        if p.poll() is not None:
            return "exited"
        try:
            # A connection without a byte sent: nothing for the agent to count.
            socket.create_connection((H, port), timeout=1).close()
            return "up"
        except OSError:
            return None

    st = wait_until(up, 10.0, 0.05)
    check(st == "up", "redis-server on port %d: %s" % (port, st))
    SERVER["port"] = port
    return port


def port_of(env):
    return SERVER.get("port") or start_redis(env)


def cli(port, *args, resp3=False):
    argv = ["/usr/bin/redis-cli", "-h", H, "-p", str(port)] + (["-3"] if resp3 else []) + \
        [str(a) for a in args]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    check(p.returncode == 0, "%s exited %d" % (" ".join(argv), p.returncode),
          p.stderr.splitlines()[-3:])
    return p.stdout


# ---------------------------------------------------------------------------------------------
# Reading the families: every label but the ones named is summed over (identity, cgroup).

DB = DbFamilies("redis")
ops, buckets, gauges, event, expect_gauges = DB.ops, DB.buckets, DB.gauges, DB.event, \
    DB.expect_gauges


def lookups(scrape, port):
    out = {}
    for n, lab, v in scrape.samples:
        if n == CACHE and lab.get("server_port") == str(port):
            k = (lab.get("db_operation_name"), lab.get("result"))
            out[k] = out.get(k, 0) + v
    return out


def expect_delta(env, before, port, want_ops, want_lookups=None, settle=False):
    """Scrapes until the deltas at port equal want_ops (and want_lookups) or settle time ends
    (only with settle: a close's effect); returns the scrape."""
    def get():
        s = env.agent.scrape()
        d_ops = delta(ops(s, port), ops(before, port))
        d_look = delta(lookups(s, port), lookups(before, port))
        good = d_ops == want_ops and (want_lookups is None or d_look == want_lookups)
        return s, d_ops, d_look, good

    s, d_ops, d_look, good = get()
    if not good and settle:
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while not good and time.monotonic() < deadline:
            time.sleep(0.05)
            s, d_ops, d_look, good = get()
    if not good:
        fail("operations at port %d differ" % port,
             ["got  %s" % sorted(d_ops.items()), "want %s" % sorted(want_ops.items()),
              "lookups got  %s" % sorted(d_look.items()),
              "lookups want %s" % sorted((want_lookups or {}).items())])
    return s


# ---------------------------------------------------------------------------------------------

@T.test
def test_cli_commands_counts_hits_and_misses(env):
    port = port_of(env)
    before = env.agent.scrape()
    cli(port, "SET", "k1", "v1")
    cli(port, "SET", "k2", "v2")
    check(cli(port, "GET", "k1") == "v1\n", "GET k1")
    check(cli(port, "GET", "missing") == "\n", "GET missing")
    cli(port, "MGET", "k1", "missing", "k2")
    cli(port, "HSET", "h", "f1", "x")
    cli(port, "HMGET", "h", "f1", "f2", "f3")
    cli(port, "EXISTS", "k1", "k2", "nope", "h")
    cli(port, "SISMEMBER", "noset", "m")
    s = expect_delta(env, before, port,
                     {("SET", "", ""): 2, ("GET", "", ""): 2, ("MGET", "", ""): 1,
                      ("HSET", "", ""): 1, ("HMGET", "", ""): 1, ("EXISTS", "", ""): 1,
                      ("SISMEMBER", "", ""): 1},
                     {("GET", "hit"): 1, ("GET", "miss"): 1, ("MGET", "hit"): 2,
                      ("MGET", "miss"): 1, ("HMGET", "hit"): 1, ("HMGET", "miss"): 2,
                      ("EXISTS", "hit"): 3, ("EXISTS", "miss"): 1,
                      ("SISMEMBER", "miss"): 1})
    # Every redis-cli closed its connection: nothing open, nothing used.
    expect_gauges(env, port, 0, 0)
    check(event(s, "desync") == event(before, "desync"), "desync events during redis-cli")
    # Keys and values never leave the kernel.
    for secret in ("k1", "v1", "missing", "f1"):
        check('"%s"' % secret not in s.text, "%s exported as a label value" % secret)


@T.test
def test_errors_carry_their_prefix(env):
    port = port_of(env)
    cli(port, "RPUSH", "list", "a")
    before = env.agent.scrape()
    out = cli(port, "GET", "list")
    check(out.startswith("WRONGTYPE"), "GET of a list: %r" % out)
    out = cli(port, "NOSUCHCMD", "x")
    check(out.startswith("ERR unknown command"), "NOSUCHCMD: %r" % out)
    s = expect_delta(env, before, port,
                     {("GET", "WRONGTYPE", "WRONGTYPE"): 1, ("_OTHER", "ERR", "ERR"): 1},
                     {})  # an error is no lookup result
    # The unknown name itself is not a label value anywhere.
    check("NOSUCHCMD" not in s.text, "an unknown command name was exported")


@T.test
def test_debug_sleep_lands_in_its_bucket(env):
    port = port_of(env)
    before = env.agent.scrape()
    cli(port, "DEBUG", "SLEEP", "0.05")
    after = expect_delta(env, before, port, {("DEBUG", "", ""): 1})
    b0, b1 = buckets(before, port, "DEBUG"), buckets(after, port, "DEBUG")
    d = {le: b1.get(le, 0) - b0.get(le, 0) for le in b1}
    # 50 ms and a loopback round trip: above 0.05, at most 0.1.
    want = {le: (0 if float(le) < 0.1 else 1) for le in d}
    check(d == want, "DEBUG SLEEP 0.05 buckets", ["got  %s" % sorted(d.items()),
                                                  "want %s" % sorted(want.items())])
    check(set(d) == {"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
                     "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"},
          "the default db.buckets", sorted(d))


@T.test
def test_resp3_nil_is_a_miss(env):
    port = port_of(env)
    before = env.agent.scrape()
    cli(port, "GET", "missing-too", resp3=True)  # HELLO 3, then GET: "_" is RESP3's nil
    expect_delta(env, before, port, {("HELLO", "", ""): 1, ("GET", "", ""): 1},
                 {("GET", "miss"): 1})


@T.test
def test_benchmark_pipelined_16_is_exact(env):
    port = port_of(env)
    before = env.agent.scrape()
    p = subprocess.run(["/usr/bin/redis-benchmark", "-h", H, "-p", str(port), "-P", "16",
                        "-n", "10000", "-c", "10", "-t", "set,get", "-q"],
                       capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, "redis-benchmark exited %d" % p.returncode,
          p.stderr.splitlines()[-3:])
    s = env.agent.scrape()
    d = delta(ops(s, port), ops(before, port))
    check(d.get(("SET", "", "")) == 10000 and d.get(("GET", "", "")) == 10000,
          "redis-benchmark -P 16 -n 10000 -t set,get: SET %s GET %s, want 10000 each" %
          (d.get(("SET", "", "")), d.get(("GET", "", ""))), [str(sorted(d.items()))])
    # Nothing else but its start-up CONFIG GETs.
    check(set(d) <= {("SET", "", ""), ("GET", "", ""), ("CONFIG", "", "")}, "other operations",
          [str(sorted(d.items()))])
    look = delta(lookups(s, port), lookups(before, port))
    check(look == {("GET", "hit"): 10000}, "GET lookups: %s, want 10000 hits" % look)
    for ev in ("pipeline_full", "unmatched_reply", "desync", "gap"):
        check(event(s, ev) == event(before, ev), "%s events during redis-benchmark" % ev)


@T.test
def test_python_pipelines(env):
    port = port_of(env)
    r = redis.Redis(host=H, port=port)
    try:
        before = env.agent.scrape()
        pipe = r.pipeline(transaction=False)
        for i in range(20):
            pipe.set("p%d" % i, i)
        for i in range(10):
            pipe.get("p%d" % (i * 3))  # p0..p27: 7 present, 3 missing
        pipe.execute()
        s = expect_delta(env, before, port, {("SET", "", ""): 20, ("GET", "", ""): 10},
                         {("GET", "hit"): 7, ("GET", "miss"): 3})

        # MULTI/EXEC: each command counts when answered; queued reads answer +QUEUED, which
        # tells nothing about the key.
        before = s
        tx = r.pipeline(transaction=True)
        tx.set("t", 1)
        tx.get("t")
        tx.execute()
        s = expect_delta(env, before, port, {("MULTI", "", ""): 1, ("SET", "", ""): 1,
                                             ("GET", "", ""): 1, ("EXEC", "", ""): 1}, {})

        # Past the FIFO (32): the first 32 are timed, 8 counted as pipeline_full.
        before = s
        pipe = r.pipeline(transaction=False)
        for i in range(40):
            pipe.incr("counter")
        res = pipe.execute()
        check(res == list(range(1, 41)), "INCR results %s" % res[:5])
        s = expect_delta(env, before, port, {("INCRBY", "", ""): 32}, {})  # redis-py: INCRBY
        check(event(s, "pipeline_full") - event(before, "pipeline_full") == 8,
              "pipeline_full events: %d, want 8" %
              (event(s, "pipeline_full") - event(before, "pipeline_full")))
        # And exact again right after.
        before = s
        r.get("counter")
        expect_delta(env, before, port, {("GET", "", ""): 1}, {("GET", "hit"): 1})
    finally:
        r.close()
        r.connection_pool.disconnect()


@T.test
def test_async_client_sending_while_receiving_is_exact(env):
    """One connection, a sender thread and a receiver thread, up to 16 commands outstanding:
    commands leave (task context) while replies arrive (softirq), often on two CPUs at once."""
    import threading
    port = port_of(env)
    n = 5000
    cmd = b"*2\r\n$3\r\nGET\r\n$2\r\nk1\r\n"  # k1 holds "v1": "$2\r\nv1\r\n" each
    window = threading.Semaphore(16)
    sock = socket.create_connection((H, port))
    got = {"replies": 0, "err": None}

    def receive():
        buf = b""
        want = b"$2\r\nv1\r\n"
        try:
            while got["replies"] < n:
                data = sock.recv(65536)
                if not data:
                    raise RuntimeError("closed after %d replies" % got["replies"])
                buf += data
                k = len(buf) // len(want)
                check(buf[:k * len(want)] == want * k, "unexpected reply bytes")
                buf = buf[k * len(want):]
                got["replies"] += k
                for _ in range(k):
                    window.release()
        except Exception as e:  # noqa: BLE001 - reported below
            got["err"] = e

    cli(port, "SET", "k1", "v1")
    before = env.agent.scrape()
    t = threading.Thread(target=receive)
    t.start()
    for _ in range(n):
        check(window.acquire(timeout=30), "no reply for 30 s")
        sock.sendall(cmd)
    t.join(60)
    check(got["err"] is None and got["replies"] == n, "receiver: %s, %d replies" %
          (got["err"], got["replies"]))
    s = expect_delta(env, before, port, {("GET", "", ""): n}, {("GET", "hit"): n})
    for ev in ("pipeline_full", "unmatched_reply", "desync"):
        check(event(s, ev) == event(before, ev), "%s events" % ev)
    expect_gauges(env, port, 1, 0)
    sock.close()
    expect_gauges(env, port, 0, 0)


@T.test
def test_pubsub_connections_are_left_alone(env):
    port = port_of(env)
    r = redis.Redis(host=H, port=port)
    ps = r.pubsub()
    try:
        before = env.agent.scrape()
        ps.subscribe("news")
        check(wait_until(lambda: ps.get_message(timeout=0.2), 5.0) is not None,
              "no subscribe confirmation")
        n = r.publish("news", "hello")
        check(n == 1, "PUBLISH reached %d subscribers" % n)
        msg = wait_until(lambda: ps.get_message(timeout=0.2), 5.0)
        check(msg and msg["data"] == b"hello", "message %s" % msg)
        s = expect_delta(env, before, port, {("PUBLISH", "", ""): 1}, {})
        check(event(s, "connection_ignored") - event(before, "connection_ignored") == 1,
              "connection_ignored events")
        check(event(s, "unmatched_reply") == event(before, "unmatched_reply"),
              "a message taken for a reply")
        # Only the publishing connection is open, and idle.
        expect_gauges(env, port, 1, 0)
    finally:
        ps.close()
        r.close()
        r.connection_pool.disconnect()
    expect_gauges(env, port, 0, 0)


@T.test
def test_pool_gauges_at_known_moments(env):
    port = port_of(env)
    pool = redis.ConnectionPool(host=H, port=port, max_connections=5)
    conns = []
    try:
        expect_gauges(env, port, 0, 0)
        for _ in range(5):
            c = pool.get_connection("PING")
            c.send_command("PING")  # a connection is Redis from its first command
            check(c.read_response() in (b"PONG", "PONG", True), "PING")
            conns.append(c)
        expect_gauges(env, port, 5, 0)
        before = env.agent.scrape()
        # Two busy: a blocking pop each, not answered yet.
        conns[0].send_command("BLPOP", "q0", 10)
        conns[1].send_command("BLPOP", "q1", 10)
        expect_gauges(env, port, 3, 2)
        # One answered by a push from a third connection; the other closed while waiting.
        conns[2].send_command("RPUSH", "q0", "job")
        check(conns[2].read_response() == 1, "RPUSH")
        check(conns[0].read_response() == [b"q0", b"job"], "BLPOP q0")
        expect_gauges(env, port, 4, 1)
        conns[1].disconnect()
        expect_gauges(env, port, 4, 0)
        expect_delta(env, before, port,
                     {("BLPOP", "", ""): 1, ("RPUSH", "", ""): 1,
                      ("BLPOP", "", "connection_closed"): 1}, settle=True)
    finally:
        for c in conns:
            c.disconnect()
    expect_gauges(env, port, 0, 0)


@T.test
def test_redis_disable(env):
    port = port_of(env)
    other = env.start_agent(args=["--redis.disable"])
    try:
        before = other.scrape()
        cli(port, "SET", "off", "1")
        after = other.scrape()
        check(after.value("sockeye_feature_enabled", feature="redis") == 0,
              "feature redis still on with --redis.disable")
        check(not delta(ops(after, port), ops(before, port)), "operations counted while off")
        # The running agent still counts.
        check(ops(env.agent.scrape(), port).get(("SET", "", ""), 0) > 0, "main agent")
    finally:
        other.stop()


if __name__ == "__main__":
    T.main()
