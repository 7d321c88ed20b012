/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* httpd.h - the metrics endpoint. httpd.c is the only file that includes <microhttpd.h>. */
#ifndef SOCKEYE_HTTPD_H
#define SOCKEYE_HTTPD_H

#include <stddef.h>

#include "buf.h"
#include "render.h"

/* Renders a scrape into out (thread-safe; called from libmicrohttpd's threads).
 * Returns 0 or a negative errno (served as 500). */
typedef int (*httpd_scrape_fn)(void *arg, enum render_format fmt, struct sockeye_buf *out);
/* Returns 1 when the BPF programs are attached (/readyz), else 0. */
typedef int (*httpd_ready_fn)(void *arg);

struct httpd_options {
	const char *const *listen; /* "host:port", ":port", "[::1]:port" */
	size_t n_listen;
	const char *telemetry_path;
	const char *web_config_file; /* NULL: plain HTTP, no auth */
	httpd_scrape_fn scrape;
	httpd_ready_fn ready;
	void *arg;
};

struct httpd;

/* Binds every address and starts serving. Returns NULL with errno set after logging why. */
struct httpd *httpd_start(const struct httpd_options *opts);
/* Re-reads the web config file (SIGHUP): new certificates, users, headers. Keeps the old
 * configuration and returns a negative errno when the new one is invalid. */
int httpd_reload(struct httpd *h);
void httpd_stop(struct httpd *h);

#endif /* SOCKEYE_HTTPD_H */
