/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* caps.h - the capabilities sockeye needs: checked before loading, reduced after attaching. */
#ifndef SOCKEYE_CAPS_H
#define SOCKEYE_CAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CAPS_KEEP_DEFAULT "auto"

/* --capabilities.keep, parsed. */
enum caps_keep_mode {
	CAPS_KEEP_AUTO = 0, /* what the running agent uses (caps_runtime_mask) */
	CAPS_KEEP_ALL,	    /* drop nothing */
	CAPS_KEEP_LIST,	    /* exactly mask ("none" is an empty list) */
};

struct caps_keep {
	enum caps_keep_mode mode;
	uint64_t mask; /* bit n = capability n; CAPS_KEEP_LIST only */
};

/* "cap_sys_ptrace" for CAP_SYS_PTRACE; NULL for a number this build has no name for. */
const char *caps_name(int cap);

/* Parses "auto", "all", "none" or a comma-separated list of capability names (case-insensitive,
 * "cap_" optional: "sys_ptrace,CAP_DAC_READ_SEARCH"). Pure. Returns NULL, or why the text is
 * invalid (a static string). */
const char *caps_parse_keep(const char *text, struct caps_keep *out);

/* Writes the names of mask's capabilities, comma-separated ("" for none), into buf. */
void caps_format(uint64_t mask, char *buf, size_t size);

/* What the agent needs to start, as measured (docs/deploy.md). CAP_SYS_ADMIN passes the
 * kernel's checks for CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN on the bpf() paths used here, so
 * with HTTPS (which needs CAP_SYS_ADMIN) those three are not part of the mask. */
uint64_t caps_start_mask(bool https);

/* What the running agent still uses after attaching: identity refresh and /proc reads
 * (CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH) and, with HTTPS, uprobes for libraries found later
 * (CAP_SYS_ADMIN). */
uint64_t caps_runtime_mask(bool https);

/* The effective capabilities of the calling thread. */
int caps_effective(uint64_t *mask);

/* Compares the effective set with caps_start_mask(https); logs one error per missing
 * capability, naming it and what it is for. Returns 0 or -EPERM. */
int caps_check(bool https);

/* Reduces the permitted and effective sets of every thread of the process to what keep says
 * (intersected with what is held), clears inheritable and ambient, verifies each thread in
 * /proc/self/task and logs what was kept and dropped. Returns 0 or a negative errno. */
int caps_reduce(const struct caps_keep *keep, bool https);

#endif /* SOCKEYE_CAPS_H */
