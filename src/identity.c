// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* identity.c - cgroup ids, ports and owner pids -> service and container labels: the bounded
 * cache that combines what /proc (identity_proc.c), the cgroup hierarchy (identity_cgroup.c)
 * and the kubelet's directories (identity_k8s.c) say, and the rules that override them. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "identity.h"
#include "identity_table.h"
#include "log.h"
#include "utf8.h"

/* A series group is named again this often even when nothing changed: new workers join the
 * service's process set, a changed rule or pod directory shows. */
#define REFRESH_SECONDS 30.0
/* A pod directory that was not found (the kubelet may not have made it yet) is looked for
 * again after this long, not on every scrape. */
#define K8S_RETRY_SECONDS 5.0

/* Bounds. A series group is a (cgroup, role, port) of the http_dur map, so there are never
 * more than that map holds; the others follow from it. */
#define MAX_SERIES SOCKEYE_HTTP_ENTRIES
#define MAX_CGROUPS SOCKEYE_HTTP_ENTRIES
#define MAX_PROCESSES 16384
#define MAX_PIDS_PER_SERIES 1024   /* processes holding one listener: workers of a pool */

/* ---- Label values and rules --------------------------------------------------------------- */

void identity_copy_utf8(char *out, size_t size, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, o = 0;

	if (!size)
		return;
	while (i < len && u[i]) {
		size_t n = utf8_seq(u + i, len - i);

		if (o + (n ? n : 1) >= size)
			break;
		if (n) {
			memcpy(out + o, s + i, n);
			o += n;
			i += n;
		} else {
			out[o++] = '?';
			i++;
		}
	}
	out[o] = '\0';
}

static int cgroup_at_or_below(const char *path, const char *top)
{
	size_t n = strlen(top);

	if (strcmp(top, "/") == 0)
		return 1;
	return strncmp(path, top, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

const struct sockeye_identity_rule *identity_match_rule(const struct sockeye_identity_rule *rules,
							const char *const *exe_real, size_t n,
							const char *exe, uint16_t port,
							const char *cgroup)
{
	for (size_t i = 0; i < n; i++) {
		const struct sockeye_identity_rule *r = &rules[i];

		if (r->port && r->port != port)
			continue;
		if (r->cgroup && !(cgroup && cgroup_at_or_below(cgroup, r->cgroup)))
			continue;
		if (r->exe && !(exe && (strcmp(exe, r->exe) == 0 ||
					(exe_real && exe_real[i] && strcmp(exe, exe_real[i]) == 0))))
			continue;
		return r;
	}
	return NULL;
}

/* ---- The cache ----------------------------------------------------------------------------- */

struct proc_ref {
	int pid;
	uint64_t start;
};

/* A series group: the labels it was given and the processes behind it. */
struct series_entry {
	struct tkey key; /* cgroup id; server_port | role << 16 | group << 32 */
	uint64_t pass;	 /* the last pass that resolved it */
	double resolved_at;
	int resolved;		/* labels hold a resolution (kept once given) */
	uint32_t owner_tgid;	/* sock_owner's tgid at the last resolution */
	char owner_comm[16];	/* comm of the process the labels came from */
	struct proc_ref *pids;	/* listener holders and the owner, when alive */
	size_t n_pids;
	struct sockeye_identity labels;
};

struct proc_entry {
	struct tkey key;    /* pid */
	uint64_t pass;	    /* the last pass that needed it */
	uint64_t stat_pass; /* the pass of the last /proc/PID/stat read */
	int dead;
	int loaded; /* exe, name and env_service read */
	uint64_t start;
	uint64_t cpu_ticks;
	uint64_t rss_pages;
	char comm[16];
	char *exe; /* NULL: unreadable */
	char name[SOCKEYE_ID_VALUE_LEN];
	char env_service[SOCKEYE_ID_VALUE_LEN]; /* "" when the environment names none */
};

struct listener {
	uint16_t port;
	int pid;
};

struct cgroup_entry {
	struct tkey key; /* cgroup id */
	uint64_t pass;
	char *path; /* relative to the cgroup2 mount; NULL: no such cgroup */
	struct identity_cgroup_info info;
	struct sockeye_identity k8s; /* the k8s_* values only */
	int k8s_tried;
	double k8s_tried_at;
	uint64_t scan_pass; /* the pass ls was found in */
	struct listener *ls;
	size_t n_ls;
};

struct identity_cache {
	struct cgroup_fs cgroups_fs;
	char *pods_log_dir;
	char *proc;
	const struct sockeye_identity_rule *rules; /* the config's: outlives the cache */
	char **exe_real;			   /* rules[i].exe with symlinks resolved */
	size_t n_rules;
	uint64_t pass;
	double now;
	long clk_tck, page_size;
	struct table series, procs, cgroups;
	struct proc_netns_set netns; /* for this pass */
	uint64_t evictions[SOCKEYE_ID_CACHE_MAX];
	int warned_full[SOCKEYE_ID_CACHE_MAX];
};

static uint64_t refresh_epoch(double t)
{
	return (uint64_t)(t / REFRESH_SECONDS);
}

static double monotonic_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void warn_full(struct identity_cache *c, enum sockeye_id_cache which, const char *what)
{
	/* Once: it would repeat on every scrape. */
	if (c->warned_full[which])
		return;
	c->warned_full[which] = 1;
	pr_warn("identity: %s cache: %s; some series go without identity labels", what,
		strerror(errno));
}

static void proc_clear(struct proc_entry *pe)
{
	free(pe->exe);
	pe->exe = NULL;
	pe->loaded = 0;
	pe->name[0] = '\0';
	pe->env_service[0] = '\0';
}

/* The live process pid, read at most once per pass; NULL when it is gone. */
static struct proc_entry *proc_get(struct identity_cache *c, int pid)
{
	struct tkey k = { (uint64_t)pid, 0 };
	struct proc_entry *pe = table_find(&c->procs, &k);
	struct proc_stat now;

	if (pid <= 0)
		return NULL;
	if (pe && pe->stat_pass == c->pass) {
		pe->pass = c->pass;
		return pe->dead ? NULL : pe;
	}
	if (proc_read_stat(c->proc, pid, &now)) {
		if (pe) {
			pe->dead = 1;
			pe->stat_pass = c->pass;
		}
		return NULL;
	}
	if (pe && pe->start != now.start) {
		/* The pid was reused: the cached process exited. */
		pr_debug("identity: evicted process pid=%d comm=%s: exited (pid reused)", pid,
			 pe->comm);
		c->evictions[SOCKEYE_ID_CACHE_PROCESS]++;
		proc_clear(pe);
	}
	if (!pe) {
		pe = table_add(&c->procs, &k);
		if (!pe) {
			warn_full(c, SOCKEYE_ID_CACHE_PROCESS, "process");
			return NULL;
		}
	}
	pe->start = now.start;
	pe->cpu_ticks = now.cpu_ticks;
	pe->rss_pages = now.rss_pages;
	memcpy(pe->comm, now.comm, sizeof(pe->comm));
	pe->dead = 0;
	pe->stat_pass = c->pass;
	pe->pass = c->pass;
	return pe;
}

/* Reads what naming needs: the executable and the environment (once per process). */
static void proc_load(struct identity_cache *c, struct proc_entry *pe)
{
	int pid = (int)pe->key.a;

	if (pe->loaded)
		return;
	pe->loaded = 1;
	pe->exe = proc_read_exe(c->proc, pid);
	identity_process_name(pe->comm, pe->exe, pe->name, sizeof(pe->name));
	proc_env_service(c->proc, pid, pe->env_service, sizeof(pe->env_service));
}

/* A cgroup being scanned for listeners. */
struct scan {
	struct identity_cache *c;
	struct cgroup_entry *ce;
};

static void add_listener(void *arg, uint16_t port, int pid)
{
	struct cgroup_entry *ce = ((struct scan *)arg)->ce;
	struct listener *grown;

	for (size_t i = 0; i < ce->n_ls; i++)
		if (ce->ls[i].port == port && ce->ls[i].pid == pid)
			return; /* the same port in IPv4 and IPv6 */
	if ((ce->n_ls & (ce->n_ls + 1)) == 0 || ce->n_ls == 0) {
		grown = realloc(ce->ls, (ce->n_ls * 2 + 16) * sizeof(*ce->ls));
		if (!grown)
			return;
		ce->ls = grown;
	}
	ce->ls[ce->n_ls].port = port;
	ce->ls[ce->n_ls].pid = pid;
	ce->n_ls++;
}

static void scan_pid(void *arg, int pid)
{
	struct scan *s = arg;

	proc_listeners(&s->c->netns, s->c->proc, pid, add_listener, s);
}

/* Every (port, pid) of a listening socket held by a process of the cgroup, once per pass. */
static void scan_cgroup(struct identity_cache *c, struct cgroup_entry *ce)
{
	struct scan s = { c, ce };

	if (ce->scan_pass == c->pass)
		return;
	ce->scan_pass = c->pass;
	ce->n_ls = 0;
	if (ce->path)
		cgroup_fs_procs(&c->cgroups_fs, ce->path, scan_pid, &s);
}

static struct cgroup_entry *cgroup_get(struct identity_cache *c, uint64_t id)
{
	struct tkey k = { id, 0 };
	struct cgroup_entry *ce = table_find(&c->cgroups, &k);
	char path[PATH_MAX];

	if (!ce) {
		ce = table_add(&c->cgroups, &k);
		if (!ce) {
			warn_full(c, SOCKEYE_ID_CACHE_CGROUP, "cgroup");
			return NULL;
		}
		if (cgroup_fs_path(&c->cgroups_fs, id, path, sizeof(path)) == 0) {
			ce->path = strdup(path);
			if (ce->path)
				identity_parse_cgroup_path(ce->path, &ce->info);
		}
	}
	ce->pass = c->pass;
	if (ce->path && ce->info.pod_uid[0] && !ce->k8s.v[SOCKEYE_ID_K8S_POD_NAME][0] &&
	    (!ce->k8s_tried || c->now - ce->k8s_tried_at >= K8S_RETRY_SECONDS)) {
		ce->k8s_tried = 1;
		ce->k8s_tried_at = c->now;
		if (identity_k8s_lookup(c->pods_log_dir, ce->info.pod_uid, ce->info.container_id,
					&ce->k8s))
			memset(&ce->k8s, 0, sizeof(ce->k8s));
	}
	return ce;
}

static int has_ref(const struct proc_ref *refs, size_t n, int pid)
{
	for (size_t i = 0; i < n; i++)
		if (refs[i].pid == pid)
			return 1;
	return 0;
}

static void add_ref(struct proc_ref *refs, size_t *n, const struct proc_entry *pe)
{
	if (*n < MAX_PIDS_PER_SERIES && !has_ref(refs, *n, (int)pe->key.a)) {
		refs[*n].pid = (int)pe->key.a;
		refs[*n].start = pe->start;
		(*n)++;
	}
}

static void set_label(struct sockeye_identity *id, enum sockeye_id_label l, const char *v)
{
	identity_copy_utf8(id->v[l], SOCKEYE_ID_VALUE_LEN, v, strlen(v));
}

/* Names a series group from what is true now: the listener's holders in its cgroup and the
 * sock_owner process (see docs/identity.md for the order of preference). */
static void resolve_series(struct identity_cache *c, struct series_entry *se,
			   const struct sockeye_owner *owner)
{
	uint16_t port = (uint16_t)(se->key.b & 0xffff);
	int server = ((se->key.b >> 16) & 0xff) == SOCKEYE_ROLE_SERVER;
	struct cgroup_entry *ce = cgroup_get(c, se->key.a);
	struct proc_ref *refs = calloc(MAX_PIDS_PER_SERIES, sizeof(*refs));
	struct proc_entry *rep = NULL, *pe;
	const struct sockeye_identity_rule *rule;
	struct sockeye_identity l;
	char comm[16] = "";
	size_t n = 0;
	int lowest = 0;

	if (!refs)
		return;
	if (server && ce && ce->path) {
		scan_cgroup(c, ce);
		for (size_t i = 0; i < ce->n_ls; i++) {
			if (ce->ls[i].port != port)
				continue;
			pe = proc_get(c, ce->ls[i].pid);
			if (!pe)
				continue;
			add_ref(refs, &n, pe);
			if (!lowest || ce->ls[i].pid < lowest)
				lowest = ce->ls[i].pid;
		}
	}
	/* sock_owner names the process that really sent on the sockets (a worker, or a service
	 * that inherited its listener from systemd). It is taken when it is alive and, for a
	 * server, holds the listener or nothing else does: a response sent from softirq
	 * context can name an unrelated process. */
	if (owner && owner->tgid) {
		pe = proc_get(c, (int)owner->tgid);
		if (pe && (!server || n == 0 || has_ref(refs, n, (int)owner->tgid) ||
			   proc_holds_listener(&c->netns, c->proc, (int)owner->tgid, port))) {
			add_ref(refs, &n, pe);
			rep = pe;
		}
	}
	if (!rep && lowest)
		rep = proc_get(c, lowest); /* the parent of a forking server: nginx's master */

	free(se->pids);
	se->pids = refs;
	se->n_pids = n;
	se->resolved_at = c->now;
	se->owner_tgid = owner ? owner->tgid : 0;
	if (owner)
		memcpy(comm, owner->comm, sizeof(owner->comm));
	comm[sizeof(comm) - 1] = '\0';

	/* Nobody alive to ask: a series keeps the labels it had (its process exited; a new
	 * one of another name would show in sock_owner's comm). */
	if (!rep && se->resolved && (!owner || strcmp(comm, se->owner_comm) == 0))
		return;

	memset(&l, 0, sizeof(l));
	if (ce && ce->path) {
		set_label(&l, SOCKEYE_ID_CONTAINER_ID, ce->info.container_id);
		set_label(&l, SOCKEYE_ID_K8S_NAMESPACE_NAME, ce->k8s.v[SOCKEYE_ID_K8S_NAMESPACE_NAME]);
		set_label(&l, SOCKEYE_ID_K8S_POD_NAME, ce->k8s.v[SOCKEYE_ID_K8S_POD_NAME]);
		set_label(&l, SOCKEYE_ID_K8S_CONTAINER_NAME, ce->k8s.v[SOCKEYE_ID_K8S_CONTAINER_NAME]);
	} else if (se->resolved) {
		/* The cgroup is gone; what its path said still holds for these counts. */
		for (int i = SOCKEYE_ID_CONTAINER_ID; i < SOCKEYE_ID_MAX; i++)
			set_label(&l, i, se->labels.v[i]);
	}
	if (rep)
		proc_load(c, rep);
	rule = identity_match_rule(c->rules, (const char *const *)c->exe_real, c->n_rules,
				   rep ? rep->exe : NULL, port, ce ? ce->path : NULL);
	if (rule)
		set_label(&l, SOCKEYE_ID_SERVICE_NAME, rule->service_name);
	else if (rep && rep->env_service[0])
		set_label(&l, SOCKEYE_ID_SERVICE_NAME, rep->env_service);
	else if (rep)
		set_label(&l, SOCKEYE_ID_SERVICE_NAME, rep->name);
	else
		identity_process_name(comm, NULL, l.v[SOCKEYE_ID_SERVICE_NAME],
				      SOCKEYE_ID_VALUE_LEN);
	se->labels = l;
	memcpy(se->owner_comm, rep ? rep->comm : comm, sizeof(se->owner_comm));
	se->resolved = 1;
}

struct identity_cache *identity_new(const struct identity_options *o)
{
	struct identity_cache *c = calloc(1, sizeof(*c));
	int err = -ENOMEM;

	if (!c)
		return NULL;
	c->cgroups_fs.root_fd = -1;
	c->pods_log_dir = strdup(o->pods_log_dir ? o->pods_log_dir : CONFIG_DEFAULT_PODS_LOG_DIR);
	c->proc = strdup(o->proc_root ? o->proc_root : "/proc");
	c->exe_real = calloc(o->n_rules ? o->n_rules : 1, sizeof(*c->exe_real));
	if (!c->pods_log_dir || !c->proc || !c->exe_real)
		goto fail;
	c->rules = o->rules;
	c->n_rules = o->n_rules;
	for (size_t i = 0; i < o->n_rules; i++)
		if (o->rules[i].exe)
			c->exe_real[i] = realpath(o->rules[i].exe, NULL); /* NULL: as written */
	err = cgroup_fs_open(&c->cgroups_fs, o->cgroup_root);
	if (err)
		goto fail;
	c->clk_tck = sysconf(_SC_CLK_TCK);
	c->page_size = sysconf(_SC_PAGESIZE);
	c->series.item_size = sizeof(struct series_entry);
	c->series.max = MAX_SERIES;
	c->procs.item_size = sizeof(struct proc_entry);
	c->procs.max = MAX_PROCESSES;
	c->cgroups.item_size = sizeof(struct cgroup_entry);
	c->cgroups.max = MAX_CGROUPS;
	return c;
fail:
	identity_free(c);
	errno = -err;
	return NULL;
}

void identity_free(struct identity_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->series.n; i++)
		free(((struct series_entry *)table_at(&c->series, i))->pids);
	for (size_t i = 0; i < c->procs.n; i++)
		free(((struct proc_entry *)table_at(&c->procs, i))->exe);
	for (size_t i = 0; i < c->cgroups.n; i++) {
		struct cgroup_entry *ce = table_at(&c->cgroups, i);

		free(ce->path);
		free(ce->ls);
	}
	table_free(&c->series);
	table_free(&c->procs);
	table_free(&c->cgroups);
	proc_netns_clear(&c->netns);
	for (size_t i = 0; c->exe_real && i < c->n_rules; i++)
		free(c->exe_real[i]);
	free(c->exe_real);
	cgroup_fs_close(&c->cgroups_fs);
	free(c->pods_log_dir);
	free(c->proc);
	free(c);
}

void identity_begin(struct identity_cache *c)
{
	c->pass++;
	c->now = monotonic_seconds();
	proc_netns_clear(&c->netns);
}

void identity_resolve(struct identity_cache *c, const struct identity_query *q,
		      struct sockeye_identity *out)
{
	struct tkey k = { q->cgroup_id, (uint64_t)q->server_port | (uint64_t)q->role << 16 |
					(uint64_t)q->group << 32 };
	struct series_entry *se = table_find(&c->series, &k);
	const struct sockeye_owner *o = q->owner;

	if (!se) {
		se = table_add(&c->series, &k);
		if (!se) {
			warn_full(c, SOCKEYE_ID_CACHE_SERIES, "series");
			memset(out, 0, sizeof(*out));
			return;
		}
	}
	se->pass = c->pass;
	/* Named again when new, when due, or when a process not known to be behind it sent on
	 * its sockets (a restarted service, a client run again). Every group is due in the same
	 * pass, so a cgroup's processes are scanned once per period, not once per group. */
	if (!se->resolved || refresh_epoch(c->now) != refresh_epoch(se->resolved_at) ||
	    (o && o->tgid && o->tgid != se->owner_tgid && !has_ref(se->pids, se->n_pids, (int)o->tgid)))
		resolve_series(c, se, o);
	*out = se->labels;
}

static int keep_series(void *ctx, void *it)
{
	struct identity_cache *c = ctx;
	return ((struct series_entry *)it)->pass == c->pass;
}

static void drop_series(void *ctx, void *it)
{
	struct identity_cache *c = ctx;
	free(((struct series_entry *)it)->pids);
	c->evictions[SOCKEYE_ID_CACHE_SERIES]++;
}

static int keep_proc(void *ctx, void *it)
{
	struct identity_cache *c = ctx;
	struct proc_entry *pe = it;

	return pe->pass == c->pass && !pe->dead;
}

static void drop_proc(void *ctx, void *it)
{
	struct identity_cache *c = ctx;
	struct proc_entry *pe = it;

	if (pe->dead)
		pr_debug("identity: evicted process pid=%d comm=%s: exited", (int)pe->key.a,
			 pe->comm);
	free(pe->exe);
	c->evictions[SOCKEYE_ID_CACHE_PROCESS]++;
}

static int keep_cgroup(void *ctx, void *it)
{
	struct identity_cache *c = ctx;
	struct cgroup_entry *ce = it;

	return ce->pass == c->pass && ce->path && cgroup_fs_alive(&c->cgroups_fs, ce->path, ce->key.a);
}

static void drop_cgroup(void *ctx, void *it)
{
	struct identity_cache *c = ctx;
	struct cgroup_entry *ce = it;

	if (ce->path && ce->pass == c->pass)
		pr_debug("identity: evicted cgroup id=%llu path=%s: removed",
			 (unsigned long long)ce->key.a, ce->path);
	free(ce->path);
	free(ce->ls);
	c->evictions[SOCKEYE_ID_CACHE_CGROUP]++;
}

void identity_end(struct identity_cache *c)
{
	/* A series group not resolved in this pass is no longer in the kernel's map. */
	table_sweep(&c->series, keep_series, drop_series, c);
	/* The processes the remaining groups name stay, read afresh for their CPU and memory;
	 * those that exited go. */
	for (size_t i = 0; i < c->series.n; i++) {
		struct series_entry *se = table_at(&c->series, i);

		for (size_t j = 0; j < se->n_pids; j++) {
			struct tkey k = { (uint64_t)se->pids[j].pid, 0 };
			struct proc_entry *pe = table_find(&c->procs, &k);

			if (pe && pe->start == se->pids[j].start)
				pe->pass = c->pass;
		}
	}
	for (size_t i = 0; i < c->procs.n; i++) {
		struct proc_entry *pe = table_at(&c->procs, i);
		struct proc_stat now;

		if (pe->pass != c->pass || pe->stat_pass == c->pass)
			continue;
		pe->stat_pass = c->pass;
		if (proc_read_stat(c->proc, (int)pe->key.a, &now) || now.start != pe->start) {
			pe->dead = 1;
			continue;
		}
		pe->cpu_ticks = now.cpu_ticks;
		pe->rss_pages = now.rss_pages;
	}
	table_sweep(&c->procs, keep_proc, drop_proc, c);
	table_sweep(&c->cgroups, keep_cgroup, drop_cgroup, c);
	proc_netns_clear(&c->netns);
}

static int same_identity(const struct sockeye_identity *a, const struct sockeye_identity *b)
{
	for (int i = 0; i < SOCKEYE_ID_MAX; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return 0;
	return 1;
}

int identity_usage(const struct identity_cache *c, const struct sockeye_identity *id,
		   double *cpu_seconds, uint64_t *resident_bytes)
{
	uint64_t ticks = 0, pages = 0;
	int *seen = NULL;
	size_t n_seen = 0, cap = 0;
	int found = 0;

	if (!id->v[SOCKEYE_ID_SERVICE_NAME][0] || c->clk_tck <= 0 || c->page_size <= 0)
		return -ENOENT;
	for (size_t i = 0; i < c->series.n; i++) {
		const struct series_entry *se = table_at(&c->series, i);

		if (se->pass != c->pass || !se->resolved || !same_identity(&se->labels, id))
			continue;
		for (size_t j = 0; j < se->n_pids; j++) {
			struct tkey k = { (uint64_t)se->pids[j].pid, 0 };
			const struct proc_entry *pe = table_find(&c->procs, &k);
			size_t s;

			if (!pe || pe->dead || pe->start != se->pids[j].start)
				continue;
			for (s = 0; s < n_seen && seen[s] != se->pids[j].pid; s++)
				;
			if (s < n_seen)
				continue; /* one process behind two ports */
			if (n_seen == cap) {
				int *grown = realloc(seen, (cap = cap * 2 + 16) * sizeof(*seen));

				if (!grown)
					break;
				seen = grown;
			}
			seen[n_seen++] = se->pids[j].pid;
			ticks += pe->cpu_ticks;
			pages += pe->rss_pages;
			found = 1;
		}
	}
	free(seen);
	if (!found)
		return -ENOENT;
	*cpu_seconds = (double)ticks / (double)c->clk_tck;
	*resident_bytes = pages * (uint64_t)c->page_size;
	return 0;
}

void identity_stats(const struct identity_cache *c, uint64_t *entries, uint64_t *evictions)
{
	entries[SOCKEYE_ID_CACHE_SERIES] = c->series.n;
	entries[SOCKEYE_ID_CACHE_PROCESS] = c->procs.n;
	entries[SOCKEYE_ID_CACHE_CGROUP] = c->cgroups.n;
	memcpy(evictions, c->evictions, sizeof(c->evictions));
}
