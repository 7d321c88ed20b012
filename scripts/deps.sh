#!/bin/sh
# deps.sh - install the Debian packages sockeye needs to build, run and test.
# Idempotent: asks apt only for what dpkg says is missing, so it touches no
# network when everything is present.
set -eu

BUILD_PKGS="clang llvm make gcc pkg-config bpftool libbpf-dev libelf-dev zlib1g-dev \
libmicrohttpd-dev libyaml-dev libcrypt-dev"
TEST_PKGS="libcmocka-dev nginx-light wrk curl openssl prometheus python3 \
python3-prometheus-client iproute2 gnutls-bin gnuplot-nox prometheus-node-exporter \
qemu-system-x86 busybox-static python3-kubernetes systemd strace systemtap-sdt-dev \
libclang-rt-14-dev redis-server redis-tools python3-redis postgresql-15 \
postgresql-client-15 python3-psycopg2"
# make image: docker imports the rootfs; binutils strips the binary.
IMAGE_PKGS="docker.io binutils"

want="$BUILD_PKGS"
# The tests build the image and run it, so --test installs what --image does.
[ "${1:-}" = "--test" ] && want="$want $TEST_PKGS $IMAGE_PKGS"
[ "${1:-}" = "--image" ] && want="$want $IMAGE_PKGS"

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: must run as root (installs packages, loads BPF programs)" >&2
	exit 1
fi

missing=""
for p in $want; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	"install ok installed") ;;
	*) missing="$missing $p" ;;
	esac
done

if [ -z "$missing" ]; then
	exit 0
fi

echo "deps.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# --no-install-recommends keeps prometheus from pulling a web UI stack we never use.
apt-get install -y -q --no-install-recommends $missing
