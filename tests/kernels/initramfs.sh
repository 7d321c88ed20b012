#!/bin/bash
# initramfs.sh - build the kernel-matrix initramfs: build/kernels/initramfs.cpio (uncompressed
# newc, so no kernel spends TCG time decompressing it).
#   tests/kernels/initramfs.sh [OUT]
# Contents: busybox-static, build/sockeye with every library ldd lists and the dynamic loader,
# the static vmhttp tool, libssl.so.3 (so the TLS probes attach), the
# agent's config, tests/kernels/init.sh as /init and scenario.sh. Needs build/sockeye,
# build/tests/kernels/vmhttp (tests/kernels/run.sh builds them).
set -euo pipefail
cd "$(dirname "$0")/../.."

out=${1:-build/kernels/initramfs.cpio}
root=build/kernels/initramfs
BUSYBOX=${BUSYBOX:-/bin/busybox}

die() { echo "initramfs.sh: $*" >&2; exit 1; }
for f in build/sockeye build/tests/kernels/vmhttp "$BUSYBOX"; do
	[ -x "$f" ] || [ -f "$f" ] || die "missing $f"
done
file -L "$BUSYBOX" | grep -q 'statically linked' || die "$BUSYBOX is not static (busybox-static)"

rm -rf "$root"
mkdir -p "$root"/{bin,dev,etc,lib,proc,run,sys,tmp}

# A file at the same absolute path inside the image, symlinks resolved.
copy_abs() {
	mkdir -p "$root$(dirname "$1")"
	cp -L "$1" "$root$1"
}

cp "$BUSYBOX" "$root/bin/busybox"
cp build/sockeye "$root/bin/sockeye"
cp build/tests/kernels/vmhttp "$root/bin/vmhttp"
cp tests/kernels/init.sh "$root/init"
cp tests/kernels/scenario.sh "$root/scenario.sh"
chmod 755 "$root/init" "$root/scenario.sh"

# "libX.so => /path (addr)" and the loader's "/lib64/ld-linux-x86-64.so.2 (addr)"; vdso has no path.
libs=$(ldd build/sockeye | awk '$1 ~ /^\// { print $1 } $3 ~ /^\// { print $3 }' | sort -u)
for l in $libs; do
	copy_abs "$l"
done
ssl=$(ldconfig -p | awk '$1 == "libssl.so.3" && /x86-64/ && !s { s = $NF } END { print s }')
[ -n "$ssl" ] && copy_abs "$ssl"

# The scrape port is not a service under test.
cat > "$root/etc/sockeye.yml" <<'EOF'
ports:
  exclude: [9810]
EOF

mkdir -p "$(dirname "$out")"
(cd "$root" && find . | LC_ALL=C sort | "$BUSYBOX" cpio -o -H newc -R 0:0 2>/dev/null) > "$out.tmp"
mv "$out.tmp" "$out"
echo "initramfs: $out ($(du -k "$out" | cut -f1) KiB)"
