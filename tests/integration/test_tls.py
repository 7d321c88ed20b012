#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""test_tls.py - HTTPS through the OpenSSL uprobes: nginx `ssl` and python http.server wrapped in
ssl, driven by curl and http.client over HTTPS, with exact server and client counts; both probe
modes; libraries found after start, replaced on disk and in another mount namespace; no state
left by a process that exits; no mis-attribution when an SSL object's address is reused. With
tlsbio.py (OpenSSL called through ctypes, a private libssl copy so that the per-library
counters are ours alone): how each kind of BIO finds its socket (socket BIO descriptor, the I/O
scan of a BIO of its own, none for memory BIOs), and exactly two breakpoints per SSL call.

Certificates are made by the suite (`openssl req -x509`), for 127.0.0.1, and clients verify
them. Run as `test_tls.py pyserver-tls PROTO HOST CERT KEY` to get the TLS python server (it
prints "READY <port>" once listening).
"""

import json
import os
import select
import shlex
import shutil
import signal
import ssl
import struct
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (CLIENT_TIMEOUT, NGINX_LOCATIONS, PYTHON, QUERY, SERVER_START_TIMEOUT,  # noqa: E402
                     UUID, Procs, Req, Suite, Traffic, assert_counts, check, fail, free_port,
                     http_delta, scrape_after, url_host, wait_until)

T = Suite("tls")
H = "127.0.0.1"
HERE = os.path.abspath(__file__)
U = "/users/{id}"
ITEMS = "/orders/{id}/items"
ITEMS_PATH = "/orders/%s/items" % UUID
ATTACH_TIMEOUT = 20.0  # an exec'd process is looked at up to 10 s after its exec
DETACH_TIMEOUT = 20.0  # libraries nobody maps are checked every 2 s
STATE_TIMEOUT = 5.0


# ---------------------------------------------------------------------------------------------
# Certificates, library paths, agent internals.

_certs = {}


def certs(env):
    """(cert, key) for 127.0.0.1, made once per suite in its temp dir."""
    if env.tmpdir not in _certs:
        cert = os.path.join(env.tmpdir, "cert.pem")
        key = os.path.join(env.tmpdir, "key.pem")
        p = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                            "-addext", "subjectAltName=IP:127.0.0.1"],
                           capture_output=True, text=True, timeout=60)
        check(p.returncode == 0, "openssl req -x509 failed", p.stderr.splitlines()[-3:])
        _certs[env.tmpdir] = (cert, key)
    return _certs[env.tmpdir]


def system_libssl():
    """The libssl file this python (and so the system's curl and nginx) maps."""
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and os.path.basename(parts[5]).startswith("libssl.so"):
                return parts[5]
    fail("test premise: python's ssl module maps no libssl.so*")


def probe_modes(scrape):
    """{library: mode} of sockeye_tls_probe_mode."""
    return {l["library"]: l["mode"] for n, l, v in scrape.samples
            if n == "sockeye_tls_probe_mode" and v == 1}


def wait_attached(agent, library, timeout=ATTACH_TIMEOUT):
    """Waits until the agent reports probes on library; returns its mode."""
    def attached():
        return probe_modes(agent.scrape()).get(library)

    mode = wait_until(attached, timeout, 0.1)
    if not mode:
        fail("the agent did not attach to %s within %.0f s" % (library, timeout),
             ["probed: %r" % probe_modes(agent.scrape())] + agent.log_tail())
    return mode


def agent_map_id(agent, name):
    """Kernel id of the agent's BPF map called name (from its fdinfo and bpftool)."""
    ids = set()
    fdinfo = "/proc/%d/fdinfo" % agent.proc.pid
    for fd in os.listdir(fdinfo):
        try:
            with open(os.path.join(fdinfo, fd)) as f:
                for line in f:
                    if line.startswith("map_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            continue
    maps = json.loads(subprocess.run(["bpftool", "-j", "map", "show"], capture_output=True,
                                     text=True, timeout=30, check=True).stdout)
    found = [m["id"] for m in maps if m["id"] in ids and m.get("name") == name]
    check(len(found) == 1, "test premise: the agent holds %d maps named %s" % (len(found), name))
    return found[0]


def tls_conn_keys(agent):
    """[(tgid, ssl)] of the agent's tls_conns map (struct sockeye_tls_conn_key)."""
    mid = agent_map_id(agent, "tls_conns")
    out = subprocess.run(["bpftool", "-j", "map", "dump", "id", str(mid)], capture_output=True,
                         text=True, timeout=30, check=True).stdout
    keys = []
    for e in json.loads(out):
        raw = bytes(int(b, 16) for b in e["key"])
        tgid, _, ssl_ptr = struct.unpack("<IIQ", raw)
        keys.append((tgid, ssl_ptr))
    return keys


def active(scrape, role, port):
    """Sum of http_{role}_active_requests for server_port (every method)."""
    return scrape.value("http_%s_active_requests" % role, server_port=port)


def check_no_requests_in_flight(agent, port):
    """Both in-flight gauges of port settle at 0 (bounded wait: ends are counted when the
    client or server next runs)."""
    def idle():
        sc = agent.scrape()
        return all(active(sc, r, port) == 0 for r in ("server", "client"))

    if not wait_until(idle, STATE_TIMEOUT, 0.1):
        sc = agent.scrape()
        fail("requests still in flight on port %d: server %s, client %s"
             % (port, active(sc, "server", port), active(sc, "client", port)))


def nginx_workers(ngx):
    with open("/proc/%d/task/%d/children" % (ngx.proc.pid, ngx.proc.pid)) as f:
        return [int(x) for x in f.read().split()]


# ---------------------------------------------------------------------------------------------
# Servers and clients.

def tls_locations(env, ports):
    cert, key = certs(env)
    s = "".join("        listen %s:%d ssl;\n" % (H, p) for p in ports)
    s += "        ssl_certificate %s;\n        ssl_certificate_key %s;\n" % (cert, key)
    return s + NGINX_LOCATIONS


def tls_nginx(env, n_ports=1):
    """nginx serving plain HTTP on ngx.port and HTTPS on each port of the returned list."""
    ports = [free_port(H) for _ in range(n_ports)]
    return env.nginx(locations=tls_locations(env, ports)), ports


class TLSPyServer:
    """python http.server (harness's handler) wrapped in ssl, in the test cgroup.
    libdir: LD_LIBRARY_PATH holding a private libssl copy. ns_dir: run in a new mount namespace
    with a tmpfs on ns_dir holding the copy (invisible from the agent's namespace)."""

    def __init__(self, env, proto="1.1", libdir=None, ns_dir=None):
        cert, key = certs(env)
        argv = [PYTHON, HERE, "pyserver-tls", proto, H, cert, key]
        environ = dict(os.environ)
        if libdir:
            environ["LD_LIBRARY_PATH"] = libdir
        if ns_dir:
            script = "mount -t tmpfs sockeye-test %s && cp %s %s/ && exec \"$@\"" % (
                shlex.quote(ns_dir), shlex.quote(system_libssl()), shlex.quote(ns_dir))
            argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script,
                    "sh"] + argv
            environ["LD_LIBRARY_PATH"] = ns_dir
        self.proc = env.procs.start(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                    preexec_fn=env.cgroup.enter, env=environ)
        r, _, _ = select.select([self.proc.stdout], [], [], SERVER_START_TIMEOUT)
        line = self.proc.stdout.readline().decode() if r else ""
        if not line.startswith("READY "):
            Procs.stop(self.proc)
            fail("TLS python http.server did not start: %r" % line)
        self.port = int(line.split()[1])

    def stop(self):
        Procs.stop(self.proc)


def https_session(port, reqs, ca, version="1.1", close=False):
    """One curl invocation for all reqs over HTTPS (verifying ca); close=True sends
    `Connection: close` so that each request has a TLS connection of its own. Returns the
    number of connections curl opened. Fails on any wrong status."""
    argv = ["curl"]
    base = "https://%s:%d" % (url_host(H), port)
    for i, r in enumerate(reqs):
        if i:
            argv.append("--next")
        argv += ["-sS", "-g", "--max-time", "20", "-o", "/dev/null", "--cacert", ca,
                 "-w", "%{http_code} %{num_connects}\\n",
                 "--http1.0" if version == "1.0" else "--http1.1"]
        if close:
            argv += ["-H", "Connection: close"]
        if r.method == "HEAD":
            argv.append("-I")
        elif r.method != "GET":
            argv += ["-X", r.method]
        if r.body is not None:
            argv += ["--data-binary", r.body]
        for k, v in r.headers.items():
            argv += ["-H", "%s: %s" % (k, v)]
        argv.append(base + r.target)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=CLIENT_TIMEOUT)
    lines = p.stdout.split()
    codes = [int(x) for x in lines[0::2]]
    want = [r.status for r in reqs]
    check(p.returncode == 0 and codes == want,
          "curl over HTTPS failed: exit %d, statuses %s, want %s" % (p.returncode, codes, want),
          [p.stderr.strip()])
    return sum(int(x) for x in lines[1::2])


def tls_context(ca):
    return ssl.create_default_context(cafile=ca)


def httpsclient_session(port, reqs, ca, close=False):
    """All reqs through one http.client.HTTPSConnection (it reconnects when the server closes;
    close=True asks it to after each request). Returns the connections it opened."""
    class Counting(harness.http.client.HTTPSConnection):
        connects = 0

        def connect(self):
            Counting.connects += 1
            super().connect()

    conn = Counting(H, port, timeout=CLIENT_TIMEOUT, context=tls_context(ca))
    try:
        for r in reqs:
            body = r.body.encode() if isinstance(r.body, str) else r.body
            headers = dict(r.headers)
            if close:
                headers["Connection"] = "close"
            conn.request(r.method, r.target, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            check(resp.status == r.status, "http.client over HTTPS: %r got %d" % (r, resp.status))
    finally:
        conn.close()
    return Counting.connects


def nginx_mix():
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


def pyserver_mix():
    return [
        Req("GET", "/users/42", 200, U),
        Req("GET", "/", 200, "/"),
        Req("HEAD", "/users/1", 200, U),
        Req("POST", ITEMS_PATH, 201, ITEMS, body="abc"),
        Req("POST", "/echo", 200, "/echo", body="HTTP/1.1 500 lookalike"),
        Req("PUT", "/users/2", 204, U, body="x"),
        Req("DELETE", "/users/3", 200, U),
        Req("GET", "/boom", 500, "/boom"),
        Req("GET", "/cached", 304, "/cached"),
        Req("GET", "/chunked", 200, "/chunked"),
        Req("OPTIONS", "/users/4", 200, U),
        Req("GET", "/nope", 404, "/nope"),
    ]


def nginx_workload(env, agent, ngx, port):
    """curl (keep-alive and not) and http.client (keep-alive and not) over HTTPS against
    nginx; asserts exact server and client counts on the agent. Returns the delta."""
    ca = certs(env)[0]
    tr = Traffic()
    before = agent.scrape()
    reqs = nginx_mix() * 2
    n = https_session(port, reqs, ca)
    check(n == 1, "test premise: curl opened %d connections for one keep-alive session" % n)
    tr.add(reqs, "1.1", "curl over HTTPS, keep-alive, one connection")
    reqs = nginx_mix()
    n = https_session(port, reqs, ca, close=True)
    check(n == len(reqs), "test premise: curl opened %d connections for %d requests with "
          "Connection: close" % (n, len(reqs)))
    tr.add(reqs, "1.1", "curl over HTTPS, Connection: close, a connection each")
    reqs = nginx_mix()
    https_session(port, reqs, ca, version="1.0")
    tr.add(reqs, "1.0", "curl --http1.0 over HTTPS")
    reqs = (nginx_mix() * 3)[:25]
    n = httpsclient_session(port, reqs, ca)
    check(n == 1, "test premise: HTTPSConnection opened %d connections for one session" % n)
    tr.add(reqs, "1.1", "http.client HTTPSConnection, keep-alive")
    reqs = nginx_mix()
    n = httpsclient_session(port, reqs, ca, close=True)
    check(n == len(reqs), "test premise: HTTPSConnection opened %d connections" % n)
    tr.add(reqs, "1.1", "http.client HTTPSConnection, Connection: close")
    after = scrape_after(agent, before, port, tr.expected)
    assert_counts(before, after, port, tr)
    check_no_requests_in_flight(agent, port)
    return {role: http_delta(before, after, role, port) for role in ("server", "client")}


# ---------------------------------------------------------------------------------------------
# Tests.

@T.test
def nginx_https_counts_server_and_client_exactly(env):
    ngx, (port,) = tls_nginx(env)
    try:
        check(wait_attached(env.agent, system_libssl()) == "internal",
              "auto mode chose %r for the system libssl, want internal" %
              probe_modes(env.agent.scrape()).get(system_libssl()))
        nginx_workload(env, env.agent, ngx, port)
    finally:
        ngx.stop()


@T.test
def https_and_plain_http_give_the_same_series(env):
    """The same requests over HTTPS and over plain HTTP (one nginx, two listeners): the same
    series with the port as the only difference, and no ciphertext counted anywhere."""
    ngx, (port,) = tls_nginx(env)
    ca = certs(env)[0]
    try:
        before = env.agent.scrape()
        reqs = nginx_mix()
        https_session(port, reqs, ca)
        harness.curl_session(H, ngx.port, reqs)
        tr = Traffic()
        tr.add(reqs, "1.1", "curl, keep-alive, over HTTPS and again over plain HTTP")
        after = scrape_after(env.agent, before, port, tr.expected)
        assert_counts(before, after, port, tr)
        assert_counts(before, after, ngx.port, tr)
    finally:
        ngx.stop()


@T.test
def python_https_server_started_after_the_agent(env):
    srv = TLSPyServer(env)
    ca = certs(env)[0]
    try:
        tr = Traffic()
        before = env.agent.scrape()
        reqs = pyserver_mix() * 2
        n = https_session(srv.port, reqs, ca)
        check(n == 1, "test premise: curl opened %d connections" % n)
        tr.add(reqs, "1.1", "curl over HTTPS, keep-alive")
        reqs = pyserver_mix()
        https_session(srv.port, reqs, ca, close=True)
        tr.add(reqs, "1.1", "curl over HTTPS, Connection: close")
        after = scrape_after(env.agent, before, srv.port, tr.expected)
        assert_counts(before, after, srv.port, tr)
    finally:
        srv.stop()


@T.test
def concurrent_connections_from_many_threads_count_exactly(env):
    """12 client threads, each with its own keep-alive connection, against the threaded python
    server (a thread per connection) and nginx: per-thread call state and per-connection
    state stay apart."""
    srv = TLSPyServer(env)
    ngx, (nport,) = tls_nginx(env)
    ca = certs(env)[0]
    try:
        before = env.agent.scrape()
        errors = []

        def client(port, reqs):
            try:
                httpsclient_session(port, reqs, ca)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

        plan = []
        for i in range(12):
            plan.append((srv.port, pyserver_mix()[i % 6:] + pyserver_mix()))
            plan.append((nport, nginx_mix()[i % 5:] + nginx_mix()))
        threads = [threading.Thread(target=client, args=p) for p in plan]
        for t in threads:
            t.start()
        for t in threads:
            t.join(CLIENT_TIMEOUT * 2)
        check(not errors and not any(t.is_alive() for t in threads),
              "client threads failed", errors[:5])
        for port in (srv.port, nport):
            tr = Traffic()
            for p, reqs in plan:
                if p == port:
                    tr.add(reqs, "1.1", "a client thread's keep-alive connection")
            after = scrape_after(env.agent, before, port, tr.expected)
            assert_counts(before, after, port, tr)
    finally:
        srv.stop()
        ngx.stop()


@T.test
def library_without_internal_functions_falls_back_to_public(env):
    """A libssl.so* that fails the internal-function checks (GnuTLS's OpenSSL compatibility
    library: SSL_read and SSL_write, no _ex forms) is probed at its public symbols in auto
    mode and not at all with --tls.probe-mode=internal."""
    compat = "/usr/lib/%s-linux-gnu/libgnutls-openssl.so.27" % os.uname().machine
    check(os.path.exists(compat), "test premise: %s is installed" % compat)
    libdir = os.path.join(env.tmpdir, "compat-lib")
    os.makedirs(libdir, exist_ok=True)
    lib = os.path.join(libdir, "libssl.so.3")
    shutil.copy(compat, lib)
    strict = env.start_agent(args=["--tls.probe-mode=internal"])
    environ = dict(os.environ, LD_PRELOAD=lib)
    sleeper = env.procs.start(["sleep", "60"], env=environ, stdin=subprocess.DEVNULL,
                              preexec_fn=env.cgroup.enter)
    try:
        check(wait_attached(env.agent, lib) == "public",
              "auto mode: %s probed as %r, want public" % (lib, probe_modes(env.agent.scrape())))
        check(wait_attached(strict, system_libssl()) == "internal",
              "--tls.probe-mode=internal: the system libssl is not probed internally")
        logged = wait_until(lambda: any("not probed" in x and lib in x
                                        for x in strict.log_tail(50)), ATTACH_TIMEOUT, 0.2)
        check(logged, "--tls.probe-mode=internal: no error about %s in the log" % lib,
              strict.log_tail())
        check(lib not in probe_modes(strict.scrape()),
              "--tls.probe-mode=internal: %s is probed anyway" % lib)
    finally:
        Procs.stop(sleeper)
        st = strict.stop()
        check(st == 0, "agent with --tls.probe-mode=internal exited with %s" % st)


@T.test
def both_probe_modes_count_the_same(env):
    ngx, (port,) = tls_nginx(env)
    deltas = {}
    try:
        for mode in ("internal", "public"):
            agent = env.start_agent(args=["--tls.probe-mode=" + mode])
            try:
                got = wait_attached(agent, system_libssl())
                check(got == mode, "--tls.probe-mode=%s: the agent reports mode %r" % (mode, got))
                deltas[mode] = nginx_workload(env, agent, ngx, port)
            finally:
                st = agent.stop()
                check(st == 0, "agent (%s) exited with %s" % (mode, st), agent.log_tail())
        for role in ("server", "client"):
            a = {k: v.count for k, v in deltas["internal"][role].items()}
            b = {k: v.count for k, v in deltas["public"][role].items()}
            check(a == b, "%s counts differ between probe modes" % role,
                  ["internal: %r" % a, "public: %r" % b])
    finally:
        ngx.stop()


@T.test
def private_libssl_copy_is_found_when_its_process_starts(env):
    """A process started after the agent maps its own copy of libssl (another inode): the
    exec is followed, the copy attached once, and counted exactly; it is detached once the
    process is gone."""
    libdir = os.path.join(env.tmpdir, "private-lib")
    os.makedirs(libdir, exist_ok=True)
    lib = os.path.join(libdir, os.path.basename(system_libssl()))
    shutil.copy(system_libssl(), lib)
    srv = TLSPyServer(env, libdir=libdir)
    ca = certs(env)[0]
    try:
        wait_attached(env.agent, lib)
        tr = Traffic()
        before = env.agent.scrape()
        reqs = pyserver_mix()
        https_session(srv.port, reqs, ca)
        tr.add(reqs, "1.1", "curl over HTTPS (system libssl) to a server with its own copy")
        after = scrape_after(env.agent, before, srv.port, tr.expected)
        assert_counts(before, after, srv.port, tr)
    finally:
        srv.stop()
    gone = wait_until(lambda: lib not in probe_modes(env.agent.scrape()), DETACH_TIMEOUT, 0.2)
    check(gone, "the agent still probes %s after its only user exited" % lib)
    check(system_libssl() in probe_modes(env.agent.scrape()),
          "the system libssl is no longer probed")


@T.test
def library_deleted_on_disk_is_reached_through_map_files(env):
    libdir = os.path.join(env.tmpdir, "deleted-lib")
    os.makedirs(libdir, exist_ok=True)
    lib = os.path.join(libdir, os.path.basename(system_libssl()))
    shutil.copy(system_libssl(), lib)
    srv = TLSPyServer(env, libdir=libdir)
    ca = certs(env)[0]
    agent = None
    try:
        os.unlink(lib)
        agent = env.start_agent()  # its start-up scan sees only "... (deleted)"
        wait_attached(agent, lib + " (deleted)")
        tr = Traffic()
        before = agent.scrape()
        reqs = pyserver_mix()
        https_session(srv.port, reqs, ca)
        tr.add(reqs, "1.1", "curl over HTTPS to a server whose libssl was deleted")
        after = scrape_after(agent, before, srv.port, tr.expected)
        assert_counts(before, after, srv.port, tr)
    finally:
        srv.stop()
        if agent is not None:
            st = agent.stop()
            check(st == 0, "second agent exited with %s" % st, agent.log_tail())


@T.test
def library_in_another_mount_namespace_is_reached(env):
    """The server runs in its own mount namespace with libssl on a tmpfs the agent cannot see
    by path (as in a container)."""
    ns_dir = os.path.join(env.tmpdir, "ns-lib")
    os.makedirs(ns_dir, exist_ok=True)
    lib = os.path.join(ns_dir, os.path.basename(system_libssl()))
    srv = TLSPyServer(env, ns_dir=ns_dir)
    ca = certs(env)[0]
    try:
        check(not os.path.exists(lib), "test premise: %s is visible outside the namespace" % lib)
        wait_attached(env.agent, lib)
        tr = Traffic()
        before = env.agent.scrape()
        reqs = pyserver_mix()
        https_session(srv.port, reqs, ca)
        tr.add(reqs, "1.1", "curl over HTTPS to a server in another mount namespace")
        after = scrape_after(env.agent, before, srv.port, tr.expected)
        assert_counts(before, after, srv.port, tr)
    finally:
        srv.stop()


@T.test
def killed_process_leaves_no_connection_state(env):
    ngx, (port,) = tls_nginx(env)
    ca = certs(env)[0]
    conns = []
    try:
        for i in range(5):  # open keep-alive connections, left open
            c = harness.http.client.HTTPSConnection(H, port, timeout=CLIENT_TIMEOUT,
                                                    context=tls_context(ca))
            c.request("GET", "/users/%d" % i)
            c.getresponse().read()
            conns.append(c)
        workers = nginx_workers(ngx)
        check(len(workers) == 1, "test premise: nginx has %d workers" % len(workers))
        worker = workers[0]
        held = [k for k in tls_conn_keys(env.agent) if k[0] == worker]
        mine = [k for k in tls_conn_keys(env.agent) if k[0] == os.getpid()]
        check(len(held) == 5 and len(mine) == 5,
              "test premise: %d states for the nginx worker, %d for this client; want 5 and 5"
              % (len(held), len(mine)))
        os.kill(worker, signal.SIGKILL)  # no SSL_free: only the exit can clean up
        left = wait_until(lambda: not [k for k in tls_conn_keys(env.agent) if k[0] == worker],
                          STATE_TIMEOUT, 0.1)
        check(left, "connection state of the killed nginx worker %d is still in tls_conns"
              % worker)
        for c in conns:
            c.close()  # SSL_free
        conns = []
        mine = [k for k in tls_conn_keys(env.agent) if k[0] == os.getpid()]
        check(not mine, "closed connections left %d states in tls_conns" % len(mine))
    finally:
        for c in conns:
            c.close()
        ngx.stop()


@T.test
def server_killed_mid_request_leaves_nothing_in_flight(env):
    """A connection's first request is in flight (its body never completes) when the TLS server
    is killed: both gauges show it, then return to 0: the server's state goes with its
    process, the client's with SSL_free."""
    srv = TLSPyServer(env)
    ca = certs(env)[0]
    raw = tls_context(ca).wrap_socket(harness.connect(H, srv.port), server_hostname=H)
    try:
        raw.sendall(b"POST /orders/1/items HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
        seen = wait_until(lambda: all(active(env.agent.scrape(), r, srv.port) == 1
                                      for r in ("server", "client")), STATE_TIMEOUT, 0.05)
        sc = env.agent.scrape()
        check(seen, "test premise: the request is not in flight: server %s, client %s"
              % (active(sc, "server", srv.port), active(sc, "client", srv.port)))
        os.kill(srv.proc.pid, signal.SIGKILL)
        try:
            check(raw.recv(100) == b"", "a killed server answered")
        except OSError:
            pass  # a reset: as good as the end of the stream
        raw.close()  # SSL_free
        check_no_requests_in_flight(env.agent, srv.port)
    finally:
        raw.close()
        srv.stop()


@T.test
def reused_ssl_object_is_not_attributed_to_the_old_connection(env):
    """A client alternates connections to two ports; each connection is freed before the
    next, so OpenSSL reuses SSL object addresses. Every request lands on its own port."""
    ngx, (port_a, port_b) = tls_nginx(env, n_ports=2)
    ca = certs(env)[0]
    try:
        tr = Traffic()
        before = env.agent.scrape()
        seen = {port_a: set(), port_b: set()}
        rounds = 8
        for i in range(rounds):
            for port in (port_a, port_b):
                c = harness.http.client.HTTPSConnection(H, port, timeout=CLIENT_TIMEOUT,
                                                        context=tls_context(ca))
                c.request("GET", "/users/%d" % i)
                r = c.getresponse()
                r.read()
                check(r.status == 200, "GET on port %d: %d" % (port, r.status))
                seen[port] |= {k[1] for k in tls_conn_keys(env.agent) if k[0] == os.getpid()}
                c.close()
        reused = seen[port_a] & seen[port_b]
        check(reused, "test premise: no SSL object address was used for both ports",
              ["port %d: %s" % (p, sorted(hex(x) for x in s)) for p, s in seen.items()])
        want = Traffic()
        want.add([Req("GET", "/users/1", 200, U)] * rounds, "1.1", "one connection each")
        for port in (port_a, port_b):
            after = scrape_after(env.agent, before, port, want.expected)
            assert_counts(before, after, port, want)
        changed = after.value("sockeye_tls_events_total", event="socket_changed") - \
            before.value("sockeye_tls_events_total", event="socket_changed")
        check(changed == 0, "SSL_free did not clear the state: %d resets by the socket check"
              % changed)
    finally:
        ngx.stop()


@T.test
def tls_disable_leaves_https_uncounted(env):
    ngx, (port,) = tls_nginx(env)
    ca = certs(env)[0]
    agent = env.start_agent(args=["--tls.disable"])
    try:
        before = agent.scrape()
        check(not [n for n, l, v in before.samples if n.startswith("sockeye_tls_")],
              "--tls.disable: sockeye_tls_* families are exported")
        https_session(port, nginx_mix(), ca)
        tr = Traffic()
        reqs = nginx_mix()
        harness.curl_session(H, ngx.port, reqs)
        tr.add(reqs, "1.1", "plain HTTP")
        after = scrape_after(agent, before, ngx.port, tr.expected)
        assert_counts(before, after, ngx.port, tr)
        for role in ("server", "client"):
            d = http_delta(before, after, role, port)
            check(not d, "--tls.disable: HTTPS requests counted (%s): %r" % (role, d))
    finally:
        st = agent.stop()
        ngx.stop()
        check(st == 0, "agent with --tls.disable exited with %s" % st)


# ---------------------------------------------------------------------------------------------
# tlsbio.py: known SSL calls through each kind of BIO, on a private libssl copy.

TLSBIO = os.path.join(os.path.dirname(HERE), "tlsbio.py")
TLSBIO_ROUTE = "/tlsbio/{id}"


def private_libssl(env, name):
    """A copy of the system libssl in a directory of its own: another inode, so the agent
    attaches it separately and its per-library counters count only the processes told to use
    it (LD_LIBRARY_PATH)."""
    libdir = os.path.join(env.tmpdir, name)
    os.makedirs(libdir, exist_ok=True)
    lib = os.path.join(libdir, os.path.basename(system_libssl()))
    if not os.path.exists(lib):
        shutil.copy(system_libssl(), lib)
    return libdir, lib


class TLSBioServer:
    """tlsbio.py server KIND with libssl from libdir, in the test cgroup."""

    def __init__(self, env, kind, libdir):
        cert, key = certs(env)
        environ = dict(os.environ, LD_LIBRARY_PATH=libdir)
        self.proc = env.procs.start([PYTHON, TLSBIO, "server", kind, cert, key],
                                    stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                    preexec_fn=env.cgroup.enter, env=environ)
        r, _, _ = select.select([self.proc.stdout], [], [], SERVER_START_TIMEOUT)
        line = self.proc.stdout.readline().decode() if r else ""
        if not line.startswith("READY "):
            Procs.stop(self.proc)
            fail("tlsbio server did not start: %r" % line)
        self.port = int(line.split()[1])

    def stop(self):
        Procs.stop(self.proc)


def tlsbio_client(env, kind, port, n, conns, libdir, port2=None):
    """Runs tlsbio.py client (with port2: one SSL object reused for connections alternately
    to port and port2); returns the (SSL_read, SSL_write) calls it made."""
    environ = dict(os.environ, LD_LIBRARY_PATH=libdir)
    argv = [PYTHON, TLSBIO, "client", kind, str(port), str(n), str(conns), certs(env)[0]]
    if port2:
        argv.append(str(port2))
    p = subprocess.run(argv, capture_output=True, text=True, env=environ,
                       timeout=CLIENT_TIMEOUT, preexec_fn=env.cgroup.enter)
    check(p.returncode == 0 and p.stdout.startswith("OK "),
          "tlsbio client (%s BIO) failed: exit %d" % (kind, p.returncode),
          (p.stdout + p.stderr).strip().splitlines()[-5:])
    _, reads, writes = p.stdout.split()
    return int(reads), int(writes)


def tlsbio_reqs(n):
    return [Req("GET", "/tlsbio/%d" % i, 200, TLSBIO_ROUTE) for i in range(n)]


def library_counters(scrape, family, label, library):
    """{label value: value} of a per-library TLS family."""
    return {l[label]: v for n, l, v in scrape.samples
            if n == family and l.get("library") == library}


def counter_delta(before, after, family, label, library):
    b = library_counters(before, family, label, library)
    a = library_counters(after, family, label, library)
    return {k: a[k] - b.get(k, 0) for k in a}


def wait_counters(agent, before, family, label, library, want):
    """Waits (bounded) until the library's counters moved by exactly want; returns the last
    delta. A server's last SSL_read of a connection returns, and its SSL_free runs, once it
    sees the client close: shortly after the client is done."""
    last = {}

    def exact():
        nonlocal last
        last = counter_delta(before, agent.scrape(), family, label, library)
        return last == want

    wait_until(exact, STATE_TIMEOUT, 0.1)
    return last


def check_probe_hits(agent, before, library, requests, conns):
    """Two breakpoints (entry, return) per SSL call: a request is one SSL_write and one SSL_read
    on each side; each server connection makes one more SSL_read (the one that sees the
    client close), and each connection ends with SSL_free on both sides."""
    want = {"read": 2 * requests + conns, "read_return": 2 * requests + conns,
            "write": 2 * requests, "write_return": 2 * requests, "free": 2 * conns}
    got = wait_counters(agent, before, "sockeye_tls_probe_hits_total", "probe", library, want)
    check(got == want, "probe hits of %s: %r, want %r" % (library, got, want))


def tlsbio_run(env, agent, kind, server, libdir, n, conns):
    """n requests on each of conns connections of a tlsbio client with a BIO of kind; returns
    (before, after) scrapes. Asserts the client's calls and, except for the memory BIO, exact
    counts on both sides."""
    before = agent.scrape()
    reads, writes = tlsbio_client(env, kind, server.port, n, conns, libdir)
    if kind != "memory":
        check((reads, writes) == (n * conns, n * conns),
              "test premise: the %s-BIO client made %d reads and %d writes for %d requests"
              % (kind, reads, writes, n * conns))
    tr = Traffic()
    tr.add(tlsbio_reqs(n) * conns, "1.1", "tlsbio client, %s BIO, %d connections" % (kind, conns))
    roles = ("server", "client") if kind != "memory" else ("server",)
    after = scrape_after(agent, before, server.port, tr.expected, roles=roles)
    assert_counts(before, after, server.port, tr, roles=roles)
    return before, after


@T.test
def socket_bio_connections_are_found_through_their_descriptor(env):
    """Server and client with OpenSSL's socket BIO (SSL_set_fd): both sides attributed through
    the BIO's descriptor, counted exactly, two breakpoints per SSL call."""
    libdir, lib = private_libssl(env, "tlsbio-socket")
    srv = TLSBioServer(env, "socket", libdir)
    try:
        wait_attached(env.agent, lib)
        lookup = env.agent.scrape().value("sockeye_tls_socket_bio_lookup", library=lib)
        check(lookup == 1, "sockeye_tls_socket_bio_lookup{library=%r} is %r, want 1"
              % (lib, lookup), env.agent.log_tail())
        n, conns = 7, 3
        before, after = tlsbio_run(env, env.agent, "socket", srv, libdir, n, conns)
        want = {"socket_bio": 2 * conns, "io_scan": 0}
        got = wait_counters(env.agent, before, "sockeye_tls_attributions_total", "method", lib,
                            want)
        check(got == want, "attributions of %s: %r, want %r" % (lib, got, want))
        check_probe_hits(env.agent, before, lib, n * conns, conns)
    finally:
        srv.stop()


@T.test
def custom_bio_client_is_found_by_the_io_of_its_calls(env):
    """A client whose BIO is its own (as curl's): no descriptor to read, so each connection is
    attributed by the one TCP socket its first call moved; counted exactly."""
    libdir, lib = private_libssl(env, "tlsbio-custom")
    srv = TLSBioServer(env, "socket", libdir)
    try:
        wait_attached(env.agent, lib)
        n, conns = 5, 4
        before, after = tlsbio_run(env, env.agent, "custom", srv, libdir, n, conns)
        want = {"socket_bio": conns, "io_scan": conns}
        got = wait_counters(env.agent, before, "sockeye_tls_attributions_total", "method", lib,
                            want)
        check(got == want, "attributions of %s: %r, want %r (server: socket BIO, client: "
              "its own BIO)" % (lib, got, want))
        check_probe_hits(env.agent, before, lib, n * conns, conns)
    finally:
        srv.stop()


def curl_private(env, libdir, port, reqs):
    """One curl run for reqs (one keep-alive connection) with libssl from libdir; returns the
    connections it opened."""
    argv = ["curl"]
    for i, r in enumerate(reqs):
        if i:
            argv.append("--next")
        argv += ["-sS", "--max-time", "20", "-o", "/dev/null", "--cacert", certs(env)[0],
                 "-w", "%{http_code} %{num_connects}\\n",
                 "https://%s:%d%s" % (H, port, r.target)]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=CLIENT_TIMEOUT,
                       env=dict(os.environ, LD_LIBRARY_PATH=libdir), preexec_fn=env.cgroup.enter)
    lines = p.stdout.split()
    check(p.returncode == 0 and lines[0::2] == [str(r.status) for r in reqs],
          "curl with the private libssl failed: exit %d, %r" % (p.returncode, lines),
          [p.stderr.strip()])
    return sum(int(x) for x in lines[1::2])


@T.test
def curl_connections_are_found_by_the_io_of_their_calls(env):
    """curl (libcurl's own BIO) on the private copy against the tlsbio server: one keep-alive
    run and runs of one request each, client and server counted exactly, each curl connection
    attributed by the I/O scan."""
    libdir, lib = private_libssl(env, "tlsbio-curl")
    srv = TLSBioServer(env, "socket", libdir)
    try:
        wait_attached(env.agent, lib)  # curl maps the same inode: probed from its first call
        before = env.agent.scrape()
        reqs = tlsbio_reqs(6)
        conns = curl_private(env, libdir, srv.port, reqs)
        check(conns == 1, "test premise: curl opened %d connections for one run" % conns)
        for r in reqs[:3]:
            conns += curl_private(env, libdir, srv.port, [r])
        tr = Traffic()
        tr.add(reqs + reqs[:3], "1.1", "curl with its own BIO: keep-alive, then a run each")
        after = scrape_after(env.agent, before, srv.port, tr.expected)
        assert_counts(before, after, srv.port, tr)
        want = {"socket_bio": conns, "io_scan": conns}
        got = wait_counters(env.agent, before, "sockeye_tls_attributions_total", "method", lib,
                            want)
        check(got == want, "attributions of %s: %r, want %r" % (lib, got, want))
    finally:
        srv.stop()


@T.test
def ssl_object_reused_with_a_new_bio_is_attributed_again(env):
    """One SSL object for six connections, alternately to two servers, SSL_clear and a new BIO
    between them (as wrk reconnects): with a socket BIO and with a BIO of its own, every
    connection is attributed anew and each server's requests land on its own port."""
    libdir, lib = private_libssl(env, "tlsbio-reuse")
    a, b = TLSBioServer(env, "socket", libdir), TLSBioServer(env, "socket", libdir)
    try:
        wait_attached(env.agent, lib)
        n, conns = 3, 6
        for kind in ("socket", "custom"):
            before = env.agent.scrape()
            reads, writes = tlsbio_client(env, kind, a.port, n, conns, libdir, port2=b.port)
            check((reads, writes) == (n * conns, n * conns),
                  "test premise: %d reads and %d writes" % (reads, writes))
            tr = Traffic()
            tr.add(tlsbio_reqs(n) * (conns // 2), "1.1",
                   "tlsbio client, %s BIO, one SSL object reused for every other connection"
                   % kind)
            for port in (a.port, b.port):
                after = scrape_after(env.agent, before, port, tr.expected)
                assert_counts(before, after, port, tr)
            want = {"socket_bio": conns * (2 if kind == "socket" else 1),
                    "io_scan": 0 if kind == "socket" else conns}
            got = wait_counters(env.agent, before, "sockeye_tls_attributions_total", "method",
                                lib, want)
            check(got == want, "%s BIO: attributions of %s: %r, want %r" % (kind, lib, got,
                                                                            want))
    finally:
        a.stop()
        b.stop()


@T.test
def memory_bio_client_is_not_counted_under_wrong_labels(env):
    """A client with memory BIOs moves its ciphertext outside the SSL calls: its connections
    have no socket to be attributed to and are not counted (the server side is), and no I/O
    scan picks a socket for them."""
    libdir, lib = private_libssl(env, "tlsbio-memory")
    srv = TLSBioServer(env, "socket", libdir)
    try:
        wait_attached(env.agent, lib)
        n, conns = 4, 3
        before, after = tlsbio_run(env, env.agent, "memory", srv, libdir, n, conns)
        d = http_delta(before, after, "client", srv.port)
        check(not d, "memory-BIO client requests counted: %r" % d)
        want = {"socket_bio": conns, "io_scan": 0}
        got = wait_counters(env.agent, before, "sockeye_tls_attributions_total", "method", lib,
                            want)
        check(got == want, "attributions of %s: %r, want %r (server only)" % (lib, got, want))
        unattributed = after.value("sockeye_tls_events_total", event="unattributed") - \
            before.value("sockeye_tls_events_total", event="unattributed")
        check(unattributed >= conns, "sockeye_tls_events_total{event=\"unattributed\"} moved "
              "by %d for %d memory-BIO connections" % (unattributed, conns))
    finally:
        srv.stop()


# ---------------------------------------------------------------------------------------------
# The TLS python server (run as: test_tls.py pyserver-tls PROTO HOST CERT KEY).

def _pyserver_tls_main(proto, host, cert, key):
    import http.server
    import socketserver

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    def get_request(self):
        sock, addr = socketserver.TCPServer.get_request(self)
        sock.settimeout(10)
        tls = ctx.wrap_socket(sock, server_side=True)  # an SSLError is an OSError: skipped
        tls.settimeout(None)
        return tls, addr

    http.server.ThreadingHTTPServer.get_request = get_request
    harness._pyserver_main(proto, host)


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "pyserver-tls":
        _pyserver_tls_main(*sys.argv[2:])
    else:
        T.main()
