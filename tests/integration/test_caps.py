#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""test_caps.py - the measured capability sets, on the bare binary, run the way systemd runs
deploy/systemd/sockeye.service: a user that is not root, holding exactly the set as ambient
capabilities (setpriv: uid, inheritable + ambient + bounding sets, no_new_privs).

- the unit's set (HTTPS on: CAP_SYS_ADMIN CAP_SYS_PTRACE CAP_DAC_READ_SEARCH) counts HTTP
  exactly, names the service of another user's server from its environment, and every thread
  keeps only the runtime set after attaching;
- the set without HTTPS (CAP_BPF CAP_PERFMON CAP_NET_ADMIN CAP_SYS_PTRACE CAP_DAC_READ_SEARCH,
  --tls.disable) does the same and keeps CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH;
- with any one capability less, the agent exits 1 naming exactly that one;
- CAP_SYS_RESOURCE is in neither set: BPF memory is charged to the memory cgroup.
Docker 20.10 cannot add CAP_BPF or CAP_PERFMON, which is why the second set is tested here."""

import configparser
import os
import re
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (AGENT, HERE as HARNESS, PYTHON, ROOT, SERVER_START_TIMEOUT, Procs,  # noqa: E402
                     Req, Suite, Traffic, assert_counts, check, curl_session, fail,
                     scrape_after, wait_until)

T = Suite("caps", agent=False)
UNIT = os.path.join(ROOT, "deploy", "systemd", "sockeye.service")
UID = 61234  # no account: what DynamicUser= gives
NOBODY = 65534
OTEL_NAME = "billing-nobody"
BITS = {"cap_dac_read_search": 2, "cap_net_admin": 12, "cap_sys_ptrace": 19,
        "cap_sys_admin": 21, "cap_perfmon": 38, "cap_bpf": 39}
NO_HTTPS = ["cap_bpf", "cap_perfmon", "cap_net_admin", "cap_sys_ptrace", "cap_dac_read_search"]
RUNTIME = ["cap_sys_ptrace", "cap_dac_read_search"]
MIX = [Req("GET", "/", 200, "/"), Req("GET", "/users/12", 200, "/users/{id}"),
       Req("GET", "/boom", 500, "/boom"), Req("PUT", "/r/x", 204, "/r/x", body="p"),
       Req("GET", "/missing", 404, "/missing")]


def unit_caps():
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str
    cp.read(UNIT)
    amb = cp["Service"]["AmbientCapabilities"].lower().split()
    bnd = cp["Service"]["CapabilityBoundingSet"].lower().split()
    check(amb == bnd, "unit: AmbientCapabilities %s != CapabilityBoundingSet %s" % (amb, bnd))
    return amb


def mask(caps):
    return sum(1 << BITS[c] for c in caps)


def setpriv(caps):
    c = ",".join(["-all"] + ["+" + x[len("cap_"):] for x in caps])
    return ["setpriv", "--reuid=%d" % UID, "--regid=%d" % UID, "--clear-groups",
            "--inh-caps=" + c, "--ambient-caps=" + c, "--bounding-set=" + c, "--no-new-privs"]


def wrapper(env, caps):
    """An executable that runs the agent as UID with exactly caps (for harness.Agent)."""
    path = os.path.join(env.tmpdir, "agent-%s.sh" % "-".join(x[4:] for x in caps))
    with open(path, "w") as f:
        f.write("#!/bin/sh\nexec %s %s \"$@\"\n" % (" ".join(setpriv(caps)), AGENT))
    os.chmod(path, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    return path


def start_agent(env, caps, args=()):
    saved = harness.AGENT
    harness.AGENT = wrapper(env, caps)
    try:
        return env.start_agent(args=list(args))
    finally:
        harness.AGENT = saved


def thread_caps(pid):
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                v = dict(line.split(":", 1) for line in f if line.startswith("Cap"))
        except FileNotFoundError:
            continue  # a thread that ended since the listing (seen in the ASan build)
        out[int(tid)] = tuple(int(v[k], 16) for k in ("CapPrm", "CapEff", "CapAmb"))
    return out


def other_user_server(env):
    def pre():
        env.cgroup.enter()
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    proc = env.procs.start([PYTHON, HARNESS, "pyserver", "1.1", "127.0.0.1"],
                           stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, preexec_fn=pre,
                           env=dict(os.environ, OTEL_SERVICE_NAME=OTEL_NAME), cwd="/")
    line = b""
    if wait_until(lambda: proc.poll() is not None or
                  harness.select.select([proc.stdout], [], [], 0)[0], SERVER_START_TIMEOUT):
        line = proc.stdout.readline()
    if not line.startswith(b"READY "):
        Procs.stop(proc)
        fail("server as nobody did not start: %r" % line)
    return proc, int(line.split()[1])


def counts_exactly_and_keeps(env, caps, keep, args=()):
    agent = start_agent(env, caps, args)
    try:
        pid = agent.proc.pid
        with open("/proc/%d/status" % pid) as f:
            uid = [line.split()[1] for line in f if line.startswith("Uid:")][0]
        check(uid == str(UID), "agent uid %s, want %d" % (uid, UID))
        tc = thread_caps(pid)
        bad = {t: tuple(hex(x) for x in v) for t, v in tc.items() if v != (mask(keep),
                                                                           mask(keep), 0)}
        check(len(tc) >= 2 and not bad, "thread capabilities (CapPrm, CapEff, CapAmb) after "
              "attaching, want %s" % hex(mask(keep)), ["%d: %s" % kv for kv in bad.items()])
        proc, port = other_user_server(env)
        try:
            before = agent.scrape()
            tr = Traffic()
            reqs = MIX * 4
            curl_session("127.0.0.1", port, reqs)
            tr.add(reqs, "1.1", "curl, keep-alive")
            after = scrape_after(agent, before, port, tr.expected)
            assert_counts(before, after, port, tr)
            names = {lab.get("service_name") for n, lab, v in after.samples
                     if n == "http_server_request_duration_seconds_count" and
                     lab.get("server_port") == str(port)}
            check(names == {OTEL_NAME}, "service_name %s, want %s" % (names, OTEL_NAME))
            return after
        finally:
            Procs.stop(proc)
    finally:
        st = agent.stop()
        check(st == 0, "agent exit status %s on SIGTERM" % st, agent.log_tail())


@T.test
def unit_set_counts_exactly_and_keeps_only_the_runtime_set(env):
    caps = unit_caps()
    check(sorted(caps) == sorted(["cap_sys_admin", "cap_sys_ptrace", "cap_dac_read_search"]),
          "unit capabilities %s" % caps)
    after = counts_exactly_and_keeps(env, caps, caps)
    feats = {lab["feature"]: v for n, lab, v in after.samples if n == "sockeye_feature_enabled"}
    check(all(v == 1 for v in feats.values()) and len(feats) >= 4,
          "every feature on with the unit's set: %s" % feats)


@T.test
def set_without_https_counts_exactly_and_keeps_ptrace_and_dac_read_search(env):
    after = counts_exactly_and_keeps(env, NO_HTTPS, RUNTIME, args=["--tls.disable"])
    feats = {lab["feature"]: v for n, lab, v in after.samples if n == "sockeye_feature_enabled"}
    check(feats.get("https") == 0 and feats.get("http") == 1 and
          feats.get("tcp_connections") == 1, "features without CAP_SYS_ADMIN: %s (https off "
          "by --tls.disable, the rest on)" % feats)


def check_without(env, caps, args):
    problems = []
    for cap in caps:
        rest = [c for c in caps if c != cap]
        p = subprocess.run(setpriv(rest) + [AGENT, "--check"] + list(args), capture_output=True,
                           text=True, timeout=60)
        named = re.findall(r"missing capability (cap_[a-z_]+)", p.stderr)
        if p.returncode != 1 or named != [cap]:
            problems.append("without %s: exit %d, named %s" % (cap, p.returncode, named))
    p = subprocess.run(setpriv(caps) + [AGENT, "--check"] + list(args), capture_output=True,
                       text=True, timeout=60)
    if p.returncode != 0 or "check ok" not in p.stdout:
        problems.append("with all of %s: exit %d %s" % (caps, p.returncode,
                                                        p.stderr.strip()[-200:]))
    return problems


@T.test
def one_capability_less_fails_naming_it(env):
    problems = check_without(env, unit_caps(), [])
    problems += check_without(env, NO_HTTPS, ["--tls.disable"])
    check(not problems, "each capability must be needed and named", problems)


@T.test
def capabilities_keep_none_and_a_list_are_applied_to_every_thread(env):
    for keep, want in (("none", []), ("cap_sys_ptrace", ["cap_sys_ptrace"])):
        agent = start_agent(env, unit_caps(), ["--capabilities.keep=" + keep])
        try:
            tc = thread_caps(agent.proc.pid)
            bad = [t for t, v in tc.items() if v != (mask(want), mask(want), 0)]
            check(not bad, "--capabilities.keep=%s: threads %s hold %s" %
                  (keep, bad, [tuple(hex(x) for x in tc[t]) for t in bad]))
        finally:
            agent.stop()


if __name__ == "__main__":
    T.main()
