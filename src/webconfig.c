// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* webconfig.c - load the exporter-toolkit web config (libyaml); check TLS material, passwords. */
#include <crypt.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "webconfig.h"

/* Certificates and keys are small; a bigger file is a wrong path, not a certificate. */
#define WEBCONFIG_MAX_PEM_SIZE (1u << 20)
/* Successful password checks remembered per configuration (one slot per distinct pair). */
#define AUTH_CACHE_SLOTS 16
#define AUTH_MAC_SIZE	 32 /* HMAC-SHA256 */
/* Password checks that may run or wait for bcrypt at once (one runs at a time). Beyond that a
 * check is refused without running bcrypt (-EBUSY, served as 429): a flood of wrong passwords
 * then costs at most one core, never holds connections for long, and passwords already checked
 * (the cache) are never behind it. At cost 10 (~90 ms here) a waiter waits under 0.4 s. */
#define BCRYPT_PENDING_MAX 4

/*
 * The GnuTLS functions used here. libsockeye is linked without -lgnutls (Makefile LDLIBS), yet
 * GnuTLS is always in the process as libmicrohttpd's TLS backend, so these are looked up there
 * by name, once. With -lgnutls they would become direct calls and this table could go.
 */
#define GNUTLS_FUNCS(X)                                                                            \
	X(gnutls_strerror)                                                                         \
	X(gnutls_x509_crt_init)                                                                    \
	X(gnutls_x509_crt_import)                                                                  \
	X(gnutls_x509_crt_deinit)                                                                  \
	X(gnutls_x509_privkey_init)                                                                \
	X(gnutls_x509_privkey_import2)                                                             \
	X(gnutls_x509_privkey_deinit)                                                              \
	X(gnutls_certificate_allocate_credentials)                                                 \
	X(gnutls_certificate_free_credentials)                                                     \
	X(gnutls_certificate_set_x509_key_mem2)                                                    \
	X(gnutls_certificate_set_x509_trust_mem)                                                   \
	X(gnutls_certificate_server_set_request)                                                   \
	X(gnutls_session_set_verify_function)                                                      \
	X(gnutls_certificate_get_peers)                                                            \
	X(gnutls_certificate_verify_peers)                                                         \
	X(gnutls_hmac_fast)

/* Written once under gt_once, read-only afterwards. */
static struct {
#define GNUTLS_FIELD(f) __typeof__(f) *f;
	GNUTLS_FUNCS(GNUTLS_FIELD)
#undef GNUTLS_FIELD
	const char *missing; /* first function not found; NULL when all were */
} gt;
static pthread_once_t gt_once = PTHREAD_ONCE_INIT;

static void gt_resolve(void)
{
#define GNUTLS_RESOLVE(f)                                                                          \
	gt.f = (__typeof__(gt.f))dlsym(RTLD_DEFAULT, #f);                                          \
	if (!gt.f && !gt.missing)                                                                  \
		gt.missing = #f;
	GNUTLS_FUNCS(GNUTLS_RESOLVE)
#undef GNUTLS_RESOLVE
}

static int gt_load(void)
{
	pthread_once(&gt_once, gt_resolve);
	return gt.missing ? -ENOSYS : 0;
}

static const char *const client_auth_names[] = {
	[WEBCONFIG_NO_CLIENT_CERT] = "NoClientCert",
	[WEBCONFIG_REQUEST_CLIENT_CERT] = "RequestClientCert",
	[WEBCONFIG_REQUIRE_ANY_CLIENT_CERT] = "RequireAnyClientCert",
	[WEBCONFIG_VERIFY_CLIENT_CERT_IF_GIVEN] = "VerifyClientCertIfGiven",
	[WEBCONFIG_REQUIRE_AND_VERIFY_CLIENT_CERT] = "RequireAndVerifyClientCert",
};
_Static_assert(sizeof(client_auth_names) / sizeof(client_auth_names[0]) ==
		       WEBCONFIG_CLIENT_AUTH_MAX,
	       "client_auth_names[] must name every enum webconfig_client_auth");

/* min_version/max_version values, oldest first, and their GnuTLS priority names. */
static const struct {
	const char *name;
	const char *gnutls;
} tls_versions[] = {
	{"TLS10", "+VERS-TLS1.0"},
	{"TLS11", "+VERS-TLS1.1"},
	{"TLS12", "+VERS-TLS1.2"},
	{"TLS13", "+VERS-TLS1.3"},
};
#define TLS_VERSION_DEFAULT_MIN 2 /* TLS12, exporter-toolkit's default */
#define TLS_VERSION_DEFAULT_MAX 3

/* The headers exporter-toolkit lets a web config set, with the values allowed where the header
 * is an enumeration (no list: any value). Names match case-insensitively, as HTTP's do. */
static const struct {
	const char *name;
	const char *values[3];
} allowed_headers[] = {
	{"Strict-Transport-Security", {NULL}},
	{"X-Content-Type-Options", {"nosniff", NULL}},
	{"X-Frame-Options", {"deny", "sameorigin", NULL}},
	{"X-XSS-Protection", {NULL}},
	{"Content-Security-Policy", {NULL}},
};

/* bcrypt of a random password: unknown users are checked against it so that their requests take
 * as long as a known user's, and timing does not tell which users exist. */
static const char dummy_hash[] = "$2b$10$dGirFbHy39VMRzRIV9nogumYpM7YWh.3uQWqEzf/R1yJuKQln25ei";

struct webconfig_auth_cache {
	atomic_uint pending;	     /* checks running or waiting for bcrypt_lock */
	pthread_mutex_t bcrypt_lock; /* one bcrypt at a time; guards cd */
	struct crypt_data cd;
	pthread_mutex_t lock; /* guards the slots */
	bool have_key;
	unsigned char key[AUTH_MAC_SIZE];
	unsigned char mac[AUTH_CACHE_SLOTS][AUTH_MAC_SIZE];
	bool used[AUTH_CACHE_SLOTS];
	unsigned int next;
};

/* A string field as read from the file, with its position for later messages. */
struct pstr {
	char *s; /* NULL when absent, null or empty */
	yaml_mark_t mark;
};

struct parse {
	const char *path;
	yaml_document_t *doc;
	struct webconfig *wc;
	char *err;
	size_t errlen;

	bool have_tls;
	yaml_mark_t tls_mark;
	struct pstr cert_file, key_file, client_auth_type, client_ca_file, min_version, max_version;
	bool prefer_server_cipher_suites;
	bool http2;
};

enum field_kind {
	FIELD_STRING,	   /* struct pstr at off */
	FIELD_BOOL,	   /* bool at off */
	FIELD_SECTION,	   /* parsed by section() */
	FIELD_UNSUPPORTED, /* exporter-toolkit has it, sockeye does not */
};

struct field {
	const char *name;
	enum field_kind kind;
	size_t off;
	int (*section)(struct parse *p, const yaml_node_t *key, const yaml_node_t *val);
};

static int fail_mark(struct parse *p, const yaml_mark_t *mark, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail_mark(struct parse *p, const yaml_mark_t *mark, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (mark)
		n = snprintf(p->err, p->errlen, "%s:%zu:%zu: ", p->path, mark->line + 1,
			     mark->column + 1);
	else
		n = snprintf(p->err, p->errlen, "%s: ", p->path);
	if (n < 0 || (size_t)n >= p->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static const char *scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static bool is_null(const yaml_node_t *n)
{
	const char *v;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	v = scalar(n);
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	       !strcmp(v, "NULL");
}

/* A scalar usable as a C string: no NUL inside (libyaml allows "\0" in quoted scalars). */
static int get_scalar(struct parse *p, const yaml_node_t *n, const char *what, const char **out)
{
	if (n->type != YAML_SCALAR_NODE)
		return fail_mark(p, &n->start_mark, "%s: expected a string", what);
	if (strlen(scalar(n)) != n->data.scalar.length)
		return fail_mark(p, &n->start_mark, "%s: contains a NUL byte", what);
	*out = is_null(n) ? "" : scalar(n);
	return 0;
}

static int get_string(struct parse *p, const yaml_node_t *n, const char *what, struct pstr *out)
{
	const char *v;
	int err;

	err = get_scalar(p, n, what, &v);
	if (err)
		return err;
	free(out->s);
	out->s = NULL;
	out->mark = n->start_mark;
	if (!*v)
		return 0;
	out->s = strdup(v);
	return out->s ? 0 : -ENOMEM;
}

static int get_bool(struct parse *p, const yaml_node_t *n, const char *what, bool *out)
{
	static const char *const yes[] = {"true", "True", "TRUE"};
	static const char *const no[] = {"false", "False", "FALSE"};

	if (n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
			if (!strcmp(scalar(n), yes[i]) || !strcmp(scalar(n), no[i])) {
				*out = !strcmp(scalar(n), yes[i]);
				return 0;
			}
		}
	}
	return fail_mark(p, &n->start_mark, "%s: expected true or false", what);
}

/* Calls visit for each pair of mapping n; rejects non-mappings, non-string and duplicate keys.
 * A null value (an empty section) is an empty mapping. */
static int walk_mapping(struct parse *p, const yaml_node_t *n, const char *what,
			int (*visit)(struct parse *p, const char *what, const yaml_node_t *key,
				     const yaml_node_t *val, const void *ctx),
			const void *ctx)
{
	yaml_node_pair_t *pair, *prev;
	int err;

	if (is_null(n))
		return 0;
	if (n->type != YAML_MAPPING_NODE)
		return fail_mark(p, &n->start_mark, "%s: expected a mapping", what);
	for (pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
		const yaml_node_t *key = yaml_document_get_node(p->doc, pair->key);
		const yaml_node_t *val = yaml_document_get_node(p->doc, pair->value);
		const char *name;

		err = get_scalar(p, key, what, &name);
		if (err)
			return err;
		for (prev = n->data.mapping.pairs.start; prev < pair; prev++) {
			const yaml_node_t *pk = yaml_document_get_node(p->doc, prev->key);

			if (!strcmp(scalar(pk), name))
				return fail_mark(p, &key->start_mark, "%s: duplicate key \"%s\"",
						 what, name);
		}
		err = visit(p, what, key, val, ctx);
		if (err)
			return err;
	}
	return 0;
}

/* Visits one pair of a section made of struct field entries (ctx: NULL-terminated array). */
static int visit_field(struct parse *p, const char *what, const yaml_node_t *key,
		       const yaml_node_t *val, const void *ctx)
{
	const struct field *f;
	const char *name = scalar(key);

	for (f = ctx; f->name; f++)
		if (!strcmp(f->name, name))
			break;
	if (!f->name)
		return fail_mark(p, &key->start_mark, "%s: unknown field \"%s\"", what, name);
	switch (f->kind) {
	case FIELD_STRING:
		return get_string(p, val, name, (struct pstr *)((char *)p + f->off));
	case FIELD_BOOL:
		return get_bool(p, val, name, (bool *)((char *)p + f->off));
	case FIELD_SECTION:
		return f->section(p, key, val);
	case FIELD_UNSUPPORTED:
		break;
	}
	return fail_mark(p, &key->start_mark, "%s: field \"%s\" is not supported by sockeye", what,
			 name);
}

static const struct field tls_fields[] = {
	{"cert_file", FIELD_STRING, offsetof(struct parse, cert_file), NULL},
	{"key_file", FIELD_STRING, offsetof(struct parse, key_file), NULL},
	{"client_auth_type", FIELD_STRING, offsetof(struct parse, client_auth_type), NULL},
	{"client_ca_file", FIELD_STRING, offsetof(struct parse, client_ca_file), NULL},
	{"min_version", FIELD_STRING, offsetof(struct parse, min_version), NULL},
	{"max_version", FIELD_STRING, offsetof(struct parse, max_version), NULL},
	{"prefer_server_cipher_suites", FIELD_BOOL,
	 offsetof(struct parse, prefer_server_cipher_suites), NULL},
	{"cert", FIELD_UNSUPPORTED, 0, NULL},
	{"key", FIELD_UNSUPPORTED, 0, NULL},
	{"client_ca", FIELD_UNSUPPORTED, 0, NULL},
	{"cipher_suites", FIELD_UNSUPPORTED, 0, NULL},
	{"curve_preferences", FIELD_UNSUPPORTED, 0, NULL},
	{"client_allowed_sans", FIELD_UNSUPPORTED, 0, NULL},
	{NULL, 0, 0, NULL},
};

static int section_tls(struct parse *p, const yaml_node_t *key, const yaml_node_t *val)
{
	p->have_tls = true;
	p->tls_mark = key->start_mark;
	return walk_mapping(p, val, "tls_server_config", visit_field, tls_fields);
}

static int visit_header(struct parse *p, const char *what, const yaml_node_t *key,
			const yaml_node_t *val, const void *ctx)
{
	struct webconfig *wc = p->wc;
	struct webconfig_header *h;
	const char *name = scalar(key), *value;
	size_t i, j;
	int err;

	(void)ctx;
	for (i = 0; i < sizeof(allowed_headers) / sizeof(allowed_headers[0]); i++)
		if (!strcasecmp(name, allowed_headers[i].name))
			break;
	if (i == sizeof(allowed_headers) / sizeof(allowed_headers[0]))
		return fail_mark(p, &key->start_mark,
				 "%s: HTTP header \"%s\" can not be configured (allowed: "
				 "Strict-Transport-Security, X-Content-Type-Options, "
				 "X-Frame-Options, X-XSS-Protection, Content-Security-Policy)",
				 what, name);
	for (j = 0; j < wc->n_headers; j++)
		if (!strcmp(wc->headers[j].name, allowed_headers[i].name))
			return fail_mark(p, &key->start_mark, "%s: duplicate header \"%s\"", what,
					 name);
	err = get_scalar(p, val, allowed_headers[i].name, &value);
	if (err)
		return err;
	for (const char *c = value; *c; c++)
		if ((unsigned char)*c < 0x20 && *c != '\t')
			return fail_mark(p, &val->start_mark,
					 "%s: value of \"%s\" contains a control character", what,
					 name);
	if (allowed_headers[i].values[0]) {
		for (j = 0; allowed_headers[i].values[j]; j++)
			if (!strcasecmp(value, allowed_headers[i].values[j]))
				break;
		if (!allowed_headers[i].values[j])
			return fail_mark(
				p, &val->start_mark,
				"%s: invalid value \"%s\" for %s (want %s%s%s)", what, value,
				allowed_headers[i].name, allowed_headers[i].values[0],
				allowed_headers[i].values[1] ? " or " : "",
				allowed_headers[i].values[1] ? allowed_headers[i].values[1] : "");
	}
	h = realloc(wc->headers, (wc->n_headers + 1) * sizeof(*h));
	if (!h)
		return -ENOMEM;
	wc->headers = h;
	h = &wc->headers[wc->n_headers];
	h->name = strdup(allowed_headers[i].name);
	h->value = strdup(value);
	wc->n_headers++;
	return h->name && h->value ? 0 : -ENOMEM;
}

static int section_headers(struct parse *p, const yaml_node_t *key, const yaml_node_t *val)
{
	(void)key;
	return walk_mapping(p, val, "http_server_config.headers", visit_header, NULL);
}

static const struct field http_fields[] = {
	{"headers", FIELD_SECTION, 0, section_headers},
	/* libmicrohttpd speaks HTTP/1.1 only: accepted for compatibility, has no effect. */
	{"http2", FIELD_BOOL, offsetof(struct parse, http2), NULL},
	{NULL, 0, 0, NULL},
};

static int section_http(struct parse *p, const yaml_node_t *key, const yaml_node_t *val)
{
	(void)key;
	return walk_mapping(p, val, "http_server_config", visit_field, http_fields);
}

/* bcrypt's modular format: "$2b$" cost "$" then 53 characters of its base64 alphabet (22 salt,
 * 31 hash), 60 in all. crypt_checksalt() only looks at the prefix. */
static bool is_bcrypt_hash(const char *h)
{
	static const char b64[] = "./ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789";
	int cost;

	if (strlen(h) != 60 || h[0] != '$' || h[1] != '2' || !strchr("aby", h[2]) || h[3] != '$' ||
	    h[4] < '0' || h[4] > '9' || h[5] < '0' || h[5] > '9' || h[6] != '$')
		return false;
	cost = (h[4] - '0') * 10 + (h[5] - '0');
	if (cost < 4 || cost > 31)
		return false;
	return strspn(h + 7, b64) == 53 && crypt_checksalt(h) == CRYPT_SALT_OK;
}

static int visit_user(struct parse *p, const char *what, const yaml_node_t *key,
		      const yaml_node_t *val, const void *ctx)
{
	struct webconfig *wc = p->wc;
	struct webconfig_user *u;
	const char *name = scalar(key), *hash;
	int err;

	(void)ctx;
	if (!*name || strchr(name, ':'))
		return fail_mark(p, &key->start_mark,
				 "%s: user name \"%s\" must be non-empty and without ':'", what,
				 name);
	err = get_scalar(p, val, what, &hash);
	if (err)
		return err;
	if (!is_bcrypt_hash(hash))
		return fail_mark(p, &val->start_mark,
				 "%s: password of \"%s\" is not a bcrypt hash ($2a$, $2b$ or $2y$)",
				 what, name);
	u = realloc(wc->users, (wc->n_users + 1) * sizeof(*u));
	if (!u)
		return -ENOMEM;
	wc->users = u;
	u = &wc->users[wc->n_users];
	u->name = strdup(name);
	u->hash = strdup(hash);
	wc->n_users++;
	return u->name && u->hash ? 0 : -ENOMEM;
}

static int section_users(struct parse *p, const yaml_node_t *key, const yaml_node_t *val)
{
	(void)key;
	return walk_mapping(p, val, "basic_auth_users", visit_user, NULL);
}

static const struct field top_fields[] = {
	{"tls_server_config", FIELD_SECTION, 0, section_tls},
	{"http_server_config", FIELD_SECTION, 0, section_http},
	{"basic_auth_users", FIELD_SECTION, 0, section_users},
	{"rate_limit", FIELD_UNSUPPORTED, 0, NULL},
	{NULL, 0, 0, NULL},
};

/* Relative file names are relative to the web config file's directory, as in exporter-toolkit. */
static char *resolve_path(const char *config_path, const char *file)
{
	const char *slash = strrchr(config_path, '/');
	size_t dirlen, len;
	char *out;

	if (file[0] == '/' || !slash)
		return strdup(file);
	dirlen = (size_t)(slash - config_path);
	len = dirlen + 1 + strlen(file) + 1;
	out = malloc(len);
	if (out)
		snprintf(out, len, "%.*s/%s", (int)dirlen, config_path, file);
	return out;
}

/* Reads a whole file into a NUL-terminated string. Returns 0 or a negative errno. */
static int read_small_file(const char *path, char **out)
{
	struct stat st;
	ssize_t n;
	size_t len = 0;
	char *data = NULL;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		goto cleanup;
	}
	if (!S_ISREG(st.st_mode)) {
		err = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		goto cleanup;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		err = -EPERM; /* WRITABLE_REASON */
		goto cleanup;
	}
	if ((size_t)st.st_size > WEBCONFIG_MAX_PEM_SIZE) {
		err = -EFBIG;
		goto cleanup;
	}
	data = malloc((size_t)st.st_size + 1);
	if (!data) {
		err = -ENOMEM;
		goto cleanup;
	}
	while (len < (size_t)st.st_size) {
		n = read(fd, data + len, (size_t)st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			goto cleanup;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	data[len] = '\0';
	*out = data;
	data = NULL;
cleanup:
	free(data);
	close(fd);
	return err;
}

/* The web config and the files it names decide who may scrape and whom the agent trusts (a
 * CA file decides which client certificates pass): files others may write are refused, as sshd
 * refuses them (StrictModes). A key readable by others is allowed (Kubernetes mounts Secrets
 * 0644 by default). */
#define WRITABLE_REASON                                                                            \
	"writable by group or others: refusing a file anyone could change (chmod go-w it)"

static int load_pem(struct parse *p, const struct pstr *f, const char *what, char **file,
		    char **pem)
{
	int err;

	*file = resolve_path(p->path, f->s);
	if (!*file)
		return -ENOMEM;
	err = read_small_file(*file, pem);
	if (err)
		return fail_mark(p, &f->mark, "cannot read %s \"%s\": %s", what, *file,
				 err == -EPERM ? WRITABLE_REASON : strerror(-err));
	return 0;
}

static gnutls_datum_t datum(const char *pem)
{
	return (gnutls_datum_t){.data = (unsigned char *)pem, .size = (unsigned int)strlen(pem)};
}

/* Parses the certificate, key and CA with GnuTLS, so a bad file is reported by name here and not
 * as a bare "TLS setup failed" from libmicrohttpd. */
static int check_tls_material(struct parse *p)
{
	struct webconfig *wc = p->wc;
	gnutls_certificate_credentials_t cred = NULL;
	gnutls_x509_privkey_t key = NULL;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t cd = datum(wc->cert_pem), kd = datum(wc->key_pem), cad;
	int rc, err = 0;

	if (gt_load())
		return fail_mark(p, NULL, "TLS needs GnuTLS, but %s was not found", gt.missing);
	rc = gt.gnutls_x509_crt_init(&crt);
	if (rc >= 0)
		rc = gt.gnutls_x509_crt_import(crt, &cd, GNUTLS_X509_FMT_PEM);
	if (rc < 0) {
		err = fail_mark(p, &p->cert_file.mark, "invalid cert_file \"%s\": %s",
				wc->cert_file, gt.gnutls_strerror(rc));
		goto cleanup;
	}
	rc = gt.gnutls_x509_privkey_init(&key);
	if (rc >= 0)
		rc = gt.gnutls_x509_privkey_import2(key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (rc < 0) {
		err = fail_mark(p, &p->key_file.mark, "invalid key_file \"%s\": %s", wc->key_file,
				gt.gnutls_strerror(rc));
		goto cleanup;
	}
	rc = gt.gnutls_certificate_allocate_credentials(&cred);
	if (rc < 0) {
		err = -ENOMEM;
		goto cleanup;
	}
	rc = gt.gnutls_certificate_set_x509_key_mem2(cred, &cd, &kd, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (rc < 0) {
		err = fail_mark(p, &p->key_file.mark,
				"key_file \"%s\" does not fit cert_file \"%s\": %s", wc->key_file,
				wc->cert_file, gt.gnutls_strerror(rc));
		goto cleanup;
	}
	if (wc->ca_pem) {
		cad = datum(wc->ca_pem);
		rc = gt.gnutls_certificate_set_x509_trust_mem(cred, &cad, GNUTLS_X509_FMT_PEM);
		if (rc <= 0) {
			err = fail_mark(p, &p->client_ca_file.mark,
					"invalid client_ca_file \"%s\": %s", wc->ca_file,
					rc < 0 ? gt.gnutls_strerror(rc) : "no certificate found");
			goto cleanup;
		}
	}
cleanup:
	if (cred)
		gt.gnutls_certificate_free_credentials(cred);
	if (key)
		gt.gnutls_x509_privkey_deinit(key);
	if (crt)
		gt.gnutls_x509_crt_deinit(crt);
	return err;
}

static int parse_tls_version(struct parse *p, const struct pstr *v, const char *what, int def)
{
	size_t i;

	if (!v->s)
		return def;
	for (i = 0; i < sizeof(tls_versions) / sizeof(tls_versions[0]); i++)
		if (!strcmp(v->s, tls_versions[i].name))
			return (int)i;
	return fail_mark(p, &v->mark, "invalid %s \"%s\" (want TLS10, TLS11, TLS12 or TLS13)", what,
			 v->s);
}

/* Cross-field rules and file loading, after the whole document has been read. */
static int finish_tls(struct parse *p)
{
	struct webconfig *wc = p->wc;
	int min, max, i, err;
	size_t n;

	/* As in exporter-toolkit, a tls_server_config without any of these means plain HTTP. */
	if (!p->cert_file.s && !p->key_file.s && !p->client_auth_type.s && !p->client_ca_file.s)
		return 0;
	if (!p->cert_file.s)
		return fail_mark(p, &p->tls_mark, "tls_server_config: missing cert_file");
	if (!p->key_file.s)
		return fail_mark(p, &p->tls_mark, "tls_server_config: missing key_file");

	wc->client_auth = WEBCONFIG_NO_CLIENT_CERT;
	if (p->client_auth_type.s) {
		for (i = 0; i < WEBCONFIG_CLIENT_AUTH_MAX; i++)
			if (!strcmp(p->client_auth_type.s, client_auth_names[i]))
				break;
		/* Go's old spelling, which exporter-toolkit still accepts. */
		if (!strcmp(p->client_auth_type.s, "RequireClientCert"))
			i = WEBCONFIG_REQUIRE_ANY_CLIENT_CERT;
		if (i == WEBCONFIG_CLIENT_AUTH_MAX)
			return fail_mark(p, &p->client_auth_type.mark,
					 "invalid client_auth_type \"%s\" (want NoClientCert, "
					 "RequestClientCert, RequireAnyClientCert, "
					 "VerifyClientCertIfGiven or RequireAndVerifyClientCert)",
					 p->client_auth_type.s);
		wc->client_auth = i;
	}
	if (p->client_ca_file.s && wc->client_auth == WEBCONFIG_NO_CLIENT_CERT)
		return fail_mark(p, &p->client_ca_file.mark,
				 "client_ca_file is set but client_auth_type is NoClientCert");
	if (!p->client_ca_file.s && (wc->client_auth == WEBCONFIG_VERIFY_CLIENT_CERT_IF_GIVEN ||
				     wc->client_auth == WEBCONFIG_REQUIRE_AND_VERIFY_CLIENT_CERT))
		return fail_mark(p, &p->client_auth_type.mark,
				 "client_auth_type %s needs client_ca_file",
				 client_auth_names[wc->client_auth]);

	min = parse_tls_version(p, &p->min_version, "min_version", TLS_VERSION_DEFAULT_MIN);
	if (min < 0)
		return min;
	max = parse_tls_version(p, &p->max_version, "max_version", TLS_VERSION_DEFAULT_MAX);
	if (max < 0)
		return max;
	if (min > max)
		return fail_mark(p, &p->max_version.mark, "max_version %s is below min_version %s",
				 tls_versions[max].name, tls_versions[min].name);
	n = (size_t)snprintf(wc->priorities, sizeof(wc->priorities), "NORMAL:-VERS-ALL");
	for (i = min; i <= max; i++)
		n += (size_t)snprintf(wc->priorities + n, sizeof(wc->priorities) - n, ":%s",
				      tls_versions[i].gnutls);
	/* exporter-toolkit's default is true, and so is ours. */
	if (p->prefer_server_cipher_suites)
		snprintf(wc->priorities + n, sizeof(wc->priorities) - n, ":%%SERVER_PRECEDENCE");

	err = load_pem(p, &p->cert_file, "cert_file", &wc->cert_file, &wc->cert_pem);
	if (!err)
		err = load_pem(p, &p->key_file, "key_file", &wc->key_file, &wc->key_pem);
	if (!err && p->client_ca_file.s)
		err = load_pem(p, &p->client_ca_file, "client_ca_file", &wc->ca_file, &wc->ca_pem);
	if (!err)
		err = check_tls_material(p);
	if (!err)
		wc->tls = true;
	return err;
}

/* Reads the single YAML document of path into p->doc. */
static int load_document(struct parse *p, FILE *f)
{
	yaml_parser_t parser;
	yaml_document_t extra;
	const yaml_node_t *root;
	int err = 0;

	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, p->doc))
		goto parse_error;
	/* A second document is almost certainly a mistake; exporter-toolkit would ignore it. */
	if (!yaml_parser_load(&parser, &extra)) {
		yaml_document_delete(p->doc);
		goto parse_error;
	}
	root = yaml_document_get_root_node(&extra);
	if (root)
		err = fail_mark(p, &root->start_mark, "only one YAML document is allowed");
	yaml_document_delete(&extra);
	if (err)
		yaml_document_delete(p->doc);
	yaml_parser_delete(&parser);
	return err;

parse_error:
	if (parser.error == YAML_MEMORY_ERROR)
		err = -ENOMEM;
	else if (parser.error == YAML_READER_ERROR)
		err = fail_mark(p, NULL, "%s at byte %zu", parser.problem, parser.problem_offset);
	else if (parser.context)
		err = fail_mark(p, &parser.problem_mark, "%s at %zu:%zu: %s", parser.context,
				parser.context_mark.line + 1, parser.context_mark.column + 1,
				parser.problem);
	else
		err = fail_mark(p, &parser.problem_mark, "%s",
				parser.problem ? parser.problem : "invalid YAML");
	yaml_parser_delete(&parser);
	return err;
}

int webconfig_load(const char *path, struct webconfig **out, char *errbuf, size_t errlen)
{
	struct webconfig *wc = NULL;
	yaml_document_t doc;
	const yaml_node_t *root;
	bool have_doc = false;
	struct parse p = {
		.path = path,
		.doc = &doc,
		.err = errbuf,
		.errlen = errlen,
		.prefer_server_cipher_suites = true,
	};
	FILE *f = NULL;
	int err;

	*out = NULL;
	if (errlen)
		errbuf[0] = '\0';
	wc = calloc(1, sizeof(*wc));
	if (!wc) {
		err = -ENOMEM;
		goto cleanup;
	}
	p.wc = wc;
	f = fopen(path, "re");
	if (!f) {
		err = -errno;
		fail_mark(&p, NULL, "%s", strerror(-err));
		goto cleanup;
	}
	{
		struct stat st;

		if (fstat(fileno(f), &st)) {
			err = -errno;
			fail_mark(&p, NULL, "%s", strerror(-err));
			goto cleanup;
		}
		if (st.st_mode & (S_IWGRP | S_IWOTH)) {
			err = -EPERM;
			fail_mark(&p, NULL, "%s", WRITABLE_REASON);
			goto cleanup;
		}
	}
	err = load_document(&p, f);
	if (err)
		goto cleanup;
	have_doc = true;
	root = yaml_document_get_root_node(&doc);
	/* An empty file is a valid config: plain HTTP, no users, no headers. */
	if (root && !is_null(root)) {
		if (root->type != YAML_MAPPING_NODE) {
			err = fail_mark(&p, &root->start_mark,
					"expected a mapping at the top level");
			goto cleanup;
		}
		err = walk_mapping(&p, root, "web config", visit_field, top_fields);
		if (err)
			goto cleanup;
	}
	err = finish_tls(&p);
	if (err)
		goto cleanup;
	if (wc->n_users) {
		wc->cache = calloc(1, sizeof(*wc->cache));
		if (!wc->cache) {
			err = -ENOMEM;
			goto cleanup;
		}
		pthread_mutex_init(&wc->cache->lock, NULL);
		pthread_mutex_init(&wc->cache->bcrypt_lock, NULL);
		/* Without a key (or GnuTLS) there is no cache: every request runs bcrypt. */
		wc->cache->have_key =
			!gt_load() && getrandom(wc->cache->key, sizeof(wc->cache->key), 0) ==
					      sizeof(wc->cache->key);
	}
	*out = wc;
	wc = NULL;
cleanup:
	if (err == -ENOMEM && errlen && !errbuf[0])
		fail_mark(&p, NULL, "%s", strerror(ENOMEM));
	if (have_doc)
		yaml_document_delete(&doc);
	if (f)
		fclose(f);
	free(p.cert_file.s);
	free(p.key_file.s);
	free(p.client_auth_type.s);
	free(p.client_ca_file.s);
	free(p.min_version.s);
	free(p.max_version.s);
	webconfig_free(wc);
	return err;
}

void webconfig_free(struct webconfig *wc)
{
	size_t i;

	if (!wc)
		return;
	free(wc->cert_file);
	free(wc->key_file);
	free(wc->ca_file);
	free(wc->cert_pem);
	if (wc->key_pem) {
		explicit_bzero(wc->key_pem, strlen(wc->key_pem));
		free(wc->key_pem);
	}
	free(wc->ca_pem);
	for (i = 0; i < wc->n_users; i++) {
		free(wc->users[i].name);
		free(wc->users[i].hash);
	}
	free(wc->users);
	for (i = 0; i < wc->n_headers; i++) {
		free(wc->headers[i].name);
		free(wc->headers[i].value);
	}
	free(wc->headers);
	if (wc->cache) {
		pthread_mutex_destroy(&wc->cache->lock);
		pthread_mutex_destroy(&wc->cache->bcrypt_lock);
		explicit_bzero(wc->cache, sizeof(*wc->cache));
		free(wc->cache);
	}
	free(wc);
}

const char *webconfig_client_auth_name(enum webconfig_client_auth ca)
{
	return (unsigned int)ca < WEBCONFIG_CLIENT_AUTH_MAX ? client_auth_names[ca] : "?";
}

/* Compares without an early exit, so the time taken does not say where a difference is. */
static bool const_time_equal(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	unsigned char d = 0;

	for (size_t i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

/* HMAC-SHA256 under a per-configuration random key of user, hash and password: the cache holds
 * no password, and a memory dump of it cannot be tested against guesses offline. */
static bool auth_mac(struct webconfig_auth_cache *c, const char *user, const char *hash,
		     const char *password, unsigned char mac[AUTH_MAC_SIZE])
{
	size_t lu = strlen(user) + 1, lh = strlen(hash) + 1, lp = strlen(password);
	char *msg;
	int rc;

	if (!c->have_key)
		return false;
	msg = malloc(lu + lh + lp + 1);
	if (!msg)
		return false;
	memcpy(msg, user, lu);
	memcpy(msg + lu, hash, lh);
	memcpy(msg + lu + lh, password, lp + 1);
	rc = gt.gnutls_hmac_fast(GNUTLS_MAC_SHA256, c->key, sizeof(c->key), msg, lu + lh + lp, mac);
	explicit_bzero(msg, lu + lh + lp);
	free(msg);
	return rc == 0;
}

int webconfig_check_user(struct webconfig *wc, const char *user, const char *password)
{
	struct webconfig_auth_cache *c = wc ? wc->cache : NULL;
	const struct webconfig_user *u = NULL;
	unsigned char mac[AUTH_MAC_SIZE];
	bool have_mac, hit = false, ok;
	const char *hash, *res;
	size_t i;

	if (!c || !user || !password)
		return 0;
	for (i = 0; i < wc->n_users; i++)
		if (!strcmp(wc->users[i].name, user))
			u = &wc->users[i];
	hash = u ? u->hash : dummy_hash;

	have_mac = u && auth_mac(c, user, hash, password, mac);
	if (have_mac) {
		pthread_mutex_lock(&c->lock);
		for (i = 0; i < AUTH_CACHE_SLOTS; i++)
			hit |= c->used[i] && const_time_equal(c->mac[i], mac, sizeof(mac));
		pthread_mutex_unlock(&c->lock);
		if (hit)
			return 1;
	}

	if (atomic_fetch_add(&c->pending, 1) >= BCRYPT_PENDING_MAX) {
		atomic_fetch_sub(&c->pending, 1);
		return -EBUSY;
	}
	pthread_mutex_lock(&c->bcrypt_lock);
	res = crypt_r(password, hash, &c->cd);
	ok = res && res[0] != '*' && strlen(res) == strlen(hash) &&
	     const_time_equal(res, hash, strlen(hash));
	pthread_mutex_unlock(&c->bcrypt_lock);
	atomic_fetch_sub(&c->pending, 1);
	if (!ok || !u)
		return 0;
	if (have_mac) {
		pthread_mutex_lock(&c->lock);
		memcpy(c->mac[c->next], mac, sizeof(mac));
		c->used[c->next] = true;
		c->next = (c->next + 1) % AUTH_CACHE_SLOTS;
		pthread_mutex_unlock(&c->lock);
	}
	return 1;
}

void webconfig_keep_cache(struct webconfig *wc, struct webconfig *old)
{
	struct webconfig_auth_cache *c = wc ? wc->cache : NULL, *o = old ? old->cache : NULL;

	if (!c || !o || c == o)
		return;
	pthread_mutex_lock(&o->lock);
	pthread_mutex_lock(&c->lock);
	c->have_key = o->have_key;
	memcpy(c->key, o->key, sizeof(c->key));
	memcpy(c->mac, o->mac, sizeof(c->mac));
	memcpy(c->used, o->used, sizeof(c->used));
	c->next = o->next;
	pthread_mutex_unlock(&c->lock);
	pthread_mutex_unlock(&o->lock);
}

/* 0 when the peer sent no certificate or one that chains to client_ca_file and may be used
 * for TLS client authentication (extended key usage absent or clientAuth). */
static int verify_peer(gnutls_session_t s, bool required)
{
	gnutls_typed_vdata_st purpose = {
		.type = GNUTLS_DT_KEY_PURPOSE_OID,
		.data = (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT,
	};
	unsigned int n = 0, status = 0;

	if (!gt.gnutls_certificate_get_peers(s, &n) || n == 0)
		return required ? -1 : 0;
	if (gt.gnutls_certificate_verify_peers(s, &purpose, 1, &status) < 0 || status != 0)
		return -1;
	return 0;
}

static int verify_if_given(gnutls_session_t s)
{
	return verify_peer(s, false);
}

static int verify_required(gnutls_session_t s)
{
	return verify_peer(s, true);
}

int webconfig_tls_session_init(const struct webconfig *wc, void *session)
{
	gnutls_session_t s = session;

	if (!wc || !wc->tls || !s)
		return -EINVAL;
	if (gt_load())
		return -ENOSYS;
	/* Overrides libmicrohttpd, which asks for a certificate whenever a CA is configured. */
	switch (wc->client_auth) {
	case WEBCONFIG_NO_CLIENT_CERT:
		gt.gnutls_certificate_server_set_request(s, GNUTLS_CERT_IGNORE);
		break;
	case WEBCONFIG_REQUEST_CLIENT_CERT:
		gt.gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUEST);
		break;
	case WEBCONFIG_REQUIRE_ANY_CLIENT_CERT:
		gt.gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUIRE);
		break;
	case WEBCONFIG_VERIFY_CLIENT_CERT_IF_GIVEN:
		gt.gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUEST);
		gt.gnutls_session_set_verify_function(s, verify_if_given);
		break;
	case WEBCONFIG_REQUIRE_AND_VERIFY_CLIENT_CERT:
		gt.gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUIRE);
		gt.gnutls_session_set_verify_function(s, verify_required);
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

int webconfig_tls_peer_ok(const struct webconfig *wc, void *session)
{
	gnutls_session_t s = session;
	unsigned int n = 0;

	if (!wc || !wc->tls)
		return 1;
	if (!s || gt_load())
		return 0;
	switch (wc->client_auth) {
	case WEBCONFIG_NO_CLIENT_CERT:
	case WEBCONFIG_REQUEST_CLIENT_CERT:
		return 1;
	case WEBCONFIG_REQUIRE_ANY_CLIENT_CERT:
		return gt.gnutls_certificate_get_peers(s, &n) && n > 0;
	case WEBCONFIG_VERIFY_CLIENT_CERT_IF_GIVEN:
		return verify_peer(s, false) == 0;
	case WEBCONFIG_REQUIRE_AND_VERIFY_CLIENT_CERT:
		return verify_peer(s, true) == 0;
	default:
		return 0;
	}
}
