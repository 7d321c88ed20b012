#!/bin/bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# overhead.sh - what the agent costs a busy HTTP server: nginx (1 worker, `return 200`) under
# `wrk -t1 -c16`, alternating phases without and with the agent, three pairs in one run.
#
#   bench/overhead.sh           5 s phases (about a minute)
#   bench/overhead.sh --smoke   1 s phases (about 10 s), to check the script itself
#   SOCKEYE_AGENT_ARGS=... bench/overhead.sh   adds agent flags (e.g. --tls.disable)
#   SOCKEYE_AGENT_B=PATH bench/overhead.sh     a second agent binary (e.g. an older build) in
#                               every round too: without, with the agent, with B, side by side
#                               (SOCKEYE_AGENT_B_ARGS: its flags)
#   bench/overhead.sh --tls     HTTPS (nginx `ssl`, wrk over TLS): three rounds of phases without
#                               the agent, with --tls.probe-mode=internal and =public; prints the
#                               CPU time per request (nginx + wrk) each adds and the throughput
#                               ratio (about 1.5 minutes; with --smoke about 15 s)
#
# Prints each phase's throughput, the with/without ratio per pair and on average, the requests
# wrk completed against the requests the agent counted for the nginx port (server and client
# families, scraped before and after each 'with' phase), and the BPF run time per request from
# kernel.bpf_stats_enabled (enabled for the run, restored at the end).
#
# A benchmark, not a test: `make test` does not run it (`make bench` does). It exits non-zero
# when a tool fails, the agent does not start or exit cleanly, or a count is outside what wrk's
# numbers allow: every request wrk completed was counted on both sockets, and at most one more
# per connection (in flight when wrk stopped) may have been answered and counted.
# Every process it starts is stopped by its PID; its temp dir is removed.
set -euo pipefail
cd "$(dirname "$0")/.."

DUR=5
TLS=0
for arg in "$@"; do
	case "$arg" in
	--smoke) DUR=1 ;;
	--tls) TLS=1 ;;
	*) echo "usage: $0 [--smoke] [--tls]" >&2; exit 2 ;;
	esac
done
CONNS=16
PAIRS=3
AGENT=${SOCKEYE_AGENT:-build/sockeye}
AGENT_B=${SOCKEYE_AGENT_B:-}
PY=/usr/bin/python3

die() { echo "overhead.sh: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (loads BPF programs, sets kernel.bpf_stats_enabled)"
for t in /usr/sbin/nginx wrk bpftool curl openssl "$PY"; do
	command -v "$t" >/dev/null || die "$t not found (make deps-test installs it)"
done
[ -x "$AGENT" ] || die "$AGENT missing: run 'make all' first"
[ -z "$AGENT_B" ] || [ -x "$AGENT_B" ] || die "SOCKEYE_AGENT_B=$AGENT_B is not an executable"

TMP=$(mktemp -d /tmp/sockeye-bench.XXXXXX)
NGINX_PID=
AGENT_PID=
OLD_STATS=$(sysctl -n kernel.bpf_stats_enabled)

# stop_pid PID: SIGTERM, wait up to 10 s, then SIGKILL. Sets STOP_RC to its exit status
# (not printed: `wait` works only in the shell that started the process, not in a $(...)).
STOP_RC=0
stop_pid() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
	fi
	STOP_RC=0
	wait "$pid" 2>/dev/null || STOP_RC=$?
}

cleanup() {
	set +e
	[ -n "$AGENT_PID" ] && stop_pid "$AGENT_PID"
	[ -n "$NGINX_PID" ] && stop_pid "$NGINX_PID"
	sysctl -q -w kernel.bpf_stats_enabled="$OLD_STATS" >/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	"$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# --- nginx ------------------------------------------------------------------------------------
NGINX_PORT=$(free_port)
mkdir -p "$TMP/nginx"
SCHEME=http
LISTEN_SSL=
if [ "$TLS" = 1 ]; then
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/nginx/key.pem" \
		-out "$TMP/nginx/cert.pem" -days 2 -subj /CN=127.0.0.1 \
		-addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1 || die "openssl req failed"
	SCHEME=https
	LISTEN_SSL=" ssl;
        ssl_certificate $TMP/nginx/cert.pem;
        ssl_certificate_key $TMP/nginx/key.pem"
fi
cat >"$TMP/nginx/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $TMP/nginx/body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    keepalive_timeout 60s;
    keepalive_requests 100000000;
    server {
        listen 127.0.0.1:$NGINX_PORT$LISTEN_SSL;
        location / { return 200 "ok\n"; }
    }
}
EOF
/usr/sbin/nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" \
	</dev/null >"$TMP/nginx/stderr.log" 2>&1 &
NGINX_PID=$!
URL="$SCHEME://127.0.0.1:$NGINX_PORT/"
for i in $(seq 100); do
	curl -sfk -o /dev/null --max-time 1 "$URL" && break
	kill -0 "$NGINX_PID" 2>/dev/null || die "nginx exited: $(tail -n 3 "$TMP/nginx/error.log")"
	sleep 0.1
done
curl -sfk -o /dev/null --max-time 1 "$URL" || die "nginx not answering"

# --- helpers ----------------------------------------------------------------------------------
# run_wrk -> "requests rps"
run_wrk() {
	local out req rps
	out=$(timeout $((DUR + 30)) wrk -t1 -c"$CONNS" -d"${DUR}s" --timeout 10s \
		"http://127.0.0.1:$NGINX_PORT/") || die "wrk failed"
	req=$(echo "$out" | sed -n 's/^ *\([0-9][0-9]*\) requests in .*/\1/p')
	rps=$(echo "$out" | sed -n 's/^Requests\/sec: *\([0-9.][0-9.]*\).*/\1/p')
	[ -n "$req" ] && [ -n "$rps" ] || die "cannot read wrk's output: $out"
	if echo "$out" | grep -q "Non-2xx\|Socket errors"; then
		echo "overhead.sh: warning: wrk reported: $(echo "$out" | grep "Non-2xx\|Socket errors")" >&2
	fi
	echo "$req $rps"
}

# agent_progs PID -> ids of the BPF programs the agent holds
agent_progs() {
	local ids
	ids=$(grep -h '^prog_id:' /proc/"$1"/fdinfo/* 2>/dev/null | awk '{print $2}' | sort -un |
		tr '\n' ' ')
	bpftool prog show -j | IDS="$ids" "$PY" -c '
import json, os, sys
ids = {int(x) for x in os.environ["IDS"].split()}
print(" ".join(str(p["id"]) for p in json.load(sys.stdin)
               if p["id"] in ids))'
}

# foreign_progs PID|"" -> "id:name" of programs named like ours that PID does not hold
foreign_progs() {
	local mine=""
	[ -n "$1" ] && mine=$(agent_progs "$1")
	bpftool prog show -j | MINE="$mine" "$PY" -c '
import json, os, sys
mine = {int(x) for x in os.environ["MINE"].split()}
print(" ".join("%d:%s" % (p["id"], p["name"]) for p in json.load(sys.stdin)
               if p.get("name", "").startswith(("cgskb_", "sockops_", "tp_sock_", "tp_exec",
                                                "tp_exit", "uprobe_ssl", "uretprobe_ssl"))
               and p["id"] not in mine))'
}

# prog_stats "ids" -> "run_cnt run_time_ns" summed
prog_stats() {
	bpftool prog show -j | IDS="$1" "$PY" -c '
import json, os, sys
ids = {int(x) for x in os.environ["IDS"].split()}
ps = [p for p in json.load(sys.stdin) if p["id"] in ids]
print(sum(p.get("run_cnt", 0) for p in ps), sum(p.get("run_time_ns", 0) for p in ps))'
}

# counted PORT -> "server client": sum of _count of both families for server_port=NGINX_PORT
counted() {
	curl -sf --max-time 10 "http://127.0.0.1:$1/metrics" | PORT="$NGINX_PORT" "$PY" -c '
import os, re, sys
port = os.environ["PORT"]
tot = {"server": 0, "client": 0}
for line in sys.stdin:
    m = re.match(r"http_(server|client)_request_duration_seconds_count\{(.*)\} (\S+)", line)
    if m and re.search(r"(^|,)server_port=\"%s\"" % port, m.group(2)):
        tot[m.group(1)] += float(m.group(3))
print("%d %d" % (tot["server"], tot["client"]))' || die "scrape of the agent failed"
}

# start_agent [ARGS...]: starts $CUR_AGENT (default $AGENT)
start_agent() {
	AGENT_PORT=$(free_port)
	"${CUR_AGENT:-$AGENT}" --web.listen-address=127.0.0.1:"$AGENT_PORT" "$@" </dev/null >"$TMP/agent.log" 2>&1 &
	AGENT_PID=$!
	for i in $(seq 300); do
		if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 \
			"http://127.0.0.1:$AGENT_PORT/readyz")" = 200 ]; then
			return 0
		fi
		kill -0 "$AGENT_PID" 2>/dev/null || die "agent exited: $(tail -n 5 "$TMP/agent.log")"
		sleep 0.1
	done
	die "agent not ready after 30 s: $(tail -n 5 "$TMP/agent.log")"
}

stop_agent() {
	stop_pid "$AGENT_PID"
	AGENT_PID=
	[ "$STOP_RC" -eq 0 ] ||
		die "agent exited with status $STOP_RC on SIGTERM: $(tail -n 5 "$TMP/agent.log")"
}

# --- HTTPS: CPU time per request without the agent and with each probe mode ----------------------
# nginx_cpu -> CPU seconds (user + system) of the nginx master and its workers so far
nginx_cpu() {
	local pids="$NGINX_PID $(cat /proc/"$NGINX_PID"/task/*/children 2>/dev/null)"
	PIDS="$pids" "$PY" -c '
import os
tck = os.sysconf("SC_CLK_TCK")
total = 0
for pid in os.environ["PIDS"].split():
    with open("/proc/%s/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    total += int(fields[11]) + int(fields[12])
print("%.2f" % (total / tck))'
}

# wrk_tls -> "requests rps wrk_cpu_seconds"
wrk_tls() {
	timeout $((DUR + 30)) "$PY" -c '
import re, resource, subprocess, sys
out = subprocess.run(sys.argv[1:], capture_output=True, text=True)
if out.returncode:
    sys.exit("wrk failed: " + out.stderr)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
req = re.search(r"(\d+) requests in", out.stdout)
rps = re.search(r"Requests/sec:\s*([\d.]+)", out.stdout)
if not req or not rps:
    sys.exit("cannot read wrk output: " + out.stdout)
if re.search("Non-2xx|Socket errors", out.stdout):
    print("overhead.sh: warning: wrk reported errors", file=sys.stderr)
print(req.group(1), rps.group(1), "%.3f" % (r.ru_utime + r.ru_stime))' \
		wrk -t1 -c"$CONNS" -d"${DUR}s" --timeout 10s "$URL" || die "wrk failed"
}

# tls_phase MODE|none -> prints the phase line; sets PH_REQ PH_RPS PH_US
tls_phase() {
	local mode=$1 c0 c1 req rps wcpu s0 c0a s1 c1a n0 t0 n1 t1 ids extra=""
	if [ "$mode" != none ]; then
		start_agent --tls.probe-mode="$mode"
		ids=$(agent_progs "$AGENT_PID")
		read -r s0 c0a <<<"$(counted "$AGENT_PORT")"
		read -r n0 t0 <<<"$(prog_stats "$ids")"
	fi
	c0=$(nginx_cpu)
	read -r req rps wcpu <<<"$(wrk_tls)"
	c1=$(nginx_cpu)
	PH_REQ=$req PH_RPS=$rps
	PH_US=$("$PY" -c "print('%.1f' % (($c1 - $c0 + $wcpu) / $req * 1e6))")
	if [ "$mode" != none ]; then
		read -r n1 t1 <<<"$(prog_stats "$ids")"
		read -r s1 c1a <<<"$(counted "$AGENT_PORT")"
		stop_agent
		local ds=$((s1 - s0)) dc=$((c1a - c0a))
		extra=$(printf '%10s %10s %10s' "$ds" "$dc" \
			"$("$PY" -c "print('%.0f' % (($t1 - $t0) / $req))")")
		for pair_count in "server:$ds" "client:$dc"; do
			local n=${pair_count#*:}
			if [ "$n" -lt "$req" ] || [ "$n" -gt $((req + CONNS)) ]; then
				echo "COUNT MISMATCH $mode ${pair_count%%:*}: agent counted $n," \
					"wrk completed $req (allowed: $req..$((req + CONNS)))"
				fail=1
			fi
		done
	fi
	printf '%-10s %10s %10s %10s %s\n' "$mode" "$req" "$rps" "$PH_US" "$extra"
}

if [ "$TLS" = 1 ]; then
	sysctl -q -w kernel.bpf_stats_enabled=1
	echo "nginx https://127.0.0.1:$NGINX_PORT (1 worker, return 200); wrk -t1 -c$CONNS" \
		"-d${DUR}s over TLS; $PAIRS rounds of: without, internal, public"
	f=$(foreign_progs "")
	[ -z "$f" ] || echo "warning: other programs named like ours are loaded (another agent?):" \
		"$f; they run in every phase and blur the comparison"
	echo
	printf '%-10s %10s %10s %10s %10s %10s %10s\n' phase requests req/s cpu-us/req \
		agent-srv agent-cli bpf-ns/req
	fail=0
	results=()
	for round in $(seq "$PAIRS"); do
		for mode in none internal public; do
			tls_phase "$mode"
			results+=("$mode:$PH_US:$PH_RPS")
		done
	done
	echo
	# Added cost per mode: its phase minus the 'without' phase of the same round.
	"$PY" - "${results[@]}" <<'PYEOF'
import statistics, sys
rounds, cur = [], {}
for item in sys.argv[1:]:
    mode, us, rps = item.split(":")
    cur[mode] = (float(us), float(rps))
    if len(cur) == 3:
        rounds.append(cur)
        cur = {}
for mode in ("internal", "public"):
    added = [r[mode][0] - r["none"][0] for r in rounds]
    ratio = [r[mode][1] / r["none"][1] for r in rounds]
    print("%-8s CPU added per request (nginx + wrk): median %.1f us (rounds: %s);"
          " throughput with/without: mean %.3f (rounds: %s)"
          % (mode, statistics.median(added), " ".join("%.1f" % a for a in added),
             statistics.mean(ratio), " ".join("%.3f" % x for x in ratio)))
base = [r["none"][0] for r in rounds]
print("without: %.1f us CPU per request (median)" % statistics.median(base))
PYEOF
	echo "(cpu-us/req = (nginx + wrk CPU time) / wrk requests; bpf-ns/req = run_time_ns of the" \
		"agent's programs / wrk requests, both sides; the rest of the added time is the kernel's" \
		"uprobe breakpoints and return trampolines)"
	exit "$fail"
fi

# --- phases -----------------------------------------------------------------------------------
sysctl -q -w kernel.bpf_stats_enabled=1
echo "nginx 127.0.0.1:$NGINX_PORT (1 worker, return 200); wrk -t1 -c$CONNS -d${DUR}s; $PAIRS pairs"
[ -z "$AGENT_B" ] || echo "each pair also runs B = $AGENT_B ${SOCKEYE_AGENT_B_ARGS:-}"
f=$(foreign_progs "")
[ -z "$f" ] || echo "warning: other programs named like the agent's are loaded (another agent?):" \
	"$f; they run in both phases and blur the comparison"
echo
printf '%-10s %12s %12s %14s %14s %10s %12s\n' phase requests req/s agent-server agent-client \
	runs/req bpf-ns/req
fail=0
ratios=()
ratios_b=()

# with_phase LABEL BINARY ARGS: one phase with an agent; sets W_RPS
with_phase() {
	local label=$1 ids s0 c0 n0 t0 req_w rps_w n1 t1 s1 c1 ds dc runs nsreq n
	CUR_AGENT=$2
	# shellcheck disable=SC2086 # the args are words
	start_agent $3
	ids=$(agent_progs "$AGENT_PID")
	[ -n "$ids" ] || die "no BPF program found among the agent's file descriptors"
	read -r s0 c0 <<<"$(counted "$AGENT_PORT")"
	read -r n0 t0 <<<"$(prog_stats "$ids")"
	read -r req_w rps_w <<<"$(run_wrk)"
	read -r n1 t1 <<<"$(prog_stats "$ids")"
	read -r s1 c1 <<<"$(counted "$AGENT_PORT")"
	stop_agent
	CUR_AGENT=

	ds=$((s1 - s0)) dc=$((c1 - c0))
	read -r runs nsreq <<<"$("$PY" -c "print('%.2f %.0f' % (($n1-$n0)/$req_w, ($t1-$t0)/$req_w/2))")"
	printf '%-10s %12s %12s %14s %14s %10s %12s\n' "$label" "$req_w" "$rps_w" "$ds" "$dc" \
		"$runs" "$nsreq"
	for pair_count in "server:$ds" "client:$dc"; do
		n=${pair_count#*:}
		if [ "$n" -lt "$req_w" ] || [ "$n" -gt $((req_w + CONNS)) ]; then
			echo "COUNT MISMATCH $label ${pair_count%%:*}: agent counted $n," \
				"wrk completed $req_w (allowed: $req_w..$((req_w + CONNS)))"
			fail=1
		fi
	done
	W_RPS=$rps_w
}

for pair in $(seq "$PAIRS"); do
	read -r req_wo rps_wo <<<"$(run_wrk)"
	printf '%-10s %12s %12s\n' "without$pair" "$req_wo" "$rps_wo"
	with_phase "with$pair" "$AGENT" "${SOCKEYE_AGENT_ARGS:-}"
	ratios+=("$("$PY" -c "print('%.3f' % ($W_RPS / $rps_wo))")")
	if [ -n "$AGENT_B" ]; then
		with_phase "B$pair" "$AGENT_B" "${SOCKEYE_AGENT_B_ARGS:-}"
		ratios_b+=("$("$PY" -c "print('%.3f' % ($W_RPS / $rps_wo))")")
	fi
done

echo
echo "throughput with/without per pair: ${ratios[*]}"
mean() { "$PY" -c "import sys; r=[float(x) for x in sys.argv[1:]]; print('%.3f' % (sum(r)/len(r)))" "$@"; }
echo "mean ratio: $(mean "${ratios[@]}")"
if [ -n "$AGENT_B" ]; then
	echo "B: throughput with/without per pair: ${ratios_b[*]}"
	echo "B: mean ratio: $(mean "${ratios_b[@]}")"
fi
echo "(bpf-ns/req = run_time_ns of the agent's programs / wrk requests / 2 sides;" \
	"bpf_stats itself adds ~20-25 ns per run)"
exit "$fail"
