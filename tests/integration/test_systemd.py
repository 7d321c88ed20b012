#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""test_systemd.py - deploy/systemd/sockeye.service: `systemd-analyze verify` passes, the
offline security review scores it OK, its ExecStart arguments are accepted by the agent, its
capabilities are the DaemonSet's, and its system call and address family filters allow every
call a real run of the agent makes (traced with strace: start, attach, scrapes, SIGHUP,
SIGTERM), while each call added beyond @system-service is one the agent really uses. PID 1 here
is not systemd, so the unit's user and capabilities are exercised in test_caps.py (setpriv)."""

import configparser
import os
import re
import shlex
import signal
import subprocess
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import AGENT, ROOT, Procs, Suite, check, free_port, http_get, wait_until  # noqa: E402

T = Suite("systemd", agent=False)
UNIT = os.path.join(ROOT, "deploy", "systemd", "sockeye.service")
DAEMONSET = os.path.join(ROOT, "deploy", "kubernetes", "daemonset.yaml")
MAX_EXPOSURE = 3.5  # systemd-analyze security: "OK" and better


def service():
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str
    cp.read(UNIT)
    return cp["Service"]


def unit_copy(env):
    """The unit with ExecStart pointing at the built agent (verify checks the file exists)."""
    with open(UNIT) as f:
        text = f.read()
    check("ExecStart=/usr/local/bin/sockeye " in text, "ExecStart is /usr/local/bin/sockeye")
    path = os.path.join(env.tmpdir, "sockeye.service")
    with open(path, "w") as f:
        f.write(text.replace("ExecStart=/usr/local/bin/sockeye ", "ExecStart=%s " % AGENT))
    return path


@T.test
def systemd_analyze_verify_passes(env):
    p = subprocess.run(["systemd-analyze", "verify", unit_copy(env)], capture_output=True,
                       text=True, timeout=60)
    out = [x for x in (p.stdout + p.stderr).splitlines() if x.strip()]
    check(p.returncode == 0 and not out, "systemd-analyze verify: exit %d" % p.returncode, out)


@T.test
def security_review_scores_ok(env):
    p = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager",
                        unit_copy(env)], capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", p.stdout)
    check(m, "no exposure level: %s" % (p.stdout + p.stderr)[-300:])
    print("    exposure %s" % m.group(1), flush=True)
    check(float(m.group(1)) <= MAX_EXPOSURE, "exposure %s > %s" % (m.group(1), MAX_EXPOSURE))


@T.test
def execstart_arguments_and_capabilities_match_the_agent_and_the_daemonset(env):
    s = service()
    argv = shlex.split(s["ExecStart"])
    p = subprocess.run([AGENT] + argv[1:] + ["--version"], capture_output=True, text=True,
                       timeout=10)
    check(p.returncode == 0, "the agent refuses ExecStart's arguments: %s" % p.stderr.strip())
    with open(DAEMONSET) as f:
        c = yaml.safe_load(f)["spec"]["template"]["spec"]["containers"][0]
    ds = sorted("cap_" + x.lower() for x in c["securityContext"]["capabilities"]["add"])
    for key in ("AmbientCapabilities", "CapabilityBoundingSet"):
        got = sorted(s[key].lower().split())
        check(got == ds, "%s %s, DaemonSet adds %s" % (key, got, ds))
    check(s.get("NoNewPrivileges") == "yes" and s.get("ProtectSystem") == "strict" and
          s.get("DynamicUser") == "yes", "NoNewPrivileges, ProtectSystem=strict, DynamicUser")


def filter_set(names, seen=None):
    """Expands a SystemCallFilter= list (@groups recursively) with systemd-analyze."""
    seen = set() if seen is None else seen
    out = set()
    for n in names:
        if not n.startswith("@"):
            out.add(n)
            continue
        if n in seen:
            continue
        seen.add(n)
        p = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager", n],
                           capture_output=True, text=True, timeout=30)
        check(p.returncode == 0, "systemd-analyze syscall-filter %s failed" % n)
        items = [x.strip() for x in p.stdout.splitlines()[1:]
                 if x.strip() and not x.strip().startswith("#")]
        out |= filter_set(items, seen)
    return out


def traced_run(env):
    """strace -f of the agent through start, scrapes, SIGHUP and SIGTERM: (syscalls, families)."""
    trace = os.path.join(env.tmpdir, "strace.txt")
    port = free_port()
    proc = env.procs.start(["strace", "-f", "-qq", "-o", trace, AGENT,
                            "--web.listen-address=127.0.0.1:%d" % port],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           stdin=subprocess.DEVNULL)

    def ready():
        try:
            return http_get("127.0.0.1", port, "/readyz", 2)[0] == 200
        except OSError:
            return proc.poll() is not None
    check(wait_until(ready, 60, 0.2) and proc.poll() is None, "agent under strace not ready")
    for path in ("/metrics", "/", "/healthz", "/nope"):
        http_get("127.0.0.1", port, path)
    # The agent is strace's child: signal it by its PID.
    with open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) as f:
        agent_pid = int(f.read().split()[0])
    os.kill(agent_pid, signal.SIGHUP)
    http_get("127.0.0.1", port, "/metrics")
    os.kill(agent_pid, signal.SIGTERM)
    check(Procs.stop(proc, signal.SIGTERM, 30) == 0, "agent under strace did not exit 0")
    calls, fams = set(), set()
    with open(trace) as f:
        for line in f:
            m = re.match(r"\d+\s+(?:<\.\.\. )?([a-z_0-9]+)[( ]", line)
            if m:
                calls.add(m.group(1))
            fams.update(re.findall(r"socket\((AF_[A-Z0-9]+)", line))
    return calls, fams


@T.test
def system_call_and_address_family_filters_allow_a_real_run(env):
    s = service()
    names = s["SystemCallFilter"].split()
    allowed = filter_set(names)
    calls, fams = traced_run(env)
    check(len(calls) > 30, "strace saw only %s" % sorted(calls))
    # strace's names for calls systemd knows under another name.
    calls = {{"newfstatat": "newfstatat", "fstatat": "newfstatat"}.get(c, c) for c in calls}
    denied = sorted(calls - allowed)
    check(not denied, "calls the unit's SystemCallFilter would refuse", denied)
    extra = [n for n in names if not n.startswith("@")]
    base = filter_set([n for n in names if n.startswith("@")])
    unused = [n for n in extra if n in base or n not in calls]
    check(not unused, "calls added beyond the groups that the agent does not make (or that a "
          "group already allows): %s" % unused)
    fam_allowed = set(s["RestrictAddressFamilies"].split())
    check(fams and fams <= fam_allowed, "address families used %s, allowed %s"
          % (sorted(fams), sorted(fam_allowed)))


if __name__ == "__main__":
    T.main()
