#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""test_kubernetes.py - deploy/kubernetes validated offline, with no cluster.

Each built-in object is deserialised into the Kubernetes API's typed models (Debian's
python3-kubernetes) and serialised back: a misspelt or misplaced field is dropped by the models,
a required one missing raises, a wrong scalar type changes the value, so anything but an exact
round trip is an error. The ServiceMonitor (a Prometheus Operator CRD, not in those models) is
checked against its fields from the operator's v1 API, with metadata and selector through the
typed models. Then the rules an API server or kubelet applies and the models do not (selectors,
names, ports, probes, mounts, the allowPrivilegeEscalation/CAP_SYS_ADMIN rule, requests <=
limits), and what this deployment promises (measured capabilities, read-only root, every node).
The pod spec itself runs in docker in test_container.py."""

import os
import re
import subprocess
import sys

import yaml
from kubernetes import client

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import AGENT, ROOT, Suite, check, fail  # noqa: E402

T = Suite("kubernetes", agent=False)
KDIR = os.path.join(ROOT, "deploy", "kubernetes")
MODELS = {("v1", "Namespace"): "V1Namespace", ("v1", "ServiceAccount"): "V1ServiceAccount",
          ("v1", "Service"): "V1Service", ("apps/v1", "DaemonSet"): "V1DaemonSet"}
# The measured set with HTTPS on (docs/deploy.md#capabilities, caps_start_mask(true)).
CAPS = ["SYS_ADMIN", "SYS_PTRACE", "DAC_READ_SEARCH"]
RELABEL_ACTIONS = {"replace", "keep", "drop", "hashmod", "labelmap", "labeldrop", "labelkeep",
                   "lowercase", "uppercase", "keepequal", "dropequal"}

# monitoring.coreos.com/v1 ServiceMonitor: the spec fields this deployment may use, with types.
RELABEL = {"sourceLabels": [str], "separator": str, "targetLabel": str, "regex": str,
           "modulus": int, "replacement": str, "action": str}
SERVICEMONITOR_SPEC = {
    "selector": "V1LabelSelector", "namespaceSelector": {"any": bool, "matchNames": [str]},
    "jobLabel": str, "targetLabels": [str], "podTargetLabels": [str], "sampleLimit": int,
    "endpoints": [{"port": str, "targetPort": (int, str), "path": str, "scheme": str,
                   "interval": str, "scrapeTimeout": str, "honorLabels": bool,
                   "honorTimestamps": bool, "relabelings": [RELABEL],
                   "metricRelabelings": [RELABEL], "params": dict}],
}

_api = client.ApiClient()


def load_all():
    docs = {}
    for name in sorted(os.listdir(KDIR)):
        if not name.endswith(".yaml") or name == "kustomization.yaml":
            continue
        with open(os.path.join(KDIR, name)) as f:
            objs = [o for o in yaml.safe_load_all(f) if o is not None]
        check(len(objs) == 1, "%s: %d objects, want one per file" % (name, len(objs)))
        docs[name] = objs[0]
    return docs


def round_trip_problems(obj, model):
    try:
        typed = _api._ApiClient__deserialize(obj, model)
    except (ValueError, TypeError) as e:
        return ["%s: %s" % (model, e)]
    back = _api.sanitize_for_serialization(typed)
    return diff(obj, back, model)


def diff(a, b, path):
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if k not in b:
                out.append("%s.%s: not a field of the API (dropped by the model)" % (path, k))
            elif k not in a:
                out.append("%s.%s: added by the model" % (path, k))
            else:
                out += diff(a[k], b[k], "%s.%s" % (path, k))
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return ["%s: %d items, %d after the model" % (path, len(a), len(b))]
        return [x for i, (u, v) in enumerate(zip(a, b)) for x in diff(u, v, "%s[%d]" % (path, i))]
    if a != b or type(a) is not type(b):
        return ["%s: %r becomes %r" % (path, a, b)]
    return []


def schema_problems(obj, schema, path):
    if isinstance(schema, str):
        return round_trip_problems(obj, schema)
    if isinstance(schema, dict):
        if not isinstance(obj, dict):
            return ["%s: not a mapping" % path]
        out = []
        for k, v in obj.items():
            if k not in schema:
                out.append("%s.%s: not a field of the API" % (path, k))
            else:
                out += schema_problems(v, schema[k], "%s.%s" % (path, k))
        return out
    if isinstance(schema, list):
        if not isinstance(obj, list):
            return ["%s: not a list" % path]
        return [x for i, o in enumerate(obj) for x in schema_problems(o, schema[0],
                                                                      "%s[%d]" % (path, i))]
    if schema is dict:
        return [] if isinstance(obj, dict) else ["%s: not a mapping" % path]
    types = schema if isinstance(schema, tuple) else (schema,)
    if type(obj) not in types:
        return ["%s: %r is not %s" % (path, obj, "/".join(t.__name__ for t in types))]
    return []


def quantity(s):
    """Kubernetes quantity -> float (cores or bytes)."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|k|M|G)?", str(s))
    check(m, "quantity %r" % s)
    mult = {None: 1, "m": 1e-3, "Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3, "k": 1e3,
            "M": 1e6, "G": 1e9}[m.group(2)]
    return float(m.group(1)) * mult


@T.test
def every_builtin_object_round_trips_through_the_api_models(env):
    docs = load_all()
    problems, seen = [], set()
    for name, obj in docs.items():
        key = (obj.get("apiVersion"), obj.get("kind"))
        if key == ("monitoring.coreos.com/v1", "ServiceMonitor"):
            continue
        check(key in MODELS, "%s: unexpected kind %s" % (name, key))
        seen.add(key)
        problems += ["%s: %s" % (name, p) for p in round_trip_problems(obj, MODELS[key])]
    check(seen == set(MODELS), "kinds present: %s" % sorted(seen))
    check(not problems, "objects that are not what the API accepts", problems)


@T.test
def servicemonitor_uses_only_fields_of_the_operator_api(env):
    sm = load_all()["servicemonitor.yaml"]
    check((sm["apiVersion"], sm["kind"]) == ("monitoring.coreos.com/v1", "ServiceMonitor"),
          "apiVersion/kind %s/%s" % (sm["apiVersion"], sm["kind"]))
    check(set(sm) == {"apiVersion", "kind", "metadata", "spec"}, "top-level keys %s" % set(sm))
    problems = round_trip_problems(sm["metadata"], "V1ObjectMeta")
    problems += schema_problems(sm["spec"], SERVICEMONITOR_SPEC, "spec")
    for ep in sm["spec"]["endpoints"]:
        for r in ep.get("relabelings", []):
            if r.get("action", "replace") not in RELABEL_ACTIONS:
                problems.append("relabel action %r" % r["action"])
    check(not problems, "ServiceMonitor fields", problems)


@T.test
def names_selectors_ports_probes_and_mounts_agree(env):
    docs = load_all()
    ns = docs["namespace.yaml"]["metadata"]["name"]
    problems = []
    for name, obj in docs.items():
        if obj["kind"] != "Namespace" and obj["metadata"].get("namespace") != ns:
            problems.append("%s: namespace %s, want %s" % (name, obj["metadata"].get("namespace"),
                                                           ns))
    ds = docs["daemonset.yaml"]
    tmpl = ds["spec"]["template"]
    labels = tmpl["metadata"]["labels"]
    sel = ds["spec"]["selector"]["matchLabels"]
    if any(labels.get(k) != v for k, v in sel.items()):
        problems.append("DaemonSet selector %s does not match template labels %s" % (sel, labels))
    pod = tmpl["spec"]
    if pod["serviceAccountName"] != docs["serviceaccount.yaml"]["metadata"]["name"]:
        problems.append("serviceAccountName %s" % pod["serviceAccountName"])
    (c,) = pod["containers"]
    ports = {p["name"]: p for p in c["ports"]}
    for p in c["ports"]:
        if pod.get("hostNetwork") and p.get("hostPort") != p["containerPort"]:
            problems.append("hostNetwork: hostPort %s != containerPort %s" % (p.get("hostPort"),
                                                                             p["containerPort"]))
    for probe in ("livenessProbe", "readinessProbe"):
        g = c[probe]["httpGet"]
        if g["port"] not in ports:
            problems.append("%s port %r is not a container port" % (probe, g["port"]))
    if c["livenessProbe"]["httpGet"]["path"] != "/healthz" or \
            c["readinessProbe"]["httpGet"]["path"] != "/readyz":
        problems.append("probes: liveness /healthz, readiness /readyz")
    vols = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    if set(vols) != set(mounts):
        problems.append("volumes %s vs mounts %s" % (sorted(vols), sorted(mounts)))
    for n, m in mounts.items():
        hp = vols.get(n, {}).get("hostPath", {}).get("path", "")
        if not hp.startswith("/") or not m.get("readOnly"):
            problems.append("mount %s: host path %r, readOnly %s" % (n, hp, m.get("readOnly")))
    paths = {m["mountPath"] for m in mounts.values()}
    if paths != {"/sys/fs/cgroup", "/var/log/pods"}:
        problems.append("mounts %s" % sorted(paths))
    svc = docs["service.yaml"]["spec"]
    if svc.get("clusterIP") != "None":
        problems.append("Service is not headless")
    if any(labels.get(k) != v for k, v in svc["selector"].items()):
        problems.append("Service selector %s does not match pod labels" % svc["selector"])
    for p in svc["ports"]:
        if p["targetPort"] not in ports or ports[p["targetPort"]]["containerPort"] != p["port"]:
            problems.append("Service port %s -> %s" % (p["port"], p["targetPort"]))
    sm = docs["servicemonitor.yaml"]["spec"]
    if sm["selector"]["matchLabels"] != {k: docs["service.yaml"]["metadata"]["labels"][k]
                                         for k in sm["selector"]["matchLabels"]}:
        problems.append("ServiceMonitor selector does not match the Service's labels")
    if sm["namespaceSelector"]["matchNames"] != [ns]:
        problems.append("ServiceMonitor namespaces %s" % sm["namespaceSelector"])
    svc_ports = {p["name"] for p in svc["ports"]}
    for ep in sm["endpoints"]:
        if ep["port"] not in svc_ports:
            problems.append("ServiceMonitor port %s is not a Service port" % ep["port"])
        node = [r for r in ep.get("relabelings", [])
                if r.get("sourceLabels") == ["__meta_kubernetes_pod_node_name"] and
                r.get("targetLabel") == "node"]
        if not node:
            problems.append("ServiceMonitor does not keep the node name as label node")
    with open(os.path.join(KDIR, "kustomization.yaml")) as f:
        kust = yaml.safe_load(f)
    want = sorted(n for n in docs if n != "servicemonitor.yaml")
    if sorted(kust["resources"]) != want:
        problems.append("kustomization resources %s, want %s" % (kust["resources"], want))
    check(not problems, "inconsistent manifests", problems)


@T.test
def pod_runs_host_wide_with_the_measured_capabilities_and_nothing_more(env):
    docs = load_all()
    pod = docs["daemonset.yaml"]["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    sc = c["securityContext"]
    problems = []
    if not (pod.get("hostPID") and pod.get("hostNetwork")):
        problems.append("hostPID and hostNetwork are both needed")
    if pod.get("dnsPolicy") != "ClusterFirstWithHostNet":
        problems.append("dnsPolicy with hostNetwork: %s" % pod.get("dnsPolicy"))
    if pod.get("automountServiceAccountToken") is not False:
        problems.append("the agent calls no API: automountServiceAccountToken must be false")
    if {"operator": "Exists"} not in pod.get("tolerations", []):
        problems.append("no toleration of every taint: %s" % pod.get("tolerations"))
    if sc.get("privileged") or not sc.get("readOnlyRootFilesystem"):
        problems.append("privileged %s, readOnlyRootFilesystem %s" % (sc.get("privileged"),
                                                                      sc.get("readOnlyRootFilesystem")))
    if sc["capabilities"] != {"drop": ["ALL"], "add": CAPS}:
        problems.append("capabilities %s, want drop ALL, add %s" % (sc["capabilities"], CAPS))
    # The API server refuses allowPrivilegeEscalation: false together with CAP_SYS_ADMIN.
    if sc.get("allowPrivilegeEscalation") is False and "SYS_ADMIN" in sc["capabilities"]["add"]:
        problems.append("allowPrivilegeEscalation: false is invalid with CAP_SYS_ADMIN")
    if sc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problems.append("seccompProfile %s" % sc.get("seccompProfile"))
    res = c["resources"]
    for k in ("cpu", "memory"):
        if quantity(res["requests"][k]) > quantity(res["limits"][k]):
            problems.append("%s request %s > limit %s" % (k, res["requests"][k],
                                                          res["limits"][k]))
    labels = docs["namespace.yaml"]["metadata"]["labels"]
    if labels.get("pod-security.kubernetes.io/enforce") != "privileged":
        problems.append("namespace Pod Security level %s: hostPID, hostNetwork, hostPath and "
                        "added capabilities need 'privileged'" %
                        labels.get("pod-security.kubernetes.io/enforce"))
    # The agent accepts the args: its own parser, --version last.
    p = subprocess.run([AGENT] + c["args"] + ["--version"], capture_output=True, text=True,
                       timeout=10)
    if p.returncode != 0:
        problems.append("the agent refuses the DaemonSet's args: %s" % p.stderr.strip())
    check(not problems, "DaemonSet security and placement", problems)


@T.test
def a_misspelt_field_is_caught(env):
    # The round trip must fail on what a typo produces, or the first test proves nothing.
    ds = load_all()["daemonset.yaml"]
    c = ds["spec"]["template"]["spec"]["containers"][0]
    c["securityContext"]["readOnlyRootFileSystem"] = c["securityContext"].pop(
        "readOnlyRootFilesystem")
    c["ports"][0]["containerPort"] = "9810"
    problems = round_trip_problems(ds, "V1DaemonSet")
    check(len(problems) == 2 and "readOnlyRootFileSystem" in problems[0] + problems[1],
          "problems found in a broken DaemonSet: %s" % problems)
    del c["image"], c["name"]
    try:
        _api._ApiClient__deserialize(ds, "V1DaemonSet")
    except ValueError:
        return
    fail("a container without a name deserialised")


if __name__ == "__main__":
    T.main()
