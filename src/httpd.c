// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* httpd.c - the metrics endpoint on libmicrohttpd: listeners, routes, negotiation, TLS, auth. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <microhttpd.h>

#include "buf.h"
#include "httpd.h"
#include "log.h"
#include "render.h"
#include "webconfig.h"

/* Handlers return enum MHD_Result since 0.9.71 and int before, as in collectd. */
#if MHD_VERSION >= 0x00097002
#define MHD_RESULT enum MHD_Result
#else
#define MHD_RESULT int
#endif

#ifndef SOCKEYE_VERSION
#define SOCKEYE_VERSION "unknown"
#endif

/* One thread per connection (see start_daemon), so this bounds threads per listen address.
 * libmicrohttpd closes a connection beyond it at once, so it is sized for a flood of scrapers
 * (tests/integration/test_hostile_scrapers.py runs 1,000 at once beside a good one): an idle
 * thread costs a few pages, and scrapes in flight share one body (struct scrape_flight). */
#define HTTPD_MAX_CONNECTIONS 1024
/* Idle keep-alive connections are closed after this, so they cannot pin threads forever. */
#define HTTPD_IDLE_TIMEOUT_S 30
/* A reload or stop waits this long for busy connections before closing them. */
#define HTTPD_DRAIN_MS 2000
/* libmicrohttpd messages are mostly per connection (handshake failures, resets): at most this many
 * per second, so a port scan cannot flood the log. */
#define HTTPD_LOG_PER_SEC 5

/* A request's state, kept in libmicrohttpd's per-request pointer (NULL before the first call). */
enum req_state {
	REQ_STARTED = 1,
	REQ_ANSWERED,
};

#define CONTENT_TYPE_PLAIN "text/plain; charset=utf-8"
#define CONTENT_TYPE_HTML  "text/html; charset=utf-8"

struct httpd_listener {
	char *addr;  /* as given, e.g. ":9810" */
	char *bound; /* as bound, e.g. "[::]:9810" */
	int fd;	     /* owned by struct httpd, lent to each generation's daemon */
};

/* The daemons serving one web config. A reload starts a new generation on the same sockets and
 * then stops the old one. */
struct httpd_gen {
	struct httpd *h;
	struct webconfig *wc;  /* NULL: plain HTTP, no users, no headers */
	struct MHD_Daemon **d; /* one per listener */
	atomic_int busy;       /* connections with a handshake or a request in progress */
};

/* Per connection (libmicrohttpd's socket context). A connection is busy from its accept (TLS
 * handshake, first request) until its request completes, and again from each later request's
 * headers. A reload waits for busy connections; idle keep-alive ones are simply closed, which
 * clients handle by reconnecting. */
struct httpd_conn {
	bool busy;
};

/* A rendered scrape, shared by the requests that asked for the same format and encoding while it
 * was being made; libmicrohttpd drops each request's reference through body_release. */
struct scrape_body {
	atomic_int refs;
	int err; /* 0, or why the scrape failed (served as 500) */
	size_t len;
	char *data;
};

/*
 * Concurrent scrapes of the same format and encoding share one collect and render: a request
 * arriving while one is being made waits for it and serves the same bytes, so a thousand
 * scrapers at once cost one scrape's CPU and one body's memory. The body a waiter gets was
 * started before it arrived, but after every earlier flight finished, so a scraper never sees a
 * counter go back. result holds the last flight's body until its waiters took it.
 */
struct scrape_flight {
	pthread_mutex_t lock;
	pthread_cond_t done;
	bool running;
	uint64_t started, finished; /* flights */
	struct scrape_body *result; /* of flight `finished`, while waiters > 0 */
	unsigned int waiters;
};

struct httpd {
	struct httpd_listener *l;
	size_t n_l;
	char *telemetry_path;
	char *web_config_file;
	char *landing;
	httpd_scrape_fn scrape;
	httpd_ready_fn ready;
	void *arg;
	struct httpd_gen *gen;

	pthread_mutex_t log_lock; /* guards the rate limit of libmicrohttpd's messages */
	time_t log_sec;
	unsigned int log_count, log_dropped;

	struct scrape_flight flights[2][2]; /* [OpenMetrics][gzip] */
};

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct httpd *h = cls;
	struct timespec now;
	unsigned int dropped = 0;
	char msg[512];
	bool emit;

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&h->log_lock);
	if (now.tv_sec != h->log_sec) {
		dropped = h->log_dropped;
		h->log_sec = now.tv_sec;
		h->log_count = 0;
		h->log_dropped = 0;
	}
	emit = h->log_count < HTTPD_LOG_PER_SEC;
	if (emit)
		h->log_count++;
	else
		h->log_dropped++;
	pthread_mutex_unlock(&h->log_lock);
	if (dropped)
		pr_warn("libmicrohttpd: %u messages suppressed", dropped);
	if (!emit)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	pr_warn("libmicrohttpd: %s", msg);
}

/* Splits "host:port", ":port" or "[v6]:port" (host "" = every address). Returns NULL or why not. */
static const char *split_host_port(const char *addr, char *host, size_t hostlen, char *port,
				   size_t portlen)
{
	const char *h = addr, *colon, *p;
	size_t hl;
	unsigned long v;

	if (addr[0] == '[') {
		const char *end = strchr(addr, ']');

		if (!end)
			return "missing ']'";
		h = addr + 1;
		hl = (size_t)(end - h);
		colon = end + 1;
		if (*colon != ':')
			return "missing port after ']'";
	} else {
		colon = strrchr(addr, ':');
		if (!colon)
			return "missing port (want host:port, :port or [ipv6]:port)";
		hl = (size_t)(colon - addr);
		if (memchr(addr, ':', hl))
			return "IPv6 addresses need brackets, e.g. [::1]:9810";
	}
	p = colon + 1;
	if (!*p || strlen(p) > 5 || strspn(p, "0123456789") != strlen(p))
		return "port must be a number";
	v = strtoul(p, NULL, 10);
	if (v > 65535)
		return "port must be at most 65535";
	if (hl >= hostlen || strlen(p) >= portlen)
		return "host name too long";
	memcpy(host, h, hl);
	host[hl] = '\0';
	snprintf(port, portlen, "%lu", v);
	return NULL;
}

/* Returns a listening socket bound to sa, or a negative errno. Non-blocking because during a
 * reload two daemons accept from it: the one that loses a race must get EAGAIN, not block. */
static int bind_listen(const struct sockaddr *sa, socklen_t len)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
	int one = 1, zero = 0, fd, err;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		goto fail;
	/* [::] serves IPv4 too (mapped addresses), whatever net.ipv6.bindv6only says. */
	if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr) &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)))
		goto fail;
	if (bind(fd, sa, len) || listen(fd, SOMAXCONN))
		goto fail;
	return fd;
fail:
	err = -errno;
	close(fd);
	return err;
}

/* Formats the socket's local address as "127.0.0.1:9810" or "[::]:9810". */
static char *bound_address(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[NI_MAXHOST], serv[NI_MAXSERV], out[NI_MAXHOST + NI_MAXSERV + 4];

	if (getsockname(fd, (struct sockaddr *)&ss, &len) ||
	    getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), serv, sizeof(serv),
			NI_NUMERICHOST | NI_NUMERICSERV))
		return strdup("?");
	snprintf(out, sizeof(out), ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, serv);
	return strdup(out);
}

/* Binds one listen address. ":port" is [::] (dual-stack), falling back to 0.0.0.0 when the host
 * has no IPv6; a host name binds the first of its addresses that exists here. */
static int open_listener(struct httpd_listener *l)
{
	struct addrinfo hints = {
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICSERV,
	};
	struct addrinfo *res = NULL, *ai;
	char host[256], port[8];
	const char *why;
	int fd, rc;

	why = split_host_port(l->addr, host, sizeof(host), port, sizeof(port));
	if (why) {
		pr_error("Invalid listen address=%s: %s", l->addr, why);
		return -EINVAL;
	}
	if (!host[0]) {
		struct sockaddr_in6 any6 = {
			.sin6_family = AF_INET6,
			.sin6_port = htons((uint16_t)atoi(port)),
			.sin6_addr = IN6ADDR_ANY_INIT,
		};
		struct sockaddr_in any4 = {
			.sin_family = AF_INET,
			.sin_port = htons((uint16_t)atoi(port)),
			.sin_addr.s_addr = htonl(INADDR_ANY),
		};

		fd = bind_listen((struct sockaddr *)&any6, sizeof(any6));
		if (fd == -EAFNOSUPPORT || fd == -EADDRNOTAVAIL)
			fd = bind_listen((struct sockaddr *)&any4, sizeof(any4));
	} else {
		rc = getaddrinfo(host, port, &hints, &res);
		if (rc) {
			pr_error("Cannot resolve listen address=%s: %s", l->addr,
				 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
			return rc == EAI_SYSTEM && errno ? -errno : -EADDRNOTAVAIL;
		}
		fd = -EADDRNOTAVAIL;
		for (ai = res; ai; ai = ai->ai_next) {
			fd = bind_listen(ai->ai_addr, ai->ai_addrlen);
			/* Only "no such family or address here" moves on to the next address. */
			if (fd >= 0 || (fd != -EAFNOSUPPORT && fd != -EADDRNOTAVAIL))
				break;
		}
		freeaddrinfo(res);
	}
	if (fd < 0) {
		pr_error("Cannot listen on address=%s: %s", l->addr, strerror(-fd));
		return fd;
	}
	l->fd = fd;
	l->bound = bound_address(fd);
	return l->bound ? 0 : -ENOMEM;
}

/* True when the parameters between p and end (";a=b;q=0") hold a q of zero. */
static bool q_is_zero(const char *p, const char *end)
{
	while (p < end && (p = memchr(p, ';', (size_t)(end - p)))) {
		p++;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (end - p < 2 || (*p != 'q' && *p != 'Q') || p[1] != '=')
			continue;
		p += 2;
		if (p >= end || *p != '0')
			return false;
		p++;
		if (p < end && *p == '.')
			for (p++; p < end && *p == '0'; p++)
				;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		return p == end || *p == ';';
	}
	return false;
}

/* True when the comma-separated header value v lists token (case-insensitively, ignoring
 * parameters), and not with q=0. */
static bool header_lists(const char *v, const char *token)
{
	size_t tl = strlen(token);

	while (*v) {
		const char *end = strchr(v, ','), *s = v, *e;

		if (!end)
			end = v + strlen(v);
		while (s < end && (*s == ' ' || *s == '\t'))
			s++;
		for (e = s; e < end && *e != ';' && *e != ' ' && *e != '\t';)
			e++;
		if ((size_t)(e - s) == tl && !strncasecmp(s, token, tl) && !q_is_zero(e, end))
			return true;
		v = *end ? end + 1 : end;
	}
	return false;
}

/* Compresses in into a gzip member (zlib's deflate with the gzip wrapper). */
static int gzip_compress(const char *in, size_t len, char **out, size_t *outlen)
{
	z_stream zs = {0};
	uLong bound;
	char *o;
	int rc;

	if (len > UINT32_MAX)
		return -E2BIG;
	/* windowBits 15 + 16: gzip header and trailer instead of zlib's. */
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return -ENOMEM;
	bound = deflateBound(&zs, (uLong)len);
	o = malloc(bound);
	if (!o) {
		deflateEnd(&zs);
		return -ENOMEM;
	}
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	zs.next_out = (Bytef *)o;
	zs.avail_out = (uInt)bound;
	/* The output has deflateBound() bytes, so one Z_FINISH always completes. */
	rc = deflate(&zs, Z_FINISH);
	deflateEnd(&zs);
	if (rc != Z_STREAM_END) {
		free(o);
		return -EIO;
	}
	*out = o;
	*outlen = zs.total_out;
	return 0;
}

static void html_escape(struct sockeye_buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&':
			buf_puts(b, "&amp;");
			break;
		case '<':
			buf_puts(b, "&lt;");
			break;
		case '>':
			buf_puts(b, "&gt;");
			break;
		case '"':
			buf_puts(b, "&quot;");
			break;
		case '\'':
			buf_puts(b, "&#39;");
			break;
		default:
			buf_append(b, s, 1);
		}
	}
}

static char *landing_page(const char *telemetry_path)
{
	struct sockeye_buf b;

	buf_init(&b);
	buf_puts(&b, "<!DOCTYPE html>\n"
		     "<html>\n"
		     "<head><meta charset=\"utf-8\"><title>sockeye</title></head>\n"
		     "<body>\n"
		     "<h1>sockeye</h1>\n"
		     "<p>Prometheus metrics of every HTTP service on this host, from eBPF. "
		     "Version " SOCKEYE_VERSION ".</p>\n"
		     "<ul>\n"
		     "<li><a href=\"");
	html_escape(&b, telemetry_path);
	buf_puts(&b, "\">Metrics</a></li>\n"
		     "<li><a href=\"/healthz\">Health</a> and "
		     "<a href=\"/readyz\">readiness</a></li>\n"
		     "</ul>\n"
		     "</body>\n"
		     "</html>\n");
	if (b.err) {
		buf_free(&b);
		return NULL;
	}
	return b.data;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decoding of the path and arguments, as libmicrohttpd's own, except that "%00" is left
 * as it is: a decoded NUL ends the C string, so "/metrics%00.png" would be served as "/metrics"
 * (a proxy rule about one path answered by another). node_exporter answers it 404 too. */
static size_t unescape_url(void *cls, struct MHD_Connection *conn, char *s)
{
	char *w = s;
	const char *r = s;

	(void)cls;
	(void)conn;
	while (*r) {
		int hi = r[0] == '%' ? hex_digit(r[1]) : -1, lo = hi >= 0 ? hex_digit(r[2]) : -1;

		if (lo >= 0 && (hi | lo)) {
			*w++ = (char)(hi << 4 | lo);
			r += 3;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

/* Adds the web config's headers, queues resp with status and releases it. */
static MHD_RESULT queue(struct MHD_Connection *conn, const struct httpd_gen *g, unsigned int status,
			struct MHD_Response *resp)
{
	MHD_RESULT ret;

	if (!resp)
		return MHD_NO;
	for (size_t i = 0; g->wc && i < g->wc->n_headers; i++)
		MHD_add_response_header(resp, g->wc->headers[i].name, g->wc->headers[i].value);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static struct MHD_Response *static_response(const char *body, const char *content_type)
{
	struct MHD_Response *r;

	r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
	if (r)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	return r;
}

static MHD_RESULT reply_text(struct MHD_Connection *conn, const struct httpd_gen *g,
			     unsigned int status, const char *body)
{
	return queue(conn, g, status, static_response(body, CONTENT_TYPE_PLAIN));
}

static void body_release(void *cls)
{
	struct scrape_body *b = cls;

	if (b && atomic_fetch_sub(&b->refs, 1) == 1) {
		free(b->data);
		free(b);
	}
}

/* Scrapes and encodes one body (refs 1). NULL only without memory for the struct itself. */
static struct scrape_body *make_body(const struct httpd *h, bool om, bool gz)
{
	struct scrape_body *body = calloc(1, sizeof(*body));
	struct sockeye_buf b;
	int err;

	if (!body)
		return NULL;
	atomic_init(&body->refs, 1);
	buf_init(&b);
	err = h->scrape(h->arg, om ? RENDER_OPENMETRICS : RENDER_TEXT_004, &b);
	if (!err)
		err = b.err;
	if (!err && gz) {
		err = gzip_compress(b.data ? b.data : "", b.len, &body->data, &body->len);
		buf_free(&b);
	} else if (!err) {
		body->data = b.data; /* ownership moves to the body */
		body->len = b.len;
	} else {
		buf_free(&b);
	}
	body->err = err;
	return body;
}

/* The body of the flight running when the request came, or of a new one it runs itself. */
static struct scrape_body *flight_body(struct httpd *h, bool om, bool gz)
{
	struct scrape_flight *f = &h->flights[om][gz];
	struct scrape_body *b;
	uint64_t mine;

	pthread_mutex_lock(&f->lock);
	if (f->running) {
		uint64_t want = f->started;

		f->waiters++;
		while (f->finished < want)
			pthread_cond_wait(&f->done, &f->lock);
		b = f->result;
		if (b)
			atomic_fetch_add(&b->refs, 1);
		if (--f->waiters == 0 && f->result) {
			body_release(f->result);
			f->result = NULL;
		}
		pthread_mutex_unlock(&f->lock);
		return b;
	}
	f->running = true;
	mine = ++f->started;
	pthread_mutex_unlock(&f->lock);

	b = make_body(h, om, gz);

	pthread_mutex_lock(&f->lock);
	if (f->result)
		body_release(f->result);
	f->result = NULL;
	if (f->waiters && b) {
		atomic_fetch_add(&b->refs, 1);
		f->result = b;
	}
	f->finished = mine;
	f->running = false;
	pthread_cond_broadcast(&f->done);
	pthread_mutex_unlock(&f->lock);
	return b;
}

static MHD_RESULT serve_metrics(struct MHD_Connection *conn, const struct httpd_gen *g)
{
	struct httpd *h = g->h;
	const char *accept =
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
	const char *enc =
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
	bool om = accept && header_lists(accept, "application/openmetrics-text");
	bool gz = enc && (header_lists(enc, "gzip") || header_lists(enc, "x-gzip"));
	struct MHD_Response *resp;
	struct scrape_body *b = flight_body(h, om, gz);
	char msg[128];

	if (!b)
		return MHD_NO;
	if (b->err) {
		pr_debug("Scrape failed: %s", strerror(-b->err));
		snprintf(msg, sizeof(msg), "scrape failed: %s\n", strerror(-b->err));
		body_release(b);
		return queue(
			conn, g, MHD_HTTP_INTERNAL_SERVER_ERROR,
			MHD_create_response_from_buffer(strlen(msg), msg, MHD_RESPMEM_MUST_COPY));
	}
	if (!b->len) {
		body_release(b);
		resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	} else {
#if MHD_VERSION >= 0x00097302
		/* The body stays shared: libmicrohttpd releases this request's reference. */
		resp = MHD_create_response_from_buffer_with_free_callback_cls(b->len, b->data,
									       body_release, b);
		if (!resp)
			body_release(b);
#else
		resp = MHD_create_response_from_buffer(b->len, b->data, MHD_RESPMEM_MUST_COPY);
		body_release(b);
#endif
	}
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				om ? RENDER_CONTENT_TYPE_OPENMETRICS : RENDER_CONTENT_TYPE_TEXT);
	/* The body depends on both request headers; caches must key on them. */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Accept, Accept-Encoding");
	if (gz)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
	return queue(conn, g, MHD_HTTP_OK, resp);
}

/* 1 when the request's user and password match, 0 when not, -EBUSY when too many password
 * checks are running or waiting already (webconfig_check_user). */
static int authorized(struct MHD_Connection *conn, struct webconfig *wc)
{
	char *pass = NULL, *user;
	int ok = 0;

	user = MHD_basic_auth_get_username_password(conn, &pass);
	if (user && pass)
		ok = webconfig_check_user(wc, user, pass);
	if (pass) {
		explicit_bzero(pass, strlen(pass));
		MHD_free(pass);
	}
	if (user)
		MHD_free(user);
	return ok;
}

static bool tls_peer_ok(struct MHD_Connection *conn, const struct webconfig *wc)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	return webconfig_tls_peer_ok(wc, ci ? ci->tls_session : NULL);
}

static struct httpd_conn *conn_state(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

static void conn_set_busy(struct httpd_gen *g, struct httpd_conn *c, bool busy)
{
	if (!c || c->busy == busy)
		return;
	c->busy = busy;
	atomic_fetch_add(&g->busy, busy ? 1 : -1);
}

static MHD_RESULT handle_request(void *cls, struct MHD_Connection *conn, const char *url,
				 const char *method, const char *version, const char *upload_data,
				 size_t *upload_data_size, void **req_cls)
{
	struct httpd_gen *g = cls;
	const struct httpd *h = g->h;
	struct MHD_Response *resp;

	(void)version;
	(void)upload_data;
	/* libmicrohttpd calls this first with the headers, then per piece of body, then once more
	 * with none. GET and HEAD are answered on that last call: a response queued earlier makes
	 * it close the connection, and keep-alive matters for TLS scrapes. Other methods are
	 * answered at once, their body unread, and that connection is closed. */
	if (*req_cls == NULL) {
		*req_cls = (void *)(uintptr_t)REQ_STARTED;
		conn_set_busy(g, conn_state(conn), true);
		if (!strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD))
			return MHD_YES;
	} else if (*upload_data_size || *req_cls == (void *)(uintptr_t)REQ_ANSWERED) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	*req_cls = (void *)(uintptr_t)REQ_ANSWERED;

	/* Normally the handshake already refused such a client (webconfig_tls_session_init); this
	 * holds even if setting that up failed. */
	if (g->wc && g->wc->tls && !tls_peer_ok(conn, g->wc))
		return reply_text(conn, g, MHD_HTTP_FORBIDDEN, "client certificate required\n");
	if (g->wc && g->wc->n_users) {
		int ok = authorized(conn, g->wc);

		if (ok == -EBUSY) {
			/* Passwords not checked before wait for bcrypt, one at a time; when too many
			 * already wait (a guessing attack), say so at once instead of queueing. */
			resp = static_response("Too Many Requests: password checks are busy\n",
					       CONTENT_TYPE_PLAIN);
			if (resp)
				MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
			return queue(conn, g, MHD_HTTP_TOO_MANY_REQUESTS, resp);
		}
		if (ok != 1) {
			resp = static_response("Unauthorized\n", CONTENT_TYPE_PLAIN);
			if (resp)
				MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
							"Basic realm=\"sockeye\"");
			return queue(conn, g, MHD_HTTP_UNAUTHORIZED, resp);
		}
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD)) {
		resp = static_response("Method Not Allowed\n", CONTENT_TYPE_PLAIN);
		if (resp)
			MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
		return queue(conn, g, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
	}
	/* HEAD: libmicrohttpd sends the headers of the GET answer, without its body. */
	if (!strcmp(url, h->telemetry_path))
		return serve_metrics(conn, g);
	if (!strcmp(url, "/"))
		return queue(conn, g, MHD_HTTP_OK, static_response(h->landing, CONTENT_TYPE_HTML));
	if (!strcmp(url, "/healthz"))
		return reply_text(conn, g, MHD_HTTP_OK, "ok\n");
	if (!strcmp(url, "/readyz")) {
		if (!h->ready || h->ready(h->arg) == 1)
			return reply_text(conn, g, MHD_HTTP_OK, "ok\n");
		return reply_text(conn, g, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready\n");
	}
	return reply_text(conn, g, MHD_HTTP_NOT_FOUND, "Not Found\n");
}

static void request_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			      enum MHD_RequestTerminationCode toe)
{
	(void)toe;
	conn_set_busy(cls, conn_state(conn), false);
	*req_cls = NULL;
}

/* Tracks connections for draining; applies client_auth_type to each TLS session before its
 * handshake. */
static void connection_notify(void *cls, struct MHD_Connection *conn, void **socket_ctx,
			      enum MHD_ConnectionNotificationCode code)
{
	struct httpd_gen *g = cls;
	const union MHD_ConnectionInfo *ci;
	struct httpd_conn *c = *socket_ctx;

	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		conn_set_busy(g, c, false);
		free(c);
		*socket_ctx = NULL;
		return;
	}
	if (code != MHD_CONNECTION_NOTIFY_STARTED)
		return;
	/* Without memory the connection is just not waited for on reload. */
	c = calloc(1, sizeof(*c));
	*socket_ctx = c;
	conn_set_busy(g, c, true);
	if (!g->wc || !g->wc->tls)
		return;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	/* On failure the handler's tls_peer_ok() check answers 403 instead. */
	if (ci && ci->tls_session)
		webconfig_tls_session_init(g->wc, ci->tls_session);
}

/*
 * Thread per connection: a scrape can block for a while in collect (map reads, name lookups) and
 * bcrypt takes tens of milliseconds by design; with a thread each, /healthz and other scrapers
 * never wait behind them. Scrapers are few, and HTTPD_MAX_CONNECTIONS bounds the threads. poll()
 * rather than select(): the agent holds many BPF fds, so ours may exceed FD_SETSIZE. MHD_USE_ITC
 * is what MHD_quiesce_daemon() needs to hand the listening socket back on reload.
 */
static struct MHD_Daemon *start_daemon(struct httpd_gen *g, int fd)
{
	unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD |
			     MHD_USE_ITC | MHD_USE_ERROR_LOG;
	const struct webconfig *wc = g->wc;
	struct MHD_OptionItem ops[13];
	size_t n = 0;

	/* First, so that libmicrohttpd's messages about the options below come here too. */
	ops[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, g->h};
	ops[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, fd, NULL};
	ops[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)request_completed,
					   g};
	ops[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION,
					   (intptr_t)connection_notify, g};
	ops[n++] =
		(struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, HTTPD_MAX_CONNECTIONS, NULL};
	ops[n++] =
		(struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, HTTPD_IDLE_TIMEOUT_S, NULL};
	ops[n++] = (struct MHD_OptionItem){MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)unescape_url,
					   NULL};
	if (wc && wc->tls) {
		flags |= MHD_USE_TLS;
		ops[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, wc->cert_pem};
		ops[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, wc->key_pem};
		ops[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
						   (void *)wc->priorities};
		if (wc->ca_pem)
			ops[n++] =
				(struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, wc->ca_pem};
	}
	ops[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
	return MHD_start_daemon(flags, 0, NULL, NULL, handle_request, g, MHD_OPTION_ARRAY, ops,
				MHD_OPTION_END);
}

/* Stops g's daemons and frees g, leaving the listening sockets open: each daemon is quiesced
 * first, which hands its socket back. With drain, waits (bounded) for busy connections. */
static void gen_stop(struct httpd_gen *g, bool drain)
{
	struct timespec tick = {.tv_nsec = 10 * 1000 * 1000};
	size_t i;

	if (!g)
		return;
	for (i = 0; g->d && i < g->h->n_l; i++)
		if (g->d[i])
			MHD_quiesce_daemon(g->d[i]);
	/* A connection accepted just before the quiesce may still be being set up (and not yet
	 * counted): wait until two checks in a row find none busy. */
	for (int waited = 0, idle = 0; drain && idle < 2 && waited < HTTPD_DRAIN_MS; waited += 10) {
		nanosleep(&tick, NULL);
		idle = atomic_load(&g->busy) ? 0 : idle + 1;
	}
	for (i = 0; g->d && i < g->h->n_l; i++)
		if (g->d[i])
			MHD_stop_daemon(g->d[i]);
	free(g->d);
	webconfig_free(g->wc);
	free(g);
}

/* Starts a daemon per listening socket serving wc (owned by the generation from here on, also on
 * failure). Returns NULL with errno set after logging why. */
static struct httpd_gen *gen_start(struct httpd *h, struct webconfig *wc)
{
	struct httpd_gen *g;

	g = calloc(1, sizeof(*g));
	if (g)
		g->d = calloc(h->n_l, sizeof(*g->d));
	if (!g || !g->d) {
		free(g);
		webconfig_free(wc);
		pr_error("Cannot start the HTTP server: %s", strerror(ENOMEM));
		errno = ENOMEM;
		return NULL;
	}
	g->h = h;
	g->wc = wc;
	atomic_init(&g->busy, 0);
	for (size_t i = 0; i < h->n_l; i++) {
		g->d[i] = start_daemon(g, h->l[i].fd);
		if (!g->d[i]) {
			pr_error("Cannot start the HTTP server on address=%s%s", h->l[i].bound,
				 wc && wc->tls ? " (TLS setup failed)" : "");
			gen_stop(g, false);
			errno = EIO;
			return NULL;
		}
	}
	return g;
}

static void log_config(const struct httpd *h, const char *what)
{
	const struct webconfig *wc = h->gen->wc;

	if (!wc || !wc->tls)
		pr_info("%s: TLS is disabled, basic_auth_users=%zu", what, wc ? wc->n_users : 0);
	else
		pr_info("%s: TLS is enabled, client_auth_type=%s basic_auth_users=%zu", what,
			webconfig_client_auth_name(wc->client_auth), wc->n_users);
}

struct httpd *httpd_start(const struct httpd_options *opts)
{
	struct webconfig *wc = NULL;
	struct httpd *h = NULL;
	char why[512];
	int err = 0;

	if (!opts || !opts->scrape || !opts->listen || !opts->n_listen) {
		pr_error("Cannot start the HTTP server: no listen address or scrape function");
		err = -EINVAL;
		goto fail;
	}
	if (!opts->telemetry_path || opts->telemetry_path[0] != '/') {
		pr_error("Invalid telemetry path \"%s\": must start with '/'",
			 opts->telemetry_path ? opts->telemetry_path : "");
		err = -EINVAL;
		goto fail;
	}
	if (opts->web_config_file) {
		err = webconfig_load(opts->web_config_file, &wc, why, sizeof(why));
		if (err) {
			pr_error("Invalid web config file: %s", why);
			goto fail;
		}
	}

	h = calloc(1, sizeof(*h));
	if (!h) {
		err = -ENOMEM;
		goto fail;
	}
	pthread_mutex_init(&h->log_lock, NULL);
	for (int i = 0; i < 2; i++) {
		for (int k = 0; k < 2; k++) {
			pthread_mutex_init(&h->flights[i][k].lock, NULL);
			pthread_cond_init(&h->flights[i][k].done, NULL);
		}
	}
	h->scrape = opts->scrape;
	h->ready = opts->ready;
	h->arg = opts->arg;
	h->telemetry_path = strdup(opts->telemetry_path);
	h->web_config_file = opts->web_config_file ? strdup(opts->web_config_file) : NULL;
	h->landing = landing_page(opts->telemetry_path);
	h->l = calloc(opts->n_listen, sizeof(*h->l));
	if (!h->telemetry_path || (opts->web_config_file && !h->web_config_file) || !h->landing ||
	    !h->l) {
		err = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < opts->n_listen; i++) {
		h->l[i].fd = -1;
		h->l[i].addr = strdup(opts->listen[i] ? opts->listen[i] : "");
		h->n_l++;
		if (!h->l[i].addr) {
			err = -ENOMEM;
			goto fail;
		}
		err = open_listener(&h->l[i]);
		if (err)
			goto fail;
		pr_info("Listening on address=%s", h->l[i].bound);
	}

	h->gen = gen_start(h, wc);
	wc = NULL;
	if (!h->gen) {
		err = -errno;
		goto fail;
	}
	log_config(h, "Metrics endpoint started");
	return h;

fail:
	if (err == -ENOMEM)
		pr_error("Cannot start the HTTP server: %s", strerror(ENOMEM));
	webconfig_free(wc);
	httpd_stop(h);
	errno = -err;
	return NULL;
}

int httpd_reload(struct httpd *h)
{
	struct webconfig *wc = NULL;
	struct httpd_gen *g, *old;
	char why[512];
	int err;

	if (!h)
		return -EINVAL;
	if (!h->web_config_file) {
		pr_info("No web config file to reload");
		return 0;
	}
	err = webconfig_load(h->web_config_file, &wc, why, sizeof(why));
	if (err) {
		pr_error("Invalid web config file, keeping the previous one: %s", why);
		return err;
	}
	webconfig_keep_cache(wc, h->gen->wc);
	/* The new daemons share the sockets with the old ones until those are quiesced: no
	 * connection is refused, and if a new one fails to start the old ones carry on. */
	g = gen_start(h, wc);
	if (!g) {
		err = -errno;
		pr_error("Reloading the web config failed, keeping the previous one");
		return err;
	}
	old = h->gen;
	h->gen = g;
	gen_stop(old, true);
	log_config(h, "Reloaded web config");
	return 0;
}

void httpd_stop(struct httpd *h)
{
	if (!h)
		return;
	gen_stop(h->gen, true);
	for (size_t i = 0; i < h->n_l; i++) {
		if (h->l[i].fd >= 0)
			close(h->l[i].fd);
		free(h->l[i].addr);
		free(h->l[i].bound);
	}
	free(h->l);
	free(h->telemetry_path);
	free(h->web_config_file);
	free(h->landing);
	pthread_mutex_destroy(&h->log_lock);
	for (int i = 0; i < 2; i++) {
		for (int k = 0; k < 2; k++) {
			body_release(h->flights[i][k].result);
			pthread_mutex_destroy(&h->flights[i][k].lock);
			pthread_cond_destroy(&h->flights[i][k].done);
		}
	}
	free(h);
}
