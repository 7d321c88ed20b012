#!/bin/busybox sh
# init.sh - /init of the kernel-matrix VM (tests/kernels/initramfs.sh puts it there).
# Mounts what the agent needs, brings lo up, runs /scenario.sh (tests/kernels/scenario.sh) with
# its output on the serial console, and powers off.
/bin/busybox mkdir -p /proc /sys /dev /tmp /run
/bin/busybox --install -s /bin
export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mkdir -p /sys/fs/cgroup /sys/fs/bpf /sys/kernel/tracing
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t bpf bpf /sys/fs/bpf
mount -t tracefs tracefs /sys/kernel/tracing
ip link set lo up

echo "@@kernels boot release=$(uname -r) uptime=$(cut -d' ' -f1 /proc/uptime)"
SOCKEYE=/bin/sockeye VMHTTP=/bin/vmhttp CONFIG=/etc/sockeye.yml \
	SERVER_PORT=8080 SCRAPE_PORT=9810 WORK=/tmp sh /scenario.sh 2>&1
echo "@@kernels done uptime=$(cut -d' ' -f1 /proc/uptime)"
sync
poweroff -f
# Not reached; if it were, init exiting panics the kernel, and panic=-1 with qemu's
# -no-reboot ends the VM.
sleep 10
