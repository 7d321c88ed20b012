#!/bin/bash
# run.sh - runs every test suite and ends with one line "N passed, N failed".
#   tests/run.sh            everything (needs root: BPF tests and integration tests load programs)
#   tests/run.sh unit       unit tests only (no root)
#   tests/run.sh kernels    unit tests and the kernel matrix (tests/kernels/run.sh)
#   tests/run.sh fuzz       the fuzz targets only, FUZZ_SECONDS (default 10) each (no root)
# A suite is a build/tests/test_* binary (cmocka) or a tests/integration/test_*.py|.sh script
# that prints its own "N passed, N failed" line. A suite that crashes or prints no count is one
# failure; a suite exiting non-zero with no failure counted is one failure too.
set -u
cd "$(dirname "$0")/.." || exit 1
PYTHON=${PYTHON:-/usr/bin/python3}
export PYTHON
what=${1:-all}
# Files the tests write (agent and web configs) must not be group-writable: the agent refuses
# those, whatever umask the caller has.
umask 022
# Where the agent and the test binaries are: build/, or build/san-*/ for `make test SANITIZE=...`.
B=${SOCKEYE_BUILD:-build}
SOCKEYE_AGENT=${SOCKEYE_AGENT:-$(realpath -m "$B/sockeye")}
export SOCKEYE_AGENT

# Sanitizer builds write every report to a file of its own under $reports (whichever process
# it comes from: a test binary, the agent started by an integration test); any report fails
# the run, even one whose process exited 0 or whose test did not notice.
reports=
if [ -n "${SOCKEYE_SANITIZE:-}" ]; then
	reports=$(realpath -m "$B/sanitizer-reports")
	rm -rf "$reports"
	mkdir -p "$reports"
	export ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1:abort_on_error=0:${ASAN_OPTIONS:-}"
	export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
fi
total_pass=0
total_fail=0
failed_suites=()

if [ "$what" != unit ] && [ "$what" != fuzz ] && [ "$(id -u)" -ne 0 ]; then
	echo "tests/run.sh: the BPF and integration tests must run as root (they load BPF programs)." >&2
	echo "0 passed, 1 failed"
	exit 1
fi

run_suite() {
	local name=$1; shift
	local log rc p f
	log=$(mktemp)
	echo "=== $name"
	timeout -k 10 "${SUITE_TIMEOUT:-300}" "$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	# cmocka: "[  PASSED  ] 3 test(s)." / "[  FAILED  ] 1 test(s), listed below:"
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\..*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s).*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
	# our own runners: "N passed, N failed"
	if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		local line
		line=$(grep -E '^([A-Za-z]+: )?[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
		if [ -n "$line" ]; then
			p=$(echo "$line" | sed -E 's/^([A-Za-z]+: )?([0-9]+) passed.*/\2/')
			f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
		fi
	fi
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "--- $name exited with status $rc without counting a failure: counted as 1 failure"
		f=1
	fi
	if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		echo "--- $name ran no test: counted as 1 failure"
		f=1
	fi
	[ "$f" -gt 0 ] && failed_suites+=("$name")
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	rm -f "$log"
}

for t in tests/unit/test_*.c; do
	[ -e "$t" ] || continue
	[ "$what" = fuzz ] && break
	b=$B/tests/$(basename "$t" .c)
	run_suite "unit/$(basename "$b")" "$b"
done

# Each libFuzzer target for a short while (make fuzz runs them longer): a crash is a failure.
# They are always built with ASan and UBSan, so a sanitizer pass does not run them again.
if { [ "$what" = all ] && [ -z "$reports" ]; } || [ "$what" = fuzz ]; then
	run_suite "fuzz" env FUZZ_SECONDS="${FUZZ_SECONDS:-10}" ./tests/fuzz/run.sh
fi

if [ "$what" = all ] || [ "$what" = bpf ]; then
	for t in tests/bpf/test_*.c; do
		[ -e "$t" ] || continue
		b=$B/tests/$(basename "$t" .c)
		run_suite "bpf/$(basename "$b")" "$b"
	done
fi

if [ "$what" = all ] || [ "$what" = integration ]; then
	# Each suite keeps its agents' logs and names its secrets here; secrets_in_logs.py reads
	# every line of them at the end.
	SOCKEYE_LOG_DIR=$(realpath -m "$B/test-logs")
	export SOCKEYE_LOG_DIR
	rm -rf "$SOCKEYE_LOG_DIR"
	for t in tests/integration/test_*.py tests/integration/test_*.sh; do
		[ -e "$t" ] || continue
		# A sanitizer pass leaves out what tests the plain binary as it is shipped: the image
		# holds exactly the agent and its ldd libraries (ASan's would be extra), the systemd
		# unit's syscall filter is checked under strace (ASan makes other calls, and LSan
		# cannot run under ptrace).
		case "$(basename "$t")" in
		test_container.py | test_systemd.py)
			if [ -n "$reports" ]; then
				echo "=== integration/$(basename "$t"): not in a sanitizer pass"
				continue
			fi ;;
		esac
		case "$t" in
		*.py) run_suite "integration/$(basename "$t")" "$PYTHON" "$t" ;;
		*.sh) run_suite "integration/$(basename "$t")" bash "$t" ;;
		esac
	done
	run_suite "integration/secrets_in_logs.py" "$PYTHON" tests/integration/secrets_in_logs.py
fi

# Not in a sanitizer pass: the VMs run a plain build of their own.
if { [ "$what" = all ] && [ -z "$reports" ]; } || [ "$what" = kernels ]; then
	# This kernel natively and Debian's under QEMU (tests/kernels/run.sh). Its own time limit:
	# the verifier runs 10-25x slower under TCG than natively.
	SUITE_TIMEOUT=${KERNELS_TIMEOUT:-900} run_suite kernels tests/kernels/run.sh
fi

if [ -n "$reports" ]; then
	n=$(find "$reports" -type f | wc -l)
	echo "=== sanitizer reports ($SOCKEYE_SANITIZE): $n"
	for f in $(find "$reports" -type f | sort | head -n 5); do
		echo "--- $f"
		head -n 30 "$f"
	done
	if [ "$n" -gt 0 ]; then
		failed_suites+=("sanitizer-reports")
		total_fail=$((total_fail + n))
	else
		total_pass=$((total_pass + 1))
	fi
fi

echo
if [ ${#failed_suites[@]} -gt 0 ]; then
	echo "failed suites: ${failed_suites[*]}"
fi
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
