// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* tls.c - the TLS object: opened sharing the socket hooks' maps, loaded, its tracepoints
 * attached; then every libssl.so* in the system library directories and every one a process
 * maps is attached (tls_discover.c, tls_attach.c: once per library inode, where tls_derive.c
 * says), and the process thread follows execs and exits (tls_watch.c). Also what collect and
 * --check read of it. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "progload.h"
#include "tls_internal.h"

_Static_assert(sizeof(((struct tls_bpf *)0)->rodata->include_ports) ==
		       sizeof(((struct tls_tunables *)0)->include_ports),
	       "TLS_FILTER_MAX matches FILTER_MAX in bpf/tls.bpf.c");
_Static_assert(sizeof(((struct tls_bpf *)0)->rodata->bounds_ns) ==
		       sizeof(((struct tls_tunables *)0)->bounds_ns),
	       "bounds_ns sizes match");

static const char *const mode_names[SOCKEYE_TLS_MODE_MAX] = {
	[SOCKEYE_TLS_MODE_INTERNAL] = "internal",
	[SOCKEYE_TLS_MODE_PUBLIC] = "public",
};

/* ---- lifecycle --------------------------------------------------------------------------- */

static void set_tunables(struct tls_bpf *s, const struct tls_tunables *tun)
{
	for (size_t i = 0; i < SOCKEYE_MAX_BUCKETS; i++)
		s->rodata->bounds_ns[i] = tun->bounds_ns[i];
	s->rodata->n_bounds = tun->n_bounds;
	for (size_t i = 0; i < TLS_FILTER_MAX; i++) {
		s->rodata->include_ports[i] = tun->include_ports[i];
		s->rodata->exclude_ports[i] = tun->exclude_ports[i];
		s->rodata->include_cgroups[i] = tun->include_cgroups[i];
		s->rodata->include_cgroup_levels[i] = tun->include_cgroup_levels[i];
		s->rodata->exclude_cgroups[i] = tun->exclude_cgroups[i];
		s->rodata->exclude_cgroup_levels[i] = tun->exclude_cgroup_levels[i];
	}
	s->rodata->n_include_ports = tun->n_include_ports;
	s->rodata->n_exclude_ports = tun->n_exclude_ports;
	s->rodata->n_include_cgroups = tun->n_include_cgroups;
	s->rodata->n_exclude_cgroups = tun->n_exclude_cgroups;
}

/* The TLS probes' own maps and their names in include/sockeye.h. */
static int check_map_names(const struct tls_bpf *s)
{
	const struct progload_map_name maps[] = {
		{ s->maps.tls_calls, SOCKEYE_MAP_TLS_CALLS },
		{ s->maps.tls_conns, SOCKEYE_MAP_TLS_CONNS },
		{ s->maps.tls_libs, SOCKEYE_MAP_TLS_LIBS },
		{ s->maps.tls_procs, SOCKEYE_MAP_TLS_PROCS },
		{ s->maps.tls_stats, SOCKEYE_MAP_TLS_STATS },
		{ s->maps.tls_hits, SOCKEYE_MAP_TLS_HITS },
		{ s->maps.tls_attr, SOCKEYE_MAP_TLS_ATTR },
		{ s->maps.tls_events, SOCKEYE_MAP_TLS_EVENTS },
	};

	return progload_check_map_names(maps, ARRAY_SIZE(maps), "tls");
}

/* Every map the socket hooks' object also has becomes the same kernel map, except the
 * per-object scratch maps and the objects' own .rodata/.bss. */
static int share_maps(struct tls_bpf *s, const struct bpf_object *main_obj)
{
	struct bpf_map *m;

	bpf_object__for_each_map(m, s->obj)
	{
		const char *name = bpf_map__name(m);
		struct bpf_map *other;
		int err;

		if (name[0] == '.' || strchr(name, '.') || strcmp(name, SOCKEYE_MAP_SCRATCH) == 0 ||
		    strcmp(name, SOCKEYE_MAP_SCRATCH_DEPTH) == 0)
			continue;
		other = bpf_object__find_map_by_name(main_obj, name);
		if (!other)
			continue;
		err = bpf_map__reuse_fd(m, bpf_map__fd(other));
		if (err) {
			pr_error("TLS: sharing map %s with the socket hooks: %s", name,
				 strerror(-err));
			return err;
		}
	}
	return 0;
}

static int attach_tp(struct bpf_program *prog, struct bpf_link **link, const char *name)
{
	*link = bpf_program__attach(prog);
	if (!*link) {
		int err = -errno;

		pr_error("TLS: attaching %s: %s", name, strerror(-err));
		return err;
	}
	return 0;
}

struct tls *tls_start(const struct sockeye_config *cfg, const struct bpf_object *main_obj,
		      const struct tls_tunables *tun, struct progload_report *report)
{
	struct tls *t = calloc(1, sizeof(*t));
	int err, failed;

	if (!t)
		return NULL;
	pthread_mutex_init(&t->lock, NULL);
	t->mode_cfg = cfg->tls_probe_mode;
	t->self = getpid();
	t->watch = calloc(WATCH_MAX, sizeof(*t->watch));
	if (!t->watch) {
		err = -ENOMEM;
		goto cleanup;
	}
	t->skel = tls_bpf__open();
	if (!t->skel) {
		err = -errno;
		pr_error("TLS: opening the BPF object: %s", strerror(-err));
		goto cleanup;
	}
	err = check_map_names(t->skel);
	if (err)
		goto cleanup;
	set_tunables(t->skel, tun);
	err = share_maps(t->skel, main_obj);
	if (err)
		goto cleanup;
	err = progload_object(t->skel->obj, "tls", NULL, report, &failed);
	if (err) {
		pr_error("TLS: loading BPF program %s: %s: %s",
			 failed >= 0 ? report->progs[failed].name : "(none)", strerror(-err),
			 failed >= 0 ? report->progs[failed].why : "");
		goto cleanup;
	}
	err = attach_tp(t->skel->progs.tp_exec, &t->skel->links.tp_exec, "tp_exec");
	if (!err)
		err = attach_tp(t->skel->progs.tp_exit, &t->skel->links.tp_exit, "tp_exit");
	if (err)
		goto cleanup;
	t->rb = ring_buffer__new(bpf_map__fd(t->skel->maps.tls_events), tls_on_event, t, NULL);
	if (!t->rb) {
		err = -errno;
		pr_error("TLS: ring buffer: %s", strerror(-err));
		goto cleanup;
	}

	/* Exec events from now on are queued in the ring buffer, so a process that starts
	 * during the scans below is not missed. */
	tls_scan_system(t);
	tls_scan_all(t);
	t->next_liveness = tls_now() + LIVENESS_S;
	t->next_rescan = tls_now() + RESCAN_S;
	err = pthread_create(&t->thread, NULL, tls_thread, t);
	if (err) {
		err = -err;
		pr_error("TLS: starting the process thread: %s", strerror(-err));
		goto cleanup;
	}
	t->thread_started = true;
	return t;

cleanup:
	tls_stop(t);
	errno = -err;
	return NULL;
}

void tls_report_off(struct progload_report *report, const char *why)
{
	struct tls_bpf *s = tls_bpf__open();

	if (!s)
		return;
	progload_list_off(s->obj, "tls", why, report);
	tls_bpf__destroy(s);
}

void tls_stop(struct tls *t)
{
	if (!t)
		return;
	if (t->thread_started) {
		atomic_store(&t->stop, true);
		pthread_join(t->thread, NULL);
	}
	for (size_t i = 0; i < t->n_libs; i++)
		tls_lib_detach(t, &t->libs[i]);
	ring_buffer__free(t->rb);
	tls_bpf__destroy(t->skel);
	pthread_mutex_destroy(&t->lock);
	free(t->libs);
	free(t->watch);
	free(t);
}

void tls_report(struct tls *t, FILE *out)
{
	size_t n_ok = 0;

	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->n_libs; i++) {
		const struct tls_lib *lib = &t->libs[i];

		if (lib->failed)
			continue;
		n_ok++;
		pr_info("attached TLS probes mode=%s library=%s", mode_names[lib->mode], lib->name);
		if (out)
			fprintf(out, "attached TLS probes (%s) to %s\n", mode_names[lib->mode],
				lib->name);
	}
	pthread_mutex_unlock(&t->lock);
	if (!n_ok) {
		pr_info("TLS: no libssl found yet; new processes are watched");
		if (out)
			fprintf(out, "TLS: no libssl found yet\n");
	}
}

static int lib_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sockeye_tls_library *)a)->library,
		      ((const struct sockeye_tls_library *)b)->library);
}

struct sockeye_tls_library *tls_libraries(struct tls *t, size_t *n)
{
	struct sockeye_tls_library *out = NULL;

	*n = 0;
	pthread_mutex_lock(&t->lock);
	if (t->n_libs)
		out = calloc(t->n_libs, sizeof(*out));
	for (size_t i = 0; out && i < t->n_libs; i++) {
		if (t->libs[i].failed)
			continue;
		snprintf(out[*n].library, sizeof(out[*n].library), "%s", t->libs[i].name);
		out[*n].mode = t->libs[i].mode;
		out[*n].fd_lookup = t->libs[i].fd_lookup;
		out[*n].slot = t->libs[i].slot;
		(*n)++;
	}
	pthread_mutex_unlock(&t->lock);
	if (out)
		qsort(out, *n, sizeof(*out), lib_cmp);
	return out;
}

int tls_stats_fd(const struct tls *t)
{
	return bpf_map__fd(t->skel->maps.tls_stats);
}

int tls_hits_fd(const struct tls *t)
{
	return bpf_map__fd(t->skel->maps.tls_hits);
}

int tls_attr_fd(const struct tls *t)
{
	return bpf_map__fd(t->skel->maps.tls_attr);
}

size_t tls_prog_fds(const struct tls *t, int *fds, const char **names, size_t max)
{
	struct bpf_program *progs[] = {
		t->skel->progs.uprobe_ssl_rw,	t->skel->progs.uretprobe_ssl_rw,
		t->skel->progs.uprobe_ssl_free, t->skel->progs.tp_exec,
		t->skel->progs.tp_exit,
	};
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(progs) && n < max; i++) {
		names[n] = bpf_program__name(progs[i]);
		fds[n++] = bpf_program__fd(progs[i]);
	}
	return n;
}

size_t tls_map_fds(const struct tls *t, int *fds, size_t max)
{
	size_t n = 0;

	if (n < max)
		fds[n++] = bpf_map__fd(t->skel->maps.tls_conns);
	if (n < max)
		fds[n++] = bpf_map__fd(t->skel->maps.tls_calls);
	return n;
}
