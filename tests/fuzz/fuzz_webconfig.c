// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* fuzz_webconfig.c - libFuzzer target: the web config file (webconfig_load: YAML, TLS files,
 * users, headers) and the password check behind basic auth. The input is written as web.yml
 * next to a certificate, key and CA (cert.pem, key.pem, ca.pem, made at start with openssl),
 * so relative file names in it resolve to real PEM files. Invariants: an error is
 * "PATH...: reason"; an accepted config has a certificate and
 * key when TLS is on, bcrypt hashes for every user, named headers; webconfig_check_user answers
 * 0 or 1, and a pair that succeeded once succeeds again (the cache) and survives a reload
 * (webconfig_keep_cache). bcrypt above cost 5 is not run: too slow to fuzz. */
#include "fuzz.h"

#include <errno.h>
#include <sys/stat.h>

#include "log.h"
#include "webconfig.h"

static char dir[256], path[512];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char cmd[1024], pem[512];

	(void)argc;
	(void)argv;
	log_set_level(LOG_ERROR);
	snprintf(dir, sizeof(dir), "%s", fuzz_tmpdir("webconfig"));
	snprintf(path, sizeof(path), "%s/web.yml", dir);
	snprintf(pem, sizeof(pem), "%s/cert.pem", dir);
	if (access(pem, R_OK)) {
		snprintf(cmd, sizeof(cmd),
			 "cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
			 "-nodes -keyout key.pem -out cert.pem -days 3650 -subj /CN=localhost "
			 "-addext subjectAltName=DNS:localhost >/dev/null 2>&1 && cp cert.pem ca.pem",
			 dir);
		CHECK(system(cmd) == 0, "openssl could not make a test certificate in %s", dir);
	}
	return 0;
}

/* The cost field of a bcrypt hash. */
static int bcrypt_cost(const char *h)
{
	return (h[4] - '0') * 10 + (h[5] - '0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct webconfig *wc = NULL, *again = NULL;
	char err[512];
	int rc;

	write_file(path, data, size);
	rc = webconfig_load(path, &wc, err, sizeof(err));
	if (rc) {
		CHECK(!wc, "an error with a config");
		CHECK(rc < 0, "error %d", rc);
		CHECK(!strncmp(err, path, strlen(path)), "error does not start with the path: %s",
		      err);
		return 0;
	}
	CHECK(wc, "no config and no error");
	if (wc->tls)
		CHECK(wc->cert_pem && wc->key_pem && wc->cert_file && wc->key_file,
		      "TLS without certificate or key");
	CHECK(!wc->ca_pem || wc->tls, "a CA without TLS");
	CHECK(wc->client_auth < WEBCONFIG_CLIENT_AUTH_MAX, "client auth %d", wc->client_auth);
	CHECK(memchr(wc->priorities, '\0', sizeof(wc->priorities)), "priorities not terminated");
	for (size_t i = 0; i < wc->n_headers; i++)
		CHECK(wc->headers[i].name[0] && wc->headers[i].value, "header %zu", i);
	for (size_t i = 0; i < wc->n_users; i++) {
		const char *h = wc->users[i].hash;

		CHECK(strlen(h) == 60 && h[0] == '$' && h[1] == '2', "user %zu hash %s", i, h);
		CHECK(wc->users[i].name[0] && !strchr(wc->users[i].name, ':'), "user name %s",
		      wc->users[i].name);
	}
	if (wc->n_users && bcrypt_cost(wc->users[0].hash) <= 5) {
		const char *user = wc->users[0].name;
		/* The password: the input's last bytes, as a scraper could send anything. */
		char pw[17];
		size_t n = size < 16 ? size : 16;
		int ok;

		memcpy(pw, data + size - n, n);
		pw[n] = '\0';
		ok = webconfig_check_user(wc, user, pw);
		CHECK(ok == 0 || ok == 1, "check_user %d", ok);
		CHECK(webconfig_check_user(wc, user, pw) == ok, "a second check differs");
		CHECK(webconfig_check_user(wc, "", pw) == 0 || wc->users[0].name[0] == '\0',
		      "an empty user accepted");
		if (webconfig_load(path, &again, err, sizeof(err)) == 0) {
			webconfig_keep_cache(again, wc);
			CHECK(webconfig_check_user(again, user, pw) == ok, "a reload changed the "
									     "answer");
			webconfig_free(again);
		}
	}
	webconfig_free(wc);
	return 0;
}
