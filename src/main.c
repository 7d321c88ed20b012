// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* main.c - parse flags, load and attach, serve scrapes until a signal; errors -> exit status. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "caps.h"
#include "collect.h"
#include "config.h"
#include "funcs_elf.h"
#include "httpd.h"
#include "identity.h"
#include "loader.h"
#include "log.h"
#include "procself.h"
#include "render.h"
#include "textfile.h"

#ifndef SOCKEYE_VERSION
#define SOCKEYE_VERSION "unknown"
#endif
#ifndef SOCKEYE_REVISION
#define SOCKEYE_REVISION "unknown"
#endif

static volatile sig_atomic_t stop_signal;
static volatile sig_atomic_t reload_requested;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		reload_requested = 1;
	else
		stop_signal = sig;
}

struct agent {
	const struct sockeye_config *cfg;
	struct loader *loader;
	struct identity_cache *ids; /* used under lock, like the maps */
	pthread_mutex_t lock; /* one collect at a time: scrapes may come from several threads */
};

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int agent_scrape(void *arg, enum render_format fmt, struct sockeye_buf *out)
{
	struct agent *a = arg;
	struct sockeye_snapshot snap;
	double t0 = now_seconds();
	int err;

	pthread_mutex_lock(&a->lock);
	err = collect_snapshot(loader_fds(a->loader), a->cfg, a->ids, &snap);
	if (!err) {
		procself_read(&snap.process);
		snap.scrape_duration_seconds = now_seconds() - t0;
		err = render_text(&snap, fmt, out);
	}
	collect_free(&snap);
	pthread_mutex_unlock(&a->lock);
	return err;
}

static int agent_ready(void *arg)
{
	return ((struct agent *)arg)->loader != NULL;
}

static int write_textfile(struct agent *a)
{
	struct sockeye_buf b;
	int err;

	buf_init(&b);
	err = agent_scrape(a, RENDER_TEXT_004, &b);
	if (!err)
		err = textfile_write(a->cfg->textfile, b.data, b.len);
	buf_free(&b);
	return err;
}

static void install_signals(void)
{
	struct sigaction sa = {.sa_handler = on_signal};

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* The cache behind the service and container labels (identity.c). */
static int start_identity(struct agent *a)
{
	char root[PATH_MAX];
	struct identity_options o = {
		.cgroup_root = root,
		.pods_log_dir = a->cfg->pods_log_dir,
		.rules = a->cfg->rules,
		.n_rules = a->cfg->n_rules,
	};
	int err = loader_find_cgroup2(root, sizeof(root));

	if (err) {
		pr_error("identity: no cgroup v2 mount in /proc/mounts");
		return err;
	}
	a->ids = identity_new(&o);
	if (!a->ids)
		return -errno; /* identity_new logged why */
	pr_info("Identity labels from cgroup=%s pods_log_dir=%s rules=%zu", root,
		a->cfg->pods_log_dir, a->cfg->n_rules);
	return 0;
}

/* SIGHUP: the config file is read again; its http.routes and functions sections replace the
 * running ones (the rest of the file takes effect at the next restart). A file with an error
 * anywhere, a declared symbol missing from its binary included, is reported
 * (file:line:column: reason) and changes nothing. */
static void reload_config(struct agent *a)
{
	struct sockeye_config fresh;
	int err;

	if (!a->cfg->config_file)
		return;
	config_defaults(&fresh);
	fresh.config_file = a->cfg->config_file;
	if (config_load_file(&fresh) || funcs_elf_check_config(&fresh)) {
		pr_error("SIGHUP: %s not reloaded: see the error above; the routes and functions "
			 "stay as they were",
			 a->cfg->config_file);
		config_free(&fresh);
		return;
	}
	if (loader_set_routes(a->loader, &fresh) == 0)
		pr_info("SIGHUP: routes reloaded from %s: patterns=%zu ignored=%zu",
			a->cfg->config_file, fresh.n_route_patterns, fresh.n_route_ignore);
	pthread_mutex_lock(&a->lock);
	err = loader_reload_functions(a->loader, &fresh);
	pthread_mutex_unlock(&a->lock);
	if (err)
		pr_error("SIGHUP: the functions of %s not applied: %s (the errors are above); the "
			 "running functions stay as they were",
			 a->cfg->config_file, strerror(-err));
	config_free(&fresh);
}

static int run(struct sockeye_config *cfg)
{
	struct agent a = {.cfg = cfg};
	struct caps_keep keep;
	struct httpd *h = NULL;
	struct utsname u;
	double next_write = 0;
	int err = 0;

	pthread_mutex_init(&a.lock, NULL);
	uname(&u);
	pr_info("Starting sockeye version=%s revision=%s kernel=%s libbpf=%s", SOCKEYE_VERSION,
		SOCKEYE_REVISION, u.release, libbpf_version_string());

	err = caps_check(!cfg->tls_disable);
	if (err)
		return err;
	a.loader = loader_start(cfg);
	if (!a.loader)
		return -errno;
	loader_report(a.loader, cfg->check ? stdout : NULL);
	if (cfg->check) {
		if (loader_failed_function_probes(a.loader)) {
			printf("check failed: probes of declared functions did not attach (above)\n");
			err = -ENOENT;
		} else {
			printf("check ok: programs load and attach\n");
		}
		goto cleanup;
	}
	err = start_identity(&a);
	if (err)
		goto cleanup;

	if (cfg->web_disable) {
		pr_info("Metrics endpoint disabled");
	} else {
		struct httpd_options o = {
			.listen = cfg->listen,
			.n_listen = cfg->n_listen,
			.telemetry_path = cfg->telemetry_path,
			.web_config_file = cfg->web_config_file,
			.scrape = agent_scrape,
			.ready = agent_ready,
			.arg = &a,
		};

		h = httpd_start(&o);
		if (!h) {
			err = -errno;
			goto cleanup;
		}
	}
	/* Attached and bound: keep only what the running agent uses (docs/deploy.md). Declared
	 * functions are attached again on SIGHUP: they keep what HTTPS keeps for the libraries it
	 * finds later (CAP_SYS_ADMIN, which passes the checks for loading and attaching). */
	caps_parse_keep(cfg->caps_keep, &keep); /* config.c validated it */
	err = caps_reduce(&keep, loader_fds(a.loader)->tls != NULL ||
					 loader_fds(a.loader)->funcs != NULL);
	if (err)
		goto cleanup;

	while (!stop_signal) {
		if (reload_requested) {
			reload_requested = 0;
			reload_config(&a);
			pr_info("SIGHUP: reloading the web config");
			if (h)
				httpd_reload(h);
		}
		if (cfg->textfile && now_seconds() >= next_write) {
			write_textfile(&a);
			next_write = now_seconds() + cfg->interval_ms / 1000.0;
		}
		usleep(100 * 1000);
	}
	pr_info("Stopping on signal %d", (int)stop_signal);
	if (cfg->textfile)
		write_textfile(&a); /* the last counts, for a collector that reads after we exit */
cleanup:
	httpd_stop(h);
	identity_free(a.ids);
	loader_stop(a.loader);
	pthread_mutex_destroy(&a.lock);
	return err;
}

int main(int argc, char **argv)
{
	struct sockeye_config cfg;
	int err;

	config_defaults(&cfg);
	err = config_parse_args(&cfg, argc, argv);
	if (err) {
		config_free(&cfg);
		return err > 0 ? 0 : 2;
	}
	err = config_load_file(&cfg);
	if (!err)
		err = funcs_elf_check_config(&cfg); /* symbols and USDT probes in their files */
	if (err) {
		config_free(&cfg);
		return 1;
	}
	log_set_level(cfg.log_level);
	log_setup_libbpf();
	install_signals();

	err = run(&cfg);
	config_free(&cfg);
	if (err) {
		pr_error("exiting: %s", strerror(-err));
		return 1;
	}
	return 0;
}
