// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* vmhttp.c - static HTTP/1.1 server, fixed-scenario client and scraper for the kernel matrix
 * (busybox has no keep-alive client). Built with gcc -static; runs inside the test VMs.
 *
 *   vmhttp server PORT                 serve on 127.0.0.1:PORT until killed (fork per connection)
 *   vmhttp client PORT                 run the scenario below against 127.0.0.1:PORT
 *   vmhttp get PORT PATH               GET http://127.0.0.1:PORT/PATH, print the body; exit 0 on 200
 *   vmhttp wait PORT PATH SECONDS      repeat get (quietly) until it answers 200 or time is up
 *   vmhttp expect                      print the counts the scenario must produce (for the host)
 *
 * The server answers 404 for paths starting with /missing, 200 otherwise; bodies have fixed
 * sizes, so response body sums are known too. Keep-alive is HTTP/1.1's default; a request
 * with "Connection: close" gets its response and then the close.
 */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BODY_OK "hello, sockeye\n"	/* 15 bytes */
#define BODY_MISSING "not found\n"	/* 10 bytes */
#define POST_SIZE 1000

/* The scenario. Also update expect() when changing it. */
#define N_KEEPALIVE 5	/* GET /hello, one keep-alive connection */
#define N_CLOSE 3	/* GET /hello, each on its own connection, Connection: close */
#define N_MISSING 2	/* GET /missing/page -> 404, one keep-alive connection */
#define N_POST 1	/* POST /upload, POST_SIZE bytes of body, own connection */

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "vmhttp: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

/* A connection with a read buffer: requests and responses may arrive in any split. */
struct conn {
	int fd;
	size_t len;
	char buf[65536];
};

static int fill(struct conn *c)
{
	ssize_t n;

	if (c->len == sizeof(c->buf))
		return -ENOBUFS;
	do
		n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ECONNRESET;
	c->len += n;
	return 0;
}

static void consume(struct conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

/* Reads up to the blank line; copies the header block (NUL-terminated) to out. */
static int read_head(struct conn *c, char *out, size_t outsz)
{
	char *end;
	int err;

	for (;;) {
		end = memmem(c->buf, c->len, "\r\n\r\n", 4);
		if (end)
			break;
		err = fill(c);
		if (err)
			return err;
	}
	size_t n = end + 4 - c->buf;
	if (n >= outsz)
		return -E2BIG;
	memcpy(out, c->buf, n);
	out[n] = '\0';
	consume(c, n);
	return 0;
}

/* Value of header name in a header block, or NULL; *len gets its length. */
static const char *header(const char *head, const char *name, size_t *len)
{
	size_t nl = strlen(name);
	const char *p = strstr(head, "\r\n");

	while (p && p[2] != '\r') {
		p += 2;
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1, *e;

			while (*v == ' ' || *v == '\t')
				v++;
			e = strstr(v, "\r\n");
			*len = e ? (size_t)(e - v) : strlen(v);
			return v;
		}
		p = strstr(p, "\r\n");
	}
	return NULL;
}

static int header_is(const char *head, const char *name, const char *value)
{
	size_t len;
	const char *v = header(head, name, &len);

	return v && len == strlen(value) && strncasecmp(v, value, len) == 0;
}

static long content_length(const char *head)
{
	size_t len;
	const char *v = header(head, "Content-Length", &len);

	return v ? strtol(v, NULL, 10) : -1;
}

/* Reads n body bytes; out (may be NULL) gets them, up to outsz - 1, NUL-terminated. */
static int read_body(struct conn *c, size_t n, char *out, size_t outsz, size_t *outlen)
{
	size_t got = 0;
	int err;

	while (got < n) {
		if (c->len == 0) {
			err = fill(c);
			if (err)
				return err;
		}
		size_t k = c->len < n - got ? c->len : n - got;
		if (out && *outlen + k < outsz) {
			memcpy(out + *outlen, c->buf, k);
			*outlen += k;
			out[*outlen] = '\0';
		}
		consume(c, k);
		got += k;
	}
	return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -errno;
		p += w;
		n -= w;
	}
	return 0;
}

static void set_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = 20 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* ---- server ---- */

static void serve_conn(int fd)
{
	static struct conn c;
	char head[16384], method[16], path[1024], version[16], resp[512];

	c.fd = fd;
	c.len = 0;
	set_timeouts(fd);
	for (;;) {
		if (read_head(&c, head, sizeof(head)))
			return;
		if (sscanf(head, "%15s %1023s %15s", method, path, version) != 3)
			return;
		long cl = content_length(head);
		size_t ignored = 0;
		if (cl > 0 && read_body(&c, cl, NULL, 0, &ignored))
			return;
		int close_after = header_is(head, "Connection", "close") ||
				  strcmp(version, "HTTP/1.0") == 0;
		int missing = strncmp(path, "/missing", 8) == 0;
		const char *body = missing ? BODY_MISSING : BODY_OK;
		int n = snprintf(resp, sizeof(resp),
				 "HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
				 "%s\r\n%s",
				 missing ? "404 Not Found" : "200 OK", strlen(body),
				 close_after ? "Connection: close\r\n" : "", body);
		if (write_all(fd, resp, n) || close_after)
			return;
	}
}

static int listen_on(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 64))
		die("bind/listen 127.0.0.1:%d: %s", port, strerror(errno));
	return fd;
}

static int server(int port)
{
	int lfd = listen_on(port);

	signal(SIGCHLD, SIG_IGN);	/* children are reaped by the kernel */
	fprintf(stderr, "vmhttp: serving on 127.0.0.1:%d\n", port);
	for (;;) {
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die("accept: %s", strerror(errno));
		}
		pid_t pid = fork();
		if (pid == 0) {
			close(lfd);
			serve_conn(fd);
			shutdown(fd, SHUT_WR);
			close(fd);
			_exit(0);
		}
		close(fd);
	}
}

/* ---- client ---- */

static int dial(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -errno;
	set_timeouts(fd);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* Reads one response (Content-Length, chunked, or until close); returns the status code or a
 * negative errno. body (may be NULL) gets up to bodysz - 1 bytes. */
static int read_response(struct conn *c, char *body, size_t bodysz, size_t *bodylen)
{
	char head[16384];
	int status, err;
	size_t ignored = 0;

	if (!bodylen)
		bodylen = &ignored;
	*bodylen = 0;
	if (body)
		body[0] = '\0';
	err = read_head(c, head, sizeof(head));
	if (err)
		return err;
	if (sscanf(head, "HTTP/1.%*d %d", &status) != 1)
		return -EPROTO;
	long cl = content_length(head);
	if (header_is(head, "Transfer-Encoding", "chunked")) {
		for (;;) {
			char *eol;

			while (!(eol = memmem(c->buf, c->len, "\r\n", 2)))
				if ((err = fill(c)))
					return err;
			unsigned long n = strtoul(c->buf, NULL, 16);
			consume(c, eol + 2 - c->buf);
			if (n == 0)
				break;
			if ((err = read_body(c, n, body, bodysz, bodylen)) ||
			    (err = read_body(c, 2, NULL, 0, &ignored)))
				return err;
		}
		/* trailers: none expected; the final CRLF */
		while (c->len < 2)
			if ((err = fill(c)))
				return err;
		consume(c, 2);
	} else if (cl >= 0) {
		if ((err = read_body(c, cl, body, bodysz, bodylen)))
			return err;
	} else {
		for (;;) {
			err = fill(c);
			if (err == -ECONNRESET)
				break;
			if (err)
				return err;
			size_t k = c->len;
			if (body && *bodylen + k < bodysz) {
				memcpy(body + *bodylen, c->buf, k);
				*bodylen += k;
				body[*bodylen] = '\0';
			}
			consume(c, k);
		}
	}
	return status;
}

static int failures;

static void request(struct conn *c, const char *method, const char *path, const char *extra,
		    const char *body, size_t bodylen, int want)
{
	char req[2048], resp[256];
	size_t rlen;
	int n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n", method,
			 path, extra);
	int st;

	if (write_all(c->fd, req, n) || (bodylen && write_all(c->fd, body, bodylen))) {
		printf("vmhttp: %s %s: write: %s\n", method, path, strerror(errno));
		failures++;
		return;
	}
	st = read_response(c, resp, sizeof(resp), &rlen);
	if (st != want) {
		printf("vmhttp: %s %s: got %d (%s), want %d\n", method, path, st,
		       st < 0 ? strerror(-st) : "status", want);
		failures++;
	}
}

/* The client has one connection open at a time. */
static struct conn *conn_of(int fd)
{
	static struct conn c;

	c.fd = fd;
	c.len = 0;
	return &c;
}

static struct conn *open_conn(int port)
{
	int fd = dial(port);

	if (fd < 0)
		die("connect 127.0.0.1:%d: %s", port, strerror(-fd));
	return conn_of(fd);
}

static int client(int port)
{
	static char post[POST_SIZE];
	char extra[128];
	struct conn *c;
	int i;

	c = open_conn(port);
	for (i = 0; i < N_KEEPALIVE; i++)
		request(c, "GET", "/hello", "", NULL, 0, 200);
	close(c->fd);

	for (i = 0; i < N_CLOSE; i++) {
		c = open_conn(port);
		request(c, "GET", "/hello", "Connection: close\r\n", NULL, 0, 200);
		close(c->fd);
	}

	c = open_conn(port);
	for (i = 0; i < N_MISSING; i++)
		request(c, "GET", "/missing/page", "", NULL, 0, 404);
	close(c->fd);

	memset(post, 'x', sizeof(post));
	snprintf(extra, sizeof(extra),
		 "Content-Type: application/octet-stream\r\nContent-Length: %d\r\n", POST_SIZE);
	for (i = 0; i < N_POST; i++) {
		c = open_conn(port);
		request(c, "POST", "/upload", extra, post, sizeof(post), 200);
		close(c->fd);
	}
	printf("vmhttp client: %d requests, %d failed\n", N_KEEPALIVE + N_CLOSE + N_MISSING + N_POST,
	       failures);
	return failures ? 1 : 0;
}

/* One GET; prints the body unless quiet. Returns the status or a negative errno. */
static int get(int port, const char *path, int quiet)
{
	static char body[8 << 20];
	char req[1024];
	size_t len;
	int fd = dial(port), st;

	if (fd < 0)
		return fd;
	struct conn *c = conn_of(fd);
	int n = snprintf(req, sizeof(req),
			 "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n", path,
			 port);
	if (write_all(fd, req, n)) {
		close(fd);
		return -EIO;
	}
	st = read_response(c, body, sizeof(body), &len);
	close(fd);
	if (!quiet && st > 0)
		fwrite(body, 1, len, stdout);
	return st;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The scrape must show exactly these, summed over label sets the test does not control.
 * Format: "FAMILY{LABEL=VALUE,...} VALUE", read by tests/kernels/assert.sh. */
static int expect(void)
{
	static const char *const side[] = { "server", "client" };
	size_t ok = strlen(BODY_OK), missing = strlen(BODY_MISSING);

	for (int i = 0; i < 2; i++) {
		const char *s = side[i];

		printf("http_%s_request_duration_seconds_count{http_request_method=GET,"
		       "http_response_status_code=200} %d\n", s, N_KEEPALIVE + N_CLOSE);
		printf("http_%s_request_duration_seconds_count{http_request_method=GET,"
		       "http_response_status_code=404} %d\n", s, N_MISSING);
		printf("http_%s_request_duration_seconds_count{http_request_method=POST,"
		       "http_response_status_code=200} %d\n", s, N_POST);
		printf("http_%s_request_duration_seconds_count{} %d\n", s,
		       N_KEEPALIVE + N_CLOSE + N_MISSING + N_POST);
		printf("http_%s_request_body_size_bytes_count{} %d\n", s,
		       N_KEEPALIVE + N_CLOSE + N_MISSING + N_POST);
		printf("http_%s_request_body_size_bytes_sum{http_request_method=POST} %d\n", s,
		       N_POST * POST_SIZE);
		printf("http_%s_request_body_size_bytes_sum{} %d\n", s, N_POST * POST_SIZE);
		printf("http_%s_response_body_size_bytes_sum{} %zu\n", s,
		       (N_KEEPALIVE + N_CLOSE + N_POST) * ok + N_MISSING * missing);
	}
	return 0;
}

static int port_arg(const char *s)
{
	int p = atoi(s);

	if (p <= 0 || p > 65535)
		die("bad port %s", s);
	return p;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && strcmp(argv[1], "server") == 0)
		return server(port_arg(argv[2]));
	if (argc == 3 && strcmp(argv[1], "client") == 0)
		return client(port_arg(argv[2]));
	if (argc == 4 && strcmp(argv[1], "get") == 0) {
		int st = get(port_arg(argv[2]), argv[3], 0);

		if (st != 200)
			fprintf(stderr, "vmhttp: GET %s: %d%s%s\n", argv[3], st,
				st < 0 ? " " : "", st < 0 ? strerror(-st) : "");
		return st == 200 ? 0 : 1;
	}
	if (argc == 5 && strcmp(argv[1], "wait") == 0) {
		double end = now() + atof(argv[4]);

		while (get(port_arg(argv[2]), argv[3], 1) != 200) {
			if (now() > end) {
				fprintf(stderr, "vmhttp: %s did not answer 200 within %ss\n",
					argv[3], argv[4]);
				return 1;
			}
			usleep(100000);
		}
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "expect") == 0)
		return expect();
	fprintf(stderr, "usage: vmhttp server PORT | client PORT | get PORT PATH |"
			" wait PORT PATH SECONDS | expect\n");
	return 2;
}
