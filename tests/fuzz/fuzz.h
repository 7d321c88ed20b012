/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* fuzz.h - what the libFuzzer targets share: CHECK, a reader that turns the fuzzer's bytes into
 * choices, files holding an input, and a structural check of exposition text. */
#ifndef SOCKEYE_FUZZ_H
#define SOCKEYE_FUZZ_H

#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Where invariant failures are written: stderr as it was before libFuzzer closed it
 * (-close_fd_mask=3 keeps the targets' own chatter out of the logs, and libFuzzer reports on a
 * copy of its own, so a copy taken before main still reaches the log). */
static int fuzz_err_fd = 2;

__attribute__((constructor)) static void fuzz_keep_stderr(void)
{
	int fd = dup(2);

	if (fd >= 0)
		fuzz_err_fd = fd;
}

/* An invariant: on failure, say which and abort (libFuzzer saves the input as a crash). */
#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			dprintf(fuzz_err_fd, "%s:%d: invariant %s failed: ", __FILE__, __LINE__,     \
				#cond);                                                            \
			dprintf(fuzz_err_fd, __VA_ARGS__);                                         \
			dprintf(fuzz_err_fd, "\n");                                                \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* ---- The input as a source of choices ------------------------------------------------------ */

struct fin {
	const uint8_t *p;
	size_t n;
};

static inline int fin_empty(const struct fin *f)
{
	return f->n == 0;
}

/* Next byte, 0 once the input is used up. */
static inline uint8_t fin_u8(struct fin *f)
{
	uint8_t v;

	if (!f->n)
		return 0;
	v = *f->p++;
	f->n--;
	return v;
}

static inline uint64_t fin_u64(struct fin *f, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes; i++)
		v = v << 8 | fin_u8(f);
	return v;
}

/* A count in [0, max]. */
static inline size_t fin_count(struct fin *f, size_t max)
{
	return max ? fin_u8(f) % (max + 1) : 0;
}

/* Up to max bytes of the input, as a NUL-terminated string in dst (size max + 1): its length
 * is the next byte, and it may hold any byte but NUL. */
static inline const char *fin_str(struct fin *f, char *dst, size_t max)
{
	size_t len = fin_count(f, max), i;

	for (i = 0; i < len && f->n; i++) {
		dst[i] = (char)fin_u8(f);
		if (!dst[i])
			dst[i] = '"'; /* the byte a NUL would have been most interesting as */
	}
	dst[i] = '\0';
	return dst;
}

/* ---- Files ------------------------------------------------------------------------------- */

/* Writes data to path (replacing it). */
static inline void write_file(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "we");

	CHECK(f, "cannot create %s", path);
	CHECK(fwrite(data, 1, n, f) == n || n == 0, "short write to %s", path);
	CHECK(fclose(f) == 0, "cannot write %s", path);
}

/* A fresh directory of the target's own under $TMPDIR, removed at exit is not needed: it
 * holds a few small files that each run replaces. */
static inline const char *fuzz_tmpdir(const char *name)
{
	static char dir[256];
	const char *t = getenv("TMPDIR");

	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "%s/sockeye-%s-XXXXXX", t && *t ? t : "/tmp", name);
		CHECK(mkdtemp(dir), "mkdtemp %s", dir);
	}
	return dir;
}

/* ---- Exposition text ---------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 when invalid. */
static inline size_t expo_utf8_seq(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static inline int expo_name_start(char c, int colon)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
}

static inline int expo_name_char(char c, int colon)
{
	return expo_name_start(c, colon) || (c >= '0' && c <= '9');
}

/* A metric (colon 1) or label (colon 0) name at s: its length, 0 when there is none. */
static inline size_t expo_name(const char *s, const char *end, int colon)
{
	const char *p = s;

	if (p >= end || !expo_name_start(*p, colon))
		return 0;
	while (p < end && expo_name_char(*p, colon))
		p++;
	return (size_t)(p - s);
}

/* A sample value: a float strtod reads entirely, or +Inf, -Inf, NaN. */
static inline int expo_value(const char *s, size_t n, double *out)
{
	char buf[64], *e;

	if (n == 0 || n >= sizeof(buf))
		return 0;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (!strcmp(buf, "+Inf") || !strcmp(buf, "-Inf") || !strcmp(buf, "NaN")) {
		*out = buf[0] == 'N' ? NAN : buf[0] == '+' ? INFINITY : -INFINITY;
		return 1;
	}
	if (buf[0] != '-' && (buf[0] < '0' || buf[0] > '9'))
		return 0;
	*out = strtod(buf, &e);
	return *e == '\0';
}

/* One parsed sample line: name, the labels (raw, escapes checked) without le, le, value. */
struct expo_sample {
	char name[4096]; /* names have no length limit: a long metric_prefix makes long ones */
	char labels[8192]; /* the label pairs other than le, as written */
	char le[64];
	int has_le;
	double value;
};

/* Parses a sample line; returns 0 or a reason. */
static inline const char *expo_sample_line(const char *s, const char *end, struct expo_sample *out)
{
	const char *p = s;
	size_t n = expo_name(p, end, 1), lpos = 0;
	char names[32][128];
	size_t n_names = 0;

	memset(out, 0, sizeof(*out));
	if (!n)
		return "no metric name";
	if (n >= sizeof(out->name))
		return "metric name too long for the checker";
	memcpy(out->name, p, n);
	p += n;
	if (p < end && *p == '{') {
		p++;
		while (p < end && *p != '}') {
			const char *lname = p, *vstart;
			size_t ln = expo_name(p, end, 0);

			if (!ln)
				return "bad label name";
			p += ln;
			if (end - p < 2 || p[0] != '=' || p[1] != '"')
				return "expected =\" after a label name";
			p += 2;
			vstart = p;
			while (p < end && *p != '"') {
				if (*p == '\\') {
					if (p + 1 >= end || (p[1] != '\\' && p[1] != '"' && p[1] != 'n'))
						return "bad escape in a label value";
					p += 2;
				} else {
					p++;
				}
			}
			if (p >= end)
				return "unterminated label value";
			for (size_t k = 0; k < n_names; k++)
				if (strlen(names[k]) == ln && !memcmp(names[k], lname, ln))
					return "duplicate label name";
			if (n_names < ARRAY_SIZE(names) && ln < sizeof(names[0])) {
				memcpy(names[n_names], lname, ln);
				names[n_names++][ln] = '\0';
			}
			if (ln == 2 && !memcmp(lname, "le", 2)) {
				size_t vn = (size_t)(p - vstart);

				if (vn >= sizeof(out->le))
					return "le too long";
				memcpy(out->le, vstart, vn);
				out->has_le = 1;
			} else {
				size_t pn = (size_t)(p + 1 - lname);

				if (lpos + pn + 1 >= sizeof(out->labels))
					return "labels too long for the checker";
				memcpy(out->labels + lpos, lname, pn);
				lpos += pn;
				out->labels[lpos++] = ',';
			}
			p++; /* closing quote */
			if (p < end && *p == ',')
				p++;
			else if (p >= end || *p != '}')
				return "expected , or } after a label";
		}
		if (p >= end)
			return "unterminated label set";
		p++;
	}
	if (p >= end || *p != ' ')
		return "expected a space before the value";
	p++;
	{
		const char *v = p;

		while (p < end && *p != ' ')
			p++;
		if (!expo_value(v, (size_t)(p - v), &out->value))
			return "bad value";
	}
	if (p < end)
		return "unexpected text after the value (timestamps are never written)";
	return NULL;
}

/* Escapes in HELP text: \\ and \n in text 0.0.4, also \" in OpenMetrics. */
static inline int expo_help_ok(const char *s, const char *end, int om)
{
	for (const char *p = s; p < end; p++) {
		if (*p != '\\')
			continue;
		if (p + 1 >= end || (p[1] != '\\' && p[1] != 'n' && !(om && p[1] == '"')))
			return 0;
		p++;
	}
	return 1;
}

/* A histogram series being checked: buckets in le order ending with +Inf, cumulative, and
 * _count equal to the +Inf bucket. */
struct expo_hist {
	char series[12288]; /* family + labels */
	double last_le, last_bucket, inf;
	int n_buckets, has_inf, has_count, has_sum;
};

struct expo_family {
	char name[4096];
	char type[16];
};

/* Text 0.0.4 (om 0) or OpenMetrics 1.0 (om 1): every line a HELP, TYPE or sample line of the
 * family last TYPE'd, names and labels well formed, escapes only \\ \" \n, values numbers,
 * valid UTF-8, no family twice, no series twice, histograms well formed. Aborts with the line
 * on the first problem. */
static inline void expo_check(const char *text, size_t len, int om)
{
	const char *p = text, *end = text + len;
	struct expo_family *fams = NULL;
	size_t n_fams = 0, lineno = 0;
	char **series = NULL;
	size_t n_series = 0;
	struct expo_hist h = {0};
	char cur[4096] = "", cur_type[16] = "";
	int eof = 0;

	for (size_t i = 0; i < len;) {
		size_t k = expo_utf8_seq((const unsigned char *)text + i, len - i);

		CHECK(k, "exposition is not UTF-8 at byte %zu (0x%02x)", i,
		      (unsigned char)text[i]);
		CHECK(text[i] != '\0', "NUL byte in the exposition at %zu", i);
		i += k;
	}
	CHECK(len == 0 || text[len - 1] == '\n', "exposition does not end with a newline");

#define LINE_CHECK(cond, ...)                                                                      \
	CHECK(cond, "line %zu %.*s: %s", lineno, (int)(nl - p), p, __VA_ARGS__)
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		lineno++;
		LINE_CHECK(!eof, "text after # EOF");
		if (p[0] == '#') {
			const char *q = p + 2;
			size_t n;

			if (om && nl - p == 5 && !memcmp(p, "# EOF", 5)) {
				eof = 1;
				p = nl + 1;
				continue;
			}
			LINE_CHECK(nl - p > 7 && (!memcmp(p, "# HELP ", 7) || !memcmp(p, "# TYPE ", 7)),
				   "a comment that is not HELP or TYPE");
			q = p + 7;
			n = expo_name(q, nl, 1);
			LINE_CHECK(n && n < sizeof(cur) && q[n] == ' ', "bad family name");
			if (p[2] == 'H') {
				LINE_CHECK(expo_help_ok(q + n + 1, nl, om), "bad escape in HELP");
				/* HELP comes first: a new family starts here. */
				memcpy(cur, q, n);
				cur[n] = '\0';
				cur_type[0] = '\0';
			} else {
				size_t tn = (size_t)(nl - (q + n + 1));

				LINE_CHECK(strlen(cur) == n && !memcmp(cur, q, n),
					   "TYPE of another family than its HELP");
				LINE_CHECK(tn < sizeof(cur_type), "bad type");
				memcpy(cur_type, q + n + 1, tn);
				cur_type[tn] = '\0';
				LINE_CHECK(!strcmp(cur_type, "counter") || !strcmp(cur_type, "gauge") ||
						   !strcmp(cur_type, "histogram"),
					   "a type sockeye does not write");
				for (size_t f = 0; f < n_fams; f++)
					LINE_CHECK(strcmp(fams[f].name, cur), "family TYPE'd twice");
				fams = realloc(fams, (n_fams + 1) * sizeof(*fams));
				CHECK(fams, "out of memory");
				snprintf(fams[n_fams].name, sizeof(fams[n_fams].name), "%s", cur);
				snprintf(fams[n_fams].type, sizeof(fams[n_fams].type), "%s", cur_type);
				n_fams++;
			}
		} else {
			struct expo_sample s;
			const char *why = expo_sample_line(p, nl, &s);
			size_t fl = strlen(cur);
			const char *suffix = s.name + fl;
			int hist = !strcmp(cur_type, "histogram");
			char key[12544];

			LINE_CHECK(!why, why);
			LINE_CHECK(cur_type[0], "a sample before any TYPE");
			LINE_CHECK(!strncmp(s.name, cur, fl), "a sample outside its family");
			if (hist)
				LINE_CHECK(!strcmp(suffix, "_bucket") || !strcmp(suffix, "_sum") ||
						   !strcmp(suffix, "_count"),
					   "a histogram sample without _bucket, _sum or _count");
			else if (!strcmp(cur_type, "counter") && om)
				LINE_CHECK(!strcmp(suffix, "_total"), "an OpenMetrics counter sample "
								      "without _total");
			else
				LINE_CHECK(!*suffix, "a sample name other than its family's");
			LINE_CHECK(s.has_le == (hist && !strcmp(suffix, "_bucket")),
				   "le where there should be none, or none on a bucket");
			snprintf(key, sizeof(key), "%s{%s%s%s}", s.name, s.labels, s.has_le ? "le=" : "",
				 s.le);
			for (size_t k = 0; k < n_series; k++)
				LINE_CHECK(strcmp(series[k], key), "the same series twice");
			series = realloc(series, (n_series + 1) * sizeof(*series));
			CHECK(series, "out of memory");
			series[n_series++] = strdup(key);
			if (hist) {
				char hs[sizeof(h.series)];

				snprintf(hs, sizeof(hs), "%s{%s}", cur, s.labels);
				if (strcmp(hs, h.series)) {
					LINE_CHECK(!h.series[0] || (h.has_inf && h.has_count && h.has_sum),
						   "the previous histogram series is incomplete");
					memset(&h, 0, sizeof(h));
					snprintf(h.series, sizeof(h.series), "%s", hs);
				}
				if (!strcmp(suffix, "_bucket")) {
					double le;

					LINE_CHECK(!h.has_inf && !h.has_count && !h.has_sum,
						   "a bucket after +Inf, _sum or _count");
					LINE_CHECK(expo_value(s.le, strlen(s.le), &le) && !isnan(le),
						   "le is not a number");
					LINE_CHECK(!h.n_buckets || le > h.last_le, "le not increasing");
					LINE_CHECK(!h.n_buckets || s.value >= h.last_bucket,
						   "buckets not cumulative");
					LINE_CHECK(s.value >= 0 && s.value == floor(s.value),
						   "a bucket count that is not a whole number");
					h.last_le = le;
					h.last_bucket = s.value;
					h.n_buckets++;
					if (isinf(le)) {
						h.has_inf = 1;
						h.inf = s.value;
					}
				} else if (!strcmp(suffix, "_count")) {
					LINE_CHECK(h.has_inf && s.value == h.inf,
						   "_count differs from the +Inf bucket");
					h.has_count = 1;
				} else {
					LINE_CHECK(h.has_inf, "_sum before +Inf");
					h.has_sum = 1;
				}
			} else if (!strcmp(cur_type, "counter")) {
				LINE_CHECK(s.value >= 0, "a negative counter");
			}
		}
		p = nl + 1;
	}
#undef LINE_CHECK
	CHECK(!h.series[0] || (h.has_inf && h.has_count && h.has_sum),
	      "the last histogram series %s is incomplete", h.series);
	CHECK(!om || eof, "OpenMetrics text without # EOF");
	for (size_t k = 0; k < n_series; k++)
		free(series[k]);
	free(series);
	free(fams);
}

#endif /* SOCKEYE_FUZZ_H */
