/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* snapshot.h - the plain-C picture of everything a scrape shows: collect.c's family groups
 * fill it (collect_<group>.c), render.c's print it (render_<group>.c). No BPF and no
 * libmicrohttpd types cross this boundary. */
#ifndef SOCKEYE_SNAPSHOT_H
#define SOCKEYE_SNAPSHOT_H

#include <linux/types.h>
#include <stddef.h>
#include <stdint.h>

#include "sockeye.h"

/* One label pair added to every series of a family (static labels from the config). */
struct sockeye_label {
	const char *name;
	const char *value;
};

/* Labels naming the service behind a series (identity.c), in rendering order.
 * Sync note: also update id_label_names[] in src/expo.c and docs/identity.md. */
enum sockeye_id_label {
	SOCKEYE_ID_SERVICE_NAME = 0,
	SOCKEYE_ID_CONTAINER_ID,
	SOCKEYE_ID_K8S_NAMESPACE_NAME,
	SOCKEYE_ID_K8S_POD_NAME,
	SOCKEYE_ID_K8S_CONTAINER_NAME,
	SOCKEYE_ID_MAX,
};

/* Longest identity label value kept, NUL included (a pod name is at most 253 bytes). */
#define SOCKEYE_ID_VALUE_LEN 256

/* One service identity: a value per enum sockeye_id_label, "" when unknown (not rendered). */
struct sockeye_identity {
	char v[SOCKEYE_ID_MAX][SOCKEYE_ID_VALUE_LEN];
};

/* The processes of one service (service_process_* families), summed over its live processes. */
struct sockeye_service_process {
	const struct sockeye_identity *identity;
	double cpu_seconds;
	uint64_t resident_bytes;
};

/* identity.c's caches (sockeye_identity_cache_* families).
 * Sync note: also update id_cache_names[] in src/render_identity.c. */
enum sockeye_id_cache {
	SOCKEYE_ID_CACHE_SERIES = 0, /* (cgroup, role, port) -> labels */
	SOCKEYE_ID_CACHE_PROCESS,    /* pid -> name, environment, CPU, memory */
	SOCKEYE_ID_CACHE_CGROUP,     /* cgroup id -> path, container and pod labels */
	SOCKEYE_ID_CACHE_MAX,
};

/* One HTTP duration histogram series, per-CPU values already summed. */
struct sockeye_http_series {
	uint8_t role;	 /* enum sockeye_role */
	uint8_t method;	 /* enum sockeye_method */
	uint8_t version; /* enum sockeye_version */
	uint16_t status;
	uint16_t server_port;
	uint64_t cgroup_id;
	const struct sockeye_identity *identity; /* NULL: no identity labels */
	char route[SOCKEYE_ROUTE_LEN]; /* "{other}" when the route table was full */
	uint64_t count;
	uint64_t sum_ns;
	__u64 buckets[SOCKEYE_SLOTS]; /* per bucket, NOT cumulative; [n_bounds] is overflow */
	struct sockeye_size_hist req_size;  /* request body bytes, recorded at response end */
	struct sockeye_size_hist resp_size; /* response body bytes */
};

/* One group of TCP connections (sockeye_tcp_*) and the HTTP requests in flight on its
 * sockets (http_{server,client}_active_requests), per-CPU values already summed. */
struct sockeye_conn_series {
	uint8_t side; /* enum sockeye_role: SERVER = inbound (accepted), CLIENT = outbound */
	uint16_t server_port;
	uint64_t cgroup_id;
	const struct sockeye_identity *identity; /* NULL: no identity labels */
	struct sockeye_conn_val v; /* per-CPU values summed; rtt_buckets[n_rtt_bounds] overflow */
};

/* Parts of sockeye a kernel may lack (sockeye_feature_enabled{feature}): the loader decides at
 * start, by probing. Sync note: also update feature_names[] in src/loader.c. */
enum sockeye_feature {
	SOCKEYE_FEATURE_HTTP = 0,	   /* plain HTTP from the socket hooks: the core */
	SOCKEYE_FEATURE_TCP,		   /* sockeye_tcp_* (tp_btf/inet_sock_set_state) */
	SOCKEYE_FEATURE_HTTPS,		   /* OpenSSL probes */
	SOCKEYE_FEATURE_OWNER_ON_SEND,	   /* a socket's process taken when it sends */
	SOCKEYE_FEATURE_FUNCTIONS,	   /* function metrics (bpf/funcs.bpf.c) */
	SOCKEYE_FEATURE_REDIS,		   /* Redis client metrics (--redis.disable) */
	SOCKEYE_FEATURE_POSTGRESQL,	   /* PostgreSQL client metrics (--postgresql.disable) */
	SOCKEYE_FEATURE_MAX,
};

struct sockeye_feature_state {
	char name[32];
	uint8_t enabled;
	char why[512]; /* when off: why, as logged */
};

/* A BPF program's run statistics (from kernel.bpf_stats_enabled). */
struct sockeye_prog_stat {
	char name[32];
	uint64_t run_cnt;
	uint64_t run_time_ns;
	uint32_t verified_insns; /* instructions the verifier processed to load it */
};

/* A BPF map's fill. */
struct sockeye_map_stat {
	char name[32];
	uint64_t entries;
	uint64_t capacity;
};

/* The agent's own process (process_* families), read from /proc/self by procself.c. */
struct sockeye_process {
	int valid; /* 0: not read, families omitted */
	double cpu_seconds;
	double start_time_seconds; /* since the epoch */
	uint64_t resident_bytes;
	uint64_t virtual_bytes;
	uint64_t open_fds;
	uint64_t max_fds;
};

struct sockeye_snapshot {
	/* Series sorted by (role, server_port, route, method, status, version, identity). */
	struct sockeye_http_series *http;
	size_t n_http;

	/* The identities the series of every group point to (owned, sorted, unique: equal
	 * labels, same pointer), and the processes of those that name services (HTTP and
	 * connection series) sorted by identity. id_cache_valid == 0: no identity cache, its
	 * families are omitted. */
	struct sockeye_identity *identities;
	size_t n_identities;
	struct sockeye_service_process *services;
	size_t n_services;
	uint64_t id_cache_entries[SOCKEYE_ID_CACHE_MAX];
	uint64_t id_cache_evictions[SOCKEYE_ID_CACHE_MAX];
	int id_cache_valid;

	/* Connection groups sorted by (side, server_port, identity). */
	struct sockeye_conn_series *conns;
	size_t n_conns;
	uint64_t rtt_bounds_us[SOCKEYE_RTT_BOUNDS]; /* ascending; rendered as seconds */
	size_t n_rtt_bounds;

	/* Histogram bounds in nanoseconds, ascending; rendered as seconds in le. */
	uint64_t bounds_ns[SOCKEYE_MAX_BUCKETS];
	size_t n_bounds;

	/* Body size histogram bounds in bytes, ascending. */
	uint64_t size_bounds[SOCKEYE_SIZE_BOUNDS];
	size_t n_size_bounds;

	uint64_t stats[SOCKEYE_STAT_MAX]; /* enum sockeye_stat */

	struct sockeye_prog_stat *progs;
	size_t n_progs;
	struct sockeye_map_stat *maps;
	size_t n_maps;
	const struct sockeye_feature_state *features; /* not owned: the loader's; may be NULL */
	size_t n_features;

	const struct sockeye_label *static_labels; /* may be NULL */
	size_t n_static_labels;
	const char *self_prefix; /* prefix of sockeye's own families, default "sockeye_" */

	const char *version;  /* sockeye_build_info */
	const char *revision;

	struct sockeye_process process;

	double scrape_duration_seconds; /* time collect took; < 0 when unknown */

	/* TLS probes (tls.c). tls_valid == 0: TLS disabled, the sockeye_tls_* families omitted. */
	struct sockeye_tls_library *tls_libs; /* owned, sorted by library */
	size_t n_tls_libs;
	uint64_t tls_stats[SOCKEYE_TLS_STAT_MAX];  /* enum sockeye_tls_stat */
	int tls_valid;

	/* Function metrics (src/funcs_snapshot.h), owned; NULL when the feature is off. */
	struct sockeye_func_snapshot *funcs;

	/* Database client metrics (src/db_snapshot.h), owned; NULL when every db system is
	 * off (or in tests that do not set it). */
	struct sockeye_db_snapshot *db;
};

/* How the TLS probes reach a library's plaintext (sockeye_tls_probe_mode{mode}).
 * Sync note: also update tls_mode_names[] in src/render_agent.c. */
enum sockeye_tls_mode {
	SOCKEYE_TLS_MODE_INTERNAL = 0, /* OpenSSL's internal read/write functions (cheap) */
	SOCKEYE_TLS_MODE_PUBLIC,       /* the exported SSL_read/SSL_write (and _ex) symbols */
	SOCKEYE_TLS_MODE_MAX,
};

/* An OpenSSL library file the TLS probes are attached to: one per inode. */
#define SOCKEYE_TLS_LIBRARY_LEN 256
struct sockeye_tls_library {
	char library[SOCKEYE_TLS_LIBRARY_LEN]; /* path as processes map it; unique */
	uint8_t mode;			       /* enum sockeye_tls_mode */
	uint8_t fd_lookup; /* sockets found through the SSL object's socket BIO */
	uint32_t slot;	   /* its rows in the tls_hits and tls_attr maps (collect.c) */
	uint64_t hits[SOCKEYE_TLS_PROBE_MAX]; /* enum sockeye_tls_probe */
	uint64_t attr[SOCKEYE_TLS_ATTR_MAX];  /* enum sockeye_tls_attr */
};

#endif /* SOCKEYE_SNAPSHOT_H */
