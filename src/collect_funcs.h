/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* collect_funcs.h - the function metrics family group (collect_group_funcs in
 * collect_group.h); what of it tests see. */
#ifndef SOCKEYE_COLLECT_FUNCS_H
#define SOCKEYE_COLLECT_FUNCS_H

#include <stddef.h>

/* A string label as exported: UTF-8, and a character the kernel's cut split is dropped.
 * Exposed for tests. */
void collect_funcs_string(const char *raw, char *out, size_t size);

#endif /* SOCKEYE_COLLECT_FUNCS_H */
