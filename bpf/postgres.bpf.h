/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* postgres.bpf.h - framing of the PostgreSQL frontend/backend protocol (version 3) and the
 * pairing of a client connection's operations with their results, pure C: compiled by clang
 * for the kernel (bpf/postgres_pair.bpf.h drives it) and by gcc/clang for
 * tests/unit/test_postgres_parser.c and tests/fuzz/fuzz_postgres_parser.c, so the tests run
 * what the kernel runs.
 *
 * Framing: every message after the first is a type byte and a big-endian length (which counts
 * itself); the client's first message (StartupMessage, SSLRequest, GSSENCRequest) has no type
 * byte. A step function takes one byte of a message's type, length or first bytes (up to
 * PG_PEEK bytes of the messages whose content matters, read as they pass: the statement's
 * keyword, a statement name's hash, the SQLSTATE); the rest of a body is
 * skipped by length (pg_skip), across segments, whatever it holds (rows, COPY data, notices).
 *
 * Pairing, per connection (a FIFO of what the client sent that the server will answer):
 *   Query 'Q'             -> an operation named by the statement's leading keyword, ended by
 *                            ReadyForQuery 'Z' (failed when an ErrorResponse came before it);
 *   Parse 'P'             -> remembers the keyword: the unnamed statement's here, a named
 *                            statement's in a map (the driver's: PG_A_STMT_PUT);
 *   Bind 'B'              -> picks the statement (unnamed, or named: PG_A_STMT_GET);
 *   Execute 'E'           -> an operation named by the bound statement's keyword, ended by
 *                            CommandComplete 'C', EmptyQueryResponse 'I', PortalSuspended 's'
 *                            (success) or ErrorResponse 'E' (failed: its SQLSTATE);
 *   Sync 'S'              -> a marker: its ReadyForQuery removes the Executes before it that
 *                            the server skipped after an error (not counted: never run);
 *   FunctionCall 'F'      -> an operation named _OTHER, ended by ReadyForQuery.
 * Several Parse/Bind/Execute before one Sync (pipeline mode) pair in order.
 */
#ifndef SOCKEYE_POSTGRES_BPF_H
#define SOCKEYE_POSTGRES_BPF_H

#ifndef __bpf__
#include <linux/types.h>
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#endif

#include "sockeye_db.h"

enum pg_state {
	PS_TYPE = 0, /* a message's type byte */
	PS_LEN,	     /* its 4 length bytes (the first message: no type byte before them) */
	PS_PEEK,     /* the first bytes of its body, kept in peek */
	PS_SKIP,     /* the rest of its body: skipped by the driver (pg_skip) */
	PS_SSL,	     /* server: the one-byte answer to an SSLRequest or GSSENCRequest */
	PS_ERROR,    /* framing lost: the driver leaves the connection */
};

enum pg_event {
	PE_NONE = 0,
	PE_MSG,	  /* a message's type, length and peek are complete */
	PE_SSL,	  /* the server answered an SSLRequest/GSSENCRequest: ssl holds the byte */
	PE_ERROR, /* a length no message has */
};

#define PG_PEEK 128		/* bytes stepped of a Query, Parse, Bind, Close, ErrorResponse */
#define PG_WIN 64		/* the driver's window */
#define PG_MAX_LEN (1u << 30)	/* longer messages are framing lost (the server's limit) */
#define PG_SSL_REQUEST 80877103u
#define PG_GSS_REQUEST 80877104u
#define PG_PROTOCOL_3 196608u
_Static_assert((PG_WIN & (PG_WIN - 1)) == 0, "window index masks");

/* What a message's first bytes said, gathered a byte at a time while they pass (pg_peek):
 * no loops over a buffer, so the kernel verifies one step, not a scan. */
enum pg_kw_state {
	KW_BEFORE = 0, /* blanks, '(' and comments before the keyword */
	KW_DASH,       /* a '-' */
	KW_LINE,       /* a "--" comment, up to a newline */
	KW_SLASH,      /* a '/' */
	KW_BLOCK,      /* a block comment */
	KW_BLOCK_STAR, /* a '*' in it */
	KW_WORD,       /* the keyword's letters */
	KW_DONE,       /* the keyword ended: word holds it */
	KW_OTHER,      /* no keyword (another first character, or over 16 letters) */
};

/* One direction's framing. */
struct pg_dir {
	__u32 len;  /* the length field, as it arrives */
	__u32 left; /* body bytes still to come */
	__u8 state; /* enum pg_state */
	__u8 type;  /* 0: the untyped first message */
	__u8 nlen;  /* length bytes seen */
	__u8 npeek; /* body bytes stepped */
	__u8 want;  /* body bytes to step (the rest is skipped) */
	__u8 ssl;   /* PE_SSL: the server's answer */
	__u8 phase; /* which part of the body pg_peek is in */
	__u8 kw;    /* enum pg_kw_state */
	__u8 klen;  /* letters in word */
	__u8 named; /* the statement name (Parse, Bind, Close) is not empty */
	__u8 slen;  /* characters in status */
	__u8 zs;    /* ReadyForQuery: the transaction status */
	__u32 code; /* the first message's code */
	__u64 hash; /* FNV-1a of the statement name */
	char word[SOCKEYE_DB_NAME_LEN];	  /* the keyword, upper-case */
	char status[SOCKEYE_DB_NAME_LEN]; /* ErrorResponse: the SQLSTATE */
};

struct pg_win {
	char buf[PG_WIN];
	__u32 n;  /* bytes loaded */
	__u32 i;  /* next byte to step */
	__s32 ev; /* enum pg_event of the last step */
	__u32 pad;
};

/* How many body bytes of a message matter (client: from_client 1). */
static __always_inline __u8 pg_peek_len(__u8 type, int from_client)
{
	if (from_client) {
		switch (type) {
		case 0: /* StartupMessage, SSLRequest, GSSENCRequest: the code */
			return 4;
		case 'Q':
		case 'P':
		case 'B':
		case 'C':
			return PG_PEEK;
		}
		return 0;
	}
	switch (type) {
	case 'E': /* ErrorResponse: its fields up to the SQLSTATE */
		return PG_PEEK;
	case 'Z': /* ReadyForQuery: the transaction status */
		return 1;
	}
	return 0;
}

#define PG_FNV_OFFSET 14695981039346656037ULL
#define PG_FNV_PRIME 1099511628211ULL

static __always_inline void pg_peek_begin(struct pg_dir *d, int from_client)
{
	d->npeek = 0;
	d->want = pg_peek_len(d->type, from_client);
	if (!d->want) /* rows, notices, ...: nothing of theirs is read, nothing to reset */
		return;
	d->phase = 0;
	d->kw = KW_BEFORE;
	d->klen = 0;
	d->named = 0;
	d->slen = 0;
	d->zs = 0;
	d->code = 0;
	d->hash = PG_FNV_OFFSET;
	__builtin_memset(d->word, 0, sizeof(d->word));
	__builtin_memset(d->status, 0, sizeof(d->status));
}

static __always_inline int pg_is_letter(__u8 c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* One byte of SQL text toward its leading keyword (blanks, '(' and comments before it are
 * skipped; a keyword over 16 letters, or text starting otherwise, is KW_OTHER: _OTHER). */
static __always_inline void pg_kw_byte(struct pg_dir *d, __u8 c)
{
	switch (d->kw) {
	case KW_BEFORE:
		if (pg_is_letter(c)) {
			d->word[0] = c >= 'a' ? c - 'a' + 'A' : c;
			d->klen = 1;
			d->kw = KW_WORD;
		} else if (c == '-') {
			d->kw = KW_DASH;
		} else if (c == '/') {
			d->kw = KW_SLASH;
		} else if (!(c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
			     c == '(')) {
			d->kw = KW_OTHER;
		}
		return;
	case KW_DASH:
		d->kw = c == '-' ? KW_LINE : KW_OTHER;
		return;
	case KW_LINE:
		if (c == '\n')
			d->kw = KW_BEFORE;
		return;
	case KW_SLASH:
		d->kw = c == '*' ? KW_BLOCK : KW_OTHER;
		return;
	case KW_BLOCK:
		if (c == '*')
			d->kw = KW_BLOCK_STAR;
		return;
	case KW_BLOCK_STAR:
		if (c == '/')
			d->kw = KW_BEFORE;
		else if (c != '*')
			d->kw = KW_BLOCK;
		return;
	case KW_WORD:
		if (!pg_is_letter(c)) {
			d->kw = KW_DONE;
			return;
		}
		if (d->klen >= SOCKEYE_DB_NAME_LEN) {
			d->kw = KW_OTHER;
			return;
		}
		d->word[d->klen & (SOCKEYE_DB_NAME_LEN - 1)] = c >= 'a' ? c - 'a' + 'A' : c;
		d->klen++;
		return;
	}
}

/* One byte of a NUL-terminated statement name; returns 1 at its NUL. */
static __always_inline int pg_name_byte(struct pg_dir *d, __u8 c)
{
	if (!c)
		return 1;
	d->named = 1;
	d->hash = (d->hash ^ c) * PG_FNV_PRIME;
	return 0;
}

/* One byte of a stepped body (the first want bytes of the messages pg_peek_len names). */
static __always_inline void pg_peek(struct pg_dir *d, __u8 c, int from_client)
{
	if (from_client) {
		switch (d->type) {
		case 0: /* the code: 4 bytes */
			d->code = (d->code << 8) | c;
			return;
		case 'Q':
			pg_kw_byte(d, c);
			return;
		case 'P': /* name\0 query\0 */
			if (d->phase == 0) {
				if (pg_name_byte(d, c))
					d->phase = 1;
			} else {
				pg_kw_byte(d, c);
			}
			return;
		case 'B': /* portal\0 statement\0 */
			if (d->phase == 0) {
				if (!c)
					d->phase = 1;
			} else if (d->phase == 1) {
				if (pg_name_byte(d, c))
					d->phase = 2;
			}
			return;
		case 'C': /* 'S' or 'P', name\0 */
			if (d->phase == 0)
				d->phase = c == 'S' ? 1 : 3;
			else if (d->phase == 1 && pg_name_byte(d, c))
				d->phase = 2;
			return;
		}
		return;
	}
	switch (d->type) {
	case 'Z':
		d->zs = c;
		return;
	case 'E': /* fields: a code byte and a NUL-terminated value each, the SQLSTATE's is 'C' */
		if (d->phase == 0) { /* a field's code */
			d->phase = c == 'C' ? 2 : 1;
			if (!c)
				d->phase = 3; /* the end of the fields */
		} else if (d->phase == 1) {
			if (!c)
				d->phase = 0;
		} else if (d->phase == 2) {
			if (!c) {
				d->phase = 3;
			} else if (d->slen < 5 && ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) {
				d->status[d->slen & (SOCKEYE_DB_NAME_LEN - 1)] = c;
				d->slen++;
			}
		}
		return;
	}
}

/* One byte of a direction; returns an enum pg_event. */
static __always_inline int pg_step(struct pg_dir *d, char ch, int from_client)
{
	__u8 c = (__u8)ch;

	switch (d->state) {
	case PS_TYPE:
		d->type = c;
		d->len = 0;
		d->nlen = 0;
		d->state = PS_LEN;
		return PE_NONE;
	case PS_LEN:
		d->len = (d->len << 8) | c;
		if (++d->nlen < 4)
			return PE_NONE;
		if (d->len < 4 || d->len > PG_MAX_LEN) {
			d->state = PS_ERROR;
			return PE_ERROR;
		}
		d->left = d->len - 4;
		pg_peek_begin(d, from_client);
		if (!d->left) {
			d->state = PS_TYPE;
			return PE_MSG;
		}
		if (d->want) {
			d->state = PS_PEEK;
			return PE_NONE;
		}
		d->state = PS_SKIP;
		return PE_MSG;
	case PS_PEEK:
		pg_peek(d, c, from_client);
		d->npeek++;
		d->left--;
		if (!d->left) {
			d->state = PS_TYPE;
			return PE_MSG;
		}
		if (d->npeek >= d->want) {
			d->state = PS_SKIP;
			return PE_MSG;
		}
		return PE_NONE;
	case PS_SKIP: /* the driver skips; one byte if it steps */
		if (d->left)
			d->left--;
		if (!d->left)
			d->state = PS_TYPE;
		return PE_NONE;
	case PS_SSL:
		d->ssl = c;
		d->state = PS_TYPE;
		return PE_SSL;
	}
	return PE_ERROR;
}

/* Skips up to avail bytes of a body; returns how many. */
static __always_inline __u32 pg_skip(struct pg_dir *d, __u32 avail)
{
	__u32 n = d->left < avail ? d->left : avail;

	d->left -= n;
	if (!d->left)
		d->state = PS_TYPE;
	return n;
}

/* The kernel makes the step a global function; tests step inline. */
#ifndef PG_STEP
#define PG_STEP(d, c, from_client) pg_step(d, c, from_client)
#endif

/* Steps w's bytes from w->i up to an event, a body to skip, or the window's end. */
static __always_inline void pg_scan(struct pg_dir *d, struct pg_win *w, const int from_client)
{
	__u32 k;

	w->ev = PE_NONE;
	for (k = 0; k < PG_WIN; k++) {
		__u32 i = w->i;

		if (i >= w->n || d->state == PS_SKIP || d->state == PS_ERROR)
			break;
		w->ev = PG_STEP(d, w->buf[i & (PG_WIN - 1)], from_client);
		w->i = i + 1;
		if (w->ev != PE_NONE)
			break;
	}
}

/* ---- Detection --------------------------------------------------------------------------- */

static __always_inline __u32 pg_be32(const char *p)
{
	return ((__u32)(__u8)p[0] << 24) | ((__u32)(__u8)p[1] << 16) | ((__u32)(__u8)p[2] << 8) |
	       (__u32)(__u8)p[3];
}

/* A client's first message: a StartupMessage of protocol 3.0 (length 9..10000), or an
 * SSLRequest or GSSENCRequest (length 8). Travels client -> server (1). */
static __always_inline int pg_detect_bytes(const char *first, __u32 len)
{
	__u32 n, code;

	if (len < 8)
		return 0;
	n = pg_be32(first);
	code = pg_be32(first + 4);
	if (n == 8 && (code == PG_SSL_REQUEST || code == PG_GSS_REQUEST))
		return 1;
	if (code == PG_PROTOCOL_3 && n > 8 && n <= 10000)
		return 1;
	return 0;
}

/* ---- Pairing ----------------------------------------------------------------------------- */

#define PG_FIFO 32 /* Executes, Queries and Syncs outstanding per connection */
_Static_assert((PG_FIFO & (PG_FIFO - 1)) == 0, "FIFO index masks");

enum pg_kind {
	PK_QUERY = 1, /* ends at ReadyForQuery */
	PK_EXEC,      /* ends at CommandComplete, EmptyQueryResponse, PortalSuspended, Error */
	PK_SYNC,      /* a marker: ends at ReadyForQuery */
};

struct pg_pending {
	__u64 start_ns;
	char name[SOCKEYE_DB_NAME_LEN]; /* the keyword; zero: _OTHER */
	__u8 kind;			/* enum pg_kind */
	__u8 pad[7];
};
_Static_assert(sizeof(struct pg_pending) == 32, "pg_pending layout");

#define PG_C_OPEN 0x01	  /* counted open in db_conns */
#define PG_C_IGNORED 0x04 /* TLS, lost framing, FIFO full: nothing more is parsed */
#define PG_C_OWNER 0x08	  /* the sending process was recorded as the series' owner */
#define PG_C_TXN 0x10	  /* the last ReadyForQuery said a transaction is open ('T', 'E') */
#define PG_C_READY 0x20	  /* the startup's ReadyForQuery came: later ones answer something */

/* The two directions run concurrently (a task sending, softirq receiving), so the FIFO is
 * single-producer single-consumer: tail and the client fields are written by the client
 * direction, head and the server fields by the server direction; flags change by atomic
 * or/and, the used gauge's state by compare-and-swap (as redis_conn). */
struct pg_conn {
	struct pg_dir req; /* client -> server */
	struct pg_dir rep; /* server -> client */
	__u64 cgroup_id;
	__u64 cookie;	/* the socket's cookie: named statements' key */
	__u32 head;	/* server: entries answered */
	__u32 tail;	/* client: entries queued */
	__u32 flags;	/* PG_C_*: atomic */
	__u32 used;	/* 1 while counted used in db_conns: compare-and-swap */
	__u16 server_port;
	__u8 q_error;	/* server: the head Query got an ErrorResponse */
	__u8 pad[5];
	char q_status[SOCKEYE_DB_NAME_LEN]; /* server: its SQLSTATE */
	char unnamed[SOCKEYE_DB_NAME_LEN];  /* client: the unnamed statement's keyword */
	char bound[SOCKEYE_DB_NAME_LEN];    /* client: the keyword of the last Bind's statement */
	struct pg_pending fifo[PG_FIFO];
};

/* A finished operation, or a named statement to remember or find (PG_A_STMT_*). */
struct pg_result {
	__u64 dur_ns;
	__u64 hash;			  /* PG_A_STMT_*: the statement name's hash */
	char name[SOCKEYE_DB_NAME_LEN];	  /* keyword (raw: the caller looks it up in db_ops) */
	char status[SOCKEYE_DB_NAME_LEN]; /* SQLSTATE; zero: none */
	__u8 error;			  /* enum sockeye_db_error */
	__u8 pad[7];
};

/* What the driver must do after an event. */
#define PG_A_RECORD 0x01	/* record the result */
#define PG_A_PIPELINE_FULL 0x02 /* the FIFO was full: the connection is left */
#define PG_A_UNMATCHED 0x04	/* an answer with nothing outstanding */
#define PG_A_IGNORE 0x08	/* TLS or GSS encryption accepted: the connection is left */
#define PG_A_STMT_PUT 0x10	/* remember name (keyword) for hash */
#define PG_A_STMT_GET 0x20	/* bound = the keyword remembered for hash (zero if none) */
#define PG_A_STMT_DEL 0x40	/* forget hash */

static __always_inline void pg_conn_init(struct pg_conn *c)
{
	c->req.state = PS_LEN; /* the first message has no type byte */
	c->req.type = 0;
	c->rep.state = PS_TYPE;
}

static __always_inline __u32 pg_queued(const struct pg_conn *c)
{
	return c->tail - c->head;
}

static __always_inline void pg_set_ignored(struct pg_conn *c)
{
	__sync_fetch_and_or(&c->flags, PG_C_IGNORED);
}

/* "used": an operation outstanding or a transaction open. */
static __always_inline int pg_busy(const struct pg_conn *c)
{
	return !(c->flags & PG_C_IGNORED) && (pg_queued(c) || (c->flags & PG_C_TXN));
}

/* The change of the used gauge: +1, -1 or 0; each transition counted once. */
static __always_inline int pg_used_change(struct pg_conn *c)
{
	__u32 busy, cur, k;

	for (k = 0; k < 2; k++) {
		busy = pg_busy(c) ? 1 : 0;
		cur = c->used;
		if (cur == busy)
			return 0;
		if (__sync_val_compare_and_swap(&c->used, cur, busy) == cur)
			return busy ? 1 : -1;
	}
	return 0;
}

/* 1 once when the connection was left: its open gauge goes. */
static __always_inline int pg_open_leaves(struct pg_conn *c)
{
	if (!(c->flags & PG_C_IGNORED) || !(c->flags & PG_C_OPEN))
		return 0;
	return (__sync_fetch_and_and(&c->flags, ~(__u32)PG_C_OPEN) & PG_C_OPEN) ? 1 : 0;
}

static __always_inline int pg_push(struct pg_conn *c, __u8 kind, const char *name, __u64 now)
{
	struct pg_pending *e;
	__u32 i;

	if (pg_queued(c) >= PG_FIFO) {
		pg_set_ignored(c);
		return PG_A_PIPELINE_FULL;
	}
	e = &c->fifo[c->tail & (PG_FIFO - 1)];
	e->start_ns = now;
	e->kind = kind;
	for (i = 0; i < SOCKEYE_DB_NAME_LEN; i++)
		e->name[i] = name ? name[i] : 0;
	__sync_fetch_and_add(&c->tail, 1); /* published after the entry is written */
	return 0;
}

/* A client message (its first bytes stepped). */
static __always_inline int pg_on_client_msg(struct pg_conn *c, __u64 now, struct pg_result *r)
{
	struct pg_dir *d = &c->req;

	switch (d->type) {
	case 0:
		if (d->code == PG_SSL_REQUEST || d->code == PG_GSS_REQUEST) {
			c->rep.state = PS_SSL; /* its answer is one byte */
			d->state = PS_LEN;     /* and the StartupMessage comes untyped again */
			d->len = 0;
			d->nlen = 0;
		}
		return 0;
	case 'Q':
		if (d->kw == KW_DONE)
			__builtin_memcpy(r->name, d->word, SOCKEYE_DB_NAME_LEN);
		return pg_push(c, PK_QUERY, r->name, now);
	case 'F':
		return pg_push(c, PK_QUERY, r->name, now); /* r->name is zero: _OTHER */
	case 'P': /* name\0 query\0 ... */
		if (d->kw == KW_DONE)
			__builtin_memcpy(r->name, d->word, SOCKEYE_DB_NAME_LEN);
		if (!d->named) { /* the unnamed statement */
			__builtin_memcpy(c->unnamed, r->name, SOCKEYE_DB_NAME_LEN);
			return 0;
		}
		r->hash = d->hash;
		return PG_A_STMT_PUT;
	case 'B': /* portal\0 statement\0 ... */
		if (d->phase != 2) { /* the statement's name goes past the bytes stepped */
			__builtin_memset(c->bound, 0, SOCKEYE_DB_NAME_LEN);
			return 0;
		}
		if (!d->named) {
			__builtin_memcpy(c->bound, c->unnamed, SOCKEYE_DB_NAME_LEN);
			return 0;
		}
		r->hash = d->hash;
		return PG_A_STMT_GET;
	case 'C': /* 'S' name\0: a named statement closed */
		if (d->phase != 2 || !d->named)
			return 0;
		r->hash = d->hash;
		return PG_A_STMT_DEL;
	case 'E':
		return pg_push(c, PK_EXEC, c->bound, now);
	case 'S':
		return pg_push(c, PK_SYNC, r->name, now);
	}
	return 0;
}

/* The head entry into r (ended at now) and off the FIFO. */
static __always_inline void pg_pop(struct pg_conn *c, __u64 now, struct pg_result *r)
{
	struct pg_pending *e = &c->fifo[c->head & (PG_FIFO - 1)];
	__u32 i;

	r->dur_ns = now > e->start_ns ? now - e->start_ns : 0;
	for (i = 0; i < SOCKEYE_DB_NAME_LEN; i++)
		r->name[i] = e->name[i];
	__sync_fetch_and_add(&c->head, 1);
}

/* The entry i places after the head, outstanding when the connection closed at now, into r
 * as error_type="connection_closed"; 0 for a Sync marker (it stands for nothing that ran). */
static __always_inline int pg_closed(const struct pg_conn *c, __u32 i, __u64 now,
				     struct pg_result *r)
{
	const struct pg_pending *e = &c->fifo[(c->head + i) & (PG_FIFO - 1)];

	if (e->kind == PK_SYNC)
		return 0;
	r->dur_ns = now > e->start_ns ? now - e->start_ns : 0;
	__builtin_memcpy(r->name, e->name, SOCKEYE_DB_NAME_LEN);
	r->error = SOCKEYE_DB_ERR_CLOSED;
	return 1;
}

static __always_inline __u8 pg_head_kind(const struct pg_conn *c)
{
	if (!pg_queued(c))
		return 0;
	return c->fifo[c->head & (PG_FIFO - 1)].kind;
}

/* An ErrorResponse's SQLSTATE; "XX000" (internal_error) when its first bytes held none. */
static __always_inline void pg_status(const struct pg_dir *d, char *out)
{
	if (d->slen == 5) {
		__builtin_memcpy(out, d->status, SOCKEYE_DB_NAME_LEN);
		return;
	}
	__builtin_memset(out, 0, SOCKEYE_DB_NAME_LEN);
	out[0] = 'X';
	out[1] = 'X';
	out[2] = '0';
	out[3] = '0';
	out[4] = '0';
}

/* A server message (its first bytes stepped). */
static __always_inline int pg_on_server_msg(struct pg_conn *c, __u64 now, struct pg_result *r)
{
	struct pg_dir *d = &c->rep;
	__u8 kind = pg_head_kind(c);
	__u32 i;

	switch (d->type) {
	case 'C':
	case 'I':
	case 's':
		if (kind == PK_EXEC) {
			pg_pop(c, now, r);
			return PG_A_RECORD;
		}
		return kind ? 0 : PG_A_UNMATCHED; /* a Query's statements end at 'Z' */
	case 'E':
		if (kind == PK_EXEC) {
			pg_pop(c, now, r);
			pg_status(d, r->status);
			r->error = SOCKEYE_DB_ERR_RESPONSE;
			return PG_A_RECORD;
		}
		if (kind == PK_QUERY) {
			if (!c->q_error)
				pg_status(d, c->q_status);
			c->q_error = 1;
			return 0;
		}
		return kind ? 0 : PG_A_UNMATCHED; /* e.g. a FATAL at startup */
	case 'Z':
		if (d->npeek >= 1) {
			if (d->zs == 'T' || d->zs == 'E')
				__sync_fetch_and_or(&c->flags, PG_C_TXN);
			else
				__sync_fetch_and_and(&c->flags, ~(__u32)PG_C_TXN);
		}
		if (!(c->flags & PG_C_READY)) { /* the end of the startup: answers nothing */
			__sync_fetch_and_or(&c->flags, PG_C_READY);
			return 0;
		}
		if (kind == PK_QUERY) {
			pg_pop(c, now, r);
			if (c->q_error) {
				r->error = SOCKEYE_DB_ERR_RESPONSE;
				for (i = 0; i < SOCKEYE_DB_NAME_LEN; i++)
					r->status[i] = c->q_status[i];
			}
			c->q_error = 0;
			return PG_A_RECORD;
		}
		/* A Sync's answer: the Executes before it that are still queued were skipped
		 * by the server after an error; they and the marker go. */
		for (i = 0; i < PG_FIFO; i++) {
			kind = pg_head_kind(c);
			if (!kind || kind == PK_QUERY)
				break;
			__sync_fetch_and_add(&c->head, 1);
			if (kind == PK_SYNC)
				return 0;
		}
		return 0; /* nothing outstanding: the startup's ReadyForQuery */
	}
	return 0;
}

/* The server answered an SSLRequest or GSSENCRequest: 'N' goes on in plain text. */
static __always_inline int pg_on_ssl(struct pg_conn *c)
{
	if (c->rep.ssl == 'N')
		return 0;
	pg_set_ignored(c);
	return PG_A_IGNORE;
}

#endif /* SOCKEYE_POSTGRES_BPF_H */
