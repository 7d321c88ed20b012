# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# sockeye - one Makefile, every artifact under build/ (binary: build/sockeye). V=1 shows commands.

ARCH_UNAME := $(shell uname -m)
ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
VMLINUX_DIR := vmlinux/$(ARCH_UNAME)

CC ?= gcc
CLANG ?= clang
BPFTOOL ?= bpftool
PYTHON ?= /usr/bin/python3

VERSION := 0.1.0
REVISION := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)

CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Iinclude -Isrc -Ibpf -Ibuild \
	-DSOCKEYE_VERSION='"$(VERSION)"' -DSOCKEYE_REVISION='"$(REVISION)"' $(EXTRA_CFLAGS)

# SANITIZE=address,undefined builds the agent, the library and the unit and BPF tests with
# those sanitizers into build/san-address-undefined/ (O), next to the plain build, and
# `make test SANITIZE=...` runs the suites against them: any sanitizer report fails the run.
# BPF objects, skeletons and test tools are shared with the plain build.
TOOL_CFLAGS := $(CFLAGS)
comma := ,
SANITIZE ?=
ifeq ($(SANITIZE),)
O := build
else
O := build/san-$(subst $(comma),-,$(SANITIZE))
CFLAGS += -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
endif
LDLIBS := -lbpf -lelf -lz -lmicrohttpd -lgnutls -lyaml -lcrypt -lpthread -lm

# -mcpu=v3: clang-14 defaults to v1, which rejects 32-bit atomics and makes the verifier see
# clamped __u32 lengths as possibly negative (../shared/KERNEL-NOTES.md). The target's own
# system headers are not searched for -target bpf, so clang's are added last with -idirafter,
# as libbpf-bootstrap does: vmlinux.h must win over anything they define.
CLANG_SYS_INCLUDES := $(shell $(CLANG) -v -E - </dev/null 2>&1 \
	| sed -n '/<...> search starts here:/,/End of search list./{ s| \(/.*\)|-idirafter \1|p }')
BPF_CFLAGS := -g -O2 -Wall -Werror -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) \
	-Iinclude -Ibpf -I$(VMLINUX_DIR) $(CLANG_SYS_INCLUDES)

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_HDRS := $(wildcard bpf/*.bpf.h) $(wildcard include/*.h) $(VMLINUX_DIR)/vmlinux.h
BPF_OBJS := $(patsubst bpf/%.bpf.c,build/%.bpf.o,$(BPF_SRCS))
SKELS := $(patsubst bpf/%.bpf.c,build/%.skel.h,$(BPF_SRCS))

SRCS := $(wildcard src/*.c)
HDRS := $(wildcard src/*.h) $(wildcard include/*.h) $(wildcard bpf/*.bpf.h)
LIB_OBJS := $(patsubst src/%.c,$(O)/src/%.o,$(filter-out src/main.c,$(SRCS)))

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(O)/tests/%,$(UNIT_SRCS))
BPFTEST_SRCS := $(wildcard tests/bpf/test_*.c)
BPFTEST_BINS := $(patsubst tests/bpf/%.c,$(O)/tests/%,$(BPFTEST_SRCS))
# Small BPF objects used only by tests (e.g. a segment dropper to force retransmits).
TESTBPF_SRCS := $(wildcard tests/bpf/*.bpf.c)
TESTBPF_OBJS := $(patsubst tests/bpf/%.bpf.c,build/tests/%.bpf.o,$(TESTBPF_SRCS))
# Test-only tools the integration tests run (e.g. cgdrop attaches drop_once.bpf.o).
TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOL_BINS := $(patsubst tests/tools/%.c,build/tests/tools/%,$(TOOL_SRCS))
# The kernel matrix (tests/kernels/): a static HTTP server/client for the VMs' busybox userland.
KERNEL_BINS := build/tests/kernels/vmhttp

# libFuzzer targets (tests/fuzz): clang with ASan and UBSan. The library objects they link are
# built again with the same sanitizers and coverage (-fsanitize=fuzzer-no-link), so the fuzzer
# is guided by what happens inside src/ as well. FUZZ_SECONDS per target for `make fuzz`.
FUZZ_CC ?= $(CLANG)
FUZZ_SECONDS ?= 60
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS := -std=gnu11 -O1 -g -Wall -Wextra -Werror -Iinclude -Isrc -Ibuild -Ibpf \
	-DSOCKEYE_VERSION='"$(VERSION)"' -DSOCKEYE_REVISION='"$(REVISION)"' $(FUZZ_SAN)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRCS))
FUZZ_LIB_OBJS := $(patsubst src/%.c,build/fuzz/src/%.o,$(filter-out src/main.c,$(SRCS)))

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.PHONY: all run test test-pass test-kernels check-root deps deps-test deps-image image unit bpf-tests \
	integration bench fuzz clean
.DELETE_ON_ERROR:
.SECONDARY:

all: $(O)/sockeye

build/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS) Makefile | build
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

build/tests/%.bpf.o: tests/bpf/%.bpf.c $(BPF_HDRS) $(BPF_SRCS) $(wildcard tests/bpf/*.bpf.h) Makefile | build/tests
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

build/%.skel.h: build/%.bpf.o | build
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst .,_,$*)_bpf > $@

# Rewritten only when HEAD moves, so --version and sockeye_build_info never show a stale
# revision after a commit, and nothing rebuilds when it has not moved.
build/revision.stamp: FORCE | build
	$(Q)echo '$(REVISION)' | cmp -s - $@ 2>/dev/null || echo '$(REVISION)' > $@

.PHONY: FORCE
FORCE:

$(O)/src/%.o: src/%.c $(HDRS) $(SKELS) Makefile build/revision.stamp | $(O)/src
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(O)/libsockeye.a: $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)$(AR) rcs $@ $^

$(O)/sockeye: $(O)/src/main.o $(O)/libsockeye.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(O)/tests/%: tests/unit/%.c $(O)/libsockeye.a $(HDRS) $(wildcard tests/unit/*.h) | $(O)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Ibpf $< $(O)/libsockeye.a $(LDLIBS) -lcmocka -o $@

$(O)/tests/%: tests/bpf/%.c $(O)/libsockeye.a $(HDRS) $(SKELS) | $(O)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Ibpf $< $(O)/libsockeye.a $(LDLIBS) -lcmocka -o $@

build/tests/tools/%: tests/tools/%.c $(SKELS) Makefile | build/tests/tools
	$(call msg,CC,$@)
	$(Q)$(CC) $(TOOL_CFLAGS) $< $(LDLIBS) -o $@

build/tests/kernels/vmhttp: tests/kernels/vmhttp.c Makefile | build/tests/kernels
	$(call msg,CC,$@)
	$(Q)$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -static $< -o $@

build/fuzz/src/%.o: src/%.c $(HDRS) $(SKELS) Makefile build/revision.stamp | build/fuzz/src
	$(call msg,FUZZ-CC,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

build/fuzz/libsockeye.a: $(FUZZ_LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)$(AR) rcs $@ $^

build/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz.h build/fuzz/libsockeye.a $(HDRS) $(wildcard tests/unit/*.h) | build/fuzz
	$(call msg,FUZZ-LD,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< build/fuzz/libsockeye.a $(LDLIBS) -o $@

$(sort build build/src build/tests build/tests/tools build/tests/kernels build/fuzz build/fuzz/src \
	$(O)/src $(O)/tests):
	$(Q)mkdir -p $@

check-root:
	@if [ "$$(id -u)" -ne 0 ]; then \
		echo "sockeye: 'make $(MAKECMDGOALS)' must run as root: it installs packages with apt," \
		     "loads BPF programs and attaches them to the cgroup v2 root." >&2; exit 1; fi

deps: check-root
	$(Q)./scripts/deps.sh

deps-test: check-root
	$(Q)./scripts/deps.sh --test

deps-image: check-root
	$(Q)./scripts/deps.sh --image

# The container image sockeye:$(VERSION): build/sockeye and the libraries ldd lists, imported
# with docker (docs/deploy.md). Offline apart from the Debian mirror deps-image may use.
image: deps-image
	$(Q)$(MAKE) --no-print-directory all
	$(Q)./scripts/image.sh $(VERSION) $(REVISION)

# The README's first command: install what is missing, build, run with defaults.
run: deps
	$(Q)$(MAKE) --no-print-directory all
	./build/sockeye $(ARGS)

# The README's second command: install what is missing, build, run every test: once as built,
# then again built with TEST_SANITIZE (default address,undefined: ASan and UBSan in the agent
# and the unit and BPF tests; fuzz targets are always sanitized and run in the first pass only).
# TEST_SANITIZE= skips the second pass; make test SANITIZE=... runs only a sanitized one. A
# failing first pass still runs the second, and either failing fails make test.
TEST_SANITIZE ?= address,undefined
test: deps-test
	$(Q)st=0; $(MAKE) --no-print-directory test-pass || st=1; \
	if [ -z "$(SANITIZE)" ] && [ -n "$(TEST_SANITIZE)" ]; then \
		echo; echo "=== make test: second pass, built with SANITIZE=$(TEST_SANITIZE)"; \
		$(MAKE) --no-print-directory test-pass SANITIZE=$(TEST_SANITIZE) || st=1; \
	fi; exit $$st

test-pass:
	$(Q)$(MAKE) --no-print-directory all $(UNIT_BINS) $(BPFTEST_BINS) $(TESTBPF_OBJS) $(TOOL_BINS) \
		$(KERNEL_BINS) $(FUZZ_BINS)
	$(Q)PYTHON=$(PYTHON) SOCKEYE_BUILD=$(O) SOCKEYE_SANITIZE=$(SANITIZE) ./tests/run.sh

# The kernel matrix alone: this kernel natively, then Debian's kernels under QEMU
# (tests/kernels/run.sh; SOCKEYE_KERNELS="bookworm trixie sid" chooses the VMs).
test-kernels: deps-test
	$(Q)$(MAKE) --no-print-directory all $(KERNEL_BINS)
	$(Q)PYTHON=$(PYTHON) ./tests/kernels/run.sh

unit: $(UNIT_BINS)
	$(Q)PYTHON=$(PYTHON) SOCKEYE_BUILD=$(O) SOCKEYE_SANITIZE=$(SANITIZE) ./tests/run.sh unit

# Each fuzz target for FUZZ_SECONDS from its seed corpus (tests/fuzz/corpus/TARGET) and what
# earlier runs found (build/fuzz/corpus/TARGET); make test runs them for 10 s each.
fuzz: $(FUZZ_BINS)
	$(Q)FUZZ_SECONDS=$(FUZZ_SECONDS) ./tests/fuzz/run.sh

bench: deps-test all
	$(Q)./bench/run

clean:
	rm -rf build
