#!/bin/bash
# scrapes.sh - 100 consecutive scrapes of a running agent: total, median and max time.
# A benchmark, not a test. Usage: bench/scrapes.sh [COUNT]   (as root; starts its own agent)
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-100}
agent=${SOCKEYE_AGENT:-build/sockeye}
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=$(mktemp)
"$agent" --web.listen-address=127.0.0.1:"$port" >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 1 100); do
	curl -fs -o /dev/null "http://127.0.0.1:$port/readyz" && break
	sleep 0.1
done
curl -fs -o /dev/null "http://127.0.0.1:$port/readyz" || { echo "agent not ready" >&2; cat "$log" >&2; exit 1; }
/usr/bin/python3 - "$port" "$count" <<'PY'
import http.client, statistics, sys, time
port, count = int(sys.argv[1]), int(sys.argv[2])
times, size = [], 0
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
t_all = time.perf_counter()
for _ in range(count):
    t0 = time.perf_counter()
    conn.request("GET", "/metrics")
    r = conn.getresponse()
    body = r.read()
    times.append(time.perf_counter() - t0)
    if r.status != 200:
        sys.exit("scrape returned %d" % r.status)
    size = len(body)
total = time.perf_counter() - t_all
lines = body.count(b"\n")
print("%d scrapes of %d bytes (%d lines): total %.3f s, median %.2f ms, max %.2f ms"
      % (count, size, lines, total, statistics.median(times) * 1e3, max(times) * 1e3))
PY
