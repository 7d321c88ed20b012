#!/bin/bash
# run.sh - the kernel matrix: `sockeye --check` and an exact-count HTTP scenario on this kernel
# (natively) and on Debian's kernels under QEMU (TCG, no KVM needed).
#   tests/kernels/run.sh                   host row + bookworm (6.1), trixie (6.12), sid (newest)
#   SOCKEYE_KERNELS="trixie sid" tests/kernels/run.sh      choose the VM rows ("" for none)
#   SOCKEYE_KERNELS_HOST=0                 skip the host row
#   SOCKEYE_KERNEL_JOBS=N                  rows run at once (default: online CPUs)
#   SOCKEYE_KERNEL_TIMEOUT=S               seconds per VM (default 600)
#   SOCKEYE_KERNELS_REFRESH=1              ask the mirror for newer kernels (fetch.sh --refresh)
# Tests counted: one per kernel row (passes when every program loads and every count is
# exact; see report.py) plus one for report.py's own self-test. Ends with "N passed, N failed"
# and exits non-zero on any failure. Console logs: build/kernels/<row>/console.log.
set -u
cd "$(dirname "$0")/../.." || exit 1

KERNELS=${SOCKEYE_KERNELS-bookworm trixie sid}
HOST_ROW=${SOCKEYE_KERNELS_HOST:-1}
JOBS=${SOCKEYE_KERNEL_JOBS:-$(nproc)}
VM_TIMEOUT=${SOCKEYE_KERNEL_TIMEOUT:-600}
PYTHON=${PYTHON:-/usr/bin/python3}
TOP=build/kernels

fail_early() {
	echo "kernels: $*" >&2
	echo "0 passed, 1 failed"
	exit 1
}

[ "$(id -u)" -eq 0 ] || fail_early "must run as root (loads BPF programs)"
command -v qemu-system-x86_64 >/dev/null || fail_early "qemu-system-x86_64 missing (make deps-test)"
make --no-print-directory -s all build/tests/kernels/vmhttp ||
	fail_early "build failed"

t_start=$(date +%s.%N)
mkdir -p "$TOP"
rows=$TOP/rows.txt
: > "$rows"

# Which programs the objects define (global functions outside .text), in object order:
# the table lists programs a run never reached too.
objdump -t build/sockeye.bpf.o build/tls.bpf.o |
	awk '$2 == "g" && $3 == "F" && $4 != ".text" { print $NF, $4 }' > "$TOP/programs.txt"
build/tests/kernels/vmhttp expect > "$TOP/expect.txt"

# Kernels first (cached after the first run), then the image every VM boots.
vm_rows=()
for k in $KERNELS; do
	if line=$(tests/kernels/fetch.sh "$k"); then
		echo "kernel: $line"
		vm_rows+=("$k")
	else
		echo "kernel: $k: fetch failed"
		mkdir -p "$TOP/$k"
		echo "@@kernels fetch failed" > "$TOP/$k/console.log"
		echo "$k $TOP/$k/console.log 8080 0" >> "$rows"
	fi
done
if [ ${#vm_rows[@]} -gt 0 ]; then
	tests/kernels/initramfs.sh "$TOP/initramfs.cpio" || fail_early "initramfs build failed"
fi

# On SIGINT/SIGTERM (e.g. tests/run.sh's suite timeout): stop each row's `timeout`, which
# passes the signal on to its qemu or scenario.sh (and that stops its agent and server).
cleanup() {
	local f
	for f in "$TOP"/*/timeout.pid; do
		[ -e "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null
	done
}
trap 'cleanup; wait; exit 1' INT TERM

# Runs "$@" under timeout in the background, its PID in $1/timeout.pid while it runs.
timed() {
	local d=$1; shift
	timeout -k 10 "$VM_TIMEOUT" "$@" &
	echo $! > "$d/timeout.pid"
	wait $!
	local rc=$?
	rm -f "$d/timeout.pid"
	return $rc
}

free_port() {
	"$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The host row: the same scenario.sh, natively, on free ports.
run_host() {
	local d=$TOP/host sp cp
	rm -rf "$d" && mkdir -p "$d/work"
	sp=$(free_port)
	cp=$(free_port)
	while [ "$cp" = "$sp" ]; do cp=$(free_port); done
	printf 'ports:\n  exclude: [%s]\n' "$cp" > "$d/sockeye.yml"
	echo "$sp" > "$d/server_port"
	{
		echo "@@kernels boot release=$(uname -r)"
		SOCKEYE=$PWD/build/sockeye VMHTTP=$PWD/build/tests/kernels/vmhttp \
			CONFIG=$PWD/$d/sockeye.yml \
			SERVER_PORT=$sp SCRAPE_PORT=$cp WORK=$PWD/$d/work READY_TIMEOUT=120 \
			timed "$d" sh tests/kernels/scenario.sh 2>&1
		echo "@@kernels done"
	} > "$d/console.log" 2>&1
}

run_vm() {
	local k=$1 d=$TOP/$1
	echo 8080 > "$d/server_port"
	# -nic none: no NIC, so no iPXE option ROM to wait for; lo is all the scenario uses.
	timed "$d" qemu-system-x86_64 -accel tcg -cpu max -m 2G -smp 2 \
		-nographic -no-reboot -nic none \
		-kernel "$d/vmlinuz" -initrd "$TOP/initramfs.cpio" \
		-append "console=ttyS0 panic=-1 quiet" \
		</dev/null > "$d/console.log" 2>&1
	local rc=$?
	[ "$rc" -eq 124 ] && echo "@@kernels timeout after ${VM_TIMEOUT}s" >> "$d/console.log"
	return 0
}

# Each row in the background, at most JOBS at once; its wall time goes to <row>/seconds.
run_row() {
	local name=$1 t0
	t0=$(date +%s.%N)
	if [ "$name" = host ]; then run_host; else run_vm "$name"; fi
	awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f\n", b - a }' > "$TOP/$name/seconds"
	echo "row $name done in $(cat "$TOP/$name/seconds")s"
}

all_rows=()
[ "$HOST_ROW" = 1 ] && all_rows+=(host)
all_rows+=("${vm_rows[@]}")
for r in "${all_rows[@]}"; do
	while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do
		wait -n
	done
	run_row "$r" &
done
wait

for r in "${all_rows[@]}"; do
	echo "$r $TOP/$r/console.log $(cat "$TOP/$r/server_port") $(cat "$TOP/$r/seconds" 2>/dev/null || echo -)" >> "$rows"
done

echo "matrix wall time: $(awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')s"
"$PYTHON" tests/kernels/report.py --rows "$rows" --expect "$TOP/expect.txt" \
	--programs "$TOP/programs.txt" --vmhttp build/tests/kernels/vmhttp
