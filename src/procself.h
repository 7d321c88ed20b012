/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* procself.h - the agent's own process metrics from /proc/self. */
#ifndef SOCKEYE_PROCSELF_H
#define SOCKEYE_PROCSELF_H

#include "snapshot.h"

/* Fills p (sets p->valid) from /proc/self/stat, /proc/self/fd, /proc/self/limits.
 * Returns 0 or a negative errno (p->valid stays 0). */
int procself_read(struct sockeye_process *p);

#endif
