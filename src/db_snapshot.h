/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* db_snapshot.h - the database client families of a scrape (include/sockeye_db.h):
 * collect_db.c fills it, render_db.c prints it. Plain C; no BPF types. Protocol-agnostic:
 * a series is whatever db_dur, db_cache and db_conns hold, for any system. */
#ifndef SOCKEYE_DB_SNAPSHOT_H
#define SOCKEYE_DB_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot.h"
#include "sockeye_db.h"

/* A name as exported: the 16 kernel bytes and a NUL; "" is _OTHER (op) or none (status). */
#define SOCKEYE_DB_NAME_STR (SOCKEYE_DB_NAME_LEN + 1)

/* One db_client_operation_duration_seconds series, per-CPU values summed. */
struct sockeye_db_op_series {
	uint8_t system; /* enum sockeye_db_system */
	uint8_t error;	/* enum sockeye_db_error */
	uint16_t server_port;
	char op[SOCKEYE_DB_NAME_STR];
	char status[SOCKEYE_DB_NAME_STR];
	uint64_t cgroup_id;
	const struct sockeye_identity *identity; /* NULL: no identity labels */
	uint64_t count;
	uint64_t sum_ns;
	__u64 buckets[SOCKEYE_SLOTS]; /* per bucket, not cumulative; [n_bounds] overflow */
};

/* One sockeye_db_client_cache_lookups_total group (both results). */
struct sockeye_db_cache_series {
	uint8_t system;
	uint16_t server_port;
	char op[SOCKEYE_DB_NAME_STR];
	uint64_t cgroup_id;
	const struct sockeye_identity *identity;
	uint64_t hits;
	uint64_t misses;
};

/* One db_client_connections group (both states). */
struct sockeye_db_conn_series {
	uint8_t system;
	uint16_t server_port;
	uint64_t cgroup_id;
	const struct sockeye_identity *identity;
	int64_t open; /* summed over CPUs */
	int64_t used;
};

struct sockeye_db_snapshot {
	/* Each sorted by (system, op, status, error, port, identity) as far as they have them,
	 * and unique in their exported labels after collect_db_merge. */
	struct sockeye_db_op_series *ops;
	size_t n_ops;
	struct sockeye_db_cache_series *cache;
	size_t n_cache;
	struct sockeye_db_conn_series *conns;
	size_t n_conns;
	uint64_t bounds_ns[SOCKEYE_MAX_BUCKETS]; /* db.buckets, ascending */
	size_t n_bounds;
	uint64_t stats[SOCKEYE_DB_SYSTEM_MAX][SOCKEYE_DB_STAT_MAX]; /* enum sockeye_db_stat */
};

#endif /* SOCKEYE_DB_SNAPSHOT_H */
