// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* test_config.c - flags and the YAML agent config file: what is accepted, what is rejected. */
#define _GNU_SOURCE /* asprintf, in testing.h */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/types.h>

#include "config.h"
#include "log.h"
#include "testing.h"

#ifndef SOCKEYE_VERSION
#define SOCKEYE_VERSION "unknown"
#endif

#define MAX_ARGS 16

/* ---- helpers ----------------------------------------------------------------------------- */

/* Parses "sockeye" + args (NULL-terminated) into cfg, capturing stdout and stderr. */
static int parse(struct sockeye_config *cfg, const char *const *args, char **out, char **err)
{
	char *argv[MAX_ARGS + 2] = { "sockeye" };
	struct capture cap;
	int argc = 1, ret;

	for (; args[argc - 1]; argc++) {
		assert_true(argc <= MAX_ARGS);
		argv[argc] = (char *)args[argc - 1];
	}
	config_defaults(cfg);
	capture_start(&cap);
	ret = config_parse_args(cfg, argc, argv);
	capture_end(&cap, out, err);
	return ret;
}

static char tmpdir[] = "/tmp/test_config.XXXXXX";

static int setup_tmpdir(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
	char cmd[64];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Writes text to a file in the temporary directory; returns its path (static buffer). */
static const char *write_yaml(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.yml", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* Loads path into cfg (after config_defaults), capturing stderr. */
static int load(struct sockeye_config *cfg, const char *path, char **err)
{
	struct capture cap;
	char *out;
	int ret;

	config_defaults(cfg);
	cfg->config_file = path;
	capture_start(&cap);
	ret = config_load_file(cfg);
	capture_end(&cap, &out, err);
	assert_string_equal(out, "");
	free(out);
	return ret;
}

/* ---- flags ------------------------------------------------------------------------------- */

static void test_defaults_fill_every_setting(void **state)
{
	static const uint64_t want_bounds[] = {
		5000000,   10000000,  25000000,	  50000000,   75000000,	  100000000,  250000000,
		500000000, 750000000, 1000000000, 2500000000, 5000000000, 7500000000, 10000000000,
	};
	struct sockeye_config cfg;

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(cfg.n_listen, 1);
	assert_string_equal(cfg.listen[0], ":9810");
	assert_string_equal(cfg.telemetry_path, "/metrics");
	assert_null(cfg.web_config_file);
	assert_false(cfg.web_disable);
	assert_null(cfg.textfile);
	assert_int_equal(cfg.interval_ms, 15000);
	assert_null(cfg.config_file);
	assert_int_equal(cfg.log_level, LOG_INFO);
	assert_false(cfg.check);
	assert_int_equal(cfg.n_bounds, ARRAY_SIZE(want_bounds));
	assert_memory_equal(cfg.bounds_ns, want_bounds, sizeof(want_bounds));
	assert_int_equal(cfg.route_capacity, SOCKEYE_ROUTE_ENTRIES_DEFAULT);
	assert_int_equal(cfg.series_capacity, SOCKEYE_HTTP_ENTRIES);
	assert_int_equal(cfg.n_include_ports, 0);
	assert_int_equal(cfg.n_exclude_ports, 0);
	assert_int_equal(cfg.n_include_cgroups, 0);
	assert_int_equal(cfg.n_exclude_cgroups, 0);
	assert_int_equal(cfg.n_labels, 0);
	assert_string_equal(cfg.self_prefix, "sockeye_");
	assert_string_equal(cfg.pods_log_dir, "/var/log/pods");
	assert_string_equal(cfg.caps_keep, "auto");
	assert_int_equal(cfg.n_rules, 0);
	assert_null(cfg.owned);
	config_free(&cfg);
}

static void test_no_flags_parse_to_defaults(void **state)
{
	const char *const args[] = { NULL };
	struct sockeye_config cfg;
	char *out, *err;

	(void)state;
	assert_int_equal(parse(&cfg, args, &out, &err), 0);
	assert_string_equal(out, "");
	assert_string_equal(err, "");
	assert_int_equal(cfg.n_listen, 1);
	assert_string_equal(cfg.listen[0], ":9810");
	assert_string_equal(cfg.telemetry_path, "/metrics");
	assert_int_equal(cfg.interval_ms, 15000);
	free(out);
	free(err);
	config_free(&cfg);
}

/* Renders the field a flag sets, so one table covers every value flag. */
static void field_text(const struct sockeye_config *cfg, const char *flag, char *buf, size_t n)
{
	const char *s = NULL;

	if (strcmp(flag, "--web.listen-address") == 0)
		snprintf(buf, n, "%zu:%s", cfg->n_listen, cfg->listen[0]);
	else if (strcmp(flag, "--web.telemetry-path") == 0)
		s = cfg->telemetry_path;
	else if (strcmp(flag, "--web.config.file") == 0)
		s = cfg->web_config_file;
	else if (strcmp(flag, "--output.textfile") == 0)
		s = cfg->textfile;
	else if (strcmp(flag, "--output.interval") == 0)
		snprintf(buf, n, "%u", cfg->interval_ms);
	else if (strcmp(flag, "--config.file") == 0)
		s = cfg->config_file;
	else if (strcmp(flag, "--log.level") == 0)
		snprintf(buf, n, "%d", cfg->log_level);
	else if (strcmp(flag, "--kubernetes.pods-log-dir") == 0)
		s = cfg->pods_log_dir;
	else if (strcmp(flag, "--capabilities.keep") == 0)
		s = cfg->caps_keep;
	else
		fail_msg("no field for %s", flag);
	if (s)
		snprintf(buf, n, "%s", s);
}

static void test_each_value_flag_accepted_with_equals_and_as_next_argument(void **state)
{
	static const struct {
		const char *flag, *value, *want;
	} cases[] = {
		{ "--web.listen-address", "127.0.0.1:9100", "1:127.0.0.1:9100" },
		{ "--web.telemetry-path", "/sockeye/metrics", "/sockeye/metrics" },
		{ "--web.config.file", "/etc/sockeye/web.yml", "/etc/sockeye/web.yml" },
		{ "--output.textfile", "/var/lib/node/sockeye.prom", "/var/lib/node/sockeye.prom" },
		{ "--output.interval", "500ms", "500" },
		{ "--config.file", "/etc/sockeye/sockeye.yml", "/etc/sockeye/sockeye.yml" },
		{ "--log.level", "debug", "0" },
		{ "--log.level", "error", "3" },
		{ "--kubernetes.pods-log-dir", "/tmp/pods", "/tmp/pods" },
		{ "--capabilities.keep", "cap_sys_ptrace,cap_dac_read_search",
		  "cap_sys_ptrace,cap_dac_read_search" },
		{ "--capabilities.keep", "none", "none" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		for (int form = 0; form < 2; form++) {
			struct sockeye_config cfg;
			char joined[256], got[256], name[300], *out, *err;
			const char *args[3] = { NULL };

			if (form == 0) {
				snprintf(joined, sizeof(joined), "%s=%s", cases[i].flag,
					 cases[i].value);
				args[0] = joined;
			} else {
				args[0] = cases[i].flag;
				args[1] = cases[i].value;
			}
			snprintf(name, sizeof(name), "%s %s (%s)", cases[i].flag, cases[i].value,
				 form == 0 ? "--flag=value" : "--flag value");
			expect_int(name, parse(&cfg, args, &out, &err), 0);
			expect_str(name, err, "");
			field_text(&cfg, cases[i].flag, got, sizeof(got));
			expect_str(name, got, cases[i].want);
			free(out);
			free(err);
			config_free(&cfg);
		}
	}
}

static void test_switch_flags_set_their_field(void **state)
{
	const char *const args[] = { "--check", "--web.disable", "--output.textfile=/x.prom",
				     NULL };
	struct sockeye_config cfg;
	char *out, *err;

	(void)state;
	assert_int_equal(parse(&cfg, args, &out, &err), 0);
	assert_string_equal(err, "");
	assert_true(cfg.check);
	assert_true(cfg.web_disable);
	free(out);
	free(err);
	config_free(&cfg);
}

static void test_listen_address_repeats_and_replaces_the_default(void **state)
{
	const char *const args[] = { "--web.listen-address=:9100", "--web.listen-address",
				     "[::1]:9101", "--web.listen-address=localhost:9102", NULL };
	struct sockeye_config cfg;
	char *out, *err;

	(void)state;
	assert_int_equal(parse(&cfg, args, &out, &err), 0);
	assert_string_equal(err, "");
	assert_int_equal(cfg.n_listen, 3);
	assert_string_equal(cfg.listen[0], ":9100");
	assert_string_equal(cfg.listen[1], "[::1]:9101");
	assert_string_equal(cfg.listen[2], "localhost:9102");
	free(out);
	free(err);
	config_free(&cfg);
}

static void test_listen_address_forms_accepted(void **state)
{
	static const char *const addrs[] = {
		":9810",
		":1",
		":65535",
		"0.0.0.0:9810",
		"localhost:80",
		"my-host.example.com:443",
		"[::]:9810",
		"[::1]:1",
		"[fe80::1%eth0]:9810",
		"[2001:db8::ff00:42:8329]:65535",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(addrs); i++) {
		const char *args[] = { "--web.listen-address", addrs[i], NULL };
		struct sockeye_config cfg;
		char *out, *err;

		expect_int(addrs[i], parse(&cfg, args, &out, &err), 0);
		expect_str(addrs[i], err, "");
		expect_str(addrs[i], cfg.listen[0], addrs[i]);
		free(out);
		free(err);
		config_free(&cfg);
	}
}

static void test_output_interval_takes_prometheus_durations(void **state)
{
	static const struct {
		const char *text;
		unsigned ms;
	} cases[] = {
		{ "1ms", 1 },	       { "500ms", 500 },    { "15s", 15000 },
		{ "1m", 60000 },       { "1m30s", 90000 },  { "1h", 3600000 },
		{ "2d", 172800000 },   { "1w", 604800000 }, { "1h0m0s1ms", 3600001 },
		{ "49d", 4233600000 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *args[] = { "--output.interval", cases[i].text, NULL };
		struct sockeye_config cfg;
		char *out, *err;

		expect_int(cases[i].text, parse(&cfg, args, &out, &err), 0);
		expect_int(cases[i].text, cfg.interval_ms, cases[i].ms);
		free(out);
		free(err);
		config_free(&cfg);
	}
}

static void test_flag_values_are_copied_not_borrowed_from_argv(void **state)
{
	char value[] = "/etc/sockeye.yml";
	const char *const args[] = { "--config.file", value, NULL };
	struct sockeye_config cfg;
	char *out, *err;

	(void)state;
	assert_int_equal(parse(&cfg, args, &out, &err), 0);
	memset(value, 'x', sizeof(value) - 1);
	assert_string_equal(cfg.config_file, "/etc/sockeye.yml");
	free(out);
	free(err);
	config_free(&cfg);
	assert_null(cfg.config_file);
}

static void test_bad_flags_return_einval_with_one_clear_line(void **state)
{
	static const struct {
		const char *name;
		const char *args[11];
		const char *want;
	} cases[] = {
		{ "unknown flag", { "--foo" }, "sockeye: unknown flag '--foo' (see --help)\n" },
		{ "unknown flag with value",
		  { "--foo=1" },
		  "sockeye: unknown flag '--foo' (see --help)\n" },
		{ "single-dash flag", { "-v" }, "sockeye: unknown flag '-v' (see --help)\n" },
		{ "positional argument",
		  { "extra" },
		  "sockeye: unexpected argument 'extra' (see --help)\n" },
		{ "bare double dash",
		  { "--" },
		  "sockeye: unexpected argument '--' (see --help)\n" },
		{ "missing value at the end",
		  { "--web.listen-address" },
		  "sockeye: flag '--web.listen-address' needs a value "
		  "(--web.listen-address=ADDR) (see --help)\n" },
		{ "missing value before another flag",
		  { "--config.file", "--check" },
		  "sockeye: flag '--config.file' needs a value (--config.file=PATH) "
		  "(see --help)\n" },
		{ "switch given a value",
		  { "--check=true" },
		  "sockeye: flag '--check' takes no value (see --help)\n" },
		{ "port zero",
		  { "--web.listen-address=:0" },
		  "sockeye: invalid value ':0' for --web.listen-address: port must be 1..65535 "
		  "(see --help)\n" },
		{ "port too large",
		  { "--web.listen-address", "host:65536" },
		  "sockeye: invalid value 'host:65536' for --web.listen-address: port must be "
		  "1..65535 (see --help)\n" },
		{ "port by name",
		  { "--web.listen-address=:http" },
		  "sockeye: invalid value ':http' for --web.listen-address: port must be a decimal "
		  "number (see --help)\n" },
		{ "empty port",
		  { "--web.listen-address=localhost:" },
		  "sockeye: invalid value 'localhost:' for --web.listen-address: port must be a "
		  "decimal number (see --help)\n" },
		{ "no port",
		  { "--web.listen-address=9810" },
		  "sockeye: invalid value '9810' for --web.listen-address: expected host:port, "
		  ":port or [v6addr]:port (see --help)\n" },
		{ "unknown capability",
		  { "--capabilities.keep=cap_sys_ptrace,cap_nope" },
		  "sockeye: invalid value 'cap_sys_ptrace,cap_nope' for --capabilities.keep: unknown "
		  "capability (names as in capabilities(7), e.g. cap_sys_ptrace) (see --help)\n" },
		{ "IPv6 without brackets",
		  { "--web.listen-address=::1:9810" },
		  "sockeye: invalid value '::1:9810' for --web.listen-address: an IPv6 address "
		  "must be in brackets: [v6addr]:port (see --help)\n" },
		{ "unclosed bracket",
		  { "--web.listen-address=[::1:9810" },
		  "sockeye: invalid value '[::1:9810' for --web.listen-address: missing ']' after "
		  "the IPv6 address (see --help)\n" },
		{ "no colon after bracket",
		  { "--web.listen-address=[::1]9810" },
		  "sockeye: invalid value '[::1]9810' for --web.listen-address: expected ':port' "
		  "after ']' (see --help)\n" },
		{ "not IPv6 in brackets",
		  { "--web.listen-address=[1.2.3.4]:80" },
		  "sockeye: invalid value '[1.2.3.4]:80' for --web.listen-address: not an IPv6 "
		  "address inside [ ] (see --help)\n" },
		{ "bad host character",
		  { "--web.listen-address=my host:80" },
		  "sockeye: invalid value 'my host:80' for --web.listen-address: host must be a "
		  "host name or an IPv4 address (see --help)\n" },
		{ "listen address twice",
		  { "--web.listen-address=:1", "--web.listen-address=:1" },
		  "sockeye: invalid value ':1' for --web.listen-address: given twice "
		  "(see --help)\n" },
		{ "too many listen addresses",
		  { "--web.listen-address=:1", "--web.listen-address=:2", "--web.listen-address=:3",
		    "--web.listen-address=:4", "--web.listen-address=:5", "--web.listen-address=:6",
		    "--web.listen-address=:7", "--web.listen-address=:8",
		    "--web.listen-address=:9" },
		  "sockeye: --web.listen-address given more than 8 times (see --help)\n" },
		{ "relative telemetry path",
		  { "--web.telemetry-path=metrics" },
		  "sockeye: invalid value 'metrics' for --web.telemetry-path: must start with '/' "
		  "(see --help)\n" },
		{ "empty telemetry path",
		  { "--web.telemetry-path=" },
		  "sockeye: invalid value '' for --web.telemetry-path: must start with '/' "
		  "(see --help)\n" },
		{ "telemetry path with query",
		  { "--web.telemetry-path=/metrics?x=1" },
		  "sockeye: invalid value '/metrics?x=1' for --web.telemetry-path: must be a plain "
		  "path, without '?' or '#' (see --help)\n" },
		{ "telemetry path with space",
		  { "--web.telemetry-path=/a b" },
		  "sockeye: invalid value '/a b' for --web.telemetry-path: must not contain spaces "
		  "or control characters (see --help)\n" },
		{ "empty config file path",
		  { "--config.file=" },
		  "sockeye: invalid value '' for --config.file: empty path (see --help)\n" },
		{ "empty textfile path",
		  { "--output.textfile=" },
		  "sockeye: invalid value '' for --output.textfile: empty path (see --help)\n" },
		{ "empty web config path",
		  { "--web.config.file=" },
		  "sockeye: invalid value '' for --web.config.file: empty path (see --help)\n" },
		{ "empty pods log dir",
		  { "--kubernetes.pods-log-dir=" },
		  "sockeye: invalid value '' for --kubernetes.pods-log-dir: empty path (see "
		  "--help)\n" },
		{ "duration without unit",
		  { "--output.interval=15" },
		  "sockeye: invalid value '15' for --output.interval: not a duration (units y, w, "
		  "d, h, m, s, ms, largest first: 1m30s) (see --help)\n" },
		{ "zero duration",
		  { "--output.interval=0s" },
		  "sockeye: invalid value '0s' for --output.interval: must be greater than 0 "
		  "(see --help)\n" },
		{ "bare zero duration",
		  { "--output.interval", "0" },
		  "sockeye: invalid value '0' for --output.interval: must be greater than 0 "
		  "(see --help)\n" },
		{ "negative duration",
		  { "--output.interval=-1s" },
		  "sockeye: invalid value '-1s' for --output.interval: not a duration (e.g. 500ms, "
		  "15s, 1m30s) (see --help)\n" },
		{ "fractional duration",
		  { "--output.interval=1.5s" },
		  "sockeye: invalid value '1.5s' for --output.interval: not a duration "
		  "(units y, w, d, h, m, s, ms, largest first: 1m30s) (see --help)\n" },
		{ "units out of order",
		  { "--output.interval=1s1m" },
		  "sockeye: invalid value '1s1m' for --output.interval: not a duration "
		  "(units y, w, d, h, m, s, ms, largest first: 1m30s) (see --help)\n" },
		{ "empty duration",
		  { "--output.interval=" },
		  "sockeye: invalid value '' for --output.interval: empty duration "
		  "(see --help)\n" },
		{ "duration too long",
		  { "--output.interval=50d" },
		  "sockeye: invalid value '50d' for --output.interval: too long (at most 49 days) "
		  "(see --help)\n" },
		{ "bad log level",
		  { "--log.level=verbose" },
		  "sockeye: invalid value 'verbose' for --log.level: must be debug, info, warn or "
		  "error (see --help)\n" },
		{ "flag given twice",
		  { "--log.level=info", "--log.level", "debug" },
		  "sockeye: flag '--log.level' given more than once (see --help)\n" },
		{ "web disabled with no textfile",
		  { "--web.disable" },
		  "sockeye: --web.disable leaves nothing to do without --output.textfile "
		  "(see --help)\n" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct sockeye_config cfg;
		char *out, *err;

		expect_int(cases[i].name, parse(&cfg, cases[i].args, &out, &err), -EINVAL);
		expect_str(cases[i].name, err, cases[i].want);
		expect_str(cases[i].name, out, "");
		free(out);
		free(err);
		config_free(&cfg);
	}
}

static void test_help_lists_every_flag_with_default_on_stdout_and_returns_1(void **state)
{
	static const char *const want[] = {
		"--web.listen-address=ADDR",
		"(default: :9810)",
		"--web.telemetry-path=PATH",
		"(default: /metrics)",
		"--web.config.file=PATH",
		"--web.disable",
		"--output.textfile=PATH",
		"--output.interval=DURATION",
		"(default: 15s)",
		"--config.file=PATH",
		"--log.level=LEVEL",
		"(default: info)",
		"--check",
		"--kubernetes.pods-log-dir=PATH",
		"(default: /var/log/pods)",
		"--version",
		"--help",
	};
	static const char *const spellings[] = { "--help", "-h" };

	(void)state;
	for (size_t s = 0; s < ARRAY_SIZE(spellings); s++) {
		const char *args[] = { spellings[s], NULL };
		struct sockeye_config cfg;
		char *out, *err;

		expect_int(spellings[s], parse(&cfg, args, &out, &err), 1);
		expect_str(spellings[s], err, "");
		assert_true(strncmp(out, "usage: sockeye [<flags>]\n", 25) == 0);
		for (size_t i = 0; i < ARRAY_SIZE(want); i++)
			if (!strstr(out, want[i]))
				fail_msg("%s: help lacks \"%s\":\n%s", spellings[s], want[i], out);
		free(out);
		free(err);
		config_free(&cfg);
	}
}

static void test_version_prints_version_and_revision_on_stdout_and_returns_1(void **state)
{
	static const char want[] = "sockeye, version " SOCKEYE_VERSION " (revision: ";
	const char *const args[] = { "--version", NULL };
	struct sockeye_config cfg;
	char *out, *err;

	(void)state;
	assert_int_equal(parse(&cfg, args, &out, &err), 1);
	/* The library's revision is the commit it was compiled at, which may be older than the
	 * one this test was compiled at: check the revision's shape, not its value. */
	if (strncmp(out, want, strlen(want)) != 0 || strlen(out) < strlen(want) + 3 ||
	    strspn(out + strlen(want), "0123456789abcdefghijklmnopqrstuvwxyz") !=
		    strlen(out) - strlen(want) - 2 ||
	    strcmp(out + strlen(out) - 2, ")\n") != 0)
		fail_msg("got \"%s\", want \"%sREVISION)\\n\"", out, want);
	assert_string_equal(err, "");
	free(out);
	free(err);
	config_free(&cfg);
}

/* ---- agent config file ------------------------------------------------------------------- */

static void test_full_config_file_parsed_exactly(void **state)
{
	static const uint64_t want_bounds[] = {
		1, 5000000, 10000000, 250000000, 1000000000, 2500000000, 10000000000, 60000000000,
	};
	const char *path = write_yaml(
		"full", "# sockeye agent config\n"
			"http:\n"
			"  duration_buckets: [0.000000001, 0.005, 0.01, 0.25, 1, 2.5, 10, 60]\n"
			"  route_table_size: 4096\n"
			"  series_capacity: 65536\n"
			"ports:\n"
			"  include: [8080, 80]\n"
			"  exclude:\n"
			"    - 22\n"
			"cgroups:\n"
			"  include: [\"/docker\", /kubepods.slice/]\n"
			"  exclude: [\"/system.slice/sshd.service\"]\n"
			"labels:\n"
			"  env: prod\n"
			"  region: \"eu-west-1 \\u00e9\"\n"
			"metric_prefix: acme_sockeye_\n"
			"identity:\n"
			"  rules:\n"
			"    - match: {exe: /usr/bin/python3, port: 8080, cgroup: /docker/}\n"
			"      service_name: checkout\n"
			"    - match:\n"
			"        cgroup: /system.slice\n"
			"      service_name: \"system \\u00e9\"\n"
			"    - match: {port: 443, exe: ~}\n"
			"      service_name: tls-edge\n");
	struct sockeye_config cfg;
	char *err;

	(void)state;
	assert_int_equal(load(&cfg, path, &err), 0);
	assert_string_equal(err, "");
	assert_int_equal(cfg.n_bounds, ARRAY_SIZE(want_bounds));
	for (size_t i = 0; i < ARRAY_SIZE(want_bounds); i++)
		assert_int_equal(cfg.bounds_ns[i], want_bounds[i]);
	assert_int_equal(cfg.route_capacity, 4096);
	assert_int_equal(cfg.series_capacity, 65536);
	assert_int_equal(cfg.n_include_ports, 2);
	assert_int_equal(cfg.include_ports[0], 8080);
	assert_int_equal(cfg.include_ports[1], 80);
	assert_int_equal(cfg.n_exclude_ports, 1);
	assert_int_equal(cfg.exclude_ports[0], 22);
	assert_int_equal(cfg.n_include_cgroups, 2);
	assert_string_equal(cfg.include_cgroups[0], "/docker");
	assert_string_equal(cfg.include_cgroups[1], "/kubepods.slice");
	assert_int_equal(cfg.n_exclude_cgroups, 1);
	assert_string_equal(cfg.exclude_cgroups[0], "/system.slice/sshd.service");
	assert_int_equal(cfg.n_labels, 2);
	assert_string_equal(cfg.labels[0].name, "env");
	assert_string_equal(cfg.labels[0].value, "prod");
	assert_string_equal(cfg.labels[1].name, "region");
	assert_string_equal(cfg.labels[1].value, "eu-west-1 \xc3\xa9");
	assert_string_equal(cfg.self_prefix, "acme_sockeye_");
	assert_int_equal(cfg.n_rules, 3);
	assert_string_equal(cfg.rules[0].exe, "/usr/bin/python3");
	assert_int_equal(cfg.rules[0].port, 8080);
	assert_string_equal(cfg.rules[0].cgroup, "/docker");
	assert_string_equal(cfg.rules[0].service_name, "checkout");
	assert_null(cfg.rules[1].exe);
	assert_int_equal(cfg.rules[1].port, 0);
	assert_string_equal(cfg.rules[1].cgroup, "/system.slice");
	assert_string_equal(cfg.rules[1].service_name, "system \xc3\xa9");
	assert_null(cfg.rules[2].exe);
	assert_int_equal(cfg.rules[2].port, 443);
	assert_null(cfg.rules[2].cgroup);
	assert_string_equal(cfg.rules[2].service_name, "tls-edge");
	/* Settings from flags are left alone. */
	assert_string_equal(cfg.listen[0], ":9810");
	free(err);
	config_free(&cfg);
}

static void test_bucket_seconds_convert_to_exact_nanoseconds(void **state)
{
	static const struct {
		const char *text;
		uint64_t ns;
	} cases[] = {
		{ "0.005", 5000000ULL },	  { "2.5", 2500000000ULL },
		{ "10", 10000000000ULL },	  { "0.1", 100000000ULL },
		{ "0.000000001", 1ULL },	  { "0.123456789", 123456789ULL },
		{ ".5", 500000000ULL },		  { "5.", 5000000000ULL },
		{ "3600", 3600000000000ULL },	  { "0.075", 75000000ULL },
		{ "1.000000000", 1000000000ULL },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char text[128];
		const char *path;
		struct sockeye_config cfg;
		char *err;

		snprintf(text, sizeof(text), "http:\n  duration_buckets: [%s]\n", cases[i].text);
		path = write_yaml("bucket", text);
		expect_int(cases[i].text, load(&cfg, path, &err), 0);
		expect_str(cases[i].text, err, "");
		expect_int(cases[i].text, cfg.n_bounds, 1);
		expect_int(cases[i].text, cfg.bounds_ns[0], cases[i].ns);
		free(err);
		config_free(&cfg);
	}
}

static void test_body_size_buckets_are_whole_bytes_with_defaults(void **state)
{
	static const uint64_t want_default[] = { 64,	  256,	    1024,     4096,
						 16384,	  65536,    262144,   1048576,
						 4194304, 16777216, 67108864 };
	struct sockeye_config cfg;
	const char *path;
	char *err;

	(void)state;
	config_defaults(&cfg);
	expect_int("default count", cfg.n_size_bounds, ARRAY_SIZE(want_default));
	for (size_t i = 0; i < ARRAY_SIZE(want_default); i++)
		expect_int("default bound", cfg.size_bounds[i], want_default[i]);
	config_free(&cfg);

	path = write_yaml("sizes", "http:\n  body_size_buckets: [1, 1000, 1048576]\n");
	expect_int("load", load(&cfg, path, &err), 0);
	expect_str("no error", err, "");
	expect_int("count", cfg.n_size_bounds, 3);
	expect_int("first", cfg.size_bounds[0], 1);
	expect_int("second", cfg.size_bounds[1], 1000);
	expect_int("third", cfg.size_bounds[2], 1048576);
	free(err);
	config_free(&cfg);
}

static void test_empty_and_null_sections_keep_defaults(void **state)
{
	static const char *const texts[] = {
		"",
		"# only a comment\n",
		"---\n",
		"http:\nports:\ncgroups: ~\nlabels: null\nmetric_prefix:\n",
		"http:\n  duration_buckets:\n  route_table_size: ~\n",
		"ports:\n  include: []\n",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
		struct sockeye_config cfg, def;
		const char *path = write_yaml("empty", texts[i]);
		char *err;

		expect_int(texts[i], load(&cfg, path, &err), 0);
		expect_str(texts[i], err, "");
		config_defaults(&def);
		expect_int(texts[i], cfg.n_bounds, def.n_bounds);
		expect_int(texts[i], cfg.route_capacity, def.route_capacity);
		expect_int(texts[i], cfg.n_include_ports, 0);
		expect_int(texts[i], cfg.n_labels, 0);
		expect_str(texts[i], cfg.self_prefix, "sockeye_");
		free(err);
		config_free(&cfg);
	}
}

static char *seq(char *buf, size_t size, const char *key, int n, int first, int step)
{
	size_t off = (size_t)snprintf(buf, size, "%s[", key);

	for (int i = 0; i < n; i++)
		off += (size_t)snprintf(buf + off, size - off, "%s%d", i ? ", " : "",
					first + i * step);
	snprintf(buf + off, size - off, "]\n");
	return buf;
}

static void test_bad_config_files_report_file_line_column_and_reason(void **state)
{
	/* want holds the message after "PATH:"; texts set below hold generated lists. */
	static char many_buckets[512], many_ports[512], many_labels[1024];
	static const struct {
		const char *name;
		const char *text;
		const char *want;
	} cases[] = {
		{ "unknown top-level key", "http:\n  route_table_size: 1\nhtp:\n  x: 1\n",
		  "3:1: top level: unknown key 'htp' (expected http, ports, cgroups, labels, "
		  "metric_prefix, identity, functions or db)" },
		{ "unknown identity key", "identity:\n  rule: []\n",
		  "2:3: identity: unknown key 'rule' (expected rules)" },
		{ "rules not a list", "identity:\n  rules: {}\n",
		  "2:10: identity.rules: expected a list, got a mapping" },
		{ "rule not a mapping", "identity:\n  rules: [x]\n",
		  "2:11: identity.rules[]: expected a mapping, got a scalar" },
		{ "unknown rule key", "identity:\n  rules:\n    - name: x\n",
		  "3:7: identity.rules[]: unknown key 'name' (expected match or service_name)" },
		{ "rule without match", "identity:\n  rules:\n    - service_name: x\n",
		  "3:7: identity.rules[]: 'match' is missing" },
		{ "rule without service_name", "identity:\n  rules:\n    - match: {port: 80}\n",
		  "3:7: identity.rules[]: 'service_name' is missing or empty" },
		{ "rule with empty service_name",
		  "identity:\n  rules:\n    - match: {port: 80}\n      service_name: \"\"\n",
		  "4:21: identity.rules[]: 'service_name' is missing or empty" },
		{ "rule service_name not a string",
		  "identity:\n  rules:\n    - match: {port: 80}\n      service_name: [a]\n",
		  "4:21: identity.rules[].service_name: expected a string, got a list" },
		{ "empty match", "identity:\n  rules:\n    - match: {}\n      service_name: a\n",
		  "3:14: identity.rules[].match: needs at least one of exe, port or cgroup" },
		{ "unknown match key",
		  "identity:\n  rules:\n    - match: {comm: x}\n      service_name: a\n",
		  "3:15: identity.rules[].match: unknown key 'comm' (expected exe, port or cgroup)" },
		{ "match exe relative",
		  "identity:\n  rules:\n    - match: {exe: python3}\n      service_name: a\n",
		  "3:20: identity.rules[].match.exe: 'python3' must be an absolute path" },
		{ "match port zero",
		  "identity:\n  rules:\n    - match: {port: 0}\n      service_name: a\n",
		  "3:21: identity.rules[].match.port: bad port '0': port must be 1..65535" },
		{ "match port quoted",
		  "identity:\n  rules:\n    - match: {port: \"80\"}\n      service_name: a\n",
		  "3:21: identity.rules[].match.port: expected a number, got a quoted string" },
		{ "match cgroup relative",
		  "identity:\n  rules:\n    - match: {cgroup: docker}\n      service_name: a\n",
		  "3:23: identity.rules[].match.cgroup: bad cgroup path 'docker': must start with "
		  "'/' (relative to the cgroup2 mount)" },
		{ "unknown http key", "http:\n  duration_bucket: [1]\n",
		  "2:3: http: unknown key 'duration_bucket' (expected duration_buckets, "
		  "body_size_buckets, route_table_size, series_capacity, series_budget or routes)" },
		{ "route pattern with an unclosed brace",
		  "http:\n  routes:\n    patterns:\n      - /ok\n      - /users/{id\n",
		  "5:19: http.routes.patterns: bad pattern '/users/{id': '{' is not closed by '}' "
		  "in its segment" },
		{ "route pattern with two {x...}",
		  "http:\n  routes:\n    patterns:\n      - \"/v2/{a...}/x/{b...}\"\n",
		  "4:23: http.routes.patterns: bad pattern '/v2/{a...}/x/{b...}': a pattern may "
		  "have only one {name...}" },
		{ "route pattern not starting with a slash",
		  "http:\n  routes:\n    ignore:\n      - healthz\n",
		  "4:9: http.routes.ignore: bad pattern 'healthz': a pattern starts with '/'" },
		{ "unknown unmatched mode", "http:\n  routes:\n    unmatched: literal\n",
		  "3:16: http.routes.unmatched: 'literal' is not heuristic, path, low_cardinality "
		  "or wildcard" },
		{ "unknown routes key", "http:\n  routes:\n    pattern: [/a]\n",
		  "3:5: http.routes: unknown key 'pattern' (expected patterns, ignore, unmatched or "
		  "max_segment_values)" },
		{ "series budget over the given capacity",
		  "http:\n  series_capacity: 100\n  series_budget: 100\n",
		  "2:3: http.series_budget (100) must be below http.series_capacity (100): the rest "
		  "holds the {other} series past the budget" },
		{ "series capacity zero", "http:\n  series_capacity: 0\n",
		  "2:20: http.series_capacity: 0 is not in 1..1048576" },
		{ "series capacity too large", "http:\n  series_capacity: 1048577\n",
		  "2:20: http.series_capacity: 1048577 is not in 1..1048576" },
		{ "size bucket not whole bytes", "http:\n  body_size_buckets: [64, 1.5]\n",
		  "2:27: http.body_size_buckets: bad bound '1.5': not a whole number of bytes (e.g. "
		  "64, 1024, 1048576)" },
		{ "size bucket zero", "http:\n  body_size_buckets: [0]\n",
		  "2:23: http.body_size_buckets: bad bound '0': must be greater than 0" },
		{ "size buckets not ascending", "http:\n  body_size_buckets: [100, 10]\n",
		  "2:28: http.body_size_buckets: 10 is not above the bound before it (must be "
		  "ascending)" },
		{ "too many size buckets",
		  "http:\n  body_size_buckets: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]\n",
		  "2:74: http.body_size_buckets: more than 15 bounds" },
		{ "unknown ports key", "ports:\n  includes: [80]\n",
		  "2:3: ports: unknown key 'includes' (expected include or exclude)" },
		{ "unknown cgroups key", "cgroups:\n  exclude: [/a]\n  other: 1\n",
		  "3:3: cgroups: unknown key 'other' (expected include or exclude)" },
		{ "duplicate key", "metric_prefix: a_\nmetric_prefix: b_\n",
		  "2:1: top level: duplicate key 'metric_prefix' (first at line 1)" },
		{ "top level not a mapping", "- http\n",
		  "1:1: top level: expected a mapping, got a list" },
		{ "section not a mapping", "ports: [80]\n",
		  "1:8: ports: expected a mapping, got a list" },
		{ "buckets not ascending", "http:\n  duration_buckets: [0.1, 0.25, 0.2]\n",
		  "2:33: http.duration_buckets: 0.2 is not above the bound before it (must be "
		  "ascending)" },
		{ "buckets equal", "http:\n  duration_buckets:\n    - 1\n    - 1.0\n",
		  "4:7: http.duration_buckets: 1.0 is not above the bound before it (must be "
		  "ascending)" },
		{ "too many buckets", many_buckets,
		  "1:138: http.duration_buckets: more than 30 bounds" },
		{ "no buckets", "http:\n  duration_buckets: []\n",
		  "2:21: http.duration_buckets: at least one bound is needed (omit the key for the "
		  "defaults)" },
		{ "zero bucket", "http:\n  duration_buckets: [0, 1]\n",
		  "2:22: http.duration_buckets: bad bound '0': must be greater than 0" },
		{ "negative bucket", "http:\n  duration_buckets: [-0.5]\n",
		  "2:22: http.duration_buckets: bad bound '-0.5': must be greater than 0" },
		{ "bucket below a nanosecond", "http:\n  duration_buckets: [0.0000000001]\n",
		  "2:22: http.duration_buckets: bad bound '0.0000000001': more than 9 fractional "
		  "digits (finer than a nanosecond)" },
		{ "bucket not a number", "http:\n  duration_buckets: [1, 5s]\n",
		  "2:25: http.duration_buckets: bad bound '5s': not a decimal number of seconds "
		  "(e.g. 0.005, 2.5, 10)" },
		{ "bucket in exponent form", "http:\n  duration_buckets: [1e-3]\n",
		  "2:22: http.duration_buckets: bad bound '1e-3': not a decimal number of seconds "
		  "(e.g. 0.005, 2.5, 10)" },
		{ "bucket quoted", "http:\n  duration_buckets: [\"0.5\"]\n",
		  "2:22: http.duration_buckets: expected a number, got a quoted string" },
		{ "buckets not a list", "http:\n  duration_buckets: 0.5\n",
		  "2:21: http.duration_buckets: expected a list, got a scalar" },
		{ "route table size zero", "http:\n  route_table_size: 0\n",
		  "2:21: http.route_table_size: 0 is not in 1..1048576" },
		{ "route table size too large", "http:\n  route_table_size: 1048577\n",
		  "2:21: http.route_table_size: 1048577 is not in 1..1048576" },
		{ "route table size not an integer", "http:\n  route_table_size: 2k\n",
		  "2:21: http.route_table_size: '2k' is not a decimal integer" },
		{ "port zero", "ports:\n  include: [80, 0]\n",
		  "2:17: ports.include: bad port '0': port must be 1..65535" },
		{ "port too large", "ports:\n  exclude: [65536]\n",
		  "2:13: ports.exclude: bad port '65536': port must be 1..65535" },
		{ "port negative", "ports:\n  exclude: [-22]\n",
		  "2:13: ports.exclude: bad port '-22': port must be a decimal number" },
		{ "port listed twice", "ports:\n  include: [80, 443, 80]\n",
		  "2:22: ports.include: port 80 listed twice" },
		{ "too many ports", many_ports, "2:397: ports.include: more than 64 ports" },
		{ "cgroup path without slash", "cgroups:\n  include: [docker]\n",
		  "2:13: cgroups.include: bad cgroup path 'docker': must start with '/' (relative "
		  "to the cgroup2 mount)" },
		{ "cgroup path with dot-dot", "cgroups:\n  exclude: [\"/a/../b\"]\n",
		  "2:13: cgroups.exclude: bad cgroup path '/a/../b': '.' and '..' are not "
		  "allowed" },
		{ "cgroup path with empty part", "cgroups:\n  exclude: [\"/a//b\"]\n",
		  "2:13: cgroups.exclude: bad cgroup path '/a//b': empty path component ('//')" },
		{ "label name starting with a digit", "labels:\n  1env: prod\n",
		  "2:3: labels: bad label name '1env': must match [a-zA-Z_][a-zA-Z0-9_]*" },
		{ "label name with a dash", "labels:\n  my-env: prod\n",
		  "2:3: labels: bad label name 'my-env': must match [a-zA-Z_][a-zA-Z0-9_]*" },
		{ "label name starting with __", "labels:\n  __env: prod\n",
		  "2:3: labels: bad label name '__env': names starting with '__' are reserved for "
		  "Prometheus" },
		{ "label le", "labels:\n  le: \"1\"\n",
		  "2:3: labels: bad label name 'le': sockeye sets this label itself" },
		{ "label quantile", "labels:\n  quantile: x\n",
		  "2:3: labels: bad label name 'quantile': sockeye sets this label itself" },
		{ "label http_route", "labels:\n  env: a\n  http_route: x\n",
		  "3:3: labels: bad label name 'http_route': sockeye sets this label itself" },
		{ "label k8s_pod_name", "labels:\n  k8s_pod_name: x\n",
		  "2:3: labels: bad label name 'k8s_pod_name': sockeye sets this label itself" },
		{ "label with empty value", "labels:\n  env:\n",
		  "2:7: labels.env: empty value (an empty label is no label)" },
		{ "label value a list", "labels:\n  env: [a]\n",
		  "2:8: labels: expected a string, got a list" },
		{ "too many labels", many_labels, "18:3: labels: more than 16 labels" },
		{ "metric prefix starting with a digit", "metric_prefix: 9x_\n",
		  "1:16: metric_prefix: '9x_' must match [a-zA-Z_:][a-zA-Z0-9_:]*" },
		{ "metric prefix with a dash", "metric_prefix: \"my-app_\"\n",
		  "1:16: metric_prefix: 'my-app_' must match [a-zA-Z_:][a-zA-Z0-9_:]*" },
		{ "yaml syntax: unclosed flow sequence", "http:\n  duration_buckets: [1, 2\n",
		  "3:1: did not find expected ',' or ']' while parsing a flow sequence" },
		{ "yaml syntax: bad indentation", "http:\n  route_table_size: 1\n bad: 2\n",
		  "3:2: did not find expected key while parsing a block mapping" },
		{ "yaml syntax: tab indentation", "http:\n\troute_table_size: 1\n",
		  "2:1: found character that cannot start any token while scanning for the next "
		  "token" },
		{ "yaml: undefined alias", "labels:\n  env: *nope\n",
		  "2:8: found undefined alias" },
		{ "yaml: invalid UTF-8", "labels:\n  env: \"caf\xc3\"\n",
		  "2:13: invalid trailing UTF-8 octet" },
		{ "second document", "labels:\n  env: a\n---\nlabels:\n  env: b\n",
		  "3:1: only one YAML document is allowed" },
	};
	char buf[64];

	(void)state;
	/* 31 ascending bounds on one line: the 31st starts at column 26 + 9 * 3 + 21 * 4 + 1. */
	seq(many_buckets, sizeof(many_buckets), "http: {duration_buckets: ", 31, 1, 1);
	many_buckets[strlen(many_buckets) - 1] = '\0';
	strcat(many_buckets, "}\n");
	/* 65 four-digit ports: the 65th starts at column 12 + 64 * 6 + 1. */
	strcpy(many_ports, "ports:\n");
	seq(many_ports + 7, sizeof(many_ports) - 7, "  include: ", 65, 1000, 1);
	strcpy(many_labels, "labels:\n");
	for (int i = 0; i < 17; i++) {
		snprintf(buf, sizeof(buf), "  l%d: v\n", i);
		strcat(many_labels, buf);
	}

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct sockeye_config cfg;
		const char *path = write_yaml("bad", cases[i].text);
		char want[512], *err;

		snprintf(want, sizeof(want), "%s:%s\n", path, cases[i].want);
		expect_int(cases[i].name, load(&cfg, path, &err), -EINVAL);
		expect_str(cases[i].name, err, want);
		free(err);
		config_free(&cfg);
	}
}

static void test_unreadable_config_file_reports_path_and_strerror(void **state)
{
	static const struct {
		const char *name, *suffix;
		int err;
	} cases[] = {
		{ "missing file", "/does-not-exist.yml", -ENOENT },
		{ "directory", "", -EISDIR },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct sockeye_config cfg;
		char path[256], want[512], *err;

		snprintf(path, sizeof(path), "%s%s", tmpdir, cases[i].suffix);
		snprintf(want, sizeof(want), "%s: %s\n", path, strerror(-cases[i].err));
		expect_int(cases[i].name, load(&cfg, path, &err), cases[i].err);
		expect_str(cases[i].name, err, want);
		free(err);
		config_free(&cfg);
	}
}

/* The agent runs as root: a config others may write is refused, as sshd's StrictModes does. */
static void test_config_file_writable_by_group_or_others_is_refused(void **state)
{
	static const struct {
		mode_t mode;
		int err;
	} cases[] = {
		{ 0600, 0 }, { 0644, 0 }, { 0444, 0 }, { 0664, -EPERM }, { 0620, -EPERM },
		{ 0602, -EPERM }, { 0666, -EPERM }, { 0777, -EPERM },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *path = write_yaml("modes", "labels:\n  env: prod\n");
		struct sockeye_config cfg;
		char name[32], want[512], *err;

		snprintf(name, sizeof(name), "mode %04o", (unsigned int)cases[i].mode);
		assert_int_equal(chmod(path, cases[i].mode), 0);
		expect_int(name, load(&cfg, path, &err), cases[i].err);
		if (cases[i].err) {
			snprintf(want, sizeof(want),
				 "%s: writable by group or others (mode %04o): refusing a configuration "
				 "anyone could change (chmod go-w %s)\n",
				 path, (unsigned int)cases[i].mode, path);
			expect_str(name, err, want);
			expect_int(name, (int)cfg.n_labels, 0);
		} else {
			expect_str(name, err, "");
			expect_int(name, (int)cfg.n_labels, 1);
		}
		free(err);
		config_free(&cfg);
	}
}

static void test_no_config_file_is_a_no_op(void **state)
{
	struct sockeye_config cfg;

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(config_load_file(&cfg), 0);
	assert_int_equal(cfg.n_bounds, 14);
	config_free(&cfg);
}

static void test_failed_load_leaves_config_unchanged(void **state)
{
	const char *good = write_yaml("good", "labels:\n  env: prod\nports:\n  include: [80]\n");
	const char *bad;
	struct sockeye_config cfg;
	char *err;

	(void)state;
	assert_int_equal(load(&cfg, good, &err), 0);
	free(err);
	bad = write_yaml("bad2", "labels:\n  env: test\nports:\n  include: [0]\n");
	cfg.config_file = bad;
	{
		struct capture cap;
		char *out;
		int ret;

		capture_start(&cap);
		ret = config_load_file(&cfg);
		capture_end(&cap, &out, &err);
		assert_int_equal(ret, -EINVAL);
		free(out);
		free(err);
	}
	assert_int_equal(cfg.n_labels, 1);
	assert_string_equal(cfg.labels[0].value, "prod");
	assert_int_equal(cfg.n_include_ports, 1);
	assert_int_equal(cfg.include_ports[0], 80);
	config_free(&cfg);
}

static void test_config_strings_outlive_the_file_and_free_resets(void **state)
{
	const char *path = write_yaml("owned", "labels:\n  team: payments\nmetric_prefix: pay_\n");
	struct sockeye_config cfg;
	char *err;

	(void)state;
	assert_int_equal(load(&cfg, path, &err), 0);
	free(err);
	unlink(path);
	assert_string_equal(cfg.labels[0].name, "team");
	assert_string_equal(cfg.labels[0].value, "payments");
	assert_string_equal(cfg.self_prefix, "pay_");
	assert_non_null(cfg.owned);
	config_free(&cfg);
	assert_null(cfg.owned);
	assert_int_equal(cfg.n_labels, 0);
	assert_string_equal(cfg.self_prefix, "sockeye_");
}

static void test_tls_flags_choose_probes_or_none(void **state)
{
	static const struct {
		const char *name;
		const char *args[3];
		bool disable;
		int mode;
	} ok[] = {
		{ "default", { NULL }, false, CONFIG_TLS_AUTO },
		{ "disable", { "--tls.disable" }, true, CONFIG_TLS_AUTO },
		{ "auto", { "--tls.probe-mode=auto" }, false, CONFIG_TLS_AUTO },
		{ "internal", { "--tls.probe-mode=internal" }, false, CONFIG_TLS_INTERNAL },
		{ "public as next argument", { "--tls.probe-mode", "public" }, false,
		  CONFIG_TLS_PUBLIC },
	};
	static const struct {
		const char *name;
		const char *args[3];
		const char *want;
	} bad[] = {
		{ "unknown mode",
		  { "--tls.probe-mode=fast" },
		  "sockeye: invalid value 'fast' for --tls.probe-mode: must be auto, internal or "
		  "public (see --help)\n" },
		{ "mode with disable",
		  { "--tls.disable", "--tls.probe-mode=public" },
		  "sockeye: --tls.probe-mode has no effect with --tls.disable (see --help)\n" },
		{ "disable given a value",
		  { "--tls.disable=1" },
		  "sockeye: flag '--tls.disable' takes no value (see --help)\n" },
	};
	static const char *const help_args[] = { "--help", NULL };
	struct sockeye_config cfg;
	char *out, *err;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		expect_int(ok[i].name, parse(&cfg, ok[i].args, &out, &err), 0);
		expect_str(ok[i].name, err, "");
		expect_int(ok[i].name, cfg.tls_disable, ok[i].disable);
		expect_int(ok[i].name, cfg.tls_probe_mode, ok[i].mode);
		free(out);
		free(err);
		config_free(&cfg);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		expect_int(bad[i].name, parse(&cfg, bad[i].args, &out, &err), -EINVAL);
		expect_str(bad[i].name, err, bad[i].want);
		free(out);
		free(err);
		config_free(&cfg);
	}
	assert_int_equal(parse(&cfg, help_args, &out, &err), 1);
	if (!strstr(out, "--tls.disable") || !strstr(out, "--tls.probe-mode=MODE") ||
	    !strstr(out, "(default: auto)"))
		fail_msg("help lacks the TLS flags:\n%s", out);
	free(out);
	free(err);
	config_free(&cfg);
}

static void test_bpf_run_time_stats_is_off_unless_asked(void **state)
{
	static const char *const none[] = { NULL };
	static const char *const on[] = { "--bpf.run-time-stats", NULL };
	static const char *const valued[] = { "--bpf.run-time-stats=true", NULL };
	struct sockeye_config cfg;
	char *out, *err;

	(void)state;
	assert_int_equal(parse(&cfg, none, &out, &err), 0);
	assert_false(cfg.bpf_run_time_stats);
	free(out);
	free(err);
	config_free(&cfg);
	assert_int_equal(parse(&cfg, on, &out, &err), 0);
	assert_true(cfg.bpf_run_time_stats);
	free(out);
	free(err);
	config_free(&cfg);
	assert_int_equal(parse(&cfg, valued, &out, &err), -EINVAL);
	expect_str("valued", err,
		   "sockeye: flag '--bpf.run-time-stats' takes no value (see --help)\n");
	free(out);
	free(err);
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_fill_every_setting),
		cmocka_unit_test(test_no_flags_parse_to_defaults),
		cmocka_unit_test(test_each_value_flag_accepted_with_equals_and_as_next_argument),
		cmocka_unit_test(test_switch_flags_set_their_field),
		cmocka_unit_test(test_tls_flags_choose_probes_or_none),
		cmocka_unit_test(test_bpf_run_time_stats_is_off_unless_asked),
		cmocka_unit_test(test_listen_address_repeats_and_replaces_the_default),
		cmocka_unit_test(test_listen_address_forms_accepted),
		cmocka_unit_test(test_output_interval_takes_prometheus_durations),
		cmocka_unit_test(test_flag_values_are_copied_not_borrowed_from_argv),
		cmocka_unit_test(test_bad_flags_return_einval_with_one_clear_line),
		cmocka_unit_test(test_help_lists_every_flag_with_default_on_stdout_and_returns_1),
		cmocka_unit_test(test_version_prints_version_and_revision_on_stdout_and_returns_1),
		cmocka_unit_test(test_full_config_file_parsed_exactly),
		cmocka_unit_test(test_bucket_seconds_convert_to_exact_nanoseconds),
		cmocka_unit_test(test_body_size_buckets_are_whole_bytes_with_defaults),
		cmocka_unit_test(test_empty_and_null_sections_keep_defaults),
		cmocka_unit_test(test_bad_config_files_report_file_line_column_and_reason),
		cmocka_unit_test(test_unreadable_config_file_reports_path_and_strerror),
		cmocka_unit_test(test_config_file_writable_by_group_or_others_is_refused),
		cmocka_unit_test(test_no_config_file_is_a_no_op),
		cmocka_unit_test(test_failed_load_leaves_config_unchanged),
		cmocka_unit_test(test_config_strings_outlive_the_file_and_free_resets),
	};

	return cmocka_run_group_tests(tests, setup_tmpdir, remove_tmpdir);
}
