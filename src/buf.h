/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* buf.h - a growable byte buffer for building exposition text. */
#ifndef SOCKEYE_BUF_H
#define SOCKEYE_BUF_H

#include <stddef.h>

struct sockeye_buf {
	char *data; /* NUL-terminated while len < cap */
	size_t len;
	size_t cap;
	int err; /* first error (-ENOMEM); later appends are no-ops */
};

void buf_init(struct sockeye_buf *b);
void buf_free(struct sockeye_buf *b);
void buf_reset(struct sockeye_buf *b);
void buf_append(struct sockeye_buf *b, const char *s, size_t n);
void buf_puts(struct sockeye_buf *b, const char *s);
void buf_printf(struct sockeye_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* SOCKEYE_BUF_H */
