/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* render_funcs.h - the function metrics of a snapshot -> exposition text. Pure. */
#ifndef SOCKEYE_RENDER_FUNCS_H
#define SOCKEYE_RENDER_FUNCS_H

#include "expo.h"
#include "funcs_snapshot.h"

/* The declared families, in metric name order (nothing when fs is NULL). */
void render_funcs(const struct expo *w, const struct sockeye_func_snapshot *fs);
/* sockeye_function_probes, sockeye_function_probe_hits_total, sockeye_function_events_total
 * under prefix (nothing when fs is NULL). */
void render_funcs_self(const struct expo *w, const char *prefix,
		       const struct sockeye_func_snapshot *fs);

#endif /* SOCKEYE_RENDER_FUNCS_H */
