#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""test_lifecycle.py - what the agent leaves behind and how it comes back: SIGTERM and SIGINT
detach every program; SIGKILL leaves nothing attached either (its links are file descriptors:
they die with the process); a restart under load counts again from zero, exactly, including
on connections opened before it started; two agents at once both count exactly, and stopping
one leaves the other counting.

The agent's own BPF objects are found through /proc/PID/fdinfo (prog_id, link_id, map_id of
each bpf fd), and checked before and after in bpftool's lists (`bpftool -j prog|link|map
show`) and the cgroup v2 root's attachments (`bpftool -j cgroup show`). Other agents may be
running on the host (other tests, other users): only our IDs are looked at."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Agent, Key, Req, Suite, Traffic, assert_counts, check,  # noqa: E402
                     connect, count_problems, curl_session, fail, http_delta, raw_request,
                     read_response, scrape_after, wait_until)

T = Suite("lifecycle", agent=False)
H = "127.0.0.1"
V = "1.1"
USERS = "/users/{id}"
GONE_TIMEOUT = 10.0  # for the kernel to free a dead process's programs (RCU, workqueues)


def bpf_ids(pid):
    """{'prog': set, 'link': set, 'map': set} of the BPF objects pid holds file descriptors of."""
    out = {"prog": set(), "link": set(), "map": set()}
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            if "bpf" not in target:
                continue
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                info = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        if "link_id" in info:
            out["link"].add(int(info["link_id"]))
        elif "prog_id" in info and "bpf-prog" in target:
            out["prog"].add(int(info["prog_id"]))
        elif "map_id" in info:
            out["map"].add(int(info["map_id"]))
    return out


def bpftool(*args):
    """bpftool's JSON listing. With nothing to list, `bpftool -j cgroup show` prints an empty
    line, not []. An object that goes away while bpftool walks the list (the agent that just
    stopped) may make it exit non-zero: such a listing is taken again, at most 10 times."""
    why = ""
    for _ in range(10):
        p = subprocess.run(["bpftool", "-j"] + list(args), capture_output=True, text=True,
                           timeout=30)
        if p.returncode == 0:
            try:
                return json.loads(p.stdout.strip() or "[]")
            except ValueError as e:
                why = "unreadable JSON (%s): %s" % (e, p.stdout[-200:])
        else:
            why = "exit %d: %s" % (p.returncode, p.stderr.strip())
        time.sleep(0.1)
    fail("bpftool %s failed 10 times; last: %s" % (" ".join(args), why))


def cgroup2_root():
    with open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            if parts[2] == "cgroup2":
                return parts[1]
    fail("no cgroup2 mount")


def live(ids):
    """Which of ids bpftool still lists: {'prog': ..., 'link': ..., 'map': ..., 'cgroup': progs
    attached to the cgroup v2 root}."""
    progs = {p["id"] for p in bpftool("prog", "show")}
    links = {x["id"] for x in bpftool("link", "show")}
    maps = {m["id"] for m in bpftool("map", "show")}
    attached = {x["id"] for x in bpftool("cgroup", "show", cgroup2_root())}
    return {"prog": ids["prog"] & progs, "link": ids["link"] & links, "map": ids["map"] & maps,
            "cgroup": ids["prog"] & attached}


def describe(ids):
    return ", ".join("%d %ss" % (len(v), k) for k, v in sorted(ids.items()))


def start_agent(env, *args):
    a = Agent(env.procs, env.tmpdir, args=args)
    a.start()
    return a


def held(env, a, what):
    """The agent's BPF objects while it runs: all listed by bpftool, its socket programs on
    the cgroup v2 root."""
    ids = bpf_ids(a.proc.pid)
    check(len(ids["link"]) >= 3 and len(ids["prog"]) >= 3,
          "%s: the agent holds only %s" % (what, describe(ids)))
    now = live(ids)
    check(now["prog"] == ids["prog"] and now["link"] == ids["link"] and now["map"] == ids["map"],
          "%s: bpftool does not list all of the agent's objects" % what,
          ["agent: %s" % describe(ids), "listed: %s" % describe(now)])
    check(len(now["cgroup"]) >= 2, "%s: no program of the agent on the cgroup v2 root" % what)
    return ids


def gone(ids, what):
    """Waits until bpftool lists none of ids; fails naming what is left."""
    left = wait_until(lambda: not any(live(ids).values()) or None, GONE_TIMEOUT, 0.2)
    if left is None:
        fail("%s: still there after %.0f s: %s" % (what, GONE_TIMEOUT, describe(live(ids))),
             ["before: %s" % describe(ids)])


@T.test
def sigterm_and_sigint_detach_every_program(env):
    for sig in (signal.SIGTERM, signal.SIGINT):
        a = start_agent(env)
        ids = held(env, a, "running")
        st = a.stop(sig)
        check(st == 0, "the agent exited %s on %s" % (st, sig.name), a.log_tail())
        gone(ids, "after %s" % sig.name)


@T.test
def sigkill_leaves_nothing_attached(env):
    """No cleanup code runs: the kernel closes the dead process's fds, and links, programs and
    maps go with the last reference."""
    a = start_agent(env)
    ids = held(env, a, "running")
    a.proc.send_signal(signal.SIGKILL)
    a.proc.wait(10)
    check(a.proc.returncode == -signal.SIGKILL, "exit %s" % a.proc.returncode)
    gone(ids, "after SIGKILL")


class Load:
    """Requests to nginx on keep-alive connections of its own until stopped (the background
    load of a restart): GET /users/N."""

    def __init__(self, port, conns=3):
        self.port = port
        self.stop = threading.Event()
        self.sent = 0
        self.errors = []
        self.ts = [threading.Thread(target=self._run, daemon=True) for _ in range(conns)]
        for t in self.ts:
            t.start()

    def _run(self):
        try:
            while not self.stop.is_set():
                with connect(H, self.port, nodelay=True) as s:
                    f = s.makefile("rb")
                    for i in range(50):
                        if self.stop.is_set():
                            break
                        s.sendall(b"GET /users/%d HTTP/1.1\r\nHost: load\r\n\r\n" % i)
                        check(read_response(f, "GET") == 200, "load request not answered 200")
                        self.sent += 1
                        time.sleep(0.005)
        except Exception as e:  # noqa: BLE001 - reported by finish
            self.errors.append(repr(e))

    def finish(self):
        self.stop.set()
        for t in self.ts:
            t.join(30)
        check(not self.errors, "the background load failed", self.errors)
        return self.sent


@T.test
def restart_under_load_counts_again_from_zero_exactly(env):
    """Counters live in the agent's maps, so a new agent starts from zero (documented). It
    counts every request it sees from its start, also on a keep-alive connection opened before
    it: from that connection's next request on."""
    ngx = env.nginx()
    load = None
    try:
        a = start_agent(env)
        load = Load(ngx.port)
        old = socket.create_connection((H, ngx.port))
        oldf = old.makefile("rb")
        old.sendall(raw_request(Req("GET", "/orders/1/items", 201, "/orders/{id}/items")))
        check(read_response(oldf, "GET") == 201, "premise: GET on the old connection")
        time.sleep(0.5)
        first = a.scrape()
        check(first.http("server", ngx.port), "premise: the first agent counted no load")
        st = a.stop(signal.SIGTERM)
        check(st == 0, "the first agent exited %s" % st)
        b = start_agent(env)
        start = b.scrape()
        # From zero: the new agent's counts are what it saw since it started, so below what
        # the load sent overall.
        seen = sum(x.count for x in start.http("server", ngx.port).values())
        check(seen < load.sent, "the new agent starts with %d requests counted of %d sent "
              "before and after the restart" % (seen, load.sent))
        before = b.scrape()
        items = Req("GET", "/orders/7/items", 201, "/orders/{id}/items")
        for _ in range(10):  # on the connection opened under the first agent
            old.sendall(raw_request(items))
            check(read_response(oldf, "GET") == 201, "premise: GET on the old connection")
        missing = Req("GET", "/missing", 404, "/missing")
        curl_session(H, ngx.port, [missing] * 5)
        old.close()
        load.finish()
        load = None
        tr = Traffic()
        tr.add([items] * 10, V, "10 GETs on a keep-alive connection opened before the restart")
        tr.add([missing] * 5, V, "5 GETs on a new connection")
        key = Key("GET", USERS, "200", V)
        after = scrape_after(b, before, ngx.port, tr.expected, ("server",))
        d = http_delta(before, after, "server", ngx.port)
        # The background load went on between the two scrapes: counted, but not a known number.
        check(key in d and d.pop(key).count > 0, "the load was not counted after the restart")
        probs = count_problems(tr.expected, d)
        check(not probs, "counts after the restart differ from the requests sent",
              probs + tr.describe())
    finally:
        if load:
            load.finish()
        ngx.stop()


@T.test
def restart_counts_exactly_what_it_sees(env):
    """The exact part of a restart, without background load to subtract: N requests sent after
    the new agent is ready are N, on both sides."""
    ngx = env.nginx()
    try:
        a = start_agent(env)
        check(a.stop(signal.SIGTERM) == 0, "the first agent did not exit 0")
        b = start_agent(env)
        before = b.scrape()
        reqs = [Req("GET", "/users/%d" % i, 200, USERS) for i in range(20)]
        curl_session(H, ngx.port, reqs)
        tr = Traffic()
        tr.add(reqs, V, "curl after the restart")
        after = scrape_after(b, before, ngx.port, tr.expected)
        assert_counts(before, after, ngx.port, tr)
    finally:
        ngx.stop()


@T.test
def two_agents_at_once_both_count_exactly(env):
    """Decided: two agents are independent (own maps, own links; the cgroup hooks run one after
    the other), so both count everything, and each costs its own overhead. Stopping one
    leaves the other exact."""
    ngx = env.nginx()
    try:
        a = start_agent(env)
        b = start_agent(env)
        ia, ib = bpf_ids(a.proc.pid), bpf_ids(b.proc.pid)
        check(not (ia["link"] & ib["link"]) and not (ia["map"] & ib["map"]),
              "the two agents share BPF objects")
        ba, bb = a.scrape(), b.scrape()
        reqs = [Req("GET", "/users/%d" % i, 200, USERS) for i in range(25)] + \
            [Req("GET", "/missing", 404, "/missing")] * 5
        curl_session(H, ngx.port, reqs)
        tr = Traffic()
        tr.add(reqs, V, "curl, both agents running")
        for before, agent, name in ((ba, a, "first"), (bb, b, "second")):
            after = scrape_after(agent, before, ngx.port, tr.expected)
            assert_counts(before, after, ngx.port, tr)
        check(b.stop(signal.SIGTERM) == 0, "the second agent did not exit 0")
        gone(ib, "the second agent's objects after it stopped")
        check(a.alive(), "the first agent died when the second stopped")
        before = a.scrape()
        curl_session(H, ngx.port, reqs)
        tr2 = Traffic()
        tr2.add(reqs, V, "curl after the second agent stopped")
        after = scrape_after(a, before, ngx.port, tr2.expected)
        assert_counts(before, after, ngx.port, tr2)
        check(a.stop(signal.SIGTERM) == 0, "the first agent did not exit 0")
    finally:
        ngx.stop()


if __name__ == "__main__":
    T.main()
