#!/bin/bash
# image.sh - builds the container image sockeye:VERSION offline: a rootfs holding build/sockeye
# and exactly the shared libraries ldd lists (copied from the host's Debian packages, with their
# copyright files and a manifest of package versions), packed as a reproducible tar and loaded
# with `docker import`. No base image and no network.
#
#   scripts/image.sh VERSION [REVISION]     (what `make image` runs)
#
# Environment: DOCKER (client, default docker), DOCKER_HOST (daemon), IMAGE (default
# sockeye:VERSION), SOURCE_DATE_EPOCH (file times in the tar; default: the commit time),
# IMAGE_MAX_BYTES (default 40 MiB: bigger is an error).
# When no docker daemon answers and DOCKER_HOST is unset, a dockerd is started for the import
# (no bridge, no iptables rules) and stopped again; the image stays in /var/lib/docker.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=${1:?usage: scripts/image.sh VERSION [REVISION]}
REVISION=${2:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}
DOCKER=${DOCKER:-docker}
IMAGE=${IMAGE:-sockeye:$VERSION}
IMAGE_MAX_BYTES=${IMAGE_MAX_BYTES:-41943040}
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
BIN=build/sockeye
OUT=build/image
ROOTFS=$OUT/rootfs
TAR=$OUT/sockeye-$VERSION.tar

die() { echo "image.sh: $*" >&2; exit 1; }

[ -x "$BIN" ] || die "$BIN missing: run 'make all' first"
command -v "$DOCKER" >/dev/null || die "no docker client '$DOCKER': run 'make deps' (installs docker.io)"

rm -rf "$ROOTFS"
mkdir -p "$ROOTFS/usr/bin" "$ROOTFS/usr/share/sockeye" "$ROOTFS/proc" "$ROOTFS/sys" \
	"$ROOTFS/dev" "$ROOTFS/etc"
# Debian 12 is merged-/usr: /lib, /lib64 and /bin are links into /usr, in the image too.
ln -s usr/lib "$ROOTFS/lib"
ln -s usr/lib64 "$ROOTFS/lib64"
ln -s usr/bin "$ROOTFS/bin"
strip --strip-debug -o "$ROOTFS/usr/bin/sockeye" "$BIN"

manifest=$ROOTFS/usr/share/sockeye/packages.txt
: > "$manifest.tmp"
# Every library the dynamic loader resolves (ldd prints "name => /path (addr)" and the
# interpreter as "/path (addr)"), at the path the loader looks for, under its /usr directory.
for lib in $(ldd "$BIN" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
	dir=$(realpath "$(dirname "$lib")")
	mkdir -p "$ROOTFS$dir"
	# Modes as the package installed them: the interpreter needs its x bit (open_exec), and
	# without CAP_DAC_OVERRIDE root in the container gets no exception.
	cp -L --preserve=mode "$lib" "$ROOTFS$dir/$(basename "$lib")"
	real=$(realpath "$lib")
	pkg=$(dpkg-query -S "$real" 2>/dev/null | head -n 1 | cut -d: -f1 || true)
	[ -n "$pkg" ] || pkg=$(dpkg-query -S "$lib" 2>/dev/null | head -n 1 | cut -d: -f1 || true)
	[ -n "$pkg" ] || die "$lib belongs to no Debian package: not a reproducible input"
	echo "$pkg $(dpkg-query -W -f='${Version}' "$pkg") $dir/$(basename "$lib")" >> "$manifest.tmp"
	if [ -f "/usr/share/doc/$pkg/copyright" ]; then
		mkdir -p "$ROOTFS/usr/share/doc/$pkg"
		cp "/usr/share/doc/$pkg/copyright" "$ROOTFS/usr/share/doc/$pkg/copyright"
	fi
done
sort -o "$manifest" "$manifest.tmp"
rm -f "$manifest.tmp"
echo "sockeye $VERSION $REVISION" >> "$manifest"
chmod 0644 "$manifest"

# Same inputs, same bytes: sorted names, fixed times and owners, no pax headers with atimes.
tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
	--format=gnu -C "$ROOTFS" -cf "$TAR" .
sum=$(sha256sum "$TAR" | cut -d' ' -f1)

started=""
if ! "$DOCKER" version --format '{{.Server.Version}}' >/dev/null 2>&1; then
	[ -z "${DOCKER_HOST:-}" ] && command -v dockerd >/dev/null ||
		die "no docker daemon answers${DOCKER_HOST:+ at $DOCKER_HOST}: start one (systemctl start docker)"
	echo "image.sh: no docker daemon running: starting dockerd for the import (log: $OUT/dockerd.log)"
	dockerd --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
		> "$OUT/dockerd.log" 2>&1 &
	started=$!
	for _ in $(seq 100); do
		"$DOCKER" version --format '{{.Server.Version}}' >/dev/null 2>&1 && break
		kill -0 "$started" 2>/dev/null || die "dockerd exited: see $OUT/dockerd.log"
		sleep 0.1
	done
fi
stop_started() {
	if [ -n "$started" ]; then
		kill "$started" 2>/dev/null || true
		wait "$started" 2>/dev/null || true
	fi
}
trap stop_started EXIT

"$DOCKER" import \
	--change 'ENTRYPOINT ["/usr/bin/sockeye"]' \
	--change 'EXPOSE 9810/tcp' \
	--change "LABEL org.opencontainers.image.title=sockeye" \
	--change "LABEL org.opencontainers.image.version=$VERSION" \
	--change "LABEL org.opencontainers.image.revision=$REVISION" \
	--change "LABEL org.opencontainers.image.licenses=\"LGPL-2.1 OR BSD-2-Clause\"" \
	--change "LABEL io.sockeye.rootfs.sha256=$sum" \
	--message "sockeye $VERSION ($REVISION): build/sockeye and its ldd libraries" \
	"$TAR" "$IMAGE" >/dev/null
size=$("$DOCKER" image inspect -f '{{.Size}}' "$IMAGE")
echo "image.sh: $IMAGE: $size bytes, rootfs $TAR sha256 $sum"
[ "$size" -le "$IMAGE_MAX_BYTES" ] || die "$IMAGE is $size bytes, over the limit of $IMAGE_MAX_BYTES"
