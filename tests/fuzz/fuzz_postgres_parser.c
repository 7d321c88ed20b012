// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* fuzz_postgres_parser.c - libFuzzer target: the kernel's PostgreSQL framing and pairing
 * (bpf/postgres.bpf.h, compiled as C) driven over both directions of one connection as
 * bpf/postgres_pair.bpf.h drives it (tests/unit/postgres_feed.h): segments in PG_WIN windows,
 * bodies skipped by length, operations queued in a PG_FIFO FIFO, answers paired.
 *
 * Every input runs twice: with PG_WIN windows and with one byte per window; the results
 * (operations, events, gauges, the connection's state) must be identical. Invariants: states
 * are valid, the FIFO never holds more than PG_FIFO, the used gauge is 1 exactly while an
 * operation is outstanding or a transaction open, the open gauge is 1 until the connection is
 * left, operations never outnumber what the client sent, names and SQLSTATEs are upper-case
 * or zero-padded, a status only with an error.
 *
 * Input: records as fuzz_redis_parser.c's: a byte h, bit 7 the direction (0: client, 1:
 * server), L = h & 0x7f: 1..125 a segment of the next L bytes; 126/127 a long segment (next
 * byte k, a 16-byte pattern repeated to (k + 1) * 64 bytes); 0 the connection closes (the
 * outstanding operations end as connection_closed) and a new one starts.
 */
#include <linux/types.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#include "../unit/postgres_feed.h"

#define LONG_MAX_LEN (256 * 64)

static struct pg_feed runs[2];

static int name_ok(const char *s)
{
	int end = 0;

	for (int k = 0; k < SOCKEYE_DB_NAME_LEN; k++) {
		char ch = s[k];

		if (!ch) {
			end = 1;
			continue;
		}
		if (end || !((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')))
			return 0;
	}
	return 1;
}

static void check_conn(const struct pg_feed *f, unsigned sent)
{
	const struct pg_conn *c = &f->c;

	CHECK(c->req.state <= PS_ERROR && c->rep.state <= PS_ERROR, "state %u/%u", c->req.state,
	      c->rep.state);
	CHECK(c->req.kw <= KW_OTHER && c->rep.kw <= KW_OTHER, "keyword state");
	CHECK(pg_queued(c) <= PG_FIFO, "FIFO holds %u", pg_queued(c));
	CHECK(f->used == pg_busy(c), "used %d, busy %d", f->used, pg_busy(c));
	CHECK(f->open == !(c->flags & PG_C_IGNORED), "open %d, flags %x", f->open, c->flags);
	CHECK(f->n_res <= sent, "%u operations of %u client messages", f->n_res, sent);
	for (unsigned i = 0; i < f->n_res; i++) {
		const struct pg_result *r = &f->res[i];

		CHECK(name_ok(r->name), "operation name");
		CHECK(name_ok(r->status), "status");
		CHECK(r->error != SOCKEYE_DB_OK || !r->status[0], "status without an error");
		CHECK(r->error != SOCKEYE_DB_ERR_RESPONSE || strlen(r->status) == 5,
		      "an error without a SQLSTATE");
	}
}

static void run(struct pg_feed *f, const uint8_t *data, size_t size, int bytewise)
{
	static char big[LONG_MAX_LEN];
	struct fin in = { data, size };
	uint64_t now = 1;
	unsigned base = 0; /* results of earlier connections */

	pg_feed_init(f);
	f->bytewise = bytewise;
	while (!fin_empty(&in)) {
		uint8_t h = fin_u8(&in);
		int from_client = !(h & 0x80);
		unsigned len = h & 0x7f;
		const char *seg;

		if (len == 0) { /* the connection closes; a new one starts, results kept */
			struct pg_result keep[64];
			unsigned n;

			pg_feed_close(f, now);
			check_conn(f, f->msgs[1] + base);
			CHECK(f->used == 0 && f->open == 0, "gauges after close %d/%d", f->used,
			      f->open);
			n = f->n_res < 64 ? f->n_res : 64;
			memcpy(keep, f->res, n * sizeof(keep[0]));
			pg_feed_init(f);
			f->bytewise = bytewise;
			memcpy(f->res, keep, n * sizeof(keep[0]));
			f->n_res = n;
			base = n;
			continue;
		}
		if (len >= 126) {
			unsigned k = fin_u8(&in);
			char pat[16];

			for (int i = 0; i < 16; i++)
				pat[i] = (char)fin_u8(&in);
			len = (k + 1) * 64;
			for (unsigned i = 0; i < len; i++)
				big[i] = pat[i % 16];
			seg = big;
		} else {
			if (len > in.n)
				len = (unsigned)in.n;
			seg = (const char *)in.p;
			in.p += len;
			in.n -= len;
		}
		pg_feed(f, seg, len, from_client, now);
		now += 1000;
		check_conn(f, f->msgs[1] + base);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run(&runs[0], data, size, 0);
	run(&runs[1], data, size, 1);
	CHECK(runs[0].n_res == runs[1].n_res, "windows %u, bytes %u operations", runs[0].n_res,
	      runs[1].n_res);
	CHECK(memcmp(runs[0].res, runs[1].res, runs[0].n_res * sizeof(runs[0].res[0])) == 0,
	      "operations differ between windows and bytes");
	CHECK(runs[0].pipeline_full == runs[1].pipeline_full &&
		      runs[0].unmatched == runs[1].unmatched && runs[0].ignored == runs[1].ignored &&
		      runs[0].desync == runs[1].desync && runs[0].used == runs[1].used &&
		      runs[0].open == runs[1].open,
	      "events differ between windows and bytes");
	CHECK(memcmp(&runs[0].c, &runs[1].c, sizeof(runs[0].c)) == 0,
	      "connection state differs between windows and bytes");
	return 0;
}
