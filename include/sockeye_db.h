/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The kernel <-> user contract of the database client families (Redis, PostgreSQL): keys,
 * values and map names. Included by bpf/ and src/; every layout is ABI and size-asserted.
 *
 *   db_client_operation_duration_seconds{db_system_name, db_operation_name,
 *       db_response_status_code, error_type, server_port, <identity>}      <- db_dur
 *   db_client_connections{db_system_name, server_port,
 *       db_client_connection_state="idle|used", <identity>}                 <- db_conns
 *       (OTel's db.client.connection.count: a gauge named *_count fails promtool's lint)
 *   sockeye_db_client_cache_lookups_total{db_system_name, db_operation_name,
 *       result="hit|miss", server_port, <identity>}                         <- db_cache
 *
 * Query text, keys and values never leave the kernel: only the names below do.
 */
#ifndef SOCKEYE_DB_H
#define SOCKEYE_DB_H

#include "sockeye.h"

/* db_system_name. Sync note: also update the names in src/ (render of the db families). */
enum sockeye_db_system {
	SOCKEYE_DB_NONE = 0,
	SOCKEYE_DB_REDIS = 1,	   /* "redis" */
	SOCKEYE_DB_POSTGRESQL = 2, /* "postgresql" */
	SOCKEYE_DB_SYSTEM_MAX,
};

/* error_type of a failed operation; 0 when it succeeded. */
enum sockeye_db_error {
	SOCKEYE_DB_OK = 0,
	SOCKEYE_DB_ERR_RESPONSE = 1, /* the server answered with an error: the status code says which */
	SOCKEYE_DB_ERR_CLOSED = 2,   /* the connection closed with the operation outstanding */
};

/* Operation names and status codes: upper-case ASCII, NUL-padded, never NUL-terminated when
 * all 16 bytes are used. An all-zero op is "_OTHER" (a name not in db_ops); an all-zero
 * status is "no code" (success). */
#define SOCKEYE_DB_NAME_LEN 16

#define SOCKEYE_MAP_DB_OPS "db_ops"	/* (system, name) -> 1: names counted as themselves */
#define SOCKEYE_MAP_DB_DUR "db_dur"	/* db_client_operation_duration_seconds (per CPU) */
#define SOCKEYE_MAP_DB_CACHE "db_cache" /* sockeye_db_client_cache_lookups_total (per CPU) */
#define SOCKEYE_MAP_DB_CONNS "db_conns" /* db_client_connections (per CPU, signed sums) */
#define SOCKEYE_MAP_DB_STATS "db_stats" /* sockeye_db_parser_events_total (per-CPU array) */
#define SOCKEYE_DB_OPS_ENTRIES 1024
#define SOCKEYE_DB_ENTRIES 4096
#define SOCKEYE_DB_CONN_ENTRIES 1024

/* Key of db_ops, filled by the loader before attach; the value is a __u8 1. */
struct sockeye_db_op_key {
	__u8 system; /* enum sockeye_db_system */
	__u8 pad[7];
	char name[SOCKEYE_DB_NAME_LEN];
};
_Static_assert(sizeof(struct sockeye_db_op_key) == 24, "sockeye_db_op_key is ABI");

/* Key of db_dur. The value is struct sockeye_http_val (count, sum_ns, buckets over the db
 * bounds, which the loader writes to the db programs' rodata). */
struct sockeye_db_key {
	__u64 cgroup_id;		  /* cgroup v2 id of the client socket */
	char op[SOCKEYE_DB_NAME_LEN];	  /* db_operation_name; all zero: _OTHER */
	char status[SOCKEYE_DB_NAME_LEN]; /* db_response_status_code; all zero: none */
	__u16 server_port;		  /* remote port (host order) */
	__u8 system;			  /* enum sockeye_db_system */
	__u8 error;			  /* enum sockeye_db_error */
	__u8 pad[4];			  /* always zero */
};
_Static_assert(sizeof(struct sockeye_db_key) == 48, "sockeye_db_key is ABI");

/* Key of db_cache: read commands whose reply tells hit (a value) from miss (nil). */
struct sockeye_db_cache_key {
	__u64 cgroup_id;
	char op[SOCKEYE_DB_NAME_LEN];
	__u16 server_port;
	__u8 system;
	__u8 pad[5];
};
_Static_assert(sizeof(struct sockeye_db_cache_key) == 32, "sockeye_db_cache_key is ABI");

struct sockeye_db_cache_val {
	__u64 hits;
	__u64 misses;
};
_Static_assert(sizeof(struct sockeye_db_cache_val) == 16, "sockeye_db_cache_val is ABI");

/* Key of db_conns (db_client_connections). */
struct sockeye_db_conn_key {
	__u64 cgroup_id;
	__u16 server_port;
	__u8 system;
	__u8 pad[5];
};
_Static_assert(sizeof(struct sockeye_db_conn_key) == 16, "sockeye_db_conn_key is ABI");

/* Value of db_conns, per CPU: increments and decrements may land on different CPUs, only the
 * sum over CPUs means anything. idle = open - used. */
struct sockeye_db_conn_val {
	__s64 open; /* connections open to the server */
	__s64 used; /* ... with an operation in flight (PostgreSQL: or a transaction open) */
};
_Static_assert(sizeof(struct sockeye_db_conn_val) == 16, "sockeye_db_conn_val is ABI");

/* sockeye_db_parser_events_total{db_system_name, event}: what a db module did not count.
 * db_stats is a per-CPU array of __u64 indexed system * SOCKEYE_DB_STAT_MAX + event.
 * Sync note: also update db_stat_names[] in src/render_db.c; never rename one. */
enum sockeye_db_stat {
	SOCKEYE_DB_STAT_PIPELINE_FULL = 0, /* an operation not timed: too many outstanding */
	SOCKEYE_DB_STAT_UNMATCHED,	   /* a reply with no outstanding operation */
	SOCKEYE_DB_STAT_DESYNC,		   /* the parser lost framing: the connection is dropped */
	SOCKEYE_DB_STAT_GAP,		   /* bytes lost (a gap): the connection is dropped */
	SOCKEYE_DB_STAT_MAP_FULL,	   /* an operation or lookup not counted: its map is full */
	SOCKEYE_DB_STAT_STORAGE_FAIL,	   /* per-socket state could not be created */
	SOCKEYE_DB_STAT_IGNORED,	   /* a connection left on purpose (pub/sub, COPY, ...) */
	SOCKEYE_DB_STAT_MAX,
};
#define SOCKEYE_DB_STAT_ENTRIES (SOCKEYE_DB_SYSTEM_MAX * SOCKEYE_DB_STAT_MAX)

#endif /* SOCKEYE_DB_H */
