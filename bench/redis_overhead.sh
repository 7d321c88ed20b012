#!/bin/bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# redis_overhead.sh - what the agent costs a Redis client: redis-benchmark (SET and GET, 10
# connections) against a redis-server of its own, alternating runs without and with the agent,
# three pairs per pipeline depth (-P 1 and -P 16) in one run.
#
#   bench/redis_overhead.sh           100k requests per SET/GET run at -P 16, 20k at -P 1
#                                     (about 1.5 minutes)
#   bench/redis_overhead.sh --smoke   10k and 2k, one pair each (about 10 s)
#
# Prints each run's throughput (requests per second, SET and GET), the with/without ratio per
# pair and on average, and checks that the agent counted exactly the SETs and GETs each 'with'
# run sent (db_client_operation_duration_seconds_count, redis-benchmark's port). A benchmark,
# not a test: it exits non-zero when a tool fails, the agent does not start or exit cleanly, or a
# count is not exact; timings are noisy on a shared machine and nothing asserts one.
# Every process it starts is stopped by its PID; its temp dir is removed.
set -euo pipefail
cd "$(dirname "$0")/.."

N16=100000
N1=20000
PAIRS=3
for arg in "$@"; do
	case "$arg" in
	--smoke) N16=10000; N1=2000; PAIRS=1 ;;
	*) echo "usage: $0 [--smoke]" >&2; exit 2 ;;
	esac
done
AGENT=${SOCKEYE_AGENT:-build/sockeye}
PY=/usr/bin/python3

die() { echo "redis_overhead.sh: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (the agent loads BPF programs)"
for t in /usr/bin/redis-server /usr/bin/redis-benchmark /usr/bin/redis-cli curl "$PY"; do
	command -v "$t" >/dev/null || die "$t not found (make deps-test installs it)"
done
[ -x "$AGENT" ] || die "$AGENT missing: run 'make all' first"

TMP=$(mktemp -d /tmp/sockeye-bench-redis.XXXXXX)
REDIS_PID=
AGENT_PID=

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
	[ -n "$REDIS_PID" ] && stop_pid "$REDIS_PID"
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	"$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

PORT=$(free_port)
/usr/bin/redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$TMP" \
	--daemonize no --logfile "$TMP/redis.log" </dev/null >/dev/null 2>&1 &
REDIS_PID=$!
for i in $(seq 100); do
	"$PY" -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1).close()" \
		2>/dev/null && break
	kill -0 "$REDIS_PID" 2>/dev/null || die "redis-server exited: $(tail -n 3 "$TMP/redis.log")"
	sleep 0.1
done

# bench N P -> "set_rps get_rps"
bench() {
	local out
	out=$(timeout 300 /usr/bin/redis-benchmark -h 127.0.0.1 -p "$PORT" -c 10 -n "$1" -P "$2" \
		-t set,get --csv 2>/dev/null) || die "redis-benchmark failed"
	echo "$out" | "$PY" -c '
import csv, sys
rows = {r[0]: float(r[1]) for r in csv.reader(sys.stdin) if len(r) > 1 and r[0] in ("SET", "GET")}
if set(rows) != {"SET", "GET"}:
    sys.exit("cannot read redis-benchmark output")
print("%.0f %.0f" % (rows["SET"], rows["GET"]))' || die "cannot read redis-benchmark's output: $out"
}

# counted -> "sets gets" at PORT
counted() {
	curl -sf --max-time 10 "http://127.0.0.1:$AGENT_PORT/metrics" | PORT="$PORT" "$PY" -c '
import os, re, sys
port = os.environ["PORT"]
tot = {"SET": 0, "GET": 0}
for line in sys.stdin:
    m = re.match(r"db_client_operation_duration_seconds_count\{(.*)\} (\S+)", line)
    if not m or not re.search(r"(^|,)server_port=\"%s\"" % port, m.group(1)):
        continue
    op = re.search(r"db_operation_name=\"([^\"]*)\"", m.group(1)).group(1)
    if op in tot and "error_type" not in m.group(1):
        tot[op] += float(m.group(2))
print("%d %d" % (tot["SET"], tot["GET"]))' || die "scrape of the agent failed"
}

start_agent() {
	AGENT_PORT=$(free_port)
	"$AGENT" --web.listen-address="127.0.0.1:$AGENT_PORT" --tls.disable \
		>"$TMP/agent.log" 2>&1 </dev/null &
	AGENT_PID=$!
	for i in $(seq 300); do
		curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$AGENT_PORT/readyz" && return 0
		kill -0 "$AGENT_PID" 2>/dev/null || die "agent exited: $(tail -n 5 "$TMP/agent.log")"
		sleep 0.1
	done
	die "agent not ready"
}

stop_agent() {
	stop_pid "$AGENT_PID"
	AGENT_PID=
	[ "$STOP_RC" = 0 ] || die "agent exited $STOP_RC on SIGTERM: $(tail -n 5 "$TMP/agent.log")"
}

ratios=()
for P in 16 1; do
	N=$N16
	[ "$P" = 1 ] && N=$N1
	echo "redis-benchmark -c 10 -n $N -P $P -t set,get (requests/s: SET GET)"
	for pair in $(seq "$PAIRS"); do
		read -r s0 g0 <<<"$(bench "$N" "$P")"
		start_agent
		read -r cs0 cg0 <<<"$(counted)"
		read -r s1 g1 <<<"$(bench "$N" "$P")"
		read -r cs1 cg1 <<<"$(counted)"
		stop_agent
		[ $((cs1 - cs0)) = "$N" ] && [ $((cg1 - cg0)) = "$N" ] ||
			die "-P $P pair $pair: the agent counted SET $((cs1 - cs0)) GET $((cg1 - cg0)), sent $N each"
		r=$("$PY" -c "print('%.3f' % ((float($s1) + float($g1)) / (float($s0) + float($g0))))")
		ratios+=("$P:$r")
		printf '  pair %d  without %8s %8s  with %8s %8s  ratio %s  counted exactly\n' \
			"$pair" "$s0" "$g0" "$s1" "$g1" "$r"
	done
done
for P in 16 1; do
	"$PY" - "$P" "${ratios[@]}" <<'EOF'
import statistics, sys
p = sys.argv[1]
rs = [float(x.split(":")[1]) for x in sys.argv[2:] if x.split(":")[0] == p]
print("-P %-2s with/without throughput: mean %.3f (pairs: %s)" %
      (p, statistics.mean(rs), " ".join("%.3f" % r for r in rs)))
EOF
done
