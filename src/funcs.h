/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* funcs.h - function metrics: loads bpf/funcs.bpf.c, turns each functions: declaration into
 * an fn_decls entry and probes whose bpf_cookie is its index, and replaces them on reload.
 * Owned by loader.c (funcs_start/funcs_reload/funcs_stop). Not thread-safe: the caller
 * serialises every call, scrapes included (main.c's agent lock). */
#ifndef SOCKEYE_FUNCS_H
#define SOCKEYE_FUNCS_H

#include <stdint.h>
#include <stdio.h>

#include "config.h"

struct funcs;
struct progload_report;

/* Loads the object (its programs appear in report) and attaches every declaration of cfg.
 * A declaration that does not resolve is an error (-EINVAL, after "file:line:column: reason"
 * on stderr); one whose probes the kernel refuses is kept as failed (logged,
 * sockeye_function_probes{state="failed"}). Returns NULL with errno set. */
struct funcs *funcs_start(const struct sockeye_config *cfg, struct progload_report *report);
/* Lists the object's programs in report as off, with why. */
void funcs_report_off(struct progload_report *report, const char *why);
/* Replaces the declarations with cfg's: unchanged ones (same declaration, same file) keep
 * their probes and series; removed and changed ones are detached and their series dropped;
 * new ones are attached. When one of cfg's declarations does not resolve, nothing changes
 * and -EINVAL is returned after "file:line:column: reason" on stderr. */
int funcs_reload(struct funcs *f, const struct sockeye_config *cfg);
/* Detaches everything and frees (NULL-safe). */
void funcs_stop(struct funcs *f);
/* Logs (and prints to out when not NULL) each declaration's probes. */
void funcs_report(const struct funcs *f, FILE *out);
/* Probe points of the declarations that did not attach. */
uint32_t funcs_failed_probes(const struct funcs *f);

/* For collect_funcs.c: the declarations in place, by fn_decls index. */
struct funcs_decl_view {
	uint32_t idx;				 /* fn_decls index, the key's decl */
	const struct sockeye_func_cfg *cfg;	 /* as declared (owned by funcs) */
	const char *help;			 /* cfg->help, or the default */
	uint32_t probes_attached, probes_failed; /* probe points (entry, return, USDT sites) */
	uint8_t hit_kinds;			 /* bit enum sockeye_func_hit: probes it has */
};
/* Fills out with up to max declarations in index order; returns how many there are. */
size_t funcs_decls(const struct funcs *f, struct funcs_decl_view *out, size_t max);

enum funcs_map {
	FUNCS_MAP_COUNTS, /* SOCKEYE_MAP_FN_COUNTS */
	FUNCS_MAP_HISTS,  /* SOCKEYE_MAP_FN_HISTS */
	FUNCS_MAP_HITS,	  /* SOCKEYE_MAP_FN_HITS */
	FUNCS_MAP_STATS,  /* SOCKEYE_MAP_FN_STATS */
	FUNCS_MAP_CALLS,  /* SOCKEYE_MAP_FN_CALLS */
	FUNCS_MAP_MAX,
};
int funcs_map_fd(const struct funcs *f, enum funcs_map m);
/* Program fds and names, for the self metrics. */
size_t funcs_prog_fds(const struct funcs *f, int *fds, const char **names, size_t max);

#endif /* SOCKEYE_FUNCS_H */
