/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* postgres_feed.h - bpf/postgres.bpf.h driven over one connection the way
 * bpf/postgres_pair.bpf.h drives it in the kernel (segments in PG_WIN windows, bodies skipped,
 * events paired, named statements in a table standing for pg_stmts), with what the kernel
 * would write to its maps collected in plain arrays. Shared by tests/unit/test_postgres_parser.c
 * and tests/fuzz/fuzz_postgres_parser.c. */
#ifndef SOCKEYE_POSTGRES_FEED_H
#define SOCKEYE_POSTGRES_FEED_H

#include <stdint.h>
#include <string.h>

#include "postgres.bpf.h"

#define FEED_MAX_RESULTS 4096
#define FEED_STMTS 64

struct pg_feed {
	struct pg_conn c;
	struct pg_result res[FEED_MAX_RESULTS];
	unsigned n_res;
	unsigned msgs[2]; /* messages framed: server, client */
	unsigned pipeline_full, unmatched, ignored, desync;
	int used;     /* the connection's db_conns used gauge as the kernel keeps it */
	int open;     /* and its open gauge */
	int bytewise; /* 1: one byte per window; 0: PG_WIN windows */
	unsigned n_stmts;
	struct {
		uint64_t hash;
		char name[SOCKEYE_DB_NAME_LEN];
	} stmts[FEED_STMTS];
};

static inline void pg_feed_init(struct pg_feed *f)
{
	memset(f, 0, sizeof(*f));
	pg_conn_init(&f->c);
	f->c.flags |= PG_C_OPEN;
	f->open = 1;
}

static inline void pg_feed_stmt(struct pg_feed *f, const struct pg_result *r, int a)
{
	unsigned i;

	for (i = 0; i < f->n_stmts; i++)
		if (f->stmts[i].hash == r->hash)
			break;
	if (a & PG_A_STMT_PUT) {
		if (i == f->n_stmts) {
			if (f->n_stmts == FEED_STMTS)
				return;
			f->n_stmts++;
		}
		f->stmts[i].hash = r->hash;
		memcpy(f->stmts[i].name, r->name, SOCKEYE_DB_NAME_LEN);
	} else if (a & PG_A_STMT_GET) {
		if (i < f->n_stmts)
			memcpy(f->c.bound, f->stmts[i].name, SOCKEYE_DB_NAME_LEN);
		else
			memset(f->c.bound, 0, SOCKEYE_DB_NAME_LEN);
	} else if ((a & PG_A_STMT_DEL) && i < f->n_stmts) {
		f->stmts[i] = f->stmts[--f->n_stmts];
	}
}

static inline void pg_feed_actions(struct pg_feed *f, int a, const struct pg_result *r)
{
	if ((a & PG_A_RECORD) && f->n_res < FEED_MAX_RESULTS)
		f->res[f->n_res++] = *r;
	if (a & (PG_A_STMT_PUT | PG_A_STMT_GET | PG_A_STMT_DEL))
		pg_feed_stmt(f, r, a);
	if (a & PG_A_PIPELINE_FULL)
		f->pipeline_full++;
	if (a & PG_A_UNMATCHED)
		f->unmatched++;
	if (a & PG_A_IGNORE)
		f->ignored++;
	f->used += pg_used_change(&f->c);
	f->open -= pg_open_leaves(&f->c);
}

/* One segment of len bytes in one direction at time now. */
static inline void pg_feed(struct pg_feed *f, const char *buf, size_t len, int from_client,
			   uint64_t now)
{
	struct pg_conn *c = &f->c;
	struct pg_dir *d = from_client ? &c->req : &c->rep;
	struct pg_win w;
	size_t pos = 0, win_base = 0;

	if (c->flags & PG_C_IGNORED)
		return;
	w.n = 0;
	while (pos < len) {
		struct pg_result r;
		int a = 0;

		memset(&r, 0, sizeof(r));
		if (d->state == PS_SKIP) {
			pos += pg_skip(d, len - pos > 0xffffffffu ? 0xffffffffu : (uint32_t)(len - pos));
			continue;
		}
		if (pos >= win_base && pos - win_base < w.n) {
			w.i = (uint32_t)(pos - win_base);
		} else {
			w.n = len - pos > PG_WIN ? PG_WIN : (uint32_t)(len - pos);
			if (f->bytewise)
				w.n = 1;
			memcpy(w.buf, buf + pos, w.n);
			win_base = pos;
			w.i = 0;
		}
		pg_scan(d, &w, from_client);
		pos = win_base + w.i;
		switch (w.ev) {
		case PE_MSG:
			f->msgs[from_client]++;
			a = from_client ? pg_on_client_msg(c, now, &r) : pg_on_server_msg(c, now, &r);
			break;
		case PE_SSL:
			a = pg_on_ssl(c);
			break;
		case PE_ERROR:
			pg_set_ignored(c);
			f->desync++;
			break;
		}
		pg_feed_actions(f, a, &r); /* the gauges too, as pg_gauges after each event */
		if (c->flags & PG_C_IGNORED)
			return;
	}
	pg_feed_actions(f, 0, NULL);
}

/* The connection closes: what is outstanding ends as connection_closed (postgres_close). */
static inline void pg_feed_close(struct pg_feed *f, uint64_t now)
{
	struct pg_conn *c = &f->c;
	uint32_t i;

	if (!(c->flags & PG_C_OPEN) || (c->flags & PG_C_IGNORED))
		return;
	for (i = 0; i < PG_FIFO && i < pg_queued(c); i++) {
		struct pg_result r;

		memset(&r, 0, sizeof(r));
		if (pg_closed(c, i, now, &r))
			pg_feed_actions(f, PG_A_RECORD, &r);
	}
	pg_set_ignored(c);
	pg_feed_actions(f, 0, NULL);
}

#endif /* SOCKEYE_POSTGRES_FEED_H */
