/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* collect_db.h - db_dur / db_cache / db_conns / db_stats -> snap->db; reads only. Called by
 * collect.c in this order: collect_db, collect_db_identities (inside the identity pass),
 * collect_db_merge; collect_db_free from collect_free. Protocol-agnostic. */
#ifndef SOCKEYE_COLLECT_DB_H
#define SOCKEYE_COLLECT_DB_H

#include <stddef.h>

#include "db_snapshot.h"
#include "snapshot.h"

struct identity_cache;

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
/* Names each series as a client of its server port (role client, cgroup, sock_owner entry
 * in owner_fd when there is one), as the HTTP client series are named. */
void collect_db_identities(struct identity_cache *ids, int owner_fd, struct sockeye_snapshot *snap);
/* Sorts each family's series and sums those whose exported labels are equal. */
void collect_db_merge(struct sockeye_snapshot *snap);
void collect_db_free(struct sockeye_db_snapshot *ds);

/* A kernel name field (16 bytes, NUL-padded, maybe unterminated) as exported: UTF-8 only,
 * at most 16 bytes. Exposed for tests. */
void collect_db_name(const char *raw, char *out);

#endif /* SOCKEYE_COLLECT_DB_H */
