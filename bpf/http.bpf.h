/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* http.bpf.h - streaming HTTP/1.x parser, one byte per step, shared by every hook.
 *
 * The same code is compiled by clang for the kernel (driven by bpf_loop, one call per byte)
 * and by gcc for tests/unit/test_http_parser.c, so the table of cases there tests exactly what
 * runs in the kernel. It therefore uses no helpers, no loops and no pointers other than the
 * state it is given: each step is a small function of (state, byte).
 *
 * A parser follows one direction of one connection. Its state survives between segments (it
 * lives in sk_storage), so a request line or header may be split anywhere across segments.
 * Bodies are not stepped through: the driver skips body_left bytes arithmetically.
 */
#ifndef SOCKEYE_HTTP_BPF_H
#define SOCKEYE_HTTP_BPF_H

#ifndef __bpf__
#include <linux/types.h>
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#endif

#include "sockeye.h"

enum http_pstate {
	HP_START = 0,	 /* before a message: optional CR/LF, then a token */
	HP_TOKEN,	 /* method or "HTTP/1.x" */
	HP_TARGET,	 /* request-target, fed to the route normaliser */
	HP_VERSION,	 /* "HTTP/1.x" of a request line */
	HP_STATUS,	 /* three status digits */
	HP_SKIP_LINE,	 /* rest of a line we do not need */
	HP_LINE_START,	 /* first byte of a header line, or the CR of the empty line */
	HP_HDR_NAME,	 /* header name, matched against the names we need */
	HP_CLEN,	 /* Content-Length value */
	HP_TE,		 /* Transfer-Encoding value, searched for "chunked" */
	HP_END_LF,	 /* LF of the empty line that ends the header section */
	HP_BODY,	 /* body_left bytes to skip, then HP_START (driver skips) */
	HP_CHUNK_SIZE,	 /* hex chunk size */
	HP_CHUNK_EXT,	 /* chunk extension, up to LF */
	HP_CHUNK_DATA,	 /* body_left bytes (data + CRLF) to skip, then HP_CHUNK_SIZE */
	HP_TRL_START,	 /* first byte of a trailer line */
	HP_TRL_LINE,	 /* rest of a trailer line */
	HP_TRL_END_LF,	 /* LF of the empty line that ends the trailers */
	HP_CLOSED,	 /* nothing more to parse in this direction (upgrade, tunnel) */
	HP_BODY_CLOSE,	 /* a response body delimited by the close: counted, never ends */
	HP_ERROR,	 /* not HTTP/1.x: the driver resynchronises or gives up */
};

/* Events a step returns; the driver acts on them before the next byte. */
enum http_event {
	HE_NONE = 0,
	HE_REQUEST,  /* a request line is complete: method, version, route ready */
	HE_RESPONSE, /* three status digits seen: status ready */
	HE_ERROR,    /* the byte made the stream not HTTP/1.x */
};

/* Parser flags. */
#define HPF_CLEN 0x01	   /* Content-Length seen */
#define HPF_CHUNKED 0x02   /* Transfer-Encoding: chunked */
#define HPF_NO_BODY 0x04   /* response to HEAD (set by the driver) */
#define HPF_TUNNEL 0x08	   /* after this response's headers the connection is no longer HTTP */
#define HPF_RESPONSE 0x10  /* the current message is a response */

/* Header names we match, lower case. */
#define HDR_CLEN_LEN 14 /* "content-length" */
#define HDR_TE_LEN 17	/* "transfer-encoding" */
#define HDR_CAND_CLEN 0x1
#define HDR_CAND_TE 0x2

struct http_parser {
	__u64 token;	    /* up to 8 bytes of the first token, shifted in */
	__u64 body_left;    /* body bytes still to skip */
	__u64 num;	    /* Content-Length or chunk size being parsed */
	__u64 msg_start_ns; /* time of the segment that carried the message's first byte */
	__u8 state;	    /* enum http_pstate */
	__u8 flags;	    /* HPF_* */
	__u8 tlen;	    /* bytes in token */
	__u16 status;
	__u8 method;	    /* enum sockeye_method of a request */
	__u8 version;	    /* enum sockeye_version */
	__u8 hidx;	    /* header name / value match position */
	__u8 hcand;	    /* HDR_CAND_* still matching */
	__u8 messages;	    /* messages completed, saturating: 0 means "never was HTTP" */
	__u8 ended;	    /* a message just ended (body included): the driver clears it */
	__u64 body_size;    /* body bytes of the current message (chunked: data only) */
};
_Static_assert(sizeof(struct http_parser) == 56, "http_parser layout");

/* Route normaliser state (request direction only). */
enum route_mode {
	RM_FIRST = 0, /* first byte of the target decides the form */
	RM_PATH,      /* origin-form path */
	RM_SCHEME,    /* absolute-form: skipping "scheme://authority" */
	RM_DONE,      /* path over: query, fragment, or the scan bound reached */
};

#define RTF_OVERFLOW 0x1 /* current segment did not fit */
#define RTF_LIT_DONE 0x2 /* the literal route is complete (bounds reached); patterns go on */
#define RTF_MATCHING 0x4 /* patterns are configured: segments walk the trie */
#define RTF_STATES_FULL 0x8 /* a trie position was dropped: SOCKEYE_ROUTE_STATES at once */
/* Literal bytes (path bytes and '/') are written only below this index, so that "{id}",
 * "{...}" or "/{...}" always fit after them: a route keeps at most 48 literal bytes. */
#define ROUTE_LIT_LIMIT (SOCKEYE_ROUTE_LEN - 16)

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "route_zero_tail and the packed header names assume little endian"
#endif

struct route_state {
	char out[SOCKEYE_ROUTE_LEN]; /* NUL-terminated, zero-filled past pos */
	__u16 seg_len;		     /* bytes in the current segment */
	__u8 pos;		     /* next write index in out */
	__u8 seg_start;		     /* index in out of the current segment's first byte */
	__u8 depth;		     /* segments started */
	__u8 mode;		     /* enum route_mode */
	__u8 flags;		     /* RTF_* */
	__u8 slashes;		     /* absolute-form: slashes seen */
	__u8 n_digit;		     /* counts in the current segment, saturating at 255 */
	__u8 n_hexalpha;
	__u8 n_alpha;
	__u8 n_dash;
	__u8 n_under;
	__u8 dash_ok; /* dashes at the UUID positions 8, 13, 18, 23 */
	__u16 target_len;
	__u64 seg_hash;	   /* route_seg_hash of the current segment's bytes so far */
	__u64 prefix_hash; /* of the route emitted so far (low_cardinality learning) */
	__u64 match_id;	   /* route_id of the pattern the path matched, 0 none (yet) */
	__u16 match_prio;  /* its place in the pattern list */
	__u8 n_states;	   /* trie positions in states[] */
	__u8 unmatched;	   /* enum sockeye_route_unmatched, from route_cfg */
	__u32 max_values;  /* low_cardinality: literals per position before {*} */
	__u64 seed;	   /* the service's start of prefix_hash (set by the driver, kept) */
	struct sockeye_route_node states[SOCKEYE_ROUTE_STATES];
};
_Static_assert(sizeof(struct route_state) == SOCKEYE_ROUTE_LEN + 56 + 16 * SOCKEYE_ROUTE_STATES,
	       "route_state layout");

/* What the route code asks of its surroundings (route_cfg, route_trie, the learning maps): the
 * kernel build routes these to global functions over the maps (http_pair.bpf.h); the unit tests
 * give their own. Defaults: no pattern, the heuristic, nothing learnt. */
#ifndef ROUTE_CFG
static __always_inline int route_no_cfg(struct sockeye_route_cfg *c)
{
	c->root.flags = 0;
	c->unmatched = SOCKEYE_UNMATCHED_HEURISTIC;
	c->max_segment_values = 0;
	return 0;
}
#define ROUTE_CFG(c) route_no_cfg(c)
#define ROUTE_EDGE(node, kind, hash, out) 0
#define ROUTE_LEARN(prefix, value, max) 1
#endif

/* FNV-1a, 64 bits: segments are hashed byte by byte as they arrive; prefixes chain them. */
#define ROUTE_FNV_OFFSET 0xcbf29ce484222325ULL
#define ROUTE_FNV_PRIME 0x100000001b3ULL
/* What a prefix chains for a segment emitted as {id} or {*} instead of its bytes. */
#define ROUTE_TOKEN_ID 0x1dULL
#define ROUTE_TOKEN_STAR 0x2aULL

static __always_inline __u64 route_chain(__u64 prefix, __u64 seg)
{
	return (prefix ^ seg) * ROUTE_FNV_PRIME;
}

static __always_inline __u8 sat_inc(__u8 v)
{
	return v == 255 ? v : v + 1;
}

static __always_inline char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

/* Hides a value's range from the compiler, so that a mask it would drop as redundant after a
 * range check stays in the code: the verifier tracks the register it indexes with, and the
 * compiler may have range-checked a different copy. */
#define BARRIER_VAR(v) asm volatile("" : "+r"(v))

/* Never writes the last byte: out stays NUL-terminated whatever the input. */
static __always_inline void route_put(struct route_state *r, char c)
{
	__u32 pos = r->pos;

	if (pos >= SOCKEYE_ROUTE_LEN - 1)
		return;
	BARRIER_VAR(pos);
	r->out[pos & (SOCKEYE_ROUTE_LEN - 1)] = c;
	r->pos = pos + 1;
}

static __always_inline void route_put_id(struct route_state *r)
{
	route_put(r, '{');
	route_put(r, 'i');
	route_put(r, 'd');
	route_put(r, '}');
}

static __always_inline void route_put_ellipsis(struct route_state *r)
{
	route_put(r, '{');
	route_put(r, '.');
	route_put(r, '.');
	route_put(r, '.');
	route_put(r, '}');
}

static __always_inline void route_put_authority(struct route_state *r)
{
	route_put(r, '{');
	route_put(r, 'a');
	route_put(r, 'u');
	route_put(r, 't');
	route_put(r, 'h');
	route_put(r, 'o');
	route_put(r, 'r');
	route_put(r, 'i');
	route_put(r, 't');
	route_put(r, 'y');
	route_put(r, '}');
}

static __always_inline void route_reset(struct route_state *r)
{
	__u64 *w = (__u64 *)r->out;

	/* Eight stores, no loop: the route is hashed over all 64 bytes. */
	w[0] = 0, w[1] = 0, w[2] = 0, w[3] = 0, w[4] = 0, w[5] = 0, w[6] = 0, w[7] = 0;
	r->seg_len = 0;
	r->pos = 0;
	r->seg_start = 0;
	r->depth = 0;
	r->mode = RM_FIRST;
	r->flags = 0;
	r->slashes = 0;
	r->target_len = 0;
	r->seg_hash = ROUTE_FNV_OFFSET;
	r->prefix_hash = r->seed ? r->seed : ROUTE_FNV_OFFSET; /* each service learns alone */
	r->match_id = 0;
	r->match_prio = 0xffff;
	r->n_states = 0;
	r->unmatched = SOCKEYE_UNMATCHED_HEURISTIC;
	r->max_values = 0;
}

/* A rewind ({id} over a long segment) leaves old bytes after pos: clear them word by word. */
static __always_inline void route_zero_tail(struct route_state *r)
{
	__u64 *w = (__u64 *)r->out;
	__u32 pos = r->pos;

#define ZERO_WORD(k)                                                                               \
	do {                                                                                       \
		if (pos <= 8 * (k))                                                                \
			w[k] = 0;                                                                  \
		else if (pos < 8 * (k) + 8)                                                        \
			w[k] &= (1ULL << ((pos - 8 * (k)) * 8)) - 1;                               \
	} while (0)
	ZERO_WORD(0);
	ZERO_WORD(1);
	ZERO_WORD(2);
	ZERO_WORD(3);
	ZERO_WORD(4);
	ZERO_WORD(5);
	ZERO_WORD(6);
	ZERO_WORD(7);
#undef ZERO_WORD
}

static __always_inline void route_seg_begin(struct route_state *r)
{
	r->seg_len = 0;
	r->seg_hash = ROUTE_FNV_OFFSET;
	r->n_digit = 0;
	r->n_hexalpha = 0;
	r->n_alpha = 0;
	r->n_dash = 0;
	r->n_under = 0;
	r->dash_ok = 0;
	r->flags &= ~RTF_OVERFLOW;
	r->seg_start = r->pos;
}

/* Does the segment just ended look like an identifier? */
static __always_inline int route_seg_is_id(const struct route_state *r)
{
	__u16 n = r->seg_len;

	if (n == 0)
		return 0;
	if (n > 255)
		return 1; /* a 256+ byte segment is never a name anyone charts */
	if (r->n_digit == n)
		return 1; /* 123 */
	if (n == 36 && r->n_dash == 4 && r->dash_ok == 4 && r->n_digit + r->n_hexalpha == 32)
		return 1; /* UUID */
	if (n >= 8 && r->n_digit >= 1 && r->n_digit + r->n_hexalpha == n)
		return 1; /* hex: object ids, hashes */
	if (n >= 16 && r->n_digit >= 1 && r->n_alpha >= 1 &&
	    r->n_digit + r->n_alpha + r->n_dash + r->n_under == n)
		return 1; /* long tokens: base64url ids, slugs with numbers */
	return 0;
}

static __always_inline void route_put_star(struct route_state *r)
{
	route_put(r, '{');
	route_put(r, '*');
	route_put(r, '}');
}

/* A trie node ends a pattern the path matches: the first pattern in the list wins. */
static __always_inline void route_candidate(struct route_state *r,
					    const struct sockeye_route_node *n)
{
	if ((n->flags & SOCKEYE_NODE_END) && n->prio < r->match_prio) {
		r->match_id = n->route_id;
		r->match_prio = n->prio;
	}
}

/* Adds a trie position to next[] (deduplicated, bounded); a node with a '*' edge matches
 * whatever follows, so that pattern is a candidate at once. */
static __always_inline void route_add_state(struct route_state *r,
					    struct sockeye_route_node *next, __u32 *n,
					    const struct sockeye_route_node *node)
{
	struct sockeye_route_node rest = {}; /* initialised: 6.1 checks what a call may read */

	if (node->flags & SOCKEYE_NODE_REST &&
	    ROUTE_EDGE(node->id, SOCKEYE_EDGE_REST, 0, &rest))
		route_candidate(r, &rest);
	for (__u32 i = 0; i < SOCKEYE_ROUTE_STATES; i++)
		if (i < *n && next[i].id == node->id)
			return;
	if (*n >= SOCKEYE_ROUTE_STATES) {
		r->flags |= RTF_STATES_FULL;
		return;
	}
	next[*n & (SOCKEYE_ROUTE_STATES - 1)] = *node;
	(*n)++;
}

/* A path segment ended: every trie position follows the edges the segment takes. */
static __always_inline void route_match_seg(struct route_state *r)
{
	struct sockeye_route_node next[SOCKEYE_ROUTE_STATES] = {}, child = {};
	__u32 n = 0;

	for (__u32 i = 0; i < SOCKEYE_ROUTE_STATES; i++) {
		const struct sockeye_route_node *st = &r->states[i];

		if (i >= r->n_states)
			break;
		if ((st->flags & SOCKEYE_NODE_LITERAL) &&
		    ROUTE_EDGE(st->id, SOCKEYE_EDGE_LITERAL, r->seg_hash, &child))
			route_add_state(r, next, &n, &child);
		if (r->seg_len == 0)
			continue; /* {x} and {x...} take non-empty segments only */
		if ((st->flags & SOCKEYE_NODE_ONE) &&
		    ROUTE_EDGE(st->id, SOCKEYE_EDGE_ONE, 0, &child))
			route_add_state(r, next, &n, &child);
		if ((st->flags & SOCKEYE_NODE_MANY) &&
		    ROUTE_EDGE(st->id, SOCKEYE_EDGE_MANY, 0, &child))
			route_add_state(r, next, &n, &child);
		if (st->flags & SOCKEYE_NODE_LOOP)
			route_add_state(r, next, &n, st);
	}
	for (__u32 i = 0; i < SOCKEYE_ROUTE_STATES; i++)
		if (i < n)
			r->states[i] = next[i];
	r->n_states = n;
	if (!n)
		r->flags &= ~RTF_MATCHING; /* no pattern can match any more */
}

/* Close the current segment: walk the patterns' trie with it; then the literal route replaces
 * it by {id} (identifier-like, unless unmatched is "path"), by {...} (and ends) when it did
 * not fit, or by {*} when low_cardinality learning says its position has too many values. */
static __always_inline void route_seg_end(struct route_state *r)
{
	if (r->flags & RTF_MATCHING)
		route_match_seg(r);
	if (r->flags & RTF_LIT_DONE)
		return;
	if (r->unmatched != SOCKEYE_UNMATCHED_PATH && route_seg_is_id(r)) {
		r->pos = r->seg_start;
		route_put_id(r);
		r->prefix_hash = route_chain(r->prefix_hash, ROUTE_TOKEN_ID);
	} else if (r->flags & RTF_OVERFLOW) {
		r->pos = r->seg_start;
		route_put_ellipsis(r);
		r->flags |= RTF_LIT_DONE;
	} else if (r->unmatched == SOCKEYE_UNMATCHED_LOW_CARDINALITY && r->seg_len &&
		   !ROUTE_LEARN(r->prefix_hash, r->seg_hash, r->max_values)) {
		r->pos = r->seg_start;
		route_put_star(r);
		r->prefix_hash = route_chain(r->prefix_hash, ROUTE_TOKEN_STAR);
	} else {
		r->prefix_hash = route_chain(r->prefix_hash, r->seg_hash);
	}
}

/* End the literal route here with a "/{...}" marker (too deep, too long); the patterns go on. */
static __always_inline void route_truncate(struct route_state *r)
{
	route_put(r, '/');
	route_put_ellipsis(r);
	r->flags |= RTF_LIT_DONE;
}

/* Segment ends and path starts, through hooks the kernel build points at global functions:
 * the trie walk is the largest part of the route code, and verified once that way. */
#ifndef ROUTE_SEG_END
#define ROUTE_SEG_END(r) route_seg_end(r)
#define ROUTE_PATH_START(r) route_path_start(r)
#endif

/* The path starts (its first '/'): the configuration of this request's route. */
static __always_inline void route_path_start(struct route_state *r)
{
	struct sockeye_route_cfg cfg = {};
	__u32 n = 0;

	r->mode = RM_PATH;
	route_put(r, '/');
	r->depth = 1;
	route_seg_begin(r);
	if (ROUTE_CFG(&cfg))
		return;
	r->unmatched = cfg.unmatched;
	r->max_values = cfg.max_segment_values;
	if (!cfg.root.flags)
		return;
	r->flags |= RTF_MATCHING;
	route_add_state(r, r->states, &n, &cfg.root);
	r->n_states = n;
}

/* One byte of the path (origin form). */
static __always_inline void route_path_byte(struct route_state *r, char c)
{
	if (c == '?' || c == '#') {
		ROUTE_SEG_END(r);
		r->mode = RM_DONE;
		return;
	}
	if (c == '/') {
		ROUTE_SEG_END(r);
		if (!(r->flags & RTF_LIT_DONE)) {
			if (r->depth >= SOCKEYE_ROUTE_DEPTH || r->pos >= ROUTE_LIT_LIMIT) {
				route_truncate(r);
			} else {
				route_put(r, '/');
				r->depth++;
			}
		}
		route_seg_begin(r);
		return;
	}
	r->seg_hash = (r->seg_hash ^ (__u8)c) * ROUTE_FNV_PRIME;
	if (r->seg_len < 0xffff)
		r->seg_len++;
	if (r->flags & RTF_LIT_DONE)
		return;
	/* Bytes that are not visible ASCII never reach a label (labels must be UTF-8). */
	if (c < 0x21 || c > 0x7e)
		c = '_';
	if (c >= '0' && c <= '9') {
		r->n_digit = sat_inc(r->n_digit);
	} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
		r->n_alpha = sat_inc(r->n_alpha);
		if ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))
			r->n_hexalpha = sat_inc(r->n_hexalpha);
	} else if (c == '-') {
		r->n_dash = sat_inc(r->n_dash);
		if (r->seg_len == 9 || r->seg_len == 14 || r->seg_len == 19 || r->seg_len == 24)
			r->dash_ok++;
	} else if (c == '_') {
		r->n_under = sat_inc(r->n_under);
	}
	if (r->pos < ROUTE_LIT_LIMIT && !(r->flags & RTF_OVERFLOW))
		route_put(r, c);
	else
		r->flags |= RTF_OVERFLOW;
}

/* One byte of the request-target; the SP that ends it goes to route_finish instead. */
static __always_inline void route_byte(struct route_state *r, char c)
{
	if (r->target_len < 0xffff)
		r->target_len++;
	if (r->target_len > SOCKEYE_TARGET_SCAN && r->mode != RM_DONE) {
		/* Bound the work per request: the unfinished segment becomes {...}, and no
		 * pattern matches a path the scan did not see to its end. */
		if (r->mode == RM_PATH && !(r->flags & RTF_LIT_DONE)) {
			r->pos = r->seg_start;
			route_put_ellipsis(r);
		}
		r->flags &= ~RTF_MATCHING;
		r->match_id = 0;
		r->mode = RM_DONE;
		return;
	}
	switch (r->mode) {
	case RM_FIRST:
		if (c == '/') {
			ROUTE_PATH_START(r);
		} else if (c == '*') {
			route_put(r, '*'); /* OPTIONS * */
			r->mode = RM_DONE;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
			r->mode = RM_SCHEME; /* "http://host/path", or CONNECT's "host:port" */
		} else {
			route_put_authority(r); /* CONNECT "10.0.0.1:443": never export hosts */
			r->mode = RM_DONE;
		}
		break;
	case RM_SCHEME:
		if (c == '/' && ++r->slashes == 3)
			ROUTE_PATH_START(r);
		break;
	case RM_PATH:
		route_path_byte(r, c);
		break;
	default:
		break;
	}
}

/* The target ended (SP): close the last segment, take the first pattern that ends where the
 * path ends, give path-less forms a route, clear the tail so that the route hashes the same
 * however it was reached. A path no pattern matched gets the route slash-asterisk under
 * unmatched: wildcard. */
static __always_inline void route_finish(struct route_state *r)
{
	int path = r->mode == RM_PATH || r->depth > 0;

	if (r->mode == RM_PATH)
		ROUTE_SEG_END(r);
	if (r->flags & RTF_MATCHING)
		for (__u32 i = 0; i < SOCKEYE_ROUTE_STATES; i++)
			if (i < r->n_states)
				route_candidate(r, &r->states[i]);
	if (path && !r->match_id && r->unmatched == SOCKEYE_UNMATCHED_WILDCARD) {
		r->pos = 0;
		route_put(r, '/');
		route_put(r, '*');
	}
	if (r->pos == 0) {
		if (r->mode == RM_SCHEME && r->slashes < 2)
			route_put_authority(r); /* "host:port" */
		else
			route_put(r, '/'); /* "http://host" has the path "/" */
	}
	r->mode = RM_DONE;
	route_zero_tail(r);
}

#ifndef __bpf__
/* The hash a path segment gets as its bytes arrive (route_path_byte), for user space to build
 * the patterns' trie with. */
static inline __u64 route_seg_hash(const char *s, size_t n)
{
	__u64 h = ROUTE_FNV_OFFSET;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (__u8)s[i]) * ROUTE_FNV_PRIME;
	return h;
}
#endif

/* Little-endian packed lower-case header names: byte i of the name is byte i of the words. */
#define PACK8(a, b, c, d, e, f, g, h)                                                              \
	((__u64)(a) | (__u64)(b) << 8 | (__u64)(c) << 16 | (__u64)(d) << 24 | (__u64)(e) << 32 |   \
	 (__u64)(f) << 40 | (__u64)(g) << 48 | (__u64)(h) << 56)
#define NAME_CLEN_0 PACK8('c', 'o', 'n', 't', 'e', 'n', 't', '-')
#define NAME_CLEN_1 PACK8('l', 'e', 'n', 'g', 't', 'h', 0, 0)
#define NAME_TE_0 PACK8('t', 'r', 'a', 'n', 's', 'f', 'e', 'r')
#define NAME_TE_1 PACK8('-', 'e', 'n', 'c', 'o', 'd', 'i', 'n')
#define NAME_TE_2 PACK8('g', 0, 0, 0, 0, 0, 0, 0)
#define NAME_CHUNKED PACK8('c', 'h', 'u', 'n', 'k', 'e', 'd', 0)

/* Byte i (< 24) of a name packed in three words. */
static __always_inline char name_at(__u64 w0, __u64 w1, __u64 w2, __u32 i)
{
	__u64 w = i < 8 ? w0 : i < 16 ? w1 : w2;

	return (char)(w >> (8 * (i & 7)));
}

/* Token constants, as the bytes shift into a __u64 (first byte most significant). */
#define TOK2(a, b) (((__u64)(a) << 8) | (b))
#define TOK3(a, b, c) ((TOK2(a, b) << 8) | (c))
#define TOK4(a, b, c, d) ((TOK3(a, b, c) << 8) | (d))
#define TOK5(a, b, c, d, e) ((TOK4(a, b, c, d) << 8) | (e))
#define TOK6(a, b, c, d, e, f) ((TOK5(a, b, c, d, e) << 8) | (f))
#define TOK7(a, b, c, d, e, f, g) ((TOK6(a, b, c, d, e, f) << 8) | (g))
#define TOK8(a, b, c, d, e, f, g, h) ((TOK7(a, b, c, d, e, f, g) << 8) | (h))
#define TOK_HTTP10 TOK8('H', 'T', 'T', 'P', '/', '1', '.', '0')
#define TOK_HTTP11 TOK8('H', 'T', 'T', 'P', '/', '1', '.', '1')

/* Sync note: enum sockeye_method in include/sockeye.h. */
static __always_inline __u8 http_method_from_token(__u64 t)
{
	switch (t) {
	case TOK3('G', 'E', 'T'):
		return SOCKEYE_METHOD_GET;
	case TOK4('H', 'E', 'A', 'D'):
		return SOCKEYE_METHOD_HEAD;
	case TOK4('P', 'O', 'S', 'T'):
		return SOCKEYE_METHOD_POST;
	case TOK3('P', 'U', 'T'):
		return SOCKEYE_METHOD_PUT;
	case TOK6('D', 'E', 'L', 'E', 'T', 'E'):
		return SOCKEYE_METHOD_DELETE;
	case TOK5('P', 'A', 'T', 'C', 'H'):
		return SOCKEYE_METHOD_PATCH;
	case TOK7('O', 'P', 'T', 'I', 'O', 'N', 'S'):
		return SOCKEYE_METHOD_OPTIONS;
	case TOK7('C', 'O', 'N', 'N', 'E', 'C', 'T'):
		return SOCKEYE_METHOD_CONNECT;
	case TOK5('T', 'R', 'A', 'C', 'E'):
		return SOCKEYE_METHOD_TRACE;
	default:
		return SOCKEYE_METHOD_OTHER;
	}
}

/* Start of a message's first byte: reset per-message state. */
static __always_inline void http_msg_begin(struct http_parser *p, struct route_state *r, __u64 now)
{
	p->token = 0;
	p->tlen = 0;
	p->flags = 0;
	p->num = 0;
	p->status = 0;
	p->body_size = 0;
	p->msg_start_ns = now;
	if (r)
		route_reset(r);
}

/* A message is complete, body included: the next byte starts another. */
static __always_inline void http_msg_end(struct http_parser *p)
{
	p->state = HP_START;
	p->ended = 1;
}

/* The empty line ended a header section: decide how the body is delimited. */
static __always_inline void http_headers_end(struct http_parser *p)
{
	if (p->messages < 255)
		p->messages++;
	if (p->flags & HPF_TUNNEL) {
		p->state = HP_CLOSED;
		p->ended = 1;
		return;
	}
	if (p->flags & HPF_RESPONSE) {
		if (p->status < 200 || p->status == 204 || p->status == 304 ||
		    (p->flags & HPF_NO_BODY)) {
			http_msg_end(p);
			return;
		}
	}
	if (p->flags & HPF_CHUNKED) {
		p->num = 0;
		p->state = HP_CHUNK_SIZE;
	} else if (p->flags & HPF_CLEN) {
		p->body_left = p->num;
		p->body_size = p->num;
		if (p->num)
			p->state = HP_BODY;
		else
			http_msg_end(p);
	} else if (p->flags & HPF_RESPONSE) {
		p->body_left = ~0ULL; /* delimited by close */
		p->state = HP_BODY_CLOSE;
	} else {
		http_msg_end(p); /* a request without length has no body */
	}
}

static __always_inline int is_tchar_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

/* One byte. r is the route state (NULL on the response direction: a request there is an
 * error). Returns an enum http_event. */
static __always_inline int http_step(struct http_parser *p, struct route_state *r, char c,
				     __u64 now)
{
	switch (p->state) {
	case HP_START:
		if (c == '\r' || c == '\n')
			return HE_NONE; /* RFC 9112 2.2: ignore empty lines before a message */
		if (!is_tchar_upper(c))
			goto error;
		http_msg_begin(p, r, now);
		p->token = (__u8)c;
		p->tlen = 1;
		p->state = HP_TOKEN;
		return HE_NONE;
	case HP_TOKEN:
		if (c == ' ') {
			if (p->token == TOK_HTTP11 || p->token == TOK_HTTP10) {
				p->version = p->token == TOK_HTTP11 ? SOCKEYE_VERSION_1_1
								    : SOCKEYE_VERSION_1_0;
				p->flags |= HPF_RESPONSE;
				p->state = HP_STATUS;
				p->hidx = 0;
				return HE_NONE;
			}
			if (!r)
				goto error;
			p->method = http_method_from_token(p->token);
			p->state = HP_TARGET;
			return HE_NONE;
		}
		/* Methods are upper-case letters (and '-' / '_' in extension methods); the status
		 * line starts "HTTP/1.". */
		if (p->tlen >= 8 || !(is_tchar_upper(c) || c == '/' || c == '.' || c == '-' ||
				      c == '_' || (c >= '0' && c <= '9')))
			goto error;
		p->token = (p->token << 8) | (__u8)c;
		p->tlen++;
		return HE_NONE;
	case HP_TARGET:
		if (!r)
			goto error;
		if (c == ' ') {
			route_finish(r);
			p->token = 0;
			p->tlen = 0;
			p->state = HP_VERSION;
			return HE_NONE;
		}
		if (c == '\r' || c == '\n')
			goto error; /* HTTP/0.9 or garbage */
		route_byte(r, c);
		return HE_NONE;
	case HP_VERSION:
		if (c == '\r' || c == '\n') {
			if (p->token == TOK_HTTP11)
				p->version = SOCKEYE_VERSION_1_1;
			else if (p->token == TOK_HTTP10)
				p->version = SOCKEYE_VERSION_1_0;
			else
				goto error; /* HTTP/2.0 preface, HTTP/0.9, garbage */
			p->state = c == '\r' ? HP_SKIP_LINE : HP_LINE_START;
			return HE_REQUEST;
		}
		if (p->tlen >= 8)
			goto error;
		p->token = (p->token << 8) | (__u8)c;
		p->tlen++;
		return HE_NONE;
	case HP_STATUS:
		if (c < '0' || c > '9')
			goto error;
		p->status = p->status * 10 + (c - '0');
		if (++p->hidx < 3)
			return HE_NONE;
		p->state = HP_SKIP_LINE;
		return HE_RESPONSE;
	case HP_SKIP_LINE:
		if (c == '\n')
			p->state = HP_LINE_START;
		return HE_NONE;
	case HP_LINE_START:
		if (c == '\r') {
			p->state = HP_END_LF;
			return HE_NONE;
		}
		if (c == '\n') {
			http_headers_end(p);
			return HE_NONE;
		}
		p->hidx = 0;
		p->hcand = HDR_CAND_CLEN | HDR_CAND_TE;
		p->state = HP_HDR_NAME;
		__attribute__((fallthrough)); /* this byte is the name's first */
	case HP_HDR_NAME: {
		char l = lower(c);

		if (c == ':') {
			if ((p->hcand & HDR_CAND_CLEN) && p->hidx == HDR_CLEN_LEN) {
				p->num = 0;
				p->flags |= HPF_CLEN;
				p->state = HP_CLEN;
			} else if ((p->hcand & HDR_CAND_TE) && p->hidx == HDR_TE_LEN) {
				p->hidx = 0;
				p->state = HP_TE;
			} else {
				p->state = HP_SKIP_LINE;
			}
			return HE_NONE;
		}
		if (c == '\n') {
			p->state = HP_LINE_START; /* malformed line: ignore it */
			return HE_NONE;
		}
		if (p->hidx >= HDR_CLEN_LEN || l != name_at(NAME_CLEN_0, NAME_CLEN_1, 0, p->hidx))
			p->hcand &= ~HDR_CAND_CLEN;
		if (p->hidx >= HDR_TE_LEN ||
		    l != name_at(NAME_TE_0, NAME_TE_1, NAME_TE_2, p->hidx))
			p->hcand &= ~HDR_CAND_TE;
		if (!p->hcand) {
			p->state = HP_SKIP_LINE;
			return HE_NONE;
		}
		p->hidx++;
		return HE_NONE;
	}
	case HP_CLEN:
		if (c >= '0' && c <= '9') {
			if (p->num < (1ULL << 58))
				p->num = p->num * 10 + (c - '0');
		} else if (c == '\n') {
			p->state = HP_LINE_START;
		}
		return HE_NONE;
	case HP_TE:
		if (c == '\n') {
			p->state = HP_LINE_START;
			return HE_NONE;
		}
		if (p->hidx < 7 && lower(c) == name_at(NAME_CHUNKED, 0, 0, p->hidx)) {
			if (++p->hidx == 7)
				p->flags |= HPF_CHUNKED;
		} else if (p->hidx < 7) {
			p->hidx = lower(c) == 'c' ? 1 : 0;
		}
		return HE_NONE;
	case HP_END_LF:
		if (c != '\n')
			goto error;
		http_headers_end(p);
		return HE_NONE;
	case HP_CHUNK_SIZE: {
		char l = lower(c);

		if (c >= '0' && c <= '9') {
			if (p->num < (1ULL << 58))
				p->num = p->num * 16 + (c - '0');
		} else if (l >= 'a' && l <= 'f') {
			if (p->num < (1ULL << 58))
				p->num = p->num * 16 + (l - 'a' + 10);
		} else if (c == ';' || c == ' ' || c == '\t') {
			p->state = HP_CHUNK_EXT;
		} else if (c == '\n') {
			goto chunk_line_end;
		} else if (c != '\r') {
			goto error;
		}
		return HE_NONE;
	}
	case HP_CHUNK_EXT:
		if (c == '\n')
			goto chunk_line_end;
		return HE_NONE;
	case HP_TRL_START:
		if (c == '\r') {
			p->state = HP_TRL_END_LF;
		} else if (c == '\n') {
			http_msg_end(p);
		} else {
			p->state = HP_TRL_LINE;
		}
		return HE_NONE;
	case HP_TRL_LINE:
		if (c == '\n')
			p->state = HP_TRL_START;
		return HE_NONE;
	case HP_TRL_END_LF:
		if (c != '\n')
			goto error;
		http_msg_end(p);
		return HE_NONE;
	case HP_CLOSED:
		return HE_NONE;
	default:
		/* HP_BODY, HP_CHUNK_DATA are skipped by the driver, HP_ERROR is sticky. */
		return HE_NONE;
	}

chunk_line_end:
	if (p->num == 0) {
		p->state = HP_TRL_START;
	} else {
		p->body_size += p->num;
		p->body_left = p->num + 2; /* data and its CRLF */
		p->state = HP_CHUNK_DATA;
	}
	p->num = 0;
	return HE_NONE;
error:
	p->state = HP_ERROR;
	return HE_ERROR;
}

/* Fast paths over whole words: w0, w1, w2 are the next 24 bytes (little-endian loads). Each
 * does exactly what the byte steps would do for the common shapes of a start line or header
 * line, or nothing (returns 0). Returns the bytes consumed; *ev gets the event if any.
 * tests/unit/test_http_parser.c checks that both paths agree. */
/* Case bits, set only where the name has a letter: OR-ing 0x20 into '-' or ':' would also
 * match CR (0x0d | 0x20 == '-') or SUB (0x1a | 0x20 == ':'), which the byte steps refuse. */
#define LOWER8 0x2020202020202020ULL	   /* "transfer" */
#define LOWER_CONTENT_ 0x0020202020202020ULL /* "content-" */
#define LOWER_LENGTH_ 0x0000202020202020ULL  /* "length:" */
#define LOWER_ENCODIN 0x2020202020202000ULL  /* "-encodin" */
#define W_HTTP11 PACK8('H', 'T', 'T', 'P', '/', '1', '.', '1')
#define W_HTTP10 PACK8('H', 'T', 'T', 'P', '/', '1', '.', '0')
#define W_CONTENT_ PACK8('c', 'o', 'n', 't', 'e', 'n', 't', '-')
#define W_LENGTH_ PACK8('l', 'e', 'n', 'g', 't', 'h', ':', 0)
#define W_TRANSFER PACK8('t', 'r', 'a', 'n', 's', 'f', 'e', 'r')
#define W_ENCODIN PACK8('-', 'e', 'n', 'c', 'o', 'd', 'i', 'n')
#define BYTE(w, i) ((__u8)((w) >> (8 * (i))))

static __always_inline int is_digit_byte(__u8 c)
{
	return c >= '0' && c <= '9';
}

static __always_inline __u32 http_fast(struct http_parser *p, struct route_state *r, __u64 w0,
				       __u64 w1, __u64 w2, __u64 now, int *ev)
{
	__u8 b0 = BYTE(w0, 0);
	__u32 m;

	*ev = HE_NONE;
	switch (p->state) {
	case HP_START:
		if (w0 == W_HTTP11 || w0 == W_HTTP10) {
			if (BYTE(w1, 0) != ' ' || !is_digit_byte(BYTE(w1, 1)) ||
			    !is_digit_byte(BYTE(w1, 2)) || !is_digit_byte(BYTE(w1, 3)))
				return 0;
			http_msg_begin(p, r, now);
			p->flags |= HPF_RESPONSE;
			p->version = w0 == W_HTTP11 ? SOCKEYE_VERSION_1_1 : SOCKEYE_VERSION_1_0;
			p->status = (BYTE(w1, 1) - '0') * 100 + (BYTE(w1, 2) - '0') * 10 +
				    (BYTE(w1, 3) - '0');
			p->state = HP_SKIP_LINE;
			*ev = HE_RESPONSE;
			return 12;
		}
		if (!r)
			return 0; /* a request on the response side: let the byte steps say so */
		if ((__u32)w0 == PACK8('G', 'E', 'T', ' ', 0, 0, 0, 0))
			m = SOCKEYE_METHOD_GET;
		else if ((__u32)w0 == PACK8('P', 'U', 'T', ' ', 0, 0, 0, 0))
			m = SOCKEYE_METHOD_PUT;
		else if ((w0 & 0xffffffffffULL) == PACK8('P', 'O', 'S', 'T', ' ', 0, 0, 0))
			m = SOCKEYE_METHOD_POST;
		else if ((w0 & 0xffffffffffULL) == PACK8('H', 'E', 'A', 'D', ' ', 0, 0, 0))
			m = SOCKEYE_METHOD_HEAD;
		else if ((w0 & 0xffffffffffffffULL) == PACK8('D', 'E', 'L', 'E', 'T', 'E', ' ', 0))
			m = SOCKEYE_METHOD_DELETE;
		else
			return 0;
		http_msg_begin(p, r, now);
		p->method = m;
		p->state = HP_TARGET;
		return m == SOCKEYE_METHOD_GET || m == SOCKEYE_METHOD_PUT	 ? 4
		       : m == SOCKEYE_METHOD_DELETE				 ? 7
										 : 5;
	case HP_VERSION:
		if (p->tlen != 0 || (w0 != W_HTTP11 && w0 != W_HTTP10) || BYTE(w1, 0) != '\r' ||
		    BYTE(w1, 1) != '\n')
			return 0;
		p->version = w0 == W_HTTP11 ? SOCKEYE_VERSION_1_1 : SOCKEYE_VERSION_1_0;
		p->state = HP_LINE_START;
		*ev = HE_REQUEST;
		return 10;
	case HP_LINE_START:
		if (b0 == '\r' || b0 == '\n')
			return 0;
		if ((w0 | LOWER_CONTENT_) == W_CONTENT_ &&
		    ((w1 | LOWER_LENGTH_) & 0xffffffffffffffULL) == W_LENGTH_) {
			p->num = 0;
			p->flags |= HPF_CLEN;
			p->state = HP_CLEN;
			return 15;
		}
		if ((w0 | LOWER8) == W_TRANSFER && (w1 | LOWER_ENCODIN) == W_ENCODIN &&
		    (BYTE(w2, 0) | 0x20) == 'g' && BYTE(w2, 1) == ':') {
			p->hidx = 0;
			p->state = HP_TE;
			return 18;
		}
		/* Any other name ends in HP_SKIP_LINE byte by byte, and so does this. */
		p->state = HP_SKIP_LINE;
		return 1;
	default:
		return 0;
	}
}

/* Skips the rest of a line we do not need, a word at a time: w is the next 8 bytes. Returns
 * 8 when the word has no LF; otherwise the bytes up to and including the first LF, having
 * moved to the next line's state, as the byte steps would. Only in HP_SKIP_LINE/HP_TRL_LINE. */
static __always_inline __u32 http_skip_line_word(struct http_parser *p, __u64 w)
{
	__u64 x = w ^ 0x0a0a0a0a0a0a0a0aULL;
	__u64 t = (x - 0x0101010101010101ULL) & ~x & 0x8080808080808080ULL;
	__u64 m;

	if (!t)
		return 8;
	/* The lowest flagged byte is the first LF (flags above it may be false). Its index:
	 * (1 << 8k) times bytes 7..0 = 0..7 puts k in the top byte. */
	m = (t & -t) >> 7;
	p->state = p->state == HP_TRL_LINE ? HP_TRL_START : HP_LINE_START;
	return (__u32)((m * 0x0001020304050607ULL) >> 56) + 1;
}

static __always_inline int http_is_skip_state(__u8 state)
{
	return state == HP_BODY || state == HP_CHUNK_DATA || state == HP_BODY_CLOSE;
}

/* A window of payload bytes and the scan's cursor in it. In the kernel it lives in a map value:
 * the verifier takes what it loads from there as unknown, so the loop in http_scan_window is
 * checked once per unit, not once per distinct cursor value a path could have. */
struct http_window {
	char buf[SOCKEYE_SCAN_WINDOW + 24]; /* word loads at any masked index stay inside */
	__u32 i;			     /* next byte to look at */
	__u32 n;			     /* bytes in buf */
	__s32 ev;			     /* enum http_event that stopped the scan, or HE_NONE */
	__u32 pad;
};

#define HTTP_WIN_MASK (SOCKEYE_SCAN_WINDOW - 1)
_Static_assert((SOCKEYE_SCAN_WINDOW & HTTP_WIN_MASK) == 0, "window index masks");
/* Units of work (a fast path, a word of a skipped line, or one byte) per http_scan_window. */
#define HTTP_SCAN_UNITS 16

/* The 8 bytes at p as a little-endian word. In BPF a single load: clang knows the window is a
 * char array and would otherwise assemble the word from 8 byte loads; the JITs of x86-64
 * and arm64 load unaligned words, and the verifier allows it there. */
#ifdef __bpf__
#define HTTP_WORD(ptr) (*(const __u64 *)__builtin_assume_aligned(ptr, 8))
#else
static __always_inline __u64 http_word(const void *ptr)
{
	__u64 w;

	__builtin_memcpy(&w, ptr, 8);
	return w;
}
#define HTTP_WORD(ptr) http_word(ptr)
#endif

/* The fast path's result packed in one int: bytes consumed, event above them. w points into
 * a window at any byte offset: in C an unaligned word must be read with HTTP_WORD. */
static __always_inline int http_fast_packed(struct http_parser *p, struct route_state *r,
					    const __u64 *w, __u64 now)
{
	int ev;
	__u32 used = http_fast(p, r, HTTP_WORD(&w[0]), HTTP_WORD(&w[1]), HTTP_WORD(&w[2]), now,
			       &ev);

	return (int)(used | (__u32)ev << 16);
}

/* How the scan calls the parser. The kernel build replaces these with global functions
 * (http_pair.bpf.h), which the verifier checks once instead of once per call site and path. */
#ifndef HTTP_STEP
#define HTTP_STEP(p, r, c, now) http_step(p, r, c, now)
#define HTTP_FAST(p, r, w, now) http_fast_packed(p, r, w, now)
#endif

/* One unit of w->buf from w->i: a word fast path where 24 bytes (a line start) or 8 bytes (a
 * skipped line) remain, else one byte. Returns 1 when the scan must stop: at an event
 * (w->ev), at the end of the window, when a message ended or a body starts (the driver acts
 * on those). The cursor is reloaded from w on purpose (see struct http_window). */
static __always_inline int http_scan_unit(struct http_parser *p, struct route_state *r,
					  struct http_window *w, __u64 now)
{
	__u32 i = *(volatile __u32 *)&w->i, n = *(volatile __u32 *)&w->n, used = 0;
	__u8 s = p->state;
	int ev = HE_NONE;

	if (i >= n || p->ended || http_is_skip_state(s) || s == HP_CLOSED || s == HP_ERROR)
		return 1;
	if (s == HP_SKIP_LINE || s == HP_TRL_LINE) {
		if (n - i >= 8)
			used = http_skip_line_word(p, HTTP_WORD(&w->buf[i & HTTP_WIN_MASK]));
	} else if (n - i >= 24 && (s == HP_START || s == HP_VERSION || s == HP_LINE_START)) {
		int res = HTTP_FAST(p, r, (const __u64 *)&w->buf[i & HTTP_WIN_MASK], now);

		used = res & 0xffff;
		ev = res >> 16;
	}
	if (!used) {
		ev = HTTP_STEP(p, r, w->buf[i & HTTP_WIN_MASK], now);
		used = 1;
	}
	*(volatile __u32 *)&w->i = i + used;
	w->ev = ev;
	return ev != HE_NONE;
}

/* Parses w->buf from w->i towards w->n, HTTP_SCAN_UNITS units at most (http_scan_unit says
 * where it stops). Measured on 6.18: 32 units per call were no faster than 16 (bpfcost) and
 * took the verifier ~5k more instructions. */
static __always_inline void http_scan_window(struct http_parser *p, struct route_state *r,
					     struct http_window *w, __u64 now)
{
	w->ev = HE_NONE;
	for (__u32 u = 0; u < HTTP_SCAN_UNITS; u++)
		if (http_scan_unit(p, r, w, now))
			return;
}

/* Skip states are advanced by the driver without looking at the bytes. Returns the bytes
 * consumed of avail. */
static __always_inline __u64 http_skip(struct http_parser *p, __u64 avail)
{
	__u64 n = p->body_left < avail ? p->body_left : avail;

	if (p->state == HP_BODY_CLOSE) {
		p->body_size += avail; /* until the connection closes */
		return avail;
	}
	p->body_left -= n;
	if (p->body_left == 0) {
		if (p->state == HP_CHUNK_DATA) {
			p->num = 0;
			p->state = HP_CHUNK_SIZE;
		} else {
			http_msg_end(p);
		}
	}
	return n;
}

/* gap bytes of the stream were never seen (lost before the hook, reordered). Inside a body
 * they are body bytes, which are skipped without being read anyway (TCP delivers them later,
 * when they look like a retransmit): returns 1, framing kept. Anywhere else returns 0: the
 * framing is lost. */
static __always_inline int http_gap(struct http_parser *p, __u32 gap)
{
	if (p->state == HP_BODY_CLOSE) {
		p->body_size += gap;
		return 1;
	}
	if ((p->state == HP_BODY || p->state == HP_CHUNK_DATA) && gap < p->body_left) {
		p->body_left -= gap;
		return 1;
	}
	return p->state == HP_CLOSED; /* nothing is parsed after an upgrade: nothing to lose */
}

/* FNV-1a over a route's eight words (zero-filled past its NUL): the route table key. Never
 * SOCKEYE_ROUTE_OTHER or SOCKEYE_ROUTE_IGNORE. User space names patterns with it too. */
static __always_inline __u64 route_hash_words(const __u64 *w)
{
	__u64 h = ROUTE_FNV_OFFSET;

	h = (h ^ w[0]) * ROUTE_FNV_PRIME;
	h = (h ^ w[1]) * ROUTE_FNV_PRIME;
	h = (h ^ w[2]) * ROUTE_FNV_PRIME;
	h = (h ^ w[3]) * ROUTE_FNV_PRIME;
	h = (h ^ w[4]) * ROUTE_FNV_PRIME;
	h = (h ^ w[5]) * ROUTE_FNV_PRIME;
	h = (h ^ w[6]) * ROUTE_FNV_PRIME;
	h = (h ^ w[7]) * ROUTE_FNV_PRIME;
	h ^= h >> 29;
	return h <= SOCKEYE_ROUTE_IGNORE ? h + 2 : h;
}

static __always_inline __u64 route_hash(const struct route_state *r)
{
	return route_hash_words((const __u64 *)r->out);
}

#endif /* SOCKEYE_HTTP_BPF_H */
