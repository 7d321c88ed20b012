// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* test_httpd.c - the metrics endpoint driven by the real curl: routes, negotiation, TLS, auth. */
#include <crypt.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "buf.h"
#include "httpd.h"
#include "log.h"
#include "render.h"
#include "webconfig.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Every curl is bounded; a hung server fails the test instead of hanging it. */
#define CURL "curl -sS --max-time 5 --connect-timeout 3"

#define TEXT_BODY                                                                                  \
	"# HELP test_requests_total Requests.\n"                                                   \
	"# TYPE test_requests_total counter\n"                                                     \
	"test_requests_total 42\n"
#define OM_BODY                                                                                    \
	"# HELP test_requests Requests.\n"                                                         \
	"# TYPE test_requests counter\n"                                                           \
	"test_requests_total 42\n"                                                                 \
	"# EOF\n"

#define USER	 "prometheus"
#define PASSWORD "s3cret pass:word"
/* docs/configuration.md's example: bcrypt of "secret", made by another tool than ours. */
#define DOCS_USER "docs"
#define DOCS_HASH "$2b$10$aJQ0mQHYqc13c6TW.cOoN.0EhFcBNm1trFGA8jyPjVn6HCOlgIEkq"

static char tmpdir[] = "/tmp/test_httpd.XXXXXX";
static char hash[128]; /* bcrypt (cost 10) of PASSWORD, made with libxcrypt at setup */

/* ---- helpers ----------------------------------------------------------------------------- */

#define expect_str(name, got, want)                                                                \
	do {                                                                                       \
		if (strcmp((got), (want)) != 0)                                                    \
			fail_msg("case '%s':\n  got:  \"%s\"\n  want: \"%s\"", (name), (got),      \
				 (want));                                                          \
	} while (0)

#define expect_int(name, got, want)                                                                \
	do {                                                                                       \
		long long g_ = (long long)(got), w_ = (long long)(want);                           \
		if (g_ != w_)                                                                      \
			fail_msg("case '%s': %s is %lld, want %lld", (name), #got, g_, w_);        \
	} while (0)

static char *slurp_path(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *s;
	long n;

	if (!f) {
		if (len)
			*len = 0;
		return calloc(1, 1);
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	s = calloc(1, (size_t)n + 1);
	assert_non_null(s);
	if (n > 0)
		assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	if (len)
		*len = (size_t)n;
	return s;
}

static const char *tmp_path(const char *name)
{
	static char path[4][256];
	static int i;

	i = (i + 1) % 4;
	snprintf(path[i], sizeof(path[i]), "%s/%s", tmpdir, name);
	return path[i];
}

/* Copies in to out with each "TMP" replaced by tmpdir. */
static void expand_tmp(char *out, size_t len, const char *in)
{
	size_t n = 0;

	for (const char *p = in; *p && n + 1 < len;) {
		if (!strncmp(p, "TMP", 3)) {
			n += (size_t)snprintf(out + n, len - n, "%s", tmpdir);
			p += 3;
		} else {
			out[n++] = *p++;
		}
	}
	out[n < len ? n : len - 1] = '\0';
}

static void write_file(const char *name, const char *text)
{
	FILE *f = fopen(tmp_path(name), "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Runs a shell command in tmpdir, bounded; returns its exit status. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[4096], full[4200];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "cd '%s' && timeout 60 sh -c '%s'", tmpdir, cmd);
	rc = system(full);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Redirects stderr into a temporary file, so log lines can be checked. */
struct capture {
	FILE *err;
	int saved;
};

static void capture_start(struct capture *c)
{
	fflush(stderr);
	c->err = tmpfile();
	assert_non_null(c->err);
	c->saved = dup(STDERR_FILENO);
	dup2(fileno(c->err), STDERR_FILENO);
}

static char *capture_end(struct capture *c)
{
	char *s;
	long n;

	fflush(stderr);
	dup2(c->saved, STDERR_FILENO);
	close(c->saved);
	fseek(c->err, 0, SEEK_END);
	n = ftell(c->err);
	rewind(c->err);
	s = calloc(1, (size_t)n + 1);
	assert_non_null(s);
	if (n > 0)
		assert_int_equal(fread(s, 1, (size_t)n, c->err), (size_t)n);
	fclose(c->err);
	return s;
}

/* A port nobody listens on right now (the kernel's pick for port 0). */
static int free_port(void)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

/* The agent's side: a scrape callback with known output and a readiness flag. */
struct fake {
	atomic_int fail; /* errno the scrape fails with; 0: succeeds */
	atomic_int delay_ms; /* how long a scrape takes */
	atomic_int ready;
	atomic_int scrapes;
};

static int fake_scrape(void *arg, enum render_format fmt, struct sockeye_buf *out)
{
	struct fake *f = arg;

	atomic_fetch_add(&f->scrapes, 1);
	if (atomic_load(&f->delay_ms))
		usleep((useconds_t)atomic_load(&f->delay_ms) * 1000);
	if (atomic_load(&f->fail))
		return -atomic_load(&f->fail);
	buf_puts(out, fmt == RENDER_OPENMETRICS ? OM_BODY : TEXT_BODY);
	return 0;
}

static int fake_ready(void *arg)
{
	return atomic_load(&((struct fake *)arg)->ready);
}

/* Per-test state: the server under test, stopped by the teardown even when a check fails. */
struct server {
	struct httpd *h;
	struct fake fake;
	int port;
	char addr[64];
	char url[128];	/* scheme://host:port */
	char curl[512]; /* CURL plus what this server needs: --cacert, --resolve */
	char web[256];	/* web config path, "" for none */
};

static int setup_server(void **state)
{
	struct server *s = calloc(1, sizeof(*s));

	if (!s)
		return -1;
	atomic_init(&s->fake.ready, 1);
	*state = s;
	return 0;
}

static int teardown_server(void **state)
{
	struct server *s = *state;

	httpd_stop(s->h);
	free(s);
	return 0;
}

/* Starts s on 127.0.0.1 and a free port with telemetry path, and web config yaml unless NULL. */
static void server_start_path(struct server *s, const char *yaml, const char *path)
{
	const char *listen[1] = {s->addr};
	struct httpd_options o = {
		.listen = listen,
		.n_listen = 1,
		.telemetry_path = path,
		.scrape = fake_scrape,
		.ready = fake_ready,
		.arg = &s->fake,
	};
	bool tls = yaml && strstr(yaml, "cert_file");

	s->port = free_port();
	snprintf(s->addr, sizeof(s->addr), "127.0.0.1:%d", s->port);
	snprintf(s->url, sizeof(s->url), "%s://localhost:%d", tls ? "https" : "http", s->port);
	snprintf(s->curl, sizeof(s->curl), CURL " --resolve localhost:%d:127.0.0.1%s", s->port,
		 tls ? " --cacert ca.crt" : "");
	if (yaml) {
		snprintf(s->web, sizeof(s->web), "%s/web-%d.yml", tmpdir, s->port);
		write_file(strrchr(s->web, '/') + 1, yaml);
		o.web_config_file = s->web;
	}
	s->h = httpd_start(&o);
	assert_non_null(s->h);
}

static void server_start(struct server *s, const char *yaml)
{
	server_start_path(s, yaml, "/metrics");
}

struct reply {
	int status; /* 0: no HTTP response at all */
	char *headers;
	char *body;
	size_t len;
	char *certs; /* curl's %{certs}: the server's certificate chain, with serial numbers */
	char *err;   /* curl's stderr */
};

static void reply_free(struct reply *r)
{
	free(r->headers);
	free(r->body);
	free(r->certs);
	free(r->err);
	memset(r, 0, sizeof(*r));
}

/* Runs s->curl, then the arguments made from fmt, in tmpdir; fills r from what curl wrote. */
static void http(struct server *s, struct reply *r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void http(struct server *s, struct reply *r, const char *fmt, ...)
{
	char args[2048], cmd[4096];
	char *code;
	va_list ap;

	reply_free(r);
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && rm -f body.out hdr.out code.out err.out && %s -o body.out -D hdr.out "
		 "-w '%%{http_code}\\n%%{certs}' %s >code.out 2>err.out",
		 tmpdir, s->curl, args);
	if (system(cmd) == -1)
		fail_msg("cannot run %s", cmd);
	code = slurp_path(tmp_path("code.out"), NULL);
	r->status = atoi(code);
	r->certs = strdup(strchr(code, '\n') ? strchr(code, '\n') + 1 : "");
	free(code);
	r->headers = slurp_path(tmp_path("hdr.out"), NULL);
	r->body = slurp_path(tmp_path("body.out"), &r->len);
	r->err = slurp_path(tmp_path("err.out"), NULL);
}

/* The value of response header name (the last one), or "" when absent. */
static const char *header(const struct reply *r, const char *name)
{
	static char value[1024];
	size_t n = strlen(name);
	const char *p = r->headers;

	value[0] = '\0';
	while (p && *p) {
		const char *eol = strpbrk(p, "\r\n");
		size_t len = eol ? (size_t)(eol - p) : strlen(p);

		if (len > n && !strncasecmp(p, name, n) && p[n] == ':') {
			const char *v = p + n + 1;

			while (*v == ' ')
				v++;
			snprintf(value, sizeof(value), "%.*s", (int)(len - (size_t)(v - p)), v);
		}
		p = eol ? eol + strspn(eol, "\r\n") : NULL;
	}
	return value;
}

static char *gunzip(const char *in, size_t len, size_t *outlen)
{
	z_stream zs = {0};
	size_t cap = 65536;
	char *out = calloc(1, cap);

	assert_non_null(out);
	assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	zs.next_out = (Bytef *)out;
	zs.avail_out = (uInt)cap - 1;
	assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
	*outlen = zs.total_out;
	inflateEnd(&zs);
	return out;
}

/* ---- fixture ----------------------------------------------------------------------------- */

static const char make_certs[] =
	"set -e\n"
	"ec='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'\n"
	"openssl req -x509 $ec -days 2 -subj /CN=sockeye-test-ca -keyout ca.key -out ca.crt\n"
	/* name cn extendedKeyUsage */
	"leaf() {\n"
	"  openssl req $ec -subj /CN=$2 -keyout $1.key -out $1.csr\n"
	"  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nextendedKeyUsage=%s\\n' $3 >$1.ext\n"
	"  openssl x509 -req -in $1.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \\\n"
	"    -extfile $1.ext -out $1.crt\n"
	"}\n"
	"leaf server localhost serverAuth\n"
	"leaf server2 localhost-rotated serverAuth\n"
	"leaf client sockeye-test-client clientAuth\n"
	"leaf serveronly sockeye-test-server-only serverAuth\n"
	"openssl req -x509 $ec -days 2 -subj /CN=stranger -keyout stranger.key -out stranger.crt\n"
	"cp server.crt server1.crt && cp server.key server1.key\n"
	"printf 'not a certificate\\n' >garbage.pem\n";

static int group_setup(void **state)
{
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	char salt[64];
	int rc;

	(void)state;
	if (!cd || !mkdtemp(tmpdir))
		return -1;
	write_file("make_certs.sh", make_certs);
	rc = sh("sh make_certs.sh >make_certs.log 2>&1");
	if (rc) {
		fprintf(stderr, "making test certificates failed (%d): see %s/make_certs.log\n", rc,
			tmpdir);
		return -1;
	}
	if (!crypt_gensalt_rn("$2b$", 10, NULL, 0, salt, sizeof(salt)) ||
	    !crypt_r(PASSWORD, salt, cd) || cd->output[0] == '*')
		return -1;
	if (strlen(cd->output) >= sizeof(hash))
		return -1;
	strcpy(hash, cd->output);
	free(cd);
	/* libmicrohttpd's per-connection messages (refused handshakes) would drown cmocka's. */
	log_set_level(LOG_ERROR);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	return sh("cd / && rm -rf \"%s\"", tmpdir) == 0 ? 0 : -1;
}

/* ---- routes ------------------------------------------------------------------------------ */

static void test_metrics_path_serves_the_scrape_as_text_004(void **state)
{
	struct server *s = *state;
	struct reply r = {0};
	char len[16];

	server_start(s, NULL);
	http(s, &r, "%s/metrics", s->url);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, TEXT_BODY);
	assert_string_equal(header(&r, "Content-Type"), RENDER_CONTENT_TYPE_TEXT);
	snprintf(len, sizeof(len), "%zu", strlen(TEXT_BODY));
	assert_string_equal(header(&r, "Content-Length"), len);
	assert_string_equal(header(&r, "Content-Encoding"), "");
	assert_string_equal(header(&r, "Vary"), "Accept, Accept-Encoding");
	assert_int_equal(atomic_load(&s->fake.scrapes), 1);
	reply_free(&r);
}

/* Sends request on a new TCP connection and reads until the server closes it (bounded). */
static char *raw_request(int port, const char *request)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	struct timeval tv = {.tv_sec = 5};
	size_t len = 0, cap = 65536;
	char *out = calloc(1, cap);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ssize_t n;

	assert_non_null(out);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(write(fd, request, strlen(request)), (ssize_t)strlen(request));
	while (len < cap - 1 && (n = read(fd, out + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	return out;
}

static void test_head_sends_the_headers_of_get_without_a_body(void **state)
{
	struct server *s = *state;
	char want[64], *resp, *end;

	server_start(s, NULL);
	resp = raw_request(s->port, "HEAD /metrics HTTP/1.0\r\n\r\n");
	end = strstr(resp, "\r\n\r\n");
	if (!end || strncmp(resp, "HTTP/1.1 200 OK\r\n", 17))
		fail_msg("not a 200 response: '%s'", resp);
	/* Nothing follows the headers, though they announce the GET body's length. */
	assert_string_equal(end, "\r\n\r\n");
	snprintf(want, sizeof(want), "\r\nContent-Length: %zu\r\n", strlen(TEXT_BODY));
	assert_non_null(strstr(resp, want));
	assert_non_null(strstr(resp, "\r\nContent-Type: " RENDER_CONTENT_TYPE_TEXT "\r\n"));
	free(resp);

	/* The same through curl. */
	struct reply r = {0};

	http(s, &r, "--head %s/metrics", s->url);
	assert_int_equal(r.status, 200);
	assert_string_equal(header(&r, "Content-Type"), RENDER_CONTENT_TYPE_TEXT);
	reply_free(&r);
}

static void test_unknown_paths_are_404(void **state)
{
	static const char *const paths[] = {"/nope", "/metrics/", "/metricsx", "/healthz/x",
					    "/index.html"};
	struct server *s = *state;
	struct reply r = {0};

	server_start(s, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
		http(s, &r, "%s%s", s->url, paths[i]);
		expect_int(paths[i], r.status, 404);
		expect_str(paths[i], r.body, "Not Found\n");
	}
	assert_int_equal(atomic_load(&s->fake.scrapes), 0);
	reply_free(&r);
}

/* Paths are percent-decoded, but a decoded NUL would end the path early: "/metrics%00.png"
 * must not be "/metrics" (found by tests/integration/test_hostile_scrapers.py). */
static void test_percent_encoded_paths_decode_but_nul_does_not_end_them(void **state)
{
	static const struct {
		const char *path;
		int status;
	} cases[] = {
		{"/%6detrics", 200},	  {"/metrics%3fx", 404},   {"/metrics%00", 404},
		{"/metrics%00.png", 404}, {"/metrics%2500", 404},  {"/healthz%00", 404},
		{"/metrics?a=%00", 200},  {"/metrics/../metrics", 404},
	};
	struct server *s = *state;
	struct reply r = {0};

	server_start(s, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		http(s, &r, "--path-as-is '%s%s'", s->url, cases[i].path);
		expect_int(cases[i].path, r.status, cases[i].status);
	}
	reply_free(&r);
}

/* Requests that arrive while a scrape is being made share it: one scrape, the same body. */
static void test_concurrent_scrapes_share_one_scrape(void **state)
{
	struct server *s = *state;
	char cmd[2048];
	int n = 0;

	server_start(s, NULL);
	atomic_store(&s->fake.delay_ms, 500);
	/* 20 clients at once; each writes its status and byte count. */
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && for i in $(seq 20); do %s -o /dev/null -w '%%{http_code} "
		 "%%{size_download}\n' %s/metrics & done > shared.out; wait",
		 tmpdir, s->curl, s->url);
	assert_int_not_equal(system(cmd), -1);
	{
		char *out = slurp_path(tmp_path("shared.out"), NULL), *line, *save = NULL;
		char want[64];

		snprintf(want, sizeof(want), "200 %zu", strlen(TEXT_BODY));
		for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			expect_str("a shared scrape", line, want);
			n++;
		}
		free(out);
	}
	assert_int_equal(n, 20);
	/* All 20 arrive within the first scrape's 0.5 s; a straggler may start a second one. */
	if (atomic_load(&s->fake.scrapes) > 2)
		fail_msg("20 concurrent requests made %d scrapes", atomic_load(&s->fake.scrapes));
}

static void test_other_methods_are_405_with_allow_get_head(void **state)
{
	static const char *const args[] = {
		"-X POST -d a=1", "-X PUT -d a=1", "-X DELETE", "-X OPTIONS", "-X PATCH -d a=1",
	};
	struct server *s = *state;
	struct reply r = {0};

	server_start(s, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(args); i++) {
		http(s, &r, "%s %s/metrics", args[i], s->url);
		expect_int(args[i], r.status, 405);
		expect_str(args[i], header(&r, "Allow"), "GET, HEAD");
		expect_str(args[i], r.body, "Method Not Allowed\n");
	}
	/* The server is still fine afterwards. */
	http(s, &r, "%s/metrics", s->url);
	assert_int_equal(r.status, 200);
	assert_int_equal(atomic_load(&s->fake.scrapes), 1);
	reply_free(&r);
}

static void test_landing_page_links_to_the_telemetry_path(void **state)
{
	struct server *s = *state;
	struct reply r = {0};

	server_start_path(s, NULL, "/custom/metrics");
	http(s, &r, "%s/", s->url);
	assert_int_equal(r.status, 200);
	assert_string_equal(header(&r, "Content-Type"), "text/html; charset=utf-8");
	assert_non_null(strstr(r.body, "<a href=\"/custom/metrics\">Metrics</a>"));
	http(s, &r, "%s/custom/metrics", s->url);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, TEXT_BODY);
	http(s, &r, "%s/metrics", s->url);
	assert_int_equal(r.status, 404);
	reply_free(&r);
}

static void test_healthz_is_ok_and_readyz_follows_the_ready_callback(void **state)
{
	struct server *s = *state;
	struct reply r = {0};

	server_start(s, NULL);
	atomic_store(&s->fake.ready, 0);
	http(s, &r, "%s/healthz", s->url);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "ok\n");
	http(s, &r, "%s/readyz", s->url);
	assert_int_equal(r.status, 503);
	assert_string_equal(r.body, "not ready\n");
	atomic_store(&s->fake.ready, 1);
	http(s, &r, "%s/readyz", s->url);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "ok\n");
	reply_free(&r);
}

static void test_scrape_failure_is_500_with_the_reason(void **state)
{
	struct server *s = *state;
	struct reply r = {0};

	server_start(s, NULL);
	atomic_store(&s->fake.fail, EIO);
	http(s, &r, "%s/metrics", s->url);
	assert_int_equal(r.status, 500);
	assert_string_equal(r.body, "scrape failed: Input/output error\n");
	atomic_store(&s->fake.fail, 0);
	http(s, &r, "%s/metrics", s->url);
	assert_int_equal(r.status, 200);
	reply_free(&r);
}

static void test_keep_alive_serves_several_requests_on_one_connection(void **state)
{
	struct server *s = *state;
	struct reply r = {0};

	server_start(s, NULL);
	http(s, &r, "-v %s/metrics %s/healthz %s/metrics", s->url, s->url, s->url);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.err, "Re-using existing connection"));
	assert_null(strstr(r.err, "Connection: close"));
	assert_int_equal(atomic_load(&s->fake.scrapes), 2);
	reply_free(&r);
}

/* ---- negotiation ------------------------------------------------------------------------- */

static void test_gzip_when_accepted_and_not_with_q_zero(void **state)
{
	struct server *s = *state;
	struct reply r = {0};
	size_t len;
	char *plain;

	server_start(s, NULL);
	/* Raw bytes: a gzip member (1f 8b) that inflates to the scrape. */
	http(s, &r, "-H 'Accept-Encoding: gzip' %s/metrics", s->url);
	assert_int_equal(r.status, 200);
	assert_string_equal(header(&r, "Content-Encoding"), "gzip");
	assert_string_equal(header(&r, "Vary"), "Accept, Accept-Encoding");
	assert_string_equal(header(&r, "Content-Type"), RENDER_CONTENT_TYPE_TEXT);
	assert_true(r.len > 2);
	assert_int_equal((unsigned char)r.body[0], 0x1f);
	assert_int_equal((unsigned char)r.body[1], 0x8b);
	plain = gunzip(r.body, r.len, &len);
	assert_int_equal(len, strlen(TEXT_BODY));
	assert_string_equal(plain, TEXT_BODY);
	free(plain);

	/* curl's own decoder (it offers "deflate, gzip, br, zstd"). */
	http(s, &r, "--compressed %s/metrics", s->url);
	assert_string_equal(header(&r, "Content-Encoding"), "gzip");
	assert_string_equal(r.body, TEXT_BODY);

	/* What Prometheus sends, mixed case, and parameters. */
	static const char *const yes[] = {"gzip", "GZip", "br;q=1, gzip;q=0.5", "x-gzip",
					  "identity, gzip ; q=1.0"};
	static const char *const no[] = {
		"gzip;q=0", "gzip; q=0.000, br", "identity", "deflate", "gzipx", ""};
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		http(s, &r, "-H 'Accept-Encoding: %s' %s/metrics", yes[i], s->url);
		expect_str(yes[i], header(&r, "Content-Encoding"), "gzip");
	}
	for (size_t i = 0; i < ARRAY_SIZE(no); i++) {
		http(s, &r, "-H 'Accept-Encoding: %s' %s/metrics", no[i], s->url);
		expect_str(no[i], header(&r, "Content-Encoding"), "");
		expect_str(no[i], r.body, TEXT_BODY);
	}
	reply_free(&r);
}

static void test_openmetrics_when_accepted(void **state)
{
	static const struct {
		const char *accept;
		bool om;
	} cases[] = {
		/* Prometheus 2.x with OpenMetrics scraping on. */
		{"application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
		 "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
		 true},
		{"application/openmetrics-text; version=1.0.0; charset=utf-8", true},
		{"Application/OpenMetrics-Text", true},
		{"text/plain;version=0.0.4;q=1,application/openmetrics-text;q=0.5", true},
		{"text/plain;version=0.0.4", false},
		{"*/*", false},
		{"application/openmetrics-text;q=0", false},
		{"application/openmetrics-textual", false},
	};
	struct server *s = *state;
	struct reply r = {0};

	server_start(s, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		http(s, &r, "-H 'Accept: %s' %s/metrics", cases[i].accept, s->url);
		expect_int(cases[i].accept, r.status, 200);
		expect_str(cases[i].accept, header(&r, "Content-Type"),
			   cases[i].om ? RENDER_CONTENT_TYPE_OPENMETRICS
				       : RENDER_CONTENT_TYPE_TEXT);
		expect_str(cases[i].accept, r.body, cases[i].om ? OM_BODY : TEXT_BODY);
	}
	/* Both at once. */
	http(s, &r, "--compressed -H 'Accept: application/openmetrics-text' %s/metrics", s->url);
	assert_string_equal(header(&r, "Content-Type"), RENDER_CONTENT_TYPE_OPENMETRICS);
	assert_string_equal(header(&r, "Content-Encoding"), "gzip");
	assert_string_equal(r.body, OM_BODY);
	reply_free(&r);
}

/* ---- listening --------------------------------------------------------------------------- */

static void test_start_logs_each_bound_address(void **state)
{
	struct server *s = *state;
	struct capture c;
	char want[128], *log;

	log_set_level(LOG_INFO);
	capture_start(&c);
	server_start(s, NULL);
	log = capture_end(&c);
	log_set_level(LOG_ERROR);
	snprintf(want, sizeof(want), " level=info msg=\"Listening on address=127.0.0.1:%d\"\n",
		 s->port);
	if (!strstr(log, want))
		fail_msg("log lacks '%s':\n%s", want, log);
	free(log);
}

static bool have_ipv6_loopback(void)
{
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) == 0;

	if (fd >= 0)
		close(fd);
	return ok;
}

static void test_port_only_listens_on_ipv4_and_ipv6(void **state)
{
	struct server *s = *state;
	const char *listen[2];
	char any[32], v6[32];
	struct reply r = {0};
	struct httpd_options o = {
		.listen = listen,
		.n_listen = 1,
		.telemetry_path = "/metrics",
		.scrape = fake_scrape,
		.arg = &s->fake,
	};

	s->port = free_port();
	snprintf(any, sizeof(any), ":%d", s->port);
	listen[0] = any;
	s->h = httpd_start(&o);
	assert_non_null(s->h);
	snprintf(s->curl, sizeof(s->curl), CURL);
	http(s, &r, "http://127.0.0.1:%d/metrics", s->port);
	assert_int_equal(r.status, 200);
	if (!have_ipv6_loopback()) {
		reply_free(&r);
		skip();
	}
	http(s, &r, "'http://[::1]:%d/metrics'", s->port);
	assert_int_equal(r.status, 200);
	httpd_stop(s->h);
	s->h = NULL;

	/* "[::1]:port" and a second address in one server. */
	snprintf(v6, sizeof(v6), "[::1]:%d", s->port);
	snprintf(s->addr, sizeof(s->addr), "127.0.0.1:%d", free_port());
	listen[0] = v6;
	listen[1] = s->addr;
	o.n_listen = 2;
	s->h = httpd_start(&o);
	assert_non_null(s->h);
	http(s, &r, "'http://[::1]:%d/healthz'", s->port);
	assert_int_equal(r.status, 200);
	http(s, &r, "http://%s/healthz", s->addr);
	assert_int_equal(r.status, 200);
	http(s, &r, "http://127.0.0.1:%d/healthz", s->port);
	assert_int_equal(r.status, 0);
	reply_free(&r);
}

static void test_port_in_use_fails_with_eaddrinuse_and_says_so(void **state)
{
	struct server *s = *state;
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t len = sizeof(sin);
	const char *addrs[1] = {s->addr};
	struct httpd_options o = {
		.listen = addrs,
		.n_listen = 1,
		.telemetry_path = "/metrics",
		.scrape = fake_scrape,
		.arg = &s->fake,
	};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	struct capture c;
	char want[256], *log;

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	snprintf(s->addr, sizeof(s->addr), "127.0.0.1:%d", ntohs(sin.sin_port));

	capture_start(&c);
	errno = 0;
	s->h = httpd_start(&o);
	int err = errno;
	log = capture_end(&c);
	close(fd);
	assert_null(s->h);
	assert_int_equal(err, EADDRINUSE);
	snprintf(want, sizeof(want),
		 " level=error msg=\"Cannot listen on address=%s: Address already in use\"\n",
		 s->addr);
	if (!strstr(log, want))
		fail_msg("log lacks '%s':\n%s", want, log);
	free(log);
}

static void test_bad_listen_addresses_fail_with_a_reason(void **state)
{
	static const struct {
		const char *addr;
		int err;
		const char *msg;
	} cases[] = {
		{"127.0.0.1", EINVAL,
		 "Invalid listen address=127.0.0.1: missing port (want host:port, :port or "
		 "[ipv6]:port)"},
		{"::1:9810", EINVAL,
		 "Invalid listen address=::1:9810: IPv6 addresses need brackets, "
		 "e.g. [::1]:9810"},
		{"[::1]9810", EINVAL, "Invalid listen address=[::1]9810: missing port after ']'"},
		{"[::1:9810", EINVAL, "Invalid listen address=[::1:9810: missing ']'"},
		{"localhost:http", EINVAL,
		 "Invalid listen address=localhost:http: port must be a number"},
		{"localhost:", EINVAL, "Invalid listen address=localhost:: port must be a number"},
		{"localhost:65536", EINVAL,
		 "Invalid listen address=localhost:65536: port must be at most 65535"},
		{"no-such-host.invalid:9810", EADDRNOTAVAIL,
		 "Cannot resolve listen address=no-such-host.invalid:9810: "},
		{"192.0.2.1:9810", EADDRNOTAVAIL,
		 "Cannot listen on address=192.0.2.1:9810: Cannot assign requested address"},
	};
	struct server *s = *state;
	const char *listen[1];
	struct httpd_options o = {
		.listen = listen,
		.n_listen = 1,
		.telemetry_path = "/metrics",
		.scrape = fake_scrape,
		.arg = &s->fake,
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct capture c;
		char *log;
		int err;

		listen[0] = cases[i].addr;
		capture_start(&c);
		errno = 0;
		s->h = httpd_start(&o);
		err = errno;
		log = capture_end(&c);
		if (s->h)
			fail_msg("case '%s': started", cases[i].addr);
		expect_int(cases[i].addr, err, cases[i].err);
		if (!strstr(log, cases[i].msg))
			fail_msg("case '%s': log lacks '%s':\n%s", cases[i].addr, cases[i].msg,
				 log);
		free(log);
	}
}

/* ---- TLS --------------------------------------------------------------------------------- */

#define TLS_YAML                                                                                   \
	"tls_server_config:\n"                                                                     \
	"  cert_file: server.crt\n"                                                                \
	"  key_file: server.key\n"

/* "serial=ABCD" from openssl for a certificate file in tmpdir, as curl prints it: "abcd". */
static void cert_serial(const char *file, char *out, size_t len)
{
	char cmd[512];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "openssl x509 -noout -serial -in '%s/%s'", tmpdir, file);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(out, (int)len, p));
	pclose(p);
	out[strcspn(out, "\n")] = '\0';
	assert_true(!strncmp(out, "serial=", 7));
	memmove(out, out + 7, strlen(out + 7) + 1);
	for (char *c = out; *c; c++)
		*c = (char)tolower((unsigned char)*c);
}

static void expect_server_cert(const struct reply *r, const char *cn, const char *file)
{
	char serial[128], want[160];

	cert_serial(file, serial, sizeof(serial));
	snprintf(want, sizeof(want), "Serial Number:%s\n", serial);
	if (!strstr(r->certs, want))
		fail_msg("certificate is not %s (%s):\n%s", file, want, r->certs);
	snprintf(want, sizeof(want), "Subject:CN = %s\n", cn);
	if (!strstr(r->certs, want))
		fail_msg("certificate subject is not %s:\n%s", cn, r->certs);
}

static void test_tls_serves_the_configured_certificate(void **state)
{
	struct server *s = *state;
	struct reply r = {0};

	server_start(s, TLS_YAML);
	http(s, &r, "%s/metrics", s->url);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, TEXT_BODY);
	expect_server_cert(&r, "localhost", "server1.crt");
	reply_free(&r);
}

static void test_plain_http_to_a_tls_listener_is_closed_cleanly(void **state)
{
	struct server *s = *state;
	struct reply r = {0};

	server_start(s, TLS_YAML);
	for (int i = 0; i < 3; i++) {
		http(s, &r, "http://localhost:%d/metrics", s->port);
		assert_int_equal(r.status, 0);
		assert_non_null(strstr(r.err, "curl: (52) Empty reply from server"));
	}
	http(s, &r, "%s/metrics", s->url);
	assert_int_equal(r.status, 200);
	assert_int_equal(atomic_load(&s->fake.scrapes), 1);
	reply_free(&r);
}

static void test_tls_versions_follow_min_and_max_version(void **state)
{
	struct server *s = *state;
	struct reply r = {0};

	server_start(s, TLS_YAML "  min_version: TLS13\n");
	http(s, &r, "--tls-max 1.2 %s/healthz", s->url);
	assert_int_equal(r.status, 0);
	http(s, &r, "--tlsv1.3 %s/healthz", s->url);
	assert_int_equal(r.status, 200);
	httpd_stop(s->h);
	s->h = NULL;

	server_start(s, TLS_YAML "  max_version: TLS12\n");
	http(s, &r, "--tlsv1.3 %s/healthz", s->url);
	assert_int_equal(r.status, 0);
	http(s, &r, "-v --tls-max 1.2 %s/healthz", s->url);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.err, "SSL connection using TLSv1.2"));
	reply_free(&r);
}

static void test_client_certificates_follow_client_auth_type(void **state)
{
	/* Columns: no certificate, one from client_ca_file, a self-signed one, one from the CA
	 * whose extended key usage is serverAuth only. 200 or 0 (handshake refused). */
	static const struct {
		const char *type;
		bool ca;
		int want[4];
	} cases[] = {
		{"NoClientCert", false, {200, 200, 200, 200}},
		{"RequestClientCert", false, {200, 200, 200, 200}},
		{"RequireAnyClientCert", false, {0, 200, 200, 200}},
		{"RequireClientCert", false, {0, 200, 200, 200}},
		{"VerifyClientCertIfGiven", true, {200, 200, 0, 0}},
		{"RequireAndVerifyClientCert", true, {0, 200, 0, 0}},
	};
	static const char *const certs[] = {
		"",
		"--cert client.crt --key client.key",
		"--cert stranger.crt --key stranger.key",
		"--cert serveronly.crt --key serveronly.key",
	};
	struct server *s = *state;
	struct reply r = {0};
	char yaml[512], name[128];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		snprintf(yaml, sizeof(yaml), TLS_YAML "  client_auth_type: %s\n%s", cases[i].type,
			 cases[i].ca ? "  client_ca_file: ca.crt\n" : "");
		server_start(s, yaml);
		for (size_t j = 0; j < ARRAY_SIZE(certs); j++) {
			snprintf(name, sizeof(name), "%s with '%s'", cases[i].type, certs[j]);
			http(s, &r, "%s %s/metrics", certs[j], s->url);
			expect_int(name, r.status, cases[i].want[j]);
			if (cases[i].want[j] == 200)
				expect_str(name, r.body, TEXT_BODY);
		}
		httpd_stop(s->h);
		s->h = NULL;
	}
	reply_free(&r);
}

/* ---- basic auth -------------------------------------------------------------------------- */

static void users_yaml(char *out, size_t len, const char *tls)
{
	snprintf(out, len,
		 "%s"
		 "basic_auth_users:\n"
		 "  " USER ": %s\n"
		 "  " DOCS_USER ": " DOCS_HASH "\n"
		 "http_server_config:\n"
		 "  headers:\n"
		 "    X-Content-Type-Options: nosniff\n",
		 tls, hash);
}

static void test_basic_auth_accepts_only_the_right_password(void **state)
{
	static const struct {
		const char *name, *args;
		int status;
	} cases[] = {
		{"right password", "-u '" USER ":" PASSWORD "'", 200},
		{"docs user and hash", "-u " DOCS_USER ":secret", 200},
		{"wrong password", "-u '" USER ":s3cret pass:wordx'", 401},
		{"empty password", "-u '" USER ":'", 401},
		{"other user's password", "-u '" DOCS_USER ":" PASSWORD "'", 401},
		{"unknown user", "-u 'nobody:" PASSWORD "'", 401},
		{"no credentials", "", 401},
		{"not basic", "-H 'Authorization: Bearer abc'", 401},
		{"bad base64", "-H 'Authorization: Basic !!!'", 401},
	};
	struct server *s = *state;
	struct reply r = {0};
	char yaml[1024];

	users_yaml(yaml, sizeof(yaml), TLS_YAML);
	server_start(s, yaml);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		http(s, &r, "%s %s/metrics", cases[i].args, s->url);
		expect_int(cases[i].name, r.status, cases[i].status);
		expect_str(cases[i].name, header(&r, "X-Content-Type-Options"), "nosniff");
		if (cases[i].status == 401) {
			expect_str(cases[i].name, header(&r, "WWW-Authenticate"),
				   "Basic realm=\"sockeye\"");
			expect_str(cases[i].name, r.body, "Unauthorized\n");
		} else {
			expect_str(cases[i].name, r.body, TEXT_BODY);
		}
	}
	/* Every path is behind authentication, and 401 comes before 404 and 405. */
	http(s, &r, "%s/healthz", s->url);
	assert_int_equal(r.status, 401);
	http(s, &r, "%s/nope", s->url);
	assert_int_equal(r.status, 401);
	http(s, &r, "-X POST %s/metrics", s->url);
	assert_int_equal(r.status, 401);
	http(s, &r, "-u '" USER ":" PASSWORD "' -X POST %s/metrics", s->url);
	assert_int_equal(r.status, 405);
	assert_int_equal(atomic_load(&s->fake.scrapes), 2);
	reply_free(&r);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_basic_auth_caches_successful_checks_only(void **state)
{
	char salt[64], yaml[512], err[512];
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	struct webconfig *wc = NULL, *wc2 = NULL;
	double t0, first, cached, wrong;

	(void)state;
	assert_non_null(cd);
	/* Cost 12: about a quarter second per bcrypt, so a cache hit is unmistakable. */
	assert_non_null(crypt_gensalt_rn("$2b$", 12, NULL, 0, salt, sizeof(salt)));
	assert_non_null(crypt_r("pw", salt, cd));
	snprintf(yaml, sizeof(yaml), "basic_auth_users:\n  u: %s\n", cd->output);
	free(cd);
	write_file("cost12.yml", yaml);
	assert_int_equal(webconfig_load(tmp_path("cost12.yml"), &wc, err, sizeof(err)), 0);

	t0 = now_s();
	assert_int_equal(webconfig_check_user(wc, "u", "pw"), 1);
	first = now_s() - t0;
	t0 = now_s();
	for (int i = 0; i < 100; i++)
		assert_int_equal(webconfig_check_user(wc, "u", "pw"), 1);
	cached = (now_s() - t0) / 100;
	t0 = now_s();
	assert_int_equal(webconfig_check_user(wc, "u", "pW"), 0);
	assert_int_equal(webconfig_check_user(wc, "u", "pW"), 0);
	wrong = (now_s() - t0) / 2;
	print_message("bcrypt cost 12: first check %.1f ms, cached %.3f ms, wrong %.1f ms\n",
		      first * 1e3, cached * 1e3, wrong * 1e3);
	assert_true(cached * 50 < first);
	/* A wrong password is never cached: each try pays for a bcrypt. */
	assert_true(wrong * 2 > first);

	/* A reload of the same users keeps the cache... */
	assert_int_equal(webconfig_load(tmp_path("cost12.yml"), &wc2, err, sizeof(err)), 0);
	webconfig_keep_cache(wc2, wc);
	webconfig_free(wc);
	t0 = now_s();
	assert_int_equal(webconfig_check_user(wc2, "u", "pw"), 1);
	assert_true((now_s() - t0) * 50 < first);
	/* ...but a cached password does not outlive a change of the user's hash. */
	snprintf(yaml, sizeof(yaml), "basic_auth_users:\n  u: " DOCS_HASH "\n");
	write_file("cost12.yml", yaml);
	assert_int_equal(webconfig_load(tmp_path("cost12.yml"), &wc, err, sizeof(err)), 0);
	webconfig_keep_cache(wc, wc2);
	webconfig_free(wc2);
	assert_int_equal(webconfig_check_user(wc, "u", "pw"), 0);
	assert_int_equal(webconfig_check_user(wc, "u", "secret"), 1);
	webconfig_free(wc);
}

struct check_arg {
	struct webconfig *wc;
	const char *user, *password;
	int result;
};

static void *check_thread(void *p)
{
	struct check_arg *a = p;

	a->result = webconfig_check_user(a->wc, a->user, a->password);
	return NULL;
}

/* A flood of wrong passwords: at most 4 checks run or wait for bcrypt, the others are refused
 * at once (-EBUSY, 429) without running it; a password checked before is still accepted from
 * the cache meanwhile (tests/integration/test_hostile_scrapers.py measures the endpoint). */
static void test_password_checks_beyond_four_waiting_are_refused_busy(void **state)
{
	char salt[64], yaml[512], err[512];
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	struct webconfig *wc = NULL;
	struct check_arg args[10];
	pthread_t th[10];
	int wrong = 0, busy = 0;
	double t0;

	(void)state;
	assert_non_null(cd);
	assert_non_null(crypt_gensalt_rn("$2b$", 12, NULL, 0, salt, sizeof(salt)));
	assert_non_null(crypt_r("pw", salt, cd));
	snprintf(yaml, sizeof(yaml), "basic_auth_users:\n  u: %s\n", cd->output);
	free(cd);
	write_file("busy.yml", yaml);
	assert_int_equal(webconfig_load(tmp_path("busy.yml"), &wc, err, sizeof(err)), 0);
	assert_int_equal(webconfig_check_user(wc, "u", "pw"), 1); /* now cached */

	/* Cost 12 is ~0.3 s a check: all 10 threads start long before the first finishes. */
	for (int i = 0; i < 10; i++) {
		args[i] = (struct check_arg){.wc = wc, .user = i % 2 ? "u" : "x", .password = "nope"};
		assert_int_equal(pthread_create(&th[i], NULL, check_thread, &args[i]), 0);
	}
	usleep(100 * 1000);
	t0 = now_s();
	assert_int_equal(webconfig_check_user(wc, "u", "pw"), 1);
	assert_true(now_s() - t0 < 0.05); /* the cache is not behind the queue */
	for (int i = 0; i < 10; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		if (args[i].result == 0)
			wrong++;
		else if (args[i].result == -EBUSY)
			busy++;
		else
			fail_msg("check %d returned %d", i, args[i].result);
	}
	assert_int_equal(wrong, 4);
	assert_int_equal(busy, 6);
	/* Once the queue is empty a check runs again. */
	assert_int_equal(webconfig_check_user(wc, "u", "nope"), 0);
	webconfig_free(wc);
}

/* ---- reload ------------------------------------------------------------------------------ */

static void test_reload_rotates_the_certificate_on_the_same_socket(void **state)
{
	struct server *s = *state;
	struct reply r = {0};

	assert_int_equal(sh("cp server1.crt rot.crt && cp server1.key rot.key"), 0);
	server_start(s, "tls_server_config:\n  cert_file: rot.crt\n  key_file: rot.key\n");
	http(s, &r, "%s/metrics", s->url);
	assert_int_equal(r.status, 200);
	expect_server_cert(&r, "localhost", "server1.crt");

	/* As cert-manager or certbot do: new files in place, then SIGHUP. */
	assert_int_equal(sh("cp server2.crt rot.crt && cp server2.key rot.key"), 0);
	http(s, &r, "%s/metrics", s->url);
	expect_server_cert(&r, "localhost", "server1.crt");
	assert_int_equal(httpd_reload(s->h), 0);
	http(s, &r, "%s/metrics", s->url);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, TEXT_BODY);
	expect_server_cert(&r, "localhost-rotated", "server2.crt");

	/* And again: reloads do not pile up daemons or lose the socket. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(httpd_reload(s->h), 0);
	http(s, &r, "%s/healthz", s->url);
	assert_int_equal(r.status, 200);
	expect_server_cert(&r, "localhost-rotated", "server2.crt");
	reply_free(&r);
}

static void test_reload_under_traffic_loses_no_request(void **state)
{
	struct server *s = *state;
	char yaml[1024], cmd[2048], line[64];
	int ok = 0, other = 0;
	FILE *p;

	users_yaml(yaml, sizeof(yaml),
		   TLS_YAML "  client_auth_type: RequireAndVerifyClientCert\n"
			    "  client_ca_file: ca.crt\n");
	server_start(s, yaml);
	/* New connections (TLS handshake, client certificate, basic auth) while reloading. */
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && for i in $(seq 60); do %s --cert client.crt --key client.key "
		 "-u '" USER ":" PASSWORD "' -o /dev/null -w '%%{http_code}\\n' %s/metrics "
		 "2>&1; sleep 0.01; done",
		 tmpdir, s->curl, s->url);
	p = popen(cmd, "r");
	assert_non_null(p);
	for (int i = 0; i < 30; i++) {
		struct timespec ts = {.tv_nsec = 20 * 1000 * 1000};

		assert_int_equal(httpd_reload(s->h), 0);
		nanosleep(&ts, NULL);
	}
	while (fgets(line, sizeof(line), p)) {
		if (!strcmp(line, "200\n"))
			ok++;
		else
			print_message("request failed: %s", line), other++;
	}
	pclose(p);
	assert_int_equal(other, 0);
	assert_int_equal(ok, 60);
}

static void test_reload_keeps_the_old_config_when_the_new_one_is_invalid(void **state)
{
	static const char *const bad[] = {
		"tls_server_config:\n  cert_file: [\n",
		"tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key\n",
		"tls_server_config:\n  cert_file: garbage.pem\n  key_file: server.key\n",
		"basic_auth_users:\n  " USER ": plaintext\n",
	};
	struct server *s = *state;
	struct reply r = {0};
	char yaml[1024], want[512], *log;
	struct capture c;
	int rc;

	users_yaml(yaml, sizeof(yaml), TLS_YAML);
	server_start(s, yaml);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		write_file(strrchr(s->web, '/') + 1, bad[i]);
		capture_start(&c);
		rc = httpd_reload(s->h);
		log = capture_end(&c);
		expect_int(bad[i], rc, -EINVAL);
		snprintf(want, sizeof(want),
			 " level=error msg=\"Invalid web config file, keeping the previous one: "
			 "%s:",
			 s->web);
		if (!strstr(log, want))
			fail_msg("case '%s': log lacks '%s':\n%s", bad[i], want, log);
		free(log);
		http(s, &r, "%s/metrics", s->url);
		expect_int(bad[i], r.status, 401);
		http(s, &r, "-u '" USER ":" PASSWORD "' %s/metrics", s->url);
		expect_int(bad[i], r.status, 200);
		expect_server_cert(&r, "localhost", "server1.crt");
	}
	/* The file may also vanish. */
	assert_int_equal(unlink(s->web), 0);
	capture_start(&c);
	rc = httpd_reload(s->h);
	free(capture_end(&c));
	assert_int_equal(rc, -ENOENT);
	http(s, &r, "-u '" USER ":" PASSWORD "' %s/metrics", s->url);
	assert_int_equal(r.status, 200);
	reply_free(&r);
}

static void test_reload_switches_users_and_headers(void **state)
{
	struct server *s = *state;
	struct reply r = {0};
	char yaml[1024];

	users_yaml(yaml, sizeof(yaml), "");
	server_start(s, yaml);
	http(s, &r, "-u '" USER ":" PASSWORD "' %s/metrics", s->url);
	assert_int_equal(r.status, 200);
	assert_string_equal(header(&r, "X-Content-Type-Options"), "nosniff");

	write_file(strrchr(s->web, '/') + 1, "basic_auth_users:\n  " DOCS_USER ": " DOCS_HASH "\n"
					     "http_server_config:\n  headers:\n"
					     "    X-Frame-Options: deny\n");
	assert_int_equal(httpd_reload(s->h), 0);
	http(s, &r, "-u '" USER ":" PASSWORD "' %s/metrics", s->url);
	assert_int_equal(r.status, 401);
	assert_string_equal(header(&r, "X-Frame-Options"), "deny");
	assert_string_equal(header(&r, "X-Content-Type-Options"), "");
	http(s, &r, "-u " DOCS_USER ":secret %s/metrics", s->url);
	assert_int_equal(r.status, 200);

	/* From HTTP to HTTPS on the same port. */
	write_file(strrchr(s->web, '/') + 1, TLS_YAML);
	assert_int_equal(httpd_reload(s->h), 0);
	http(s, &r, "%s/metrics", s->url);
	assert_int_equal(r.status, 0);
	http(s, &r, "--cacert ca.crt https://localhost:%d/metrics", s->port);
	assert_int_equal(r.status, 200);
	reply_free(&r);
}

/* ---- web config file --------------------------------------------------------------------- */

static const struct web_error_case {
	const char *name, *yaml, *want; /* want follows "PATH:" */
} web_error_cases[] = {
	{"unknown top-level key", "tls_server_config:\nfoo: 1\n",
	 "2:1: web config: unknown field \"foo\""},
	{"unknown tls key", "tls_server_config:\n  cert_fil: server.crt\n",
	 "2:3: tls_server_config: unknown field \"cert_fil\""},
	{"unsupported toolkit key", TLS_YAML "  cipher_suites: [TLS_AES_128_GCM_SHA256]\n",
	 "4:3: tls_server_config: field \"cipher_suites\" is not supported by sockeye"},
	{"yaml syntax", "tls_server_config:\n  cert_file: \"server.crt\n",
	 "3:1: while scanning a quoted scalar at 2:14: found unexpected end of stream"},
	{"bad indentation", "tls_server_config:\n  cert_file: a\n key_file: b\n",
	 "3:2: while parsing a block mapping at 1:1: did not find expected key"},
	{"not a mapping", "- a\n- b\n", "1:1: expected a mapping at the top level"},
	{"section not a mapping", "tls_server_config: yes\n",
	 "1:20: tls_server_config: expected a mapping"},
	{"list where a string goes", "tls_server_config:\n  cert_file: [a, b]\n",
	 "2:14: cert_file: expected a string"},
	{"duplicate key", TLS_YAML "  cert_file: other.crt\n",
	 "4:3: tls_server_config: duplicate key \"cert_file\""},
	{"missing key_file", "tls_server_config:\n  cert_file: server.crt\n",
	 "1:1: tls_server_config: missing key_file"},
	{"missing cert_file", "tls_server_config:\n  key_file: server.key\n",
	 "1:1: tls_server_config: missing cert_file"},
	{"bad client_auth_type", TLS_YAML "  client_auth_type: Always\n",
	 "4:21: invalid client_auth_type \"Always\" (want NoClientCert, RequestClientCert, "
	 "RequireAnyClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert)"},
	{"CA without client auth", TLS_YAML "  client_ca_file: ca.crt\n",
	 "4:19: client_ca_file is set but client_auth_type is NoClientCert"},
	{"verification without CA", TLS_YAML "  client_auth_type: RequireAndVerifyClientCert\n",
	 "4:21: client_auth_type RequireAndVerifyClientCert needs client_ca_file"},
	{"bad min_version", TLS_YAML "  min_version: TLS14\n",
	 "4:16: invalid min_version \"TLS14\" (want TLS10, TLS11, TLS12 or TLS13)"},
	{"max below min", TLS_YAML "  min_version: TLS13\n  max_version: TLS12\n",
	 "5:16: max_version TLS12 is below min_version TLS13"},
	{"bad boolean", TLS_YAML "  prefer_server_cipher_suites: maybe\n",
	 "4:32: prefer_server_cipher_suites: expected true or false"},
	{"header not allowed", "http_server_config:\n  headers:\n    Server: sockeye\n",
	 "3:5: http_server_config.headers: HTTP header \"Server\" can not be configured "
	 "(allowed: Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, "
	 "X-XSS-Protection, Content-Security-Policy)"},
	{"bad X-Frame-Options", "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
	 "3:22: http_server_config.headers: invalid value \"allow\" for X-Frame-Options "
	 "(want deny or sameorigin)"},
	{"bad X-Content-Type-Options",
	 "http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n",
	 "3:29: http_server_config.headers: invalid value \"sniff\" for "
	 "X-Content-Type-Options (want nosniff)"},
	{"header twice in other case",
	 "http_server_config:\n  headers:\n    X-Frame-Options: deny\n"
	 "    x-frame-options: deny\n",
	 "4:5: http_server_config.headers: duplicate header \"x-frame-options\""},
	{"header with a newline",
	 "http_server_config:\n  headers:\n    Content-Security-Policy: \"a\\nb\"\n",
	 "3:30: http_server_config.headers: value of \"Content-Security-Policy\" contains a "
	 "control character"},
	{"plain password", "basic_auth_users:\n  alice: secret\n",
	 "2:10: basic_auth_users: password of \"alice\" is not a bcrypt hash ($2a$, $2b$ or "
	 "$2y$)"},
	{"sha512 password", "basic_auth_users:\n  alice: $6$salt$abcdef\n",
	 "2:10: basic_auth_users: password of \"alice\" is not a bcrypt hash ($2a$, $2b$ or "
	 "$2y$)"},
	{"truncated bcrypt", "basic_auth_users:\n  alice: $2b$10$aJQ0mQHYqc13c6TW.cOoN.0EhF\n",
	 "2:10: basic_auth_users: password of \"alice\" is not a bcrypt hash ($2a$, $2b$ or "
	 "$2y$)"},
	{"colon in user name", "basic_auth_users:\n  \"a:b\": " DOCS_HASH "\n",
	 "2:3: basic_auth_users: user name \"a:b\" must be non-empty and without ':'"},
	{"missing cert file",
	 "tls_server_config:\n  cert_file: missing.crt\n"
	 "  key_file: server.key\n",
	 "2:14: cannot read cert_file \"TMP/missing.crt\": No such file or directory"},
	{"cert file is a directory",
	 "tls_server_config:\n  cert_file: /\n"
	 "  key_file: server.key\n",
	 "2:14: cannot read cert_file \"/\": Is a directory"},
	{"garbage cert",
	 "tls_server_config:\n  cert_file: garbage.pem\n"
	 "  key_file: server.key\n",
	 "2:14: invalid cert_file \"TMP/garbage.pem\": Base64 unexpected header error."},
	{"garbage key",
	 "tls_server_config:\n  cert_file: server.crt\n"
	 "  key_file: garbage.pem\n",
	 "3:13: invalid key_file \"TMP/garbage.pem\": The requested data were not available."},
	{"key of another certificate",
	 "tls_server_config:\n  cert_file: server.crt\n"
	 "  key_file: server2.key\n",
	 "3:13: key_file \"TMP/server2.key\" does not fit cert_file \"TMP/server.crt\": The "
	 "certificate and the given key do not match."},
	{"garbage CA",
	 TLS_YAML "  client_auth_type: RequireAndVerifyClientCert\n"
		  "  client_ca_file: garbage.pem\n",
	 "5:19: invalid client_ca_file \"TMP/garbage.pem\": no certificate found"},
	{"two documents", TLS_YAML "---\nbasic_auth_users: {}\n",
	 "5:1: only one YAML document is allowed"},
};

static void test_web_config_errors_name_file_line_and_column(void **state)
{
	char path[256], err[1024], want[1400];
	struct webconfig *wc;
	int rc;

	(void)state;
	snprintf(path, sizeof(path), "%s/bad.yml", tmpdir);
	for (size_t i = 0; i < ARRAY_SIZE(web_error_cases); i++) {
		char wanted[1024];

		expand_tmp(wanted, sizeof(wanted), web_error_cases[i].want);
		write_file("bad.yml", web_error_cases[i].yaml);
		wc = (struct webconfig *)1;
		rc = webconfig_load(path, &wc, err, sizeof(err));
		expect_int(web_error_cases[i].name, rc, -EINVAL);
		if (wc)
			fail_msg("case '%s': config returned", web_error_cases[i].name);
		snprintf(want, sizeof(want), "%s:%s", path, wanted);
		expect_str(web_error_cases[i].name, err, want);
	}
	assert_int_equal(webconfig_load(tmp_path("absent.yml"), &wc, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "%s: No such file or directory", tmp_path("absent.yml"));
	assert_string_equal(err, want);
}

/* The web config and the files it names decide who may scrape and whom the agent trusts: one
 * that others may write is refused; a key others may only read is accepted (Kubernetes mounts
 * Secrets 0644). */
static void test_web_config_and_its_files_writable_by_others_are_refused(void **state)
{
	static const char *const writable =
		"writable by group or others: refusing a file anyone could change (chmod go-w it)";
	char err[1024], want[1400], key[256];
	struct webconfig *wc = NULL;

	(void)state;
	snprintf(key, sizeof(key), "%s/perm.key", tmpdir);
	assert_int_equal(sh("cd '%s' && cp server.key perm.key", tmpdir), 0);
	write_file("perm.yml", "tls_server_config:\n  cert_file: server.crt\n  key_file: perm.key\n");

	assert_int_equal(chmod(tmp_path("perm.yml"), 0666), 0);
	assert_int_equal(webconfig_load(tmp_path("perm.yml"), &wc, err, sizeof(err)), -EPERM);
	assert_null(wc);
	snprintf(want, sizeof(want), "%s: %s", tmp_path("perm.yml"), writable);
	assert_string_equal(err, want);

	assert_int_equal(chmod(tmp_path("perm.yml"), 0644), 0);
	assert_int_equal(chmod(key, 0620), 0);
	assert_int_equal(webconfig_load(tmp_path("perm.yml"), &wc, err, sizeof(err)), -EINVAL);
	assert_null(wc);
	snprintf(want, sizeof(want), "%s:3:13: cannot read key_file \"%s\": %s",
		 tmp_path("perm.yml"), key, writable);
	assert_string_equal(err, want);

	assert_int_equal(chmod(key, 0644), 0);
	assert_int_equal(webconfig_load(tmp_path("perm.yml"), &wc, err, sizeof(err)), 0);
	assert_true(wc->tls);
	webconfig_free(wc);
}

static const struct web_good_case {
	const char *name, *yaml;
	bool tls;
	enum webconfig_client_auth ca;
	const char *priorities;
	size_t users, headers;
} web_good_cases[] = {
	{"empty file", "", false, 0, "", 0, 0},
	{"comment only", "# nothing\n", false, 0, "", 0, 0},
	{"empty sections", "tls_server_config:\nbasic_auth_users:\nhttp_server_config: {}\n", false,
	 0, "", 0, 0},
	{"tls defaults", TLS_YAML, true, WEBCONFIG_NO_CLIENT_CERT,
	 "NORMAL:-VERS-ALL:+VERS-TLS1.2:+VERS-TLS1.3:%SERVER_PRECEDENCE", 0, 0},
	{"tls versions",
	 TLS_YAML "  min_version: TLS10\n  max_version: TLS11\n"
		  "  prefer_server_cipher_suites: false\n",
	 true, WEBCONFIG_NO_CLIENT_CERT, "NORMAL:-VERS-ALL:+VERS-TLS1.0:+VERS-TLS1.1", 0, 0},
	{"absolute paths and quoting",
	 "tls_server_config:\n  \"cert_file\": 'TMP/server.crt'\n"
	 "  key_file: \"TMP/server.key\"\n",
	 true, WEBCONFIG_NO_CLIENT_CERT,
	 "NORMAL:-VERS-ALL:+VERS-TLS1.2:+VERS-TLS1.3:%SERVER_PRECEDENCE", 0, 0},
	{"client CA",
	 TLS_YAML "  client_auth_type: VerifyClientCertIfGiven\n"
		  "  client_ca_file: ca.crt\n",
	 true, WEBCONFIG_VERIFY_CLIENT_CERT_IF_GIVEN,
	 "NORMAL:-VERS-ALL:+VERS-TLS1.2:+VERS-TLS1.3:%SERVER_PRECEDENCE", 0, 0},
	{"old RequireClientCert spelling", TLS_YAML "  client_auth_type: RequireClientCert\n", true,
	 WEBCONFIG_REQUIRE_ANY_CLIENT_CERT,
	 "NORMAL:-VERS-ALL:+VERS-TLS1.2:+VERS-TLS1.3:%SERVER_PRECEDENCE", 0, 0},
	{"users in every bcrypt flavour",
	 "basic_auth_users:\n  a: " DOCS_HASH "\n"
	 "  b: $2y$10$aJQ0mQHYqc13c6TW.cOoN.0EhFcBNm1trFGA8jyPjVn6HCOlgIEkq\n"
	 "  c: $2a$10$aJQ0mQHYqc13c6TW.cOoN.0EhFcBNm1trFGA8jyPjVn6HCOlgIEkq\n",
	 false, 0, "", 3, 0},
	{"headers in flow style",
	 "http_server_config:\n  http2: false\n  headers: {"
	 "Strict-Transport-Security: max-age=31536000, "
	 "X-XSS-Protection: '1; mode=block', "
	 "Content-Security-Policy: default-src 'none', "
	 "x-frame-options: SAMEORIGIN}\n",
	 false, 0, "", 0, 4},
};

static void test_web_config_accepts_the_toolkit_forms(void **state)
{
	char path[256], err[1024], yaml[1024];
	struct webconfig *wc;

	(void)state;
	snprintf(path, sizeof(path), "%s/good.yml", tmpdir);
	for (size_t i = 0; i < ARRAY_SIZE(web_good_cases); i++) {
		expand_tmp(yaml, sizeof(yaml), web_good_cases[i].yaml);
		write_file("good.yml", yaml);
		wc = NULL;
		if (webconfig_load(path, &wc, err, sizeof(err)))
			fail_msg("case '%s': %s", web_good_cases[i].name, err);
		expect_int(web_good_cases[i].name, wc->tls, web_good_cases[i].tls);
		expect_int(web_good_cases[i].name, wc->client_auth, web_good_cases[i].ca);
		expect_str(web_good_cases[i].name, wc->priorities, web_good_cases[i].priorities);
		expect_int(web_good_cases[i].name, wc->n_users, web_good_cases[i].users);
		expect_int(web_good_cases[i].name, wc->n_headers, web_good_cases[i].headers);
		webconfig_free(wc);
	}
	/* Header names take their canonical spelling; the $2y$ and $2a$ users log in. */
	write_file("good.yml", web_good_cases[ARRAY_SIZE(web_good_cases) - 1].yaml);
	assert_int_equal(webconfig_load(path, &wc, err, sizeof(err)), 0);
	assert_string_equal(wc->headers[3].name, "X-Frame-Options");
	assert_string_equal(wc->headers[3].value, "SAMEORIGIN");
	assert_string_equal(wc->headers[1].value, "1; mode=block");
	webconfig_free(wc);
	write_file("good.yml", web_good_cases[ARRAY_SIZE(web_good_cases) - 2].yaml);
	assert_int_equal(webconfig_load(path, &wc, err, sizeof(err)), 0);
	assert_int_equal(webconfig_check_user(wc, "b", "secret"), 1);
	assert_int_equal(webconfig_check_user(wc, "c", "secret"), 1);
	assert_int_equal(webconfig_check_user(wc, "c", "Secret"), 0);
	webconfig_free(wc);
}

static void test_invalid_web_config_fails_start_with_the_reason(void **state)
{
	struct server *s = *state;
	const char *listen[1] = {s->addr};
	struct httpd_options o = {
		.listen = listen,
		.n_listen = 1,
		.telemetry_path = "/metrics",
		.web_config_file = tmp_path("web-bad-start.yml"),
		.scrape = fake_scrape,
		.arg = &s->fake,
	};
	struct capture c;
	char want[512], *log;
	int err;

	snprintf(s->addr, sizeof(s->addr), "127.0.0.1:%d", free_port());
	write_file("web-bad-start.yml", "tls_server_config:\n  cert_file: server.crt\n");
	capture_start(&c);
	s->h = httpd_start(&o);
	err = errno;
	log = capture_end(&c);
	assert_null(s->h);
	assert_int_equal(err, EINVAL);
	snprintf(want, sizeof(want),
		 " level=error msg=\"Invalid web config file: %s:1:1: tls_server_config: missing "
		 "key_file\"\n",
		 o.web_config_file);
	if (!strstr(log, want))
		fail_msg("log lacks '%s':\n%s", want, log);
	free(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(t) cmocka_unit_test_setup_teardown(t, setup_server, teardown_server)
		T(test_metrics_path_serves_the_scrape_as_text_004),
		T(test_head_sends_the_headers_of_get_without_a_body),
		T(test_unknown_paths_are_404),
		T(test_percent_encoded_paths_decode_but_nul_does_not_end_them),
		T(test_concurrent_scrapes_share_one_scrape),
		T(test_other_methods_are_405_with_allow_get_head),
		T(test_landing_page_links_to_the_telemetry_path),
		T(test_healthz_is_ok_and_readyz_follows_the_ready_callback),
		T(test_scrape_failure_is_500_with_the_reason),
		T(test_keep_alive_serves_several_requests_on_one_connection),
		T(test_gzip_when_accepted_and_not_with_q_zero),
		T(test_openmetrics_when_accepted),
		T(test_start_logs_each_bound_address),
		T(test_port_only_listens_on_ipv4_and_ipv6),
		T(test_port_in_use_fails_with_eaddrinuse_and_says_so),
		T(test_bad_listen_addresses_fail_with_a_reason),
		T(test_tls_serves_the_configured_certificate),
		T(test_plain_http_to_a_tls_listener_is_closed_cleanly),
		T(test_tls_versions_follow_min_and_max_version),
		T(test_client_certificates_follow_client_auth_type),
		T(test_basic_auth_accepts_only_the_right_password),
		T(test_basic_auth_caches_successful_checks_only),
		T(test_password_checks_beyond_four_waiting_are_refused_busy),
		T(test_reload_rotates_the_certificate_on_the_same_socket),
		T(test_reload_under_traffic_loses_no_request),
		T(test_reload_keeps_the_old_config_when_the_new_one_is_invalid),
		T(test_reload_switches_users_and_headers),
		T(test_web_config_errors_name_file_line_and_column),
		T(test_web_config_and_its_files_writable_by_others_are_refused),
		T(test_web_config_accepts_the_toolkit_forms),
		T(test_invalid_web_config_fails_start_with_the_reason),
#undef T
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
