// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* tls.bpf.c - uprobes on OpenSSL's read and write functions: the plaintext of each call goes
 * through the same parser, pairing and maps as plain HTTP (http_pair.bpf.h), so an HTTPS request
 * produces the same series as a plain one.
 *
 * The loader hands this object the socket hooks' shared maps (http_dur, http_routes, ...), so
 * both paths count into the same series. Ciphertext never reaches the socket hooks' parser:
 * a TLS record starts with a byte below 'A', which they skip before creating any state.
 *
 * Per call: the entry probe saves the arguments in the thread's tls_calls entry; the return
 * probe reads the byte count, finds the call's TCP socket and scans the plaintext. The socket
 * comes from the SSL object's socket BIO (SSL -> rbio -> BIO num, the descriptor, walked
 * through the process's descriptor table; offsets derived per library build by user space, the
 * BIO's method checked against the library's socket method). A BIO that is not a socket BIO
 * (curl's own) is attributed by the I/O of its calls: the entry of a call on a connection
 * without a socket records the process's TCP sockets, and the one whose sequence advanced by
 * about the call's bytes is the call's. Nothing here runs outside SSL calls: plain traffic pays
 * nothing for HTTPS. Connection state is keyed by (tgid, SSL *) and deleted by an SSL_free
 * probe, because SSL objects are reused.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "http_pair.bpf.h"
#include "filter.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define IPPROTO_TCP 6
#define AF_INET	    2
#define AF_INET6    10
#define S_IFMT	    00170000
#define S_IFSOCK    0140000

/* The I/O scan of a call on an unattributed connection whose BIO is not a socket BIO: at most
 * SNAP_SOCKS TCP sockets among the first SNAP_FDS descriptors of the process. */
#define SNAP_SOCKS 16
#define SNAP_FDS   1024
_Static_assert((SNAP_SOCKS & (SNAP_SOCKS - 1)) == 0, "snapshot index mask");

/* How a call's SSL object reaches its socket. */
enum call_bio {
	BIO_UNKNOWN = 0,
	BIO_SOCKET, /* a socket BIO: fd is its descriptor */
	BIO_OTHER,  /* another BIO (or offsets unknown): the I/O scan */
};

/* A TCP socket of the process, as the I/O scan saw it at the entry of a call. */
struct snap_sock {
	__u64 sk; /* struct sock * */
	__u64 ino;
	__u32 seq; /* tcp_sock.write_seq (write calls) or copied_seq (reads) at entry */
	__u16 lport;
	__u16 rport;
};

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
	__u64 ip;   /* the probed instruction's address (reads: find_bio on return) */
	__u64 full_cookie;
	__u64 sk; /* inode number of the call's TCP socket, 0 not known */
	__u16 lport;
	__u16 rport; /* host order */
	__u8 active;
	__u8 cookie; /* SOCKEYE_TLS_COOKIE_* flags */
	__u8 bio;    /* enum call_bio */
	__u8 n_snap;
	__s32 fd;	/* BIO_SOCKET: the socket BIO's descriptor */
	__u8 snap_over; /* the scan saw more TCP sockets or descriptors than it keeps */
	__u8 reset;	/* the connection's BIO changed: its state starts over */
	__u8 pad[2];
	__u64 rbio; /* the SSL object's read BIO, 0 not known */
	__u64 file; /* BIO_SOCKET: the struct file * of its descriptor, once looked up */
	/* The I/O scan's walk over the descriptor table (bpf_loop state: kept here, not on the
	 * stack, so the verifier checks the callback once). */
	__u64 scan_files; /* struct file ** */
	__u64 scan_bits;  /* open_fds bitmap */
	__u64 scan_word;  /* the bitmap word of the descriptor being looked at */
	__u32 scan_max;
	__u32 pad2;
	struct snap_sock snap[SNAP_SOCKS];
};

/* One SSL object's connection state. */
struct tls_conn {
	struct http_conn st;
	__u64 sk;   /* inode of the socket the state belongs to, 0 before it is known */
	__u64 rbio; /* the read BIO when it was attributed by the I/O scan, else 0 */
	/* A socket BIO's last lookup: while the object keeps this BIO with this descriptor,
	 * and the descriptor this open file of this socket, the socket is the same. */
	__u64 sock_rbio;
	__u64 sock_file;
	__s32 sock_fd;
	__u32 pad2;
	__u16 lport;
	__u16 rport;
	__u8 attributed;
	__u8 pad[3];
};

/* Entries go when their thread exits (tp_exit); memory is allocated per thread that makes SSL
 * calls, not for max_entries. */
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

/* Per library slot (the probe's cookie): the struct offsets that lead from an SSL object to
 * its socket's descriptor. Written by user space before the library's probes attach. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SOCKEYE_TLS_LIB_SLOTS);
	__type(key, __u32);
	__type(value, struct sockeye_tls_lib);
} tls_libs SEC(".maps");

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

/* sockeye_tls_probe_hits_total{library,probe}: a row per library slot */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, (SOCKEYE_TLS_LIB_SLOTS * SOCKEYE_TLS_PROBE_MAX));
	__type(key, __u32);
	__type(value, __u64);
} tls_hits SEC(".maps");

/* sockeye_tls_attributions_total{library,method}: a row per library slot */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, (SOCKEYE_TLS_LIB_SLOTS * SOCKEYE_TLS_ATTR_MAX));
	__type(key, __u32);
	__type(value, __u64);
} tls_attr SEC(".maps");

/* Execs: rare, so each one wakes the reader. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} tls_events SEC(".maps");

/* Zeroed values to create entries from (never written; the stack is too small for them). */
static struct tls_call zero_call;
static struct tls_conn zero_conn;

/* Per-CPU counters are added atomically: uprobe programs are preemptible, so another one may
 * run on this CPU between a load and a store. */
static __always_inline void count(void *map, __u32 which)
{
	__u64 *v = bpf_map_lookup_elem(map, &which);

	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline void tls_stat_inc(__u32 which)
{
	count(&tls_stats, which);
}

/* A hit of a probe of kind probe, attached with cookie. */
static __always_inline void count_hit(__u64 cookie, __u32 probe)
{
	__u32 slot = (cookie >> SOCKEYE_TLS_COOKIE_SLOT_SHIFT) & 0xffff;

	if (slot < SOCKEYE_TLS_LIB_SLOTS)
		count(&tls_hits, slot * SOCKEYE_TLS_PROBE_MAX + probe);
}

/* A connection of the library of cookie learned its socket by method. */
static __always_inline void count_attr(__u64 cookie, __u32 method)
{
	__u32 slot = (cookie >> SOCKEYE_TLS_COOKIE_SLOT_SHIFT) & 0xffff;

	if (slot < SOCKEYE_TLS_LIB_SLOTS)
		count(&tls_attr, slot * SOCKEYE_TLS_ATTR_MAX + method);
}

DEFINE_SCAN_CB(scan_cb_user, 1)

/* ---- from a descriptor to its TCP socket ------------------------------------------------- */

/* The TCP socket behind an open file: its inode number (the socket's identity: inode numbers
 * of sockets are not reused while the agent runs, unlike struct sock addresses) and ports.
 * Returns the struct sock *, 0 when the file is not a TCP socket. */
static __always_inline __u64 file_tcp(struct file *file, struct snap_sock *out)
{
	struct inode *inode;
	struct socket *sock;
	struct sock *sk;
	__u16 family;

	if (!file)
		return 0;
	inode = BPF_CORE_READ(file, f_inode);
	if (!inode || (BPF_CORE_READ(inode, i_mode) & S_IFMT) != S_IFSOCK)
		return 0;
	sock = BPF_CORE_READ(file, private_data);
	sk = BPF_CORE_READ(sock, sk);
	if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	out->sk = (__u64)sk;
	out->ino = BPF_CORE_READ(inode, i_ino);
	out->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	out->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	return out->sk;
}

/* The open file of the current process's descriptor fd, 0 if none. */
static __always_inline __u64 fd_file(__s32 fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **files;
	struct file *file = NULL;

	if (fd < 0 || (__u32)fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	files = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &files[fd]))
		return 0;
	return (__u64)file;
}

/* The sequence number after the last byte the process wrote to (write) or read from the
 * socket: what a call's socket I/O moves. */
static __always_inline __u32 tcp_app_seq(__u64 sk, int write)
{
	if (write)
		return BPF_CORE_READ((struct tcp_sock *)sk, write_seq);
	return BPF_CORE_READ((struct tcp_sock *)sk, copied_seq);
}

/* ---- the call's BIO ---------------------------------------------------------------------- */

/* Whether the SSL object's read BIO is the library's socket BIO, and its descriptor. The socket
 * method's address is found at run time: the library's GOT entry of BIO_s_socket (the cookie
 * gives its distance from the probed instruction) holds that function's address in the
 * libcrypto the process uses, and the method is at a fixed distance from it in that build. A
 * process using another libcrypto build, or a BIO of any other method, fails the check. */
static __always_inline void find_bio(__u64 ip, struct tls_call *c, __u64 cookie)
{
	__u32 slot = (cookie >> SOCKEYE_TLS_COOKIE_SLOT_SHIFT) & 0xffff;
	__s64 got = (__s32)(cookie >> SOCKEYE_TLS_COOKIE_GOT_SHIFT);
	struct sockeye_tls_lib *lib = bpf_map_lookup_elem(&tls_libs, &slot);
	__u64 fn = 0, rbio = 0, method = 0;
	__s32 fd = -1;

	c->bio = BIO_OTHER;
	c->rbio = 0;
	if (!lib || !(lib->flags & SOCKEYE_TLS_LIB_RBIO) ||
	    bpf_probe_read_user(&rbio, sizeof(rbio), (void *)(c->ssl + lib->ssl_rbio)))
		return;
	c->rbio = rbio;
	if (!(lib->flags & SOCKEYE_TLS_LIB_FD) || !got || !rbio ||
	    bpf_probe_read_user(&fn, sizeof(fn), (void *)(ip + got)) || !fn ||
	    bpf_probe_read_user(&method, sizeof(method), (void *)(rbio + lib->bio_method)) ||
	    method != fn + lib->sock_method ||
	    bpf_probe_read_user(&fd, sizeof(fd), (void *)(rbio + lib->bio_num)))
		return;
	c->bio = BIO_SOCKET;
	c->fd = fd;
}

/* The scan's context, on the stack: a pointer only (the state is in the map value). */
struct snap_ctx {
	struct tls_call *c;
};

/* One descriptor of the I/O scan: a TCP socket is remembered with its sequence. */
static long snap_cb(__u32 fd, void *arg)
{
	struct tls_call *c = ((struct snap_ctx *)arg)->c;
	struct snap_sock s = {};
	struct file *file = NULL;
	__u8 n;

	if (fd >= c->scan_max)
		return 1;
	if ((fd & 63) == 0 &&
	    bpf_probe_read_kernel(&c->scan_word, sizeof(c->scan_word),
				  (void *)(c->scan_bits + (fd >> 6) * sizeof(__u64))))
		return 1;
	if (!(c->scan_word & (1ULL << (fd & 63))))
		return 0;
	if (bpf_probe_read_kernel(&file, sizeof(file),
				  (void *)(c->scan_files + (__u64)fd * sizeof(file))) ||
	    !file_tcp(file, &s))
		return 0;
	n = c->n_snap;
	if (n >= SNAP_SOCKS) {
		c->snap_over = 1;
		return 1;
	}
	s.seq = tcp_app_seq(s.sk, c->cookie & SOCKEYE_TLS_COOKIE_WRITE);
	c->snap[n & (SNAP_SOCKS - 1)] = s;
	c->n_snap = n + 1;
	return 0;
}

/* At the entry of a call whose BIO is not a socket BIO, on a connection that has no socket
 * yet: every TCP socket of the process and its sequence in the call's direction. */
static __always_inline void snapshot(struct tls_call *c)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct snap_ctx sctx = {.c = c};
	__u32 max = BPF_CORE_READ(fdt, max_fds);

	c->snap_over = max > SNAP_FDS;
	c->scan_max = max > SNAP_FDS ? SNAP_FDS : max;
	c->scan_files = (__u64)BPF_CORE_READ(fdt, fd);
	c->scan_bits = (__u64)BPF_CORE_READ(fdt, open_fds);
	c->scan_word = 0;
	bpf_loop(SNAP_FDS, snap_cb, &sctx, 0);
}

/* At the return of a call that moved n plaintext bytes through a BIO that is not a socket BIO:
 * the call's socket is the one TCP socket whose sequence in the call's direction advanced, by
 * more than n (a record adds a header and a tag) and not by much more. A socket that advanced
 * otherwise (another thread's I/O, OpenSSL reading ahead), a second one, or more sockets than
 * were remembered leave the call unattributed: a later call tries again. */
static __always_inline void snapshot_match(struct tls_call *c, __u64 n)
{
	__u64 most = n + n / 2 + 256; /* record overhead: header, nonce, tag, padding */
	int write = c->cookie & SOCKEYE_TLS_COOKIE_WRITE;
	int found = -1;

	if (c->snap_over)
		return;
	for (int i = 0; i < SNAP_SOCKS; i++) {
		struct snap_sock *s = &c->snap[i];
		__u32 d;

		if (i >= c->n_snap)
			break;
		d = tcp_app_seq(s->sk, write) - s->seq;
		if (d == 0)
			continue;
		if (found >= 0 || d <= n || d > most)
			return;
		found = i;
	}
	if (found < 0)
		return;
	c->sk = c->snap[found & (SNAP_SOCKS - 1)].ino;
	c->lport = c->snap[found & (SNAP_SOCKS - 1)].lport;
	c->rport = c->snap[found & (SNAP_SOCKS - 1)].rport;
}

/* ---- probes ------------------------------------------------------------------------------ */

/* Entry of SSL_read/SSL_write/_ex, or of OpenSSL's internal read/write functions. */
SEC("uprobe")
int uprobe_ssl_rw(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid(), sp = PT_REGS_SP(ctx);
	__u64 cookie = bpf_get_attach_cookie(ctx);
	struct sockeye_tls_conn_key key = {};
	struct tls_conn *conn;
	struct tls_call *c;

	count_hit(cookie, cookie & SOCKEYE_TLS_COOKIE_WRITE ? SOCKEYE_TLS_PROBE_WRITE
							    : SOCKEYE_TLS_PROBE_READ);
	c = bpf_map_lookup_elem(&tls_calls, &id);
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
	c->cookie = cookie & 0xff;
	c->ip = PT_REGS_IP(ctx);
	c->full_cookie = cookie;
	c->n_snap = 0;
	c->bio = BIO_UNKNOWN;
	c->reset = 0;
	c->active = 1;
	/* The BIO is looked at on return, when the call brought plaintext (not for WANT_READ),
	 * except on a connection without a socket yet: a BIO that is not a socket BIO needs the
	 * I/O scan to start before the call's I/O. */
	key.tgid = id >> 32;
	key.ssl = c->ssl;
	conn = bpf_map_lookup_elem(&tls_conns, &key);
	if (conn && conn->rbio) {
		/* Attributed by the I/O scan: valid while the SSL object keeps its BIO. A new
		 * BIO (SSL_clear and SSL_set_bio: a new connection in the object) starts over. */
		find_bio(c->ip, c, cookie);
		if (c->rbio == conn->rbio)
			return 0;
		c->reset = 1;
	} else if (conn && (conn->attributed || conn->st.kind == KIND_IGNORE)) {
		return 0;
	} else {
		find_bio(c->ip, c, cookie);
	}
	if (c->bio != BIO_SOCKET)
		snapshot(c);
	return 0;
}

/* The connection's ports, once known: the server port, then the filters, then its in-flight
 * group. A connection whose first request was read before its socket was known (a BIO that is
 * not a socket BIO: it is attributed by a write) learns its port later: requests already
 * waiting are counted as started now, so that their ends balance. */
static __always_inline void conn_set_port(struct tls_conn *conn)
{
	struct http_conn *st = &conn->st;
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
__noinline int tls_conn_end(struct http_conn *st)
{
	if (!st || (st->kind != KIND_SERVER && st->kind != KIND_CLIENT) || !st->server_port)
		return 0;
	fifo_abandon(st);
	if (st->cur_valid && st->resp.state == HP_BODY_CLOSE)
		record_sizes(bpf_get_current_cgroup_id(), st, st->resp.body_size);
	return 0;
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

/* Whether the connection's socket BIO still leads to the socket of its last lookup: the same
 * BIO with the same descriptor, which is the same open file of the same socket (an inode
 * number: a file freed and allocated again at the same address for another socket differs).
 * Half the reads of a full lookup, and no method check: only a BIO once found to be the
 * socket BIO qualifies. */
static __always_inline int socket_unchanged(struct tls_call *c, struct tls_conn *conn)
{
	__u32 slot = (c->full_cookie >> SOCKEYE_TLS_COOKIE_SLOT_SHIFT) & 0xffff;
	struct sockeye_tls_lib *lib = bpf_map_lookup_elem(&tls_libs, &slot);
	__u64 rbio = 0, file;
	__s32 fd = -1;

	if (!lib || !(lib->flags & SOCKEYE_TLS_LIB_FD) ||
	    bpf_probe_read_user(&rbio, sizeof(rbio), (void *)(c->ssl + lib->ssl_rbio)) ||
	    rbio != conn->sock_rbio ||
	    bpf_probe_read_user(&fd, sizeof(fd), (void *)(rbio + lib->bio_num)) ||
	    fd != conn->sock_fd)
		return 0;
	file = fd_file(fd);
	return file && file == conn->sock_file &&
	       BPF_CORE_READ((struct file *)file, f_inode, i_ino) == conn->sk;
}

/* The socket of a call that brought n bytes of plaintext: through its socket BIO (the last
 * lookup's, if it still holds), or the I/O scan. c->sk stays 0 when not found. A global
 * function: verified once, on its own, not once per path of the scan around it. */
__noinline int tls_call_socket(struct tls_call *c, struct tls_conn *conn, __u64 n)
{
	struct snap_sock s = {};

	if (!c || !conn)
		return 0;
	c->file = 0;
	if (c->bio == BIO_UNKNOWN && conn->sock_file && socket_unchanged(c, conn)) {
		c->bio = BIO_SOCKET;
		c->sk = conn->sk;
		c->lport = conn->lport;
		c->rport = conn->rport;
		return 0;
	}
	if (c->bio == BIO_UNKNOWN)
		find_bio(c->ip, c, c->full_cookie);
	if (c->bio == BIO_SOCKET) {
		c->file = fd_file(c->fd);
		if (file_tcp((struct file *)c->file, &s)) {
			c->sk = s.ino;
			c->lport = s.lport;
			c->rport = s.rport;
		} else {
			c->file = 0;
		}
	} else if (c->n_snap) {
		snapshot_match(c, n);
	}
	return 0;
}

/* n bytes of plaintext at c->buf went through the connection in direction write. */
static __always_inline void on_plaintext(struct tls_call *c, __u64 id, __u64 n, int write)
{
	struct sockeye_tls_conn_key key = {};
	struct tls_conn *conn;
	struct http_conn *st;
	struct scan_ctx ctx = {};
	int req_dir;

	key.tgid = id >> 32;
	key.ssl = c->ssl;
	conn = conn_get(&key);
	if (!conn)
		return;
	tls_call_socket(c, conn, n);
	if (c->reset || (c->sk && conn->sk && conn->sk != c->sk)) {
		/* The SSL object now talks on another socket (socket inode numbers are not
		 * reused), or through another BIO: a new connection in a reused object
		 * (SSL_clear, or an SSL_free we did not see). Start afresh. */
		tls_stat_inc(SOCKEYE_TLS_STAT_SOCKET_CHANGED);
		tls_conn_end(&conn->st);
		bpf_map_update_elem(&tls_conns, &key, &zero_conn, BPF_EXIST);
		conn = bpf_map_lookup_elem(&tls_conns, &key);
		if (!conn)
			return;
	}
	if (c->sk && conn->sk != c->sk) {
		conn->sk = c->sk;
		conn->lport = c->lport;
		conn->rport = c->rport;
		conn->attributed = 1;
		conn->rbio = c->bio == BIO_SOCKET ? 0 : c->rbio;
		count_attr(c->full_cookie, c->bio == BIO_SOCKET ? SOCKEYE_TLS_ATTR_SOCKET_BIO
								: SOCKEYE_TLS_ATTR_IO_SCAN);
		conn_set_port(conn);
	}
	if (c->file) {
		conn->sock_rbio = c->rbio;
		conn->sock_fd = c->fd;
		conn->sock_file = c->file;
	}
	st = &conn->st;
	if (st->kind == KIND_UNKNOWN)
		conn_set_kind(conn, (const char *)c->buf, write);
	if (st->kind != KIND_SERVER && st->kind != KIND_CLIENT)
		return;
	req_dir = (st->kind == KIND_SERVER) != write;
	if (!conn->attributed && !req_dir) {
		/* A response on a connection whose socket is not known yet: not a socket BIO,
		 * and no write of the connection did I/O on a TCP socket (a memory BIO). Not
		 * counted under wrong labels. */
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
	__u64 id = bpf_get_current_pid_tgid(), n = 0;
	struct tls_call *c = bpf_map_lookup_elem(&tls_calls, &id);
	long ret = PT_REGS_RC(ctx);
	__u64 cookie = bpf_get_attach_cookie(ctx);

	count_hit(cookie, cookie & SOCKEYE_TLS_COOKIE_WRITE ? SOCKEYE_TLS_PROBE_WRITE_RETURN
							    : SOCKEYE_TLS_PROBE_READ_RETURN);
	/* The return of a nested call we did not follow leaves sp below the entry's. */
	if (!c || !c->active || PT_REGS_SP(ctx) != c->sp + 8)
		return 0;
	c->active = 0;
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

	count_hit(bpf_get_attach_cookie(ctx), SOCKEYE_TLS_PROBE_FREE);
	key.tgid = bpf_get_current_pid_tgid() >> 32;
	key.ssl = PT_REGS_PARM1(ctx);
	conn = bpf_map_lookup_elem(&tls_conns, &key);
	if (!conn)
		return 0;
	tls_conn_end(&conn->st);
	if (bpf_map_delete_elem(&tls_conns, &key))
		return 0;
	n = bpf_map_lookup_elem(&tls_procs, &key.tgid);
	if (n)
		__sync_fetch_and_add(n, -1);
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
		tls_conn_end(&conn->st);
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
	__u64 id = bpf_get_current_pid_tgid();

	bpf_map_delete_elem(&tls_calls, &id);
	if (BPF_CORE_READ(p, signal, live.counter) == 0)
		proc_forget(id >> 32);
	return 0;
}
