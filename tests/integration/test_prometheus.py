#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""test_prometheus.py - deploy/prometheus and deploy/grafana against a real Prometheus:
promtool checks and unit-tests the rules (and each alert's tests are shown to bite by breaking
the alert); a Prometheus started here scrapes the real agent through the Kubernetes scrape
job's own relabeling (pod discovery replaced by file discovery carrying the same __meta_
labels), while real servers and clients make traffic; then every variable and every panel query
of the Grafana dashboard, and every recording rule, must return a non-empty, finite result, and
the 5xx alert must be pending for the route that fails."""

import copy
import json
import math
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ROOT, Procs, Req, Suite, check, curl_session, fail, free_port,  # noqa: E402
                     wait_until)

T = Suite("prometheus", agent=False)
PROMTOOL = "/usr/bin/promtool"
PROMETHEUS = "/usr/bin/prometheus"
PROMDIR = os.path.join(ROOT, "deploy", "prometheus")
RULES = os.path.join(PROMDIR, "sockeye-rules.yml")
RULES_TEST = os.path.join(PROMDIR, "sockeye-rules.test.yml")
DASHBOARD = os.path.join(ROOT, "deploy", "grafana", "sockeye-http.json")
NODE = "node-a"
RATE_INTERVAL = "20s"  # what Grafana's $__rate_interval is at a 1 s scrape interval, rounded up
TRAFFIC_SECONDS = 25.0
READY_TIMEOUT = 30.0
RULES_TIMEOUT = 60.0  # the RED group is evaluated every 30 s

MIX = [Req("GET", "/", 200, "/"), Req("GET", "/missing", 404, "/missing"),
       Req("GET", "/boom", 500, "/boom"),
       Req("POST", "/orders/42/items", 201, "/orders/{id}/items", body="x" * 300)]


def promtool(*args, cwd=PROMDIR):
    return subprocess.run([PROMTOOL] + list(args), capture_output=True, text=True, timeout=120,
                          cwd=cwd)


@T.test
def rules_pass_promtool_check_and_unit_tests(env):
    p = promtool("check", "rules", RULES)
    check(p.returncode == 0, "promtool check rules failed", (p.stdout + p.stderr).splitlines())
    check("SUCCESS: 21 rules found" in p.stdout, "rule count changed: %r" % p.stdout.strip())
    p = promtool("test", "rules", RULES_TEST)
    check(p.returncode == 0, "promtool test rules failed", (p.stdout + p.stderr).splitlines())


def alert_names(groups):
    return [r["alert"] for g in groups for r in g["rules"] if "alert" in r]


@T.test
def each_alert_has_a_unit_test_that_fails_when_it_never_or_always_fires(env):
    with open(RULES) as f:
        rules = yaml.safe_load(f)
    names = alert_names(rules["groups"])
    check(len(names) == 8, "alerts: %s" % names)
    with open(RULES_TEST) as f:
        tests = yaml.safe_load(f)
    tested = {t["alertname"] for case in tests["tests"] for t in case.get("alert_rule_test", [])}
    check(tested == set(names), "alerts without a unit test: %s" % sorted(set(names) - tested))
    d = os.path.join(env.tmpdir, "mutants")
    os.makedirs(d)
    shutil.copy(RULES_TEST, d)
    survived = []
    for name in names:
        for label, expr in (("never fires", "vector(1) > 2"), ("always fires", "vector(1)")):
            m = copy.deepcopy(rules)
            for g in m["groups"]:
                for r in g["rules"]:
                    if r.get("alert") == name:
                        r["expr"] = expr
            with open(os.path.join(d, "sockeye-rules.yml"), "w") as f:
                yaml.safe_dump(m, f)
            p = promtool("test", "rules", "sockeye-rules.test.yml", cwd=d)
            if p.returncode == 0:
                survived.append("%s %s" % (name, label))
    check(not survived, "unit tests still pass with a broken alert", survived)


@T.test
def static_scrape_config_passes_promtool(env):
    d = os.path.join(env.tmpdir, "static")
    os.makedirs(d)
    shutil.copy(os.path.join(PROMDIR, "scrape-static.yml"), d)
    shutil.copy(RULES, d)
    p = promtool("check", "config", "scrape-static.yml", cwd=d)
    check(p.returncode == 0, "promtool check config scrape-static.yml failed",
          (p.stdout + p.stderr).splitlines())


def kubernetes_job():
    with open(os.path.join(PROMDIR, "scrape-kubernetes.yml")) as f:
        cfg = yaml.safe_load(f)
    jobs = cfg["scrape_configs"]
    check(len(jobs) == 1 and jobs[0]["job_name"] == "sockeye", "one job named sockeye: %s" % jobs)
    job = jobs[0]
    sd = job["kubernetes_sd_configs"]
    # Debian's prometheus is built without Kubernetes discovery, so promtool cannot parse this
    # block: check its fields here against Prometheus' kubernetes_sd_config.
    check(len(sd) == 1 and set(sd[0]) <= {"role", "namespaces", "selectors", "api_server"},
          "kubernetes_sd_configs fields: %s" % sd)
    check(sd[0]["role"] == "pod" and sd[0]["namespaces"] == {"names": ["sockeye"]},
          "pod discovery in the sockeye namespace: %s" % sd[0])
    return job


# Labels Prometheus' pod discovery gives a target (the ones the job's relabeling reads).
def pod_target(port, name, node, port_name="metrics"):
    return {"targets": ["127.0.0.1:%d" % port],
            "labels": {"__meta_kubernetes_pod_label_app_kubernetes_io_name": name,
                       "__meta_kubernetes_pod_container_port_name": port_name,
                       "__meta_kubernetes_pod_node_name": node,
                       "__meta_kubernetes_pod_name": "%s-x7k2p" % name,
                       "__meta_kubernetes_namespace": "sockeye"}}


class Prometheus:
    def __init__(self, env, agent_port):
        self.dir = os.path.join(env.tmpdir, "prometheus")
        os.makedirs(self.dir)
        job = kubernetes_job()
        del job["kubernetes_sd_configs"]
        sd_file = os.path.join(self.dir, "targets.json")
        decoy = free_port()
        with open(sd_file, "w") as f:
            json.dump([pod_target(agent_port, "sockeye", NODE),
                       pod_target(decoy, "other-app", "node-b"),
                       pod_target(decoy, "sockeye", "node-c", port_name="debug")], f)
        job["file_sd_configs"] = [{"files": [sd_file]}]
        job["scrape_interval"] = "1s"
        job["scrape_timeout"] = "1s"
        shutil.copy(RULES, self.dir)
        cfg = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
               "rule_files": ["sockeye-rules.yml"], "scrape_configs": [job]}
        conf = os.path.join(self.dir, "prometheus.yml")
        with open(conf, "w") as f:
            yaml.safe_dump(cfg, f)
        self.port = free_port()
        self.log = os.path.join(self.dir, "prometheus.log")
        with open(self.log, "wb") as log:
            self.proc = env.procs.start(
                [PROMETHEUS, "--config.file=" + conf, "--storage.tsdb.path=" +
                 os.path.join(self.dir, "data"), "--web.listen-address=127.0.0.1:%d" % self.port,
                 "--storage.tsdb.retention.time=1h"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

        def ready():
            if self.proc.poll() is not None:
                return "exited"
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/-/ready" % self.port,
                                            timeout=2) as r:
                    return "ready" if r.status == 200 else None
            except OSError:
                return None
        st = wait_until(ready, READY_TIMEOUT, 0.2)
        if st != "ready":
            with open(self.log, errors="replace") as f:
                tail = f.read().splitlines()[-10:]
            Procs.stop(self.proc)
            fail("prometheus did not start (%s)" % st, tail)

    def api(self, path, **params):
        url = "http://127.0.0.1:%d/api/v1/%s?%s" % (self.port, path,
                                                    urllib.parse.urlencode(params, doseq=True))
        with urllib.request.urlopen(url, timeout=30) as r:
            body = json.loads(r.read().decode())
        check(body.get("status") == "success", "%s: %s" % (path, body))
        return body["data"]

    def query(self, expr):
        return self.api("query", query=expr)

    def stop(self):
        Procs.stop(self.proc)


def result_problem(data):
    """None when data is a non-empty vector (or scalar) of finite numbers, else why not."""
    if data["resultType"] == "scalar":
        v = float(data["result"][1])
        return None if math.isfinite(v) else "scalar %s" % v
    if data["resultType"] != "vector":
        return "result type %s" % data["resultType"]
    if not data["result"]:
        return "empty"
    bad = [(s["metric"], s["value"][1]) for s in data["result"]
           if not math.isfinite(float(s["value"][1]))]
    return "not finite: %s" % bad[:3] if bad else None


_LABEL_VALUES = re.compile(r'^label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$')


def substitute(expr, values):
    for name, v in values.items():
        expr = expr.replace("${%s}" % name, v).replace("$%s" % name, v)
    return expr


class Traffic(threading.Thread):
    """curl sessions of MIX against the server until stopped (bounded by TRAFFIC_SECONDS x 3)."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.stop_ev = threading.Event()
        self.sent = 0
        self.error = None

    def run(self):
        deadline = time.monotonic() + TRAFFIC_SECONDS * 3
        try:
            while not self.stop_ev.is_set() and time.monotonic() < deadline:
                curl_session("127.0.0.1", self.port, MIX)
                self.sent += len(MIX)
                self.stop_ev.wait(0.2)
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e


_live = {}


def live(env):
    """The Prometheus scraping the agent while traffic flows, set up once for the tests below."""
    if "prom" not in _live:
        # Run-time statistics on, or the dashboard's BPF cost panel has nothing to show.
        env.agent = env.start_agent(args=["--bpf.run-time-stats"])
        srv = env.pyserver("1.1")
        prom = Prometheus(env, env.agent.port)
        traffic = Traffic(srv.port)
        traffic.start()
        _live.update(prom=prom, srv=srv, traffic=traffic)
        time.sleep(TRAFFIC_SECONDS)
        check(traffic.error is None, "traffic failed: %s" % traffic.error)
    return _live["prom"]


@T.test
def kubernetes_job_relabeling_keeps_the_node_and_only_the_agent(env):
    prom = live(env)
    targets = prom.api("targets")["activeTargets"]
    check(len(targets) == 1, "active targets after relabeling: %s" % [t["labels"] for t in targets])
    lab = targets[0]["labels"]
    check(lab.get("node") == NODE and lab.get("job") == "sockeye" and
          lab.get("pod") == "sockeye-x7k2p", "target labels %s" % lab)
    check(targets[0]["health"] == "up", "target health %s: %s" % (targets[0]["health"],
                                                                    targets[0].get("lastError")))
    data = prom.query('count(count by (__name__) ({job="sockeye",node="%s"}))' % NODE)
    n = float(data["result"][0]["value"][1]) if data["result"] else 0
    untagged = prom.query('count({job="sockeye",node=""})')
    check(n >= 30 and not untagged["result"], "families with node=%s: %s; without node: %s"
          % (NODE, n, untagged["result"]))


@T.test
def every_dashboard_variable_and_panel_query_returns_finite_data(env):
    prom = live(env)
    with open(DASHBOARD) as f:
        dash = json.load(f)
    variables = dash["templating"]["list"]
    check(variables[0]["type"] == "datasource" and variables[0]["query"] == "prometheus",
          "the first variable is the Prometheus data source: %s" % variables[0])
    values = {"datasource": "prometheus", "__rate_interval": RATE_INTERVAL,
              "__interval": "1s"}
    # What a user picks: this node, the server and its clients, every route.
    picks = {"node": NODE, "service": "python3|curl", "route": ".*"}
    problems = []
    for v in variables[1:]:
        m = _LABEL_VALUES.match(substitute(v["query"]["query"], values))
        check(m, "variable %s: not a label_values() query: %r" % (v["name"], v["query"]))
        got = prom.api("label/%s/values" % m.group(2), **{"match[]": m.group(1)})
        want = [x for x in picks[v["name"]].split("|") if x != ".*"]
        if not got or any(x not in got for x in want):
            problems.append("variable %s: values %s, want %s among them" % (v["name"], got, want))
        values[v["name"]] = picks[v["name"]]
    panels = [p for p in dash["panels"] if p["type"] != "row"]
    ids = [p["id"] for p in dash["panels"]]
    check(len(ids) == len(set(ids)), "panel ids repeat: %s" % ids)
    check(dash.get("uid") and dash.get("title") and dash.get("schemaVersion"),
          "dashboard uid, title, schemaVersion")
    for p in dash["panels"]:
        g = p.get("gridPos", {})
        check(set(g) == {"h", "w", "x", "y"} and g["x"] + g["w"] <= 24,
              "panel %r gridPos %s" % (p["title"], g))
    n = 0
    for p in panels:
        check(p["datasource"] == {"type": "prometheus", "uid": "${datasource}"},
              "panel %r: datasource %s" % (p["title"], p["datasource"]))
        for t in p["targets"]:
            expr = substitute(t["expr"], values)
            check("$" not in expr.replace("${1}", ""), "panel %r: unsubstituted variable in %s"
                  % (p["title"], expr))
            why = result_problem(prom.query(expr))
            n += 1
            print("    %-36s %s: %s" % (p["title"][:36], t["refId"], why or "ok"), flush=True)
            if why:
                problems.append("panel %r %s: %s\n      %s" % (p["title"], t["refId"], why, expr))
    check(n >= 30, "only %d panel queries" % n)
    check(not problems, "%d of %d queries failed" % (len(problems), n), problems)


@T.test
def every_recording_rule_has_finite_data_and_the_5xx_alert_is_pending(env):
    prom = live(env)
    with open(RULES) as f:
        rules = yaml.safe_load(f)
    records = [r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r]

    def missing():
        return [r for r in records if result_problem(prom.query(r))]
    left = wait_until(lambda: not missing(), RULES_TIMEOUT, 1.0)
    check(left, "recording rules without finite data after %.0f s" % RULES_TIMEOUT,
          ["%s: %s" % (r, result_problem(prom.query(r))) for r in missing()])
    boom = prom.query('service_route:http_server_error_ratio_5xx:rate5m{service_name="python3",'
                      'http_route="/boom"}')
    check(boom["result"] and float(boom["result"][0]["value"][1]) == 1.0,
          "5xx ratio of /boom: %s" % boom["result"])

    def pending():
        return [a for a in prom.api("alerts")["alerts"]
                if a["labels"].get("alertname") == "SockeyeHighServerErrorRatio" and
                a["labels"].get("http_route") == "/boom" and
                a["labels"].get("service_name") == "python3"]
    check(wait_until(pending, RULES_TIMEOUT, 1.0), "SockeyeHighServerErrorRatio not pending for "
          "python3 /boom", [json.dumps(a["labels"]) for a in prom.api("alerts")["alerts"]])
    agent_alerts = [a["labels"]["alertname"] for a in prom.api("alerts")["alerts"]
                    if a["labels"]["alertname"] not in ("SockeyeHighServerErrorRatio",
                                                        "SockeyeHighLatencyP99")]
    check(not agent_alerts, "agent alerts for a healthy agent: %s" % agent_alerts)


@T.test
def stop_traffic_and_prometheus(env):
    t = _live.get("traffic")
    if t:
        t.stop_ev.set()
        t.join(30)
        check(t.error is None, "traffic failed: %s" % t.error)
        check(t.sent > 0, "no traffic was sent")
    if "prom" in _live:
        _live["prom"].stop()
        _live["srv"].stop()


if __name__ == "__main__":
    T.main()
