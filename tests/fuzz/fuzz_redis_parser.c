// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* fuzz_redis_parser.c - libFuzzer target: the kernel's RESP parser and command/reply pairing
 * (bpf/redis.bpf.h, compiled as C) driven over both directions of one connection as
 * bpf/redis_pair.bpf.h drives it (tests/unit/redis_feed.h): segments in REDIS_WIN windows,
 * payloads skipped by length, commands queued in a REDIS_FIFO FIFO, replies paired.
 *
 * Every input runs twice: with REDIS_WIN windows and with one byte per window. The results
 * (operations, events, gauges) must be identical. Invariants: the states are valid, the FIFO
 * never holds more than REDIS_FIFO, the used gauge is 1 exactly while a command is
 * outstanding, operations never outnumber the commands queued, names are upper-case or
 * zero-padded, and an ignored connection parses nothing more.
 *
 * Input: a sequence of records, each starting with a byte h. Bit 7 of h is the direction (0:
 * commands, 1: replies), L = h & 0x7f:
 *   1..125  a segment of the next L bytes
 *   126     a long segment: next byte k, then a 16-byte pattern repeated to (k + 1) * 64 bytes
 *   127     the same as 126 with the pattern's bytes (a payload to skip)
 *   0       the connection closes; a new one starts
 */
#include <linux/types.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#include "../unit/redis_feed.h"

#define LONG_MAX_LEN (256 * 64)

static struct feed runs[2];

static void check_conn(const struct feed *f, unsigned commands)
{
	const struct redis_conn *c = &f->c;

	CHECK(c->req.state <= RS_ERROR && c->rep.state <= RS_ERROR, "state %u/%u", c->req.state,
	      c->rep.state);
	CHECK(redis_queued(c) <= REDIS_FIFO, "FIFO holds %u", redis_queued(c));
	CHECK(f->used == redis_busy(c), "used %d, busy %d", f->used, redis_busy(c));
	CHECK(f->open == !(c->flags & REDIS_C_IGNORED), "open %d, flags %x", f->open, c->flags);
	CHECK(f->n_res + redis_queued(c) <= commands, "%u operations and %u queued of %u commands",
	      f->n_res, redis_queued(c), commands);
	for (unsigned i = 0; i < f->n_res; i++) {
		const struct redis_result *r = &f->res[i];
		int end = 0;

		for (int k = 0; k < SOCKEYE_DB_NAME_LEN; k++) {
			char ch = r->status[k];

			if (!ch) {
				end = 1;
				continue;
			}
			CHECK(!end, "status byte after NUL");
			CHECK((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_',
			      "status byte 0x%02x", (unsigned char)ch);
		}
		CHECK(r->error != SOCKEYE_DB_OK || !r->status[0], "status without an error");
		CHECK(!r->cache || r->error == SOCKEYE_DB_OK, "a lookup result from an error");
	}
}

static void run(struct feed *f, const uint8_t *data, size_t size, int bytewise)
{
	static char big[LONG_MAX_LEN];
	struct fin in = { data, size };
	uint64_t now = 1;

	feed_init(f);
	f->bytewise = bytewise;
	while (!fin_empty(&in)) {
		uint8_t h = fin_u8(&in);
		int from_client = !(h & 0x80);
		unsigned len = h & 0x7f;
		const char *seg;

		if (len == 0) { /* the connection closes: the gauges go back to 0 */
			feed_init(f);
			f->bytewise = bytewise;
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
		feed(f, seg, len, from_client, now);
		now += 1000;
		check_conn(f, f->commands);
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
		      runs[0].desync == runs[1].desync && runs[0].pushes == runs[1].pushes &&
		      runs[0].used == runs[1].used,
	      "events differ between windows and bytes");
	CHECK(memcmp(&runs[0].c, &runs[1].c, sizeof(runs[0].c)) == 0,
	      "connection state differs between windows and bytes");
	return 0;
}
