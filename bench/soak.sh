#!/bin/sh
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# soak.sh - the agent for 30 minutes (--minutes N) under mixed traffic and scrapes with series
# churn; RSS, fds, threads, map entries and identity caches sampled, plotted (bench/soak.png,
# bench/soak.csv) and judged flat after warm-up in bench/results.md's soak section. Not part of
# make test. Needs root and build/sockeye (SOCKEYE_AGENT=PATH runs another binary). See
# bench/soak.py for what runs and how flatness is judged; exits 1 when something grew.
set -eu
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
	echo "bench/soak.sh: must run as root (the agent loads BPF programs)" >&2
	exit 1
fi
exec /usr/bin/python3 bench/soak.py "$@"
