#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""test_identity.py - service_name, container_id and k8s_* labels on real servers: started before
and after the agent, with OTEL_SERVICE_NAME, nginx with two workers, servers moved into cgroups
named as docker, containerd, cri-o, podman and the kubelet name them (with a fake pod log
directory), a config rule, and a server that exits and comes back."""

import os
import select
import signal
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (NGINX, NGINX_CONF, NGINX_LOCATIONS, PYTHON, SERVER_START_TIMEOUT,  # noqa: E402
                     Procs, Req, Suite, check, curl_session, fail, free_port, wait_until)

T = Suite("identity", agent=False)
H = "127.0.0.1"
ID_LABELS = ("service_name", "container_id", "k8s_namespace_name", "k8s_pod_name",
             "k8s_container_name")
SRV = "http_server_request_duration_seconds"
CLI = "http_client_request_duration_seconds"

# A tiny server on a given port (0: any), so a restart can take the same port again.
SERVER = r"""
import http.server, signal, os, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\n")
class S(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
s = S(("127.0.0.1", int(sys.argv[1])), H)
print("READY %d" % s.server_address[1], flush=True)
signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
s.serve_forever()
"""

# What the tests share: the agent (started by the first test, after its first server), the
# fake pod log directory it was given and the cgroup tree the layouts are made in.
state = {}


def cgroup2_mount():
    with open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) > 2 and parts[2] == "cgroup2":
                return parts[1]
    fail("no cgroup2 mount in /proc/mounts")


class CgroupTree:
    """Nested cgroups under <cgroup2>/sockeye-it-identity-tree-<pid>/; removed deepest first."""

    def __init__(self):
        self.rel_root = "/sockeye-it-identity-tree-%d" % os.getpid()
        self.mount = cgroup2_mount()
        self.made = []

    def make(self, rel):
        """Makes rel (below the tree's root) and its parents; returns the cgroup v2 path."""
        path = ""
        for part in [self.rel_root.strip("/")] + rel.strip("/").split("/"):
            path += "/" + part
            full = self.mount + path
            if not os.path.isdir(full):
                os.mkdir(full)
                self.made.append(full)
        return path

    def enter(self, path):
        """A preexec_fn moving the child into cgroup path before exec."""
        def fn():
            with open(self.mount + path + "/cgroup.procs", "w") as f:
                f.write("0")
        return fn

    def remove(self):
        for full in sorted(self.made, key=len, reverse=True):
            try:
                with open(full + "/cgroup.procs") as f:
                    pids = [int(x) for x in f.read().split()]
            except OSError:
                pids = []
            for pid in pids:  # only servers this test started live here
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            wait_until(lambda: not open(full + "/cgroup.procs").read().split(), 5.0)
            try:
                os.rmdir(full)
            except OSError as e:
                print("test_identity: could not remove cgroup %s: %s" % (full, e),
                      file=sys.stderr)
        self.made = []


class Server:
    """The SERVER above in a subprocess: in a cgroup (preexec), with extra environment."""

    def __init__(self, procs, preexec, env=None, port=0):
        e = dict(os.environ)
        e.pop("OTEL_SERVICE_NAME", None)
        e.pop("OTEL_RESOURCE_ATTRIBUTES", None)
        e.update(env or {})
        self.proc = procs.start([PYTHON, "-c", SERVER, str(port)], stdout=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, env=e, preexec_fn=preexec)
        r, _, _ = select.select([self.proc.stdout], [], [], SERVER_START_TIMEOUT)
        line = self.proc.stdout.readline().decode() if r else ""
        if not line.startswith("READY "):
            Procs.stop(self.proc)
            fail("test server did not start: %r" % line)
        self.port = int(line.split()[1])
        self.pid = self.proc.pid

    def stop(self):
        Procs.stop(self.proc)


def agent(env):
    """The suite's agent, started once: debug log (for evictions), the fake pod log directory
    and one rule naming servers run by /usr/bin/python3 in <tree>/ruled."""
    if env.agent is None:
        tree = CgroupTree()
        pods = os.path.join(env.tmpdir, "k8s", "pods")
        os.makedirs(pods)
        os.makedirs(os.path.join(env.tmpdir, "k8s", "containers"))
        config = ("identity:\n"
                  "  rules:\n"
                  "    - match: {exe: /usr/bin/python3, cgroup: %s/ruled}\n"
                  "      service_name: ruled-by-config\n" % tree.rel_root)
        state.update(tree=tree, pods=pods)
        env.agent = env.start_agent(config=config, args=["--log.level=debug",
                                                          "--kubernetes.pods-log-dir=" + pods])
    return env.agent


def traffic(port, n):
    curl_session(H, port, [Req("GET", "/", 200, "/")] * n)


def counts(scrape, family, port):
    """{identity labels tuple: _count} of a family's series on port."""
    out = {}
    for name, labels, v in scrape.samples:
        if name != family + "_count" or labels.get("server_port") != str(port):
            continue
        key = tuple((k, labels[k]) for k in ID_LABELS if k in labels)
        out[key] = out.get(key, 0) + v
    return out


def changed(before, after, family, port):
    """{identity: count delta} of the series on port that counted something in between."""
    b, a = counts(before, family, port), counts(after, family, port)
    return {k: v - b.get(k, 0) for k, v in a.items() if v != b.get(k, 0)}


def ident(**labels):
    return tuple((k, labels[k]) for k in ID_LABELS if k in labels)


def expect_labels(before, after, port, want, n, family=SRV, what=""):
    got = changed(before, after, family, port)
    check(got == {want: n},
          "%s series on port %d%s: want exactly %r counting %d" % (family, port, what,
                                                                      dict(want), n),
          ["got: %r" % {tuple("%s=%s" % kv for kv in k): v for k, v in got.items()}])


def scrape_settled(a, before, port, want_count, family=SRV):
    """Scrapes until the port's changed series sum to want_count (bounded), then returns it."""
    after = None

    def done():
        nonlocal after
        after = a.scrape()
        return sum(changed(before, after, family, port).values()) >= want_count

    wait_until(done, 2.0, 0.1)
    return after


@T.test
def servers_before_and_after_the_agent_are_python3_and_otel_service_name_wins(env):
    early = Server(env.procs, env.cgroup.enter)  # before the agent
    a = agent(env)
    late = Server(env.procs, env.cgroup.enter)
    named = Server(env.procs, env.cgroup.enter, env={"OTEL_SERVICE_NAME": "checkout"})
    attrs = Server(env.procs, env.cgroup.enter,
                   env={"OTEL_RESOURCE_ATTRIBUTES": "service.version=2,service.name=cart%20v2"})
    try:
        before = a.scrape()
        for s in (early, late, named, attrs):
            traffic(s.port, 3)
        after = scrape_settled(a, before, attrs.port, 3)
        expect_labels(before, after, early.port, ident(service_name="python3"), 3,
                      what=" (started before the agent)")
        expect_labels(before, after, late.port, ident(service_name="python3"), 3,
                      what=" (started after the agent)")
        expect_labels(before, after, named.port, ident(service_name="checkout"), 3,
                      what=" (OTEL_SERVICE_NAME=checkout)")
        expect_labels(before, after, attrs.port, ident(service_name="cart v2"), 3,
                      what=" (OTEL_RESOURCE_ATTRIBUTES service.name)")
        # The client side of the same requests: curl, which has exited by now.
        expect_labels(before, after, early.port, ident(service_name="curl"), 3, family=CLI)
        problems = after.errors + after.histogram_problems(early.port)
        check(not problems, "exposition problems", problems)
    finally:
        for s in (early, late, named, attrs):
            s.stop()


def proc_rss_and_cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime: fields 14, 15
    return int(fields[21]) * os.sysconf("SC_PAGESIZE"), cpu  # rss: field 24


@T.test
def nginx_master_and_two_workers_all_serve_as_nginx(env):
    a = agent(env)
    d = os.path.join(env.tmpdir, "nginx2")
    for sub in ("", "body", "proxy", "fastcgi", "uwsgi", "scgi"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    port = free_port()
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(dir=d, listen="%s:%d" % (H, port), locations=NGINX_LOCATIONS,
                                  keepalive_requests=1000)
                .replace("worker_processes 1;", "worker_processes 2;"))
    master = env.procs.start([NGINX, "-p", d, "-c", conf, "-e", os.path.join(d, "error.log")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             stdin=subprocess.DEVNULL, preexec_fn=env.cgroup.enter)
    try:
        def workers():
            out = []
            for p in os.listdir("/proc"):
                try:
                    with open("/proc/%s/stat" % p) as f:
                        if int(f.read().rsplit(")", 1)[1].split()[1]) == master.pid:
                            out.append(int(p))
                except (OSError, ValueError, IndexError):
                    pass
            return out

        check(wait_until(lambda: len(workers()) == 2, SERVER_START_TIMEOUT),
              "nginx did not start 2 workers (has %r)" % workers())
        before = a.scrape()
        for _ in range(12):  # separate connections, so both workers may accept some
            traffic(port, 2)
        after = scrape_settled(a, before, port, 24)
        expect_labels(before, after, port, ident(service_name="nginx"), 24)
        # The service's processes are the master and both workers (other nginx on this host
        # may add to the same plain-host identity, never subtract).
        rss = sum(proc_rss_and_cpu(p)[0] for p in [master.pid] + workers())
        got = after.value("service_process_resident_memory_bytes", service_name="nginx")
        check(got >= 0.9 * rss,
              "service_process_resident_memory_bytes{service_name=nginx} is %d, below the %d "
              "of master and workers" % (got, rss))
    finally:
        Procs.stop(master)


@T.test
def container_and_pod_cgroup_layouts_get_exact_labels(env):
    a = agent(env)
    tree, pods = state["tree"], state["pods"]
    containers = os.path.join(os.path.dirname(pods), "containers")
    ids = [uuid.uuid4().hex + uuid.uuid4().hex for _ in range(5)]
    uid1, uid2 = str(uuid.uuid4()), str(uuid.uuid4())
    suffix = "-%d" % os.getpid()
    # The kubelet's log directories: one pod with one container, one with two (the
    # containers directory beside it says which log is whose).
    os.makedirs(os.path.join(pods, "shop%s_cart-7d9f_%s" % (suffix, uid1), "cart"))
    os.makedirs(os.path.join(pods, "team-a_api-0_%s" % uid2, "api"))
    os.makedirs(os.path.join(pods, "team-a_api-0_%s" % uid2, "sidecar"))
    with open(os.path.join(containers, "api-0_team-a_api-%s.log" % ids[3]), "w"):
        pass
    with open(os.path.join(containers, "api-0_team-a_sidecar-%s.log" % (uuid.uuid4().hex * 2)),
              "w"):
        pass
    layouts = [
        ("docker, cgroupfs", "docker/" + ids[0], {},
         ident(service_name="python3", container_id=ids[0])),
        ("docker, systemd", "system.slice/docker-%s.scope" % ids[1], {},
         ident(service_name="python3", container_id=ids[1])),
        ("kubepods, systemd, containerd",
         "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%s.slice/"
         "cri-containerd-%s.scope" % (uid1.replace("-", "_"), ids[2]), {},
         ident(service_name="python3", container_id=ids[2], k8s_namespace_name="shop" + suffix,
               k8s_pod_name="cart-7d9f", k8s_container_name="cart")),
        ("kubepods, cgroupfs, cri-o, two containers",
         "kubepods/besteffort/pod%s/crio-%s" % (uid2, ids[3]), {"OTEL_SERVICE_NAME": "api"},
         ident(service_name="api", container_id=ids[3], k8s_namespace_name="team-a",
               k8s_pod_name="api-0", k8s_container_name="api")),
        ("podman, cgroupfs", "libpod_parent/libpod-" + ids[4], {},
         ident(service_name="python3", container_id=ids[4])),
        ("a config rule on exe and cgroup", "ruled", {}, ident(service_name="ruled-by-config")),
    ]
    servers = []
    try:
        for name, rel, extra, want in layouts:
            path = tree.make(rel)
            servers.append((name, Server(env.procs, tree.enter(path), env=extra), want))
        before = a.scrape()
        for _, s, _ in servers:
            traffic(s.port, 2)
        after = scrape_settled(a, before, servers[-1][1].port, 2)
        for name, s, want in servers:
            expect_labels(before, after, s.port, want, 2, what=" (%s)" % name)
        check(not after.errors, "exposition problems", after.errors)

        # The container's own process: its memory and CPU under the same labels, between what
        # /proc said just before and just after the scrape.
        s = servers[0][1]
        rss0, cpu0 = proc_rss_and_cpu(s.pid)
        sc = a.scrape()
        rss1, cpu1 = proc_rss_and_cpu(s.pid)
        labels = dict(servers[0][2])
        rss = sc.value("service_process_resident_memory_bytes", **labels)
        cpu = sc.value("service_process_cpu_seconds_total", **labels)
        check(min(rss0, rss1) <= rss <= max(rss0, rss1),
              "service_process_resident_memory_bytes%r = %d, /proc said %d and %d"
              % (labels, rss, rss0, rss1))
        check(cpu0 <= cpu <= cpu1, "service_process_cpu_seconds_total%r = %r, /proc said %r..%r"
              % (labels, cpu, cpu0, cpu1))
    finally:
        for _, s, _ in servers:
            s.stop()
        tree.remove()
    # The agent goes on after its cgroups are gone: the series keep their labels.
    sc = a.scrape()
    for name, s, want in servers:
        got = counts(sc, SRV, s.port)
        check(got.get(want) == 2, "after removing the cgroups, %s: %r" % (name, got))


@T.test
def server_that_exits_keeps_its_series_and_is_evicted_then_restarts(env):
    a = agent(env)
    s = Server(env.procs, env.cgroup.enter)
    port, pid = s.port, s.pid
    want = ident(service_name="python3")
    before = a.scrape()
    traffic(port, 3)
    mid = scrape_settled(a, before, port, 3)
    expect_labels(before, mid, port, want, 3, what=" (before exit)")
    s.stop()

    evicted = "evicted process pid=%d comm=python3: exited" % pid

    def logged():
        a.scrape()
        with open(a.log_path, errors="replace") as f:
            return evicted in f.read()

    check(wait_until(logged, 5.0, 0.2), "the agent never logged %r" % evicted, a.log_tail())
    check(a.alive(), "the agent died after the server exited", a.log_tail())
    gone = a.scrape()
    expect_labels(before, gone, port, want, 3, what=" (after exit: same series, same count)")

    again = Server(env.procs, env.cgroup.enter, port=port)
    try:
        traffic(port, 2)
        after = scrape_settled(a, before, port, 5)
        expect_labels(before, after, port, want, 5, what=" (restarted on the same port)")
    finally:
        again.stop()


if __name__ == "__main__":
    try:
        T.main()
    finally:
        if "tree" in state:
            state["tree"].remove()
