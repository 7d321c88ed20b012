#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""test_exporter.py - the agent's metrics endpoint as Prometheus sees it: a real Prometheus
scrapes it over TLS with basic auth and reports exact counts; SIGHUP rotates the certificate
under a running scrape; the exposition parses with prometheus_client in both formats; startup
errors (bad flag, bad web config, unreadable certificate, port in use) exit non-zero with a
clear message; --web.disable opens no socket."""

import base64
import ctypes
import gzip
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (AGENT, AGENT_READY_TIMEOUT, AGENT_STOP_TIMEOUT, Procs, Req,  # noqa: E402
                     Suite, check, curl_session, fail, free_port, remember_key_file,
                     remember_password, remember_secret, wait_until)

T = Suite("exporter", agent=False)
H = "127.0.0.1"
PROMETHEUS = "/usr/bin/prometheus"
USER = "prometheus"
PASSWORD = "scrape: me, please"
SCRAPE_INTERVAL = 1.0
PROM_READY_TIMEOUT = 60.0
COUNT_TIMEOUT = 20.0  # for a scrape to carry the requests into Prometheus
EXIT_TIMEOUT = 30.0   # for an agent that must fail at startup to exit
FAMILY = "http_server_request_duration_seconds"
TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OM_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
_ctx = {}


# ---------------------------------------------------------------------------------------------
# Certificates, password hashes, files.

def run(argv, cwd):
    p = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, "%s failed (%d)" % (" ".join(argv), p.returncode),
          p.stderr.strip().splitlines()[-5:])
    return p.stdout


def make_pki(d):
    """A CA and two server certificates it signed (for localhost and 127.0.0.1)."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run(["openssl", "req", "-x509"] + ec + ["-days", "2", "-subj", "/CN=sockeye-it-ca",
                                            "-keyout", "ca.key", "-out", "ca.crt"], d)
    for name, cn in (("server1", "localhost"), ("server2", "localhost-rotated")):
        run(["openssl", "req"] + ec + ["-subj", "/CN=" + cn, "-keyout", name + ".key",
                                       "-out", name + ".csr"], d)
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        run(["openssl", "x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", name + ".ext", "-out", name + ".crt"],
            d)
    with open(os.path.join(d, "garbage.pem"), "w") as f:
        f.write("not a certificate\n")


def bcrypt(password, cost=10):
    """bcrypt through libxcrypt itself (python's crypt module is deprecated)."""
    lib = ctypes.CDLL("libcrypt.so.1")
    lib.crypt_gensalt.restype = ctypes.c_char_p
    lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    salt = lib.crypt_gensalt(b"$2b$", cost, None, 0)
    check(salt is not None, "crypt_gensalt($2b$) failed")
    h = lib.crypt(password.encode(), salt)
    check(h is not None and h.startswith(b"$2b$"), "bcrypt failed: %r" % h)
    return h.decode()


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def pem_der(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


# ---------------------------------------------------------------------------------------------
# The agent over HTTPS.

def tls_context(d):
    ctx = ssl.create_default_context(cafile=os.path.join(d, "ca.crt"))
    ctx.check_hostname = True
    return ctx


def auth_header(user=USER, password=PASSWORD):
    token = ("%s:%s" % (user, password)).encode()
    return "Basic " + base64.b64encode(token).decode()


def https_get(ctx, port, path, headers=None, timeout=10.0):
    """One GET on a fresh TLS connection. Returns (status, headers lower-cased, body bytes)."""
    conn = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=timeout)
    try:
        conn.request("GET", path, headers=dict(headers or {}, Connection="close"))
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


class AgentProc:
    """build/sockeye with our flags; its output goes to a log file in the suite's temp dir."""

    def __init__(self, env, args, name):
        self.env = env
        self.log_path = os.path.join(env.tmpdir, "agent-%s.log" % name)
        self.argv = [AGENT] + list(args)
        with open(self.log_path, "wb") as log:
            self.proc = env.procs.start(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_tail(self, n=12):
        return ["agent log: " + line for line in self.log().splitlines()[-n:]]

    def alive(self):
        return self.proc.poll() is None

    def wait_exit(self, timeout=EXIT_TIMEOUT):
        """Exit status, or a failure (after stopping it) if it is still running."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            Procs.stop(self.proc)
            fail("agent %s still running after %.0f s" % (" ".join(self.argv), timeout),
                 self.log_tail())

    def stop(self, sig=signal.SIGTERM):
        return Procs.stop(self.proc, sig, AGENT_STOP_TIMEOUT)


def expect_startup_failure(env, name, args, want_status, want_text):
    """Starts the agent with args; it must exit with want_status, and its output hold each of
    want_text (literal strings)."""
    a = AgentProc(env, args, name)
    st = a.wait_exit()
    out = a.log()
    missing = [t for t in want_text if t not in out]
    check(st == want_status and not missing,
          "%s: exit status %s (want %d)%s" % (" ".join(a.argv), st, want_status,
                                              ", output lacks %r" % missing if missing else ""),
          a.log_tail())
    return out


# ---------------------------------------------------------------------------------------------
# Prometheus.

PROM_CONFIG = """
global:
  scrape_interval: {interval}s
  scrape_timeout: {interval}s
  evaluation_interval: {interval}s
scrape_configs:
  - job_name: sockeye
    scheme: https
    tls_config:
      ca_file: {dir}/ca.crt
      server_name: localhost
    basic_auth:
      username: {user}
      password_file: {dir}/password
    static_configs:
      - targets: ['127.0.0.1:{port}']
  - job_name: sockeye-wrong-password
    scheme: https
    tls_config:
      insecure_skip_verify: true
    basic_auth:
      username: {user}
      password: not-the-password
    static_configs:
      - targets: ['127.0.0.1:{port}']
"""


class Prometheus:
    def __init__(self, env, d, agent_port):
        self.port = free_port()
        write(os.path.join(d, "password"), PASSWORD)
        cfg = write(os.path.join(d, "prometheus.yml"),
                    PROM_CONFIG.format(interval=int(SCRAPE_INTERVAL), dir=d, user=USER,
                                       port=agent_port))
        self.log_path = os.path.join(d, "prometheus.log")
        argv = [PROMETHEUS, "--config.file=" + cfg,
                "--storage.tsdb.path=" + os.path.join(d, "tsdb"),
                "--web.listen-address=127.0.0.1:%d" % self.port, "--log.level=warn"]
        with open(self.log_path, "wb") as log:
            self.proc = env.procs.start(argv, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, cwd=d)
        ok = wait_until(lambda: self.proc.poll() is not None or self._ready(), PROM_READY_TIMEOUT,
                        0.2)
        if self.proc.poll() is not None or not ok:
            fail("prometheus did not become ready", self.log_tail())

    def _ready(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/-/ready" % self.port, timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def log_tail(self, n=10):
        try:
            with open(self.log_path, "rb") as f:
                return ["prometheus: " + l for l in f.read().decode("utf-8", "replace")
                        .splitlines()[-n:]]
        except OSError:
            return []

    def api(self, path, **params):
        url = "http://127.0.0.1:%d/api/v1/%s?%s" % (self.port, path, urllib.parse.urlencode(params))
        with urllib.request.urlopen(url, timeout=10) as r:
            doc = json.load(r)
        check(doc.get("status") == "success", "prometheus API %s: %r" % (url, doc))
        return doc["data"]

    def query(self, q):
        """{frozenset(labels): float} of an instant query."""
        return {frozenset(s["metric"].items()): float(s["value"][1])
                for s in self.api("query", query=q)["result"]}

    def scalar(self, q):
        """The single value of q, or None when it has no result."""
        r = self.query(q)
        check(len(r) <= 1, "query %s: more than one series: %r" % (q, r))
        return next(iter(r.values())) if r else None

    def target(self, job):
        for t in self.api("targets", state="active")["activeTargets"]:
            if t["labels"].get("job") == job:
                return t
        return None

    def scrapes_done(self, job):
        """A value that grows with each scrape of job: the timestamp of its last scrape."""
        t = self.target(job)
        return t and t.get("lastScrape")


def wait_next_scrapes(prom, job, n=2):
    """Waits (bounded) until Prometheus has scraped job n more times."""
    seen = []

    def step():
        last = prom.scrapes_done(job)
        if last and (not seen or seen[-1] != last):
            seen.append(last)
        return len(seen) > n

    check(wait_until(step, (n + 3) * SCRAPE_INTERVAL + 5, 0.1),
          "prometheus did not scrape %s %d more times" % (job, n),
          prom.log_tail())


# ---------------------------------------------------------------------------------------------
# One agent with TLS and basic auth, one Prometheus scraping it, shared by the first tests.

def scraped_agent(env):
    if "agent" in _ctx:
        check(_ctx["agent"] is not None, "the TLS agent did not start (see the first test)")
        return _ctx["agent"], _ctx["prom"], _ctx["dir"], _ctx["port"]
    _ctx["agent"] = None
    d = os.path.join(env.tmpdir, "tls")
    os.mkdir(d)
    make_pki(d)
    for k in ("ca.key", "server1.key", "server2.key"):
        remember_key_file(os.path.join(d, k))
    remember_password(USER, PASSWORD)
    remember_password(USER, "not-the-password")  # the wrong-password Prometheus job
    shutil.copy(os.path.join(d, "server1.crt"), os.path.join(d, "tls.crt"))
    shutil.copy(os.path.join(d, "server1.key"), os.path.join(d, "tls.key"))
    web = write(os.path.join(d, "web.yml"),
                "tls_server_config:\n"
                "  cert_file: tls.crt\n"
                "  key_file: tls.key\n"
                "  min_version: TLS12\n"
                "basic_auth_users:\n"
                "  %s: %s\n"
                "http_server_config:\n"
                "  headers:\n"
                "    X-Content-Type-Options: nosniff\n" % (USER, bcrypt(PASSWORD)))
    port = free_port()
    a = AgentProc(env, ["--web.listen-address=127.0.0.1:%d" % port, "--web.config.file=" + web],
                  "tls")
    ctx = tls_context(d)

    def ready():
        if not a.alive():
            return "exited"
        try:
            st, _, _ = https_get(ctx, port, "/readyz", {"Authorization": auth_header()}, 2)
            return "ready" if st == 200 else None
        except (OSError, ssl.SSLError, http.client.HTTPException):
            return None

    st = wait_until(ready, AGENT_READY_TIMEOUT, 0.1)
    if st != "ready":
        a.stop()
        fail("agent %s: %s" % (" ".join(a.argv), "exited with status %s" % a.proc.returncode
                               if st == "exited" else "not ready over TLS"), a.log_tail())
    prom = Prometheus(env, d, port)
    _ctx.update(agent=a, prom=prom, dir=d, port=port, ctx=ctx)
    return a, prom, d, port


@T.test
def prometheus_scrapes_over_tls_with_basic_auth_and_sees_exact_counts(env):
    agent, prom, d, port = scraped_agent(env)
    check(wait_until(lambda: prom.scalar('up{job="sockeye"}') == 1, 15 * SCRAPE_INTERVAL + 10,
                     0.2),
          "prometheus never saw up == 1 for sockeye over TLS with basic auth",
          ["target: %r" % prom.target("sockeye")] + agent.log_tail() + prom.log_tail())

    srv = env.pyserver("1.1")
    sel = '%s_count{server_port="%d"}' % (FAMILY, srv.port)
    sel200 = '%s_count{server_port="%d",http_response_status_code="200"}' % (FAMILY, srv.port)
    ok = [Req("GET", "/users/%d" % i, 200, "/users/{id}") for i in range(7)]
    missing = [Req("GET", "/missing", 404, "/missing")] * 3
    curl_session(H, srv.port, ok + missing + ok[:2])
    want = {"200": 9, "404": 3}

    def by_status():
        r = prom.query("sum by (http_response_status_code) (%s)" % sel)
        return {dict(k)["http_response_status_code"]: v for k, v in r.items()}

    wait_until(lambda: by_status() == want, COUNT_TIMEOUT, 0.2)
    got = by_status()
    check(got == want, "prometheus query sum by (status) of %s: got %r, want %r" % (sel, got, want),
          agent.log_tail(5))
    # Exactly, not at least: later scrapes must not add anything.
    wait_next_scrapes(prom, "sockeye", 2)
    got = by_status()
    check(got == want, "after two more scrapes: got %r, want %r" % (got, want))
    routes = prom.query("sum by (http_request_method, http_route) (%s)" % sel200)
    check(routes == {frozenset({("http_request_method", "GET"), ("http_route", "/users/{id}")}):
                     9.0},
          "the 200s are not exactly GET /users/{id} x9: %r" % routes)


@T.test
def wrong_password_and_plain_http_are_refused(env):
    agent, prom, d, port = scraped_agent(env)
    wait_next_scrapes(prom, "sockeye-wrong-password", 1)
    t = prom.target("sockeye-wrong-password")
    check(t is not None and t["health"] == "down" and "401" in t.get("lastError", ""),
          "the scrape with a wrong password was not refused with 401: %r" % t)
    check(prom.scalar('up{job="sockeye-wrong-password"}') == 0, "up is not 0 for a wrong password")
    ctx = _ctx["ctx"]
    st, hdr, _ = https_get(ctx, port, "/metrics")
    check(st == 401 and hdr.get("www-authenticate") == 'Basic realm="sockeye"',
          "no credentials: status %d, WWW-Authenticate %r" % (st, hdr.get("www-authenticate")))
    # Plain HTTP to the TLS port: the connection is closed, the agent carries on.
    conn = http.client.HTTPConnection(H, port, timeout=5)
    try:
        conn.request("GET", "/metrics")
        resp = conn.getresponse()
        fail("plain HTTP to the TLS listener got a response: %d" % resp.status)
    except (http.client.HTTPException, ConnectionError, socket.timeout):
        pass
    finally:
        conn.close()
    check(agent.alive(), "the agent died after a plain HTTP request", agent.log_tail())
    st, _, _ = https_get(ctx, port, "/healthz", {"Authorization": auth_header()})
    check(st == 200, "healthz after the plain HTTP request: %d" % st)


@T.test
def exposition_parses_with_prometheus_client_as_text_openmetrics_and_gzip(env):
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
    from prometheus_client.parser import text_string_to_metric_families as text_parse

    agent, prom, d, port = scraped_agent(env)
    ctx, auth = _ctx["ctx"], {"Authorization": auth_header()}
    st, hdr, body = https_get(ctx, port, "/metrics", auth)
    check(st == 200 and hdr.get("content-type") == TEXT_TYPE,
          "text scrape: status %d, Content-Type %r" % (st, hdr.get("content-type")))
    check(hdr.get("x-content-type-options") == "nosniff", "web config header missing: %r" % hdr)
    fams = {f.name: f for f in text_parse(body.decode())}
    check(FAMILY in fams and fams[FAMILY].type == "histogram",
          "text: no histogram %s among %s" % (FAMILY, sorted(fams)))

    st, hdr, body = https_get(ctx, port, "/metrics",
                              dict(auth, Accept="application/openmetrics-text;version=1.0.0,"
                                                "text/plain;version=0.0.4;q=0.5"))
    check(st == 200 and hdr.get("content-type") == OM_TYPE,
          "OpenMetrics scrape: status %d, Content-Type %r" % (st, hdr.get("content-type")))
    fams = {f.name: f for f in om_parse(body.decode())}
    check(FAMILY in fams and fams[FAMILY].type == "histogram",
          "OpenMetrics: no histogram %s among %s" % (FAMILY, sorted(fams)))

    st, hdr, body = https_get(ctx, port, "/metrics", dict(auth, **{"Accept-Encoding": "gzip"}))
    check(st == 200 and hdr.get("content-encoding") == "gzip" and body[:2] == b"\x1f\x8b",
          "gzip scrape: status %d, Content-Encoding %r, starts %r"
          % (st, hdr.get("content-encoding"), body[:2]))
    fams = {f.name for f in text_parse(gzip.decompress(body).decode())}
    check(FAMILY in fams, "gzip: no %s after decompression" % FAMILY)


@T.test
def sighup_rotates_the_certificate_while_prometheus_keeps_scraping(env):
    agent, prom, d, port = scraped_agent(env)

    def served():
        return ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate((H, port), timeout=5))

    check(served() == pem_der(os.path.join(d, "server1.crt")), "not serving server1.crt at first")
    # In place, as cert-manager or certbot do, then SIGHUP.
    shutil.copy(os.path.join(d, "server2.crt"), os.path.join(d, "tls.crt"))
    shutil.copy(os.path.join(d, "server2.key"), os.path.join(d, "tls.key"))
    agent.proc.send_signal(signal.SIGHUP)
    want = pem_der(os.path.join(d, "server2.crt"))
    check(wait_until(lambda: served() == want, 10, 0.1),
          "still not serving server2.crt 10 s after SIGHUP", agent.log_tail())
    # Logged once the old daemons are stopped, a little after the new ones serve.
    check(wait_until(lambda: "Reloaded web config" in agent.log(), 10, 0.1),
          "no 'Reloaded web config' in the log", agent.log_tail())
    wait_next_scrapes(prom, "sockeye", 2)
    t = prom.target("sockeye")
    check(t["health"] == "up" and prom.scalar('up{job="sockeye"}') == 1,
          "prometheus lost the target after the rotation: %r" % t)

    # An invalid file on SIGHUP: logged, and the rotated certificate stays.
    web = os.path.join(d, "web.yml")
    good = open(web).read()
    write(web, "tls_server_config:\n  cert_file: [\n")
    agent.proc.send_signal(signal.SIGHUP)
    check(wait_until(lambda: "keeping the previous one" in agent.log(), 10, 0.1),
          "an invalid web config on SIGHUP was not reported", agent.log_tail())
    write(web, good)
    check(agent.alive() and served() == want, "the agent did not keep its config", agent.log_tail())
    wait_next_scrapes(prom, "sockeye", 1)
    check(prom.scalar('up{job="sockeye"}') == 1, "prometheus lost the target")


# ---------------------------------------------------------------------------------------------
# Startup failures: each exits with a clear message, before serving anything.

@T.test
def bad_flag_exits_2_with_a_clear_message(env):
    expect_startup_failure(env, "badflag", ["--web.listen-adress=:9810"], 2,
                           ["web.listen-adress"])
    expect_startup_failure(env, "badaddr", ["--web.listen-address=127.0.0.1"], 2,
                           ["127.0.0.1"])


def web_config_dir(env):
    d = os.path.join(env.tmpdir, "bad")
    if not os.path.isdir(d):
        os.mkdir(d)
        make_pki(d)
    return d


# A password written where its hash belongs: the error names the user, never the value.
PLAIN_PASSWORD = "plain-text-password-4711"


@T.test
def bad_web_config_yaml_exits_1_naming_file_line_column(env):
    d = web_config_dir(env)
    remember_secret("a password written in place of its hash", PLAIN_PASSWORD)
    cases = [
        ("syntax", "tls_server_config:\n  cert_file: \"server1.crt\n",
         ":3:1: while scanning a quoted scalar at 2:14: found unexpected end of stream"),
        ("unknown-key", "tls_server_config:\n  cert_fil: server1.crt\n",
         ':2:3: tls_server_config: unknown field \\"cert_fil\\"'),
        ("bad-hash", "basic_auth_users:\n  alice: %s\n" % PLAIN_PASSWORD,
         ':2:10: basic_auth_users: password of \\"alice\\" is not a bcrypt hash'),
    ]
    for name, yaml, want in cases:
        web = write(os.path.join(d, name + ".yml"), yaml)
        expect_startup_failure(env, "web-" + name, ["--web.listen-address=127.0.0.1:%d"
                                                    % free_port(), "--web.config.file=" + web],
                               1, ["Invalid web config file: " + web + want])


@T.test
def unreadable_or_invalid_certificate_exits_1_naming_the_file(env):
    d = web_config_dir(env)
    cases = [
        ("missing", "tls_server_config:\n  cert_file: missing.crt\n  key_file: server1.key\n",
         ':2:14: cannot read cert_file \\"%s/missing.crt\\": No such file or directory' % d),
        ("garbage", "tls_server_config:\n  cert_file: garbage.pem\n  key_file: server1.key\n",
         ':2:14: invalid cert_file \\"%s/garbage.pem\\"' % d),
        ("mismatch", "tls_server_config:\n  cert_file: server1.crt\n  key_file: server2.key\n",
         ':3:13: key_file \\"%s/server2.key\\" does not fit cert_file \\"%s/server1.crt\\"'
         % (d, d)),
    ]
    for name, yaml, want in cases:
        web = write(os.path.join(d, "cert-" + name + ".yml"), yaml)
        expect_startup_failure(env, "cert-" + name, ["--web.listen-address=127.0.0.1:%d"
                                                     % free_port(), "--web.config.file=" + web],
                               1, [web + want])


@T.test
def port_in_use_exits_1_naming_the_address(env):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((H, 0))
        s.listen(1)
        addr = "127.0.0.1:%d" % s.getsockname()[1]
        expect_startup_failure(env, "inuse", ["--web.listen-address=" + addr], 1,
                               ["Cannot listen on address=%s: Address already in use" % addr])


@T.test
def web_disable_opens_no_listening_socket(env):
    out = os.path.join(env.tmpdir, "disabled.prom")
    a = AgentProc(env, ["--web.disable", "--output.textfile=" + out], "disabled")
    check(wait_until(lambda: not a.alive() or "Metrics endpoint disabled" in a.log(),
                     AGENT_READY_TIMEOUT, 0.1) and a.alive(),
          "no 'Metrics endpoint disabled' from a running agent", a.log_tail())
    check(wait_until(lambda: os.path.exists(out), 30, 0.1), "no textfile written", a.log_tail())
    ss = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, timeout=10)
    check(ss.returncode == 0, "ss -ltnp failed: %s" % ss.stderr.strip())
    mine = [l for l in ss.stdout.splitlines() if re.search(r"pid=%d," % a.proc.pid, l)]
    check(not mine, "--web.disable, yet the agent listens:", mine)
    check("Listening on" not in a.log(), "--web.disable, yet the log says 'Listening on'",
          a.log_tail())
    st = a.stop()
    check(st == 0, "exit status %s on SIGTERM" % st, a.log_tail())


if __name__ == "__main__":
    T.main()
