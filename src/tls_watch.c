// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* tls_watch.c - the TLS process thread: each exec'd process (tp_exec's ring buffer events) is
 * looked at a few times while its loader and its dlopen calls run, all processes again every
 * minute, and a library that no process maps any more is detached, system libraries excepted. */
#include <bpf/libbpf.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "tls_internal.h"

/* Delays after an exec at which its maps are read: the dynamic loader maps DT_NEEDED
 * libraries within milliseconds; interpreters dlopen libssl when a script imports it. */
static const double watch_delays[] = {0.02, 0.1, 0.5, 2.0, 10.0};

double tls_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Warnings the thread's loop may hit over and over: at most one a minute. */
void tls_warn_limited(struct tls *t, const char *msg, int err)
{
	double now = tls_now();

	if (now < t->next_warn)
		return;
	t->next_warn = now + 60;
	if (err)
		pr_warn("%s: %s", msg, strerror(-err));
	else
		pr_warn("%s", msg);
}

static void watch_add(struct tls *t, pid_t pid)
{
	if (t->n_watch == WATCH_MAX) {
		tls_warn_limited(t,
				 "TLS: too many new processes to look at; some are not checked for "
				 "libssl",
				 0);
		return;
	}
	t->watch[t->n_watch].pid = pid;
	t->watch[t->n_watch].step = 0;
	t->watch[t->n_watch].due = tls_now() + watch_delays[0];
	t->n_watch++;
}

int tls_on_event(void *ctx, void *data, size_t size)
{
	struct tls *t = ctx;
	const struct sockeye_tls_event *e = data;

	if (size < sizeof(*e))
		return 0;
	if (e->type == SOCKEYE_TLS_EV_EXEC)
		watch_add(t, e->pid);
	return 0;
}

static void watch_run(struct tls *t)
{
	double now = tls_now();
	size_t i = 0;

	while (i < t->n_watch) {
		struct watch *w = &t->watch[i];

		if (w->due > now) {
			i++;
			continue;
		}
		if (tls_scan_pid(t, w->pid) == 0 && ++w->step < ARRAY_SIZE(watch_delays)) {
			w->due = now + watch_delays[w->step] - watch_delays[w->step - 1];
			i++;
			continue;
		}
		*w = t->watch[--t->n_watch]; /* gone, or looked at for the last time */
	}
}

/* Libraries outside the system directories stay attached while a process maps them. When
 * the processes we know of are gone, all of /proc is searched once before detaching (a
 * forked child may still map the file). */
static void liveness(struct tls *t)
{
	bool lost = false;

	for (size_t i = 0; i < t->n_libs; i++) {
		struct tls_lib *lib = &t->libs[i];
		size_t k = 0;

		if (lib->system || lib->failed)
			continue;
		while (k < lib->n_pids) {
			if (tls_pid_maps(lib->pids[k], lib->dev, lib->ino))
				k++;
			else
				lib->pids[k] = lib->pids[--lib->n_pids];
		}
		lost |= lib->n_pids == 0;
	}
	if (!lost)
		return;
	for (size_t i = 0; i < t->n_libs; i++)
		t->libs[i].seen = false;
	tls_scan_all(t);
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->n_libs;) {
		struct tls_lib *lib = &t->libs[i];

		if (lib->system || lib->seen) {
			i++;
			continue;
		}
		if (!lib->failed)
			pr_info("TLS: detached from %s: no process maps it any more", lib->name);
		tls_lib_detach(t, lib);
		t->libs[i] = t->libs[--t->n_libs];
	}
	pthread_mutex_unlock(&t->lock);
}

void *tls_thread(void *arg)
{
	struct tls *t = arg;

	while (!atomic_load(&t->stop)) {
		int err = ring_buffer__poll(t->rb, POLL_MS);

		if (err < 0 && err != -EINTR)
			tls_warn_limited(t, "TLS: reading process events", err);
		watch_run(t);
		if (tls_now() >= t->next_rescan) {
			tls_scan_all(t);
			t->next_rescan = tls_now() + RESCAN_S;
		}
		if (tls_now() >= t->next_liveness) {
			liveness(t);
			t->next_liveness = tls_now() + LIVENESS_S;
		}
	}
	return NULL;
}
