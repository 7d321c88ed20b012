// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* loader.c - the one place that opens, configures, loads and attaches BPF programs. */
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "loader.h"
#include "db_ops.h"
#include "funcs.h"
#include "log.h"
#include "progload.h"
#include "routes.h"
#include "sockeye.skel.h"
#include "tls.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct loader {
	struct sockeye_bpf *skel;
	int cgroup_fd;
	int stats_fd; /* keeps kernel.bpf_stats run-time accounting on while we run */
	char cgroup_path[PATH_MAX];
	char release[128]; /* uname -r */
	struct progload_report report;
	struct sockeye_feature_state features[SOCKEYE_FEATURE_MAX];
	struct bpf_link *links[LOADER_MAX_PROGS];
	const char *link_names[LOADER_MAX_PROGS];
	size_t n_links;
	struct loader_fds fds;
	struct tls *tls; /* the OpenSSL probes (tls.c); NULL with --tls.disable */
	struct funcs *funcs; /* function metrics (funcs.c); NULL when off */
	struct routes_trie routes; /* the trie in route_trie now (http.routes) */
	__u32 routes_base;	   /* its node ids' generation: 0 or SOCKEYE_ROUTE_GEN_BIT */
	uint32_t series_capacity;  /* http_dur's max_entries */
};

int loader_find_cgroup2(char *buf, size_t len)
{
	char line[4096], dev[256], dir[PATH_MAX], type[64];
	FILE *f = fopen("/proc/mounts", "re");
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%255s %4095s %63s", dev, dir, type) != 3)
			continue;
		if (strcmp(type, "cgroup2") == 0 && strlen(dir) < len) {
			strcpy(buf, dir);
			err = 0;
			break;
		}
	}
	fclose(f);
	return err;
}

/* cgroup v2 ids are the inode numbers of the cgroup directories; level is the depth below
 * the root ("/a/b" is 2), as bpf_skb_ancestor_cgroup_id counts it. */
static int cgroup_id_of(const char *root, const char *rel, __u64 *id, __u32 *level)
{
	char path[PATH_MAX];
	struct stat st;
	__u32 depth = 0;

	if (snprintf(path, sizeof(path), "%s%s", root, rel) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	if (stat(path, &st) || !S_ISDIR(st.st_mode)) {
		int err = errno ? -errno : -ENOTDIR;

		pr_error("cgroup %s (%s): %s", rel, path, strerror(-err));
		return err;
	}
	for (const char *p = rel; *p; p++)
		if (*p == '/' && p[1] && p[1] != '/')
			depth++;
	*id = st.st_ino;
	*level = depth;
	return 0;
}

/* sockeye_tcp_rtt_seconds bounds (µs): 100 µs .. 1 s, loopback to intercontinental. */
static const __u64 rtt_bounds_us[] = {100,   250,   500,    1000,	2500,	5000,	10000,
				      25000, 50000, 100000, 250000, 500000, 1000000};
#define N_RTT_BOUNDS (sizeof(rtt_bounds_us) / sizeof(rtt_bounds_us[0]))
_Static_assert(N_RTT_BOUNDS <= SOCKEYE_RTT_BOUNDS, "RTT bounds fit the kernel's histogram");

/* net.ipv4.ip_local_port_range: which local ports are the kernel's for outbound connections.
 * Keeps the BPF defaults (32768-60999, the kernel's) when it cannot be read. */
static void read_port_range(volatile __u16 *lo, volatile __u16 *hi)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "re");
	unsigned a, b;

	if (!f)
		return;
	if (fscanf(f, "%u %u", &a, &b) == 2 && a <= b && b <= 65535) {
		*lo = (__u16)a;
		*hi = (__u16)b;
	}
	fclose(f);
}

/* The ids and levels of n configured cgroup paths (a filter list). */
static int cgroup_ids_of(const char *root, const char *const *paths, size_t n, __u64 *ids,
			 __u32 *levels)
{
	for (size_t i = 0; i < n; i++) {
		int err = cgroup_id_of(root, paths[i], &ids[i], &levels[i]);

		if (err)
			return err;
	}
	return 0;
}

static int configure(struct loader *l, const struct sockeye_config *cfg)
{
	struct sockeye_bpf *s = l->skel;
	int err;

	for (size_t i = 0; i < cfg->n_bounds; i++)
		s->rodata->bounds_ns[i] = cfg->bounds_ns[i];
	s->rodata->n_bounds = cfg->n_bounds;
	for (size_t i = 0; i < cfg->n_include_ports; i++)
		s->rodata->include_ports[i] = cfg->include_ports[i];
	s->rodata->n_include_ports = cfg->n_include_ports;
	for (size_t i = 0; i < cfg->n_exclude_ports; i++)
		s->rodata->exclude_ports[i] = cfg->exclude_ports[i];
	s->rodata->n_exclude_ports = cfg->n_exclude_ports;
	err = cgroup_ids_of(l->cgroup_path, cfg->include_cgroups, cfg->n_include_cgroups,
			    (__u64 *)s->rodata->include_cgroups,
			    (__u32 *)s->rodata->include_cgroup_levels);
	if (err)
		return err;
	s->rodata->n_include_cgroups = cfg->n_include_cgroups;
	err = cgroup_ids_of(l->cgroup_path, cfg->exclude_cgroups, cfg->n_exclude_cgroups,
			    (__u64 *)s->rodata->exclude_cgroups,
			    (__u32 *)s->rodata->exclude_cgroup_levels);
	if (err)
		return err;
	s->rodata->n_exclude_cgroups = cfg->n_exclude_cgroups;

	for (size_t i = 0; i < cfg->n_size_bounds; i++)
		s->rodata->size_bounds[i] = cfg->size_bounds[i];
	s->rodata->n_size_bounds = cfg->n_size_bounds;
	for (size_t i = 0; i < N_RTT_BOUNDS; i++)
		s->rodata->rtt_bounds_us[i] = rtt_bounds_us[i];
	s->rodata->n_rtt_bounds = N_RTT_BOUNDS;
	read_port_range(&s->rodata->ephemeral_lo, &s->rodata->ephemeral_hi);

	/* The db client modules: their bounds, and which systems are detected at all. */
	for (size_t i = 0; i < cfg->n_db_bounds && i < SOCKEYE_MAX_BUCKETS; i++)
		s->rodata->db_bounds_ns[i] = cfg->db_bounds_ns[i];
	s->rodata->n_db_bounds = cfg->n_db_bounds;
	s->rodata->db_enabled[SOCKEYE_DB_REDIS] = l->features[SOCKEYE_FEATURE_REDIS].enabled;
	s->rodata->db_enabled[SOCKEYE_DB_POSTGRESQL] =
		l->features[SOCKEYE_FEATURE_POSTGRESQL].enabled;

	err = bpf_map__set_max_entries(s->maps.http_dur, cfg->series_capacity);
	if (!err)
		err = bpf_map__set_max_entries(s->maps.http_sizes, cfg->series_capacity);
	if (err) {
		pr_error("setting the series capacity to %u: %s", cfg->series_capacity,
			 strerror(-err));
		return err;
	}
	err = bpf_map__set_max_entries(s->maps.http_routes, cfg->route_capacity);
	if (err) {
		pr_error("setting the route table size to %u: %s", cfg->route_capacity,
			 strerror(-err));
		return err;
	}
	return 0;
}

/* Keeps an attached program's link (detached by loader_stop) and its fd for collect. */
static void keep_link(struct loader *l, struct bpf_program *prog, struct bpf_link *link,
		      const char *name)
{
	l->links[l->n_links] = link;
	l->link_names[l->n_links] = name;
	l->n_links++;
	l->fds.prog_names[l->fds.n_progs] = bpf_program__name(prog);
	l->fds.progs[l->fds.n_progs++] = bpf_program__fd(prog);
}

static int attach(struct loader *l, struct bpf_program *prog, const char *name)
{
	struct bpf_link *link = bpf_program__attach_cgroup(prog, l->cgroup_fd);
	int err;

	if (!link) {
		err = -errno;
		pr_error("attaching %s to the cgroup v2 root %s: %s", name, l->cgroup_path,
			 strerror(-err));
		return err;
	}
	keep_link(l, prog, link, name);
	return 0;
}

static int attach_tracepoint(struct loader *l, struct bpf_program *prog, const char *name)
{
	struct bpf_link *link = bpf_program__attach(prog);
	int err;

	if (!link) {
		err = -errno;
		pr_error("attaching %s to tracepoint sock:inet_sock_set_state: %s", name,
			 strerror(-err));
		return err;
	}
	keep_link(l, prog, link, name);
	return 0;
}

/* Sync note: enum sockeye_feature in src/snapshot.h. */
static const char *const feature_names[SOCKEYE_FEATURE_MAX] = {
	[SOCKEYE_FEATURE_HTTP] = "http",
	[SOCKEYE_FEATURE_TCP] = "tcp_connections",
	[SOCKEYE_FEATURE_HTTPS] = "https",
	[SOCKEYE_FEATURE_OWNER_ON_SEND] = "owner_on_send",
	[SOCKEYE_FEATURE_FUNCTIONS] = "functions",
	[SOCKEYE_FEATURE_REDIS] = "redis",
	[SOCKEYE_FEATURE_POSTGRESQL] = "postgresql",
};

/* Turns a feature off and says so once, naming the kernel. */
__attribute__((format(printf, 3, 4))) static void feature_off(struct loader *l,
							      enum sockeye_feature f,
							      const char *fmt, ...)
{
	struct sockeye_feature_state *e = &l->features[f];
	va_list ap;

	e->enabled = 0;
	va_start(ap, fmt);
	vsnprintf(e->why, sizeof(e->why), fmt, ap);
	va_end(ap);
	pr_warn("feature %s off on kernel %s: %s", e->name, l->release, e->why);
}

/* Whether the running kernel's BTF has a tracepoint (its btf_trace_<name> typedef). */
static bool have_tracepoint(const struct btf *btf, const char *name)
{
	char type[128];

	snprintf(type, sizeof(type), "btf_trace_%s", name);
	return btf && btf__find_by_name_kind(btf, type, BTF_KIND_TYPEDEF) > 0;
}

/* Whether a cgroup_skb program may call a helper taking (buffer on the stack, its size) or no
 * argument: a two-instruction probe program that calls it must load. libbpf's own helper probe
 * guesses from the verifier's words and says yes on 6.12 for bpf_get_current_comm ("program
 * of this type cannot use helper"), so any refusal counts as no here. */
static bool skb_helper_allowed(enum bpf_func_id func)
{
	const struct bpf_insn insns[] = {
		/* r1 = r10 - 16; r2 = 16 (ignored by helpers without arguments) */
		{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_1, .src_reg = BPF_REG_10 },
		{ .code = BPF_ALU64 | BPF_ADD | BPF_K, .dst_reg = BPF_REG_1, .imm = -16 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_2, .imm = 16 },
		{ .code = BPF_JMP | BPF_CALL, .imm = func },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = BPF_CGROUP_INET_EGRESS);
	int fd = bpf_prog_load(BPF_PROG_TYPE_CGROUP_SKB, "sockeye_probe", "GPL", insns,
			       sizeof(insns) / sizeof(insns[0]), &o);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* What this kernel offers, decided before anything loads: helpers by loading a probe program
 * that calls them, hooks by the kernel's BTF. */
static void probe_features(struct loader *l, const struct sockeye_config *cfg)
{
	struct btf *btf = btf__load_vmlinux_btf();

	for (int f = 0; f < SOCKEYE_FEATURE_MAX; f++) {
		snprintf(l->features[f].name, sizeof(l->features[f].name), "%s", feature_names[f]);
		l->features[f].enabled = 1;
	}
	if (!skb_helper_allowed(BPF_FUNC_get_current_pid_tgid) ||
	    !skb_helper_allowed(BPF_FUNC_get_current_comm))
		feature_off(l, SOCKEYE_FEATURE_OWNER_ON_SEND,
			    "cgroup_skb programs may not read the current task; a client's process "
			    "is taken when it connects");
	if (!have_tracepoint(btf, "inet_sock_set_state"))
		feature_off(l, SOCKEYE_FEATURE_TCP, "no inet_sock_set_state tracepoint");
	if (cfg->tls_disable) {
		l->features[SOCKEYE_FEATURE_HTTPS].enabled = 0;
		snprintf(l->features[SOCKEYE_FEATURE_HTTPS].why,
			 sizeof(l->features[SOCKEYE_FEATURE_HTTPS].why), "--tls.disable");
	}
	if (cfg->redis_disable) {
		l->features[SOCKEYE_FEATURE_REDIS].enabled = 0;
		snprintf(l->features[SOCKEYE_FEATURE_REDIS].why,
			 sizeof(l->features[SOCKEYE_FEATURE_REDIS].why), "--redis.disable");
	}
	if (cfg->postgresql_disable) {
		l->features[SOCKEYE_FEATURE_POSTGRESQL].enabled = 0;
		snprintf(l->features[SOCKEYE_FEATURE_POSTGRESQL].why,
			 sizeof(l->features[SOCKEYE_FEATURE_POSTGRESQL].why),
			 "--postgresql.disable");
	}
	btf__free(btf);
}

/* The socket hooks' maps and their names in include/sockeye.h. */
static int check_map_names(const struct sockeye_bpf *s)
{
	const struct progload_map_name maps[] = {
		{ s->maps.http_dur, SOCKEYE_MAP_HTTP },
		{ s->maps.http_sizes, SOCKEYE_MAP_SIZES },
		{ s->maps.http_dur_spill, SOCKEYE_MAP_HTTP_SPILL },
		{ s->maps.http_size_spill, SOCKEYE_MAP_SIZES_SPILL },
		{ s->maps.http_routes, SOCKEYE_MAP_ROUTES },
		{ s->maps.route_trie, SOCKEYE_MAP_ROUTE_TRIE },
		{ s->maps.route_cfg, SOCKEYE_MAP_ROUTE_CFG },
		{ s->maps.route_values, SOCKEYE_MAP_ROUTE_VALUES },
		{ s->maps.route_prefixes, SOCKEYE_MAP_ROUTE_PREFIXES },
		{ s->maps.http_series_n, SOCKEYE_MAP_SERIES_N },
		{ s->maps.sockeye_stats, SOCKEYE_MAP_STATS },
		{ s->maps.sock_owner, SOCKEYE_MAP_OWNER },
		{ s->maps.conn_slots, SOCKEYE_MAP_CONN_SLOTS },
		{ s->maps.conn_stats, SOCKEYE_MAP_CONN_STATS },
		{ s->maps.conn_next, SOCKEYE_MAP_CONN_NEXT },
		{ s->maps.sk_state, SOCKEYE_MAP_SK_STATE },
		{ s->maps.scratch, SOCKEYE_MAP_SCRATCH },
		{ s->maps.scratch_depth, SOCKEYE_MAP_SCRATCH_DEPTH },
		{ s->maps.zero_vals, SOCKEYE_MAP_ZERO_VALS },
	};

	return progload_check_map_names(maps, ARRAY_SIZE(maps), "sockeye");
}

/* SOCKEYE_BENCH_STAGE (bench/breakdown.py only): the socket hooks stop after that stage of
 * their work (enum bench_stage, bpf/stream.bpf.h), so counts are incomplete. Unset or empty:
 * 0, every stage. Returns the stage, -1 (logged) when the value is not one. */
static int bench_stage_env(void)
{
	const char *v = getenv("SOCKEYE_BENCH_STAGE");
	char *end;
	long n;

	if (!v || !*v)
		return 0;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || n < 0 || n >= SOCKEYE_BENCH_STAGES) {
		pr_error("SOCKEYE_BENCH_STAGE=%s: not a benchmark stage (0 to %d)", v,
			 SOCKEYE_BENCH_STAGES - 1);
		return -1;
	}
	if (n)
		pr_warn("SOCKEYE_BENCH_STAGE=%ld: the socket hooks stop early, HTTP and TCP counts "
			"are incomplete (a benchmark setting)",
			n);
	return (int)n;
}

/* Opens, configures and loads the socket hooks' object. A refused optional program turns its
 * feature off and the object is loaded again without it; a refused core program is fatal. */
static int load_main(struct loader *l, const struct sockeye_config *cfg)
{
	int stage = bench_stage_env();

	if (stage < 0)
		return -EINVAL;
	for (;;) {
		int failed, err;
		const struct progload_prog *f;

		l->skel = sockeye_bpf__open();
		if (!l->skel) {
			err = -errno;
			pr_error("opening the BPF object: %s", strerror(-err));
			return err;
		}
		err = check_map_names(l->skel);
		if (!err)
			err = configure(l, cfg);
		if (err)
			return err;
		l->skel->rodata->owner_on_send = l->features[SOCKEYE_FEATURE_OWNER_ON_SEND].enabled;
		l->skel->rodata->bench_stage = (__u8)stage;
		bpf_program__set_autoload(l->skel->progs.tp_sock_state,
					  l->features[SOCKEYE_FEATURE_TCP].enabled);
		err = progload_object(l->skel->obj, "sockeye",
				      l->features[SOCKEYE_FEATURE_TCP].why, &l->report, &failed);
		if (!err)
			return 0;
		f = failed >= 0 ? &l->report.progs[failed] : NULL;
		if (f && strcmp(f->name, "tp_sock_state") == 0) {
			feature_off(l, SOCKEYE_FEATURE_TCP, "program %s refused: %s", f->name,
				    f->why);
			progload_forget(&l->report, "sockeye");
			sockeye_bpf__destroy(l->skel);
			l->skel = NULL;
			continue;
		}
		pr_error("loading BPF program %s on kernel %s: %s: %s", f ? f->name : "(none)",
			 l->release, strerror(-err), f ? f->why : "");
		return err;
	}
}

/* The protocol modules' programs (proto_*: tail-call targets, never attached) among those
 * whose figures are exported, as --check lists them. */
static void keep_module_progs(struct loader *l)
{
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, l->skel->obj) {
		if (strncmp(bpf_program__name(prog), "proto_", 6) != 0 ||
		    bpf_program__fd(prog) < 0 || l->fds.n_progs == LOADER_MAX_PROGS)
			continue;
		l->fds.prog_names[l->fds.n_progs] = bpf_program__name(prog);
		l->fds.progs[l->fds.n_progs++] = bpf_program__fd(prog);
	}
}

/* The db client maps for collect.c, and the operation names each enabled system exports
 * (db_ops). Every system off: no maps, no db families. */
static int start_db(struct loader *l)
{
	const struct sockeye_bpf *s = l->skel;
	int ops = bpf_map__fd(s->maps.db_ops), err;

	l->fds.db = (struct collect_db_fds){ .dur = -1, .cache = -1, .conns = -1, .stats = -1 };
	if (!l->features[SOCKEYE_FEATURE_REDIS].enabled &&
	    !l->features[SOCKEYE_FEATURE_POSTGRESQL].enabled)
		return 0;
	if (l->features[SOCKEYE_FEATURE_REDIS].enabled) {
		err = db_ops_register(ops, SOCKEYE_DB_REDIS, db_redis_commands,
				      db_n_redis_commands);
		if (err < 0)
			return err;
	}
	if (l->features[SOCKEYE_FEATURE_POSTGRESQL].enabled) {
		err = db_ops_register(ops, SOCKEYE_DB_POSTGRESQL, db_postgres_keywords,
				      db_n_postgres_keywords);
		if (err < 0)
			return err;
	}
	l->fds.db.dur = bpf_map__fd(s->maps.db_dur);
	l->fds.db.cache = bpf_map__fd(s->maps.db_cache);
	l->fds.db.conns = bpf_map__fd(s->maps.db_conns);
	l->fds.db.stats = bpf_map__fd(s->maps.db_stats);
	l->fds.maps[l->fds.n_maps++] = l->fds.db.dur;
	l->fds.maps[l->fds.n_maps++] = l->fds.db.cache;
	l->fds.maps[l->fds.n_maps++] = l->fds.db.conns;
	return 0;
}

/* The TLS object (tls.c) shares this object's maps and gets the tunables computed above. */
static int start_tls(struct loader *l, const struct sockeye_config *cfg)
{
	const struct sockeye_bpf *s = l->skel;
	struct tls_tunables tun = {};

	_Static_assert(sizeof(s->rodata->include_ports) == sizeof(tun.include_ports),
		       "TLS_FILTER_MAX matches FILTER_MAX in bpf/filter.bpf.h");
	for (size_t i = 0; i < SOCKEYE_MAX_BUCKETS; i++)
		tun.bounds_ns[i] = s->rodata->bounds_ns[i];
	tun.n_bounds = s->rodata->n_bounds;
	for (size_t i = 0; i < TLS_FILTER_MAX; i++) {
		tun.include_ports[i] = s->rodata->include_ports[i];
		tun.exclude_ports[i] = s->rodata->exclude_ports[i];
		tun.include_cgroups[i] = s->rodata->include_cgroups[i];
		tun.include_cgroup_levels[i] = s->rodata->include_cgroup_levels[i];
		tun.exclude_cgroups[i] = s->rodata->exclude_cgroups[i];
		tun.exclude_cgroup_levels[i] = s->rodata->exclude_cgroup_levels[i];
	}
	tun.n_include_ports = s->rodata->n_include_ports;
	tun.n_exclude_ports = s->rodata->n_exclude_ports;
	tun.n_include_cgroups = s->rodata->n_include_cgroups;
	tun.n_exclude_cgroups = s->rodata->n_exclude_cgroups;

	l->tls = tls_start(cfg, l->skel->obj, &tun, &l->report);
	if (!l->tls)
		return -errno; /* tls_start logged why */
	l->fds.tls = l->tls;
	l->fds.tls_stats = tls_stats_fd(l->tls);
	l->fds.n_progs += tls_prog_fds(l->tls, l->fds.progs + l->fds.n_progs,
				       l->fds.prog_names + l->fds.n_progs,
				       LOADER_MAX_PROGS - l->fds.n_progs);
	l->fds.n_maps += tls_map_fds(l->tls, l->fds.maps + l->fds.n_maps,
				     LOADER_MAX_MAPS - l->fds.n_maps);
	return 0;
}

/* The function metrics object (funcs.c): its own maps and programs. Kept loaded from the first
 * declaration on (at start, or the SIGHUP that declares it). Without declarations it is loaded
 * once at start, for the feature's state and the programs' verifier figures, and unloaded
 * again (--check keeps it until it exits): an idle agent holds none of its kernel memory.
 * Without declarations a failure only turns the feature off; with some, it is fatal like any
 * startup error. */
static int start_funcs(struct loader *l, const struct sockeye_config *cfg)
{
	struct sockeye_feature_state *fe = &l->features[SOCKEYE_FEATURE_FUNCTIONS];
	int err;

	l->funcs = funcs_start(cfg, &l->report);
	if (!l->funcs) {
		err = -errno;
		if (cfg->n_functions)
			return err; /* funcs_start logged why */
		feature_off(l, SOCKEYE_FEATURE_FUNCTIONS, "the function probes did not load (see "
			    "above)");
		return 0;
	}
	fe->enabled = 1;
	fe->why[0] = '\0';
	if (!cfg->n_functions && !cfg->check) {
		funcs_stop(l->funcs);
		l->funcs = NULL;
		return 0;
	}
	l->fds.funcs = l->funcs;
	l->fds.n_progs += funcs_prog_fds(l->funcs, l->fds.progs + l->fds.n_progs,
					 l->fds.prog_names + l->fds.n_progs,
					 LOADER_MAX_PROGS - l->fds.n_progs);
	for (enum funcs_map m = FUNCS_MAP_COUNTS; m <= FUNCS_MAP_CALLS; m++) {
		if (m == FUNCS_MAP_HITS || m == FUNCS_MAP_STATS || l->fds.n_maps == LOADER_MAX_MAPS)
			continue;
		l->fds.maps[l->fds.n_maps++] = funcs_map_fd(l->funcs, m);
	}
	return 0;
}

int loader_reload_functions(struct loader *l, const struct sockeye_config *cfg)
{
	if (l->funcs)
		return funcs_reload(l->funcs, cfg);
	if (!cfg->n_functions)
		return 0;
	return start_funcs(l, cfg); /* the first declarations: load, then attach them */
}

int loader_set_routes(struct loader *l, const struct sockeye_config *cfg)
{
	int trie_fd = bpf_map__fd(l->skel->maps.route_trie);
	int cfg_fd = bpf_map__fd(l->skel->maps.route_cfg);
	int names_fd = bpf_map__fd(l->skel->maps.http_routes);
	__u32 base = l->routes.n_edges || l->routes.root.flags
			     ? l->routes_base ^ SOCKEYE_ROUTE_GEN_BIT
			     : l->routes_base;
	struct sockeye_route_cfg rc = {};
	struct routes_trie t;
	__u32 zero = 0;
	int err;

	err = routes_build(cfg->route_patterns, cfg->n_route_patterns, cfg->route_ignore,
			   cfg->n_route_ignore, base, &t);
	if (err) {
		pr_error("http.routes: building the patterns' trie: %s", strerror(-err));
		return err;
	}
	/* The new generation's edges and names first; then its root; then the old edges go.
	 * A request parsed meanwhile finishes on whichever generation it started with. */
	for (size_t i = 0; i < t.n_edges; i++) {
		if (bpf_map_update_elem(trie_fd, &t.edges[i].key, &t.edges[i].child, BPF_ANY)) {
			err = -errno;
			pr_error("http.routes: writing the trie: %s", strerror(-err));
			goto fail;
		}
	}
	for (size_t i = 0; i < t.n_names; i++)
		if (bpf_map_update_elem(names_fd, &t.names[i].route_id, t.names[i].text,
					BPF_NOEXIST) &&
		    errno != EEXIST)
			pr_warn("http.routes: no room in the route table for pattern %s",
				t.names[i].text);
	rc.root = t.root;
	rc.unmatched = cfg->route_unmatched;
	rc.max_segment_values = cfg->route_max_values;
	/* Default: all but a sixteenth of the series map, which holds the {other} series. */
	rc.series_budget = l->series_capacity - l->series_capacity / 16;
	if (cfg->series_budget && cfg->series_budget < l->series_capacity)
		rc.series_budget = cfg->series_budget;
	else if (cfg->series_budget)
		pr_warn("http.series_budget %llu does not fit the series map of %u loaded at start "
			"(restart the agent to resize it): the budget is %llu",
			(unsigned long long)cfg->series_budget, l->series_capacity,
			(unsigned long long)rc.series_budget);
	if (bpf_map_update_elem(cfg_fd, &zero, &rc, BPF_ANY)) {
		err = -errno;
		pr_error("http.routes: writing the route configuration: %s", strerror(-err));
		goto fail;
	}
	for (size_t i = 0; i < l->routes.n_edges; i++)
		bpf_map_delete_elem(trie_fd, &l->routes.edges[i].key);
	routes_free(&l->routes);
	l->routes = t;
	l->routes_base = base;
	return 0;
fail:
	for (size_t i = 0; i < t.n_edges; i++)
		bpf_map_delete_elem(trie_fd, &t.edges[i].key);
	routes_free(&t);
	return err;
}

/* --check's report: the kernel, every program tried, every feature. */
static void print_check(const struct loader *l, FILE *out)
{
	fprintf(out, "kernel %s\n", l->release);
	progload_print(&l->report, out);
	for (int f = 0; f < SOCKEYE_FEATURE_MAX; f++)
		fprintf(out, "feature %s %s%s%s%s\n", l->features[f].name,
			l->features[f].enabled ? "on" : "off",
			l->features[f].why[0] ? " reason=\"" : "", l->features[f].why,
			l->features[f].why[0] ? "\"" : "");
}

struct loader *loader_start(const struct sockeye_config *cfg)
{
	struct loader *l = calloc(1, sizeof(*l));
	struct utsname u;
	int err;

	if (!l)
		return NULL;
	l->cgroup_fd = -1;
	l->stats_fd = -1;
	if (uname(&u) == 0)
		snprintf(l->release, sizeof(l->release), "%s", u.release);

	err = loader_find_cgroup2(l->cgroup_path, sizeof(l->cgroup_path));
	if (err) {
		pr_error("no cgroup v2 mount in /proc/mounts: sockeye attaches to the cgroup v2 root");
		goto cleanup;
	}
	l->cgroup_fd = open(l->cgroup_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (l->cgroup_fd < 0) {
		err = -errno;
		pr_error("opening %s: %s", l->cgroup_path, strerror(-err));
		goto cleanup;
	}

	probe_features(l, cfg);
	err = load_main(l, cfg);
	if (err)
		goto cleanup;
	l->series_capacity = cfg->series_capacity;
	err = loader_set_routes(l, cfg);
	if (err)
		goto cleanup;
	/* Before attach: a command seen before its name is in db_ops would count as _OTHER. */
	err = start_db(l);
	if (err)
		goto cleanup;
	keep_module_progs(l);
	err = attach(l, l->skel->progs.cgskb_ingress, "cgskb_ingress");
	if (err)
		goto cleanup;
	err = attach(l, l->skel->progs.cgskb_egress, "cgskb_egress");
	if (err)
		goto cleanup;
	if (l->features[SOCKEYE_FEATURE_TCP].enabled) {
		err = attach_tracepoint(l, l->skel->progs.tp_sock_state, "tp_sock_state");
		if (err)
			goto cleanup;
	}

	/* Run counts and run time per program, for the self metrics, only when asked: the kernel
	 * then reads the clock twice around every program run (two pvclock reads, ~50 ns on
	 * these VMs: as much as a small request's parsing). Not fatal: older kernels or a sysctl
	 * policy may refuse, and the families then stay at 0. */
	if (cfg->bpf_run_time_stats) {
		l->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
		if (l->stats_fd < 0)
			pr_warn("BPF run-time statistics unavailable on kernel %s: %s", l->release,
				strerror(errno));
	}

	l->fds.http_dur = bpf_map__fd(l->skel->maps.http_dur);
	l->fds.http_routes = bpf_map__fd(l->skel->maps.http_routes);
	l->fds.stats = bpf_map__fd(l->skel->maps.sockeye_stats);
	l->fds.sock_owner = bpf_map__fd(l->skel->maps.sock_owner);
	l->fds.http_sizes = bpf_map__fd(l->skel->maps.http_sizes);
	l->fds.http_dur_spill = bpf_map__fd(l->skel->maps.http_dur_spill);
	l->fds.http_size_spill = bpf_map__fd(l->skel->maps.http_size_spill);
	l->fds.rtt_bounds_us = rtt_bounds_us;
	l->fds.n_rtt_bounds = N_RTT_BOUNDS;
	l->fds.conn_slots = bpf_map__fd(l->skel->maps.conn_slots);
	l->fds.conn_stats = bpf_map__fd(l->skel->maps.conn_stats);
	l->fds.maps[l->fds.n_maps++] = l->fds.http_dur;
	l->fds.maps[l->fds.n_maps++] = l->fds.http_dur_spill;
	l->fds.maps[l->fds.n_maps++] = l->fds.http_routes;
	l->fds.maps[l->fds.n_maps++] = l->fds.conn_slots;
	if (!l->features[SOCKEYE_FEATURE_HTTPS].enabled)
		tls_report_off(&l->report, l->features[SOCKEYE_FEATURE_HTTPS].why);
	else if (start_tls(l, cfg))
		feature_off(l, SOCKEYE_FEATURE_HTTPS,
			    "HTTPS is not measured: the OpenSSL probes did not start (see above)");
	err = start_funcs(l, cfg);
	if (err)
		goto cleanup;
	l->fds.features = l->features;
	l->fds.n_features = SOCKEYE_FEATURE_MAX;
	return l;

cleanup:
	if (cfg->check)
		print_check(l, stdout); /* what loaded and what did not, before the error exit */
	loader_stop(l);
	errno = -err;
	return NULL;
}

const struct loader_fds *loader_fds(const struct loader *l)
{
	return &l->fds;
}

unsigned loader_failed_function_probes(const struct loader *l)
{
	return l->funcs ? funcs_failed_probes(l->funcs) : 0;
}

void loader_report(const struct loader *l, FILE *out)
{
	for (size_t i = 0; i < l->report.n; i++) {
		const struct progload_prog *p = &l->report.progs[i];

		pr_info("program=%s object=%s loaded=%s verified_insns=%u", p->name, p->object,
			p->state == PROGLOAD_LOADED ? "true" : "false", p->insns);
	}
	if (out)
		print_check(l, out);
	for (size_t i = 0; i < l->n_links; i++) {
		const char *where = strncmp(l->link_names[i], "tp_", 3) == 0
					    ? "tracepoint sock:inet_sock_set_state"
					    : l->cgroup_path;

		pr_info("attached program=%s to=\"%s\"", l->link_names[i], where);
		if (out)
			fprintf(out, "attached %s to %s\n", l->link_names[i], where);
	}
	if (l->tls)
		tls_report(l->tls, out);
	if (l->funcs)
		funcs_report(l->funcs, out);
}

void loader_stop(struct loader *l)
{
	if (!l)
		return;
	funcs_stop(l->funcs);
	tls_stop(l->tls);
	routes_free(&l->routes);
	for (size_t i = 0; i < l->n_links; i++)
		bpf_link__destroy(l->links[i]);
	sockeye_bpf__destroy(l->skel);
	if (l->cgroup_fd >= 0)
		close(l->cgroup_fd);
	if (l->stats_fd >= 0)
		close(l->stats_fd);
	free(l);
}
