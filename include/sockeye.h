/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* sockeye.h - THE kernel<->user contract: map keys and values, enums, map sizes.
 *
 * Both compilers see this file. It includes nothing: BPF code includes vmlinux.h first, user
 * code <linux/types.h>. Every padding byte is named and every size is asserted, so a layout
 * change breaks the build instead of producing wrong labels.
 */
#ifndef SOCKEYE_H
#define SOCKEYE_H

/* Normalised route, NUL-terminated, zero-filled to the end (the kernel hashes all of it). */
#define SOCKEYE_ROUTE_LEN 64
/* Histogram bounds the agent accepts; slot SOCKEYE_MAX_BUCKETS is the +Inf-only overflow. */
#define SOCKEYE_MAX_BUCKETS 30
#define SOCKEYE_SLOTS (SOCKEYE_MAX_BUCKETS + 1)

/* Map capacities. The route table's is a default the config may change before load. */
#define SOCKEYE_HTTP_ENTRIES 16384 /* default; http.series_capacity up to the max */
#define SOCKEYE_HTTP_ENTRIES_MAX (1U << 20)
#define SOCKEYE_ROUTE_ENTRIES_DEFAULT 2048
#define SOCKEYE_ROUTE_ENTRIES_MAX (1U << 20)

/* Body size histogram bounds (bytes) the agent accepts; slot n_size_bounds is overflow. */
#define SOCKEYE_SIZE_BOUNDS 15
#define SOCKEYE_SIZE_SLOTS (SOCKEYE_SIZE_BOUNDS + 1)

/* route_id of series whose route did not fit in the route table, or that came past the
 * series budget: http_route="{other}". */
#define SOCKEYE_ROUTE_OTHER 0ULL
/* route_id of a request on an ignored path (http.routes.ignore): counted in no family. */
#define SOCKEYE_ROUTE_IGNORE 1ULL

/* Map names (the kernel keeps 15 characters). Grep a family's name to find its map. */
#define SOCKEYE_MAP_HTTP "http_dur"	 /* http_{server,client}_request_duration_seconds */
#define SOCKEYE_MAP_ROUTES "http_routes" /* route_id -> normalised route string */
#define SOCKEYE_MAP_STATS "sockeye_stats" /* sockeye_parser_events_total{event} */
#define SOCKEYE_MAP_SIZES "http_sizes"	  /* http_*_{request,response}_body_size_bytes */
/* Preallocated fallbacks of http_dur and http_sizes, same keys and values, one value for all
 * CPUs: a key whose insert into the per-key allocated map failed is counted here instead, and
 * collect_http.c adds both up. The kernel's allocator refills its per-CPU caches later, by
 * irq_work: in a burst of new series (measured: 800 of 2,000 in a few seconds on 6.18, and a
 * second series on one CPU on 6.1) it has nothing to give for a moment. 4096 keys: 2.3 MB. */
#define SOCKEYE_MAP_HTTP_SPILL "http_dur_spill"
#define SOCKEYE_MAP_SIZES_SPILL "http_size_spill"
#define SOCKEYE_SPILL_ENTRIES 4096
#define SOCKEYE_MAP_OWNER "sock_owner"	  /* owner process of a series' sockets */
#define SOCKEYE_OWNER_ENTRIES 4096
/* sockeye_tcp_*, http_{server,client}_active_requests: conn_slots maps a connection group to
 * its index in the per-CPU array conn_stats (an array lookup is cheap enough for every
 * segment; a hash lookup is not). */
#define SOCKEYE_MAP_CONN_SLOTS "conn_slots"
#define SOCKEYE_MAP_CONN_STATS "conn_stats"
#define SOCKEYE_MAP_CONN_NEXT "conn_next"	  /* the next free index of conn_stats */
#define SOCKEYE_MAP_SERIES_N "http_series_n" /* series created: http.series_budget */
#define SOCKEYE_MAP_SK_STATE "sk_state"	  /* per-socket parser state (sk_storage) */
/* Per-object working memory of the programs: every object has its own, so the TLS object does
 * not share them with the socket hooks' object (tls.c). */
#define SOCKEYE_MAP_SCRATCH "scratch"
#define SOCKEYE_MAP_SCRATCH_DEPTH "scratch_depth"
#define SOCKEYE_MAP_ZERO_VALS "zero_vals"
#define SOCKEYE_CONN_ENTRIES 4096
/* RTT histogram bounds the agent accepts; slot n_rtt_bounds is the +Inf-only overflow. */
#define SOCKEYE_RTT_BOUNDS 15
#define SOCKEYE_RTT_SLOTS (SOCKEYE_RTT_BOUNDS + 1)

enum sockeye_role {
	SOCKEYE_ROLE_SERVER = 0,
	SOCKEYE_ROLE_CLIENT = 1,
	SOCKEYE_ROLE_MAX,
};

/* Sync note: also update method_names[] in src/render_http.c and the method table in
 * bpf/http.bpf.h (http_method_from_token). */
enum sockeye_method {
	SOCKEYE_METHOD_OTHER = 0, /* rendered as "_OTHER", as OpenTelemetry spells it */
	SOCKEYE_METHOD_GET,
	SOCKEYE_METHOD_HEAD,
	SOCKEYE_METHOD_POST,
	SOCKEYE_METHOD_PUT,
	SOCKEYE_METHOD_DELETE,
	SOCKEYE_METHOD_PATCH,
	SOCKEYE_METHOD_OPTIONS,
	SOCKEYE_METHOD_CONNECT,
	SOCKEYE_METHOD_TRACE,
	SOCKEYE_METHOD_MAX,
};

/* Sync note: also update version_names[] in src/render_http.c. */
enum sockeye_version {
	SOCKEYE_VERSION_1_0 = 0,
	SOCKEYE_VERSION_1_1 = 1,
	SOCKEYE_VERSION_MAX,
};

/* Key of the http_dur map. The layout is ABI. */
struct sockeye_http_key {
	__u64 cgroup_id;   /* cgroup v2 id of the socket (bpf_skb_cgroup_id) */
	__u64 route_id;    /* key into http_routes; SOCKEYE_ROUTE_OTHER when the table was full */
	__u16 server_port; /* local port for a server, remote port for a client (host order) */
	__u16 status;	   /* HTTP status code of the final response */
	__u8 role;	   /* enum sockeye_role */
	__u8 method;	   /* enum sockeye_method */
	__u8 version;	   /* enum sockeye_version, of the request line */
	__u8 pad;	   /* always zero: hash lookups compare every byte */
};
_Static_assert(sizeof(struct sockeye_http_key) == 24, "sockeye_http_key is ABI");

/* Value of the http_dur map (per CPU). buckets[i] counts durations in (bound[i-1], bound[i]];
 * buckets[n_bounds] counts those above the last configured bound. Not cumulative: render.c
 * accumulates. */
struct sockeye_http_val {
	__u64 count;
	__u64 sum_ns;
	__u64 buckets[SOCKEYE_SLOTS];
};
_Static_assert(sizeof(struct sockeye_http_val) == 16 + 8 * SOCKEYE_SLOTS, "sockeye_http_val is ABI");

/* A body size histogram: buckets[i] counts sizes in (bound[i-1], bound[i]] (not cumulative). */
struct sockeye_size_hist {
	__u64 count;
	__u64 sum;
	__u64 buckets[SOCKEYE_SIZE_SLOTS];
};
_Static_assert(sizeof(struct sockeye_size_hist) == 8 * (2 + SOCKEYE_SIZE_SLOTS),
	       "sockeye_size_hist is ABI");

/* Value of the http_sizes map (per CPU), key as http_dur: recorded when the response ends. */
struct sockeye_size_val {
	struct sockeye_size_hist req;  /* request body bytes */
	struct sockeye_size_hist resp; /* response body bytes (chunked: data only) */
};
_Static_assert(sizeof(struct sockeye_size_val) == 2 * 8 * (2 + SOCKEYE_SIZE_SLOTS),
	       "sockeye_size_val is ABI");

/* Value of the http_routes map. */
struct sockeye_route {
	char path[SOCKEYE_ROUTE_LEN];
};
_Static_assert(sizeof(struct sockeye_route) == SOCKEYE_ROUTE_LEN, "sockeye_route is ABI");

/* Key of the sock_owner map: the HTTP series labels that identify a service's sockets. */
struct sockeye_owner_key {
	__u64 cgroup_id;
	__u16 server_port;
	__u8 role; /* enum sockeye_role */
	__u8 pad[5];
};
_Static_assert(sizeof(struct sockeye_owner_key) == 16, "sockeye_owner_key is ABI");

/* Value of the sock_owner map: the last process seen sending on such a socket. */
struct sockeye_owner {
	__u32 tgid;
	__u32 pad;
	char comm[16];
};
_Static_assert(sizeof(struct sockeye_owner) == 24, "sockeye_owner is ABI");

/* Key of conn_slots: a group of connections with the same labels. For TCP, side is the
 * direction (SOCKEYE_ROLE_SERVER = inbound, accepted; SOCKEYE_ROLE_CLIENT = outbound,
 * connected); for HTTP in-flight counts it is the HTTP role. */
struct sockeye_conn_key {
	__u64 cgroup_id;
	__u16 server_port; /* local port of inbound, remote port of outbound connections */
	__u8 side;	   /* enum sockeye_role */
	__u8 pad[5];
};
_Static_assert(sizeof(struct sockeye_conn_key) == 16, "sockeye_conn_key is ABI");

/* Value of conn_stats (per CPU). Gauges are differences of counters: active connections are
 * opened - closed, requests in flight are req_started - req_ended (per method). */
struct sockeye_conn_val {
	__u64 opened;
	__u64 closed;
	__u64 bytes_sent;     /* payload bytes, retransmissions excluded */
	__u64 bytes_received; /* payload bytes, duplicates excluded */
	__u64 retrans;	      /* retransmitted segments sent */
	__u64 rtt_count;      /* connections closed with an RTT estimate */
	__u64 rtt_sum_us;
	__u64 rtt_buckets[SOCKEYE_RTT_SLOTS]; /* smoothed RTT at close, per bucket */
	__u64 req_started[SOCKEYE_METHOD_MAX];
	__u64 req_ended[SOCKEYE_METHOD_MAX]; /* answered, or abandoned by a close or desync */
};
_Static_assert(sizeof(struct sockeye_conn_val) ==
		       8 * (7 + SOCKEYE_RTT_SLOTS + 2 * SOCKEYE_METHOD_MAX),
	       "sockeye_conn_val is ABI");

/* Index of the sockeye_stats per-CPU array: things dropped, skipped or overflowed.
 * Sync note: also update stat_names[] in src/render_agent.c. */
enum sockeye_stat {
	SOCKEYE_STAT_ROUTE_TABLE_FULL = 0, /* a request counted under http_route="{other}" */
	SOCKEYE_STAT_HTTP_MAP_FULL,	   /* a request not counted: http_dur full */
	SOCKEYE_STAT_PIPELINE_FULL,	   /* a request not counted: too many outstanding */
	SOCKEYE_STAT_UNMATCHED_RESPONSE,   /* a response with no outstanding request */
	SOCKEYE_STAT_RETRANSMIT,	   /* a segment (or part) seen again and skipped */
	SOCKEYE_STAT_DESYNC,		   /* parser lost message framing on a socket */
	SOCKEYE_STAT_HEADER_TOO_LONG,	   /* a header section longer than the scan bound */
	SOCKEYE_STAT_NOT_HTTP,		   /* a socket whose first bytes were not HTTP/1.x */
	SOCKEYE_STAT_STORAGE_FAIL,	   /* sk_storage could not be created */
	SOCKEYE_STAT_CONN_TABLE_FULL,	   /* a connection group without a conn_stats slot */
	SOCKEYE_STAT_SERIES_BUDGET,	   /* a request counted under {other}: series budget spent */
	SOCKEYE_STAT_ROUTE_STATES_FULL,	   /* a path with more trie positions than followed */
	SOCKEYE_STAT_MAX,
};

/* Route patterns (http.routes, docs/routes.md). The patterns become a segment trie: an edge
 * leaves a node for a literal segment (by its hash), for any one segment ({x}), for one or more
 * ({x...}: its node loops on further segments), or for the rest of the path (*). Node 0 is the
 * root of generation 0, SOCKEYE_ROUTE_GEN_BIT the root of generation 1: a config reload fills
 * the other generation, then switches roots in route_cfg. */
#define SOCKEYE_MAP_ROUTE_TRIE "route_trie"
#define SOCKEYE_MAP_ROUTE_CFG "route_cfg"
#define SOCKEYE_ROUTE_TRIE_ENTRIES 8192 /* edges of both generations */
#define SOCKEYE_ROUTE_GEN_BIT 0x80000000U
#define SOCKEYE_ROUTE_STATES 4 /* trie positions followed at once per request */
#define SOCKEYE_ROUTE_PATTERNS_MAX 256

enum sockeye_route_edge_kind {
	SOCKEYE_EDGE_LITERAL = 0,
	SOCKEYE_EDGE_ONE,  /* {x}: any one non-empty segment */
	SOCKEYE_EDGE_MANY, /* {x...}: one or more non-empty segments */
	SOCKEYE_EDGE_REST, /* *: the rest of the path, also nothing */
	SOCKEYE_EDGE_MAX,
};

/* Flags of a trie node: which edges leave it, whether a pattern ends there. */
#define SOCKEYE_NODE_LITERAL 0x01 /* literal edges leave it */
#define SOCKEYE_NODE_ONE 0x02
#define SOCKEYE_NODE_MANY 0x04
#define SOCKEYE_NODE_REST 0x08
#define SOCKEYE_NODE_LOOP 0x10 /* a {x...} node: takes further segments itself */
#define SOCKEYE_NODE_END 0x20  /* a pattern ends here: route_id, prio */

/* Key of route_trie. */
struct sockeye_route_edge {
	__u32 node; /* the parent */
	__u32 kind; /* enum sockeye_route_edge_kind */
	__u64 hash; /* SOCKEYE_EDGE_LITERAL: the segment's hash (http.bpf.h route_seg_hash); else 0 */
};
_Static_assert(sizeof(struct sockeye_route_edge) == 16, "sockeye_route_edge is ABI");

/* A trie node as its parents' edges and route_cfg see it. */
struct sockeye_route_node {
	__u64 route_id; /* SOCKEYE_NODE_END: the pattern's route_id (or SOCKEYE_ROUTE_IGNORE) */
	__u32 id;	/* node id */
	__u16 flags;	/* SOCKEYE_NODE_* */
	__u16 prio;	/* SOCKEYE_NODE_END: the pattern's place in the list (first wins) */
};
_Static_assert(sizeof(struct sockeye_route_node) == 16, "sockeye_route_node is ABI");

/* What to do with a path no pattern matches. Sync note: unmatched_names[] in src/config.c. */
enum sockeye_route_unmatched {
	SOCKEYE_UNMATCHED_HEURISTIC = 0, /* identifier-like segments become {id} */
	SOCKEYE_UNMATCHED_PATH,		 /* the literal path (bounded as always) */
	SOCKEYE_UNMATCHED_LOW_CARDINALITY, /* heuristic, and a position under a prefix that has
					    * seen max_segment_values literals becomes {*} */
	SOCKEYE_UNMATCHED_WILDCARD,	   /* the route "/" followed by "*" */
	SOCKEYE_UNMATCHED_MAX,
};

/* Value of route_cfg (one entry, rewritten on reload). */
struct sockeye_route_cfg {
	struct sockeye_route_node root; /* root.flags 0: no pattern at all */
	__u32 unmatched;		/* enum sockeye_route_unmatched */
	__u32 max_segment_values;	/* SOCKEYE_UNMATCHED_LOW_CARDINALITY */
	__u64 series_budget;		/* keys of http_dur before new ones go to {other}; 0 none */
};
_Static_assert(sizeof(struct sockeye_route_cfg) == 32, "sockeye_route_cfg is ABI");

/* low_cardinality learning: literal values seen per (prefix, position). */
#define SOCKEYE_MAP_ROUTE_VALUES "route_values"
#define SOCKEYE_MAP_ROUTE_PREFIXES "route_prefixes"
#define SOCKEYE_ROUTE_LEARN_ENTRIES 16384

/* Stages the socket hooks can stop after (bench/breakdown.py; enum bench_stage in
 * bpf/stream.bpf.h). */
#define SOCKEYE_BENCH_STAGES 6

/* Per-socket parser limits (documented in README "Limits"). */
#define SOCKEYE_PIPELINE_DEPTH 8   /* outstanding requests per socket */
#define SOCKEYE_SCAN_WINDOW 256	   /* bytes copied from the skb per scan step */
#define SOCKEYE_SCAN_WINDOWS 32	   /* window loads per skb: 8 KiB of header bytes */
#define SOCKEYE_TARGET_SCAN 512	   /* request-target bytes looked at for the route */
#define SOCKEYE_ROUTE_DEPTH 8	   /* path segments kept in a route */

/* TLS (bpf/tls.bpf.c): uprobes on OpenSSL feed the plaintext of each SSL read/write call to the
 * same parser and maps as the socket hooks. */
#define SOCKEYE_MAP_TLS_CONNS "tls_conns" /* (tgid, SSL *) -> connection state */
#define SOCKEYE_MAP_TLS_STATS "tls_stats" /* sockeye_tls_events_total{event} */
#define SOCKEYE_MAP_TLS_CALLS "tls_calls" /* pid_tgid -> the SSL call in progress */
#define SOCKEYE_MAP_TLS_PROCS "tls_procs" /* processes with connection state */
#define SOCKEYE_MAP_TLS_EVENTS "tls_events" /* ring buffer: struct sockeye_tls_event */
#define SOCKEYE_TLS_CONN_ENTRIES 16384	  /* SSL objects with state (LRU) */
#define SOCKEYE_TLS_THREAD_ENTRIES 8192	  /* threads that made an SSL read/write call */
#define SOCKEYE_TLS_PROC_ENTRIES 8192	  /* processes with connection state */

/* Key of tls_conns. A process's keys go when it exits or execs (tls.bpf.c tp_exit, tp_exec). */
struct sockeye_tls_conn_key {
	__u32 tgid;
	__u32 pad;
	__u64 ssl; /* the SSL object's address in that process */
};
_Static_assert(sizeof(struct sockeye_tls_conn_key) == 16, "sockeye_tls_conn_key is ABI");

/* bpf_cookie of an SSL read/write probe: bits 0-7 flags, bits 8-23 the library's slot in
 * tls_libs, bits 32-63 (signed) the distance from the probed instruction to the library's GOT
 * entry of BIO_s_socket (0: none). The SSL_free probe's cookie has the slot only. */
#define SOCKEYE_TLS_COOKIE_WRITE 0x1 /* plaintext leaving (SSL_write*), else arriving */
#define SOCKEYE_TLS_COOKIE_EX 0x2    /* (ssl, buf, num, size_t *done), 1 on success; else
				      * (ssl, buf, int num) returning the byte count */
#define SOCKEYE_TLS_COOKIE_SLOT_SHIFT 8
#define SOCKEYE_TLS_COOKIE_GOT_SHIFT 32

/* tls_libs: what the probes need to know of one libssl build (and the libcrypto it uses) to
 * find an SSL object's socket: SSL -> rbio -> BIO num (the file descriptor of a socket BIO).
 * Derived by user space from each build's own code (src/tls_elf.c); slots are reused after a
 * library is detached. */
#define SOCKEYE_MAP_TLS_LIBS "tls_libs"
#define SOCKEYE_TLS_LIB_SLOTS 1024

#define SOCKEYE_TLS_LIB_FD 0x1	  /* every offset below is valid */
#define SOCKEYE_TLS_LIB_RBIO 0x2 /* ssl_rbio is valid */

struct sockeye_tls_lib {
	__u32 flags;	  /* SOCKEYE_TLS_LIB_* */
	__u16 ssl_rbio;	  /* offsetof(SSL, rbio) (SSL_get_rbio) */
	__u16 bio_method; /* offsetof(BIO, method) (BIO_method_type) */
	__u16 bio_num;	  /* offsetof(BIO, num): a socket BIO's descriptor (its read/write) */
	__u16 pad;
	__u32 pad2;
	__s64 sock_method; /* the socket BIO_METHOD's address minus BIO_s_socket's (libcrypto) */
};
_Static_assert(sizeof(struct sockeye_tls_lib) == 24, "sockeye_tls_lib is ABI");

/* Ring buffer records: rare process events user space acts on. */
enum sockeye_tls_event_type {
	SOCKEYE_TLS_EV_EXEC = 1, /* a process exec'd: look for libssl in its maps soon */
};

struct sockeye_tls_event {
	__u32 type; /* enum sockeye_tls_event_type */
	__u32 pid;  /* tgid */
};
_Static_assert(sizeof(struct sockeye_tls_event) == 8, "sockeye_tls_event is ABI");

/* Index of the tls_stats per-CPU array. Sync note: also update tls_stat_names[] in
 * src/render_agent.c. */
enum sockeye_tls_stat {
	SOCKEYE_TLS_STAT_UNATTRIBUTED = 0, /* a connection with no socket I/O in its SSL calls
					    * (memory BIO): not counted */
	SOCKEYE_TLS_STAT_SOCKET_CHANGED,   /* an SSL object seen on a new socket: state reset */
	SOCKEYE_TLS_STAT_STATE_FAIL,	   /* no room for a connection's or thread's state */
	SOCKEYE_TLS_STAT_MAX,
};

/* sockeye_tls_probe_hits_total{library,probe}: the tls_hits per-CPU array has one row of
 * SOCKEYE_TLS_PROBE_MAX counters per library slot (index slot * SOCKEYE_TLS_PROBE_MAX +
 * probe). Sync note: also update tls_probe_names[] in src/render_agent.c. */
#define SOCKEYE_MAP_TLS_HITS "tls_hits"
enum sockeye_tls_probe {
	SOCKEYE_TLS_PROBE_READ = 0,	/* entry of a read function */
	SOCKEYE_TLS_PROBE_READ_RETURN,	/* its return */
	SOCKEYE_TLS_PROBE_WRITE,	/* entry of a write function */
	SOCKEYE_TLS_PROBE_WRITE_RETURN, /* its return */
	SOCKEYE_TLS_PROBE_FREE,		/* SSL_free */
	SOCKEYE_TLS_PROBE_MAX,
};

/* sockeye_tls_attributions_total{library,method}: how connections (and SSL objects moved to
 * another socket) learned their socket. The tls_attr per-CPU array has a row of
 * SOCKEYE_TLS_ATTR_MAX counters per library slot, as tls_hits. Sync note: also update
 * tls_attr_names[] in src/render_agent.c. */
#define SOCKEYE_MAP_TLS_ATTR "tls_attr"
enum sockeye_tls_attr {
	SOCKEYE_TLS_ATTR_SOCKET_BIO = 0, /* the descriptor of the SSL object's socket BIO */
	SOCKEYE_TLS_ATTR_IO_SCAN,	 /* the one TCP socket of the process the call used */
	SOCKEYE_TLS_ATTR_MAX,
};

/* ---- Function metrics (bpf/funcs.bpf.c): uprobes and USDT probes declared in the config's
 * functions: section. One generic set of programs serves every declaration: a declaration is an
 * entry of fn_decls, and the bpf_cookie of each of its probes is that entry's index. Counts
 * and buckets are added up in fn_counts / fn_hists; nothing per call leaves the kernel. */
#define SOCKEYE_FUNC_MAX_DECLS 128	   /* declarations at once (fn_decls) */
#define SOCKEYE_FUNC_MAX_LABELS 4	   /* labels per declaration */
#define SOCKEYE_FUNC_MAX_STR_LABELS 2	   /* of which strings */
#define SOCKEYE_FUNC_STR_LEN 64		   /* bytes read of a string label, NUL included */
#define SOCKEYE_FUNC_MAX_VALUES 16	   /* values: entries of an int label */
#define SOCKEYE_FUNC_SERIES_ENTRIES 16384 /* keys of fn_counts and of fn_hists */
#define SOCKEYE_FUNC_CALL_ENTRIES 8192	   /* calls in progress (LRU) */
#define SOCKEYE_FUNC_MAX_SERIES_MAX 4096   /* largest max_series a declaration may ask for */

#define SOCKEYE_MAP_FN_DECLS "fn_decls"	    /* index (cookie) -> struct sockeye_func_decl */
#define SOCKEYE_MAP_FN_COUNTS "fn_counts"   /* type: counter families */
#define SOCKEYE_MAP_FN_HISTS "fn_hists"	    /* type: histogram families */
#define SOCKEYE_MAP_FN_NSERIES "fn_nseries" /* keys each declaration created (max_series) */
#define SOCKEYE_MAP_FN_CALLS "fn_calls"	    /* calls in progress: entry time and labels */
#define SOCKEYE_MAP_FN_HITS "fn_hits"	    /* sockeye_function_probe_hits_total */
#define SOCKEYE_MAP_FN_STATS "fn_stats"	    /* sockeye_function_events_total{event} */

enum sockeye_func_type {
	SOCKEYE_FUNC_COUNTER = 0,   /* calls (or USDT probe hits) */
	SOCKEYE_FUNC_HISTOGRAM = 1, /* entry -> return time, or a USDT argument in ns */
	SOCKEYE_FUNC_TYPE_MAX,
};

enum sockeye_func_probe {
	SOCKEYE_FUNC_PROBE_SYMBOL = 0, /* uprobe (and uretprobe) on a function */
	SOCKEYE_FUNC_PROBE_USDT = 1,   /* a USDT probe point */
};

/* Where a label's value comes from: the function's (or USDT probe's) arguments 1..6, or the
 * function's return value. */
enum sockeye_func_src {
	SOCKEYE_FUNC_SRC_NONE = 0,
	SOCKEYE_FUNC_SRC_ARG1 = 1, /* ... SOCKEYE_FUNC_SRC_ARG1 + 5 is arg6 */
	SOCKEYE_FUNC_SRC_RETURN = 7,
};

enum sockeye_func_kind {
	SOCKEYE_FUNC_KIND_INT = 0,  /* a C int: the low 32 bits, signed (USDT: the argument) */
	SOCKEYE_FUNC_KIND_LONG = 1, /* all 64 bits, signed */
	SOCKEYE_FUNC_KIND_STRING = 2, /* a pointer to a NUL-terminated string */
};

/* Sync note: also update func_stat_names[] in src/render_funcs.c. */
enum sockeye_func_stat {
	SOCKEYE_FUNC_STAT_NO_ENTRY = 0, /* a return without its entry's state: not counted */
	SOCKEYE_FUNC_STAT_SERIES_FULL,	/* a call not counted: fn_counts/fn_hists full */
	SOCKEYE_FUNC_STAT_OTHER,	/* a call counted under "{other}" (max_series reached) */
	SOCKEYE_FUNC_STAT_STRING_FAULT, /* a string label unreadable: "{unreadable}" */
	SOCKEYE_FUNC_STAT_USDT_ARG,	/* a USDT argument unreadable: not counted */
	SOCKEYE_FUNC_STAT_MAX,
};

/* fn_hits is indexed by decl * SOCKEYE_FUNC_HIT_MAX + enum sockeye_func_hit. */
enum sockeye_func_hit {
	SOCKEYE_FUNC_HIT_ENTRY = 0, /* the function's entry (or the USDT probe) was hit */
	SOCKEYE_FUNC_HIT_RETURN,    /* the function returned */
	SOCKEYE_FUNC_HIT_MAX,
};

struct sockeye_func_label {
	__u8 src;      /* enum sockeye_func_src */
	__u8 kind;     /* enum sockeye_func_kind */
	__u8 n_values; /* int labels: how many values are named (others: "other"); 0: the number */
	__u8 str_slot; /* string labels: index into sockeye_func_key.strs */
	__u8 pad[4];
	__s64 values[SOCKEYE_FUNC_MAX_VALUES];
};
_Static_assert(sizeof(struct sockeye_func_label) == 8 + 8 * SOCKEYE_FUNC_MAX_VALUES,
	       "sockeye_func_label is ABI");

/* Value of fn_decls, written by user space before the declaration's probes are attached. */
struct sockeye_func_decl {
	__u8 type;	  /* enum sockeye_func_type */
	__u8 probe;	  /* enum sockeye_func_probe */
	__u8 entry_state; /* 1: the entry probe saves time and labels for the return probe */
	__u8 value_src;	  /* USDT histograms: the argument holding the value (ns) */
	__u8 n_labels;
	__u8 n_bounds;
	__u8 pad[2];
	__u32 max_series; /* keys this declaration may create before "{other}" */
	__u32 pad2;
	__u64 bounds_ns[SOCKEYE_MAX_BUCKETS]; /* histogram bounds, ascending */
	struct sockeye_func_label labels[SOCKEYE_FUNC_MAX_LABELS];
};
_Static_assert(sizeof(struct sockeye_func_decl) ==
		       16 + 8 * SOCKEYE_MAX_BUCKETS +
			       SOCKEYE_FUNC_MAX_LABELS * sizeof(struct sockeye_func_label),
	       "sockeye_func_decl is ABI");

/* Key of fn_counts and fn_hists: one series of one declaration in one process group. The
 * process group is (cgroup, comm), not the pid, so that processes coming and going do not
 * add keys; user space names it from the tgid in the value. */
struct sockeye_func_key {
	__u32 decl;	  /* index in fn_decls */
	__u8 other;	  /* 1: max_series was reached: every label is "{other}" */
	__u8 unreadable;  /* bit i: label i is a string that could not be read */
	__u8 pad[2];
	__u64 cgroup_id;  /* cgroup v2 id of the calling process */
	char comm[16];	  /* the calling thread's comm, zero-filled */
	__s64 ints[SOCKEYE_FUNC_MAX_LABELS]; /* int labels: the number, or with values: 1 + the
					      * index of the named value, 0 for "other" */
	char strs[SOCKEYE_FUNC_MAX_STR_LABELS][SOCKEYE_FUNC_STR_LEN]; /* NUL-terminated, zero-filled */
};
_Static_assert(sizeof(struct sockeye_func_key) ==
		       32 + 8 * SOCKEYE_FUNC_MAX_LABELS +
			       SOCKEYE_FUNC_MAX_STR_LABELS * SOCKEYE_FUNC_STR_LEN,
	       "sockeye_func_key is ABI");

/* Value of fn_counts (one for all CPUs, added to atomically). */
struct sockeye_func_count {
	__u64 count;
	__u32 tgid; /* the last process that counted here */
	__u32 pad;
};
_Static_assert(sizeof(struct sockeye_func_count) == 16, "sockeye_func_count is ABI");

/* Value of fn_hists (one for all CPUs): buckets[i] counts values in (bound[i-1], bound[i]],
 * buckets[n_bounds] those above the last bound. Not cumulative. */
struct sockeye_func_hist {
	__u64 count;
	__u64 sum_ns;
	__u32 tgid;
	__u32 pad;
	__u64 buckets[SOCKEYE_SLOTS];
};
_Static_assert(sizeof(struct sockeye_func_hist) == 24 + 8 * SOCKEYE_SLOTS,
	       "sockeye_func_hist is ABI");

#endif /* SOCKEYE_H */
