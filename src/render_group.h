/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* render_group.h - what a family group's renderer (render_<group>.c) gets from render.c, which
 * calls the groups' sections in exposition order. A section prints what the snapshot holds,
 * through expo.h; it does not merge, sort or look anything up. Pure. */
#ifndef SOCKEYE_RENDER_GROUP_H
#define SOCKEYE_RENDER_GROUP_H

#include "expo.h"
#include "snapshot.h"

struct render_ctx {
	const struct sockeye_snapshot *snap;
	const char *self_prefix; /* of sockeye's own families */
	struct expo w;		 /* output, format, static labels */
};

/* http_request_method="" of enum sockeye_method; an out-of-range value is "_OTHER". */
const char *render_method_name(unsigned int m);

/* render_http.c: http_{server,client}_request_duration_seconds, the body size families. */
void render_http(const struct render_ctx *c);
/* render_conns.c: http_{server,client}_active_requests, sockeye_tcp_*. */
void render_conns(const struct render_ctx *c);
/* render_identity.c: service_process_*, and sockeye_identity_cache_*. */
void render_services(const struct render_ctx *c);
void render_id_cache(const struct render_ctx *c);
/* render_funcs.c: the declared function families, and sockeye_function_*. */
void render_funcs(const struct render_ctx *c);
void render_funcs_self(const struct render_ctx *c);
/* render_db.c: db_client_operation_duration_seconds, db_client_connections,
 * sockeye_db_client_cache_lookups_total; and sockeye_db_parser_events_total (nothing when
 * snap->db is NULL). */
void render_db(const struct render_ctx *c);
void render_db_self(const struct render_ctx *c);
/* render_agent.c: sockeye_build_info, parser events, BPF programs, features and maps; the
 * TLS probes; the scrape's duration and the agent's process_*. */
void render_agent(const struct render_ctx *c);
void render_tls(const struct render_ctx *c);
void render_process(const struct render_ctx *c);

#endif /* SOCKEYE_RENDER_GROUP_H */
