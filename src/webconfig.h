/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* webconfig.h - the --web.config.file (Prometheus exporter-toolkit format): TLS, users, headers. */
#ifndef SOCKEYE_WEBCONFIG_H
#define SOCKEYE_WEBCONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* tls_server_config.client_auth_type, as Go's tls.ClientAuthType. Sync note: also update
 * client_auth_names[] in webconfig.c. */
enum webconfig_client_auth {
	WEBCONFIG_NO_CLIENT_CERT = 0,
	WEBCONFIG_REQUEST_CLIENT_CERT,
	WEBCONFIG_REQUIRE_ANY_CLIENT_CERT,
	WEBCONFIG_VERIFY_CLIENT_CERT_IF_GIVEN,
	WEBCONFIG_REQUIRE_AND_VERIFY_CLIENT_CERT,
	WEBCONFIG_CLIENT_AUTH_MAX,
};

struct webconfig_header {
	char *name; /* canonical spelling, e.g. "X-Frame-Options" */
	char *value;
};

struct webconfig_user {
	char *name;
	char *hash; /* bcrypt, "$2a$" / "$2b$" / "$2y$" */
};

struct webconfig_auth_cache;

struct webconfig {
	bool tls; /* false: plain HTTP (no tls_server_config, or an empty one) */
	/* Resolved paths (relative ones are relative to the web config file) and PEM contents,
	 * NUL-terminated; ca_* are NULL without client_ca_file. */
	char *cert_file, *key_file, *ca_file;
	char *cert_pem, *key_pem, *ca_pem;
	enum webconfig_client_auth client_auth;
	char priorities[128]; /* GnuTLS priority string from min_version/max_version */

	struct webconfig_user *users; /* basic_auth_users; none: no authentication */
	size_t n_users;
	struct webconfig_header *headers; /* http_server_config.headers, on every response */
	size_t n_headers;

	struct webconfig_auth_cache *cache; /* successful password checks */
};

/* Reads and validates path, including the certificate, key and CA files it names. On error
 * writes "PATH:LINE:COLUMN: reason" (or "PATH: reason") to err and returns a negative errno;
 * nothing is logged. Any of those files writable by group or others is refused. */
int webconfig_load(const char *path, struct webconfig **out, char *err, size_t errlen);
void webconfig_free(struct webconfig *wc);

const char *webconfig_client_auth_name(enum webconfig_client_auth ca);

/* Returns 1 when user and password match basic_auth_users, else 0. Runs bcrypt (serialised:
 * it is CPU-bound by design) unless this pair succeeded before; returns -EBUSY without running
 * it when a few checks already run or wait (a flood of guesses). Thread-safe. */
int webconfig_check_user(struct webconfig *wc, const char *user, const char *password);

/* Carries the password cache of old (may be NULL) over to wc, so a reload does not make the
 * next scrape pay for bcrypt. Safe when users change: entries are bound to user and hash. */
void webconfig_keep_cache(struct webconfig *wc, struct webconfig *old);

/* Applies client_auth_type to a new TLS session (a gnutls_session_t) before its handshake, so a
 * missing or unverifiable client certificate fails the handshake. Returns 0 or a negative
 * errno. */
int webconfig_tls_session_init(const struct webconfig *wc, void *session);
/* Returns 1 when the session's peer satisfies client_auth_type after the handshake, else 0. */
int webconfig_tls_peer_ok(const struct webconfig *wc, void *session);

#endif /* SOCKEYE_WEBCONFIG_H */
