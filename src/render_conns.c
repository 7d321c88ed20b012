// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* render_conns.c - the TCP connection family group -> http_{server,client}_active_requests and
 * sockeye_tcp_*; pure: no syscalls or globals. */
#include <stdint.h>

#include "render_group.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

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

/* A connection group's labels: direction, server_port (and identity). */
static const struct sockeye_label *conn_labels(struct expo_labels *lb,
					       const struct sockeye_conn_series *s,
					       char port[EXPO_NUMBER_LEN])
{
	const struct sockeye_label own[] = {
		{"direction", direction_names[s->side < SOCKEYE_ROLE_MAX ? s->side : 0]},
		{"server_port", expo_u64(port, s->server_port)},
	};

	return expo_with_identity(lb, own, ARRAY_SIZE(own), s->identity);
}

static void put_conn_family(const struct render_ctx *c, enum conn_field f)
{
	const struct sockeye_snapshot *snap = c->snap;
	char port[EXPO_NUMBER_LEN], value[EXPO_NUMBER_LEN];
	struct expo_labels lb;
	size_t i;

	expo_header(&c->w, c->self_prefix, conn_families[f].name, conn_families[f].type,
		     conn_families[f].help);
	for (i = 0; i < snap->n_conns; i++) {
		const struct sockeye_conn_series *s = &snap->conns[i];
		const struct sockeye_label *labels;

		if (!s->v.opened)
			continue; /* an HTTP-only group (e.g. TLS): no TCP counts of its own */
		labels = conn_labels(&lb, s, port);
		expo_sample(&c->w, c->self_prefix, conn_families[f].name,
			     conn_families[f].type == METRIC_COUNTER ? "_total" : "", labels, lb.n,
			     NULL, expo_u64(value, conn_field_value(s, f)));
	}
}

static void put_conn_rtt(const struct render_ctx *c)
{
	const struct sockeye_snapshot *snap = c->snap;
	size_t n_bounds = snap->n_rtt_bounds;

	if (n_bounds > SOCKEYE_RTT_BOUNDS)
		n_bounds = SOCKEYE_RTT_BOUNDS;
	expo_header(&c->w, c->self_prefix, "tcp_rtt_seconds", METRIC_HISTOGRAM,
		     "Smoothed round-trip time of TCP connections when they closed.");
	for (size_t i = 0; i < snap->n_conns; i++) {
		const struct sockeye_conn_series *s = &snap->conns[i];
		const struct expo_histogram h = {
			.bounds = snap->rtt_bounds_us,
			.n_bounds = n_bounds,
			.buckets = s->v.rtt_buckets,
			.sum = s->v.rtt_sum_us,
			.unit = EXPO_UNIT_US,
		};
		char port[EXPO_NUMBER_LEN];
		const struct sockeye_label *labels;
		struct expo_labels lb;

		if (!s->v.opened)
			continue;
		labels = conn_labels(&lb, s, port);
		expo_histogram(&c->w, c->self_prefix, "tcp_rtt_seconds", labels, lb.n, &h);
	}
}

/* http_{server,client}_active_requests: started minus ended, per method; a method with no
 * request ever is not shown. */
static void put_active_requests(const struct render_ctx *c, enum sockeye_role role,
				const char *family, const char *help)
{
	const struct sockeye_snapshot *snap = c->snap;
	char port[EXPO_NUMBER_LEN], value[EXPO_NUMBER_LEN];
	size_t i;
	unsigned int m;

	expo_header(&c->w, "", family, METRIC_GAUGE, help);
	for (i = 0; i < snap->n_conns; i++) {
		const struct sockeye_conn_series *s = &snap->conns[i];

		if (s->side != role)
			continue;
		for (m = 0; m < SOCKEYE_METHOD_MAX; m++) {
			const struct sockeye_label own[] = {
				{"http_request_method", render_method_name(m)},
				{"server_port", expo_u64(port, s->server_port)},
			};
			struct expo_labels lb;
			const struct sockeye_label *labels =
				expo_with_identity(&lb, own, ARRAY_SIZE(own), s->identity);
			uint64_t st = s->v.req_started[m], en = s->v.req_ended[m];

			if (!st)
				continue;
			expo_sample(&c->w, "", family, "", labels, lb.n, NULL,
				    expo_u64(value, st > en ? st - en : 0));
		}
	}
}

/* Omitted until a connection was seen (the agent's own scrapes make one soon after start). */
void render_conns(const struct render_ctx *c)
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
