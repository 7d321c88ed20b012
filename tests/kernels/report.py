#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""report.py - judge the kernel matrix from its console logs, print the table and the count.

  report.py --rows ROWS --expect EXPECT [--programs PROGRAMS]
  report.py --self-test --vmhttp build/tests/kernels/vmhttp

ROWS has one line per kernel row: "NAME LOG SERVER_PORT SECONDS", LOG being the console log of
the VM (or the host run) as tests/kernels/scenario.sh prints it. EXPECT is `vmhttp expect`:
"FAMILY{label=value,...} VALUE" lines, each the sum over every series of FAMILY that carries
those labels and server_port=SERVER_PORT (the labels the test does not control, service_name
and others, are summed over). PROGRAMS ("NAME SECTION OBJECT" lines) orders the table and
names the programs a run never reached.

One test per kernel row: it passes when `sockeye --check` exits 0 with no program failed and
every loaded program within the verification budget (BUDGET instructions), the agent becomes
ready, the vmhttp client gets every answer it expects, the scrape matches EXPECT
exactly, every HTTP histogram's _count equals its +Inf bucket, and the agent exits 0 on
SIGTERM. Ends with "N passed, N failed"; exit status 1 on any failure.
"""
import argparse
import os
import re
import sys
import tempfile

MARK = "@@kernels "
BUDGET = 100000  # instructions the verifier may process per program (docs/kernels.md)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1bc")


def console_lines(text):
    """Console text -> lines: CRs and terminal escapes dropped, each marker starting a line
    (firmware output may precede the first one on the same line)."""
    out = []
    for raw in ANSI.sub("", text.replace("\r", "")).split("\n"):
        i = raw.find(MARK)
        out.append(raw[i:] if i > 0 else raw)
    return out


def sections(lines):
    """{name: {"lines": [...], "rc": int|None, "seconds": float|None}}, plus "boot"/"done"."""
    secs, cur = {}, None
    for line in lines:
        if line.startswith(MARK):
            f = line[len(MARK):].split()
            if not f:
                continue
            kv = dict(x.split("=", 1) for x in f[1:] if "=" in x)
            if f[0] == "begin" and len(f) > 1:
                cur = f[1]
                secs[cur] = {"lines": [], "rc": None, "seconds": None}
            elif f[0] == "end" and len(f) > 1 and f[1] in secs:
                s = secs[f[1]]
                s["rc"] = int(kv["rc"]) if kv.get("rc", "").lstrip("-").isdigit() else None
                s["seconds"] = float(kv["seconds"]) if "seconds" in kv else None
                cur = None
            elif f[0] in ("boot", "done"):
                secs[f[0]] = {"lines": [], "rc": 0, "seconds": None, **kv}
            continue
        if cur:
            secs[cur]["lines"].append(line)
    return secs


PROGRAM = re.compile(r"^program (\S+) (loaded|off|failed|untried)\b(.*)$")
INSNS = re.compile(r"\binsns=(\d+)")
REASON = re.compile(r'\breason="((?:[^"\\]|\\.)*)"')


def parse_check(lines):
    """The check section -> dict: kernel, programs {name: {state, insns, reason}},
    features {name: on/off}, ok (saw "check ok"), errors (agent error lines)."""
    r = {"kernel": None, "programs": {}, "features": {}, "ok": False, "errors": [], "notes": []}

    def prog(name):
        return r["programs"].setdefault(
            name, {"state": None, "insns": None, "reason": None})

    for line in lines:
        m = PROGRAM.match(line)
        if m:  # the agent's own report: authoritative
            p = prog(m.group(1))
            p["state"] = m.group(2)
            i = INSNS.search(m.group(3))
            if i:
                p["insns"] = int(i.group(1))
            rs = REASON.search(m.group(3))
            if rs:
                p["reason"] = rs.group(1)
            p["from_agent"] = True
        elif line.startswith("kernel "):
            r["kernel"] = line.split(None, 1)[1].strip()
        elif line.startswith("feature "):
            f = line.split()
            if len(f) >= 3:
                r["features"][f[1]] = f[2]
        elif line.startswith("check ok"):
            r["ok"] = True
        elif "level=error" in line or "level=warn" in line:
            r["errors"].append(line)
    return r


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(lines):
    """Prometheus text -> [(name, {label: value}, float)]. Lines that are no sample (comments,
    a kernel message on the console) are skipped."""
    out = []
    for line in lines:
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line.strip())
        if not m:
            continue
        try:
            v = float(m.group(3))
        except ValueError:
            continue
        out.append((m.group(1), dict(LABEL.findall(m.group(2) or "")), v))
    return out


def parse_expect(text):
    """`vmhttp expect` -> [(family, {label: value}, value, text)]."""
    out = []
    for line in text.splitlines():
        m = re.match(r"^(\w+)\{([^}]*)\}\s+(\S+)$", line.strip())
        if not m:
            continue
        labels = dict(kv.split("=", 1) for kv in m.group(2).split(",") if "=" in kv)
        out.append((m.group(1), labels, float(m.group(3)), line.strip()))
    return out


def check_metrics(samples, expect, server_port):
    """Problems (strings) of a scrape against the expectations; [] when all hold."""
    problems = []
    for fam, labels, want, text in expect:
        want_labels = dict(labels, server_port=str(server_port))
        got = sum(v for n, l, v in samples
                  if n == fam and all(l.get(k) == x for k, x in want_labels.items()))
        if got != want:
            problems.append(f"{text}: got {got:g} (server_port={server_port})")
    # Each HTTP histogram series: _count == the +Inf bucket.
    counts = {}
    infs = {}
    for n, l, v in samples:
        if not n.startswith("http_"):
            continue
        if n.endswith("_count"):
            counts[(n[:-6], tuple(sorted(l.items())))] = v
        elif n.endswith("_bucket") and l.get("le") == "+Inf":
            key = tuple(sorted((k, x) for k, x in l.items() if k != "le"))
            infs[(n[:-7], key)] = v
    for k, v in counts.items():
        if infs.get(k) != v:
            problems.append(f"{k[0]}{dict(k[1])}: _count {v:g} != +Inf bucket {infs.get(k)}")
    return problems


def judge(name, text, server_port, expect):
    """One row -> dict with check results, pass/fail and the reasons."""
    lines = console_lines(text)
    secs = sections(lines)
    row = {"name": name, "release": secs.get("boot", {}).get("release"), "problems": [],
           "check": parse_check(secs.get("check", {}).get("lines", [])), "sections": secs}
    chk = row["check"]
    row["release"] = chk["kernel"] or row["release"]
    c = secs.get("check")
    if c is None or c["rc"] is None:
        row["problems"].append("no complete check section (VM crashed or timed out?); last lines:")
        row["problems"] += ["  " + x for x in [x for x in lines if x.strip()][-15:]]
        return row
    failed = [n for n, p in chk["programs"].items() if p["state"] == "failed"]
    if c["rc"] != 0 or failed or not chk["ok"]:
        row["problems"].append(f"sockeye --check exit status {c['rc']}"
                               + (f"; refused: {', '.join(failed)}" if failed else ""))
        row["problems"] += ["  agent: " + e for e in chk["errors"]]
        for n in failed:
            row["problems"].append(f"  {n}: {chk['programs'][n]['reason']}")
        return row
    over = [f"{n} {p['insns']}" for n, p in chk["programs"].items()
            if p["state"] == "loaded" and (p["insns"] is None or p["insns"] > BUDGET)]
    if over:
        row["problems"].append(f"over the verification budget of {BUDGET} instructions (or no "
                               f"figure): {', '.join(over)}")
    s = secs.get("scenario")
    if s is None or s["rc"] != 0:
        row["problems"].append("scenario failed" if s else "no scenario section")
        row["problems"] += ["  " + x for x in (s or {"lines": []})["lines"][-20:]]
        return row
    m = secs.get("metrics")
    if m is None or m["rc"] != 0:
        row["problems"].append("scrape of /metrics failed")
        return row
    row["problems"] += check_metrics(parse_metrics(m["lines"]), expect, server_port)
    a = secs.get("agent-log")
    if a is None or a["rc"] != 0:
        row["problems"].append(f"agent exit status on SIGTERM: {a and a['rc']}")
        row["problems"] += ["  " + x for x in (a or {"lines": []})["lines"][-10:]]
    return row


def cell(p):
    if p is None:
        return "-"
    st = p["state"] or "?"
    if st == "off":
        return "off"
    ins = "" if p["insns"] is None else f" {p['insns']}"
    return f"{st}{ins}"


def section_seconds(row, name):
    s = row["sections"].get(name)
    return "-" if not s or s["seconds"] is None else f"{s['seconds']:.0f}"


def ready_seconds(row):
    for line in row["sections"].get("scenario", {"lines": []})["lines"]:
        m = re.match(r"^agent ready after ([0-9.]+)s", line)
        if m:
            return f"{float(m.group(1)):.0f}"
    return "-"


def table(rows, programs):
    names = list(programs)
    for r in rows:
        for n in r["check"]["programs"]:
            if n not in names:
                names.append(n)
    head = ["program"] + [f"{r['name']} {r['release'] or '?'}" for r in rows]
    body = [[n] + [cell(r["check"]["programs"].get(n)) for r in rows] for n in names]
    feats = sorted({f for r in rows for f in r["check"]["features"]})
    for f in feats:
        body.append([f"feature {f}"] + [r["check"]["features"].get(f, "-") for r in rows])
    # Where the time goes: --check (one verification of everything), the agent's start until
    # /readyz answers (a second one), and the whole row (boot and scenario included).
    body.append(["check s"] + [section_seconds(r, "check") for r in rows])
    body.append(["agent ready s"] + [ready_seconds(r) for r in rows])
    body.append(["row s"] + [r.get("seconds", "-") for r in rows])
    body.append(["result"] + ["PASS" if not r["problems"] else "FAIL" for r in rows])
    w = [max(len(str(x[i])) for x in [head] + body) for i in range(len(head))]
    fmt = lambda cols: "  ".join(str(c).ljust(w[i]) for i, c in enumerate(cols)).rstrip()
    out = [fmt(head), fmt(["-" * x for x in w])] + [fmt(b) for b in body]
    offs = [(r["name"], n, p["reason"]) for r in rows for n, p in r["check"]["programs"].items()
            if p["state"] == "off" and p["reason"]]
    out += [f"  off on {rn}: {n}: {why}" for rn, n, why in offs]
    return "\n".join(out)


def report(rows_file, expect_file, programs_file, out=sys.stdout, extra=(0, 0)):
    """Judges every row and prints the verdicts, the table and "N passed, N failed"; extra is
    (passed, failed) of tests run before (the self-test). True when nothing failed."""
    expect = parse_expect(open(expect_file).read())
    programs = []
    if programs_file and os.path.exists(programs_file):
        programs = [l.split()[0] for l in open(programs_file) if l.strip()]
    rows = []
    for line in open(rows_file):
        f = line.split()
        if len(f) < 3:
            continue
        text = open(f[1], errors="replace").read() if os.path.exists(f[1]) else ""
        row = judge(f[0], text, int(f[2]), expect)
        row["seconds"] = f[3] if len(f) > 3 else "-"
        rows.append(row)
    for r in rows:
        verdict = "PASS" if not r["problems"] else "FAIL"
        print(f"--- {r['name']} ({r['release'] or '?'}): {verdict}", file=out)
        for p in r["problems"]:
            print(f"    {p}", file=out)
    print(file=out)
    print(table(rows, programs), file=out)
    passed = sum(1 for r in rows if not r["problems"])
    failed = len(rows) - passed
    if not rows:
        print("no kernel row ran", file=out)
        failed += 1
    print(f"{passed + extra[0]} passed, {failed + extra[1]} failed", file=out)
    return failed + extra[1] == 0


# ---- self test: the parser against samples of the formats it reads ----

def self_test(vmhttp, out=sys.stdout):
    import io
    import subprocess
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "testdata")
    expect_text = subprocess.run([vmhttp, "expect"], check=True, capture_output=True,
                                 text=True).stdout
    expect = parse_expect(expect_text)
    failures = []

    def case(name, cond, detail=""):
        print(f"{'ok  ' if cond else 'FAIL'} {name}" + (f": {detail}" if detail and not cond else ""),
              file=out)
        if not cond:
            failures.append(name)

    new = open(os.path.join(here, "new-format-pass.log")).read()
    r = judge("fake", new, 8080, expect)
    p = r["check"]["programs"]
    case("new format: row passes", not r["problems"], r["problems"])
    case("new format: kernel line", r["release"] == "6.18.44-fc-v1252", r["release"])
    case("new format: loaded insns", p["cgskb_ingress"]["state"] == "loaded"
         and p["cgskb_ingress"]["insns"] == 41234, p.get("cgskb_ingress"))
    case("new format: off with reason", p["tp_sock_send"]["state"] == "off"
         and p["tp_sock_send"]["reason"] == "tracepoint sock_send_length missing")
    case("new format: features", r["check"]["features"] == {"tls": "on", "sockops": "off"},
         r["check"]["features"])
    over = new.replace("program cgskb_egress loaded insns=40000",
                       "program cgskb_egress loaded insns=100001")
    r = judge("fake", over, 8080, expect)
    case("a program over the budget fails the row",
         any("cgskb_egress 100001" in x for x in r["problems"]), r["problems"])

    bad = new.replace('http_request_method="GET",http_response_status_code="404",http_route="/missing/page",network_protocol_version="1.1",server_port="8080",service_name="vmhttp"} 2',
                      'http_request_method="GET",http_response_status_code="404",http_route="/missing/page",network_protocol_version="1.1",server_port="8080",service_name="vmhttp"} 3', 1)
    r = judge("fake", bad, 8080, expect)
    case("a count off by one fails the row", any("404" in x for x in r["problems"]), r["problems"])
    r = judge("fake", new, 8081, expect)
    case("series of another server_port are not counted", len(r["problems"]) >= 1)
    r = judge("fake", new.replace("@@kernels end scenario rc=0", "@@kernels end scenario rc=1"),
              8080, expect)
    case("a failed client fails the row", r["problems"][:1] == ["scenario failed"], r["problems"])

    failed = open(os.path.join(here, "new-format-failed.log")).read()
    r = judge("fake", failed, 8080, expect)
    p = r["check"]["programs"]
    case("new format failed: row fails", bool(r["problems"]))
    case("new format failed: state and insns", p["cgskb_ingress"]["state"] == "failed"
         and p["cgskb_ingress"]["insns"] == 1000001, p["cgskb_ingress"])
    case("new format failed: the verifier's words shown",
         any("BPF program is too large" in x for x in r["problems"]), r["problems"])
    case("new format failed: agent error shown",
         any("level=error" in x for x in r["problems"]), r["problems"])

    old = failed
    r = judge("fake", old.split("@@kernels end check")[0], 8080, expect)
    case("a VM that stops mid-check fails", bool(r["problems"]) and "no complete check" in r["problems"][0])

    with tempfile.TemporaryDirectory() as d:
        rows = os.path.join(d, "rows")
        ex = os.path.join(d, "expect")
        open(ex, "w").write(expect_text)
        open(os.path.join(d, "a.log"), "w").write(new)
        open(os.path.join(d, "b.log"), "w").write(old)
        open(rows, "w").write(f"new {d}/a.log 8080 1\nold {d}/b.log 8080 2\n")
        buf = io.StringIO()
        ok = report(rows, ex, None, out=buf)
        text = buf.getvalue()
        case("report: one pass, one fail", not ok and text.rstrip().endswith("1 passed, 1 failed"),
             text[-300:])
        case("report: table cell", "failed 1000001" in text and "loaded 41234" in text, text)
    n = len(failures)
    print(f"report.py self-test: {'all ok' if not n else f'{n} failed'}", file=out)
    return n == 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows")
    ap.add_argument("--expect")
    ap.add_argument("--programs")
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--vmhttp", default="build/tests/kernels/vmhttp")
    a = ap.parse_args()
    if a.self_test:
        return 0 if self_test(a.vmhttp) else 1
    if not a.rows or not a.expect:
        ap.error("--rows and --expect are required")
    # The parser is judged first, so a broken parser cannot pass a broken kernel.
    import io
    buf = io.StringIO()
    try:
        ok = self_test(a.vmhttp, out=buf)
    except Exception as e:  # a crash of the self-test is its failure, not the matrix's end
        ok = False
        print(f"self-test crashed: {e!r}", file=buf)
    print(buf.getvalue().rstrip().splitlines()[-1] if ok else buf.getvalue().rstrip())
    return 0 if report(a.rows, a.expect, a.programs, extra=(1, 0) if ok else (0, 1)) else 1


if __name__ == "__main__":
    sys.exit(main())
