/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* redis.bpf.h - streaming RESP2/RESP3 parser and command/reply pairing of a Redis client
 * connection, pure C: compiled by clang for the kernel (bpf/redis_pair.bpf.h drives it) and by
 * gcc for tests/unit/test_redis_parser.c and tests/fuzz/fuzz_redis_parser.c, so the tests run
 * exactly what the kernel runs. No helpers, no pointers kept across calls: each step is a
 * function of (state, byte); bulk payloads are not stepped through, the driver skips them by
 * length (resp_skip), across segments.
 *
 * Client direction: RESP arrays of bulk strings ("*N\r\n$len\r\nGET\r\n$3\r\nkey\r\n"). The
 * command name (argument 0) is upper-cased into 16 bytes; longer names are flagged (exported
 * as _OTHER). Inline commands ("PING\r\n", telnet style) are not RESP: the connection is
 * dropped (redis-cli, the client libraries and redis-benchmark all send arrays).
 *
 * Server direction: every RESP2 and RESP3 type. Nesting needs no stack: one counter holds the
 * elements still due in the current reply (an aggregate of n replaces itself with its n
 * children; an attribute adds its children before the element it annotates), so any depth is
 * framed exactly in constant space. A reply's top-level type, its error prefix ("-WRONGTYPE
 * Operation..." -> "WRONGTYPE"), and counts of nil, non-nil, zero and non-zero elements are
 * kept for the pairing below. A push ('>') is framed and then dropped: it answers nothing.
 *
 * Pairing: a FIFO of outstanding commands per connection (pipelining). REDIS_FIFO of them are
 * timed; commands past that are counted in sockeye_db_parser_events_total{event=
 * "pipeline_full"} and their replies consumed in order, so the rest stays exact.
 */
#ifndef SOCKEYE_REDIS_BPF_H
#define SOCKEYE_REDIS_BPF_H

#ifndef __bpf__
#include <linux/types.h>
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#endif

#include "sockeye_db.h"

/* States of one direction. Client states start with RQ_, server states with RP_. */
enum resp_state {
	RS_START = 0,  /* before a message (client) or an element (server): its type byte */
	RQ_ARR_LEN,    /* the argument count of "*N" */
	RQ_ARR_LF,
	RQ_BULK_HDR,   /* '$' of the next argument */
	RQ_BULK_LEN,   /* its length */
	RQ_BULK_LF,
	RQ_NAME,       /* argument 0, stepped: upper-cased into name */
	RP_LINE,       /* a simple string, double, boolean, big number, null: up to CR */
	RP_ERRNAME,    /* the prefix of an error line, up to a space */
	RP_INT,	       /* an integer */
	RP_BLEN,       /* the length of a bulk string, blob error or verbatim string */
	RP_ALEN,       /* the count of an aggregate */
	RP_BLOB_ERR,   /* the body of a blob error, stepped up to its prefix's end */
	RS_LINE_LF,    /* LF after a line's CR */
	RS_SKIP,       /* skip bytes of a bulk payload (the driver skips them) */
	RS_DATA_CR,    /* CR after a payload */
	RS_DATA_LF,    /* LF after a payload */
	RS_ERROR,      /* framing lost: the driver drops the connection */
};

/* Events a step returns; the driver acts on them before the next byte. */
enum resp_event {
	RE_NONE = 0,
	RE_COMMAND, /* client: a command is complete (name, nargs) */
	RE_REPLY,   /* server: a reply is complete (type, status, counts) */
	RE_PUSH,    /* server: a push message is complete: no command's reply */
	RE_ERROR,   /* the byte broke the framing */
};

#define RESP_F_NEG 0x01	     /* a '-' before the digits */
#define RESP_F_LONG_NAME 0x02 /* client: the command name is longer than 16 bytes */
#define RESP_F_LENGTH 0x04   /* the line had a digit */
#define RESP_F_ERRDONE 0x08  /* the error prefix is complete */

/* A length or count larger than this is not Redis (proto-max-bulk-len is 512 MB). */
#define RESP_MAX_NUM (1ULL << 40)

struct resp_parser {
	__u64 num;	/* length, count or integer being parsed */
	__u64 left;	/* bytes of the payload still to step or skip */
	__u64 pending;	/* server: elements still due in this reply (0: between replies) */
	__u32 nargs;	/* client: arguments of the command */
	__u32 argi;	/* client: arguments complete */
	__u32 nils;	/* server: nil elements of this reply (a nil reply counts one) */
	__u32 vals;	/* server: non-nil scalar elements */
	__u32 zeros;	/* server: integer elements equal to 0 */
	__u32 ones;	/* server: integer elements not 0 */
	__u64 ival;	/* server: the last integer (saturating at RESP_MAX_NUM) */
	char name[SOCKEYE_DB_NAME_LEN]; /* client: command name; server: error prefix */
	__u8 state;	/* enum resp_state */
	__u8 flags;	/* RESP_F_* of the current line */
	__u8 mflags;	/* RESP_F_LONG_NAME, RESP_F_ERRDONE: of the current message */
	__u8 type;	/* server: the reply's top-level type byte; client: '*' */
	__u8 etype;	/* server: the type byte of the element being parsed */
	__u8 nlen;	/* bytes in name */
	__u8 pad[2];
};
_Static_assert(sizeof(struct resp_parser) == 80, "resp_parser layout");

static __always_inline int resp_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Adds a digit to p->num; returns 0, or -1 past RESP_MAX_NUM. */
static __always_inline int resp_digit(struct resp_parser *p, char c)
{
	p->num = p->num * 10 + (__u64)(c - '0');
	p->flags |= RESP_F_LENGTH;
	return p->num > RESP_MAX_NUM ? -1 : 0;
}

static __always_inline int resp_error(struct resp_parser *p)
{
	p->state = RS_ERROR;
	return RE_ERROR;
}

static __always_inline void resp_new_line(struct resp_parser *p, __u8 state)
{
	p->num = 0;
	p->flags = 0;
	p->state = state;
}

/* ---- Client: commands -------------------------------------------------------------------- */

/* An argument's payload and its CRLF are over. */
static __always_inline int req_arg_done(struct resp_parser *p)
{
	p->argi++;
	if (p->argi >= p->nargs) {
		p->state = RS_START;
		return RE_COMMAND;
	}
	p->state = RQ_BULK_HDR;
	return RE_NONE;
}

static __always_inline int resp_req_step(struct resp_parser *p, char c)
{
	switch (p->state) {
	case RS_START:
		if (c != '*')
			return resp_error(p);
		p->nargs = 0;
		p->argi = 0;
		p->nlen = 0;
		p->mflags = 0;
		p->type = '*';
		__builtin_memset(p->name, 0, SOCKEYE_DB_NAME_LEN);
		resp_new_line(p, RQ_ARR_LEN);
		return RE_NONE;
	case RQ_ARR_LEN:
	case RQ_BULK_LEN:
		if (resp_is_digit(c))
			return resp_digit(p, c) ? resp_error(p) : RE_NONE;
		if (c != '\r' || !(p->flags & RESP_F_LENGTH))
			return resp_error(p);
		p->state = p->state == RQ_ARR_LEN ? RQ_ARR_LF : RQ_BULK_LF;
		return RE_NONE;
	case RQ_ARR_LF:
		if (c != '\n')
			return resp_error(p);
		p->nargs = (__u32)p->num;
		if (!p->nargs) { /* "*0": nothing to run, nothing answered */
			p->state = RS_START;
			return RE_NONE;
		}
		p->state = RQ_BULK_HDR;
		return RE_NONE;
	case RQ_BULK_HDR:
		if (c != '$')
			return resp_error(p);
		resp_new_line(p, RQ_BULK_LEN);
		return RE_NONE;
	case RQ_BULK_LF:
		if (c != '\n')
			return resp_error(p);
		p->left = p->num;
		if (!p->left)
			p->state = RS_DATA_CR;
		else
			p->state = p->argi == 0 ? RQ_NAME : RS_SKIP;
		return RE_NONE;
	case RQ_NAME:
		if (p->nlen < SOCKEYE_DB_NAME_LEN) {
			char u = c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c;

			p->name[p->nlen & (SOCKEYE_DB_NAME_LEN - 1)] = u;
			p->nlen++;
		} else {
			p->mflags |= RESP_F_LONG_NAME;
		}
		if (--p->left == 0)
			p->state = RS_DATA_CR;
		return RE_NONE;
	case RS_DATA_CR:
		if (c != '\r')
			return resp_error(p);
		p->state = RS_DATA_LF;
		return RE_NONE;
	case RS_DATA_LF:
		if (c != '\n')
			return resp_error(p);
		return req_arg_done(p);
	default:
		return resp_error(p);
	}
}

/* ---- Server: replies --------------------------------------------------------------------- */

/* An element is complete: one less due; the reply when none is. */
static __always_inline int rep_elem_done(struct resp_parser *p)
{
	p->state = RS_START;
	if (p->pending)
		p->pending--;
	if (p->pending)
		return RE_NONE;
	return p->type == '>' ? RE_PUSH : RE_REPLY;
}

/* A scalar element ends (after its line or payload). */
static __always_inline int rep_scalar_done(struct resp_parser *p)
{
	if (p->etype == '_')
		p->nils++;
	else
		p->vals++;
	return rep_elem_done(p);
}

/* An error prefix byte: A-Z 0-9 _ kept (a lower-case or other byte ends the prefix), at most
 * 16. Returns 1 when the prefix is over. */
static __always_inline int rep_err_byte(struct resp_parser *p, char c)
{
	if (p->mflags & RESP_F_ERRDONE)
		return 1;
	if (p->nlen < SOCKEYE_DB_NAME_LEN &&
	    ((c >= 'A' && c <= 'Z') || resp_is_digit(c) || c == '_')) {
		p->name[p->nlen & (SOCKEYE_DB_NAME_LEN - 1)] = c;
		p->nlen++;
		return 0;
	}
	p->mflags |= RESP_F_ERRDONE;
	return 1;
}

static __always_inline int rep_type(struct resp_parser *p, char c)
{
	if (!p->pending) { /* a new reply */
		p->pending = 1;
		p->type = (__u8)c;
		p->nils = 0;
		p->vals = 0;
		p->zeros = 0;
		p->ones = 0;
		p->ival = 0;
		p->nlen = 0;
		p->mflags = 0;
		__builtin_memset(p->name, 0, SOCKEYE_DB_NAME_LEN);
	}
	p->etype = (__u8)c;
	switch (c) {
	case '+': /* simple string */
	case ',': /* double */
	case '#': /* boolean */
	case '(': /* big number */
	case '_': /* null */
		resp_new_line(p, RP_LINE);
		return RE_NONE;
	case '-':
		resp_new_line(p, p->pending == 1 && p->type == '-' ? RP_ERRNAME : RP_LINE);
		return RE_NONE;
	case ':':
		resp_new_line(p, RP_INT);
		return RE_NONE;
	case '$': /* bulk string */
	case '!': /* blob error */
	case '=': /* verbatim string */
		resp_new_line(p, RP_BLEN);
		return RE_NONE;
	case '*': /* array */
	case '~': /* set */
	case '%': /* map */
	case '|': /* attribute */
	case '>': /* push */
		resp_new_line(p, RP_ALEN);
		return RE_NONE;
	default: /* streamed strings ('?' lengths) and anything else */
		return resp_error(p);
	}
}

static __always_inline int resp_rep_step(struct resp_parser *p, char c)
{
	switch (p->state) {
	case RS_START:
		return rep_type(p, c);
	case RP_ERRNAME:
		if (c == '\r') {
			p->state = RS_LINE_LF;
			return RE_NONE;
		}
		if (rep_err_byte(p, c))
			p->state = RP_LINE;
		return RE_NONE;
	case RP_LINE:
		if (c == '\r')
			p->state = RS_LINE_LF;
		return RE_NONE;
	case RP_INT:
		if (c == '-' && !(p->flags & (RESP_F_LENGTH | RESP_F_NEG))) {
			p->flags |= RESP_F_NEG;
			return RE_NONE;
		}
		if (resp_is_digit(c)) {
			if (p->num < RESP_MAX_NUM)
				p->num = p->num * 10 + (__u64)(c - '0');
			p->flags |= RESP_F_LENGTH;
			return RE_NONE;
		}
		if (c != '\r' || !(p->flags & RESP_F_LENGTH))
			return resp_error(p);
		p->state = RS_LINE_LF;
		return RE_NONE;
	case RP_BLEN:
	case RP_ALEN:
		if (c == '-' && !(p->flags & (RESP_F_LENGTH | RESP_F_NEG))) {
			p->flags |= RESP_F_NEG;
			return RE_NONE;
		}
		if (resp_is_digit(c))
			return resp_digit(p, c) ? resp_error(p) : RE_NONE;
		if (c != '\r' || !(p->flags & RESP_F_LENGTH))
			return resp_error(p);
		p->state = RS_LINE_LF;
		return RE_NONE;
	case RS_LINE_LF:
		if (c != '\n')
			return resp_error(p);
		switch (p->etype) {
		case ':':
			p->ival = p->num;
			if ((p->flags & RESP_F_NEG) || !p->num)
				p->zeros++;
			else
				p->ones++;
			p->vals++;
			return rep_elem_done(p);
		case '$':
		case '!':
		case '=':
			if (p->flags & RESP_F_NEG) { /* "$-1": the RESP2 nil */
				if (p->num != 1)
					return resp_error(p);
				p->nils++;
				return rep_elem_done(p);
			}
			p->left = p->num;
			if (!p->left)
				p->state = RS_DATA_CR;
			else if (p->etype == '!' && p->pending == 1 && p->type == '!')
				p->state = RP_BLOB_ERR;
			else
				p->state = RS_SKIP;
			return RE_NONE;
		case '*':
		case '~':
		case '%':
		case '|':
		case '>':
			if (p->flags & RESP_F_NEG) { /* "*-1": the RESP2 nil array */
				if (p->num != 1)
					return resp_error(p);
				p->nils++;
				return rep_elem_done(p);
			}
			if (p->etype == '%' || p->etype == '|')
				p->num *= 2; /* key and value */
			if (p->etype == '|') {
				/* An attribute precedes the element it annotates: its pairs are
				 * due on top of that element. */
				p->pending += p->num;
				p->state = RS_START;
				return RE_NONE;
			}
			if (!p->num) { /* an empty aggregate is one complete element */
				p->vals++;
				return rep_elem_done(p);
			}
			p->pending += p->num - 1;
			p->state = RS_START;
			return RE_NONE;
		default:
			return rep_scalar_done(p);
		}
	case RP_BLOB_ERR:
		p->left--;
		if (rep_err_byte(p, c)) {
			p->state = p->left ? RS_SKIP : RS_DATA_CR;
			return RE_NONE;
		}
		if (!p->left)
			p->state = RS_DATA_CR;
		return RE_NONE;
	case RS_DATA_CR:
		if (c != '\r')
			return resp_error(p);
		p->state = RS_DATA_LF;
		return RE_NONE;
	case RS_DATA_LF:
		if (c != '\n')
			return resp_error(p);
		return rep_scalar_done(p);
	default:
		return resp_error(p);
	}
}

/* One byte of the given direction. */
static __always_inline int resp_step(struct resp_parser *p, char c, int from_client)
{
	return from_client ? resp_req_step(p, c) : resp_rep_step(p, c);
}

/* Payload bytes are skipped, not stepped: avail bytes are there; returns how many the skip
 * took (then RS_DATA_CR follows when the payload is over). */
static __always_inline __u64 resp_skip(struct resp_parser *p, __u64 avail)
{
	__u64 n = p->left < avail ? p->left : avail;

	p->left -= n;
	if (!p->left)
		p->state = RS_DATA_CR;
	return n;
}

/* ---- Windows ------------------------------------------------------------------------------ */

/* The driver copies a segment's bytes into a window of up to REDIS_WIN and steps them here,
 * stopping at an event, a payload to skip, or the framing lost. */
#define REDIS_WIN 64
_Static_assert((REDIS_WIN & (REDIS_WIN - 1)) == 0, "window index masks");

struct redis_win {
	char buf[REDIS_WIN];
	__u32 n;  /* bytes loaded */
	__u32 i;  /* next byte to step */
	__s32 ev; /* enum resp_event of the last step */
	__u32 pad;
};

/* The kernel makes the step a global function (verified once, not once per byte of the
 * window); tests step inline. */
#ifndef RESP_STEP
#define RESP_STEP(p, c, from_client) resp_step(p, c, from_client)
#endif

static __always_inline void redis_scan(struct resp_parser *p, struct redis_win *w,
				       const int from_client)
{
	__u32 k;

	w->ev = RE_NONE;
	for (k = 0; k < REDIS_WIN; k++) {
		__u32 i = w->i;

		if (i >= w->n || p->state == RS_SKIP || p->state == RS_ERROR)
			break;
		w->ev = RESP_STEP(p, w->buf[i & (REDIS_WIN - 1)], from_client);
		w->i = i + 1;
		if (w->ev != RE_NONE)
			break;
	}
}

/* ---- Detection --------------------------------------------------------------------------- */

/* A client's first bytes: "*<digit>", travelling client -> server (1) whichever side sees
 * them; the module then leaves the server's side of the connection (it measures clients). */
static __always_inline int redis_detect_bytes(const char *first, __u32 len)
{
	if (len < 2)
		return 0;
	return first[0] == '*' && first[1] >= '1' && first[1] <= '9' ? 1 : 0;
}

/* ---- Pairing ----------------------------------------------------------------------------- */

#define REDIS_FIFO 32 /* commands timed at once per connection (redis-benchmark -P 16 fits) */
_Static_assert((REDIS_FIFO & (REDIS_FIFO - 1)) == 0, "FIFO index masks");

/* What a read command's reply tells about the keys or fields it looked up. */
enum redis_cache_class {
	RCC_NONE = 0,
	RCC_NIL1,      /* one key: a value is a hit, nil a miss (GET, HGET, ...) */
	RCC_NIL_EACH,  /* one element per key: nil elements miss (MGET, HMGET, ZMSCORE) */
	RCC_INT_BOOL,  /* :1 hit, :0 miss (SISMEMBER, HEXISTS) */
	RCC_INT_COUNT, /* :N of keys hit, the rest missed (EXISTS) */
	RCC_INT_EACH,  /* one integer per member: 1 hit, 0 miss (SMISMEMBER) */
	RCC_SUBSCRIBE, /* the connection turns into a pub/sub stream: stop here */
};

struct redis_pending {
	__u64 start_ns;
	char name[SOCKEYE_DB_NAME_LEN]; /* all zero when longer than 16 */
	__u32 keys;			/* keys or fields looked up */
	__u8 cls;			/* enum redis_cache_class */
	__u8 pad[3];
};
_Static_assert(sizeof(struct redis_pending) == 32, "redis_pending layout");

#define REDIS_C_OPEN 0x01    /* counted open in db_conns */
#define REDIS_C_IGNORED 0x04 /* pub/sub, MONITOR or lost framing: nothing more is parsed */
#define REDIS_C_OWNER 0x08   /* the sending process was recorded as the series' owner */

/* The two directions of a connection run concurrently (a task sending on one CPU, softirq
 * receiving on another), so the FIFO is single-producer single-consumer: each counter below is
 * written by one direction only (free-running, compared by difference), flags change by atomic
 * or/and, and the used gauge's state by compare-and-swap (redis_pair.bpf.h). */
struct redis_conn {
	struct resp_parser req; /* client -> server */
	struct resp_parser rep; /* server -> client */
	__u64 cmd_start_ns;	/* segment time of the current command's first byte */
	__u64 cgroup_id;
	__u32 head;	/* replies: commands answered (FIFO index head % REDIS_FIFO) */
	__u32 tail;	/* commands: commands queued */
	__u32 drop_in;	/* commands: commands past the FIFO, answered after those in it */
	__u32 drop_out; /* replies: replies of those consumed */
	__u32 flags;	/* REDIS_C_*: atomic */
	__u32 used;	/* 1 while counted used in db_conns: compare-and-swap */
	__u16 server_port;
	__u8 pad[6];
	struct redis_pending fifo[REDIS_FIFO];
};

/* A finished operation, for the maps. */
struct redis_result {
	__u64 dur_ns;
	char name[SOCKEYE_DB_NAME_LEN];	  /* raw: the caller looks it up in db_ops */
	char status[SOCKEYE_DB_NAME_LEN]; /* error prefix; zero: none */
	__u8 error;			  /* enum sockeye_db_error */
	__u8 cache;			  /* 1: hits/misses are a cache lookup result */
	__u8 pad[2];
	__u32 hits;
	__u32 misses;
};

/* A segment of one direction begins at now: a command that begins in it was sent at now
 * (every byte of a segment has the segment's time). */
static __always_inline void redis_seg_begin(struct redis_conn *c, int from_client, __u64 now)
{
	if (from_client && c->req.state == RS_START)
		c->cmd_start_ns = now;
}

/* What the driver must do after an event. */
#define REDIS_A_RECORD 0x01	   /* record result */
#define REDIS_A_PIPELINE_FULL 0x02 /* a command past the FIFO: counted as an event */
#define REDIS_A_UNMATCHED 0x04	   /* a reply without a command */
#define REDIS_A_IGNORE 0x08	   /* the connection turned into a stream: stop parsing it */

#define RW(a, b, c, d, e, f, g, h)                                                                 \
	((__u64)(a) | (__u64)(b) << 8 | (__u64)(c) << 16 | (__u64)(d) << 24 | (__u64)(e) << 32 |   \
	 (__u64)(f) << 40 | (__u64)(g) << 48 | (__u64)(h) << 56)

/* The class of a command by its upper-cased, zero-padded name (two little-endian words). */
static __always_inline __u8 redis_class(__u64 w0, __u64 w1, __u32 nargs, __u32 *keys)
{
	*keys = 1;
	if (w1 == 0) {
		if (w0 == RW('G', 'E', 'T', 0, 0, 0, 0, 0) ||
		    w0 == RW('G', 'E', 'T', 'E', 'X', 0, 0, 0) ||
		    w0 == RW('G', 'E', 'T', 'D', 'E', 'L', 0, 0) ||
		    w0 == RW('H', 'G', 'E', 'T', 0, 0, 0, 0) ||
		    w0 == RW('L', 'I', 'N', 'D', 'E', 'X', 0, 0) ||
		    w0 == RW('Z', 'S', 'C', 'O', 'R', 'E', 0, 0))
			return RCC_NIL1;
		if (w0 == RW('M', 'G', 'E', 'T', 0, 0, 0, 0)) {
			*keys = nargs > 1 ? nargs - 1 : 0;
			return RCC_NIL_EACH;
		}
		if (w0 == RW('H', 'M', 'G', 'E', 'T', 0, 0, 0) ||
		    w0 == RW('Z', 'M', 'S', 'C', 'O', 'R', 'E', 0)) {
			*keys = nargs > 2 ? nargs - 2 : 0;
			return RCC_NIL_EACH;
		}
		if (w0 == RW('H', 'E', 'X', 'I', 'S', 'T', 'S', 0))
			return RCC_INT_BOOL;
		if (w0 == RW('E', 'X', 'I', 'S', 'T', 'S', 0, 0)) {
			*keys = nargs > 1 ? nargs - 1 : 0;
			return RCC_INT_COUNT;
		}
		return RCC_NONE;
	}
	if (w0 == RW('S', 'I', 'S', 'M', 'E', 'M', 'B', 'E') && w1 == RW('R', 0, 0, 0, 0, 0, 0, 0))
		return RCC_INT_BOOL;
	if (w0 == RW('S', 'M', 'I', 'S', 'M', 'E', 'M', 'B') &&
	    w1 == RW('E', 'R', 0, 0, 0, 0, 0, 0)) {
		*keys = nargs > 2 ? nargs - 2 : 0;
		return RCC_INT_EACH;
	}
	return RCC_NONE;
}

/* Commands after which the connection carries messages that answer no command (RESP2
 * pub/sub, MONITOR): SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE, MONITOR. */
static __always_inline int redis_is_stream(__u64 w0, __u64 w1)
{
	return (w0 == RW('S', 'U', 'B', 'S', 'C', 'R', 'I', 'B') &&
		w1 == RW('E', 0, 0, 0, 0, 0, 0, 0)) ||
	       (w0 == RW('P', 'S', 'U', 'B', 'S', 'C', 'R', 'I') &&
		w1 == RW('B', 'E', 0, 0, 0, 0, 0, 0)) ||
	       (w0 == RW('S', 'S', 'U', 'B', 'S', 'C', 'R', 'I') &&
		w1 == RW('B', 'E', 0, 0, 0, 0, 0, 0)) ||
	       (w0 == RW('M', 'O', 'N', 'I', 'T', 'O', 'R', 0) && w1 == 0);
}

static __always_inline void redis_name_words(const char *name, __u64 *w0, __u64 *w1)
{
	__builtin_memcpy(w0, name, 8);
	__builtin_memcpy(w1, name + 8, 8);
}

static __always_inline __u32 redis_queued(const struct redis_conn *c)
{
	return c->tail - c->head;
}

static __always_inline __u32 redis_dropped(const struct redis_conn *c)
{
	return c->drop_in - c->drop_out;
}

static __always_inline void redis_set_ignored(struct redis_conn *c)
{
	__sync_fetch_and_or(&c->flags, REDIS_C_IGNORED);
}

/* Whether a command is outstanding (the connection is "used"). */
static __always_inline int redis_busy(const struct redis_conn *c)
{
	return !(c->flags & REDIS_C_IGNORED) && (redis_queued(c) || redis_dropped(c));
}

/* The change of the used gauge after either direction moved its counters: +1, -1 or 0. The
 * state flips by compare-and-swap, so each transition is counted once; the direction that
 * moves its counters last sees both and settles the gauge. */
static __always_inline int redis_used_change(struct redis_conn *c)
{
	__u32 busy, cur, k;

	for (k = 0; k < 2; k++) {
		busy = redis_busy(c) ? 1 : 0;
		cur = c->used;
		if (cur == busy)
			return 0;
		if (__sync_val_compare_and_swap(&c->used, cur, busy) == cur)
			return busy ? 1 : -1;
	}
	return 0;
}

/* Once the connection is left: 1 the first time (the open gauge goes), else 0. */
static __always_inline int redis_open_leaves(struct redis_conn *c)
{
	if (!(c->flags & REDIS_C_IGNORED) || !(c->flags & REDIS_C_OPEN))
		return 0;
	return (__sync_fetch_and_and(&c->flags, ~(__u32)REDIS_C_OPEN) & REDIS_C_OPEN) ? 1 : 0;
}

/* A command is complete (c->req): queue it. Returns REDIS_A_* bits. */
static __always_inline int redis_on_command(struct redis_conn *c)
{
	struct redis_pending *e;
	__u64 w0, w1;
	__u32 keys;
	__u8 cls;

	redis_name_words(c->req.name, &w0, &w1);
	if (c->req.mflags & RESP_F_LONG_NAME)
		w0 = w1 = 0;
	cls = redis_class(w0, w1, c->req.nargs, &keys);
	if (redis_is_stream(w0, w1)) {
		if (!redis_queued(c) && !redis_dropped(c)) {
			redis_set_ignored(c);
			return REDIS_A_IGNORE;
		}
		cls = RCC_SUBSCRIBE; /* after the replies still due */
	}
	/* Once one command did not fit, the following ones wait behind its reply too. A stale
	 * view of the other direction's counters only makes this drop sooner, never reorders. */
	if (redis_dropped(c) || redis_queued(c) >= REDIS_FIFO) {
		c->drop_in++;
		return REDIS_A_PIPELINE_FULL;
	}
	e = &c->fifo[c->tail & (REDIS_FIFO - 1)];
	e->start_ns = c->cmd_start_ns;
	__builtin_memcpy(e->name, &w0, 8);
	__builtin_memcpy(e->name + 8, &w1, 8);
	e->keys = keys;
	e->cls = cls;
	c->tail++; /* after the entry: the reply side reads it only then */
	return 0;
}

/* What a reply says about the lookup of its command. */
static __always_inline void redis_cache_result(const struct resp_parser *p, __u8 cls, __u32 keys,
					       struct redis_result *r)
{
	__u8 t = p->type;

	r->cache = 1;
	switch (cls) {
	case RCC_NIL1:
		if (t == '$' || t == '_' || t == '=') {
			r->hits = p->vals;
			r->misses = p->nils;
			return;
		}
		break;
	case RCC_NIL_EACH:
		if ((t == '*' && p->nils + p->vals == keys) || t == '_') {
			r->hits = p->vals;
			r->misses = p->nils;
			return;
		}
		break;
	case RCC_INT_BOOL:
		if (t == ':') {
			r->hits = p->ones;
			r->misses = p->zeros;
			return;
		}
		break;
	case RCC_INT_COUNT:
		if (t == ':' && p->ival <= keys) {
			r->hits = (__u32)p->ival;
			r->misses = keys - (__u32)p->ival;
			return;
		}
		break;
	case RCC_INT_EACH:
		if (t == '*' && p->ones + p->zeros == keys) {
			r->hits = p->ones;
			r->misses = p->zeros;
			return;
		}
		break;
	}
	/* "+QUEUED" inside MULTI, an error, or an unexpected shape: no lookup result. */
	r->cache = 0;
}

/* A reply is complete (c->rep) at now: pair it with the oldest command. Returns REDIS_A_*
 * bits; with REDIS_A_RECORD, r holds the operation. */
static __always_inline int redis_on_reply(struct redis_conn *c, __u64 now, struct redis_result *r)
{
	const struct resp_parser *p = &c->rep;
	struct redis_pending *e;

	if (!redis_queued(c)) {
		if (redis_dropped(c)) {
			c->drop_out++;
			return 0;
		}
		return REDIS_A_UNMATCHED;
	}
	e = &c->fifo[c->head & (REDIS_FIFO - 1)];
	if (e->cls == RCC_SUBSCRIBE) {
		c->head++;
		redis_set_ignored(c);
		return REDIS_A_IGNORE;
	}
	r->dur_ns = now > e->start_ns ? now - e->start_ns : 0;
	__builtin_memcpy(r->name, e->name, SOCKEYE_DB_NAME_LEN);
	__builtin_memset(r->status, 0, SOCKEYE_DB_NAME_LEN);
	r->error = SOCKEYE_DB_OK;
	r->cache = 0;
	r->hits = 0;
	r->misses = 0;
	if (e->cls != RCC_NONE)
		redis_cache_result(p, e->cls, e->keys, r);
	c->head++; /* the entry is read: the command side may reuse it */
	if (p->type == '-' || p->type == '!') {
		r->error = SOCKEYE_DB_ERR_RESPONSE;
		__builtin_memcpy(r->status, p->name, SOCKEYE_DB_NAME_LEN);
		r->cache = 0; /* an error is no lookup result */
		return REDIS_A_RECORD;
	}
	return REDIS_A_RECORD;
}

#endif /* SOCKEYE_REDIS_BPF_H */
