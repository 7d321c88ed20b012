/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* collect_db.h - db_dur / db_cache / db_conns / db_stats -> snap->db; reads only. The family group
 * collect_group_db (collect_group.h) runs it from collect.c; series are named in the identity
 * pass and merged through merge.h. Protocol-agnostic. */
#ifndef SOCKEYE_COLLECT_DB_H
#define SOCKEYE_COLLECT_DB_H

#include <stddef.h>

#include "db_snapshot.h"
#include "snapshot.h"

/* The maps to read (-1: absent, e.g. every db system disabled: snap->db stays NULL). */
struct collect_db_fds {
	int dur;   /* SOCKEYE_MAP_DB_DUR */
	int cache; /* SOCKEYE_MAP_DB_CACHE */
	int conns; /* SOCKEYE_MAP_DB_CONNS */
	int stats; /* SOCKEYE_MAP_DB_STATS */
};

/* Fills snap->db (bounds_ns: db.buckets). Returns 0 or -ENOMEM. */
int collect_db(const struct collect_db_fds *fds, const uint64_t *bounds_ns, size_t n_bounds,
	       struct sockeye_snapshot *snap);
void collect_db_free(struct sockeye_db_snapshot *ds);

/* A kernel name field (16 bytes, NUL-padded, maybe unterminated) as exported: UTF-8 only,
 * at most 16 bytes. Exposed for tests. */
void collect_db_name(const char *raw, char *out);

#endif /* SOCKEYE_COLLECT_DB_H */
