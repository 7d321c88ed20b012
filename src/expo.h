/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* expo.h - the exposition writer shared by the renderers: "# HELP"/"# TYPE" headers, sample
 * lines with escaped labels, exact numbers. Pure: no syscalls, no globals. */
#ifndef SOCKEYE_EXPO_H
#define SOCKEYE_EXPO_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "snapshot.h"

/* Longest exact-seconds string: UINT64_MAX ns is "18446744073.709551615". */
#define EXPO_SECONDS_LEN 32
/* Longest number: a u64 (20 digits) or a %.17g double ("-1.2345678901234567e-308"). */
#define EXPO_NUMBER_LEN 32

enum metric_type {
	METRIC_GAUGE,
	METRIC_COUNTER,
	METRIC_HISTOGRAM,
};

/* Where and how one exposition is written. */
struct expo {
	struct sockeye_buf *out;
	int openmetrics;			   /* 0: text 0.0.4 */
	const struct sockeye_label *static_labels; /* added to every sample; may be NULL */
	size_t n_static_labels;
};

/* Appends v[0..n) escaping \ and newline, and " when quote is set. Nothing else is escaped:
 * the 0.0.4 parser (prometheus/common expfmt) rejects any other escape sequence. */
void expo_escape(struct sockeye_buf *out, const char *v, size_t n, int quote);

/* Copies a fixed-size, possibly unterminated field into a NUL-terminated string. */
const char *expo_bounded(char *dst, const char *src, size_t src_size);
/* Integer nanoseconds as exact decimal seconds ("0.005"); dst holds EXPO_SECONDS_LEN. */
const char *expo_seconds(char *dst, uint64_t ns);
/* dst holds EXPO_NUMBER_LEN. */
const char *expo_u64(char *dst, uint64_t v);
/* The shortest %g that reads back as v; +Inf, -Inf, NaN. dst holds EXPO_NUMBER_LEN. */
const char *expo_double(char *dst, double v);

/* "# HELP" and "# TYPE" of prefix+name (a counter's name without "_total"). */
void expo_header(const struct expo *w, const char *prefix, const char *name, enum metric_type type,
		 const char *help);
/* One sample line: the given labels, then the static labels, then le (NULL: none). */
void expo_sample(const struct expo *w, const char *prefix, const char *name, const char *suffix,
		 const struct sockeye_label *labels, size_t n_labels, const char *le,
		 const char *value);

/* A family's own labels followed by the identity labels that have a value, the values
 * copied so that one filled to the brim still ends. */
#define EXPO_MAX_FAMILY_LABELS 8
struct expo_labels {
	struct sockeye_label l[EXPO_MAX_FAMILY_LABELS + SOCKEYE_ID_MAX];
	char v[SOCKEYE_ID_MAX][SOCKEYE_ID_VALUE_LEN + 1];
	size_t n;
};
const struct sockeye_label *expo_with_identity(struct expo_labels *b,
					       const struct sockeye_label *labels, size_t n,
					       const struct sockeye_identity *id);

/* How a histogram's bounds (le) and sum are written. */
enum expo_unit {
	EXPO_UNIT_NS,	 /* nanoseconds, written as exact seconds */
	EXPO_UNIT_US,	 /* microseconds, written as exact seconds */
	EXPO_UNIT_COUNT, /* whole numbers: bytes */
};

/* One histogram series as the kernel counts it. */
struct expo_histogram {
	const uint64_t *bounds; /* ascending; a bound not above the one before is skipped */
	size_t n_bounds;
	const __u64 *buckets; /* per bucket, not cumulative; [n_bounds] is the overflow */
	uint64_t count;	      /* at least the buckets' total (0: just that) */
	uint64_t sum;
	enum expo_unit unit;
};

/* The _bucket lines (cumulative, then +Inf), _sum and _count of one series: the one
 * histogram writer. +Inf and _count are the larger of count and the buckets' total. */
void expo_histogram(const struct expo *w, const char *prefix, const char *name,
		    const struct sockeye_label *labels, size_t n_labels,
		    const struct expo_histogram *h);

#endif /* SOCKEYE_EXPO_H */
