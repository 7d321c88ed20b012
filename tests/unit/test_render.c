// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* test_render.c - render.c against exact exposition text, promtool and prometheus_client. */
#define _GNU_SOURCE /* asprintf */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "collect.h"
#include "render.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define PROMTOOL "/usr/bin/promtool"
/* Debian's python3-prometheus-client is installed for the system python only. */
#define SYSTEM_PYTHON "/usr/bin/python3"

/* ---- Expected-text building blocks ---- */

#define SRV "http_server_request_duration_seconds"
#define CLI "http_client_request_duration_seconds"

#define HTTP_SERVER_HEADER                                                                        \
	"# HELP " SRV " Duration of HTTP server requests: first byte of the request to first "  \
	"byte of the response status line.\n"                                                     \
	"# TYPE " SRV " histogram\n"
#define HTTP_CLIENT_HEADER                                                                        \
	"# HELP " CLI " Duration of HTTP client requests: request sent to first byte of the "   \
	"response status line.\n"                                                                 \
	"# TYPE " CLI " histogram\n"

#define BUILD_INFO(p, version, revision, extra)                                                   \
	"# HELP " p "build_info A metric with a constant '1' value labeled by version and "      \
	"revision of sockeye.\n"                                                                  \
	"# TYPE " p "build_info gauge\n" p "build_info{version=\"" version "\",revision=\""      \
	revision "\"" extra "} 1\n"

#define EVENTS_HEADER(p, family)                                                                  \
	"# HELP " p family " Requests, responses, segments and sockets the kernel HTTP parser "  \
	"dropped, skipped or overflowed, by event.\n"                                             \
	"# TYPE " p family " counter\n"
#define EVENT(p, event, extra, value)                                                             \
	p "parser_events_total{event=\"" event "\"" extra "} " value "\n"
/* Every event at zero; family is "parser_events_total" (text) or "parser_events" (OpenMetrics). */
#define EVENTS_ZERO(p, family, extra)                                                             \
	EVENTS_HEADER(p, family)                                                                  \
	EVENT(p, "route_table_full", extra, "0")                                                  \
	EVENT(p, "http_map_full", extra, "0")                                                     \
	EVENT(p, "pipeline_full", extra, "0")                                                     \
	EVENT(p, "unmatched_response", extra, "0")                                                \
	EVENT(p, "retransmit", extra, "0")                                                        \
	EVENT(p, "desync", extra, "0")                                                            \
	EVENT(p, "header_too_long", extra, "0")                                                   \
	EVENT(p, "not_http", extra, "0")                                                          \
	EVENT(p, "storage_fail", extra, "0")                                                      \
	EVENT(p, "conn_table_full", extra, "0")                                                   \
	EVENT(p, "series_budget", extra, "0")                                                     \
	EVENT(p, "route_states_full", extra, "0")

/* sockeye's own families for a snapshot with no progs, maps, scrape time or process. */
#define SELF_TEXT                                                                                 \
	BUILD_INFO("sockeye_", "1.2.3", "abc123", "")                                             \
	EVENTS_ZERO("sockeye_", "parser_events_total", "")
#define SELF_OM                                                                                   \
	BUILD_INFO("sockeye_", "1.2.3", "abc123", "")                                             \
	EVENTS_ZERO("sockeye_", "parser_events", "")

#define HTTP_EMPTY HTTP_SERVER_HEADER HTTP_CLIENT_HEADER

/* A server GET on port 8080 over HTTP/1.1, and its labels in rendering order. */
#define SERVER_GET(status_, route_)                                                               \
	.role = SOCKEYE_ROLE_SERVER, .method = SOCKEYE_METHOD_GET,                                \
	.version = SOCKEYE_VERSION_1_1, .status = status_, .server_port = 8080, .route = route_
#define L_SERVER_GET(status_, route_)                                                             \
	"http_request_method=\"GET\",http_response_status_code=\"" status_ "\","                  \
	"http_route=\"" route_ "\",network_protocol_version=\"1.1\",server_port=\"8080\""
#define GET_USERS SERVER_GET(200, "/users/{id}")
#define L_GET_USERS L_SERVER_GET("200", "/users/{id}")
#define L_GET_500 L_SERVER_GET("500", "/users/{id}")
/* The route /a\b"c<LF>d<TAB>e<CR>f with its three escapes; TAB and CR stay raw. */
#define L_ESCAPED L_SERVER_GET("200", "/a\\\\b\\\"c\\nd\te\rf")
#define L_OTHER                                                                                   \
	"http_request_method=\"_OTHER\",http_response_status_code=\"405\",http_route=\"/\","     \
	"network_protocol_version=\"1.0\",server_port=\"80\""
#define L_BOGUS                                                                                   \
	"http_request_method=\"_OTHER\",http_response_status_code=\"400\",http_route=\"/\","     \
	"network_protocol_version=\"\",server_port=\"80\""
#define L_CLIENT                                                                                  \
	"http_request_method=\"POST\",http_response_status_code=\"201\","                        \
	"http_route=\"/v1/items\",network_protocol_version=\"1.0\",server_port=\"443\""
/* Static labels env="prod" and dc=a"b\c<LF>d, escaped. */
#define STATIC ",env=\"prod\",dc=\"a\\\"b\\\\c\\nd\""

/* Identities: one with a quote to escape and an empty value to omit, an equal copy of it in
 * another object, and a plain one. */
#define SHOP_ID                                                                                   \
	{                                                                                         \
		.v = {                                                                            \
			[SOCKEYE_ID_SERVICE_NAME] = "sh\"op",                                     \
			[SOCKEYE_ID_CONTAINER_ID] = "0123abcd",                                   \
			[SOCKEYE_ID_K8S_POD_NAME] = "shop-7d9f",                                  \
			[SOCKEYE_ID_K8S_CONTAINER_NAME] = "app",                                  \
		}                                                                                 \
	}
static const struct sockeye_identity ID_SHOP = SHOP_ID, ID_SHOP_COPY = SHOP_ID;
static const struct sockeye_identity ID_PY = { .v = { [SOCKEYE_ID_SERVICE_NAME] = "python3" } };
#define L_SHOP_ONLY                                                                               \
	"service_name=\"sh\\\"op\",container_id=\"0123abcd\",k8s_pod_name=\"shop-7d9f\","          \
	"k8s_container_name=\"app\""
#define L_SHOP "," L_SHOP_ONLY
#define L_PY ",service_name=\"python3\""

#define SERVICES_HEADER(family, type, help) "# HELP " family " " help "\n# TYPE " family " " type "\n"
#define HELP_SVC_CPU                                                                              \
	"Total user and system CPU time spent in seconds by the live processes of each observed "\
	"service."
#define HELP_SVC_RSS "Resident memory size in bytes of the live processes of each observed service."

/* le="0.005", le="0.1", le="1" */
#define BOUNDS_3 .bounds_ns = { 5000000, 100000000, 1000000000 }, .n_bounds = 3

#define PROCESS_HELP_TYPE(family, type, help)                                                     \
	"# HELP " family " " help "\n# TYPE " family " " type "\n"

/* ---- Table-driven cases: one snapshot, one format, the exact full text ---- */

struct render_case {
	const char *name;
	enum render_format fmt;
	struct sockeye_http_series http[4];
	size_t n_http;
	uint64_t bounds_ns[SOCKEYE_MAX_BUCKETS];
	size_t n_bounds;
	uint64_t stats[SOCKEYE_STAT_MAX];
	struct sockeye_prog_stat progs[2];
	size_t n_progs;
	struct sockeye_feature_state features[2];
	size_t n_features;
	struct sockeye_map_stat maps[2];
	size_t n_maps;
	struct sockeye_label labels[2];
	size_t n_labels;
	const char *prefix;	     /* NULL: the default */
	int no_version;		     /* version and revision NULL instead of 1.2.3/abc123 */
	int has_scrape;		     /* 0: scrape_duration_seconds = -1 (unknown) */
	double scrape;
	struct sockeye_process process;
	struct sockeye_service_process services[2];
	size_t n_services;
	int id_cache_valid;
	uint64_t id_cache_entries[SOCKEYE_ID_CACHE_MAX];
	uint64_t id_cache_evictions[SOCKEYE_ID_CACHE_MAX];
	const char *want;
};

static const struct render_case cases[] = {
	{
		/* Spelled out without the macros above: the reference for what they build. */
		.name = "empty snapshot, text 0.0.4",
		.want = "# HELP http_server_request_duration_seconds Duration of HTTP server "
			"requests: first byte of the request to first byte of the response status "
			"line.\n"
			"# TYPE http_server_request_duration_seconds histogram\n"
			"# HELP http_client_request_duration_seconds Duration of HTTP client "
			"requests: request sent to first byte of the response status line.\n"
			"# TYPE http_client_request_duration_seconds histogram\n"
			"# HELP sockeye_build_info A metric with a constant '1' value labeled by "
			"version and revision of sockeye.\n"
			"# TYPE sockeye_build_info gauge\n"
			"sockeye_build_info{version=\"1.2.3\",revision=\"abc123\"} 1\n"
			"# HELP sockeye_parser_events_total Requests, responses, segments and "
			"sockets the kernel HTTP parser dropped, skipped or overflowed, by event.\n"
			"# TYPE sockeye_parser_events_total counter\n"
			"sockeye_parser_events_total{event=\"route_table_full\"} 0\n"
			"sockeye_parser_events_total{event=\"http_map_full\"} 0\n"
			"sockeye_parser_events_total{event=\"pipeline_full\"} 0\n"
			"sockeye_parser_events_total{event=\"unmatched_response\"} 0\n"
			"sockeye_parser_events_total{event=\"retransmit\"} 0\n"
			"sockeye_parser_events_total{event=\"desync\"} 0\n"
			"sockeye_parser_events_total{event=\"header_too_long\"} 0\n"
			"sockeye_parser_events_total{event=\"not_http\"} 0\n"
			"sockeye_parser_events_total{event=\"storage_fail\"} 0\n"
			"sockeye_parser_events_total{event=\"conn_table_full\"} 0\n"
			"sockeye_parser_events_total{event=\"series_budget\"} 0\n"
			"sockeye_parser_events_total{event=\"route_states_full\"} 0\n",
	},
	{
		.name = "empty snapshot, OpenMetrics",
		.fmt = RENDER_OPENMETRICS,
		.want = HTTP_EMPTY SELF_OM "# EOF\n",
	},
	{
		.name = "one server series: buckets are cumulative, overflow feeds only +Inf",
		BOUNDS_3,
		.http = { { GET_USERS, .count = 10, .sum_ns = 2500000000ULL,
			    .buckets = { 1, 2, 3, 4 } } },
		.n_http = 1,
		.want = HTTP_SERVER_HEADER
		SRV "_bucket{" L_GET_USERS ",le=\"0.005\"} 1\n"
		SRV "_bucket{" L_GET_USERS ",le=\"0.1\"} 3\n"
		SRV "_bucket{" L_GET_USERS ",le=\"1\"} 6\n"
		SRV "_bucket{" L_GET_USERS ",le=\"+Inf\"} 10\n"
		SRV "_sum{" L_GET_USERS "} 2.5\n"
		SRV "_count{" L_GET_USERS "} 10\n"
		HTTP_CLIENT_HEADER SELF_TEXT,
	},
	{
		.name = "overflow-only histogram: every count only in +Inf",
		BOUNDS_3,
		.http = { { GET_USERS, .count = 5, .sum_ns = 12345678901ULL,
			    .buckets = { 0, 0, 0, 5 } } },
		.n_http = 1,
		.want = HTTP_SERVER_HEADER
		SRV "_bucket{" L_GET_USERS ",le=\"0.005\"} 0\n"
		SRV "_bucket{" L_GET_USERS ",le=\"0.1\"} 0\n"
		SRV "_bucket{" L_GET_USERS ",le=\"1\"} 0\n"
		SRV "_bucket{" L_GET_USERS ",le=\"+Inf\"} 5\n"
		SRV "_sum{" L_GET_USERS "} 12.345678901\n"
		SRV "_count{" L_GET_USERS "} 5\n"
		HTTP_CLIENT_HEADER SELF_TEXT,
	},
	{
		.name = "bucket edges at 2^i and 2^i + 1 ns keep their own exact le",
		.bounds_ns = { 1024, 1025, 1048576, 1048577, 1073741824, 1073741825 },
		.n_bounds = 6,
		.http = { { GET_USERS, .count = 6, .sum_ns = 0,
			    .buckets = { 1, 1, 0, 2, 0, 1, 1 } } },
		.n_http = 1,
		.want = HTTP_SERVER_HEADER
		SRV "_bucket{" L_GET_USERS ",le=\"0.000001024\"} 1\n"
		SRV "_bucket{" L_GET_USERS ",le=\"0.000001025\"} 2\n"
		SRV "_bucket{" L_GET_USERS ",le=\"0.001048576\"} 2\n"
		SRV "_bucket{" L_GET_USERS ",le=\"0.001048577\"} 4\n"
		SRV "_bucket{" L_GET_USERS ",le=\"1.073741824\"} 4\n"
		SRV "_bucket{" L_GET_USERS ",le=\"1.073741825\"} 5\n"
		SRV "_bucket{" L_GET_USERS ",le=\"+Inf\"} 6\n"
		SRV "_sum{" L_GET_USERS "} 0\n"
		SRV "_count{" L_GET_USERS "} 6\n"
		HTTP_CLIENT_HEADER SELF_TEXT,
	},
	{
		.name = "bounds not above the last printed one are skipped, their counts carried",
		.bounds_ns = { 1000000, 1000000, 5000000, 3000000, 4000000, 6000000 },
		.n_bounds = 6,
		.http = { { GET_USERS, .count = 7, .sum_ns = 7,
			    .buckets = { 1, 1, 1, 1, 1, 1, 1 } } },
		.n_http = 1,
		.want = HTTP_SERVER_HEADER
		SRV "_bucket{" L_GET_USERS ",le=\"0.001\"} 1\n"
		SRV "_bucket{" L_GET_USERS ",le=\"0.005\"} 3\n"
		SRV "_bucket{" L_GET_USERS ",le=\"0.006\"} 6\n"
		SRV "_bucket{" L_GET_USERS ",le=\"+Inf\"} 7\n"
		SRV "_sum{" L_GET_USERS "} 0.000000007\n"
		SRV "_count{" L_GET_USERS "} 7\n"
		HTTP_CLIENT_HEADER SELF_TEXT,
	},
	{
		.name = "no configured bounds: slot 0 is the overflow, only +Inf",
		.http = { { GET_USERS, .count = 3, .sum_ns = 1, .buckets = { 3 } } },
		.n_http = 1,
		.want = HTTP_SERVER_HEADER
		SRV "_bucket{" L_GET_USERS ",le=\"+Inf\"} 3\n"
		SRV "_sum{" L_GET_USERS "} 0.000000001\n"
		SRV "_count{" L_GET_USERS "} 3\n"
		HTTP_CLIENT_HEADER SELF_TEXT,
	},
	{
		.name = "count read behind its buckets: +Inf and _count are the bucket total",
		BOUNDS_3,
		.http = { { GET_USERS, .count = 2, .sum_ns = 3000000, .buckets = { 2, 1 } } },
		.n_http = 1,
		.want = HTTP_SERVER_HEADER
		SRV "_bucket{" L_GET_USERS ",le=\"0.005\"} 2\n"
		SRV "_bucket{" L_GET_USERS ",le=\"0.1\"} 3\n"
		SRV "_bucket{" L_GET_USERS ",le=\"1\"} 3\n"
		SRV "_bucket{" L_GET_USERS ",le=\"+Inf\"} 3\n"
		SRV "_sum{" L_GET_USERS "} 0.003\n"
		SRV "_count{" L_GET_USERS "} 3\n"
		HTTP_CLIENT_HEADER SELF_TEXT,
	},
	{
		.name = "series that differ only in cgroup_id are summed into one",
		BOUNDS_3,
		.http = {
			{ GET_USERS, .cgroup_id = 1, .count = 1, .sum_ns = 1000000,
			  .buckets = { 1 } },
			{ GET_USERS, .cgroup_id = 2, .count = 2, .sum_ns = 2000000000ULL,
			  .buckets = { 0, 1, 0, 1 } },
			{ SERVER_GET(500, "/users/{id}"), .cgroup_id = 1, .count = 1,
			  .sum_ns = 5000000, .buckets = { 1 } },
		},
		.n_http = 3,
		.want = HTTP_SERVER_HEADER
		SRV "_bucket{" L_GET_USERS ",le=\"0.005\"} 1\n"
		SRV "_bucket{" L_GET_USERS ",le=\"0.1\"} 2\n"
		SRV "_bucket{" L_GET_USERS ",le=\"1\"} 2\n"
		SRV "_bucket{" L_GET_USERS ",le=\"+Inf\"} 3\n"
		SRV "_sum{" L_GET_USERS "} 2.001\n"
		SRV "_count{" L_GET_USERS "} 3\n"
		SRV "_bucket{" L_GET_500 ",le=\"0.005\"} 1\n"
		SRV "_bucket{" L_GET_500 ",le=\"0.1\"} 1\n"
		SRV "_bucket{" L_GET_500 ",le=\"1\"} 1\n"
		SRV "_bucket{" L_GET_500 ",le=\"+Inf\"} 1\n"
		SRV "_sum{" L_GET_500 "} 0.005\n"
		SRV "_count{" L_GET_500 "} 1\n"
		HTTP_CLIENT_HEADER SELF_TEXT,
	},
	{
		.name = "route escapes backslash, quote and newline, and nothing else",
		.http = { { SERVER_GET(200, "/a\\b\"c\nd\te\rf"), .count = 1, .sum_ns = 1,
			    .buckets = { 1 } } },
		.n_http = 1,
		.want = HTTP_SERVER_HEADER
		SRV "_bucket{" L_ESCAPED ",le=\"+Inf\"} 1\n"
		SRV "_sum{" L_ESCAPED "} 0.000000001\n"
		SRV "_count{" L_ESCAPED "} 1\n"
		HTTP_CLIENT_HEADER SELF_TEXT,
	},
	{
		.name = "method OTHER is _OTHER; out-of-range method is _OTHER, version empty",
		.http = {
			{ .method = SOCKEYE_METHOD_OTHER, .version = SOCKEYE_VERSION_1_0,
			  .status = 405, .server_port = 80, .route = "/", .count = 1,
			  .buckets = { 1 } },
			{ .method = 200, .version = 7, .status = 400, .server_port = 80,
			  .route = "/", .count = 2, .buckets = { 2 } },
		},
		.n_http = 2,
		.want = HTTP_SERVER_HEADER
		SRV "_bucket{" L_OTHER ",le=\"+Inf\"} 1\n"
		SRV "_sum{" L_OTHER "} 0\n"
		SRV "_count{" L_OTHER "} 1\n"
		SRV "_bucket{" L_BOGUS ",le=\"+Inf\"} 2\n"
		SRV "_sum{" L_BOGUS "} 0\n"
		SRV "_count{" L_BOGUS "} 2\n"
		HTTP_CLIENT_HEADER SELF_TEXT,
	},
	{
		.name = "client and server series go to their own families, whatever the order",
		.bounds_ns = { 1000000000 },
		.n_bounds = 1,
		.http = {
			{ .role = SOCKEYE_ROLE_CLIENT, .method = SOCKEYE_METHOD_POST,
			  .version = SOCKEYE_VERSION_1_0, .status = 201, .server_port = 443,
			  .route = "/v1/items", .count = 4, .sum_ns = 1500000000ULL,
			  .buckets = { 3, 1 } },
			{ GET_USERS, .count = 1, .sum_ns = 1000000000ULL, .buckets = { 1 } },
		},
		.n_http = 2,
		.want = HTTP_SERVER_HEADER
		SRV "_bucket{" L_GET_USERS ",le=\"1\"} 1\n"
		SRV "_bucket{" L_GET_USERS ",le=\"+Inf\"} 1\n"
		SRV "_sum{" L_GET_USERS "} 1\n"
		SRV "_count{" L_GET_USERS "} 1\n"
		HTTP_CLIENT_HEADER
		CLI "_bucket{" L_CLIENT ",le=\"1\"} 3\n"
		CLI "_bucket{" L_CLIENT ",le=\"+Inf\"} 4\n"
		CLI "_sum{" L_CLIENT "} 1.5\n"
		CLI "_count{" L_CLIENT "} 4\n"
		SELF_TEXT,
	},
	{
		.name = "identity labels follow server_port in order; empty ones are omitted",
		.bounds_ns = { 5000000 },
		.n_bounds = 1,
		.http = { { GET_USERS, .identity = &ID_SHOP, .count = 1, .sum_ns = 4000000,
			    .buckets = { 1 } } },
		.n_http = 1,
		.want = HTTP_SERVER_HEADER
		SRV "_bucket{" L_GET_USERS L_SHOP ",le=\"0.005\"} 1\n"
		SRV "_bucket{" L_GET_USERS L_SHOP ",le=\"+Inf\"} 1\n"
		SRV "_sum{" L_GET_USERS L_SHOP "} 0.004\n"
		SRV "_count{" L_GET_USERS L_SHOP "} 1\n"
		HTTP_CLIENT_HEADER SELF_TEXT,
	},
	{
		.name = "series differing in identity stay apart; equal identities are summed",
		.bounds_ns = { 5000000 },
		.n_bounds = 1,
		.http = {
			{ GET_USERS, .count = 1, .sum_ns = 1000000, .buckets = { 1 } },
			{ GET_USERS, .identity = &ID_PY, .count = 1, .sum_ns = 1000000,
			  .buckets = { 1 } },
			{ GET_USERS, .identity = &ID_SHOP, .cgroup_id = 1, .count = 1,
			  .sum_ns = 1000000, .buckets = { 1 } },
			{ GET_USERS, .identity = &ID_SHOP_COPY, .cgroup_id = 2, .count = 2,
			  .sum_ns = 2000000000ULL, .buckets = { 0, 2 } },
		},
		.n_http = 4,
		.want = HTTP_SERVER_HEADER
		SRV "_bucket{" L_GET_USERS ",le=\"0.005\"} 1\n"
		SRV "_bucket{" L_GET_USERS ",le=\"+Inf\"} 1\n"
		SRV "_sum{" L_GET_USERS "} 0.001\n"
		SRV "_count{" L_GET_USERS "} 1\n"
		SRV "_bucket{" L_GET_USERS L_PY ",le=\"0.005\"} 1\n"
		SRV "_bucket{" L_GET_USERS L_PY ",le=\"+Inf\"} 1\n"
		SRV "_sum{" L_GET_USERS L_PY "} 0.001\n"
		SRV "_count{" L_GET_USERS L_PY "} 1\n"
		SRV "_bucket{" L_GET_USERS L_SHOP ",le=\"0.005\"} 1\n"
		SRV "_bucket{" L_GET_USERS L_SHOP ",le=\"+Inf\"} 3\n"
		SRV "_sum{" L_GET_USERS L_SHOP "} 2.001\n"
		SRV "_count{" L_GET_USERS L_SHOP "} 3\n"
		HTTP_CLIENT_HEADER SELF_TEXT,
	},
	{
		.name = "service process families: identity labels, then static labels",
		.services = { { &ID_PY, 1.5, 1048576 }, { &ID_SHOP, 0.25, 4096 } },
		.n_services = 2,
		.labels = { { "env", "prod" }, { "dc", "a\"b\\c\nd" } },
		.n_labels = 2,
		.want = HTTP_EMPTY
		SERVICES_HEADER("service_process_cpu_seconds_total", "counter", HELP_SVC_CPU)
		"service_process_cpu_seconds_total{service_name=\"python3\"" STATIC "} 1.5\n"
		"service_process_cpu_seconds_total{" L_SHOP_ONLY STATIC "} 0.25\n"
		SERVICES_HEADER("service_process_resident_memory_bytes", "gauge", HELP_SVC_RSS)
		"service_process_resident_memory_bytes{service_name=\"python3\"" STATIC "} 1048576\n"
		"service_process_resident_memory_bytes{" L_SHOP_ONLY STATIC "} 4096\n"
		BUILD_INFO("sockeye_", "1.2.3", "abc123", STATIC)
		EVENTS_ZERO("sockeye_", "parser_events_total", STATIC),
	},
	{
		.name = "service processes and identity caches, OpenMetrics",
		.fmt = RENDER_OPENMETRICS,
		.services = { { &ID_PY, 0.01, 0 } },
		.n_services = 1,
		.id_cache_valid = 1,
		.id_cache_entries = { 3, 2, 1 },
		.id_cache_evictions = { 0, 7, 1 },
		.want = HTTP_EMPTY
		SERVICES_HEADER("service_process_cpu_seconds", "counter", HELP_SVC_CPU)
		"service_process_cpu_seconds_total{service_name=\"python3\"} 0.01\n"
		SERVICES_HEADER("service_process_resident_memory_bytes", "gauge", HELP_SVC_RSS)
		"service_process_resident_memory_bytes{service_name=\"python3\"} 0\n"
		SELF_OM
		"# HELP sockeye_identity_cache_entries Entries in each of sockeye's identity label "
		"caches.\n"
		"# TYPE sockeye_identity_cache_entries gauge\n"
		"sockeye_identity_cache_entries{cache=\"series\"} 3\n"
		"sockeye_identity_cache_entries{cache=\"process\"} 2\n"
		"sockeye_identity_cache_entries{cache=\"cgroup\"} 1\n"
		"# HELP sockeye_identity_cache_evictions Entries evicted from each identity label "
		"cache: series gone from the kernel map, processes that exited, cgroups that were "
		"removed.\n"
		"# TYPE sockeye_identity_cache_evictions counter\n"
		"sockeye_identity_cache_evictions_total{cache=\"series\"} 0\n"
		"sockeye_identity_cache_evictions_total{cache=\"process\"} 7\n"
		"sockeye_identity_cache_evictions_total{cache=\"cgroup\"} 1\n"
		"# EOF\n",
	},
	{
		.name = "static labels follow each family's labels, precede le, escape values",
		.bounds_ns = { 5000000 },
		.n_bounds = 1,
		.http = { { GET_USERS, .count = 1, .sum_ns = 4000000, .buckets = { 1 } } },
		.n_http = 1,
		.labels = { { "env", "prod" }, { "dc", "a\"b\\c\nd" } },
		.n_labels = 2,
		.has_scrape = 1,
		.scrape = 0.25,
		.want = HTTP_SERVER_HEADER
		SRV "_bucket{" L_GET_USERS STATIC ",le=\"0.005\"} 1\n"
		SRV "_bucket{" L_GET_USERS STATIC ",le=\"+Inf\"} 1\n"
		SRV "_sum{" L_GET_USERS STATIC "} 0.004\n"
		SRV "_count{" L_GET_USERS STATIC "} 1\n"
		HTTP_CLIENT_HEADER
		BUILD_INFO("sockeye_", "1.2.3", "abc123", STATIC)
		EVENTS_ZERO("sockeye_", "parser_events_total", STATIC)
		"# HELP sockeye_scrape_duration_seconds Time sockeye took to read its BPF maps for "
		"this scrape, in seconds.\n"
		"# TYPE sockeye_scrape_duration_seconds gauge\n"
		"sockeye_scrape_duration_seconds{env=\"prod\",dc=\"a\\\"b\\\\c\\nd\"} 0.25\n",
	},
	{
		.name = "custom prefix names sockeye's own families, not the HTTP or process ones",
		.prefix = "acme_",
		.stats = { 1, 2, 3, 4, 5, 6, 7, 8, 9 },
		.progs = { { "cgskb_ingress", 1, 1, 7 } },
		.n_progs = 1,
		.maps = { { "http_dur", 1, 2 } },
		.n_maps = 1,
		.has_scrape = 1,
		.scrape = 0,
		.process = { .valid = 1, .max_fds = 1 },
		.want = HTTP_EMPTY BUILD_INFO("acme_", "1.2.3", "abc123", "")
		EVENTS_HEADER("acme_", "parser_events_total")
		EVENT("acme_", "route_table_full", "", "1")
		EVENT("acme_", "http_map_full", "", "2")
		EVENT("acme_", "pipeline_full", "", "3")
		EVENT("acme_", "unmatched_response", "", "4")
		EVENT("acme_", "retransmit", "", "5")
		EVENT("acme_", "desync", "", "6")
		EVENT("acme_", "header_too_long", "", "7")
		EVENT("acme_", "not_http", "", "8")
		EVENT("acme_", "storage_fail", "", "9")
		EVENT("acme_", "conn_table_full", "", "0")
		EVENT("acme_", "series_budget", "", "0")
		EVENT("acme_", "route_states_full", "", "0")
		"# HELP acme_bpf_program_runs_total Times each sockeye BPF program ran (counted "
		"while kernel.bpf_stats_enabled=1).\n"
		"# TYPE acme_bpf_program_runs_total counter\n"
		"acme_bpf_program_runs_total{program=\"cgskb_ingress\"} 1\n"
		"# HELP acme_bpf_program_run_seconds_total Time spent running each sockeye BPF "
		"program in seconds (counted while kernel.bpf_stats_enabled=1).\n"
		"# TYPE acme_bpf_program_run_seconds_total counter\n"
		"acme_bpf_program_run_seconds_total{program=\"cgskb_ingress\"} 0.000000001\n"
		"# HELP acme_bpf_program_verified_instructions Instructions the kernel's verifier "
		"processed to load each sockeye BPF program (its verification cost; the limit is "
		"1000000).\n"
		"# TYPE acme_bpf_program_verified_instructions gauge\n"
		"acme_bpf_program_verified_instructions{program=\"cgskb_ingress\"} 7\n"
		"# HELP acme_bpf_map_entries Entries currently in each sockeye BPF map.\n"
		"# TYPE acme_bpf_map_entries gauge\n"
		"acme_bpf_map_entries{map=\"http_dur\"} 1\n"
		"# HELP acme_bpf_map_capacity Maximum entries (max_entries) of each sockeye BPF "
		"map.\n"
		"# TYPE acme_bpf_map_capacity gauge\n"
		"acme_bpf_map_capacity{map=\"http_dur\"} 2\n"
		"# HELP acme_scrape_duration_seconds Time sockeye took to read its BPF maps for "
		"this scrape, in seconds.\n"
		"# TYPE acme_scrape_duration_seconds gauge\n"
		"acme_scrape_duration_seconds 0\n"
		PROCESS_HELP_TYPE("process_cpu_seconds_total", "counter",
				  "Total user and system CPU time spent in seconds.")
		"process_cpu_seconds_total 0\n"
		PROCESS_HELP_TYPE("process_resident_memory_bytes", "gauge",
				  "Resident memory size in bytes.")
		"process_resident_memory_bytes 0\n"
		PROCESS_HELP_TYPE("process_virtual_memory_bytes", "gauge",
				  "Virtual memory size in bytes.")
		"process_virtual_memory_bytes 0\n"
		PROCESS_HELP_TYPE("process_open_fds", "gauge", "Number of open file descriptors.")
		"process_open_fds 0\n"
		PROCESS_HELP_TYPE("process_max_fds", "gauge",
				  "Maximum number of open file descriptors.")
		"process_max_fds 1\n"
		PROCESS_HELP_TYPE("process_start_time_seconds", "gauge",
				  "Start time of the process since unix epoch in seconds.")
		"process_start_time_seconds 0\n",
	},
	{
		.name = "prog and map families, run time as exact seconds",
		.progs = { { "cgskb_ingress", 10, 2500, 41234 }, { "sockops_track", 3, 1000000000 } },
		.n_progs = 2,
		.features = { { "http", 1, "" }, { "https", 0, "--tls.disable" } },
		.n_features = 2,
		.maps = { { "http_dur", 3, 16384 }, { "http_routes", 0, 2048 } },
		.n_maps = 2,
		.want = HTTP_EMPTY SELF_TEXT
		"# HELP sockeye_bpf_program_runs_total Times each sockeye BPF program ran (counted "
		"while kernel.bpf_stats_enabled=1).\n"
		"# TYPE sockeye_bpf_program_runs_total counter\n"
		"sockeye_bpf_program_runs_total{program=\"cgskb_ingress\"} 10\n"
		"sockeye_bpf_program_runs_total{program=\"sockops_track\"} 3\n"
		"# HELP sockeye_bpf_program_run_seconds_total Time spent running each sockeye BPF "
		"program in seconds (counted while kernel.bpf_stats_enabled=1).\n"
		"# TYPE sockeye_bpf_program_run_seconds_total counter\n"
		"sockeye_bpf_program_run_seconds_total{program=\"cgskb_ingress\"} 0.0000025\n"
		"sockeye_bpf_program_run_seconds_total{program=\"sockops_track\"} 1\n"
		"# HELP sockeye_bpf_program_verified_instructions Instructions the kernel's verifier "
		"processed to load each sockeye BPF program (its verification cost; the limit is "
		"1000000).\n"
		"# TYPE sockeye_bpf_program_verified_instructions gauge\n"
		"sockeye_bpf_program_verified_instructions{program=\"cgskb_ingress\"} 41234\n"
		"sockeye_bpf_program_verified_instructions{program=\"sockops_track\"} 0\n"
		"# HELP sockeye_feature_enabled Whether a part of sockeye runs on this kernel (1) or "
		"is off (0; the log says why at start).\n"
		"# TYPE sockeye_feature_enabled gauge\n"
		"sockeye_feature_enabled{feature=\"http\"} 1\n"
		"sockeye_feature_enabled{feature=\"https\"} 0\n"
		"# HELP sockeye_bpf_map_entries Entries currently in each sockeye BPF map.\n"
		"# TYPE sockeye_bpf_map_entries gauge\n"
		"sockeye_bpf_map_entries{map=\"http_dur\"} 3\n"
		"sockeye_bpf_map_entries{map=\"http_routes\"} 0\n"
		"# HELP sockeye_bpf_map_capacity Maximum entries (max_entries) of each sockeye BPF "
		"map.\n"
		"# TYPE sockeye_bpf_map_capacity gauge\n"
		"sockeye_bpf_map_capacity{map=\"http_dur\"} 16384\n"
		"sockeye_bpf_map_capacity{map=\"http_routes\"} 2048\n",
	},
	{
		.name = "process families when process.valid, client-library names, no prefix",
		.process = { .valid = 1, .cpu_seconds = 0.12, .start_time_seconds = 1717171717.25,
			     .resident_bytes = 1048576, .virtual_bytes = 16777216, .open_fds = 9,
			     .max_fds = 1024 },
		.want = HTTP_EMPTY SELF_TEXT
		PROCESS_HELP_TYPE("process_cpu_seconds_total", "counter",
				  "Total user and system CPU time spent in seconds.")
		"process_cpu_seconds_total 0.12\n"
		PROCESS_HELP_TYPE("process_resident_memory_bytes", "gauge",
				  "Resident memory size in bytes.")
		"process_resident_memory_bytes 1048576\n"
		PROCESS_HELP_TYPE("process_virtual_memory_bytes", "gauge",
				  "Virtual memory size in bytes.")
		"process_virtual_memory_bytes 16777216\n"
		PROCESS_HELP_TYPE("process_open_fds", "gauge", "Number of open file descriptors.")
		"process_open_fds 9\n"
		PROCESS_HELP_TYPE("process_max_fds", "gauge",
				  "Maximum number of open file descriptors.")
		"process_max_fds 1024\n"
		PROCESS_HELP_TYPE("process_start_time_seconds", "gauge",
				  "Start time of the process since unix epoch in seconds.")
		"process_start_time_seconds 1717171717.25\n",
	},
	{
		.name = "OpenMetrics: counter families drop _total, samples keep it, # EOF last",
		.fmt = RENDER_OPENMETRICS,
		.bounds_ns = { 5000000 },
		.n_bounds = 1,
		.http = { { GET_USERS, .count = 2, .sum_ns = 7000000, .buckets = { 1, 1 } } },
		.n_http = 1,
		.stats = { [SOCKEYE_STAT_DESYNC] = 4 },
		.progs = { { "cgskb_ingress", 10, 2500, 99 } },
		.n_progs = 1,
		.maps = { { "http_dur", 3, 16384 } },
		.n_maps = 1,
		.has_scrape = 1,
		.scrape = 0.00123,
		.process = { .valid = 1, .cpu_seconds = 1.5, .start_time_seconds = 1717171717,
			     .resident_bytes = 1, .virtual_bytes = 2, .open_fds = 3, .max_fds = 4 },
		.want = HTTP_SERVER_HEADER
		SRV "_bucket{" L_GET_USERS ",le=\"0.005\"} 1\n"
		SRV "_bucket{" L_GET_USERS ",le=\"+Inf\"} 2\n"
		SRV "_sum{" L_GET_USERS "} 0.007\n"
		SRV "_count{" L_GET_USERS "} 2\n"
		HTTP_CLIENT_HEADER
		BUILD_INFO("sockeye_", "1.2.3", "abc123", "")
		EVENTS_HEADER("sockeye_", "parser_events")
		EVENT("sockeye_", "route_table_full", "", "0")
		EVENT("sockeye_", "http_map_full", "", "0")
		EVENT("sockeye_", "pipeline_full", "", "0")
		EVENT("sockeye_", "unmatched_response", "", "0")
		EVENT("sockeye_", "retransmit", "", "0")
		EVENT("sockeye_", "desync", "", "4")
		EVENT("sockeye_", "header_too_long", "", "0")
		EVENT("sockeye_", "not_http", "", "0")
		EVENT("sockeye_", "storage_fail", "", "0")
		EVENT("sockeye_", "conn_table_full", "", "0")
		EVENT("sockeye_", "series_budget", "", "0")
		EVENT("sockeye_", "route_states_full", "", "0")
		"# HELP sockeye_bpf_program_runs Times each sockeye BPF program ran (counted "
		"while kernel.bpf_stats_enabled=1).\n"
		"# TYPE sockeye_bpf_program_runs counter\n"
		"sockeye_bpf_program_runs_total{program=\"cgskb_ingress\"} 10\n"
		"# HELP sockeye_bpf_program_run_seconds Time spent running each sockeye BPF "
		"program in seconds (counted while kernel.bpf_stats_enabled=1).\n"
		"# TYPE sockeye_bpf_program_run_seconds counter\n"
		"sockeye_bpf_program_run_seconds_total{program=\"cgskb_ingress\"} 0.0000025\n"
		"# HELP sockeye_bpf_program_verified_instructions Instructions the kernel's verifier "
		"processed to load each sockeye BPF program (its verification cost; the limit is "
		"1000000).\n"
		"# TYPE sockeye_bpf_program_verified_instructions gauge\n"
		"sockeye_bpf_program_verified_instructions{program=\"cgskb_ingress\"} 99\n"
		"# HELP sockeye_bpf_map_entries Entries currently in each sockeye BPF map.\n"
		"# TYPE sockeye_bpf_map_entries gauge\n"
		"sockeye_bpf_map_entries{map=\"http_dur\"} 3\n"
		"# HELP sockeye_bpf_map_capacity Maximum entries (max_entries) of each sockeye BPF "
		"map.\n"
		"# TYPE sockeye_bpf_map_capacity gauge\n"
		"sockeye_bpf_map_capacity{map=\"http_dur\"} 16384\n"
		"# HELP sockeye_scrape_duration_seconds Time sockeye took to read its BPF maps for "
		"this scrape, in seconds.\n"
		"# TYPE sockeye_scrape_duration_seconds gauge\n"
		"sockeye_scrape_duration_seconds 0.00123\n"
		PROCESS_HELP_TYPE("process_cpu_seconds", "counter",
				  "Total user and system CPU time spent in seconds.")
		"process_cpu_seconds_total 1.5\n"
		PROCESS_HELP_TYPE("process_resident_memory_bytes", "gauge",
				  "Resident memory size in bytes.")
		"process_resident_memory_bytes 1\n"
		PROCESS_HELP_TYPE("process_virtual_memory_bytes", "gauge",
				  "Virtual memory size in bytes.")
		"process_virtual_memory_bytes 2\n"
		PROCESS_HELP_TYPE("process_open_fds", "gauge", "Number of open file descriptors.")
		"process_open_fds 3\n"
		PROCESS_HELP_TYPE("process_max_fds", "gauge",
				  "Maximum number of open file descriptors.")
		"process_max_fds 4\n"
		PROCESS_HELP_TYPE("process_start_time_seconds", "gauge",
				  "Start time of the process since unix epoch in seconds.")
		"process_start_time_seconds 1717171717\n"
		"# EOF\n",
	},
	{
		.name = "NULL version and revision render as unknown",
		.no_version = 1,
		.want = HTTP_EMPTY BUILD_INFO("sockeye_", "unknown", "unknown", "")
		EVENTS_ZERO("sockeye_", "parser_events_total", ""),
	},
};

static void snapshot_from_case(struct sockeye_snapshot *snap, struct render_case *c)
{
	memset(snap, 0, sizeof(*snap));
	snap->http = c->http;
	snap->n_http = c->n_http;
	memcpy(snap->bounds_ns, c->bounds_ns, sizeof(snap->bounds_ns));
	snap->n_bounds = c->n_bounds;
	memcpy(snap->stats, c->stats, sizeof(snap->stats));
	snap->progs = c->progs;
	snap->n_progs = c->n_progs;
	snap->features = c->features;
	snap->n_features = c->n_features;
	snap->maps = c->maps;
	snap->n_maps = c->n_maps;
	snap->static_labels = c->n_labels ? c->labels : NULL;
	snap->n_static_labels = c->n_labels;
	snap->self_prefix = c->prefix;
	snap->version = c->no_version ? NULL : "1.2.3";
	snap->revision = c->no_version ? NULL : "abc123";
	snap->process = c->process;
	snap->scrape_duration_seconds = c->has_scrape ? c->scrape : -1;
	snap->services = c->services;
	snap->n_services = c->n_services;
	snap->id_cache_valid = c->id_cache_valid;
	memcpy(snap->id_cache_entries, c->id_cache_entries, sizeof(snap->id_cache_entries));
	memcpy(snap->id_cache_evictions, c->id_cache_evictions, sizeof(snap->id_cache_evictions));
}

/* Renders snap as the agent does: its HTTP series merged first, as collect_snapshot merges
 * them (in a copy: the cases' arrays stay as written); the caller frees the text. */
static char *render(const struct sockeye_snapshot *snap, enum render_format fmt)
{
	struct sockeye_snapshot merged = *snap;
	struct sockeye_http_series *http = calloc(snap->n_http + 1, sizeof(*http));
	struct sockeye_buf out;
	char *text;

	assert_non_null(http);
	if (snap->n_http)
		memcpy(http, snap->http, snap->n_http * sizeof(*http));
	merged.http = http;
	merged.n_http = collect_merge(http, snap->n_http);
	buf_init(&out);
	assert_int_equal(render_text(&merged, fmt, &out), 0);
	text = strdup(out.data ? out.data : "");
	assert_non_null(text);
	buf_free(&out);
	free(http);
	return text;
}

/* Fails the test, naming the case and the first line that differs. */
static void expect_text(const char *name, const char *want, const char *got)
{
	const char *w = want, *g = got;
	int line = 1;

	if (strcmp(want, got) == 0)
		return;
	while (*w && *w == *g) {
		if (*w == '\n')
			line++;
		w++;
		g++;
	}
	while (w > want && w[-1] != '\n') {
		w--;
		g--;
	}
	print_error("# Case: %s\n# first difference on line %d\n# want: %.*s\n#  got: %.*s\n"
		    "# full output:\n%s",
		    name, line, (int)strcspn(w, "\n"), w, (int)strcspn(g, "\n"), g, got);
	fail_msg("case \"%s\": rendered text differs", name);
}

static void test_case(void **state)
{
	struct render_case c = *(const struct render_case *)*state;
	struct sockeye_snapshot snap;
	char *got;

	snapshot_from_case(&snap, &c);
	got = render(&snap, c.fmt);
	expect_text(c.name, c.want, got);
	free(got);
}

/* The part of text from the line starting with from up to (not including) the line starting
 * with to (NULL: the end). Fails when from is missing. */
static char *block(const char *text, const char *from, const char *to)
{
	const char *a = strstr(text, from), *b;

	if (!a)
		fail_msg("no \"%s\" in:\n%s", from, text);
	b = to ? strstr(a, to) : NULL;
	return strndup(a, b ? (size_t)(b - a) : strlen(a));
}

static void test_connection_and_in_flight_families_render_exactly(void **state)
{
	struct sockeye_conn_series conns[2] = {
		{ .side = SOCKEYE_ROLE_SERVER, .server_port = 8080,
		  .v = { .opened = 5, .closed = 3, .bytes_sent = 12345, .bytes_received = 1049576,
			 .retrans = 2, .rtt_count = 3, .rtt_sum_us = 1750,
			 .rtt_buckets = { 1, 1, 0, 1 },
			 .req_started = { [SOCKEYE_METHOD_GET] = 7, [SOCKEYE_METHOD_POST] = 1 },
			 .req_ended = { [SOCKEYE_METHOD_GET] = 5, [SOCKEYE_METHOD_POST] = 1 } } },
		{ .side = SOCKEYE_ROLE_CLIENT, .server_port = 443,
		  .v = { .opened = 1, .closed = 2, .req_started = { [SOCKEYE_METHOD_PUT] = 1 } } },
	};
	struct sockeye_snapshot snap = {
		.conns = conns,
		.n_conns = 2,
		.rtt_bounds_us = { 100, 1000, 10000 },
		.n_rtt_bounds = 3,
		.scrape_duration_seconds = -1,
	};
	char *text = render(&snap, RENDER_TEXT_004), *got;

	(void)state;
	got = block(text, "# HELP http_server_active_requests", "# HELP http_client_active");
	expect_text("server in flight: started - ended per method, only methods seen",
		    "# HELP http_server_active_requests HTTP server requests in flight: request "
		    "line received, response not started yet.\n"
		    "# TYPE http_server_active_requests gauge\n"
		    "http_server_active_requests{http_request_method=\"GET\",server_port=\"8080\"} 2\n"
		    "http_server_active_requests{http_request_method=\"POST\",server_port=\"8080\"} 0\n",
		    got);
	free(got);
	got = block(text, "# HELP http_client_active_requests", "# HELP sockeye_tcp_connections_opened");
	expect_text("client in flight",
		    "# HELP http_client_active_requests HTTP client requests in flight: request "
		    "sent, response not started yet.\n"
		    "# TYPE http_client_active_requests gauge\n"
		    "http_client_active_requests{http_request_method=\"PUT\",server_port=\"443\"} 1\n",
		    got);
	free(got);
	got = block(text, "sockeye_tcp_connections_active{", "# HELP sockeye_tcp_bytes_sent");
	expect_text("active is opened - closed, never below zero",
		    "sockeye_tcp_connections_active{direction=\"inbound\",server_port=\"8080\"} 2\n"
		    "sockeye_tcp_connections_active{direction=\"outbound\",server_port=\"443\"} 0\n",
		    got);
	free(got);
	got = block(text, "sockeye_tcp_bytes_received_total{", "# HELP sockeye_tcp_retrans");
	expect_text("bytes received",
		    "sockeye_tcp_bytes_received_total{direction=\"inbound\",server_port=\"8080\"} "
		    "1049576\n"
		    "sockeye_tcp_bytes_received_total{direction=\"outbound\",server_port=\"443\"} 0\n",
		    got);
	free(got);
	got = block(text, "sockeye_tcp_rtt_seconds_bucket{direction=\"inbound\"",
		    "sockeye_tcp_rtt_seconds_bucket{direction=\"outbound\"");
	expect_text("RTT histogram: microseconds as exact seconds, cumulative, overflow in +Inf",
		    "sockeye_tcp_rtt_seconds_bucket{direction=\"inbound\",server_port=\"8080\","
		    "le=\"0.0001\"} 1\n"
		    "sockeye_tcp_rtt_seconds_bucket{direction=\"inbound\",server_port=\"8080\","
		    "le=\"0.001\"} 2\n"
		    "sockeye_tcp_rtt_seconds_bucket{direction=\"inbound\",server_port=\"8080\","
		    "le=\"0.01\"} 2\n"
		    "sockeye_tcp_rtt_seconds_bucket{direction=\"inbound\",server_port=\"8080\","
		    "le=\"+Inf\"} 3\n"
		    "sockeye_tcp_rtt_seconds_sum{direction=\"inbound\",server_port=\"8080\"} 0.00175\n"
		    "sockeye_tcp_rtt_seconds_count{direction=\"inbound\",server_port=\"8080\"} 3\n",
		    got);
	free(got);
	free(text);
}

static void test_body_size_families_render_exactly(void **state)
{
	struct sockeye_http_series http[2] = {
		{ GET_USERS, .count = 1, .buckets = { 1 },
		  .req_size = { .count = 2, .sum = 1003, .buckets = { 1, 1 } },
		  .resp_size = { .count = 2, .sum = 1048576, .buckets = { 1, 0, 0, 1 } } },
		{ .role = SOCKEYE_ROLE_CLIENT, .method = SOCKEYE_METHOD_GET, .status = 200,
		  .server_port = 8080, .route = "/users/{id}", .count = 1, .buckets = { 1 } },
	};
	struct sockeye_snapshot snap = {
		.http = http,
		.n_http = 2,
		.bounds_ns = { 5000000 },
		.n_bounds = 1,
		.size_bounds = { 64, 1024, 65536 },
		.n_size_bounds = 3,
		.scrape_duration_seconds = -1,
	};
	char *text = render(&snap, RENDER_TEXT_004), *got;

	(void)state;
	got = block(text, "# HELP http_server_request_body_size_bytes",
		    "# HELP http_server_response_body_size_bytes");
	expect_text("request sizes: whole bytes in le, cumulative, exact sum",
		    "# HELP http_server_request_body_size_bytes Body size of HTTP server requests "
		    "(Content-Length, chunk data or bytes until close).\n"
		    "# TYPE http_server_request_body_size_bytes histogram\n"
		    "http_server_request_body_size_bytes_bucket{" L_GET_USERS ",le=\"64\"} 1\n"
		    "http_server_request_body_size_bytes_bucket{" L_GET_USERS ",le=\"1024\"} 2\n"
		    "http_server_request_body_size_bytes_bucket{" L_GET_USERS ",le=\"65536\"} 2\n"
		    "http_server_request_body_size_bytes_bucket{" L_GET_USERS ",le=\"+Inf\"} 2\n"
		    "http_server_request_body_size_bytes_sum{" L_GET_USERS "} 1003\n"
		    "http_server_request_body_size_bytes_count{" L_GET_USERS "} 2\n",
		    got);
	free(got);
	got = block(text, "http_server_response_body_size_bytes_bucket{", "# HELP");
	expect_text("response sizes: the overflow slot feeds only +Inf",
		    "http_server_response_body_size_bytes_bucket{" L_GET_USERS ",le=\"64\"} 1\n"
		    "http_server_response_body_size_bytes_bucket{" L_GET_USERS ",le=\"1024\"} 1\n"
		    "http_server_response_body_size_bytes_bucket{" L_GET_USERS ",le=\"65536\"} 1\n"
		    "http_server_response_body_size_bytes_bucket{" L_GET_USERS ",le=\"+Inf\"} 2\n"
		    "http_server_response_body_size_bytes_sum{" L_GET_USERS "} 1048576\n"
		    "http_server_response_body_size_bytes_count{" L_GET_USERS "} 2\n",
		    got);
	free(got);
	/* The client series ended no response with a size yet: no client size families. */
	assert_null(strstr(text, "http_client_request_body_size_bytes"));
	free(text);
}

/* ---- Exact decimals, floats and escapes ---- */

/* One server series on route "/" with sum_ns = ns and a single bound at ns. */
static void test_seconds_are_exact_decimals_without_trailing_zeros(void **state)
{
	static const struct {
		uint64_t ns;
		const char *want;
	} t[] = {
		{ 0, "0" },
		{ 1, "0.000000001" },
		{ 10, "0.00000001" },
		{ 5000000, "0.005" },
		{ 100000000, "0.1" },
		{ 999999999, "0.999999999" },
		{ 1000000000, "1" },
		{ 1000000001, "1.000000001" },
		{ 2500000000ULL, "2.5" },
		{ 12345678901ULL, "12.345678901" },
		{ 86400000000000ULL, "86400" },
		{ UINT64_MAX, "18446744073.709551615" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(t); i++) {
		struct sockeye_http_series s = {
			.method = SOCKEYE_METHOD_GET, .status = 200, .server_port = 80,
			.route = "/", .count = 1, .sum_ns = t[i].ns, .buckets = { 1 },
		};
		struct sockeye_snapshot snap = {
			.http = &s, .n_http = 1, .bounds_ns = { t[i].ns }, .n_bounds = 1,
			.scrape_duration_seconds = -1,
		};
		char want_le[128], want_sum[256], name[64];
		char *got;

		snprintf(name, sizeof(name), "%" PRIu64 " ns", t[i].ns);
		snprintf(want_le, sizeof(want_le), "server_port=\"80\",le=\"%s\"} 1\n", t[i].want);
		snprintf(want_sum, sizeof(want_sum),
			 SRV "_sum{http_request_method=\"GET\",http_response_status_code=\"200\","
			     "http_route=\"/\",network_protocol_version=\"1.0\","
			     "server_port=\"80\"} %s\n",
			 t[i].want);
		got = render(&snap, RENDER_TEXT_004);
		if (!strstr(got, want_le) || !strstr(got, want_sum)) {
			print_error("# Case: %s\n# want le line ending: %s# want sum line: %s"
				    "# full output:\n%s",
				    name, want_le, want_sum, got);
			fail_msg("case \"%s\": seconds not rendered as %s", name, t[i].want);
		}
		free(got);
	}
}

/* Doubles (scrape time, process CPU and start time) use the shortest text that reads back. */
static void test_doubles_render_shortest_round_trip(void **state)
{
	static const struct {
		double v;
		const char *want;
	} t[] = {
		{ 0, "0" },
		{ 0.25, "0.25" },
		{ 0.00123, "0.00123" },
		{ 0.1, "0.1" },
		{ 1e-9, "1e-09" },
		{ 123456.789, "123456.789" },
		{ 1717171717.25, "1717171717.25" },
		{ 1e21, "1e+21" },
		{ INFINITY, "+Inf" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(t); i++) {
		struct sockeye_snapshot snap = { .scrape_duration_seconds = t[i].v };
		char want[128];
		char *got;

		snprintf(want, sizeof(want), "\nsockeye_scrape_duration_seconds %s\n", t[i].want);
		got = render(&snap, RENDER_TEXT_004);
		if (!strstr(got, want)) {
			print_error("# Case: %s\n# full output:\n%s", t[i].want, got);
			fail_msg("case \"%s\": scrape duration not rendered as such", t[i].want);
		}
		free(got);
	}
}

static void test_unknown_scrape_duration_is_omitted(void **state)
{
	static const double unknown[] = { -1, -0.5, NAN };
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(unknown); i++) {
		struct sockeye_snapshot snap = { .scrape_duration_seconds = unknown[i] };
		char *got = render(&snap, RENDER_TEXT_004);

		if (strstr(got, "scrape_duration")) {
			print_error("# Case: %g\n# full output:\n%s", unknown[i], got);
			fail_msg("case %g: scrape duration rendered", unknown[i]);
		}
		free(got);
	}
}

typedef void (*escape_fn)(struct sockeye_buf *out, const char *v);

static void expect_escapes(const char *what, escape_fn fn, const char *const (*t)[2], size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct sockeye_buf out;

		buf_init(&out);
		buf_puts(&out, "<");
		fn(&out, t[i][0]);
		buf_puts(&out, ">");
		assert_int_equal(out.err, 0);
		if (strcmp(out.data, t[i][1]) != 0) {
			print_error("# Case: %s #%zu\n# want: %s\n#  got: %s\n", what, i, t[i][1],
				    out.data);
			fail_msg("case \"%s #%zu\": wrong escaping", what, i);
		}
		buf_free(&out);
	}
}

static void test_label_value_escapes_quote_backslash_newline(void **state)
{
	static const char *const t[][2] = {
		{ "", "<>" },
		{ NULL, "<>" },
		{ "plain /users/{id}", "<plain /users/{id}>" },
		{ "\\", "<\\\\>" },
		{ "\"", "<\\\">" },
		{ "\n", "<\\n>" },
		{ "a\\\"\nb", "<a\\\\\\\"\\nb>" },
		{ "\\n", "<\\\\n>" },
		{ "tab\tcr\r", "<tab\tcr\r>" },
		{ "é ✓", "<é ✓>" },
	};

	(void)state;
	expect_escapes("label value", render_escape_label_value, t, ARRAY_SIZE(t));
}

/* Label values from /proc paths (a libssl under a directory named with any bytes) are not
 * always UTF-8; Prometheus refuses the whole scrape over one such value. Found by
 * tests/fuzz/fuzz_render.c. */
static void test_label_value_bytes_that_are_not_utf8_become_question_marks(void **state)
{
	static const char *const t[][2] = {
		/* '?' is written \? where two would make a trigraph. */
		{ "/tmp/\xff/libssl.so.3", "</tmp/?/libssl.so.3>" },
		{ "caf\xc3", "<caf?>" },		       /* truncated at the end */
		{ "\xc3(", "<?(>" },			       /* not a continuation byte */
		{ "\xc0\xaf", "<?\?>" },		       /* overlong '/' */
		{ "\xed\xa0\x80", "<?\?\?>" },	       /* UTF-16 surrogate */
		{ "\xf4\x90\x80\x80", "<?\?\?\?>" },       /* past U+10FFFF */
		{ "\xf0\x9f\x90\x9f \xe2\x82\xac", "<\xf0\x9f\x90\x9f \xe2\x82\xac>" },
		{ "\xff\"\\\n", "<?\\\"\\\\\\n>" }, /* and the escapes */
	};

	(void)state;
	expect_escapes("label value", render_escape_label_value, t, ARRAY_SIZE(t));
}

static void test_help_escapes_backslash_newline_only(void **state)
{
	static const char *const t[][2] = {
		{ "", "<>" },
		{ NULL, "<>" },
		{ "Duration of requests.", "<Duration of requests.>" },
		{ "\\", "<\\\\>" },
		{ "\n", "<\\n>" },
		{ "a \"quoted\" word", "<a \"quoted\" word>" },
		{ "C:\\x\nnext", "<C:\\\\x\\nnext>" },
		{ "tab\tcr\r", "<tab\tcr\r>" },
	};

	(void)state;
	expect_escapes("help", render_escape_help, t, ARRAY_SIZE(t));
}

/* ---- Robustness ---- */

/* Fixed-size name fields the collector filled to the brim carry no NUL: render stops at the
 * field's end instead of reading the next field. */
static void test_unterminated_names_stop_at_field_size(void **state)
{
	struct sockeye_http_series s = { .method = SOCKEYE_METHOD_GET, .count = 1 };
	struct sockeye_prog_stat prog = { .run_cnt = 1 };
	struct sockeye_map_stat map = { .entries = 1 };
	struct sockeye_snapshot snap = {
		.http = &s, .n_http = 1, .progs = &prog, .n_progs = 1, .maps = &map, .n_maps = 1,
		.scrape_duration_seconds = -1,
	};
	char route[SOCKEYE_ROUTE_LEN + 32], name[sizeof(prog.name) + 32];
	char *got;

	(void)state;
	memset(s.route, 'r', sizeof(s.route));
	memset(prog.name, 'p', sizeof(prog.name));
	memset(map.name, 'm', sizeof(map.name));
	got = render(&snap, RENDER_TEXT_004);

	snprintf(route, sizeof(route), "http_route=\"%.*s\",", (int)sizeof(s.route), s.route);
	assert_non_null(strstr(got, route));
	snprintf(name, sizeof(name), "{program=\"%.*s\"}", (int)sizeof(prog.name), prog.name);
	assert_non_null(strstr(got, name));
	snprintf(name, sizeof(name), "{map=\"%.*s\"}", (int)sizeof(map.name), map.name);
	assert_non_null(strstr(got, name));
	free(got);
}

static void realistic_snapshot(struct sockeye_snapshot *snap);

static void test_output_is_deterministic(void **state)
{
	struct sockeye_snapshot snap;
	char *a, *b;

	(void)state;
	realistic_snapshot(&snap);
	a = render(&snap, RENDER_OPENMETRICS);
	b = render(&snap, RENDER_OPENMETRICS);
	assert_string_equal(a, b);
	free(a);
	free(b);
}

static void test_buffer_error_is_returned(void **state)
{
	struct sockeye_snapshot snap = { .scrape_duration_seconds = -1 };
	struct sockeye_buf out;

	(void)state;
	buf_init(&out);
	out.err = -ENOMEM; /* as if an earlier append had failed */
	assert_int_equal(render_text(&snap, RENDER_TEXT_004, &out), -ENOMEM);
	assert_int_equal(out.len, 0);
	buf_free(&out);
}

static void test_unknown_format_is_einval(void **state)
{
	struct sockeye_snapshot snap = { .scrape_duration_seconds = -1 };
	struct sockeye_buf out;

	(void)state;
	buf_init(&out);
	assert_int_equal(render_text(&snap, (enum render_format)7, &out), -EINVAL);
	assert_int_equal(out.len, 0);
	buf_free(&out);
}

/* ---- Real parsers: promtool and prometheus_client ---- */

/* A scrape as a busy host would produce it: both roles, escapes, static labels, every family. */
static void realistic_snapshot(struct sockeye_snapshot *snap)
{
	/* Sorted as collect.c sorts: role, server_port, route, method, status, version, cgroup. */
	static struct sockeye_http_series http[] = {
		{ .role = SOCKEYE_ROLE_SERVER, .method = SOCKEYE_METHOD_OTHER,
		  .version = SOCKEYE_VERSION_1_0, .status = 400, .server_port = 8080,
		  .route = "/odd\\\"route\n", .count = 1, .sum_ns = 1, .buckets = { 1 } },
		{ GET_USERS, .cgroup_id = 7, .count = 120, .sum_ns = 3456789012ULL,
		  .buckets = { 80, 30, 6, 2, 1, 0, 1 } },
		{ GET_USERS, .cgroup_id = 9, .count = 3, .sum_ns = 15000000,
		  .buckets = { 3 } },
		{ .role = SOCKEYE_ROLE_SERVER, .method = SOCKEYE_METHOD_POST,
		  .version = SOCKEYE_VERSION_1_1, .status = 503, .server_port = 8443,
		  .route = "{other}", .count = 4, .sum_ns = 40000000000ULL,
		  .buckets = { [5] = 4 } },
		{ .role = SOCKEYE_ROLE_CLIENT, .method = SOCKEYE_METHOD_GET,
		  .version = SOCKEYE_VERSION_1_1, .status = 200, .server_port = 443,
		  .route = "/v1/items", .identity = &ID_SHOP, .count = 10,
		  .sum_ns = 2500000000ULL, .buckets = { 0, 5, 5 } },
	};
	static struct sockeye_service_process services[] = {
		{ &ID_PY, 12.5, 50331648 },
		{ &ID_SHOP, 0.75, 8388608 },
	};
	static struct sockeye_prog_stat progs[] = {
		{ "cgskb_ingress", 100000, 12345678, 41000 },
		{ "sockops_track", 2000, 999, 800 },
	};
	static struct sockeye_map_stat maps[] = {
		{ "http_dur", 5, 16384 },
		{ "http_routes", 3, 2048 },
	};
	static const struct sockeye_label labels[] = {
		{ "instance_host", "web-1" },
		{ "zone", "eu \"west\"\\1" },
	};

	memset(snap, 0, sizeof(*snap));
	snap->http = http;
	snap->n_http = ARRAY_SIZE(http);
	snap->n_bounds = 6;
	memcpy(snap->bounds_ns,
	       (uint64_t[]){ 5000000, 25000000, 100000000, 500000000, 2500000000ULL,
			     10000000000ULL },
	       6 * sizeof(uint64_t));
	snap->stats[SOCKEYE_STAT_RETRANSMIT] = 17;
	snap->stats[SOCKEYE_STAT_NOT_HTTP] = 2;
	snap->progs = progs;
	snap->n_progs = ARRAY_SIZE(progs);
	snap->maps = maps;
	snap->n_maps = ARRAY_SIZE(maps);
	snap->static_labels = labels;
	snap->n_static_labels = ARRAY_SIZE(labels);
	snap->version = "0.1.0";
	snap->revision = "0123456789ab";
	snap->scrape_duration_seconds = 0.0042;
	snap->process = (struct sockeye_process){
		.valid = 1, .cpu_seconds = 3.14, .start_time_seconds = 1717171717.53,
		.resident_bytes = 12345678, .virtual_bytes = 987654321, .open_fds = 23,
		.max_fds = 1048576,
	};
	snap->services = services;
	snap->n_services = ARRAY_SIZE(services);
	snap->id_cache_valid = 1;
	snap->id_cache_entries[SOCKEYE_ID_CACHE_SERIES] = 4;
	snap->id_cache_evictions[SOCKEYE_ID_CACHE_PROCESS] = 2;
}

static char *write_temp(const char *text, const char *suffix)
{
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	size_t len = strlen(text);
	char *path;
	int fd;

	assert_true(asprintf(&path, "%s/test_render.XXXXXX%s", dir, suffix) > 0);
	fd = mkstemps(path, (int)strlen(suffix));
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	return path;
}

/* Runs cmd with stdout and stderr captured; returns the exit status, or -1 if it died. */
static int run(const char *cmd, char *output, size_t size)
{
	size_t n = 0;
	FILE *p;
	int st;

	p = popen(cmd, "r");
	assert_non_null(p);
	while (n + 1 < size && fgets(output + n, (int)(size - n), p))
		n += strlen(output + n);
	output[n] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* promtool 2.x "check metrics" parses text 0.0.4 only (expfmt.FmtText). Fed OpenMetrics, it
 * reads "# TYPE x counter" and the sample "x_total" as two families and lints "x_total no help
 * text"; it exits 3 for lint, 1 for a parse error. For OpenMetrics we therefore accept exit 3
 * when every line of output is exactly that lint for a counter family we declared. */
static int only_om_counter_lint(const char *lint, const char *om)
{
	const char *line = lint, *end;

	for (; *line; line = *end ? end + 1 : end) {
		const char *suffix = "_total no help text";
		char want[256];
		size_t n;

		end = line + strcspn(line, "\n");
		n = (size_t)(end - line);
		if (n <= strlen(suffix) || strncmp(end - strlen(suffix), suffix, strlen(suffix)))
			return 0;
		snprintf(want, sizeof(want), "# TYPE %.*s counter\n", (int)(n - strlen(suffix)),
			 line);
		if (!strstr(om, want))
			return 0;
	}
	return 1;
}

/* Run as python3 -c '...' FILE text|om; prints what it parsed, raises on anything invalid. */
#define PY_CHECK                                                                                  \
	"import sys\n"                                                                            \
	"from prometheus_client.parser import text_string_to_metric_families as text\n"           \
	"from prometheus_client.openmetrics.parser import text_string_to_metric_families as om\n" \
	"parse = om if sys.argv[2] == \"om\" else text\n"                                         \
	"families = list(parse(open(sys.argv[1]).read()))\n"                                      \
	"print(\"families=%d samples=%d\" % (len(families), sum(len(f.samples) for f in families)))"

static void test_realistic_exposition_passes_promtool_and_prometheus_client(void **state)
{
	struct sockeye_snapshot snap;
	char *text, *om, *text_path, *om_path, *cmd;
	char out[8192];
	int rc;

	(void)state;
	realistic_snapshot(&snap);
	text = render(&snap, RENDER_TEXT_004);
	om = render(&snap, RENDER_OPENMETRICS);
	text_path = write_temp(text, ".prom");
	om_path = write_temp(om, ".om");

	/* Text 0.0.4: no parse error and no lint at all. */
	assert_true(asprintf(&cmd, PROMTOOL " check metrics < %s 2>&1", text_path) > 0);
	rc = run(cmd, out, sizeof(out));
	free(cmd);
	if (rc != 0 || out[0]) {
		print_error("# Case: promtool, text 0.0.4 (%s)\n# exit %d, output:\n%s", text_path,
			    rc, out);
		fail_msg("promtool check metrics rejected the text exposition");
	}

	assert_true(asprintf(&cmd, PROMTOOL " check metrics < %s 2>&1", om_path) > 0);
	rc = run(cmd, out, sizeof(out));
	free(cmd);
	if (!(rc == 0 && !out[0]) && !(rc == 3 && only_om_counter_lint(out, om))) {
		print_error("# Case: promtool, OpenMetrics (%s)\n# exit %d, output:\n%s", om_path,
			    rc, out);
		fail_msg("promtool check metrics rejected the OpenMetrics exposition");
	}

	/* 20 families: 2 HTTP, build_info, events, 3 prog, 2 map, scrape, 6 process and more
	 * of the realistic snapshot. Samples: 3 server series (GET of cgroups 7 and 9 merged)
	 * and 1 client series of 6 + 3 lines each, 1 build_info, one per event, 6 prog, 4 map,
	 * 1 scrape, 6 process and the rest. */
	char want[64];

	snprintf(want, sizeof(want), "families=20 samples=%d\n", 64 + SOCKEYE_STAT_MAX);
	assert_true(asprintf(&cmd, "%s -c '%s' %s text 2>&1", SYSTEM_PYTHON, PY_CHECK,
			     text_path) > 0);
	rc = run(cmd, out, sizeof(out));
	free(cmd);
	if (rc != 0 || strcmp(out, want) != 0) {
		print_error("# Case: prometheus_client.parser (%s)\n# exit %d, output:\n%s",
			    text_path, rc, out);
		fail_msg("prometheus_client rejected the text exposition");
	}

	assert_true(asprintf(&cmd, "%s -c '%s' %s om 2>&1", SYSTEM_PYTHON, PY_CHECK,
			     om_path) > 0);
	rc = run(cmd, out, sizeof(out));
	free(cmd);
	if (rc != 0 || strcmp(out, want) != 0) {
		print_error("# Case: prometheus_client.openmetrics.parser (%s)\n# exit %d, "
			    "output:\n%s",
			    om_path, rc, out);
		fail_msg("prometheus_client rejected the OpenMetrics exposition");
	}

	unlink(text_path);
	unlink(om_path);
	free(text_path);
	free(om_path);
	free(text);
	free(om);
}

/* ---- TLS families ---- */

#define TLS_PROBE_HELP_TEXT                                                                       \
	"# HELP sockeye_tls_probe_mode OpenSSL libraries probed for HTTPS, by where: "            \
	"mode=\"internal\" (internal read/write functions) or mode=\"public\" (SSL_read/SSL_write, " \
	"a single-stepped breakpoint per call).\n"
#define TLS_PROBE_HELP_OM                                                                         \
	"# HELP sockeye_tls_probe_mode OpenSSL libraries probed for HTTPS, by where: "            \
	"mode=\\\"internal\\\" (internal read/write functions) or mode=\\\"public\\\" "           \
	"(SSL_read/SSL_write, a single-stepped breakpoint per call).\n"
#define TLS_PROBES                                                                                \
	"# TYPE sockeye_tls_probe_mode gauge\n"                                                   \
	"sockeye_tls_probe_mode{library=\"/usr/lib/x86_64-linux-gnu/libssl.so.3\","               \
	"mode=\"internal\"} 1\n"                                                                  \
	"sockeye_tls_probe_mode{library=\"/srv/a \\\"b\\\"\\\\c/libssl.so.3 (deleted)\","         \
	"mode=\"public\"} 1\n"
#define TLS_LOOKUP                                                                                \
	"# HELP sockeye_tls_socket_bio_lookup 1 when the probes of an OpenSSL library find an SSL " \
	"object's socket through its socket BIO's descriptor (offsets derived from the library), " \
	"0 when only by the socket I/O of its write calls.\n"                                     \
	"# TYPE sockeye_tls_socket_bio_lookup gauge\n"                                            \
	"sockeye_tls_socket_bio_lookup{library=\"/usr/lib/x86_64-linux-gnu/libssl.so.3\"} 1\n"     \
	"sockeye_tls_socket_bio_lookup{library=\"/srv/a \\\"b\\\"\\\\c/libssl.so.3 (deleted)\"} 0\n"
#define TLS_EVENTS(family)                                                                        \
	"# HELP sockeye_" family " TLS connections and calls the OpenSSL probes skipped or "      \
	"reset, by event.\n"                                                                      \
	"# TYPE sockeye_" family " counter\n"                                                     \
	"sockeye_tls_events_total{event=\"unattributed\"} 3\n"                                    \
	"sockeye_tls_events_total{event=\"socket_changed\"} 1\n"                                  \
	"sockeye_tls_events_total{event=\"state_fail\"} 0\n"
#define TLS_HITS(family)                                                                          \
	"# HELP sockeye_" family " Hits of the OpenSSL uprobes (each a breakpoint in the calling " \
	"process), by library and probe.\n"                                                       \
	"# TYPE sockeye_" family " counter\n"                                                     \
	"sockeye_tls_probe_hits_total{library=\"/usr/lib/x86_64-linux-gnu/libssl.so.3\","          \
	"probe=\"read\"} 30\n"                                                                     \
	"sockeye_tls_probe_hits_total{library=\"/usr/lib/x86_64-linux-gnu/libssl.so.3\","          \
	"probe=\"read_return\"} 29\n"                                                              \
	"sockeye_tls_probe_hits_total{library=\"/usr/lib/x86_64-linux-gnu/libssl.so.3\","          \
	"probe=\"write\"} 20\n"                                                                    \
	"sockeye_tls_probe_hits_total{library=\"/usr/lib/x86_64-linux-gnu/libssl.so.3\","          \
	"probe=\"write_return\"} 19\n"                                                             \
	"sockeye_tls_probe_hits_total{library=\"/usr/lib/x86_64-linux-gnu/libssl.so.3\","          \
	"probe=\"free\"} 18446744073709551615\n"                                                   \
	"sockeye_tls_probe_hits_total{library=\"/srv/a \\\"b\\\"\\\\c/libssl.so.3 (deleted)\","   \
	"probe=\"read\"} 0\n"                                                                      \
	"sockeye_tls_probe_hits_total{library=\"/srv/a \\\"b\\\"\\\\c/libssl.so.3 (deleted)\","   \
	"probe=\"read_return\"} 0\n"                                                               \
	"sockeye_tls_probe_hits_total{library=\"/srv/a \\\"b\\\"\\\\c/libssl.so.3 (deleted)\","   \
	"probe=\"write\"} 0\n"                                                                     \
	"sockeye_tls_probe_hits_total{library=\"/srv/a \\\"b\\\"\\\\c/libssl.so.3 (deleted)\","   \
	"probe=\"write_return\"} 0\n"                                                              \
	"sockeye_tls_probe_hits_total{library=\"/srv/a \\\"b\\\"\\\\c/libssl.so.3 (deleted)\","   \
	"probe=\"free\"} 7\n"
#define TLS_ATTR_HELP_TEXT                                                                        \
	"# HELP sockeye_tls_attributions_total TLS connections that learned their socket, by "    \
	"library and how: method=\"socket_bio\" (the descriptor of the SSL object's socket BIO) " \
	"or method=\"io_scan\" (the one TCP socket of the process a call moved).\n"
#define TLS_ATTR_HELP_OM                                                                          \
	"# HELP sockeye_tls_attributions TLS connections that learned their socket, by library "  \
	"and how: method=\\\"socket_bio\\\" (the descriptor of the SSL object's socket BIO) or "    \
	"method=\\\"io_scan\\\" (the one TCP socket of the process a call moved).\n"
#define TLS_ATTR(family)                                                                          \
	"# TYPE sockeye_" family " counter\n"                                                     \
	"sockeye_tls_attributions_total{library=\"/usr/lib/x86_64-linux-gnu/libssl.so.3\","                                                                                 \
	"method=\"socket_bio\"} 7\n"                                                               \
	"sockeye_tls_attributions_total{library=\"/usr/lib/x86_64-linux-gnu/libssl.so.3\","                                                                                 \
	"method=\"io_scan\"} 0\n"                                                                  \
	"sockeye_tls_attributions_total{library=\"/srv/a \\\"b\\\"\\\\c/libssl.so.3 (deleted)\","                                                                                 \
	"method=\"socket_bio\"} 0\n"                                                               \
	"sockeye_tls_attributions_total{library=\"/srv/a \\\"b\\\"\\\\c/libssl.so.3 (deleted)\","                                                                                 \
	"method=\"io_scan\"} 2\n"
#define TLS_COUNTERS_TEXT                                                                         \
	TLS_EVENTS("tls_events_total") TLS_ATTR_HELP_TEXT TLS_ATTR("tls_attributions_total")
#define TLS_COUNTERS_OM TLS_EVENTS("tls_events") TLS_ATTR_HELP_OM TLS_ATTR("tls_attributions")

static void tls_snapshot(struct sockeye_snapshot *snap, struct sockeye_tls_library *libs,
			 size_t n)
{
	memset(snap, 0, sizeof(*snap));
	snap->version = "1.2.3";
	snap->revision = "abc123";
	snap->scrape_duration_seconds = -1;
	snap->tls_valid = 1;
	snap->tls_libs = libs;
	snap->n_tls_libs = n;
	snap->tls_stats[SOCKEYE_TLS_STAT_UNATTRIBUTED] = 3;
	snap->tls_stats[SOCKEYE_TLS_STAT_SOCKET_CHANGED] = 1;
}

static void test_tls_families_list_each_library_every_event_probe_and_method(void **state)
{
	struct sockeye_tls_library libs[] = {
		{ .library = "/usr/lib/x86_64-linux-gnu/libssl.so.3",
		  .mode = SOCKEYE_TLS_MODE_INTERNAL,
		  .fd_lookup = 1,
		  .hits = { 30, 29, 20, 19, UINT64_MAX },
		  .attr = { [SOCKEYE_TLS_ATTR_SOCKET_BIO] = 7 } },
		{ .library = "/srv/a \"b\"\\c/libssl.so.3 (deleted)",
		  .mode = SOCKEYE_TLS_MODE_PUBLIC,
		  .hits = { [SOCKEYE_TLS_PROBE_FREE] = 7 },
		  .attr = { [SOCKEYE_TLS_ATTR_IO_SCAN] = 2 } },
	};
	struct sockeye_snapshot snap;
	char *text;

	(void)state;
	tls_snapshot(&snap, libs, ARRAY_SIZE(libs));
	text = render(&snap, RENDER_TEXT_004);
	expect_text("tls families, text 0.0.4",
		    HTTP_EMPTY BUILD_INFO("sockeye_", "1.2.3", "abc123", "")
			    EVENTS_ZERO("sockeye_", "parser_events_total", "") TLS_PROBE_HELP_TEXT
				    TLS_PROBES TLS_LOOKUP TLS_HITS("tls_probe_hits_total")
					    TLS_COUNTERS_TEXT,
		    text);
	free(text);
	text = render(&snap, RENDER_OPENMETRICS);
	expect_text("tls families, OpenMetrics",
		    HTTP_EMPTY BUILD_INFO("sockeye_", "1.2.3", "abc123", "")
			    EVENTS_ZERO("sockeye_", "parser_events", "") TLS_PROBE_HELP_OM
				    TLS_PROBES TLS_LOOKUP TLS_HITS("tls_probe_hits")
					    TLS_COUNTERS_OM "# EOF\n",
		    text);
	free(text);

	/* No library attached yet: the events only. TLS disabled: nothing. */
	tls_snapshot(&snap, NULL, 0);
	text = render(&snap, RENDER_TEXT_004);
	expect_text("tls without libraries",
		    HTTP_EMPTY BUILD_INFO("sockeye_", "1.2.3", "abc123", "")
			    EVENTS_ZERO("sockeye_", "parser_events_total", "")
				    TLS_EVENTS("tls_events_total"),
		    text);
	free(text);
	snap.tls_valid = 0;
	text = render(&snap, RENDER_TEXT_004);
	expect_text("tls disabled",
		    HTTP_EMPTY BUILD_INFO("sockeye_", "1.2.3", "abc123", "")
			    EVENTS_ZERO("sockeye_", "parser_events_total", ""),
		    text);
	free(text);
}

int main(void)
{
	struct CMUnitTest case_tests[ARRAY_SIZE(cases)];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seconds_are_exact_decimals_without_trailing_zeros),
		cmocka_unit_test(test_doubles_render_shortest_round_trip),
		cmocka_unit_test(test_unknown_scrape_duration_is_omitted),
		cmocka_unit_test(test_label_value_escapes_quote_backslash_newline),
		cmocka_unit_test(test_label_value_bytes_that_are_not_utf8_become_question_marks),
		cmocka_unit_test(test_help_escapes_backslash_newline_only),
		cmocka_unit_test(test_unterminated_names_stop_at_field_size),
		cmocka_unit_test(test_output_is_deterministic),
		cmocka_unit_test(test_buffer_error_is_returned),
		cmocka_unit_test(test_unknown_format_is_einval),
		cmocka_unit_test(test_connection_and_in_flight_families_render_exactly),
		cmocka_unit_test(test_body_size_families_render_exactly),
		cmocka_unit_test(test_tls_families_list_each_library_every_event_probe_and_method),
		cmocka_unit_test(test_realistic_exposition_passes_promtool_and_prometheus_client),
	};
	size_t i;
	int failed;

	for (i = 0; i < ARRAY_SIZE(cases); i++)
		case_tests[i] = (struct CMUnitTest){
			.name = cases[i].name,
			.test_func = test_case,
			.initial_state = (void *)&cases[i],
		};
	failed = cmocka_run_group_tests_name("render cases", case_tests, NULL, NULL);
	failed += cmocka_run_group_tests_name("render", tests, NULL, NULL);
	return failed ? 1 : 0;
}
