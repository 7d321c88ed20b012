/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* testing.h - helpers shared by the unit suites (cmocka): capture of stdout/stderr, temp
 * files, running a command, exact-string expectations that name their case. */
#ifndef SOCKEYE_TESTING_H
#define SOCKEYE_TESTING_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf, strndup; include this header first */
#endif

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define expect_str(name, got, want)                                                                \
	do {                                                                                       \
		if (strcmp((got), (want)) != 0)                                                    \
			fail_msg("case '%s':\n  got:  \"%s\"\n  want: \"%s\"", (name), (got),      \
				 (want));                                                          \
	} while (0)

#define expect_int(name, got, want)                                                                \
	do {                                                                                       \
		long long g_ = (long long)(got), w_ = (long long)(want);                           \
		if (g_ != w_)                                                                      \
			fail_msg("case '%s': %s is %lld, want %lld", (name), #got, g_, w_);        \
	} while (0)

/* Redirects stdout and stderr into temporary files, so messages can be compared exactly. */
struct capture {
	FILE *out, *err;
	int saved_out, saved_err;
};

static inline void capture_start(struct capture *c)
{
	fflush(stdout);
	fflush(stderr);
	c->out = tmpfile();
	c->err = tmpfile();
	assert_non_null(c->out);
	assert_non_null(c->err);
	c->saved_out = dup(STDOUT_FILENO);
	c->saved_err = dup(STDERR_FILENO);
	dup2(fileno(c->out), STDOUT_FILENO);
	dup2(fileno(c->err), STDERR_FILENO);
}

static inline char *slurp(FILE *f)
{
	long n;
	char *s;

	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	s = calloc(1, (size_t)n + 1);
	assert_non_null(s);
	if (n > 0)
		assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return s;
}

/* Restores stdout/stderr; returns what was written to them (caller frees). */
static inline void capture_end(struct capture *c, char **out, char **err)
{
	fflush(stdout);
	fflush(stderr);
	dup2(c->saved_out, STDOUT_FILENO);
	dup2(c->saved_err, STDERR_FILENO);
	close(c->saved_out);
	close(c->saved_err);
	*out = slurp(c->out);
	*err = slurp(c->err);
}

/* Writes text to a new file dir/name; returns its path (caller frees). */
static inline char *write_file(const char *dir, const char *name, const char *text)
{
	char *path;
	FILE *f;

	assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	fclose(f);
	return path;
}

/* Runs cmd with stdout and stderr captured; returns the exit status, or -1 if it died. */
static inline int run_cmd(const char *cmd, char *output, size_t size)
{
	size_t n = 0;
	FILE *p;
	int st;

	p = popen(cmd, "r");
	assert_non_null(p);
	while (n + 1 < size && fgets(output + n, (int)(size - n), p))
		n += strlen(output + n);
	output[n] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#endif /* SOCKEYE_TESTING_H */
