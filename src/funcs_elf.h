/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* funcs_elf.h - where a declared function symbol or USDT probe is in its ELF file. */
#ifndef SOCKEYE_FUNCS_ELF_H
#define SOCKEYE_FUNCS_ELF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"

/* A declaration's probe place, as found in the file. */
struct funcs_target {
	dev_t dev; /* the file, as processes map it: a file replaced on disk is another one */
	ino_t ino;
	uint64_t offset;     /* symbol: file offset of the probe point */
	bool emulated;	     /* symbol: the probed instruction is a push, which the kernel emulates;
			      * otherwise each hit is single-stepped (several µs on a VM) */
	bool skipped_endbr;  /* symbol: offset is past a leading endbr64 */
	uint32_t usdt_sites; /* USDT: probe sites of provider:name in the file */
	uint32_t usdt_args;  /* USDT: arguments the sites have (the fewest, if they differ) */
};

/* Finds f's symbol or USDT probe in f->binary and checks the declaration against it (a USDT
 * label from an argument the probe does not have). Returns 0, or -errno with a one-line
 * reason in why (without the file position) and *at set to the config value it is about. */
int funcs_elf_resolve(const struct sockeye_func_cfg *f, struct funcs_target *out, char *why,
		      size_t why_len, struct config_mark *at);

/* The probe-point choice for code starting at a function's first bytes: past an endbr64 when
 * a push follows it (the kernel emulates push; endbr64 and most others are single-stepped).
 * Returns the offset into code to probe at; sets *emulated. Exposed for tests. */
size_t funcs_elf_probe_point(const unsigned char *code, size_t n, bool *emulated);

/* Resolves every declaration of cfg, printing "file:line:column: reason" to stderr for each
 * one that does not resolve. Returns 0 or -EINVAL. */
int funcs_elf_check_config(const struct sockeye_config *cfg);

#endif /* SOCKEYE_FUNCS_ELF_H */
