// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* fuzz_http_parser.c - libFuzzer target: the kernel's HTTP/1.x parser (bpf/http.bpf.h, compiled
 * as C) driven over both directions of one connection the way bpf/http_pair.bpf.h drives it:
 * segments scanned in SOCKEYE_SCAN_WINDOW windows by http_scan_window, at most
 * SOCKEYE_SCAN_WINDOWS windows and SCAN_STEPS loop steps per segment, bodies skipped, requests
 * queued in a SOCKEYE_PIPELINE_DEPTH FIFO until their responses, gaps, resynchronisation.
 *
 * Every input runs twice: once with http_scan_window (word fast paths, as the kernel), once
 * with the same driver making one http_step per unit. The two event logs must be identical.
 * Invariants checked on every event: the parser state is a valid enum, a route is
 * NUL-terminated, printable and zero-filled, responses never pair with more requests than were
 * seen, requests in flight equal the FIFO's occupancy, and closing the connection brings
 * in-flight back to 0. Bytes of a window past what was loaded are poisoned for ASan, so a read
 * beyond them is reported.
 *
 * Routes: with the first byte's low two bits non-zero, the path is also matched against
 * http.routes patterns (a trie built by src/routes.c, walked through tests/unit/route_maps.h as
 * tests/unit/test_routes.c does), the unmatched mode chosen by bits 2-3; a request's route is
 * then the pattern's name, IGNORED (not counted, not in flight), or the normalised path.
 *
 * Input: the mode byte, then a sequence of records, each starting with a byte h. Bit 7 of h is
 * the direction (0: requests, 1: responses), L = h & 0x7f:
 *   1..125  a segment of the next L bytes
 *   126     a long segment: next byte k, then a 16-byte pattern repeated to (k + 1) * 64 bytes
 *   127     a gap of (next byte + 1) bytes never seen (lost or reordered before the hook)
 *   0       the connection closes; a new one starts
 */
#include <linux/types.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sanitizer/asan_interface.h>

#include "fuzz.h"
#include "sockeye.h"

/* What the kernel's route maps would answer (route_cfg, route_trie, route_values). */
#define ROUTE_MAPS_LEARN_MAX 64
#include "../unit/route_maps.h"
#include "http.bpf.h"
#include "routes.h"

/* Sync note: SCAN_STEPS in bpf/http_pair.bpf.h (the bpf_loop bound of one segment's scan). */
#define SCAN_STEPS (SOCKEYE_SCAN_WINDOWS * SOCKEYE_SCAN_WINDOW + 256)
#define DEPTH SOCKEYE_PIPELINE_DEPTH
#define LONG_MAX_LEN (256 * 64)

/* ---- Routes: patterns of every shape, in a trie built once ----------------------------- */

static const char *const patterns[] = {
	"/users/{id}", "/users/{id}/orders/{order}", "/api/v1/{kind}/items", "/static/*",
	"/files/{path...}", "/a/b/c/d/e/f/g/h", "/{tenant}/dashboard", "/",
};
static const char *const ignored[] = {"/healthz", "/metrics", "/internal/*"};
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++)
		CHECK(!routes_check_pattern(patterns[i], &(size_t){0}), "pattern %s", patterns[i]);
	CHECK(routes_build(patterns, sizeof(patterns) / sizeof(patterns[0]), ignored,
			   sizeof(ignored) / sizeof(ignored[0]), 0, &route_maps.trie) == 0,
	      "routes_build failed");
	return 0;
}

/* The route configuration of one input (its mode byte); the learning tables start empty. */
static void set_routes(uint8_t mode)
{
	memset(&route_maps.cfg, 0, sizeof(route_maps.cfg));
	route_maps.n_learnt = 0;
	if (!(mode & 3))
		return; /* root.flags 0: no pattern, the heuristic */
	route_maps.cfg.root = route_maps.trie.root;
	route_maps.cfg.unmatched = (mode >> 2) % SOCKEYE_UNMATCHED_MAX;
	route_maps.cfg.max_segment_values = 1 + (mode >> 4);
}

/* The name of a matched pattern, "IGNORED", or NULL when match_id names nothing. */
static const char *pattern_name(__u64 id)
{
	if (id == SOCKEYE_ROUTE_IGNORE)
		return "IGNORED";
	for (size_t i = 0; i < route_maps.trie.n_names; i++)
		if (route_maps.trie.names[i].route_id == id)
			return route_maps.trie.names[i].text;
	return NULL;
}

/* Why a parser lost its stream (http_pair.bpf.h enum lost_why). */
enum { LOST_PARSE, LOST_GAP, LOST_TOO_LONG };

struct pending {
	__u64 start;
	__u64 req_body;
	__u8 method, version;
	__u16 status;
	int ignored; /* route_id SOCKEYE_ROUTE_IGNORE: framed, never counted nor in flight */
	char route[SOCKEYE_ROUTE_LEN];
};

/* What the driver keeps per socket, and what it would have counted. */
struct conn {
	int ignore; /* KIND_IGNORE: never HTTP/1.x */
	struct http_parser req, resp;
	struct route_state route __attribute__((aligned(8)));
	struct pending fifo[DEPTH], cur;
	__u8 head, tail, req_entry, cur_valid;
	__u64 started, ended, requests, paired;
	int byte_mode;
	char *log;
	size_t log_len, log_cap;
};

struct seg {
	const char *buf;
	__u32 off, pos, end, win_base, windows;
	int req_dir;
	__u64 now;
	struct http_window win __attribute__((aligned(8)));
};

static void logline(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logline(struct conn *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		if (c->log) {
			size_t room = c->log_cap - c->log_len;

			va_start(ap, fmt);
			n = vsnprintf(c->log + c->log_len, room, fmt, ap);
			va_end(ap);
			if (n >= 0 && (size_t)n < room) {
				c->log_len += (size_t)n;
				return;
			}
		}
		c->log_cap = c->log_cap ? c->log_cap * 2 : 4096;
		c->log = realloc(c->log, c->log_cap);
		CHECK(c->log, "out of memory");
	}
}

static void check_parser(const struct http_parser *p)
{
	CHECK(p->state <= HP_ERROR, "state %u is not an enum http_pstate", p->state);
	CHECK(p->ended <= 1, "ended %u", p->ended);
}

/* A finished route: printable bytes, a NUL, zeros to the end (the route table hashes all 64). */
static void check_route(const struct route_state *r)
{
	size_t n = strnlen(r->out, sizeof(r->out));

	CHECK(n < sizeof(r->out), "route not NUL-terminated");
	CHECK(n > 0, "empty route");
	for (size_t i = 0; i < n; i++)
		CHECK(r->out[i] >= 0x21 && r->out[i] <= 0x7e, "route byte %zu is 0x%02x", i,
		      (unsigned char)r->out[i]);
	for (size_t i = n; i < sizeof(r->out); i++)
		CHECK(r->out[i] == 0, "route byte %zu after the NUL is 0x%02x", i,
		      (unsigned char)r->out[i]);
	CHECK(route_hash(r) != SOCKEYE_ROUTE_OTHER, "route hash is the {other} id");
}

static void check_conn(const struct conn *c)
{
	__u8 queued = (__u8)(c->tail - c->head), counted = 0;

	for (__u8 i = c->head; i != c->tail; i++)
		counted += !c->fifo[i & (DEPTH - 1)].ignored;
	check_parser(&c->req);
	check_parser(&c->resp);
	CHECK(queued <= DEPTH, "FIFO holds %u", queued);
	CHECK(c->started - c->ended == counted, "in flight %llu, FIFO %u (%u counted)",
	      (unsigned long long)(c->started - c->ended), queued, counted);
	CHECK(c->paired <= c->requests, "%llu responses paired with %llu requests",
	      (unsigned long long)c->paired, (unsigned long long)c->requests);
	CHECK(c->route.pos < SOCKEYE_ROUTE_LEN, "route pos %u", c->route.pos);
}

static void fifo_abandon(struct conn *c)
{
	while (c->head != c->tail) {
		c->ended += !c->fifo[c->head & (DEPTH - 1)].ignored;
		c->head++;
	}
}

static void on_request(struct conn *c)
{
	const char *route = c->route.out;
	struct pending *e;

	/* The literal route is complete even when a pattern matched (the route table's key). */
	check_route(&c->route);
	if (c->route.match_id) {
		route = pattern_name(c->route.match_id);
		CHECK(route, "match_id %llx names no pattern",
		      (unsigned long long)c->route.match_id);
	}
	CHECK(c->req.method < SOCKEYE_METHOD_MAX, "method %u", c->req.method);
	CHECK(c->req.version < SOCKEYE_VERSION_MAX, "version %u", c->req.version);
	c->requests++;
	logline(c, "request %u %u %s start=%llu\n", c->req.method, c->req.version, route,
	     (unsigned long long)c->req.msg_start_ns);
	if ((__u8)(c->tail - c->head) >= DEPTH) {
		logline(c, "pipeline_full\n");
		c->req_entry = 0;
		return;
	}
	e = &c->fifo[c->tail & (DEPTH - 1)];
	memset(e, 0, sizeof(*e));
	e->start = c->req.msg_start_ns;
	e->method = c->req.method;
	e->version = c->req.version;
	e->ignored = c->route.match_id == SOCKEYE_ROUTE_IGNORE;
	snprintf(e->route, sizeof(e->route), "%s", route);
	c->req_entry = (c->tail & (DEPTH - 1)) + 1;
	c->tail++;
	c->started += !e->ignored;
}

static void on_response(struct conn *c, __u64 now)
{
	struct http_parser *p = &c->resp;
	struct pending *e;

	CHECK(p->status <= 999, "status %u", p->status);
	CHECK(p->version < SOCKEYE_VERSION_MAX, "version %u", p->version);
	logline(c, "response %u %u start=%llu\n", p->status, p->version,
	     (unsigned long long)p->msg_start_ns);
	if (p->status < 200 && p->status != 101)
		return;
	if (c->head == c->tail) {
		logline(c, "unmatched_response\n");
		return;
	}
	e = &c->fifo[c->head & (DEPTH - 1)];
	if (c->req_entry == (c->head & (DEPTH - 1)) + 1)
		c->req_entry = 0;
	c->head++;
	c->ended += !e->ignored;
	c->paired++;
	c->cur = *e;
	c->cur.status = p->status;
	c->cur_valid = !e->ignored;
	if (!e->ignored)
		logline(c, "paired %u %s %u duration=%llu\n", e->method, e->route, p->status,
		     (unsigned long long)(now > e->start ? now - e->start : 0));
	if (e->method == SOCKEYE_METHOD_HEAD)
		p->flags |= HPF_NO_BODY;
	if (p->status == 101 ||
	    (e->method == SOCKEYE_METHOD_CONNECT && p->status >= 200 && p->status < 300)) {
		p->flags |= HPF_TUNNEL;
		c->req.state = HP_CLOSED;
	}
}

static void on_error(struct conn *c, struct http_parser *p, int why)
{
	if (why == LOST_PARSE && c->req.messages == 0 && c->resp.messages == 0) {
		c->ignore = 1;
		logline(c, "not_http\n");
		return;
	}
	logline(c, "desync %d\n", why);
	p->state = HP_ERROR;
	if (why != LOST_TOO_LONG)
		fifo_abandon(c);
}

static void on_end(struct conn *c, struct seg *s)
{
	struct http_parser *p = s->req_dir ? &c->req : &c->resp;

	p->ended = 0;
	if (s->req_dir) {
		if (c->req_entry) {
			c->fifo[(c->req_entry - 1) & (DEPTH - 1)].req_body = p->body_size;
			c->req_entry = 0;
		}
	} else if (c->cur_valid) {
		c->cur_valid = 0;
		logline(c, "sizes %llu %llu\n", (unsigned long long)c->cur.req_body,
		     (unsigned long long)p->body_size);
	}
}

/* http_scan_window with a byte step in every unit: the reference the fast paths must match. */
static void byte_scan_window(struct http_parser *p, struct route_state *r, struct http_window *w,
			     __u64 now)
{
	w->ev = HE_NONE;
	for (__u32 u = 0; u < HTTP_SCAN_UNITS; u++) {
		__u32 i = w->i;
		__u8 s = p->state;

		if (i >= w->n || p->ended || http_is_skip_state(s) || s == HP_CLOSED ||
		    s == HP_ERROR)
			return;
		w->ev = http_step(p, r, w->buf[i & HTTP_WIN_MASK], now);
		w->i = i + 1;
		if (w->ev != HE_NONE)
			return;
	}
}

/* http_pair.bpf.h scan_step. Returns 1 when the scan of the segment stops. */
static int scan_step(struct conn *c, struct seg *s)
{
	struct http_parser *p = s->req_dir ? &c->req : &c->resp;
	struct route_state *r = s->req_dir ? &c->route : NULL;
	__u32 pos = s->pos, end = s->end, before;
	int ev;

	if (p->ended)
		on_end(c, s);
	if (pos >= end || p->state == HP_CLOSED)
		return 1;
	if (p->state == HP_ERROR) {
		if (pos != s->off || s->buf[pos] < 'A' || s->buf[pos] > 'Z')
			return 1;
		p->state = HP_START;
	}
	if (http_is_skip_state(p->state)) {
		__u64 n = http_skip(p, end - pos);

		CHECK(n <= end - pos, "skipped %llu of %u", (unsigned long long)n, end - pos);
		CHECK(n > 0 || p->state != HP_BODY, "a skip made no progress");
		s->pos = pos + (__u32)n;
		return 0;
	}
	if (pos - s->win_base >= s->win.n) {
		__u32 len = end - pos;

		if (s->windows >= SOCKEYE_SCAN_WINDOWS) {
			logline(c, "header_too_long\n");
			on_error(c, p, LOST_TOO_LONG);
			return 1;
		}
		if (len > SOCKEYE_SCAN_WINDOW)
			len = SOCKEYE_SCAN_WINDOW;
		ASAN_UNPOISON_MEMORY_REGION(s->win.buf, sizeof(s->win.buf));
		memcpy(s->win.buf, s->buf + pos, len);
		ASAN_POISON_MEMORY_REGION(s->win.buf + len, sizeof(s->win.buf) - len);
		s->win_base = pos;
		s->win.n = len;
		s->windows++;
	}
	s->win.i = pos - s->win_base;
	before = s->win.i;
	if (c->byte_mode)
		byte_scan_window(p, r, &s->win, s->now);
	else
		http_scan_window(p, r, &s->win, s->now);
	CHECK(s->win.i <= s->win.n, "scan went past the window: %u of %u", s->win.i, s->win.n);
	CHECK(s->win.i > before || s->win.ev != HE_NONE || p->ended ||
		      http_is_skip_state(p->state) || p->state == HP_CLOSED || p->state == HP_ERROR,
	      "a window scan made no progress in state %u", p->state);
	s->pos = s->win_base + s->win.i;
	check_parser(p);
	ev = s->win.ev;
	if (ev == HE_REQUEST) {
		CHECK(s->req_dir, "a request event on the response direction");
		on_request(c);
		return 0;
	}
	if (ev == HE_RESPONSE && !s->req_dir) {
		on_response(c, s->now);
		return 0;
	}
	if (ev != HE_NONE) {
		on_error(c, p, LOST_PARSE);
		return 1;
	}
	return 0;
}

static void segment(struct conn *c, int req_dir, const char *buf, __u32 len, __u64 now)
{
	struct http_parser *p = req_dir ? &c->req : &c->resp;
	struct seg *s;
	__u32 steps;

	if (c->ignore)
		return;
	s = calloc(1, sizeof(*s));
	CHECK(s, "out of memory");
	s->buf = buf;
	s->end = len;
	s->req_dir = req_dir;
	s->now = now;
	ASAN_POISON_MEMORY_REGION(s->win.buf, sizeof(s->win.buf));
	for (steps = 0; steps < SCAN_STEPS; steps++)
		if (scan_step(c, s))
			break;
	/* bpf_loop stops after SCAN_STEPS calls whatever is left: what is left would be lost
	 * without the parser knowing (a silent gap). */
	CHECK(steps < SCAN_STEPS || s->pos >= s->end || p->state == HP_CLOSED || c->ignore,
	      "the scan of a %u-byte segment used all %u steps at byte %u", len, SCAN_STEPS,
	      s->pos);
	if (p->ended)
		on_end(c, s);
	ASAN_UNPOISON_MEMORY_REGION(s->win.buf, sizeof(s->win.buf));
	free(s);
	check_conn(c);
}

static void gap(struct conn *c, int req_dir, __u32 n)
{
	struct http_parser *p = req_dir ? &c->req : &c->resp;

	if (c->ignore)
		return;
	logline(c, "gap %u\n", n);
	if (p->state != HP_ERROR && !http_gap(p, n))
		on_error(c, p, LOST_GAP);
	check_conn(c);
}

static void conn_close(struct conn *c)
{
	fifo_abandon(c);
	check_conn(c);
	CHECK(c->started == c->ended, "in flight after close: %llu",
	      (unsigned long long)(c->started - c->ended));
	logline(c, "close requests=%llu paired=%llu\n", (unsigned long long)c->requests,
	     (unsigned long long)c->paired);
	c->ignore = 0;
	memset(&c->req, 0, sizeof(c->req));
	memset(&c->resp, 0, sizeof(c->resp));
	memset(&c->route, 0, sizeof(c->route));
	c->head = c->tail = c->req_entry = c->cur_valid = 0;
}

static void run(struct conn *c, const uint8_t *data, size_t size)
{
	static char big[LONG_MAX_LEN];
	size_t i = 1; /* after the mode byte */
	__u64 now = 1;

	set_routes(size ? data[0] : 0);

	while (i < size) {
		uint8_t h = data[i++];
		int req_dir = !(h & 0x80);
		__u32 l = h & 0x7f;

		now++;
		if (l == 0) {
			conn_close(c);
		} else if (l == 127) {
			gap(c, req_dir, i < size ? data[i++] + 1u : 1u);
		} else if (l == 126) {
			__u32 n = (i < size ? data[i++] + 1u : 1u) * 64, plen = 16;
			const uint8_t *pat = data + i;

			if (size - i < plen)
				plen = (__u32)(size - i);
			i += plen;
			if (!plen)
				continue;
			for (__u32 k = 0; k < n; k++)
				big[k] = (char)pat[k % plen];
			segment(c, req_dir, big, n, now);
		} else {
			if (size - i < l)
				l = (__u32)(size - i);
			segment(c, req_dir, (const char *)data + i, l, now);
			i += l;
		}
	}
	conn_close(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conn *fast = calloc(1, sizeof(*fast)), *slow = calloc(1, sizeof(*slow));

	CHECK(fast && slow, "out of memory");
	slow->byte_mode = 1;
	run(fast, data, size);
	run(slow, data, size);
	if (fast->log_len != slow->log_len || memcmp(fast->log, slow->log, fast->log_len)) {
		CHECK(0, "the fast paths and the byte steps disagree\n--- http_scan_window:\n%.*s"
			 "--- byte steps:\n%.*s",
		      (int)fast->log_len, fast->log, (int)slow->log_len, slow->log);
	}
	free(fast->log);
	free(slow->log);
	free(fast);
	free(slow);
	return 0;
}
