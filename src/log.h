/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* log.h - logfmt lines on stderr: ts=... level=... msg="..." */
#ifndef SOCKEYE_LOG_H
#define SOCKEYE_LOG_H

enum log_level {
	LOG_DEBUG = 0,
	LOG_INFO,
	LOG_WARN,
	LOG_ERROR,
};

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "debug|info|warn|error"; returns the level or -1. */
int log_level_parse(const char *s);
/* Routes libbpf's messages here: its warnings become debug unless at debug level. */
void log_setup_libbpf(void);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define pr_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define pr_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define pr_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define pr_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif /* SOCKEYE_LOG_H */
