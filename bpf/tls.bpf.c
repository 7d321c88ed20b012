// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* tls.bpf.c - uprobes on OpenSSL's read and write functions: the plaintext of each call goes
 * through the same parser, pairing and maps as plain HTTP (driver.bpf.h), so an HTTPS request
 * produces the same series as a plain one.
 *
 * The loader hands this object the socket hooks' shared maps (http_dur, http_routes, ...), so
 * both paths count into the same series. Ciphertext never reaches the socket hooks' parser:
 * a TLS record starts with a byte below 'A', which they skip before creating any state.
 *
 * Per call: the entry probe saves the arguments in the thread's tls_calls entry; while the
 * call runs, the sock_send_length/sock_recv_length tracepoints note the TCP socket it uses
 * (that is how a connection learns its ports: OpenSSL's socket BIO, and curl's own BIO, send
 * and receive from inside the SSL call); the return probe reads the byte count and scans the
 * plaintext. Connection state
 * is keyed by (tgid, SSL *) and deleted by an SSL_free probe, because SSL objects are reused.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "driver.bpf.h"
#include "filter.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define IPPROTO_TCP 6


/* One thread's SSL call in progress, and the thread's scan scratch. Uprobe programs run with
 * preemption enabled, so two of them can interleave on one CPU in any order: the per-CPU
 * nesting slots of scratch_get do not apply. A thread cannot interleave with itself, so the
 * scratch lives here, per thread. The entry stays for the thread's life (deleted when it
 * exits), which saves an insert and a delete per call. */
struct tls_call {
	struct scratch sc; /* the scan's window and variables */
	__u64 ssl;
	__u64 buf;
	__u64 done; /* size_t * of the _ex signature */
	__u64 sp;   /* stack pointer at entry: the return probe of this call sees sp + 8 */
	__u64 sk;   /* socket cookie of the first TCP socket used in the call, 0 none */
	__u16 lport;
	__u16 rport; /* host order */
	__u8 active;
	__u8 cookie; /* SOCKEYE_TLS_COOKIE_* */
	__u8 pad[2];
};

/* A bit per thread id, set while the thread is inside a probed SSL call. The socket tracepoints
 * run for every send and receive on the host: for threads outside SSL calls this array lookup
 * (inlined by the verifier: no hashing) and a bit test is all they do. Sized for the kernel's
 * PID_MAX_LIMIT on 64-bit (4M ids: 512 KiB). */
#define TID_LIMIT (4U << 20)
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TID_LIMIT / 64);
	__type(key, __u32);
	__type(value, __u64);
} tls_active SEC(".maps");

/* One SSL object's connection state. */
struct tls_conn {
	struct sock_state st;
	__u64 sk; /* cookie of the socket the state belongs to, 0 before its first socket I/O */
	__u16 lport;
	__u16 rport;
	__u8 attributed;
	__u8 pad[3];
};

/* Not an LRU: every socket send on the host looks a thread up here, and an LRU lookup also
 * writes the entry's reference bit. Entries go when their thread exits (tp_exit); memory is
 * allocated per thread that makes SSL calls, not for max_entries. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SOCKEYE_TLS_THREAD_ENTRIES);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct tls_call);
} tls_calls SEC(".maps");

/* sockeye_bpf_map_entries{map="tls_conns"} */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SOCKEYE_TLS_CONN_ENTRIES);
	__type(key, struct sockeye_tls_conn_key);
	__type(value, struct tls_conn);
} tls_conns SEC(".maps");

/* tgid -> connection states created minus freed: only these processes' exits and execs walk
 * tls_conns for what SSL_free did not delete. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SOCKEYE_TLS_PROC_ENTRIES);
	__type(key, __u32);
	__type(value, __s64);
} tls_procs SEC(".maps");

/* sockeye_tls_events_total{event} */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SOCKEYE_TLS_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} tls_stats SEC(".maps");

/* Execs: rare, so each one wakes the reader. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} tls_events SEC(".maps");

/* Zeroed values to create entries from (never written; the stack is too small for them). */
static struct tls_call zero_call;
static struct tls_conn zero_conn;

/* The word of tls_active holding thread tid's bit (NULL past the limit). */
static __always_inline __u64 *active_word(__u32 tid, __u64 *bit)
{
	__u32 idx = tid >> 6;

	*bit = 1ULL << (tid & 63);
	return bpf_map_lookup_elem(&tls_active, &idx);
}

static __always_inline void tls_stat_inc(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&tls_stats, &which);

	if (v)
		__sync_fetch_and_add(v, 1);
}

DEFINE_SCAN_CB(scan_cb_user, 1)

/* Entry of SSL_read/SSL_write/_ex, or of OpenSSL's internal read/write functions. */
SEC("uprobe")
int uprobe_ssl_rw(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid(), sp = PT_REGS_SP(ctx), bit, *w;
	struct tls_call *c = bpf_map_lookup_elem(&tls_calls, &id);

	if (!c) {
		bpf_map_update_elem(&tls_calls, &id, &zero_call, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&tls_calls, &id);
		if (!c) {
			tls_stat_inc(SOCKEYE_TLS_STAT_STATE_FAIL);
			return 0;
		}
	}
	/* A call nested in the one we follow (deeper stack: a BIO that does TLS itself) is not
	 * followed. An active call at this depth or above lost its return probe: replace it. */
	if (c->active && sp < c->sp)
		return 0;
	c->ssl = PT_REGS_PARM1(ctx);
	c->buf = PT_REGS_PARM2(ctx);
	c->done = PT_REGS_PARM4(ctx);
	c->sp = sp;
	c->sk = 0;
	c->cookie = bpf_get_attach_cookie(ctx);
	c->active = 1;
	w = active_word((__u32)id, &bit);
	if (w)
		__sync_fetch_and_or(w, bit);
	return 0;
}

/* The connection's ports, once known: the server port, then the filters, then its in-flight
 * group. A connection whose first request was read without socket I/O (already buffered by
 * OpenSSL) learns its port later: requests already waiting are counted as started now, so
 * that their ends balance. */
static __always_inline void conn_set_port(struct tls_conn *conn)
{
	struct sock_state *st = &conn->st;
	__u16 port;

	if (!conn->attributed || (st->kind != KIND_SERVER && st->kind != KIND_CLIENT) ||
	    st->server_port)
		return;
	port = st->kind == KIND_CLIENT ? conn->rport : conn->lport;
	if (!port || !port_wanted(port) || !cgroup_wanted(FILTER_TASK, NULL, NULL)) {
		st->kind = KIND_IGNORE;
		return;
	}
	st->server_port = port;
	http_conn_init(st, bpf_get_current_cgroup_id());
	for (int i = 0; i < SOCKEYE_PIPELINE_DEPTH; i++) {
		__u8 idx = st->fifo_head + i;

		if (idx == st->fifo_tail)
			break;
		inflight_add(st, &st->fifo[idx & (SOCKEYE_PIPELINE_DEPTH - 1)], 1);
	}
}

/* The connection is over (SSL_free, a new socket, its process gone), as a socket's close is:
 * requests still waiting are no longer in flight, a response delimited by the close ends. */
static __always_inline void conn_end(struct sock_state *st)
{
	if ((st->kind != KIND_SERVER && st->kind != KIND_CLIENT) || !st->server_port)
		return;
	fifo_abandon(st);
	if (st->cur_valid && st->resp.state == HP_BODY_CLOSE)
		record_sizes(bpf_get_current_cgroup_id(), st, st->resp.body_size);
}

/* The first plaintext decides, as on a socket: a request start makes the connection ours on
 * the side it travels from, a status line ("HTTP/") on the other side. */
static __always_inline void conn_set_kind(struct tls_conn *conn, const char *buf, int write)
{
	char first[5] = {};
	int client = write;

	if (bpf_probe_read_user(first, 1, buf) || first[0] < 'A' || first[0] > 'Z') {
		conn->st.kind = KIND_IGNORE;
		return;
	}
	if (first[0] == 'H' && !bpf_probe_read_user(first, 5, buf) && first[1] == 'T' &&
	    first[2] == 'T' && first[3] == 'P' && first[4] == '/')
		client = !write;
	conn->st.kind = client ? KIND_CLIENT : KIND_SERVER;
	conn_set_port(conn);
}

static __always_inline struct tls_conn *conn_get(struct sockeye_tls_conn_key *key)
{
	struct tls_conn *conn = bpf_map_lookup_elem(&tls_conns, key);
	__s64 one = 1, *n;

	if (conn)
		return conn;
	if (bpf_map_update_elem(&tls_conns, key, &zero_conn, BPF_NOEXIST))
		return bpf_map_lookup_elem(&tls_conns, key); /* EEXIST: another thread won */
	n = bpf_map_lookup_elem(&tls_procs, &key->tgid);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&tls_procs, &key->tgid, &one, BPF_ANY);
	conn = bpf_map_lookup_elem(&tls_conns, key);
	if (!conn)
		tls_stat_inc(SOCKEYE_TLS_STAT_STATE_FAIL);
	return conn;
}

/* n bytes of plaintext at c->buf went through the connection in direction write. */
static __always_inline void on_plaintext(struct tls_call *c, __u64 id, __u64 n, int write)
{
	struct sockeye_tls_conn_key key = {};
	struct tls_conn *conn;
	struct sock_state *st;
	struct scan_ctx ctx = {};
	int req_dir;

	key.tgid = id >> 32;
	key.ssl = c->ssl;
	conn = conn_get(&key);
	if (!conn)
		return;
	if (c->sk && conn->sk != c->sk) {
		if (conn->sk) {
			/* The SSL object now talks on another socket (cookies are never reused): a
			 * new connection in a reused object (SSL_clear, or an SSL_free we did not
			 * see). Start afresh. */
			tls_stat_inc(SOCKEYE_TLS_STAT_SOCKET_CHANGED);
			conn_end(&conn->st);
			bpf_map_update_elem(&tls_conns, &key, &zero_conn, BPF_EXIST);
			conn = bpf_map_lookup_elem(&tls_conns, &key);
			if (!conn)
				return;
		}
		conn->sk = c->sk;
		conn->lport = c->lport;
		conn->rport = c->rport;
		conn->attributed = 1;
		conn_set_port(conn);
	}
	st = &conn->st;
	if (st->kind == KIND_UNKNOWN)
		conn_set_kind(conn, (const char *)c->buf, write);
	if (st->kind != KIND_SERVER && st->kind != KIND_CLIENT)
		return;
	req_dir = (st->kind == KIND_SERVER) != write;
	if (!conn->attributed && !req_dir) {
		/* A response with no socket I/O seen in any call of the connection yet: its
		 * ports are unknown (a memory BIO). Not counted under wrong labels. */
		st->kind = KIND_IGNORE;
		tls_stat_inc(SOCKEYE_TLS_STAT_UNATTRIBUTED);
		return;
	}
	if (write && !st->owner_seen && conn->attributed)
		record_owner(st, bpf_get_current_cgroup_id());

	if (n > 0x7fffffff)
		n = 0x7fffffff;
	scan_begin(&c->sc, 0, n, req_dir);
	ctx.ubuf = (const char *)c->buf;
	ctx.st = st;
	ctx.sc = &c->sc;
	ctx.p = req_dir ? &st->req : &st->resp;
	ctx.r = req_dir ? &st->route : NULL;
	bpf_loop(SCAN_STEPS, scan_cb_user, &ctx, 0);
}

/* Return of the probed read/write functions. */
SEC("uretprobe")
int uretprobe_ssl_rw(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid(), n = 0, bit, *w;
	struct tls_call *c = bpf_map_lookup_elem(&tls_calls, &id);
	long ret = PT_REGS_RC(ctx);

	/* The return of a nested call we did not follow leaves sp below the entry's. */
	if (!c || !c->active || PT_REGS_SP(ctx) != c->sp + 8)
		return 0;
	c->active = 0;
	w = active_word((__u32)id, &bit);
	if (w)
		__sync_fetch_and_and(w, ~bit);
	if ((int)ret <= 0)
		return 0; /* error, WANT_READ/WANT_WRITE (the call is retried), closed */
	if (c->cookie & SOCKEYE_TLS_COOKIE_EX) {
		if (bpf_probe_read_user(&n, sizeof(n), (void *)c->done))
			return 0;
	} else {
		n = (__u32)(int)ret;
	}
	if (n == 0)
		return 0;
	on_plaintext(c, id, n, c->cookie & SOCKEYE_TLS_COOKIE_WRITE);
	return 0;
}

/* SSL_free (at its entry, or at the first instruction after its NULL check): the object's
 * address may come back for the next connection. */
SEC("uprobe")
int uprobe_ssl_free(struct pt_regs *ctx)
{
	struct sockeye_tls_conn_key key = {};
	struct tls_conn *conn;
	__s64 *n;

	key.tgid = bpf_get_current_pid_tgid() >> 32;
	key.ssl = PT_REGS_PARM1(ctx);
	conn = bpf_map_lookup_elem(&tls_conns, &key);
	if (!conn)
		return 0;
	conn_end(&conn->st);
	if (bpf_map_delete_elem(&tls_conns, &key))
		return 0;
	n = bpf_map_lookup_elem(&tls_procs, &key.tgid);
	if (n)
		__sync_fetch_and_add(n, -1);
	return 0;
}

/* A socket send or receive: one lookup unless the thread is inside an SSL call whose socket
 * is not known yet. */
static __always_inline void note_socket(struct sock *sk)
{
	__u64 id = bpf_get_current_pid_tgid(), bit, *w = active_word((__u32)id, &bit);
	struct tls_call *c;

	if (!w || !(*w & bit))
		return;
	c = bpf_map_lookup_elem(&tls_calls, &id);
	if (!c || !c->active || c->sk)
		return;
	if (sk->sk_protocol != IPPROTO_TCP)
		return;
	c->lport = sk->__sk_common.skc_num;
	c->rport = bpf_ntohs(sk->__sk_common.skc_dport);
	c->sk = bpf_get_socket_cookie(sk);
}

/* Every socket send on the host (a client's request, a server's response). */
SEC("tp_btf/sock_send_length")
int BPF_PROG(tp_sock_send, struct sock *sk, int ret, int flags)
{
	note_socket(sk);
	return 0;
}

/* Every socket receive on the host: a server's connection is known from its first request
 * (which its response alone would give too late for the in-flight gauge). */
SEC("tp_btf/sock_recv_length")
int BPF_PROG(tp_sock_recv, struct sock *sk, int ret, int flags)
{
	note_socket(sk);
	return 0;
}

static __always_inline void send_event(__u32 type, __u32 pid)
{
	struct sockeye_tls_event e = {};

	e.type = type;
	e.pid = pid;
	bpf_ringbuf_output(&tls_events, &e, sizeof(e), 0);
}

static long forget_conn(struct bpf_map *map, struct sockeye_tls_conn_key *key,
			struct tls_conn *conn, __u32 *tgid)
{
	if (key->tgid == *tgid) {
		conn_end(&conn->st);
		bpf_map_delete_elem(&tls_conns, key);
	}
	return 0;
}

/* The process's SSL objects are gone (exit, exec) without SSL_free: their connections end and
 * their states go. Only processes with states left walk the map. */
static __always_inline void proc_forget(__u32 tgid)
{
	__s64 *n = bpf_map_lookup_elem(&tls_procs, &tgid);

	if (!n)
		return;
	if (*n > 0)
		bpf_for_each_map_elem(&tls_conns, forget_conn, &tgid, 0);
	bpf_map_delete_elem(&tls_procs, &tgid);
}

/* A new program image: user space looks for libssl files it has not attached yet. The old
 * image's SSL objects are gone. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(tp_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	proc_forget(tgid);
	send_event(SOCKEYE_TLS_EV_EXEC, tgid);
	return 0;
}

/* A thread's entry goes with it; a process's connection states with the process. The
 * tracepoint's second argument (group_dead) is recent (6.18 has it, 6.1 and 6.12 do not):
 * the last thread is recognised instead by its signal struct's live count, which do_exit
 * has already decremented when the tracepoint fires. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(tp_exit, struct task_struct *p)
{
	__u64 id = bpf_get_current_pid_tgid(), bit, *w = active_word((__u32)id, &bit);

	if (w && (*w & bit))
		__sync_fetch_and_and(w, ~bit); /* died inside an SSL call */
	bpf_map_delete_elem(&tls_calls, &id);
	if (BPF_CORE_READ(p, signal, live.counter) == 0)
		proc_forget(id >> 32);
	return 0;
}
