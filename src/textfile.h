/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* textfile.h - write the exposition for node_exporter's textfile collector, atomically. */
#ifndef SOCKEYE_TEXTFILE_H
#define SOCKEYE_TEXTFILE_H

#include <stddef.h>

/* Writes data to "<path>.tmp.<pid>" in the same directory, fsyncs, renames over path.
 * Returns 0 or a negative errno (logged). */
int textfile_write(const char *path, const char *data, size_t len);

#endif
