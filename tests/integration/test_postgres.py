#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""test_postgres.py - PostgreSQL client metrics, exact: a PostgreSQL 15 of the test's own (initdb
in a temp directory as the postgres user, its own port on 127.0.0.1, SSL off so that every
client's SSLRequest is refused with 'N'), driven by psql (simple protocol: statement keywords
behind comments, errors with their SQLSTATE), pg_sleep in its bucket, pgbench with the extended
protocol (-M extended: unnamed statements; -M prepared: named ones) and in pipeline mode, and a
psycopg2 pool of 5 with 2 inside a transaction for the idle/used gauges. Every count is the
delta of the series of the test's port between two scrapes."""

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Suite, check, fail, wait_until, free_port  # noqa: E402
from dbfamilies import DUR, SETTLE_TIMEOUT, DbFamilies, delta  # noqa: E402

import psycopg2  # noqa: E402  (python3-psycopg2)

T = Suite("postgres")
H = "127.0.0.1"
BIN = "/usr/lib/postgresql/15/bin"
SERVER = {}


def as_postgres():
    pw = pwd.getpwnam("postgres")

    def drop():
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    return drop


def start_postgres(env):
    d = tempfile.mkdtemp(prefix="sockeye-pg-")
    SERVER["dir"] = d
    pw = pwd.getpwnam("postgres")
    os.chmod(d, 0o755)
    os.chown(d, pw.pw_uid, pw.pw_gid)
    data = os.path.join(d, "data")
    p = subprocess.run([BIN + "/initdb", "-D", data, "-A", "trust", "-U", "postgres",
                        "--no-sync", "-E", "UTF8"], preexec_fn=as_postgres(),
                       capture_output=True, text=True, timeout=120, cwd=d)
    check(p.returncode == 0, "initdb exited %d" % p.returncode, p.stderr.splitlines()[-5:])
    port = free_port()
    argv = [BIN + "/postgres", "-D", data, "-p", str(port), "-k", d,
            "-c", "listen_addresses=" + H, "-c", "fsync=off", "-c", "ssl=off",
            "-c", "max_connections=40", "-c", "shared_buffers=16MB"]
    log = open(os.path.join(d, "postgres.log"), "w")
    proc = env.procs.start(argv, preexec_fn=as_postgres(), stdin=subprocess.DEVNULL,
                           stdout=log, stderr=log, cwd=d)

    def up():
        if proc.poll() is not None:
            return "exited"
        r = subprocess.run([BIN + "/pg_isready", "-h", H, "-p", str(port)],
                           capture_output=True)
        return "up" if r.returncode == 0 else None

    st = wait_until(up, 30.0, 0.1)
    check(st == "up", "postgres on port %d: %s" % (port, st))
    SERVER["port"] = port
    SERVER["proc"] = proc
    return port


def port_of(env):
    return SERVER.get("port") or start_postgres(env)


def psql(port, *cmds, ok=True):
    argv = ["/usr/bin/psql", "-X", "-q", "-h", H, "-p", str(port), "-U", "postgres",
            "-d", "postgres", "-v", "ON_ERROR_STOP=0"]
    for c in cmds:
        argv += ["-c", c]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if ok:
        check(p.returncode == 0, "psql exited %d" % p.returncode, p.stderr.splitlines()[-3:])
    return p


def pgbench(port, *args):
    argv = [BIN + "/pgbench", "-h", H, "-p", str(port), "-U", "postgres"] + list(args) + \
        ["postgres"]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    check(p.returncode == 0, "%s exited %d" % (" ".join(argv), p.returncode),
          (p.stdout + p.stderr).splitlines()[-5:])
    return p.stdout


DB = DbFamilies("postgresql")
ops, buckets, event, expect_gauges = DB.ops, DB.buckets, DB.event, DB.expect_gauges


def expect_delta(env, before, port, want):
    def get():
        s = env.agent.scrape()
        d = delta(ops(s, port), ops(before, port))
        return s, d, d == want

    s, d, good = get()
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while not good and time.monotonic() < deadline:
        time.sleep(0.05)
        s, d, good = get()
    if not good:
        fail("operations at port %d differ" % port,
             ["got  %s" % sorted(d.items()), "want %s" % sorted(want.items())])
    return s


# ---------------------------------------------------------------------------------------------

@T.test
def test_psql_statements_by_keyword(env):
    port = port_of(env)
    before = env.agent.scrape()
    p = psql(port, "CREATE TABLE items (id int PRIMARY KEY, name text)",
         "INSERT INTO items VALUES (1, 'secret-one')",
         "insert into items values (2, 'secret-two')",
         "SELECT name FROM items WHERE id = 1",
         "  /* a comment */ select count(*) from items",
         "-- a line comment\n(SELECT 2)",
         "UPDATE items SET name = 'x' WHERE id = 2",
         "DELETE FROM items WHERE id = 1",
         "BEGIN", "SELECT 1", "COMMIT",
         "NOSUCHWORD is not sql", ok=False)  # an error whose keyword is not one: _OTHER
    check(p.returncode == 1 and "syntax error" in p.stderr, "psql: the last command fails",
          p.stderr.splitlines()[-3:])
    s = expect_delta(env, before, port,
                     {("CREATE", "", ""): 1, ("INSERT", "", ""): 2, ("SELECT", "", ""): 4,
                      ("UPDATE", "", ""): 1, ("DELETE", "", ""): 1, ("BEGIN", "", ""): 1,
                      ("COMMIT", "", ""): 1, ("_OTHER", "42601", "42601"): 1})
    expect_gauges(env, port, 0, 0)
    for secret in ("secret-one", "items", "NOSUCHWORD"):
        check(secret not in s.text, "%s exported" % secret)
    check(event(s, "desync") == event(before, "desync"), "desync during psql")


@T.test
def test_errors_carry_their_sqlstate(env):
    port = port_of(env)
    before = env.agent.scrape()
    check(psql(port, "SELECT 1/0", ok=False).returncode != 0, "division by zero succeeded")
    check(psql(port, "SELECT * FROM no_such_table", ok=False).returncode != 0, "no table")
    check(psql(port, "INSERT INTO items VALUES (2, 'dup')", ok=False).returncode != 0,
          "duplicate key")
    expect_delta(env, before, port,
                 {("SELECT", "22012", "22012"): 1, ("SELECT", "42P01", "42P01"): 1,
                  ("INSERT", "23505", "23505"): 1})


@T.test
def test_pg_sleep_lands_in_its_bucket(env):
    port = port_of(env)
    c = psycopg2.connect(host=H, port=port, user="postgres", dbname="postgres")
    try:
        c.autocommit = True
        cur = c.cursor()
        before = env.agent.scrape()
        t0 = time.monotonic()
        cur.execute("SELECT pg_sleep(0.05)")
        took = time.monotonic() - t0
    finally:
        c.close()
    after = expect_delta(env, before, port, {("SELECT", "", ""): 1})
    b0, b1 = buckets(before, port, "SELECT"), buckets(after, port, "SELECT")
    d = {le: b1.get(le, 0) - b0.get(le, 0) for le in b1}
    # The agent's duration is at least the 50 ms slept and at most what the client saw (its
    # query left after t0, its answer came before the call returned): below 0.05 no bucket
    # counts it, from the client's time on every bucket does (0.1 unless the host is loaded).
    bad = {le: n for le, n in d.items()
           if (float(le) < 0.05 and n != 0) or (float(le) >= took and n != 1)}
    check(not bad, "pg_sleep(0.05) buckets (client saw %.4f s)" % took,
          ["got %s" % sorted(d.items())])
    check(took >= 0.1 or d.get("0.1") == 1, "le=0.1 after %.4f s" % took)


def bench_script(env, name, text):
    path = os.path.join(SERVER["dir"], name)
    with open(path, "w") as f:
        f.write(text)
    return path


SCRIPT = """\\set id random(1, 100)
SELECT name FROM items WHERE id = :id;
UPDATE items SET name = name WHERE id = :id;
"""


def pgbench_exact(env, mode):
    """2 clients x 50 transactions of SCRIPT in protocol mode: 100 of each statement."""
    port = port_of(env)
    f = bench_script(env, mode + ".sql", SCRIPT)
    before = env.agent.scrape()
    pgbench(port, "-n", "-M", mode, "-c", "2", "-t", "50", "-f", f)
    expect_delta(env, before, port, {("SELECT", "", ""): 100, ("UPDATE", "", ""): 100})
    expect_gauges(env, port, 0, 0)


@T.test
def test_pgbench_extended_protocol_unnamed_statements(env):
    pgbench_exact(env, "extended")


@T.test
def test_pgbench_prepared_named_statements(env):
    pgbench_exact(env, "prepared")


@T.test
def test_pgbench_pipeline_mode(env):
    port = port_of(env)
    f = bench_script(env, "pipe.sql", """\\set id random(1, 100)
\\startpipeline
SELECT name FROM items WHERE id = :id;
SELECT 1;
UPDATE items SET name = name WHERE id = :id;
INSERT INTO log_items VALUES (:id);
\\endpipeline
""")
    psql(port, "CREATE TABLE log_items (id int)")
    for mode in ("extended", "prepared"):
        before = env.agent.scrape()
        pgbench(port, "-n", "-M", mode, "-c", "1", "-t", "40", "-f", f)
        expect_delta(env, before, port, {("SELECT", "", ""): 80, ("UPDATE", "", ""): 40,
                                         ("INSERT", "", ""): 40})
    s = env.agent.scrape()
    check(event(s, "pipeline_full") == 0, "pipeline_full events")


@T.test
def test_pool_gauges_at_known_moments(env):
    port = port_of(env)
    conns = []
    try:
        expect_gauges(env, port, 0, 0)
        for _ in range(5):
            c = psycopg2.connect(host=H, port=port, user="postgres", dbname="postgres",
                                 sslmode="prefer")
            c.autocommit = True
            conns.append(c)
        expect_gauges(env, port, 5, 0)
        before = env.agent.scrape()
        for c in conns[:2]:  # two busy: a transaction open on each
            c.autocommit = False
            c.cursor().execute("SELECT 1")
        expect_gauges(env, port, 3, 2)
        conns[0].commit()
        expect_gauges(env, port, 4, 1)
        conns[1].rollback()
        expect_gauges(env, port, 5, 0)
        expect_delta(env, before, port, {("BEGIN", "", ""): 2, ("SELECT", "", ""): 2,
                                         ("COMMIT", "", ""): 1, ("ROLLBACK", "", ""): 1})
        # A statement outstanding at close ends as connection_closed.
        conns[2].cursor().execute("SELECT 1")  # counted
        before = env.agent.scrape()
        r = subprocess.Popen(["/usr/bin/psql", "-X", "-q", "-h", H, "-p", str(port), "-U",
                              "postgres", "-c", "SELECT pg_sleep(20)"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            expect_gauges(env, port, 5, 1)
        finally:
            r.kill()
            r.wait()
        expect_gauges(env, port, 5, 0)
        expect_delta(env, before, port, {("SELECT", "", "connection_closed"): 1})
    finally:
        for c in conns:
            c.close()
    expect_gauges(env, port, 0, 0)


@T.test
def test_exposition_is_valid(env):
    port = port_of(env)
    psql(port, "SELECT 1")
    sc = env.agent.scrape()
    check("# TYPE %s histogram" % DUR in sc.text, "no db duration family")
    p = subprocess.run(["promtool", "check", "metrics"], input=sc.text, capture_output=True,
                       text=True, timeout=30)
    out = (p.stdout + p.stderr).strip().splitlines()
    check(p.returncode == 0, "promtool check metrics exited %d" % p.returncode, out[:30])
    from prometheus_client.parser import text_string_to_metric_families
    fams = {f.name for f in text_string_to_metric_families(sc.text)}
    check("db_client_operation_duration_seconds" in fams, "prometheus_client parser", [])


@T.test
def test_postgresql_disable(env):
    port = port_of(env)
    other = env.start_agent(args=["--postgresql.disable"])
    try:
        before = other.scrape()
        psql(port, "SELECT 1")
        after = other.scrape()
        check(after.value("sockeye_feature_enabled", feature="postgresql") == 0,
              "feature postgresql still on with --postgresql.disable")
        check(not delta(ops(after, port), ops(before, port)), "operations counted while off")
    finally:
        other.stop()


def cleanup():
    p = SERVER.get("proc")
    if p is not None and p.poll() is None:
        p.send_signal(signal.SIGINT)  # fast shutdown
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if SERVER.get("dir"):
        shutil.rmtree(SERVER["dir"], ignore_errors=True)


if __name__ == "__main__":
    try:
        T.main()
    finally:
        cleanup()
