// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* log.c - logfmt lines on stderr; libbpf's messages routed through the same levels. */
#include <bpf/libbpf.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "log.h"

static enum log_level current_level = LOG_INFO;

static const char *const level_names[] = {
	[LOG_DEBUG] = "debug",
	[LOG_INFO] = "info",
	[LOG_WARN] = "warn",
	[LOG_ERROR] = "error",
};

void log_set_level(enum log_level level)
{
	current_level = level;
}

enum log_level log_get_level(void)
{
	return current_level;
}

int log_level_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return (int)i;
	return -1;
}

/* Writes msg as a logfmt quoted value: quotes and backslashes escaped, newlines as \n. */
static void put_quoted(FILE *f, const char *msg)
{
	fputc('"', f);
	for (const char *p = msg; *p; p++) {
		if (*p == '"' || *p == '\\')
			fputc('\\', f);
		if (*p == '\n') {
			fputs("\\n", f);
			continue;
		}
		fputc(*p, f);
	}
	fputc('"', f);
}

static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char msg[1024], ts[64];
	struct timeval tv;
	struct tm tm;
	size_t n;

	if (level < current_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	/* One fprintf per line piece under the stdio lock, so threads do not interleave. */
	flockfile(stderr);
	fprintf(stderr, "ts=%s.%03ldZ level=%s msg=", ts, (long)(tv.tv_usec / 1000),
		level_names[level]);
	put_quoted(stderr, msg);
	fputc('\n', stderr);
	funlockfile(stderr);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

/* libbpf warns about things sockeye handles itself (e.g. probing features), so its warnings
 * and info are shown one level down: only with --log.level=debug. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (current_level > LOG_DEBUG && level != LIBBPF_WARN)
		return 0;
	log_vmsg(LOG_DEBUG, fmt, ap);
	return 0;
}

void log_setup_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}
