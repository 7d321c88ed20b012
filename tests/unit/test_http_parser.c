// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* test_http_parser.c - the kernel's HTTP/1.x parser and route normaliser (bpf/http.bpf.h),
 * compiled for user space and driven byte by byte exactly as the BPF driver drives it. */
#include <linux/types.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http.bpf.h"

/* What the driver would have seen. */
struct seen {
	int requests, responses, errors, ends;
	__u64 body_sizes[16]; /* of each message that ended */
	char routes[16][SOCKEYE_ROUTE_LEN];
	__u8 methods[16];
	__u8 versions[16];
	__u16 statuses[16];
};

/* 1: scan in windows with http_scan_window, as the BPF driver does (word-at-a-time fast
 * paths where they apply); 0: one byte step at a time. Every table runs both ways: the two
 * must agree. */
static int use_fast;

static __u64 word_at(const char *s, size_t i)
{
	__u64 w;

	memcpy(&w, s + i, 8);
	return w;
}

/* What the driver does when a message ends. */
static void note_end(struct http_parser *p, struct seen *out)
{
	p->ended = 0;
	if (out->ends < 16)
		out->body_sizes[out->ends] = p->body_size;
	out->ends++;
}

/* What the driver does with an event; returns 1 when the stream is lost. */
static int note_event(struct http_parser *p, struct route_state *r, int ev, struct seen *out,
		      int head_next)
{
	if (ev == HE_REQUEST && out->requests < 16) {
		memcpy(out->routes[out->requests], r->out, SOCKEYE_ROUTE_LEN);
		out->methods[out->requests] = p->method;
		out->versions[out->requests] = p->version;
		out->requests++;
	} else if (ev == HE_RESPONSE && out->responses < 16) {
		out->statuses[out->responses++] = p->status;
		if (head_next)
			p->flags |= HPF_NO_BODY;
	} else if (ev == HE_ERROR) {
		out->errors++;
		return 1;
	}
	return 0;
}

/* Feeds len bytes through p one byte step at a time; skip states are skipped. */
static void feed_bytes(struct http_parser *p, struct route_state *r, const char *s, size_t len,
		       struct seen *out, int head_next)
{
	size_t i = 0;

	while (i < len) {
		if (http_is_skip_state(p->state)) {
			i += http_skip(p, len - i);
		} else {
			int ev = http_step(p, r, s[i], 1000 + i);

			i++;
			if (p->ended)
				note_end(p, out);
			if (note_event(p, r, ev, out, head_next))
				return;
		}
		if (p->ended)
			note_end(p, out);
	}
}

/* Feeds len bytes as the BPF driver's scan does: SOCKEYE_SCAN_WINDOW-byte windows, each
 * parsed by http_scan_window (fast paths where they apply), skip states skipped. */
static void feed_windows(struct http_parser *p, struct route_state *r, const char *s, size_t len,
			 struct seen *out, int head_next)
{
	struct http_window w = {0};
	size_t pos = 0, base = 0;

	while (pos < len) {
		if (p->ended)
			note_end(p, out);
		if (p->state == HP_CLOSED || p->state == HP_ERROR)
			return;
		if (http_is_skip_state(p->state)) {
			pos += http_skip(p, len - pos);
			continue;
		}
		if (pos - base >= w.n) {
			w.n = len - pos < SOCKEYE_SCAN_WINDOW ? len - pos : SOCKEYE_SCAN_WINDOW;
			memset(w.buf, 0, sizeof(w.buf));
			memcpy(w.buf, s + pos, w.n);
			base = pos;
		}
		w.i = pos - base;
		http_scan_window(p, r, &w, 1000 + pos);
		pos = base + w.i;
		if (note_event(p, r, w.ev, out, head_next))
			return;
	}
	if (p->ended)
		note_end(p, out);
}

/* Feeds len bytes through p like the BPF driver: skip states are skipped, events recorded.
 * head_next marks the next response as one to a HEAD request. */
static void feed(struct http_parser *p, struct route_state *r, const char *s, size_t len,
		 struct seen *out, int head_next)
{
	if (use_fast)
		feed_windows(p, r, s, len, out, head_next);
	else
		feed_bytes(p, r, s, len, out, head_next);
}

static void route_of(const char *target, char *out)
{
	struct http_parser p = {0};
	struct route_state r = {0};
	struct seen s = {0};
	char line[2048];

	snprintf(line, sizeof(line), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", target);
	feed(&p, &r, line, strlen(line), &s, 0);
	assert_int_equal(s.errors, 0);
	assert_int_equal(s.requests, 1);
	memcpy(out, s.routes[0], SOCKEYE_ROUTE_LEN);
	/* The whole tail is zero: the route table hashes all 64 bytes. */
	for (size_t i = strlen(out); i < SOCKEYE_ROUTE_LEN; i++)
		assert_int_equal(out[i], 0);
}

struct route_case {
	const char *name;
	const char *target;
	const char *want;
};

static const struct route_case route_cases[] = {
	{"root", "/", "/"},
	{"plain", "/health", "/health"},
	{"two_literals", "/api/users", "/api/users"},
	{"trailing_slash_kept", "/api/users/", "/api/users/"},
	{"numeric_id", "/users/123", "/users/{id}"},
	{"numeric_id_middle", "/users/123/orders", "/users/{id}/orders"},
	{"two_numeric_ids", "/users/1/orders/2", "/users/{id}/orders/{id}"},
	{"single_digit", "/page/7", "/page/{id}"},
	{"uuid", "/orders/3f2b8c1e-9d4a-4e5b-8f6a-1b2c3d4e5f60/items", "/orders/{id}/items"},
	{"uuid_upper", "/o/3F2B8C1E-9D4A-4E5B-8F6A-1B2C3D4E5F60", "/o/{id}"},
	{"uuid_bad_dash_positions_is_token", "/o/3f2b8c1e9-d4a-4e5b-8f6a-1b2c3d4e5f60", "/o/{id}"},
	{"hex_object_id", "/blob/507f1f77bcf86cd799439011", "/blob/{id}"},
	{"hex_short_with_digit", "/blob/deadbeef12", "/blob/{id}"},
	{"hex_letters_only_is_word", "/cafebabe", "/cafebabe"},
	{"hex_seven_chars_kept", "/v/abc1234", "/v/abc1234"},
	{"sha256", "/sha/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	 "/sha/{id}"},
	{"long_token", "/t/aZ3kL9mQ2xV7bN1p", "/t/{id}"},
	{"long_slug_with_number", "/posts/summer-sale-2024-edition", "/posts/{id}"},
	{"short_version_kept", "/api/v2/items", "/api/v2/items"},
	{"word_with_digit_kept", "/user123", "/user123"},
	{"query_dropped", "/search?q=secret&token=abc", "/search"},
	{"query_after_id", "/users/42?x=1", "/users/{id}"},
	{"fragment_dropped", "/docs#section-2", "/docs"},
	{"query_on_root", "/?a=b", "/"},
	{"asterisk", "*", "*"},
	{"absolute_form", "http://example.com/users/5", "/users/{id}"},
	{"absolute_form_no_path", "http://example.com", "/"},
	{"absolute_form_query", "http://example.com:8080/a?b=c", "/a"},
	{"authority_form", "example.com:443", "{authority}"},
	{"authority_form_ip", "10.1.2.3:443", "{authority}"},
	{"double_slash", "//a", "//a"},
	{"percent_encoded_kept", "/a%20b", "/a%20b"},
	{"control_byte_replaced", "/a\x01" "b", "/a_b"},
	{"high_byte_replaced", "/caf\xc3\xa9", "/caf__"},
	{"quote_kept_for_escaping", "/a\"b\\c", "/a\"b\\c"},
	{"depth_bounded", "/a/b/c/d/e/f/g/h/i/j", "/a/b/c/d/e/f/g/h/{...}"},
	{"depth_exact_bound", "/a/b/c/d/e/f/g/h", "/a/b/c/d/e/f/g/h"},
	{"long_literal_segment",
	 "/this-is-a-very-long-literal-path-segment-without-any-digits-at-all-x",
	 "/{...}"},
	{"long_literal_after_prefix", "/api/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	 "/api/{...}"},
	{"long_path_many_segments",
	 "/aaaaaaaaaa/bbbbbbbbbb/cccccccccc/dddddddddd/eeeeeeeeee/ffffffffff",
	 "/aaaaaaaaaa/bbbbbbbbbb/cccccccccc/dddddddddd/{...}"},
	{"long_id_fits", "/x/0123456789012345678901234567890123456789012345678901234567890123456789",
	 "/x/{id}"},
	{"empty_segments", "/a//b", "/a//b"},
	{"dash_and_underscore_words", "/my_page/some-thing", "/my_page/some-thing"},
};

static void test_route_normalisation_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(route_cases) / sizeof(route_cases[0]); i++) {
		char got[SOCKEYE_ROUTE_LEN];

		route_of(route_cases[i].target, got);
		if (strcmp(got, route_cases[i].want) != 0)
			fail_msg("case %s: target %s: want %s, got %s", route_cases[i].name,
				 route_cases[i].target, route_cases[i].want, got);
	}
}

static void test_route_over_scan_bound_is_truncated(void **state)
{
	char target[1200], got[SOCKEYE_ROUTE_LEN];

	(void)state;
	/* Many short segments: the depth bound stops it first. */
	strcpy(target, "/a");
	for (int i = 0; i < 300; i++)
		strcat(target, "/b");
	route_of(target, got);
	assert_string_equal(got, "/a/b/b/b/b/b/b/b/{...}");
	/* One segment longer than the scan bound: cut there. */
	memset(target, 'z', sizeof(target));
	target[0] = '/';
	target[sizeof(target) - 1] = 0;
	route_of(target, got);
	assert_string_equal(got, "/{...}");
}

static void test_same_route_hashes_equal_however_reached(void **state)
{
	struct route_state a = {0}, b = {0};
	struct http_parser pa = {0}, pb = {0};
	struct seen sa = {0}, sb = {0};
	const char *ra = "GET /users/123456789012345678901234567890 HTTP/1.1\r\n\r\n";
	const char *rb = "GET /users/7 HTTP/1.1\r\n\r\n";

	(void)state;
	feed(&pa, &a, ra, strlen(ra), &sa, 0);
	feed(&pb, &b, rb, strlen(rb), &sb, 0);
	assert_string_equal(a.out, "/users/{id}");
	assert_memory_equal(a.out, b.out, SOCKEYE_ROUTE_LEN);
	assert_true(route_hash(&a) == route_hash(&b));
	assert_true(route_hash(&a) != SOCKEYE_ROUTE_OTHER);
}

struct msg_case {
	const char *name;
	const char *input;
	int is_response_dir;
	int head; /* responses answer HEAD */
	int want_requests, want_responses, want_errors;
	__u8 want_state; /* state after the input */
	const char *want_route0;
	__u8 want_method0;
	__u16 want_status0;
};

static const struct msg_case msg_cases[] = {
	{"simple_get", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 0, 1, 0, 0, HP_START, "/",
	 SOCKEYE_METHOD_GET, 0},
	{"pipelined_three",
	 "GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyzDELETE /c/9 "
	 "HTTP/1.0\r\n\r\n",
	 0, 0, 3, 0, 0, HP_START, "/a", SOCKEYE_METHOD_GET, 0},
	{"body_with_method_lookalike",
	 "POST /u HTTP/1.1\r\ncontent-length: 16\r\n\r\nGET /x HTTP/1.1\r\n", 0, 0, 1, 0, 0,
	 HP_START, "/u", SOCKEYE_METHOD_POST, 0},
	{"chunked_request",
	 "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;x=y\r\nabc\r\n0\r\n"
	 "\r\nGET /next HTTP/1.1\r\n\r\n",
	 0, 0, 2, 0, 0, HP_START, "/c", SOCKEYE_METHOD_POST, 0},
	{"chunked_with_trailer",
	 "POST /c HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n1\r\nx\r\n0\r\nX-T: 1\r\n\r\n", 0,
	 0, 1, 0, 0, HP_START, "/c", SOCKEYE_METHOD_POST, 0},
	{"unknown_method", "PROPFIND /dav HTTP/1.1\r\n\r\n", 0, 0, 1, 0, 0, HP_START, "/dav",
	 SOCKEYE_METHOD_OTHER, 0},
	{"every_method",
	 "HEAD / HTTP/1.1\r\n\r\nPUT / HTTP/1.1\r\n\r\nPATCH / HTTP/1.1\r\n\r\nOPTIONS * "
	 "HTTP/1.1\r\n\r\nTRACE / HTTP/1.1\r\n\r\n",
	 0, 0, 5, 0, 0, HP_START, "/", SOCKEYE_METHOD_HEAD, 0},
	{"leading_crlf_ignored", "\r\n\r\nGET /k HTTP/1.1\r\n\r\n", 0, 0, 1, 0, 0, HP_START, "/k",
	 SOCKEYE_METHOD_GET, 0},
	{"bare_lf_lines", "GET /lf HTTP/1.1\nHost: a\n\n", 0, 0, 1, 0, 0, HP_START, "/lf",
	 SOCKEYE_METHOD_GET, 0},
	{"http2_preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 0, 0, 0, 0, 1, HP_ERROR, "", 0, 0},
	{"binary_garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 0, 0, 0, 0, 1, HP_ERROR,
	 "", 0, 0},
	{"lowercase_method", "get / HTTP/1.1\r\n\r\n", 0, 0, 0, 0, 1, HP_ERROR, "", 0, 0},
	{"ssh_banner", "SSH-2.0-OpenSSH_9.2\r\n", 0, 0, 0, 0, 1, HP_ERROR, "", 0, 0},
	{"http09", "GET /\r\n", 0, 0, 0, 0, 1, HP_ERROR, "", 0, 0},
	{"truncated_request_line_waits", "GET /users/12", 0, 0, 0, 0, 0, HP_TARGET, "", 0, 0},
	{"truncated_headers_wait", "GET /a HTTP/1.1\r\nHost: a\r\nContent-Le", 0, 0, 1, 0, 0,
	 HP_HDR_NAME, "/a", SOCKEYE_METHOD_GET, 0},
	{"request_on_response_direction", "GET / HTTP/1.1\r\n\r\n", 1, 0, 0, 0, 1, HP_ERROR, "", 0,
	 0},
	{"response_with_length",
	 "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/HTTP/1.1 404 Not Found\r\nContent-Length: "
	 "0\r\n\r\n",
	 1, 0, 0, 2, 0, HP_START, "", 0, 200},
	{"response_chunked",
	 "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\n",
	 1, 0, 0, 1, 0, HP_START, "", 0, 201},
	{"response_without_length_is_close_delimited",
	 "HTTP/1.0 200 OK\r\nServer: x\r\n\r\nHTTP/1.1 500 x\r\n", 1, 0, 0, 1, 0, HP_BODY_CLOSE, "", 0,
	 200},
	{"response_204_has_no_body", "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\n", 1, 0, 0,
	 2, 0, HP_LINE_START, "", 0, 204},
	{"response_304_has_no_body", "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\nHTTP/1.1 "
				     "200 OK\r\n",
	 1, 0, 0, 2, 0, HP_LINE_START, "", 0, 304},
	{"response_to_head_has_no_body",
	 "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
	 1, 1, 0, 2, 0, HP_START, "", 0, 200},
	{"interim_100_then_final",
	 "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 1, 0, 0, 2, 0,
	 HP_START, "", 0, 100},
	{"status_not_digits", "HTTP/1.1 2x0 OK\r\n", 1, 0, 0, 0, 1, HP_ERROR, "", 0, 0},
	/* Control bytes where a header name has '-' or ':' make it another header: the fast paths
	 * once took CR for '-' and SUB for ':' (found by tests/fuzz/fuzz_http_parser.c). */
	{"content_length_with_cr_for_dash_is_not_one",
	 "POST /a HTTP/1.1\r\nContent\rLength: 5\r\nHost: xxxxxxxxxxxxxxxxxxxxxxxx\r\n\r\n"
	 "GET /x HTTP/1.1\r\n\r\n",
	 0, 0, 2, 0, 0, HP_START, "/a", SOCKEYE_METHOD_POST, 0},
	{"content_length_with_sub_for_colon_is_not_one",
	 "POST /a HTTP/1.1\r\nContent-Length\x1a 5\r\nHost: xxxxxxxxxxxxxxxxxxxxxxxx\r\n\r\n"
	 "GET /x HTTP/1.1\r\n\r\n",
	 0, 0, 2, 0, 0, HP_START, "/a", SOCKEYE_METHOD_POST, 0},
	{"transfer_encoding_with_cr_for_dash_is_not_one",
	 "POST /a HTTP/1.1\r\nTransfer\rEncoding: chunked\r\nHost: xxxxxxxxxxxxxxxxxxxx\r\n\r\n"
	 "GET /x HTTP/1.1\r\n\r\n",
	 0, 0, 2, 0, 0, HP_START, "/a", SOCKEYE_METHOD_POST, 0},
	{"huge_content_length_saturates",
	 "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999999\r\n\r\nabc", 1, 0, 0, 1, 0,
	 HP_BODY, "", 0, 200},
};

static void test_message_framing_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(msg_cases) / sizeof(msg_cases[0]); i++) {
		const struct msg_case *c = &msg_cases[i];
		struct http_parser p = {0};
		struct route_state r = {0};
		struct seen s = {0};

		feed(&p, c->is_response_dir ? NULL : &r, c->input, strlen(c->input), &s, c->head);
		if (s.requests != c->want_requests || s.responses != c->want_responses ||
		    s.errors != c->want_errors || p.state != c->want_state)
			fail_msg("case %s: requests %d/%d responses %d/%d errors %d/%d state %d/%d",
				 c->name, s.requests, c->want_requests, s.responses,
				 c->want_responses, s.errors, c->want_errors, p.state,
				 c->want_state);
		if (c->want_requests && (strcmp(s.routes[0], c->want_route0) != 0 ||
					 s.methods[0] != c->want_method0))
			fail_msg("case %s: route %s/%s method %d/%d", c->name, s.routes[0],
				 c->want_route0, s.methods[0], c->want_method0);
		if (c->want_responses && s.statuses[0] != c->want_status0)
			fail_msg("case %s: status %d/%d", c->name, s.statuses[0], c->want_status0);
	}
}

/* Every split point of a pipelined pair gives the same result as the whole. */
static void test_split_anywhere_equals_whole(void **state)
{
	const char *req = "POST /orders/3f2b8c1e-9d4a-4e5b-8f6a-1b2c3d4e5f60/items?x=1 HTTP/1.1\r\n"
			  "Host: a\r\nContent-Length: 4\r\n\r\nbodyGET /users/42 HTTP/1.0\r\n\r\n";
	size_t n = strlen(req);

	(void)state;
	for (size_t cut1 = 0; cut1 <= n; cut1++) {
		for (size_t cut2 = cut1; cut2 <= n; cut2 += 7) {
			struct http_parser p = {0};
			struct route_state r = {0};
			struct seen s = {0};

			feed(&p, &r, req, cut1, &s, 0);
			feed(&p, &r, req + cut1, cut2 - cut1, &s, 0);
			feed(&p, &r, req + cut2, n - cut2, &s, 0);
			if (s.requests != 2 || s.errors || p.state != HP_START ||
			    strcmp(s.routes[0], "/orders/{id}/items") ||
			    strcmp(s.routes[1], "/users/{id}") || s.versions[1] != SOCKEYE_VERSION_1_0)
				fail_msg("cuts %zu,%zu: requests %d errors %d state %d routes %s %s",
					 cut1, cut2, s.requests, s.errors, p.state, s.routes[0],
					 s.routes[1]);
		}
	}
}

/* The LF position found a word at a time is the byte steps' LF, wherever it is in the word. */
static void test_skip_line_word_stops_after_first_lf(void **state)
{
	(void)state;
	for (int at = 0; at < 8; at++) {
		char w8[8];
		struct http_parser p = {.state = HP_SKIP_LINE};

		memset(w8, 'a', sizeof(w8));
		w8[at] = '\n';
		if (at < 6)
			w8[at + 2] = '\n'; /* a second LF never wins */
		assert_int_equal(http_skip_line_word(&p, word_at(w8, 0)), at + 1);
		assert_int_equal(p.state, HP_LINE_START);
	}
	{
		struct http_parser p = {.state = HP_TRL_LINE};

		assert_int_equal(http_skip_line_word(&p, word_at("abcdefgh", 0)), 8);
		assert_int_equal(p.state, HP_TRL_LINE);
		assert_int_equal(http_skip_line_word(&p, word_at("\x8a\n......", 0)), 2);
		assert_int_equal(p.state, HP_TRL_START);
	}
}

struct size_case {
	const char *name;
	const char *input;
	int is_response_dir;
	int want_ends;
	__u64 want_sizes[4];
};

static const struct size_case size_cases[] = {
	{"get_no_body", "GET / HTTP/1.1\r\n\r\n", 0, 1, {0}},
	{"post_content_length", "POST /p HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 0, 1, {3}},
	{"post_zero_length", "POST /p HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 0, 1, {0}},
	{"post_incomplete_body_not_ended", "POST /p HTTP/1.1\r\nContent-Length: 9\r\n\r\nabc", 0, 0,
	 {0}},
	{"chunked_counts_data_only",
	 "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1a;x=1\r\n"
	 "abcdefghijklmnopqrstuvwxyz\r\n0\r\nT: 1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
	 0, 2, {31, 0}},
	{"pipelined_sizes",
	 "PUT /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiPUT /b HTTP/1.1\r\nContent-Length: "
	 "4\r\n\r\nabcd",
	 0, 2, {2, 4}},
	{"response_length_and_204",
	 "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 204 No Content\r\n\r\n", 1,
	 2, {5, 0}},
	{"response_chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
	 1, 1, {3}},
	{"response_interim_then_final",
	 "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx", 1, 2,
	 {0, 1}},
	{"response_close_delimited_never_ends", "HTTP/1.0 200 OK\r\n\r\n0123456789", 1, 0, {0}},
};

static void test_body_sizes_and_message_ends(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(size_cases) / sizeof(size_cases[0]); i++) {
		const struct size_case *c = &size_cases[i];
		struct http_parser p = {0};
		struct route_state r = {0};
		struct seen s = {0};

		feed(&p, c->is_response_dir ? NULL : &r, c->input, strlen(c->input), &s, 0);
		if (s.ends != c->want_ends || s.errors)
			fail_msg("case %s: ends %d/%d errors %d", c->name, s.ends, c->want_ends,
				 s.errors);
		for (int k = 0; k < c->want_ends && k < 4; k++)
			if (s.body_sizes[k] != c->want_sizes[k])
				fail_msg("case %s: message %d body %llu, want %llu", c->name, k,
					 (unsigned long long)s.body_sizes[k],
					 (unsigned long long)c->want_sizes[k]);
	}
	/* A close-delimited body counts what came until the close. */
	{
		struct http_parser p = {0};
		struct seen s = {0};
		const char *in = "HTTP/1.0 200 OK\r\n\r\n0123456789";

		feed(&p, NULL, in, strlen(in), &s, 0);
		assert_int_equal(p.state, HP_BODY_CLOSE);
		assert_int_equal(p.body_size, 10);
	}
}

/* A gap inside a body is absorbed (the bytes are never read); anywhere else it is not. */
static void test_gap_inside_a_body_keeps_framing(void **state)
{
	const char *head = "POST /g HTTP/1.1\r\nContent-Length: 3000\r\n\r\n";
	const char *chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400\r\nab";
	const char *close = "HTTP/1.0 200 OK\r\n\r\nabc";
	struct http_parser p = {0};
	struct route_state r = {0};
	struct seen s = {0};

	(void)state;
	feed(&p, &r, head, strlen(head), &s, 0);
	assert_int_equal(p.state, HP_BODY);
	assert_int_equal(http_gap(&p, 1000), 1); /* bytes 0..999 never seen */
	feed(&p, &r, "x", 1, &s, 0);
	assert_int_equal(http_gap(&p, 1998), 1); /* up to the last byte */
	feed(&p, &r, "yGET /next HTTP/1.1\r\n\r\n", 23, &s, 0);
	assert_int_equal(s.requests, 2);
	assert_string_equal(s.routes[1], "/next");
	assert_int_equal(s.ends, 2);
	assert_true(s.body_sizes[0] == 3000);

	/* The gap reaches past the body: the next message's start is lost. */
	memset(&p, 0, sizeof(p));
	memset(&s, 0, sizeof(s));
	feed(&p, &r, head, strlen(head), &s, 0);
	assert_int_equal(http_gap(&p, 3000), 0);

	/* In a chunk the gap must end inside the chunk's data and CRLF. */
	memset(&p, 0, sizeof(p));
	feed(&p, NULL, chunked, strlen(chunked), &s, 0);
	assert_int_equal(p.state, HP_CHUNK_DATA);
	assert_int_equal(http_gap(&p, 1000), 1);
	assert_int_equal(http_gap(&p, 100), 0);

	/* Close-delimited: the gap is counted as body. */
	memset(&p, 0, sizeof(p));
	feed(&p, NULL, close, strlen(close), &s, 0);
	assert_int_equal(http_gap(&p, 10), 1);
	assert_true(p.body_size == 13);

	/* In headers: lost. */
	memset(&p, 0, sizeof(p));
	feed(&p, &r, "GET / HTTP/1.1\r\nHo", 18, &s, 0);
	assert_int_equal(http_gap(&p, 5), 0);
}

/* The fast paths read words at any byte offset of a window: each offset gives the same result
 * (under SANITIZE=undefined an unaligned word read through a __u64 pointer is reported, as
 * tests/fuzz/fuzz_http_parser.c once found). */
static void test_fast_paths_at_every_offset_of_a_window(void **state)
{
	const char *msg = "GET /users/42 HTTP/1.1\r\nContent-Length: 0\r\nTransfer-Encoding: x\r\n\r\n"
			  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	size_t n = strlen(msg), split = strlen(msg) - strlen(strstr(msg, "HTTP/1.1 200"));

	(void)state;
	for (size_t off = 0; off < 8; off++) {
		struct http_window w __attribute__((aligned(8))) = {0};
		struct http_parser p = {0}, q = {0};
		struct route_state r = {0};
		int requests = 0, responses = 0;

		memcpy(w.buf + off, msg, split);
		w.n = off + split;
		w.i = off;
		while (w.i < w.n && p.state != HP_ERROR) {
			http_scan_window(&p, &r, &w, 1);
			requests += w.ev == HE_REQUEST;
			if (p.ended)
				p.ended = 0;
		}
		memset(&w, 0, sizeof(w));
		memcpy(w.buf + off, msg + split, n - split);
		w.n = off + n - split;
		w.i = off;
		while (w.i < w.n && q.state != HP_ERROR && !http_is_skip_state(q.state)) {
			http_scan_window(&q, NULL, &w, 1);
			responses += w.ev == HE_RESPONSE;
		}
		if (requests != 1 || responses != 1 || strcmp(r.out, "/users/{id}") ||
		    p.state != HP_START || q.state != HP_BODY || q.status != 200 ||
		    q.body_left != 2)
			fail_msg("offset %zu: requests %d responses %d route %s states %d %d", off,
				 requests, responses, r.out, p.state, q.state);
	}
}

static void test_message_start_time_is_first_byte(void **state)
{
	struct http_parser p = {0};
	struct route_state r = {0};

	(void)state;
	assert_int_equal(http_step(&p, &r, '\r', 5), HE_NONE);
	assert_int_equal(http_step(&p, &r, 'G', 7), HE_NONE);
	assert_int_equal(http_step(&p, &r, 'E', 9), HE_NONE);
	assert_true(p.msg_start_ns == 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route_normalisation_table),
		cmocka_unit_test(test_route_over_scan_bound_is_truncated),
		cmocka_unit_test(test_same_route_hashes_equal_however_reached),
		cmocka_unit_test(test_message_framing_table),
		cmocka_unit_test(test_split_anywhere_equals_whole),
		cmocka_unit_test(test_message_start_time_is_first_byte),
		cmocka_unit_test(test_fast_paths_at_every_offset_of_a_window),
		cmocka_unit_test(test_skip_line_word_stops_after_first_lf),
		cmocka_unit_test(test_body_sizes_and_message_ends),
		cmocka_unit_test(test_gap_inside_a_body_keeps_framing),
	};

	int failed;

	printf("# byte steps only\n");
	use_fast = 0;
	failed = cmocka_run_group_tests_name("byte_steps", tests, NULL, NULL);
	printf("# with word fast paths\n");
	use_fast = 1;
	failed += cmocka_run_group_tests_name("fast_paths", tests, NULL, NULL);
	return failed;
}
