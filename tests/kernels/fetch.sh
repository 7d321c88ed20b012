#!/bin/bash
# fetch.sh - fetch Debian cloud kernels for the kernel matrix: build/kernels/<name>/vmlinuz.
#   tests/kernels/fetch.sh [--refresh] [NAME...]     NAME: a Debian suite (default: bookworm trixie sid,
#                                                   or $SOCKEYE_KERNELS)
# Prints one line per kernel: "NAME RELEASE PACKAGE-VERSION PATH".
# apt runs on a private sources list, lists and cache under build/kernels/apt/<suite>/; the
# system's sources and lists are never read or written. A kernel whose vmlinuz is already in
# build/kernels/<name>/ is reused without touching the network (so offline reruns work);
# --refresh (or SOCKEYE_KERNELS_REFRESH=1) asks the mirror again and replaces it if newer.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

MIRROR=${SOCKEYE_KERNEL_MIRROR:-http://deb.debian.org/debian}
META=${SOCKEYE_KERNEL_META:-linux-image-cloud-amd64}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
TOP=build/kernels

refresh=${SOCKEYE_KERNELS_REFRESH:-0}
names=()
for a in "$@"; do
	case "$a" in
	--refresh) refresh=1 ;;
	-*) echo "usage: $0 [--refresh] [SUITE...]" >&2; exit 2 ;;
	*) names+=("$a") ;;
	esac
done
[ ${#names[@]} -gt 0 ] || read -r -a names <<< "${SOCKEYE_KERNELS:-bookworm trixie sid}"

die() { echo "fetch.sh: $*" >&2; exit 1; }

# apt with everything private to build/kernels/apt/<suite>/ (sources.list.d: an empty directory,
# so no system source part is read). Sandbox::User=root: the _apt
# user cannot write into build/ (apt would warn and fall back anyway).
apt_private() {
	local suite=$1; shift
	local d=$ROOT/$TOP/apt/$suite
	"$@" -q -o Dir::Etc::sourcelist="$d/sources.list" -o Dir::Etc::sourceparts="$d/sources.list.d" \
		-o Dir::State::Lists="$d/lists" -o Dir::Cache="$d/cache" \
		-o Dir::Cache::archives="$d/cache/archives" -o APT::Get::List-Cleanup=0 \
		-o APT::Sandbox::User=root -o APT::Architecture=amd64 \
		-o APT::Architectures::=amd64
}

# Prints "Depends" of a package as one name per line (alternatives and versions dropped).
depends_of() {
	apt_private "$1" apt-cache show --no-all-versions "$2" |
		sed -n 's/^Depends: //p' | head -n 1 | tr ',' '\n' |
		sed -e 's/|.*//' -e 's/(.*//' -e 's/ //g' -e '/^$/d'
}

fetch_one() {
	local name=$1 suite=$1
	local out=$TOP/$name d=$TOP/apt/$1
	if [ "$refresh" != 1 ] && [ -s "$out/vmlinuz" ] && [ -s "$out/release" ]; then
		echo "$name $(cat "$out/release") $(cat "$out/pkgversion") $out/vmlinuz"
		return 0
	fi
	mkdir -p "$d/lists/partial" "$d/cache/archives/partial" "$d/sources.list.d" "$out"
	echo "deb [signed-by=$KEYRING] $MIRROR $suite main" > "$d/sources.list"
	if ! apt_private "$suite" apt-get update --error-on=any >"$d/update.log" 2>&1; then
		cat "$d/update.log" >&2
		if [ -s "$out/vmlinuz" ] && [ -s "$out/release" ]; then
			echo "fetch.sh: $name: mirror unreachable, keeping the cached kernel" >&2
			echo "$name $(cat "$out/release") $(cat "$out/pkgversion") $out/vmlinuz"
			return 0
		fi
		die "$name: apt-get update failed (offline, and no cached kernel)"
	fi

	# The metapackage depends on linux-image-<abi>-<flavour>. Up to trixie that package holds
	# /boot/vmlinuz-<abi>; from forky on it is an empty shell depending on linux-binary-<abi>
	# (signed) or linux-binary-unsigned-<abi>, which hold usr/lib/modules/<abi>/vmlinuz.
	local image pkgs=() p
	image=$(depends_of "$suite" "$META" | grep -E '^linux-image-[0-9]' | head -n 1) ||
		die "$name: $META has no linux-image-<version> dependency"
	local version
	version=$(apt_private "$suite" apt-cache show --no-all-versions "$image" | sed -n 's/^Version: //p' | head -n 1)
	if [ -s "$out/vmlinuz" ] && [ "$(cat "$out/image" 2>/dev/null)" = "$image $version" ]; then
		echo "$name $(cat "$out/release") $(cat "$out/pkgversion") $out/vmlinuz"
		return 0
	fi
	pkgs=("$image")
	for p in $(depends_of "$suite" "$image" | grep -E '^linux-binary-(unsigned-)?[0-9]'); do
		pkgs+=("$p")
	done

	local dl=$d/debs deb found=""
	rm -rf "$dl" && mkdir -p "$dl"
	for p in "${pkgs[@]}"; do
		(cd "$dl" && apt_private "$suite" apt-get download "$p" >"../download.log" 2>&1) ||
			{ cat "$d/download.log" >&2; die "$name: apt-get download $p failed"; }
		deb=$(find "$dl" -name "${p}_*.deb" | head -n 1)
		found=$(dpkg-deb -c "$deb" | awk '{print $NF}' |
			grep -E '^\./(boot/vmlinuz-|usr/lib/modules/[^/]+/vmlinuz$)' | head -n 1) || true
		if [ -n "$found" ]; then
			break
		fi
	done
	[ -n "$found" ] || die "$name: no vmlinuz in ${pkgs[*]}"

	local x=$d/extract release
	rm -rf "$x" && mkdir -p "$x"
	dpkg-deb -x "$deb" "$x"
	case "$found" in
	./boot/vmlinuz-*) release=${found#./boot/vmlinuz-} ;;
	*) release=$(basename "$(dirname "$found")") ;;
	esac
	cp "$x/$found" "$out/vmlinuz.tmp" && mv "$out/vmlinuz.tmp" "$out/vmlinuz"
	echo "$release" > "$out/release"
	dpkg-deb -f "$deb" Version > "$out/pkgversion"
	echo "$(basename "$deb")" > "$out/package"
	echo "$image $version" > "$out/image"
	rm -rf "$x" "$dl"
	echo "$name $release $(cat "$out/pkgversion") $out/vmlinuz"
}

for n in "${names[@]}"; do
	fetch_one "$n"
done
