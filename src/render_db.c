// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* render_db.c - database client metrics -> exposition text (OpenTelemetry database semantic
 * conventions in Prometheus form); pure: no syscalls or globals. */
#include <string.h>

#include "render_db.h"
#include "render_group.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define DUR   "db_client_operation_duration_seconds"
/* OTel names it db.client.connection.count, but a gauge named *_count fails promtool's lint
 * ("non-histogram and non-summary metrics should not have _count suffix"), which every
 * exposition test gates on. */
#define CONNS "db_client_connections"
#define CACHE "db_client_cache_lookups" /* under "sockeye_": not an OTel family */

/* Sync note: indexed by enum sockeye_db_system (include/sockeye_db.h). */
static const char *const db_system_names[] = {
	[SOCKEYE_DB_NONE] = "",
	[SOCKEYE_DB_REDIS] = "redis",
	[SOCKEYE_DB_POSTGRESQL] = "postgresql",
};
_Static_assert(ARRAY_SIZE(db_system_names) == SOCKEYE_DB_SYSTEM_MAX,
	       "db_system_names[] out of sync with enum sockeye_db_system");

/* Sync note: indexed by enum sockeye_db_stat (include/sockeye_db.h); never rename one. */
static const char *const db_stat_names[] = {
	[SOCKEYE_DB_STAT_PIPELINE_FULL] = "pipeline_full",
	[SOCKEYE_DB_STAT_UNMATCHED] = "unmatched_reply",
	[SOCKEYE_DB_STAT_DESYNC] = "desync",
	[SOCKEYE_DB_STAT_GAP] = "gap",
	[SOCKEYE_DB_STAT_MAP_FULL] = "map_full",
	[SOCKEYE_DB_STAT_STORAGE_FAIL] = "storage_fail",
	[SOCKEYE_DB_STAT_IGNORED] = "connection_ignored",
};
_Static_assert(ARRAY_SIZE(db_stat_names) == SOCKEYE_DB_STAT_MAX,
	       "db_stat_names[] out of sync with enum sockeye_db_stat");

const char *render_db_system_name(unsigned int system)
{
	return system < ARRAY_SIZE(db_system_names) ? db_system_names[system] : "";
}

/* An all-zero op is a name the loader did not list: OTel's "_OTHER". */
static const char *op_name(const char *op)
{
	return op[0] ? op : "_OTHER";
}

/* error_type: the status code of an error response (OTel: error.type is the status code when
 * there is one), else what went wrong; NULL when the operation succeeded. */
static const char *error_type(const struct sockeye_db_op_series *s)
{
	switch (s->error) {
	case SOCKEYE_DB_OK:
		return NULL;
	case SOCKEYE_DB_ERR_RESPONSE:
		return s->status[0] ? s->status : "_OTHER";
	case SOCKEYE_DB_ERR_CLOSED:
		return "connection_closed";
	default:
		return "_OTHER";
	}
}

static void put_op_series(const struct expo *w, const struct sockeye_db_snapshot *ds,
			  const struct sockeye_db_op_series *s)
{
	struct sockeye_label own[5];
	const struct sockeye_label *labels;
	struct expo_labels lb;
	char port[EXPO_NUMBER_LEN];
	const char *err = error_type(s);
	size_t n = 0;
	const struct expo_histogram h = {
		.bounds = ds->bounds_ns,
		.n_bounds = ds->n_bounds > SOCKEYE_MAX_BUCKETS ? SOCKEYE_MAX_BUCKETS : ds->n_bounds,
		.buckets = s->buckets,
		.count = s->count,
		.sum = s->sum_ns,
		.unit = EXPO_UNIT_NS,
	};

	own[n++] = (struct sockeye_label){ "db_system_name", render_db_system_name(s->system) };
	own[n++] = (struct sockeye_label){ "db_operation_name", op_name(s->op) };
	if (s->status[0]) /* an empty value is no label: left out */
		own[n++] = (struct sockeye_label){ "db_response_status_code", s->status };
	if (err)
		own[n++] = (struct sockeye_label){ "error_type", err };
	own[n++] = (struct sockeye_label){ "server_port", expo_u64(port, s->server_port) };
	labels = expo_with_identity(&lb, own, n, s->identity); /* sets lb.n: before the call */
	expo_histogram(w, "", DUR, labels, lb.n, &h);
}

static void put_conn(const struct expo *w, const struct sockeye_db_conn_series *s)
{
	char port[EXPO_NUMBER_LEN], value[EXPO_NUMBER_LEN];
	/* Per-CPU signed sums: only the total means anything, and a scrape between an open's
	 * and a close's adds on two CPUs may see one without the other. Never below 0. */
	int64_t open = s->open > 0 ? s->open : 0;
	int64_t used = s->used > 0 ? (s->used < open ? s->used : open) : 0;
	const char *states[] = { "idle", "used" };
	int64_t v[] = { open - used, used };

	for (size_t i = 0; i < ARRAY_SIZE(states); i++) {
		const struct sockeye_label own[] = {
			{ "db_system_name", render_db_system_name(s->system) },
			{ "server_port", expo_u64(port, s->server_port) },
			{ "db_client_connection_state", states[i] },
		};
		struct expo_labels lb;
		const struct sockeye_label *labels =
			expo_with_identity(&lb, own, ARRAY_SIZE(own), s->identity);

		expo_sample(w, "", CONNS, "", labels, lb.n, NULL, expo_u64(value, (uint64_t)v[i]));
	}
}

static void put_cache(const struct expo *w, const struct sockeye_db_cache_series *s)
{
	char port[EXPO_NUMBER_LEN], value[EXPO_NUMBER_LEN];
	const char *results[] = { "hit", "miss" };
	uint64_t v[] = { s->hits, s->misses };

	for (size_t i = 0; i < ARRAY_SIZE(results); i++) {
		const struct sockeye_label own[] = {
			{ "db_system_name", render_db_system_name(s->system) },
			{ "db_operation_name", op_name(s->op) },
			{ "result", results[i] },
			{ "server_port", expo_u64(port, s->server_port) },
		};
		struct expo_labels lb;
		const struct sockeye_label *labels =
			expo_with_identity(&lb, own, ARRAY_SIZE(own), s->identity);

		expo_sample(w, "sockeye_", CACHE, "_total", labels, lb.n, NULL,
			    expo_u64(value, v[i]));
	}
}

void render_db(const struct render_ctx *c)
{
	const struct sockeye_db_snapshot *ds = c->snap->db;
	const struct expo *w = &c->w;

	if (!ds)
		return;
	expo_header(w, "", DUR, METRIC_HISTOGRAM,
		    "Duration of database client operations: request sent to the end of its "
		    "response, by operation name (Redis command, PostgreSQL statement keyword).");
	for (size_t i = 0; i < ds->n_ops; i++)
		put_op_series(w, ds, &ds->ops[i]);
	expo_header(w, "", CONNS, METRIC_GAUGE,
		    "Database client connections open to a server, by state: used (an operation "
		    "in flight or, for PostgreSQL, a transaction open) or idle.");
	for (size_t i = 0; i < ds->n_conns; i++)
		put_conn(w, &ds->conns[i]);
	expo_header(w, "sockeye_", CACHE, METRIC_COUNTER,
		    "Keys and fields looked up by database client read commands, by result: hit "
		    "(a value) or miss (nil).");
	for (size_t i = 0; i < ds->n_cache; i++)
		put_cache(w, &ds->cache[i]);
}

void render_db_self(const struct render_ctx *c)
{
	const struct sockeye_db_snapshot *ds = c->snap->db;
	const struct expo *w = &c->w;
	const char *prefix = c->self_prefix;
	char value[EXPO_NUMBER_LEN];

	if (!ds)
		return;
	expo_header(w, prefix, "db_parser_events", METRIC_COUNTER,
		    "Operations, replies and connections the kernel database client parsers did "
		    "not count, by system and event.");
	for (unsigned int sys = 1; sys < SOCKEYE_DB_SYSTEM_MAX; sys++) {
		for (size_t k = 0; k < SOCKEYE_DB_STAT_MAX; k++) {
			const struct sockeye_label l[] = {
				{ "db_system_name", render_db_system_name(sys) },
				{ "event", db_stat_names[k] },
			};

			expo_sample(w, prefix, "db_parser_events", "_total", l, ARRAY_SIZE(l),
				    NULL, expo_u64(value, ds->stats[sys][k]));
		}
	}
}
