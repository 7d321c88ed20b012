/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* redis_feed.h - bpf/redis.bpf.h driven over one connection the way bpf/redis_pair.bpf.h
 * drives it in the kernel (segments in REDIS_WIN windows, payloads skipped, events paired),
 * with what the kernel would write to its maps collected in plain arrays. Shared by
 * tests/unit/test_redis_parser.c and tests/fuzz/fuzz_redis_parser.c. */
#ifndef SOCKEYE_REDIS_FEED_H
#define SOCKEYE_REDIS_FEED_H

#include <stdint.h>
#include <string.h>

#include "redis.bpf.h"

#define FEED_MAX_RESULTS 4096

struct feed {
	struct redis_conn c;
	struct redis_result res[FEED_MAX_RESULTS];
	unsigned n_res;
	unsigned commands; /* RE_COMMAND events */
	unsigned pipeline_full, unmatched, ignored, desync, pushes;
	int used; /* the connection's db_conns used gauge as the kernel keeps it */
	int open; /* and its open gauge (1 from the first segment until it is left) */
	int bytewise; /* 1: one byte per window (the slowest driver); 0: REDIS_WIN windows */
};

static inline void feed_init(struct feed *f)
{
	memset(f, 0, sizeof(*f));
}

/* The gauges as the kernel keeps them (redis_gauges). */
static inline void feed_used(struct feed *f)
{
	f->used += redis_used_change(&f->c);
	f->open -= redis_open_leaves(&f->c);
}

static inline void feed_actions(struct feed *f, int a, const struct redis_result *r)
{
	if ((a & REDIS_A_RECORD) && f->n_res < FEED_MAX_RESULTS)
		f->res[f->n_res++] = *r;
	if (a & REDIS_A_PIPELINE_FULL)
		f->pipeline_full++;
	if (a & REDIS_A_UNMATCHED)
		f->unmatched++;
	if (a & REDIS_A_IGNORE)
		f->ignored++;
}

/* One segment of len bytes in one direction at time now. */
static inline void feed(struct feed *f, const char *buf, size_t len, int from_client, uint64_t now)
{
	struct redis_conn *c = &f->c;
	struct resp_parser *p = from_client ? &c->req : &c->rep;
	struct redis_win w;
	size_t pos = 0, win_base = 0;

	if (c->flags & REDIS_C_IGNORED)
		return;
	if (!(c->flags & REDIS_C_OPEN)) {
		c->flags |= REDIS_C_OPEN;
		f->open++;
	}
	redis_seg_begin(c, from_client, now);
	w.n = 0;
	while (pos < len) {
		struct redis_result r;
		int a = 0;

		memset(&r, 0, sizeof(r));
		if (p->state == RS_SKIP) {
			pos += resp_skip(p, len - pos);
			continue;
		}
		if (pos >= win_base && pos - win_base < w.n) {
			w.i = (uint32_t)(pos - win_base); /* still inside the window, as the kernel */
		} else {
			w.n = len - pos > REDIS_WIN ? REDIS_WIN : (uint32_t)(len - pos);
			if (f->bytewise)
				w.n = 1;
			memcpy(w.buf, buf + pos, w.n);
			win_base = pos;
			w.i = 0;
		}
		redis_scan(p, &w, from_client);
		pos = win_base + w.i;
		switch (w.ev) {
		case RE_COMMAND:
			f->commands++;
			a = redis_on_command(c);
			c->cmd_start_ns = now; /* the next command begins in this segment */
			break;
		case RE_REPLY:
			a = redis_on_reply(c, now, &r);
			break;
		case RE_PUSH:
			f->pushes++;
			break;
		case RE_ERROR:
			redis_set_ignored(c);
			f->desync++;
			break;
		}
		feed_actions(f, a, &r);
		feed_used(f);
		if (c->flags & REDIS_C_IGNORED)
			return;
	}
}

#endif /* SOCKEYE_REDIS_FEED_H */
