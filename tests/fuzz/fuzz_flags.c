// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* fuzz_flags.c - libFuzzer target: config_parse_args on any argument vector (the input split at
 * NUL bytes). Invariants: the result is 0, 1 (--help/--version) or -EINVAL; an accepted
 * configuration is one the agent can run (1..8 listen addresses, a telemetry path starting
 * with '/', a known log level and probe mode, something to do); no string in it points into
 * argv (the arguments are freed before it is read, so ASan reports a borrowed one). */
#include "fuzz.h"

#include <errno.h>

#include "config.h"
#include "log.h"

#define MAX_ARGS 24

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[MAX_ARGS + 1] = {0};
	struct sockeye_config cfg;
	int argc = 1, rc;
	size_t i = 0;

	argv[0] = strdup("sockeye");
	while (i < size && argc < MAX_ARGS) {
		const uint8_t *nul = memchr(data + i, 0, size - i);
		size_t n = nul ? (size_t)(nul - (data + i)) : size - i;

		argv[argc] = strndup((const char *)data + i, n);
		CHECK(argv[argc], "out of memory");
		argc++;
		i += n + 1;
	}
	config_defaults(&cfg);
	rc = config_parse_args(&cfg, argc, argv);
	for (int k = 0; k < argc; k++)
		free(argv[k]);
	CHECK(rc == 0 || rc == 1 || rc == -EINVAL, "config_parse_args returned %d", rc);
	if (rc == 0) {
		CHECK(cfg.n_listen >= 1 && cfg.n_listen <= CONFIG_MAX_LISTEN, "%zu listen addresses",
		      cfg.n_listen);
		for (size_t k = 0; k < cfg.n_listen; k++) {
			CHECK(strlen(cfg.listen[k]) > 0, "empty listen address");
			for (size_t j = 0; j < k; j++)
				CHECK(strcmp(cfg.listen[j], cfg.listen[k]), "listen address twice");
		}
		CHECK(cfg.telemetry_path && cfg.telemetry_path[0] == '/', "telemetry path %s",
		      cfg.telemetry_path ? cfg.telemetry_path : "(null)");
		CHECK(cfg.log_level >= LOG_DEBUG && cfg.log_level <= LOG_ERROR, "log level %d",
		      cfg.log_level);
		CHECK(cfg.tls_probe_mode >= CONFIG_TLS_AUTO && cfg.tls_probe_mode <= CONFIG_TLS_PUBLIC,
		      "probe mode %d", cfg.tls_probe_mode);
		CHECK(!cfg.web_disable || cfg.textfile || cfg.check, "nothing to do");
		CHECK(cfg.interval_ms > 0, "output interval 0");
		/* Strings are the config's own: read them after argv is gone. */
		CHECK(strlen(cfg.pods_log_dir) > 0, "empty pods log dir");
		if (cfg.web_config_file)
			CHECK(strlen(cfg.web_config_file) > 0, "empty web config path");
		if (cfg.config_file)
			CHECK(strlen(cfg.config_file) > 0, "empty config path");
		if (cfg.textfile)
			CHECK(strlen(cfg.textfile) > 0, "empty textfile path");
	}
	config_free(&cfg);
	return 0;
}
