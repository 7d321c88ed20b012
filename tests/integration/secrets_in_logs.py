#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""secrets_in_logs.py - run by tests/run.sh after the integration suites: reads every line of
every agent log they kept ($SOCKEYE_LOG_DIR/SUITE/agent*.log) for every secret they recorded
($SOCKEYE_LOG_DIR/secrets: passwords the agent checked or was configured with, as themselves
and inside Basic Authorization headers; each line of the TLS private keys it loaded). A secret
found in a log is a failure naming the file and line. The check first proves it can fail: a
recorded secret planted in a log of its own must be found."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Suite, check, fail  # noqa: E402

T = Suite("secrets_in_logs", agent=False)
LOG_DIR = os.environ.get("SOCKEYE_LOG_DIR")


def secrets():
    out = []
    with open(os.path.join(LOG_DIR, "secrets")) as f:
        for line in f:
            value, _, what = line.rstrip("\n").partition("\t")
            out.append((bytes.fromhex(value), what))
    return out


def logs():
    for root, _dirs, files in os.walk(LOG_DIR):
        for n in sorted(files):
            if n.startswith("agent") and n.endswith(".log"):
                yield os.path.join(root, n)


def scan(paths, secret_list):
    """Lines 'FILE:LINE: WHAT' where a secret appears."""
    found = []
    for path in paths:
        with open(path, "rb") as f:
            for n, line in enumerate(f, 1):
                for value, what in secret_list:
                    if value in line:
                        found.append("%s:%d: %s" % (os.path.relpath(path, LOG_DIR), n, what))
    return found


@T.test
def the_suites_kept_agent_logs_and_named_their_secrets(env):
    check(LOG_DIR and os.path.isdir(LOG_DIR), "SOCKEYE_LOG_DIR is not set or missing: run this "
          "through tests/run.sh after the integration suites")
    paths = list(logs())
    lines = sum(1 for p in paths for _ in open(p, "rb"))
    kinds = {what.split(" ")[0] for _, what in secrets()}
    print("NOTE %d agent logs, %d lines; %d secrets recorded" % (len(paths), lines,
                                                                 len(secrets())), flush=True)
    check(len(paths) >= 10 and lines >= 300, "only %d agent logs (%d lines) were kept"
          % (len(paths), lines))
    check({"password", "Authorization", "line"} <= kinds,
          "the suites recorded no password, header or key: %s" % sorted(kinds))


@T.test
def a_planted_secret_is_found(env):
    value, what = secrets()[0]
    planted = os.path.join(env.tmpdir, "planted.log")  # not agent*.log: not kept
    with open(planted, "wb") as f:
        f.write(b"ts=x level=info msg=\"fine\"\nts=x level=warn msg=\"oops " + value + b"\"\n")
    found = scan([planted], secrets())
    check(any(":2: " + what in x for x in found), "the scan missed a planted secret: %r" % found)


@T.test
def no_agent_log_line_holds_a_secret(env):
    found = scan(list(logs()), secrets())
    if found:
        fail("%d log lines hold secrets" % len(found), found[:20])


if __name__ == "__main__":
    T.main()
