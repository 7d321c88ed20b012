// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* expo.c - the exposition writer: headers, samples, escaping, exact numbers; pure. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expo.h"
#include "utf8.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define NS_PER_SEC    1000000000ULL

static const char *const metric_type_names[] = {
	[METRIC_GAUGE] = "gauge",
	[METRIC_COUNTER] = "counter",
	[METRIC_HISTOGRAM] = "histogram",
};

/* Sync note: indexed by enum sockeye_id_label (src/snapshot.h); the rendering order. */
static const char *const id_label_names[] = {
	[SOCKEYE_ID_SERVICE_NAME] = "service_name",
	[SOCKEYE_ID_CONTAINER_ID] = "container_id",
	[SOCKEYE_ID_K8S_NAMESPACE_NAME] = "k8s_namespace_name",
	[SOCKEYE_ID_K8S_POD_NAME] = "k8s_pod_name",
	[SOCKEYE_ID_K8S_CONTAINER_NAME] = "k8s_container_name",
};
_Static_assert(ARRAY_SIZE(id_label_names) == SOCKEYE_ID_MAX,
	       "id_label_names[] out of sync with enum sockeye_id_label");

/* Appends v[0..n) escaping \ and newline, and " when quote is set. Nothing else is escaped:
 * the 0.0.4 parser (prometheus/common expfmt) rejects any other escape sequence. A byte that
 * is not part of valid UTF-8 becomes '?' (as identity.c does), because the formats are UTF-8
 * and Prometheus drops a whole scrape over one bad label value: some values come from paths
 * and environments that anyone on the host can choose (a libssl under /tmp/\xff/). */
void expo_escape(struct sockeye_buf *out, const char *v, size_t n, int quote)
{
	const unsigned char *u = (const unsigned char *)v;
	size_t i = 0, start = 0;

	while (i < n) {
		const char *esc;
		size_t len = 1;

		if (u[i] == '\\') {
			esc = "\\\\";
		} else if (u[i] == '\n') {
			esc = "\\n";
		} else if (u[i] == '"' && quote) {
			esc = "\\\"";
		} else if (u[i] < 0x80 || (len = utf8_seq(u + i, n - i))) {
			i += len;
			continue;
		} else {
			esc = "?";
		}
		buf_append(out, v + start, i - start);
		buf_puts(out, esc);
		start = ++i;
	}
	buf_append(out, v + start, n - start);
}

const char *expo_bounded(char *dst, const char *src, size_t src_size)
{
	size_t n = strnlen(src, src_size);

	memcpy(dst, src, n);
	dst[n] = '\0';
	return dst;
}

/* Integer arithmetic only, so le="0.005" is exactly the bound the kernel compared against,
 * not the nearest double. Trailing zeros are stripped: 2500000000 is "2.5". */
const char *expo_seconds(char *dst, uint64_t ns)
{
	uint64_t sec = ns / NS_PER_SEC;
	uint32_t frac = (uint32_t)(ns % NS_PER_SEC);
	int digits = 9;

	if (!frac) {
		snprintf(dst, EXPO_SECONDS_LEN, "%" PRIu64, sec);
		return dst;
	}
	while (frac % 10 == 0) {
		frac /= 10;
		digits--;
	}
	snprintf(dst, EXPO_SECONDS_LEN, "%" PRIu64 ".%0*" PRIu32, sec, digits, frac);
	return dst;
}

const char *expo_u64(char *dst, uint64_t v)
{
	snprintf(dst, EXPO_NUMBER_LEN, "%" PRIu64, v);
	return dst;
}

/* Like Go's FormatFloat(v, 'g', -1, 64), with infinities spelled +Inf/-Inf as both formats
 * require. A comma is put back to a dot in case someone calls setlocale(): the formats only
 * know '.'. */
const char *expo_double(char *dst, double v)
{
	int prec;
	char *p;

	if (isnan(v)) {
		strcpy(dst, "NaN");
		return dst;
	}
	if (isinf(v)) {
		strcpy(dst, v > 0 ? "+Inf" : "-Inf");
		return dst;
	}
	for (prec = 1; prec <= 17; prec++) {
		snprintf(dst, EXPO_NUMBER_LEN, "%.*g", prec, v);
		if (strtod(dst, NULL) == v)
			break;
	}
	p = strchr(dst, ',');
	if (p)
		*p = '.';
	return dst;
}

/* OpenMetrics names a counter family without "_total" (its samples keep it) and escapes " in
 * HELP as well; text 0.0.4 must not escape " there. */
void expo_header(const struct expo *w, const char *prefix, const char *name, enum metric_type type,
		 const char *help)
{
	const char *total = type == METRIC_COUNTER && !w->openmetrics ? "_total" : "";

	buf_printf(w->out, "# HELP %s%s%s ", prefix, name, total);
	expo_escape(w->out, help, strlen(help), w->openmetrics);
	buf_printf(w->out, "\n# TYPE %s%s%s %s\n", prefix, name, total, metric_type_names[type]);
}

static void put_label(struct sockeye_buf *out, unsigned int *n, const char *name, const char *value)
{
	buf_puts(out, *n ? "," : "{");
	buf_puts(out, name);
	buf_append(out, "=\"", 2);
	if (value)
		expo_escape(out, value, strlen(value), 1);
	buf_append(out, "\"", 1);
	(*n)++;
}

void expo_sample(const struct expo *w, const char *prefix, const char *name, const char *suffix,
		 const struct sockeye_label *labels, size_t n_labels, const char *le,
		 const char *value)
{
	unsigned int n = 0;
	size_t i;

	buf_puts(w->out, prefix);
	buf_puts(w->out, name);
	buf_puts(w->out, suffix);
	for (i = 0; i < n_labels; i++)
		put_label(w->out, &n, labels[i].name, labels[i].value);
	for (i = 0; w->static_labels && i < w->n_static_labels; i++)
		put_label(w->out, &n, w->static_labels[i].name, w->static_labels[i].value);
	if (le)
		put_label(w->out, &n, "le", le);
	if (n)
		buf_append(w->out, "}", 1);
	buf_append(w->out, " ", 1);
	buf_puts(w->out, value);
	buf_append(w->out, "\n", 1);
}

const struct sockeye_label *expo_with_identity(struct expo_labels *b,
					       const struct sockeye_label *labels, size_t n,
					       const struct sockeye_identity *id)
{
	size_t i;

	b->n = 0;
	for (i = 0; i < n && i < EXPO_MAX_FAMILY_LABELS; i++)
		b->l[b->n++] = labels[i];
	for (i = 0; id && i < SOCKEYE_ID_MAX; i++) {
		if (!id->v[i][0])
			continue; /* an empty value is no label */
		b->l[b->n].name = id_label_names[i];
		b->l[b->n].value = expo_bounded(b->v[i], id->v[i], sizeof(id->v[i]));
		b->n++;
	}
	return b->l;
}

/* le and _sum of a histogram in its unit. dst holds EXPO_SECONDS_LEN (>= EXPO_NUMBER_LEN). */
static const char *unit_value(char *dst, uint64_t v, enum expo_unit unit)
{
	switch (unit) {
	case EXPO_UNIT_NS:
		return expo_seconds(dst, v);
	case EXPO_UNIT_US:
		return expo_seconds(dst, v * 1000);
	case EXPO_UNIT_COUNT:
	default:
		return expo_u64(dst, v);
	}
}

void expo_histogram(const struct expo *w, const char *prefix, const char *name,
		    const struct sockeye_label *labels, size_t n_labels,
		    const struct expo_histogram *h)
{
	char le[EXPO_SECONDS_LEN], value[EXPO_NUMBER_LEN];
	uint64_t cum = 0;
	size_t i, shown = 0;

	for (i = 0; i < h->n_bounds; i++) {
		cum += h->buckets[i];
		/* A bound not above the last one printed would repeat an le or put it out of
		 * order; its count goes on into the next line instead. The config rejects such
		 * bounds, but a histogram Prometheus refuses would lose the whole scrape. */
		if (i > 0 && h->bounds[i] <= h->bounds[shown])
			continue;
		shown = i;
		expo_sample(w, prefix, name, "_bucket", labels, n_labels,
			    unit_value(le, h->bounds[i], h->unit), expo_u64(value, cum));
	}
	/* A count and its buckets are separate per-CPU adds, so a scrape can catch one without
	 * the other. The larger of the two keeps +Inf >= every bucket and _count == +Inf, and
	 * is still monotonic across scrapes. */
	cum += h->buckets[h->n_bounds];
	expo_u64(value, h->count > cum ? h->count : cum);
	expo_sample(w, prefix, name, "_bucket", labels, n_labels, "+Inf", value);
	expo_sample(w, prefix, name, "_sum", labels, n_labels, NULL,
		    unit_value(le, h->sum, h->unit));
	expo_sample(w, prefix, name, "_count", labels, n_labels, NULL, value);
}
