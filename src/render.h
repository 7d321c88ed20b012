/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* render.h - snapshot -> exposition text. Pure: no syscalls, no globals. */
#ifndef SOCKEYE_RENDER_H
#define SOCKEYE_RENDER_H

#include "buf.h"
#include "snapshot.h"

enum render_format {
	RENDER_TEXT_004 = 0, /* text/plain; version=0.0.4; charset=utf-8 */
	RENDER_OPENMETRICS,  /* application/openmetrics-text; version=1.0.0; charset=utf-8 */
};

#define RENDER_CONTENT_TYPE_TEXT "text/plain; version=0.0.4; charset=utf-8"
#define RENDER_CONTENT_TYPE_OPENMETRICS "application/openmetrics-text; version=1.0.0; charset=utf-8"

/* Appends the whole exposition of snap to out. Returns 0 or -ENOMEM. */
int render_text(const struct sockeye_snapshot *snap, enum render_format fmt, struct sockeye_buf *out);

/* Appends v with \\, \" and \n escaped (label values). */
void render_escape_label_value(struct sockeye_buf *out, const char *v);
/* Appends v with \\ and \n escaped (HELP text). */
void render_escape_help(struct sockeye_buf *out, const char *v);

#endif /* SOCKEYE_RENDER_H */
