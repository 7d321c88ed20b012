// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* render.c - snapshot -> Prometheus text 0.0.4 or OpenMetrics 1.0; pure: no syscalls or globals.
 * Each family group renders its own sections (render_<group>.c) through expo.h; this file
 * only says in which order. */
#include <errno.h>
#include <string.h>

#include "render.h"
#include "render_group.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define DEFAULT_SELF_PREFIX "sockeye_"

/* The exposition, in order: the families of the observed services first, then sockeye's own.
 * A group may have a section in each part. */
static void (*const sections[])(const struct render_ctx *) = {
	render_http,	   /* http_*_request_duration_seconds, http_*_body_size_bytes */
	render_conns,	   /* http_*_active_requests, sockeye_tcp_* */
	render_services,   /* service_process_* */
	render_funcs,	   /* the declared function families */
	render_db,	   /* db_client_*, sockeye_db_client_cache_lookups_total */
	render_agent,	   /* sockeye_build_info, _parser_events, _bpf_*, _feature_enabled */
	render_tls,	   /* sockeye_tls_* */
	render_funcs_self, /* sockeye_function_* */
	render_db_self,	   /* sockeye_db_parser_events_total */
	render_id_cache,   /* sockeye_identity_cache_* */
	render_process,	   /* sockeye_scrape_duration_seconds, process_* */
};

void render_escape_label_value(struct sockeye_buf *out, const char *v)
{
	if (v)
		expo_escape(out, v, strlen(v), 1);
}

void render_escape_help(struct sockeye_buf *out, const char *v)
{
	if (v)
		expo_escape(out, v, strlen(v), 0);
}

int render_text(const struct sockeye_snapshot *snap, enum render_format fmt,
		struct sockeye_buf *out)
{
	const struct render_ctx c = {
		.snap = snap,
		.self_prefix = snap->self_prefix ? snap->self_prefix : DEFAULT_SELF_PREFIX,
		.w = { .out = out,
		       .openmetrics = fmt == RENDER_OPENMETRICS,
		       .static_labels = snap->static_labels,
		       .n_static_labels = snap->n_static_labels },
	};

	if (fmt != RENDER_TEXT_004 && fmt != RENDER_OPENMETRICS)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(sections); i++)
		sections[i](&c);
	if (fmt == RENDER_OPENMETRICS)
		buf_puts(out, "# EOF\n");
	return out->err;
}
