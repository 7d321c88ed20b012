// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* render_http.c - the HTTP family group -> http_{server,client}_request_duration_seconds and the
 * body size families; pure: no syscalls or globals. */
#include <string.h>

#include "render_group.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

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

#define HELP_HTTP_SERVER                                                                          \
	"Duration of HTTP server requests: first byte of the request to first byte of the "      \
	"response status line."
#define HELP_HTTP_CLIENT                                                                          \
	"Duration of HTTP client requests: request sent to first byte of the response status "   \
	"line."

/* Out-of-range enum values (a newer kernel object, a corrupt key) render like the unknown
 * value instead of indexing past the table. */
const char *render_method_name(unsigned int m)
{
	return m < ARRAY_SIZE(method_names) ? method_names[m] : method_names[SOCKEYE_METHOD_OTHER];
}

/* An empty label value is the same as no label to Prometheus: "version unknown". */
static const char *version_name(unsigned int v)
{
	return v < ARRAY_SIZE(version_names) ? version_names[v] : "";
}

/* An HTTP series' labels (and identity). */
static const struct sockeye_label *http_labels(struct expo_labels *lb,
					       const struct sockeye_http_series *s,
					       char route[SOCKEYE_ROUTE_LEN + 1],
					       char status[EXPO_NUMBER_LEN], char port[EXPO_NUMBER_LEN])
{
	const struct sockeye_label own[] = {
		{ "http_request_method", render_method_name(s->method) },
		{ "http_response_status_code", expo_u64(status, s->status) },
		{ "http_route", expo_bounded(route, s->route, sizeof(s->route)) },
		{ "network_protocol_version", version_name(s->version) },
		{ "server_port", expo_u64(port, s->server_port) },
	};

	return expo_with_identity(lb, own, ARRAY_SIZE(own), s->identity);
}

/* One family's series of one role; h says what to print of each (NULL: skip it). */
static void put_http_histograms(const struct render_ctx *c, enum sockeye_role role,
				const char *family, const char *help, int always,
				int (*hist)(const struct sockeye_snapshot *,
					    const struct sockeye_http_series *,
					    struct expo_histogram *))
{
	const struct sockeye_snapshot *snap = c->snap;
	char route[SOCKEYE_ROUTE_LEN + 1], status[EXPO_NUMBER_LEN], port[EXPO_NUMBER_LEN];
	size_t shown = 0;

	if (always)
		expo_header(&c->w, "", family, METRIC_HISTOGRAM, help);
	for (size_t i = 0; i < snap->n_http; i++) {
		const struct sockeye_http_series *s = &snap->http[i];
		struct expo_histogram h;
		struct expo_labels lb;
		const struct sockeye_label *labels;

		if (s->role != role || !hist(snap, s, &h))
			continue;
		if (!always && !shown++)
			expo_header(&c->w, "", family, METRIC_HISTOGRAM, help);
		labels = http_labels(&lb, s, route, status, port);
		expo_histogram(&c->w, "", family, labels, lb.n, &h);
	}
}

static int duration_hist(const struct sockeye_snapshot *snap, const struct sockeye_http_series *s,
			 struct expo_histogram *h)
{
	*h = (struct expo_histogram){
		.bounds = snap->bounds_ns,
		.n_bounds = snap->n_bounds < SOCKEYE_MAX_BUCKETS ? snap->n_bounds
								 : SOCKEYE_MAX_BUCKETS,
		.buckets = s->buckets,
		.count = s->count,
		.sum = s->sum_ns,
		.unit = EXPO_UNIT_NS,
	};
	return 1;
}

/* Sizes have the duration histogram's labels. A series has them once one of its responses
 * ended (sizes are recorded then, durations when the response starts). */
static int size_hist(const struct sockeye_snapshot *snap, const struct sockeye_size_hist *sh,
		     struct expo_histogram *h)
{
	*h = (struct expo_histogram){
		.bounds = snap->size_bounds,
		.n_bounds = snap->n_size_bounds < SOCKEYE_SIZE_BOUNDS ? snap->n_size_bounds
								      : SOCKEYE_SIZE_BOUNDS,
		.buckets = sh->buckets,
		.count = sh->count,
		.sum = sh->sum,
		.unit = EXPO_UNIT_COUNT,
	};
	return sh->count != 0;
}

static int request_size_hist(const struct sockeye_snapshot *snap,
			     const struct sockeye_http_series *s, struct expo_histogram *h)
{
	return size_hist(snap, &s->req_size, h);
}

static int response_size_hist(const struct sockeye_snapshot *snap,
			      const struct sockeye_http_series *s, struct expo_histogram *h)
{
	return size_hist(snap, &s->resp_size, h);
}

#define HELP_SIZE(what) \
	"Body size of HTTP " what " (Content-Length, chunk data or bytes until close)."

void render_http(const struct render_ctx *c)
{
	put_http_histograms(c, SOCKEYE_ROLE_SERVER, "http_server_request_duration_seconds",
			    HELP_HTTP_SERVER, 1, duration_hist);
	put_http_histograms(c, SOCKEYE_ROLE_CLIENT, "http_client_request_duration_seconds",
			    HELP_HTTP_CLIENT, 1, duration_hist);
	/* A size family appears once one of its responses ended. */
	put_http_histograms(c, SOCKEYE_ROLE_SERVER, "http_server_request_body_size_bytes",
			    HELP_SIZE("server requests"), 0, request_size_hist);
	put_http_histograms(c, SOCKEYE_ROLE_SERVER, "http_server_response_body_size_bytes",
			    HELP_SIZE("server responses"), 0, response_size_hist);
	put_http_histograms(c, SOCKEYE_ROLE_CLIENT, "http_client_request_body_size_bytes",
			    HELP_SIZE("client requests"), 0, request_size_hist);
	put_http_histograms(c, SOCKEYE_ROLE_CLIENT, "http_client_response_body_size_bytes",
			    HELP_SIZE("client responses"), 0, response_size_hist);
}
