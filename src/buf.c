// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* buf.c - growable byte buffer; the first allocation failure sticks in err. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void buf_init(struct sockeye_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void buf_free(struct sockeye_buf *b)
{
	free(b->data);
	buf_init(b);
}

void buf_reset(struct sockeye_buf *b)
{
	b->len = 0;
	b->err = 0;
	if (b->data)
		b->data[0] = '\0';
}

static int buf_reserve(struct sockeye_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1, cap = b->cap ? b->cap : 4096;
	char *p;

	if (b->err)
		return b->err;
	if (need <= b->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	p = realloc(b->data, cap);
	if (!p) {
		b->err = -ENOMEM;
		return b->err;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

void buf_append(struct sockeye_buf *b, const char *s, size_t n)
{
	if (buf_reserve(b, n))
		return;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void buf_puts(struct sockeye_buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void buf_printf(struct sockeye_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || buf_reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}
