#!/bin/sh
# scenario.sh - one row of the kernel matrix, in a VM (/scenario.sh, run by /init) or on the
# host (tests/kernels/run.sh). POSIX sh: busybox runs it in the VMs.
#   1. sockeye --check (each program's processed instructions, or the verifier's last lines
#      for a refused one);
#   2. if that passed: a vmhttp server, the agent, the vmhttp client scenario once /readyz
#      answers, and one scrape of the metrics.
# Output sections are delimited by lines "@@kernels begin NAME" and
# "@@kernels end NAME rc=N seconds=S" (tests/kernels/report.py parses them).
# Environment: SOCKEYE VMHTTP CONFIG (paths), SERVER_PORT SCRAPE_PORT, WORK (a scratch
# directory), READY_TIMEOUT (seconds for /readyz). Processes started here are stopped here,
# by PID.
set -u
: "${SOCKEYE:?}" "${VMHTTP:?}" "${CONFIG:?}" "${WORK:?}"
SERVER_PORT=${SERVER_PORT:-8080}
SCRAPE_PORT=${SCRAPE_PORT:-9810}
READY_TIMEOUT=${READY_TIMEOUT:-900}

now() { cut -d' ' -f1 /proc/uptime; }
secs() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
section_start=0
begin() { section_start=$(now); echo "@@kernels begin $1"; }
end() { echo "@@kernels end $1 rc=$2 seconds=$(secs "$section_start")"; }

# The agent's own lines, in order; debug lines only where they say what failed. (An error
# line may contain "--log.level=debug": match the field.)
agent_lines() {
	awk '!/ level=debug msg=/ || /load failed|failed to load|failed to attach|BEGIN PROG LOAD LOG/ {
		print substr($0, 1, 600) }' "$1"
}

server=
agent=
cleanup() {
	[ -n "$agent" ] && kill -TERM "$agent" 2>/dev/null
	[ -n "$server" ] && kill -TERM "$server" 2>/dev/null
	agent=
	server=
}
trap cleanup EXIT
trap 'cleanup; exit 1' INT TERM

begin check
"$SOCKEYE" --check --log.level=debug >"$WORK/check.out" 2>"$WORK/check.err"
rc=$?
cat "$WORK/check.out"
agent_lines "$WORK/check.err"
end check $rc
[ "$rc" -eq 0 ] || exit 0

begin scenario
"$VMHTTP" server "$SERVER_PORT" >"$WORK/server.log" 2>&1 &
server=$!
# This request comes before the agent runs, so it is not measured: it only proves the server
# listens.
if ! "$VMHTTP" wait "$SERVER_PORT" /ping 10; then
	cat "$WORK/server.log"
	end scenario 1
	exit 0
fi
"$SOCKEYE" --config.file="$CONFIG" --web.listen-address="127.0.0.1:$SCRAPE_PORT" \
	>"$WORK/agent.log" 2>&1 &
agent=$!
if ! "$VMHTTP" wait "$SCRAPE_PORT" /readyz "$READY_TIMEOUT"; then
	agent_lines "$WORK/agent.log"
	end scenario 1
	exit 0
fi
echo "agent ready after $(secs "$section_start")s"
"$VMHTTP" client "$SERVER_PORT"
end scenario $?

begin metrics
"$VMHTTP" get "$SCRAPE_PORT" /metrics
end metrics $?

kill -TERM "$agent"
wait "$agent"
rc=$?
agent=
begin agent-log
agent_lines "$WORK/agent.log"
end agent-log $rc
exit 0
