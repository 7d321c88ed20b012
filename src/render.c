// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* render.c - snapshot -> Prometheus text 0.0.4 or OpenMetrics 1.0; pure: no syscalls or globals. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "expo.h"
#include "render.h"
#include "render_db.h"
#include "render_funcs.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define SECONDS_LEN EXPO_SECONDS_LEN
#define NUMBER_LEN EXPO_NUMBER_LEN

/* Sync note: indexed by enum sockeye_method (include/sockeye.h) and in the same order as the
 * method table in bpf/http.bpf.h. Unsized so the assert catches an entry missing at the end. */
static const char *const method_names[] = {
	[SOCKEYE_METHOD_OTHER] = "_OTHER",
	[SOCKEYE_METHOD_GET] = "GET",
	[SOCKEYE_METHOD_HEAD] = "HEAD",
	[SOCKEYE_METHOD_POST] = "POST",
	[SOCKEYE_METHOD_PUT] = "PUT",
	[SOCKEYE_METHOD_DELETE] = "DELETE",
	[SOCKEYE_METHOD_PATCH] = "PATCH",
	[SOCKEYE_METHOD_OPTIONS] = "OPTIONS",
	[SOCKEYE_METHOD_CONNECT] = "CONNECT",
	[SOCKEYE_METHOD_TRACE] = "TRACE",
};
_Static_assert(ARRAY_SIZE(method_names) == SOCKEYE_METHOD_MAX,
	       "method_names[] out of sync with enum sockeye_method");

/* Sync note: indexed by enum sockeye_version (include/sockeye.h). */
static const char *const version_names[] = {
	[SOCKEYE_VERSION_1_0] = "1.0",
	[SOCKEYE_VERSION_1_1] = "1.1",
};
_Static_assert(ARRAY_SIZE(version_names) == SOCKEYE_VERSION_MAX,
	       "version_names[] out of sync with enum sockeye_version");

/* Sync note: indexed by enum sockeye_stat (include/sockeye.h); these are the event="" values
 * users alert on, so never rename one. */
static const char *const stat_names[] = {
	[SOCKEYE_STAT_ROUTE_TABLE_FULL] = "route_table_full",
	[SOCKEYE_STAT_HTTP_MAP_FULL] = "http_map_full",
	[SOCKEYE_STAT_PIPELINE_FULL] = "pipeline_full",
	[SOCKEYE_STAT_UNMATCHED_RESPONSE] = "unmatched_response",
	[SOCKEYE_STAT_RETRANSMIT] = "retransmit",
	[SOCKEYE_STAT_DESYNC] = "desync",
	[SOCKEYE_STAT_HEADER_TOO_LONG] = "header_too_long",
	[SOCKEYE_STAT_NOT_HTTP] = "not_http",
	[SOCKEYE_STAT_STORAGE_FAIL] = "storage_fail",
	[SOCKEYE_STAT_CONN_TABLE_FULL] = "conn_table_full",
	[SOCKEYE_STAT_SERIES_BUDGET] = "series_budget",
	[SOCKEYE_STAT_ROUTE_STATES_FULL] = "route_states_full",
};
_Static_assert(ARRAY_SIZE(stat_names) == SOCKEYE_STAT_MAX,
	       "stat_names[] out of sync with enum sockeye_stat");

/* Sync note: indexed by enum sockeye_tls_mode (src/snapshot.h); mode="" values. */
static const char *const tls_mode_names[] = {
	[SOCKEYE_TLS_MODE_INTERNAL] = "internal",
	[SOCKEYE_TLS_MODE_PUBLIC] = "public",
};
_Static_assert(ARRAY_SIZE(tls_mode_names) == SOCKEYE_TLS_MODE_MAX,
	       "tls_mode_names[] out of sync with enum sockeye_tls_mode");

/* Sync note: indexed by enum sockeye_tls_stat (include/sockeye.h); never rename one. */
static const char *const tls_stat_names[] = {
	[SOCKEYE_TLS_STAT_UNATTRIBUTED] = "unattributed",
	[SOCKEYE_TLS_STAT_SOCKET_CHANGED] = "socket_changed",
	[SOCKEYE_TLS_STAT_STATE_FAIL] = "state_fail",
};
_Static_assert(ARRAY_SIZE(tls_stat_names) == SOCKEYE_TLS_STAT_MAX,
	       "tls_stat_names[] out of sync with enum sockeye_tls_stat");

/* Sync note: indexed by enum sockeye_tls_probe (include/sockeye.h); never rename one. */
static const char *const tls_probe_names[] = {
	[SOCKEYE_TLS_PROBE_READ] = "read",
	[SOCKEYE_TLS_PROBE_READ_RETURN] = "read_return",
	[SOCKEYE_TLS_PROBE_WRITE] = "write",
	[SOCKEYE_TLS_PROBE_WRITE_RETURN] = "write_return",
	[SOCKEYE_TLS_PROBE_FREE] = "free",
};
_Static_assert(ARRAY_SIZE(tls_probe_names) == SOCKEYE_TLS_PROBE_MAX,
	       "tls_probe_names[] out of sync with enum sockeye_tls_probe");

/* Sync note: indexed by enum sockeye_tls_attr (include/sockeye.h); never rename one. */
static const char *const tls_attr_names[] = {
	[SOCKEYE_TLS_ATTR_SOCKET_BIO] = "socket_bio",
	[SOCKEYE_TLS_ATTR_IO_SCAN] = "io_scan",
};
_Static_assert(ARRAY_SIZE(tls_attr_names) == SOCKEYE_TLS_ATTR_MAX,
	       "tls_attr_names[] out of sync with enum sockeye_tls_attr");

/* Sync note: indexed by enum sockeye_id_cache (src/snapshot.h). */
static const char *const id_cache_names[] = {
	[SOCKEYE_ID_CACHE_SERIES] = "series",
	[SOCKEYE_ID_CACHE_PROCESS] = "process",
	[SOCKEYE_ID_CACHE_CGROUP] = "cgroup",
};
_Static_assert(ARRAY_SIZE(id_cache_names) == SOCKEYE_ID_CACHE_MAX,
	       "id_cache_names[] out of sync with enum sockeye_id_cache");

#define DEFAULT_SELF_PREFIX "sockeye_"

#define HELP_HTTP_SERVER                                                                          \
	"Duration of HTTP server requests: first byte of the request to first byte of the "      \
	"response status line."
#define HELP_HTTP_CLIENT                                                                          \
	"Duration of HTTP client requests: request sent to first byte of the response status "   \
	"line."

struct render_ctx {
	const struct sockeye_snapshot *snap;
	const char *self_prefix;
	struct expo w; /* output, format, static labels */
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

static const char *bounded(char *dst, const char *src, size_t src_size)
{
	return expo_bounded(dst, src, src_size);
}

static const char *fmt_seconds(char *dst, uint64_t ns)
{
	return expo_seconds(dst, ns);
}

static const char *fmt_u64(char *dst, uint64_t v)
{
	return expo_u64(dst, v);
}

static const char *fmt_double(char *dst, double v)
{
	return expo_double(dst, v);
}

/* Out-of-range enum values (a newer kernel object, a corrupt key) render like the unknown
 * value instead of indexing past the table. */
static const char *method_name(unsigned int m)
{
	return m < ARRAY_SIZE(method_names) ? method_names[m] : method_names[SOCKEYE_METHOD_OTHER];
}

/* An empty label value is the same as no label to Prometheus: "version unknown". */
static const char *version_name(unsigned int v)
{
	return v < ARRAY_SIZE(version_names) ? version_names[v] : "";
}

static void put_header(struct render_ctx *c, const char *prefix, const char *name,
		       enum metric_type type, const char *help)
{
	expo_header(&c->w, prefix, name, type, help);
}

/* One sample line: the family's own labels, then the static labels, then le (NULL: none). */
static void put_sample(struct render_ctx *c, const char *prefix, const char *name,
		       const char *suffix, const struct sockeye_label *labels, size_t n_labels,
		       const char *le, const char *value)
{
	expo_sample(&c->w, prefix, name, suffix, labels, n_labels, le, value);
}

/* Series whose exported labels are equal. cgroup_id is not exported, so series that differ
 * only in it must be summed or the family would hold duplicate series, which Prometheus
 * rejects. The snapshot sorts cgroup_id last, so such series are adjacent. */
static int same_labels(const struct sockeye_http_series *a, const struct sockeye_http_series *b)
{
	return a->role == b->role && method_name(a->method) == method_name(b->method) &&
	       version_name(a->version) == version_name(b->version) && a->status == b->status &&
	       a->server_port == b->server_port &&
	       strncmp(a->route, b->route, sizeof(a->route)) == 0 &&
	       expo_same_identity(a->identity, b->identity);
}

static void add_series(struct sockeye_http_series *acc, const struct sockeye_http_series *s)
{
	size_t i;

	acc->count += s->count;
	acc->sum_ns += s->sum_ns;
	for (i = 0; i < ARRAY_SIZE(acc->buckets); i++)
		acc->buckets[i] += s->buckets[i];
}

/* One sample of an HTTP series: its labels (and identity), then le. */
static void put_http_sample(struct render_ctx *c, const char *family, const char *suffix,
			    const struct sockeye_http_series *s, const char *le, const char *value)
{
	char route[SOCKEYE_ROUTE_LEN + 1], status[NUMBER_LEN], port[NUMBER_LEN];
	const struct sockeye_label own[] = {
		{ "http_request_method", method_name(s->method) },
		{ "http_response_status_code", fmt_u64(status, s->status) },
		{ "http_route", bounded(route, s->route, sizeof(s->route)) },
		{ "network_protocol_version", version_name(s->version) },
		{ "server_port", fmt_u64(port, s->server_port) },
	};
	struct expo_labels lb;
	const struct sockeye_label *labels =
		expo_with_identity(&lb, own, ARRAY_SIZE(own), s->identity);

	put_sample(c, "", family, suffix, labels, lb.n, le, value);
}

static void put_http_series(struct render_ctx *c, const char *family,
			    const struct sockeye_http_series *s)
{
	const struct sockeye_snapshot *snap = c->snap;
	size_t n_bounds = snap->n_bounds;
	char le[SECONDS_LEN], value[NUMBER_LEN];
	uint64_t cum = 0, count;
	size_t i, shown = 0;

	if (n_bounds > SOCKEYE_MAX_BUCKETS)
		n_bounds = SOCKEYE_MAX_BUCKETS;
	for (i = 0; i < n_bounds; i++) {
		cum += s->buckets[i];
		/* A bound not above the last one printed would repeat an le or put it out of
		 * order; its count goes on into the next line instead. The config rejects such
		 * bounds, but a histogram Prometheus refuses would lose the whole scrape. */
		if (i > 0 && snap->bounds_ns[i] <= snap->bounds_ns[shown])
			continue;
		shown = i;
		put_http_sample(c, family, "_bucket", s, fmt_seconds(le, snap->bounds_ns[i]),
				fmt_u64(value, cum));
	}
	/* count and buckets are separate per-CPU adds, so a scrape can catch one without the
	 * other. The larger of the two keeps +Inf >= every bucket and _count == +Inf, and is still
	 * monotonic across scrapes. */
	cum += s->buckets[n_bounds];
	count = s->count > cum ? s->count : cum;
	fmt_u64(value, count);
	put_http_sample(c, family, "_bucket", s, "+Inf", value);
	put_http_sample(c, family, "_sum", s, NULL, fmt_seconds(le, s->sum_ns));
	put_http_sample(c, family, "_count", s, NULL, value);
}

static void put_http_family(struct render_ctx *c, enum sockeye_role role, const char *family,
			    const char *help)
{
	const struct sockeye_snapshot *snap = c->snap;
	struct sockeye_http_series acc;
	size_t i, j;

	put_header(c, "", family, METRIC_HISTOGRAM, help);
	for (i = 0; i < snap->n_http; i = j) {
		j = i + 1;
		if (snap->http[i].role != role)
			continue;
		acc = snap->http[i];
		for (; j < snap->n_http && same_labels(&acc, &snap->http[j]); j++)
			add_series(&acc, &snap->http[j]);
		put_http_series(c, family, &acc);
	}
}

/* --- Body sizes ---------------------------------------------------------------------------- */

struct size_family {
	enum sockeye_role role;
	int response; /* 0: request bodies, 1: response bodies */
	const char *name;
	const char *help;
};

static const struct size_family size_families[] = {
	{SOCKEYE_ROLE_SERVER, 0, "http_server_request_body_size_bytes",
	 "Body size of HTTP server requests (Content-Length, chunk data or bytes until close)."},
	{SOCKEYE_ROLE_SERVER, 1, "http_server_response_body_size_bytes",
	 "Body size of HTTP server responses (Content-Length, chunk data or bytes until close)."},
	{SOCKEYE_ROLE_CLIENT, 0, "http_client_request_body_size_bytes",
	 "Body size of HTTP client requests (Content-Length, chunk data or bytes until close)."},
	{SOCKEYE_ROLE_CLIENT, 1, "http_client_response_body_size_bytes",
	 "Body size of HTTP client responses (Content-Length, chunk data or bytes until close)."},
};

/* Sizes have the duration histogram's labels. A family appears once one of its responses
 * ended (sizes are recorded then, durations when the response starts). */
static void put_size_family(struct render_ctx *c, const struct size_family *f)
{
	const struct sockeye_snapshot *snap = c->snap;
	char value[NUMBER_LEN], le[NUMBER_LEN];
	size_t i, k, n_bounds = snap->n_size_bounds, shown = 0;

	if (n_bounds > SOCKEYE_SIZE_BOUNDS)
		n_bounds = SOCKEYE_SIZE_BOUNDS;
	for (i = 0; i < snap->n_http; i++) {
		const struct sockeye_http_series *s = &snap->http[i];
		const struct sockeye_size_hist *h = f->response ? &s->resp_size : &s->req_size;

		if (s->role != f->role || !h->count)
			continue;
		if (!shown++)
			put_header(c, "", f->name, METRIC_HISTOGRAM, f->help);
		uint64_t cum = 0;

		for (k = 0; k < n_bounds; k++) {
			cum += h->buckets[k];
			put_http_sample(c, f->name, "_bucket", s, fmt_u64(le, snap->size_bounds[k]),
					fmt_u64(value, cum));
		}
		put_http_sample(c, f->name, "_bucket", s, "+Inf", fmt_u64(value, h->count));
		put_http_sample(c, f->name, "_sum", s, NULL, fmt_u64(value, h->sum));
		put_http_sample(c, f->name, "_count", s, NULL, fmt_u64(value, h->count));
	}
}

/* --- Connections and requests in flight --------------------------------------------------- */

static const char *const direction_names[] = {
	[SOCKEYE_ROLE_SERVER] = "inbound",
	[SOCKEYE_ROLE_CLIENT] = "outbound",
};
_Static_assert(ARRAY_SIZE(direction_names) == SOCKEYE_ROLE_MAX, "direction_names[] vs roles");

enum conn_field {
	CONN_OPENED,
	CONN_CLOSED,
	CONN_ACTIVE,
	CONN_BYTES_SENT,
	CONN_BYTES_RECEIVED,
	CONN_RETRANS,
};

static const struct {
	const char *name; /* after the prefix */
	enum metric_type type;
	const char *help;
} conn_families[] = {
	[CONN_OPENED] = {"tcp_connections_opened", METRIC_COUNTER,
			 "TCP connections established, by direction (inbound: accepted; "
			 "outbound: connected) and server port."},
	[CONN_CLOSED] = {"tcp_connections_closed", METRIC_COUNTER, "TCP connections closed."},
	[CONN_ACTIVE] = {"tcp_connections_active", METRIC_GAUGE,
			 "TCP connections open now (opened minus closed)."},
	[CONN_BYTES_SENT] = {"tcp_bytes_sent", METRIC_COUNTER,
			     "TCP payload bytes sent, retransmissions not counted again."},
	[CONN_BYTES_RECEIVED] = {"tcp_bytes_received", METRIC_COUNTER,
				 "TCP payload bytes received, duplicates not counted again."},
	[CONN_RETRANS] = {"tcp_retransmitted_segments", METRIC_COUNTER,
			  "TCP segments retransmitted."},
};

static uint64_t conn_field_value(const struct sockeye_conn_series *s, enum conn_field f)
{
	switch (f) {
	case CONN_OPENED:
		return s->v.opened;
	case CONN_CLOSED:
		return s->v.closed;
	case CONN_ACTIVE:
		/* Each close follows its open, but the two are separate per-CPU adds that a
		 * scrape may catch half-way: never below zero. */
		return s->v.opened > s->v.closed ? s->v.opened - s->v.closed : 0;
	case CONN_BYTES_SENT:
		return s->v.bytes_sent;
	case CONN_BYTES_RECEIVED:
		return s->v.bytes_received;
	case CONN_RETRANS:
	default:
		return s->v.retrans;
	}
}

/* One sample of a connection group: direction, server_port (and identity), then le. */
static void put_conn_sample(struct render_ctx *c, const char *name, const char *suffix,
			    const struct sockeye_conn_series *s, const char *le, const char *value)
{
	char port[NUMBER_LEN];
	const struct sockeye_label own[] = {
		{"direction", direction_names[s->side < SOCKEYE_ROLE_MAX ? s->side : 0]},
		{"server_port", fmt_u64(port, s->server_port)},
	};
	struct expo_labels lb;
	const struct sockeye_label *labels =
		expo_with_identity(&lb, own, ARRAY_SIZE(own), s->identity);

	put_sample(c, c->self_prefix, name, suffix, labels, lb.n, le, value);
}

static void put_conn_family(struct render_ctx *c, enum conn_field f)
{
	const struct sockeye_snapshot *snap = c->snap;
	char value[NUMBER_LEN];
	size_t i;

	put_header(c, c->self_prefix, conn_families[f].name, conn_families[f].type,
		   conn_families[f].help);
	for (i = 0; i < snap->n_conns; i++) {
		const struct sockeye_conn_series *s = &snap->conns[i];

		if (!s->v.opened)
			continue; /* an HTTP-only group (e.g. TLS): no TCP counts of its own */
		put_conn_sample(c, conn_families[f].name,
				conn_families[f].type == METRIC_COUNTER ? "_total" : "", s, NULL,
				fmt_u64(value, conn_field_value(s, f)));
	}
}

static void put_conn_rtt(struct render_ctx *c)
{
	const struct sockeye_snapshot *snap = c->snap;
	char le[SECONDS_LEN], value[NUMBER_LEN];
	size_t i, k, n_bounds = snap->n_rtt_bounds;

	if (n_bounds > SOCKEYE_RTT_BOUNDS)
		n_bounds = SOCKEYE_RTT_BOUNDS;
	put_header(c, c->self_prefix, "tcp_rtt_seconds", METRIC_HISTOGRAM,
		   "Smoothed round-trip time of TCP connections when they closed.");
	for (i = 0; i < snap->n_conns; i++) {
		const struct sockeye_conn_series *s = &snap->conns[i];
		uint64_t cum = 0;

		if (!s->v.opened)
			continue;
		for (k = 0; k < n_bounds; k++) {
			cum += s->v.rtt_buckets[k];
			put_conn_sample(c, "tcp_rtt_seconds", "_bucket", s,
					fmt_seconds(le, snap->rtt_bounds_us[k] * 1000),
					fmt_u64(value, cum));
		}
		cum += s->v.rtt_buckets[n_bounds];
		fmt_u64(value, cum);
		put_conn_sample(c, "tcp_rtt_seconds", "_bucket", s, "+Inf", value);
		put_conn_sample(c, "tcp_rtt_seconds", "_sum", s, NULL,
				fmt_seconds(le, s->v.rtt_sum_us * 1000));
		put_conn_sample(c, "tcp_rtt_seconds", "_count", s, NULL, value);
	}
}

/* http_{server,client}_active_requests: started minus ended, per method; a method with no
 * request ever is not shown. */
static void put_active_requests(struct render_ctx *c, enum sockeye_role role, const char *family,
				const char *help)
{
	const struct sockeye_snapshot *snap = c->snap;
	char port[NUMBER_LEN], value[NUMBER_LEN];
	size_t i;
	unsigned int m;

	put_header(c, "", family, METRIC_GAUGE, help);
	for (i = 0; i < snap->n_conns; i++) {
		const struct sockeye_conn_series *s = &snap->conns[i];

		if (s->side != role)
			continue;
		for (m = 0; m < SOCKEYE_METHOD_MAX; m++) {
			const struct sockeye_label own[] = {
				{"http_request_method", method_name(m)},
				{"server_port", fmt_u64(port, s->server_port)},
			};
			struct expo_labels lb;
			const struct sockeye_label *labels =
				expo_with_identity(&lb, own, ARRAY_SIZE(own), s->identity);
			uint64_t st = s->v.req_started[m], en = s->v.req_ended[m];

			if (!st)
				continue;
			put_sample(c, "", family, "", labels, lb.n, NULL,
				   fmt_u64(value, st > en ? st - en : 0));
		}
	}
}

/* Omitted until a connection was seen (the agent's own scrapes make one soon after start). */
static void put_conns(struct render_ctx *c)
{
	if (!c->snap->n_conns)
		return;
	put_active_requests(c, SOCKEYE_ROLE_SERVER, "http_server_active_requests",
			    "HTTP server requests in flight: request line received, response not "
			    "started yet.");
	put_active_requests(c, SOCKEYE_ROLE_CLIENT, "http_client_active_requests",
			    "HTTP client requests in flight: request sent, response not started "
			    "yet.");
	for (enum conn_field f = CONN_OPENED; f <= CONN_RETRANS; f++)
		put_conn_family(c, f);
	put_conn_rtt(c);
}

/* --- The observed services' own processes and the identity cache --------------------------- */

/* Named like the process_* families a client library gives a service, so the same queries
 * work with service_ in front; the identity labels say whose processes they are. */
static void put_services(struct render_ctx *c)
{
	const struct sockeye_snapshot *snap = c->snap;
	char value[NUMBER_LEN];
	struct expo_labels lb;
	size_t i;

	if (!snap->n_services)
		return;
	put_header(c, "", "service_process_cpu_seconds", METRIC_COUNTER,
		   "Total user and system CPU time spent in seconds by the live processes of "
		   "each observed service.");
	for (i = 0; i < snap->n_services; i++) {
		const struct sockeye_label *labels =
			expo_with_identity(&lb, NULL, 0, snap->services[i].identity);

		put_sample(c, "", "service_process_cpu_seconds", "_total", labels, lb.n, NULL,
			   fmt_double(value, snap->services[i].cpu_seconds));
	}
	put_header(c, "", "service_process_resident_memory_bytes", METRIC_GAUGE,
		   "Resident memory size in bytes of the live processes of each observed "
		   "service.");
	for (i = 0; i < snap->n_services; i++) {
		const struct sockeye_label *labels =
			expo_with_identity(&lb, NULL, 0, snap->services[i].identity);

		put_sample(c, "", "service_process_resident_memory_bytes", "", labels, lb.n,
			   NULL, fmt_u64(value, snap->services[i].resident_bytes));
	}
}

static void put_id_cache(struct render_ctx *c)
{
	const struct sockeye_snapshot *snap = c->snap;
	char value[NUMBER_LEN];
	size_t i;

	if (!snap->id_cache_valid)
		return;
	put_header(c, c->self_prefix, "identity_cache_entries", METRIC_GAUGE,
		   "Entries in each of sockeye's identity label caches.");
	for (i = 0; i < SOCKEYE_ID_CACHE_MAX; i++) {
		const struct sockeye_label label = { "cache", id_cache_names[i] };

		put_sample(c, c->self_prefix, "identity_cache_entries", "", &label, 1, NULL,
			   fmt_u64(value, snap->id_cache_entries[i]));
	}
	put_header(c, c->self_prefix, "identity_cache_evictions", METRIC_COUNTER,
		   "Entries evicted from each identity label cache: series gone from the kernel "
		   "map, processes that exited, cgroups that were removed.");
	for (i = 0; i < SOCKEYE_ID_CACHE_MAX; i++) {
		const struct sockeye_label label = { "cache", id_cache_names[i] };

		put_sample(c, c->self_prefix, "identity_cache_evictions", "_total", &label, 1, NULL,
			   fmt_u64(value, snap->id_cache_evictions[i]));
	}
}

static void put_build_info(struct render_ctx *c)
{
	const struct sockeye_snapshot *snap = c->snap;
	const struct sockeye_label labels[] = {
		{ "version", snap->version ? snap->version : "unknown" },
		{ "revision", snap->revision ? snap->revision : "unknown" },
	};

	put_header(c, c->self_prefix, "build_info", METRIC_GAUGE,
		   "A metric with a constant '1' value labeled by version and revision of "
		   "sockeye.");
	put_sample(c, c->self_prefix, "build_info", "", labels, ARRAY_SIZE(labels), NULL, "1");
}

static void put_parser_events(struct render_ctx *c)
{
	char value[NUMBER_LEN];
	size_t i;

	put_header(c, c->self_prefix, "parser_events", METRIC_COUNTER,
		   "Requests, responses, segments and sockets the kernel HTTP parser dropped, "
		   "skipped or overflowed, by event.");
	for (i = 0; i < SOCKEYE_STAT_MAX; i++) {
		const struct sockeye_label label = { "event", stat_names[i] };

		put_sample(c, c->self_prefix, "parser_events", "_total", &label, 1, NULL,
			   fmt_u64(value, c->snap->stats[i]));
	}
}

static void put_progs(struct render_ctx *c)
{
	const struct sockeye_snapshot *snap = c->snap;
	char name[sizeof(snap->progs->name) + 1], value[SECONDS_LEN];
	const struct sockeye_label label = { "program", name };
	size_t i;

	if (!snap->n_progs)
		return;
	put_header(c, c->self_prefix, "bpf_program_runs", METRIC_COUNTER,
		   "Times each sockeye BPF program ran (counted while "
		   "kernel.bpf_stats_enabled=1).");
	for (i = 0; i < snap->n_progs; i++) {
		bounded(name, snap->progs[i].name, sizeof(snap->progs[i].name));
		put_sample(c, c->self_prefix, "bpf_program_runs", "_total", &label, 1, NULL,
			   fmt_u64(value, snap->progs[i].run_cnt));
	}
	put_header(c, c->self_prefix, "bpf_program_run_seconds", METRIC_COUNTER,
		   "Time spent running each sockeye BPF program in seconds (counted while "
		   "kernel.bpf_stats_enabled=1).");
	for (i = 0; i < snap->n_progs; i++) {
		bounded(name, snap->progs[i].name, sizeof(snap->progs[i].name));
		put_sample(c, c->self_prefix, "bpf_program_run_seconds", "_total", &label, 1, NULL,
			   fmt_seconds(value, snap->progs[i].run_time_ns));
	}
	put_header(c, c->self_prefix, "bpf_program_verified_instructions", METRIC_GAUGE,
		   "Instructions the kernel's verifier processed to load each sockeye BPF "
		   "program (its verification cost; the limit is 1000000).");
	for (i = 0; i < snap->n_progs; i++) {
		bounded(name, snap->progs[i].name, sizeof(snap->progs[i].name));
		put_sample(c, c->self_prefix, "bpf_program_verified_instructions", "", &label, 1,
			   NULL, fmt_u64(value, snap->progs[i].verified_insns));
	}
}

/* What this kernel runs of sockeye: 1 on, 0 off (the log says why, once, at start). */
static void put_features(struct render_ctx *c)
{
	const struct sockeye_snapshot *snap = c->snap;
	char value[NUMBER_LEN];
	size_t i;

	if (!snap->n_features)
		return;
	put_header(c, c->self_prefix, "feature_enabled", METRIC_GAUGE,
		   "Whether a part of sockeye runs on this kernel (1) or is off (0; the log says "
		   "why at start).");
	for (i = 0; i < snap->n_features; i++) {
		const struct sockeye_label label = { "feature", snap->features[i].name };

		put_sample(c, c->self_prefix, "feature_enabled", "", &label, 1, NULL,
			   fmt_u64(value, snap->features[i].enabled));
	}
}

static void put_maps(struct render_ctx *c)
{
	const struct sockeye_snapshot *snap = c->snap;
	char name[sizeof(snap->maps->name) + 1], value[NUMBER_LEN];
	const struct sockeye_label label = { "map", name };
	size_t i;

	if (!snap->n_maps)
		return;
	put_header(c, c->self_prefix, "bpf_map_entries", METRIC_GAUGE,
		   "Entries currently in each sockeye BPF map.");
	for (i = 0; i < snap->n_maps; i++) {
		bounded(name, snap->maps[i].name, sizeof(snap->maps[i].name));
		put_sample(c, c->self_prefix, "bpf_map_entries", "", &label, 1, NULL,
			   fmt_u64(value, snap->maps[i].entries));
	}
	put_header(c, c->self_prefix, "bpf_map_capacity", METRIC_GAUGE,
		   "Maximum entries (max_entries) of each sockeye BPF map.");
	for (i = 0; i < snap->n_maps; i++) {
		bounded(name, snap->maps[i].name, sizeof(snap->maps[i].name));
		put_sample(c, c->self_prefix, "bpf_map_capacity", "", &label, 1, NULL,
			   fmt_u64(value, snap->maps[i].capacity));
	}
}

/* A library's row of counters of family name, one sample per names[i] as label. */
static void put_library_counters(struct render_ctx *c, const struct sockeye_tls_library *t,
				 const char *name, const char *label, const char *const *names,
				 const uint64_t *vals, size_t n)
{
	char lib[SOCKEYE_TLS_LIBRARY_LEN + 1], value[NUMBER_LEN];

	for (size_t k = 0; k < n; k++) {
		const struct sockeye_label labels[] = {
			{ "library", bounded(lib, t->library, sizeof(t->library)) },
			{ label, names[k] },
		};

		put_sample(c, c->self_prefix, name, "_total", labels, ARRAY_SIZE(labels), NULL,
			   fmt_u64(value, vals[k]));
	}
}

/* The OpenSSL libraries the TLS probes are attached to, and how (docs/tls.md); the TLS path's
 * counters. Omitted when TLS is disabled. */
static void put_tls(struct render_ctx *c)
{
	const struct sockeye_snapshot *snap = c->snap;
	char lib[SOCKEYE_TLS_LIBRARY_LEN + 1];
	size_t i;

	if (!snap->tls_valid)
		return;
	if (snap->n_tls_libs)
		put_header(c, c->self_prefix, "tls_probe_mode", METRIC_GAUGE,
			   "OpenSSL libraries probed for HTTPS, by where: mode=\"internal\" "
			   "(internal read/write functions) or mode=\"public\" (SSL_read/SSL_write, "
			   "a single-stepped breakpoint per call).");
	for (i = 0; i < snap->n_tls_libs; i++) {
		const struct sockeye_tls_library *t = &snap->tls_libs[i];
		const struct sockeye_label labels[] = {
			{ "library", bounded(lib, t->library, sizeof(t->library)) },
			{ "mode", t->mode < ARRAY_SIZE(tls_mode_names) ? tls_mode_names[t->mode] : "" },
		};

		put_sample(c, c->self_prefix, "tls_probe_mode", "", labels, ARRAY_SIZE(labels), NULL,
			   "1");
	}
	if (snap->n_tls_libs)
		put_header(c, c->self_prefix, "tls_socket_bio_lookup", METRIC_GAUGE,
			   "1 when the probes of an OpenSSL library find an SSL object's socket "
			   "through its socket BIO's descriptor (offsets derived from the library), "
			   "0 when only by the socket I/O of its write calls.");
	for (i = 0; i < snap->n_tls_libs; i++) {
		const struct sockeye_tls_library *t = &snap->tls_libs[i];
		const struct sockeye_label label = {
			"library", bounded(lib, t->library, sizeof(t->library))
		};

		put_sample(c, c->self_prefix, "tls_socket_bio_lookup", "", &label, 1, NULL,
			   t->fd_lookup ? "1" : "0");
	}
	if (snap->n_tls_libs)
		put_header(c, c->self_prefix, "tls_probe_hits", METRIC_COUNTER,
			   "Hits of the OpenSSL uprobes (each a breakpoint in the calling process), "
			   "by library and probe.");
	for (i = 0; i < snap->n_tls_libs; i++)
		put_library_counters(c, &snap->tls_libs[i], "tls_probe_hits", "probe",
				     tls_probe_names, snap->tls_libs[i].hits, SOCKEYE_TLS_PROBE_MAX);
	put_header(c, c->self_prefix, "tls_events", METRIC_COUNTER,
		   "TLS connections and calls the OpenSSL probes skipped or reset, by event.");
	for (i = 0; i < SOCKEYE_TLS_STAT_MAX; i++) {
		const struct sockeye_label label = { "event", tls_stat_names[i] };
		char value[NUMBER_LEN];

		put_sample(c, c->self_prefix, "tls_events", "_total", &label, 1, NULL,
			   fmt_u64(value, snap->tls_stats[i]));
	}
	if (snap->n_tls_libs)
		put_header(c, c->self_prefix, "tls_attributions", METRIC_COUNTER,
			   "TLS connections that learned their socket, by library and how: "
			   "method=\"socket_bio\" (the descriptor of the SSL object's socket BIO) or "
			   "method=\"io_scan\" (the one TCP socket of the process a call moved).");
	for (i = 0; i < snap->n_tls_libs; i++)
		put_library_counters(c, &snap->tls_libs[i], "tls_attributions", "method",
				     tls_attr_names, snap->tls_libs[i].attr, SOCKEYE_TLS_ATTR_MAX);
}

static void put_scrape_duration(struct render_ctx *c)
{
	char value[NUMBER_LEN];

	/* Also false for NaN: "unknown" is no sample, not a NaN sample. */
	if (!(c->snap->scrape_duration_seconds >= 0))
		return;
	put_header(c, c->self_prefix, "scrape_duration_seconds", METRIC_GAUGE,
		   "Time sockeye took to read its BPF maps for this scrape, in seconds.");
	put_sample(c, c->self_prefix, "scrape_duration_seconds", "", NULL, 0, NULL,
		   fmt_double(value, c->snap->scrape_duration_seconds));
}

/* The process_* families under the names and HELP texts of the Prometheus client libraries,
 * so the dashboards made for those work unchanged. */
static void put_process(struct render_ctx *c)
{
	const struct sockeye_process *p = &c->snap->process;
	char value[NUMBER_LEN];

	if (!p->valid)
		return;
	put_header(c, "", "process_cpu_seconds", METRIC_COUNTER,
		   "Total user and system CPU time spent in seconds.");
	put_sample(c, "", "process_cpu_seconds", "_total", NULL, 0, NULL,
		   fmt_double(value, p->cpu_seconds));
	put_header(c, "", "process_resident_memory_bytes", METRIC_GAUGE,
		   "Resident memory size in bytes.");
	put_sample(c, "", "process_resident_memory_bytes", "", NULL, 0, NULL,
		   fmt_u64(value, p->resident_bytes));
	put_header(c, "", "process_virtual_memory_bytes", METRIC_GAUGE,
		   "Virtual memory size in bytes.");
	put_sample(c, "", "process_virtual_memory_bytes", "", NULL, 0, NULL,
		   fmt_u64(value, p->virtual_bytes));
	put_header(c, "", "process_open_fds", METRIC_GAUGE, "Number of open file descriptors.");
	put_sample(c, "", "process_open_fds", "", NULL, 0, NULL, fmt_u64(value, p->open_fds));
	put_header(c, "", "process_max_fds", METRIC_GAUGE,
		   "Maximum number of open file descriptors.");
	put_sample(c, "", "process_max_fds", "", NULL, 0, NULL, fmt_u64(value, p->max_fds));
	put_header(c, "", "process_start_time_seconds", METRIC_GAUGE,
		   "Start time of the process since unix epoch in seconds.");
	put_sample(c, "", "process_start_time_seconds", "", NULL, 0, NULL,
		   fmt_double(value, p->start_time_seconds));
}

int render_text(const struct sockeye_snapshot *snap, enum render_format fmt,
		struct sockeye_buf *out)
{
	struct render_ctx c = {
		.snap = snap,
		.self_prefix = snap->self_prefix ? snap->self_prefix : DEFAULT_SELF_PREFIX,
		.w = { .out = out,
		       .openmetrics = fmt == RENDER_OPENMETRICS,
		       .static_labels = snap->static_labels,
		       .n_static_labels = snap->n_static_labels },
	};

	if (fmt != RENDER_TEXT_004 && fmt != RENDER_OPENMETRICS)
		return -EINVAL;

	put_http_family(&c, SOCKEYE_ROLE_SERVER, "http_server_request_duration_seconds",
			HELP_HTTP_SERVER);
	put_http_family(&c, SOCKEYE_ROLE_CLIENT, "http_client_request_duration_seconds",
			HELP_HTTP_CLIENT);
	for (size_t i = 0; i < ARRAY_SIZE(size_families); i++)
		put_size_family(&c, &size_families[i]);
	put_conns(&c);
	put_services(&c);
	render_funcs(&c.w, snap->funcs);
	render_db(&c.w, snap->db);
	put_build_info(&c);
	put_parser_events(&c);
	put_progs(&c);
	put_features(&c);
	put_maps(&c);
	put_tls(&c);
	render_funcs_self(&c.w, c.self_prefix, snap->funcs);
	render_db_self(&c.w, c.self_prefix, snap->db);
	put_id_cache(&c);
	put_scrape_duration(&c);
	put_process(&c);
	if (fmt == RENDER_OPENMETRICS)
		buf_puts(out, "# EOF\n");
	return out->err;
}
