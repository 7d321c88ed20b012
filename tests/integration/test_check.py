#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""test_check.py - what the agent says about the kernel it runs on: --check names the kernel,
every program with the instructions its verification took (within the budget of 100k), and
every feature; the running agent exports the same figures and features."""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import AGENT, Suite, check  # noqa: E402

T = Suite("check", agent=False)
BUDGET = 100000
SOCKET_PROGS = ["tp_sock_state", "cgskb_ingress", "cgskb_egress", "proto_redis_in",
                "proto_redis_out", "proto_postgres_in", "proto_postgres_out"]
TLS_PROGS = ["uprobe_ssl_rw", "uprobe_ssl_free", "uretprobe_ssl_rw", "tp_exec", "tp_exit"]
FUNC_PROGS = ["uprobe_func", "uretprobe_func", "usdt_func"]
FEATURES = ["http", "tcp_connections", "https", "owner_on_send", "functions", "redis",
            "postgresql"]
_PROG = re.compile(r'^program (\S+) (loaded|off|failed|untried)(?: insns=(\d+))?'
                   r'(?: reason="([^"]*)")?$')
_FEAT = re.compile(r'^feature (\S+) (on|off)(?: reason="([^"]*)")?$')


def run_check(*args):
    p = subprocess.run([AGENT, "--check"] + list(args), capture_output=True, text=True,
                       timeout=120)
    progs, feats, kernel = {}, {}, None
    for line in p.stdout.splitlines():
        if line.startswith("kernel "):
            kernel = line[len("kernel "):]
        m = _PROG.match(line)
        if m:
            progs[m.group(1)] = (m.group(2), int(m.group(3) or 0), m.group(4))
        m = _FEAT.match(line)
        if m:
            feats[m.group(1)] = (m.group(2), m.group(3))
    return p, kernel, progs, feats


@T.test
def check_names_kernel_programs_figures_and_features(env):
    p, kernel, progs, feats = run_check()
    out = ["stdout: " + line for line in p.stdout.splitlines()[-30:]]
    check(p.returncode == 0, "--check exited %d" % p.returncode, out + p.stderr.splitlines()[-5:])
    check(kernel == os.uname().release, "kernel line %r, uname -r %r" % (kernel,
                                                                         os.uname().release))
    check(sorted(feats) == sorted(FEATURES), "features %s, want %s" % (sorted(feats), FEATURES),
          out)
    want = SOCKET_PROGS + TLS_PROGS + FUNC_PROGS
    check(sorted(progs) == sorted(want), "programs %s, want %s" % (sorted(progs), sorted(want)),
          out)
    # HTTPS may be off on a kernel that lacks what it needs: its programs then say so.
    over = ["%s: %s %d" % (n, st, insns) for n, (st, insns, why) in progs.items()
            if not (st == "loaded" and 0 < insns <= BUDGET) and
            not (n in TLS_PROGS and st == "off" and why == feats["https"][1])]
    check(not over, "programs not loaded within the verification budget of %d" % BUDGET,
          over + out)
    check(p.stdout.rstrip().endswith("check ok: programs load and attach"),
          "no closing 'check ok' line", out)


@T.test
def tls_disable_is_a_feature_off_with_its_reason(env):
    p, _, progs, feats = run_check("--tls.disable")
    check(p.returncode == 0, "--check --tls.disable exited %d" % p.returncode,
          p.stderr.splitlines()[-5:])
    check(feats.get("https") == ("off", "--tls.disable"), "https feature: %s" %
          (feats.get("https"),))
    check(sorted(progs) == sorted(SOCKET_PROGS + TLS_PROGS + FUNC_PROGS),
          "programs with --tls.disable: %s" %
          sorted(progs))
    not_off = [n for n in TLS_PROGS if progs[n] != ("off", 0, "--tls.disable")]
    check(not not_off, "TLS programs not listed as off for --tls.disable: %s" %
          ["%s %s" % (n, progs[n]) for n in not_off])


@T.test
def running_agent_exports_the_same_figures_and_features(env):
    _, _, progs, feats = run_check()
    agent = env.start_agent()
    s = agent.scrape()
    probs = []
    for name, (st, insns, _) in progs.items():
        # An agent without declared functions unloads their programs once verified.
        if st != "loaded" or name in FUNC_PROGS:
            continue
        got = s.value("sockeye_bpf_program_verified_instructions", program=name)
        if got != insns:
            probs.append("%s: exported %s, --check said %d" % (name, got, insns))
    for name, (st, _) in feats.items():
        got = s.value("sockeye_feature_enabled", feature=name)
        if got != (1 if st == "on" else 0):
            probs.append("feature %s: exported %s, --check said %s" % (name, got, st))
    agent.stop()
    check(not probs, "the scrape disagrees with --check", probs)


if __name__ == "__main__":
    T.main()
