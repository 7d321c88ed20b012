/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* tls.h - HTTPS without keys: finds the libssl files processes map, derives where to probe
 * each one, attaches the TLS object's uprobes once per library inode, and follows processes
 * as they exec and exit. Owned by loader.c (tls_start/tls_stop). */
#ifndef SOCKEYE_TLS_H
#define SOCKEYE_TLS_H

#include <linux/types.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"
#include "snapshot.h"

struct bpf_object;
struct progload_report;
struct tls;

/* Same size as FILTER_MAX in bpf/filter.bpf.h (checked in loader.c). */
#define TLS_FILTER_MAX 64

/* The socket hooks' tunables, as the loader computed them: the TLS object uses the same. */
struct tls_tunables {
	__u64 bounds_ns[SOCKEYE_MAX_BUCKETS];
	__u32 n_bounds;
	__u16 include_ports[TLS_FILTER_MAX];
	__u32 n_include_ports;
	__u16 exclude_ports[TLS_FILTER_MAX];
	__u32 n_exclude_ports;
	__u64 include_cgroups[TLS_FILTER_MAX];
	__u32 include_cgroup_levels[TLS_FILTER_MAX];
	__u32 n_include_cgroups;
	__u64 exclude_cgroups[TLS_FILTER_MAX];
	__u32 exclude_cgroup_levels[TLS_FILTER_MAX];
	__u32 n_exclude_cgroups;
};

/* Loads the TLS object sharing main_obj's maps (every map of the same name, except the
 * per-object scratch maps), attaches its tracepoints and the uprobes of every libssl found
 * (system library directories, /proc/PID/maps), then follows processes in a thread. Each
 * program's verifier figures are appended to report. Returns
 * NULL with errno set after logging what failed. */
struct tls *tls_start(const struct sockeye_config *cfg, const struct bpf_object *main_obj,
		      const struct tls_tunables *tun, struct progload_report *report);
/* Detaches everything and frees (NULL-safe). */
void tls_stop(struct tls *t);
/* Lists the TLS object's programs in report as off, with why (HTTPS not started). */
void tls_report_off(struct progload_report *report, const char *why);
/* Logs (and prints to out when not NULL) which library is probed how. */
void tls_report(struct tls *t, FILE *out);

/* For collect.c: the attached libraries (thread-safe; returns a malloc'd array, *n entries,
 * NULL when none), and file descriptors of the TLS maps and programs. */
struct sockeye_tls_library *tls_libraries(struct tls *t, size_t *n);
int tls_stats_fd(const struct tls *t);
size_t tls_prog_fds(const struct tls *t, int *fds, const char **names, size_t max);
size_t tls_map_fds(const struct tls *t, int *fds, size_t max);

/* x86-64 prologue analysis, exposed for tests/unit/test_tls.c. Each returns 0 or -ENOEXEC
 * when the bytes are not the simple shape it accepts (an unknown instruction, a branch away,
 * no call within the first instructions). */
struct tls_call_site {
	__u64 target; /* address the call goes to */
	__u32 writes; /* general registers written before it (bit n = register n, rax = 0) */
	__u32 offset; /* of the call instruction */
};
/* The first `call rel32` of a function starting at vaddr. */
int tls_x86_first_call(const unsigned char *code, size_t n, __u64 vaddr, struct tls_call_site *out);
/* Offset of the first instruction after an optional endbr64, if the kernel emulates it (push):
 * the cheap place for an entry probe with a return probe. */
int tls_x86_cheap_entry(const unsigned char *code, size_t n, size_t *off);
/* SSL_free's cheap probe point: the entry if it is a push, else the first push after a leading
 * `test %rdi,%rdi; je` (rdi, the SSL *, is untouched there). */
int tls_x86_free_point(const unsigned char *code, size_t n, size_t *off);

/* What the ELF reader and the prologue analysis derive from a library file, without attaching
 * anything: for tests/fuzz/fuzz_tls_elf.c, which feeds it random and truncated files. */
struct tls_file_plan {
	int has_read_write; /* SSL_read and SSL_write are defined functions in its code */
	int internal;	    /* internal read/write functions derived and validated */
	size_t read_off, write_off; /* internal: their file offsets */
	int have_free, free_cheap;
	size_t free_off;
	char why[160]; /* why not internal */
};
/* Returns 0 (out filled) or -ENOEXEC when fd is not a readable ELF file with dynamic symbols. */
int tls_plan_file(int fd, const char *name, struct tls_file_plan *out);

/* Registers of the System V calling convention's first four arguments. */
#define TLS_X86_ARG_REGS ((1u << 7) | (1u << 6) | (1u << 2) | (1u << 1)) /* rdi rsi rdx rcx */

#endif /* SOCKEYE_TLS_H */
