// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* config.c - flags and the YAML agent config file -> struct sockeye_config; validation only. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include <linux/types.h> /* before config.h: sockeye.h needs __u64 */

#include "caps.h"
#include "config.h"
#include "routes.h"
#include "log.h"

#ifndef SOCKEYE_VERSION
#define SOCKEYE_VERSION "unknown"
#endif
#ifndef SOCKEYE_REVISION
#define SOCKEYE_REVISION "unknown"
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define DEFAULT_INTERVAL_MS 15000U
#define DEFAULT_SELF_PREFIX "sockeye_"
/* The agent config is a few hundred bytes; anything this large is the wrong file. */
#define CONFIG_FILE_MAX (1 << 20)

/* OpenTelemetry's default http.server.request.duration boundaries, in ns. */
static const uint64_t default_bounds_ns[] = {
	5000000,   10000000,  25000000,	  50000000,   75000000,	  100000000,  250000000,
	500000000, 750000000, 1000000000, 2500000000, 5000000000, 7500000000, 10000000000,
};
_Static_assert(ARRAY_SIZE(default_bounds_ns) <= SOCKEYE_MAX_BUCKETS, "default buckets fit");

/* db.buckets: OpenTelemetry's database client duration advice scaled down to 0.5 ms, since a
 * cache lookup on the same host takes well under a millisecond. */
static const uint64_t default_db_bounds_ns[] = {
	500000,	   1000000,   2500000,	 5000000,    10000000,	 25000000,   50000000,
	100000000, 250000000, 500000000, 1000000000, 2500000000, 5000000000, 10000000000,
};
_Static_assert(ARRAY_SIZE(default_db_bounds_ns) <= SOCKEYE_MAX_BUCKETS, "default db buckets fit");

/* Body size bounds in bytes: powers of 4 from 64 B to 64 MiB. */
static const uint64_t default_size_bounds[] = {
	64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
};
_Static_assert(ARRAY_SIZE(default_size_bounds) <= SOCKEYE_SIZE_BOUNDS, "default sizes fit");

/*
 * Strings the config owns: one singly linked list of allocations hanging off cfg->owned, so
 * config_free has one thing to walk and every string can be handed out as a plain pointer.
 */
struct owned_str {
	struct owned_str *next;
	char s[];
};

static const char *own_strndup(void **owned, const char *s, size_t n)
{
	struct owned_str *o = malloc(sizeof(*o) + n + 1);

	if (!o)
		return NULL;
	memcpy(o->s, s, n);
	o->s[n] = '\0';
	o->next = *owned;
	*owned = o;
	return o->s;
}

static void owned_free(void *owned)
{
	struct owned_str *o = owned;

	while (o) {
		struct owned_str *next = o->next;

		free(o);
		o = next;
	}
}

/* Appends list b behind list a; returns the combined head. */
static void *owned_splice(void *a, void *b)
{
	struct owned_str *o = b;

	if (!o)
		return a;
	while (o->next)
		o = o->next;
	o->next = a;
	return b;
}

void config_defaults(struct sockeye_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->listen[0] = CONFIG_DEFAULT_LISTEN;
	cfg->n_listen = 1;
	cfg->telemetry_path = CONFIG_DEFAULT_PATH;
	cfg->interval_ms = DEFAULT_INTERVAL_MS;
	cfg->log_level = LOG_INFO;
	memcpy(cfg->bounds_ns, default_bounds_ns, sizeof(default_bounds_ns));
	cfg->n_bounds = ARRAY_SIZE(default_bounds_ns);
	memcpy(cfg->size_bounds, default_size_bounds, sizeof(default_size_bounds));
	cfg->n_size_bounds = ARRAY_SIZE(default_size_bounds);
	memcpy(cfg->db_bounds_ns, default_db_bounds_ns, sizeof(default_db_bounds_ns));
	cfg->n_db_bounds = ARRAY_SIZE(default_db_bounds_ns);
	cfg->route_capacity = SOCKEYE_ROUTE_ENTRIES_DEFAULT;
	cfg->series_capacity = SOCKEYE_HTTP_ENTRIES;
	cfg->route_unmatched = SOCKEYE_UNMATCHED_HEURISTIC;
	cfg->route_max_values = CONFIG_DEFAULT_MAX_SEGMENT_VALUES;
	cfg->self_prefix = DEFAULT_SELF_PREFIX;
	cfg->pods_log_dir = CONFIG_DEFAULT_PODS_LOG_DIR;
	cfg->caps_keep = CAPS_KEEP_DEFAULT;
}

void config_free(struct sockeye_config *cfg)
{
	owned_free(cfg->owned);
	/* Leave no dangling pointers behind: a freed config is a default one. */
	config_defaults(cfg);
}

/* ---- value checks shared by flags and file ------------------------------------------------ */

/* Parses a decimal integer (digits only, no sign, no leading zero) up to max. */
static int parse_uint(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || (s[0] == '0' && len > 1))
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		if (v > (max - (uint64_t)(s[i] - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

/* Port "1".."65535". */
static const char *check_port(const char *s, size_t len, uint16_t *port)
{
	uint64_t v;
	int err = parse_uint(s, len, 65535, &v);

	if (err == -EINVAL)
		return "port must be a decimal number";
	if (err || v == 0)
		return "port must be 1..65535";
	if (port)
		*port = (uint16_t)v;
	return NULL;
}

/*
 * "host:port", ":port" or "[v6addr]:port". Only the form is checked: whether a host name
 * resolves or an address can be bound is for httpd.c to find out.
 */
static const char *check_listen(const char *a)
{
	const char *colon, *port;
	char host[INET6_ADDRSTRLEN + 1 + 16];
	struct in6_addr in6;

	if (a[0] == '[') {
		const char *end = strchr(a, ']');
		char *zone;
		size_t n;

		if (!end)
			return "missing ']' after the IPv6 address";
		if (end[1] != ':')
			return "expected ':port' after ']'";
		n = (size_t)(end - a - 1);
		if (n == 0 || n >= sizeof(host))
			return "not an IPv6 address inside [ ]";
		memcpy(host, a + 1, n);
		host[n] = '\0';
		/* A zone ("%eth0") is legal for link-local addresses; inet_pton rejects it. */
		zone = strchr(host, '%');
		if (zone) {
			if (zone[1] == '\0')
				return "empty IPv6 zone after '%'";
			*zone = '\0';
		}
		if (inet_pton(AF_INET6, host, &in6) != 1)
			return "not an IPv6 address inside [ ]";
		port = end + 2;
	} else {
		colon = strrchr(a, ':');
		if (!colon)
			return "expected host:port, :port or [v6addr]:port";
		if (memchr(a, ':', (size_t)(colon - a)))
			return "an IPv6 address must be in brackets: [v6addr]:port";
		if (colon - a > 253)
			return "host name too long";
		for (const char *p = a; p < colon; p++)
			if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != '_')
				return "host must be a host name or an IPv4 address";
		port = colon + 1;
	}
	return check_port(port, strlen(port), NULL);
}

/* An HTTP path we can match literally: starts with '/', no query, fragment, space or control. */
static const char *check_telemetry_path(const char *s)
{
	if (s[0] != '/')
		return "must start with '/'";
	for (const char *p = s; *p; p++) {
		if (*p == '?' || *p == '#')
			return "must be a plain path, without '?' or '#'";
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return "must not contain spaces or control characters";
	}
	return NULL;
}

/*
 * Prometheus duration: units y, w, d, h, m, s, ms in that order, each at most once, integer
 * amounts ("1m30s", "500ms"). "0" alone is valid Prometheus syntax but not a valid interval.
 */
static const char *parse_duration_ms(const char *s, unsigned *out)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {
		{ "y", 365ULL * 24 * 3600 * 1000 },
		{ "w", 7ULL * 24 * 3600 * 1000 },
		{ "d", 24ULL * 3600 * 1000 },
		{ "h", 3600ULL * 1000 },
		{ "m", 60ULL * 1000 },
		{ "s", 1000 },
		{ "ms", 1 },
	};
	const char *p = s;
	size_t next_unit = 0;
	uint64_t total = 0;

	if (*p == '\0')
		return "empty duration";
	if (strcmp(s, "0") == 0)
		return "must be greater than 0";
	while (*p) {
		uint64_t v = 0;
		const char *digits = p;
		size_t i, ulen = 0;

		while (*p >= '0' && *p <= '9') {
			if (v > UINT_MAX)
				return "too long (at most 49 days)";
			v = v * 10 + (uint64_t)(*p - '0');
			p++;
		}
		if (p == digits)
			return "not a duration (e.g. 500ms, 15s, 1m30s)";
		for (i = next_unit; i < ARRAY_SIZE(units); i++) {
			ulen = strlen(units[i].unit);
			/* "m" must not swallow the "m" of "ms". */
			if (strncmp(p, units[i].unit, ulen) == 0 &&
			    !(ulen == 1 && p[0] == 'm' && p[1] == 's'))
				break;
		}
		if (i == ARRAY_SIZE(units))
			return "not a duration (units y, w, d, h, m, s, ms, largest first: 1m30s)";
		if (v > (UINT_MAX - total) / units[i].ms)
			return "too long (at most 49 days)";
		total += v * units[i].ms;
		p += ulen;
		next_unit = i + 1;
	}
	if (total == 0)
		return "must be greater than 0";
	*out = (unsigned)total;
	return NULL;
}

/* ---- flags ------------------------------------------------------------------------------- */

enum flag_id {
	FLAG_LISTEN,
	FLAG_TELEMETRY_PATH,
	FLAG_WEB_CONFIG,
	FLAG_WEB_DISABLE,
	FLAG_TLS_DISABLE,
	FLAG_TLS_PROBE_MODE,
	FLAG_REDIS_DISABLE,
	FLAG_POSTGRESQL_DISABLE,
	FLAG_BPF_RUN_TIME_STATS,
	FLAG_TEXTFILE,
	FLAG_INTERVAL,
	FLAG_CONFIG_FILE,
	FLAG_LOG_LEVEL,
	FLAG_CHECK,
	FLAG_PODS_LOG_DIR,
	FLAG_CAPS_KEEP,
	FLAG_VERSION,
	FLAG_HELP,
	FLAG_MAX,
};

struct flag_def {
	const char *name; /* without the leading "--" */
	enum flag_id id;
	const char *metavar; /* NULL: a switch, takes no value */
	const char *def;     /* default shown by --help; NULL: none */
	const char *help;
};

/* Sync note: also update docs/configuration.md. */
static const struct flag_def flags[] = {
	{ "web.listen-address", FLAG_LISTEN, "ADDR", CONFIG_DEFAULT_LISTEN,
	  "Address to serve metrics on: host:port, :port or [v6addr]:port. Repeatable (up to "
	  "8)." },
	{ "web.telemetry-path", FLAG_TELEMETRY_PATH, "PATH", CONFIG_DEFAULT_PATH,
	  "Path under which to expose metrics." },
	{ "web.config.file", FLAG_WEB_CONFIG, "PATH", NULL,
	  "Web config file (exporter-toolkit format) for TLS, basic auth and headers." },
	{ "web.disable", FLAG_WEB_DISABLE, NULL, NULL,
	  "Serve no HTTP; only write --output.textfile." },
	{ "tls.disable", FLAG_TLS_DISABLE, NULL, NULL,
	  "Do not probe OpenSSL: HTTPS traffic is not measured." },
	{ "tls.probe-mode", FLAG_TLS_PROBE_MODE, "MODE", "auto",
	  "Where to probe OpenSSL: auto, internal (its internal read/write functions) or public "
	  "(SSL_read/SSL_write; slower)." },
	{ "redis.disable", FLAG_REDIS_DISABLE, NULL, NULL,
	  "Do not measure Redis clients (db_client_* families with db_system_name=\"redis\")." },
	{ "postgresql.disable", FLAG_POSTGRESQL_DISABLE, NULL, NULL,
	  "Do not measure PostgreSQL clients (db_client_* families with "
	  "db_system_name=\"postgresql\")." },
	{ "bpf.run-time-stats", FLAG_BPF_RUN_TIME_STATS, NULL, NULL,
	  "Count run time per BPF program (sockeye_bpf_program_run_seconds_total): every "
	  "program run then reads the clock twice." },
	{ "output.textfile", FLAG_TEXTFILE, "PATH", NULL,
	  "Also write the metrics to this file for node_exporter's textfile collector." },
	{ "output.interval", FLAG_INTERVAL, "DURATION", "15s",
	  "How often to write --output.textfile (e.g. 500ms, 15s, 1m)." },
	{ "config.file", FLAG_CONFIG_FILE, "PATH", NULL,
	  "Agent config file (YAML): buckets, ports, cgroups, labels." },
	{ "log.level", FLAG_LOG_LEVEL, "LEVEL", "info",
	  "Only log messages at or above this level: debug, info, warn, error." },
	{ "check", FLAG_CHECK, NULL, NULL, "Load and attach the BPF programs, report, exit." },
	{ "kubernetes.pods-log-dir", FLAG_PODS_LOG_DIR, "PATH", CONFIG_DEFAULT_PODS_LOG_DIR,
	  "The kubelet's pod log directory: k8s_* labels come from its <namespace>_<pod>_<uid> "
	  "names." },
	{ "capabilities.keep", FLAG_CAPS_KEEP, "CAPS", CAPS_KEEP_DEFAULT,
	  "Capabilities kept after attaching: auto (what the running agent uses), all, none, or "
	  "a list (cap_sys_ptrace,cap_dac_read_search)." },
	{ "version", FLAG_VERSION, NULL, NULL, "Print the version and exit." },
	{ "help", FLAG_HELP, NULL, NULL, "Print this help and exit (also -h)." },
};
_Static_assert(ARRAY_SIZE(flags) == FLAG_MAX, "every flag has a definition");

static void print_usage(FILE *f)
{
	fprintf(f, "usage: sockeye [<flags>]\n\n"
		   "Prometheus metrics of every HTTP service on this host, measured with eBPF.\n\n"
		   "Flags:\n");
	for (size_t i = 0; i < ARRAY_SIZE(flags); i++) {
		char lhs[64];

		if (flags[i].metavar)
			snprintf(lhs, sizeof(lhs), "--%s=%s", flags[i].name, flags[i].metavar);
		else
			snprintf(lhs, sizeof(lhs), "--%s", flags[i].name);
		fprintf(f, "  %-32s %s", lhs, flags[i].help);
		if (flags[i].def)
			fprintf(f, " (default: %s)", flags[i].def);
		fputc('\n', f);
	}
	fprintf(f, "\nSee docs/configuration.md for the agent config file.\n");
}

static int flag_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int flag_error(const char *fmt, ...)
{
	va_list ap;

	fputs("sockeye: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see --help)\n", stderr);
	return -EINVAL;
}

static int bad_value(const struct flag_def *f, const char *value, const char *why)
{
	return flag_error("invalid value '%s' for --%s: %s", value, f->name, why);
}

static int own_flag_value(struct sockeye_config *cfg, const char *value, const char **out)
{
	*out = own_strndup(&cfg->owned, value, strlen(value));
	if (!*out) {
		fprintf(stderr, "sockeye: out of memory\n");
		return -ENOMEM;
	}
	return 0;
}

/* Applies one flag. Returns 0, 1 (printed --help/--version) or a negative errno. */
static int apply_flag(struct sockeye_config *cfg, const struct flag_def *f, const char *value,
		      bool *listen_given)
{
	const char *why;
	int level;

	switch (f->id) {
	case FLAG_LISTEN:
		why = check_listen(value);
		if (why)
			return bad_value(f, value, why);
		/* The first address given replaces the default one. */
		if (!*listen_given) {
			cfg->n_listen = 0;
			*listen_given = true;
		}
		for (size_t i = 0; i < cfg->n_listen; i++)
			if (strcmp(cfg->listen[i], value) == 0)
				return bad_value(f, value, "given twice");
		if (cfg->n_listen == CONFIG_MAX_LISTEN)
			return flag_error("--%s given more than %d times", f->name,
					  CONFIG_MAX_LISTEN);
		return own_flag_value(cfg, value, &cfg->listen[cfg->n_listen++]);
	case FLAG_TELEMETRY_PATH:
		why = check_telemetry_path(value);
		if (why)
			return bad_value(f, value, why);
		return own_flag_value(cfg, value, &cfg->telemetry_path);
	case FLAG_WEB_CONFIG:
		if (!*value)
			return bad_value(f, value, "empty path");
		return own_flag_value(cfg, value, &cfg->web_config_file);
	case FLAG_TEXTFILE:
		if (!*value)
			return bad_value(f, value, "empty path");
		return own_flag_value(cfg, value, &cfg->textfile);
	case FLAG_CONFIG_FILE:
		if (!*value)
			return bad_value(f, value, "empty path");
		return own_flag_value(cfg, value, &cfg->config_file);
	case FLAG_PODS_LOG_DIR:
		if (!*value)
			return bad_value(f, value, "empty path");
		return own_flag_value(cfg, value, &cfg->pods_log_dir);
	case FLAG_CAPS_KEEP:
		why = caps_parse_keep(value, &(struct caps_keep){ 0 });
		if (why)
			return bad_value(f, value, why);
		return own_flag_value(cfg, value, &cfg->caps_keep);
	case FLAG_INTERVAL:
		why = parse_duration_ms(value, &cfg->interval_ms);
		if (why)
			return bad_value(f, value, why);
		return 0;
	case FLAG_LOG_LEVEL:
		level = log_level_parse(value);
		if (level < 0)
			return bad_value(f, value, "must be debug, info, warn or error");
		cfg->log_level = level;
		return 0;
	case FLAG_WEB_DISABLE:
		cfg->web_disable = true;
		return 0;
	case FLAG_TLS_DISABLE:
		cfg->tls_disable = true;
		return 0;
	case FLAG_REDIS_DISABLE:
		cfg->redis_disable = true;
		return 0;
	case FLAG_POSTGRESQL_DISABLE:
		cfg->postgresql_disable = true;
		return 0;
	case FLAG_BPF_RUN_TIME_STATS:
		cfg->bpf_run_time_stats = true;
		return 0;
	case FLAG_TLS_PROBE_MODE:
		if (strcmp(value, "auto") == 0)
			cfg->tls_probe_mode = CONFIG_TLS_AUTO;
		else if (strcmp(value, "internal") == 0)
			cfg->tls_probe_mode = CONFIG_TLS_INTERNAL;
		else if (strcmp(value, "public") == 0)
			cfg->tls_probe_mode = CONFIG_TLS_PUBLIC;
		else
			return bad_value(f, value, "must be auto, internal or public");
		return 0;
	case FLAG_CHECK:
		cfg->check = true;
		return 0;
	case FLAG_VERSION:
		printf("sockeye, version %s (revision: %s)\n", SOCKEYE_VERSION, SOCKEYE_REVISION);
		return 1;
	case FLAG_HELP:
		print_usage(stdout);
		return 1;
	case FLAG_MAX:
		break;
	}
	return -EINVAL;
}

int config_parse_args(struct sockeye_config *cfg, int argc, char **argv)
{
	bool seen[FLAG_MAX] = { false };
	bool listen_given = false;
	int err;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *name, *eq, *value = NULL;
		const struct flag_def *f = NULL;
		size_t name_len;

		if (strcmp(arg, "-h") == 0)
			arg = "--help";
		if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
			if (arg[0] == '-' && arg[1] != '\0' && strcmp(arg, "--") != 0)
				return flag_error("unknown flag '%s'", arg);
			return flag_error("unexpected argument '%s'", arg);
		}
		name = arg + 2;
		eq = strchr(name, '=');
		name_len = eq ? (size_t)(eq - name) : strlen(name);
		for (size_t k = 0; k < ARRAY_SIZE(flags); k++) {
			if (strlen(flags[k].name) == name_len &&
			    strncmp(flags[k].name, name, name_len) == 0) {
				f = &flags[k];
				break;
			}
		}
		if (!f)
			return flag_error("unknown flag '--%.*s'", (int)name_len, name);

		if (!f->metavar && eq)
			return flag_error("flag '--%s' takes no value", f->name);
		if (f->metavar && eq) {
			value = eq + 1;
		} else if (f->metavar) {
			/* "--flag --other" is a forgotten value, not a value starting with "--". */
			if (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0)
				return flag_error("flag '--%s' needs a value (--%s=%s)", f->name,
						  f->name, f->metavar);
			value = argv[++i];
		}

		if (seen[f->id] && f->id != FLAG_LISTEN)
			return flag_error("flag '--%s' given more than once", f->name);
		seen[f->id] = true;

		err = apply_flag(cfg, f, value, &listen_given);
		if (err)
			return err;
	}

	if (cfg->web_disable && !cfg->textfile && !cfg->check)
		return flag_error("--web.disable leaves nothing to do without --output.textfile");
	if (cfg->tls_disable && seen[FLAG_TLS_PROBE_MODE])
		return flag_error("--tls.probe-mode has no effect with --tls.disable");
	return 0;
}

/* ---- agent config file ------------------------------------------------------------------- */

struct yctx {
	const char *path;
	yaml_document_t *doc;
	struct sockeye_config *cfg; /* the working copy: cfg is only replaced on success */
};

/* Prints "PATH:LINE:COLUMN: reason" (1-based) and returns -EINVAL. */
static int yerr_at(const struct yctx *c, yaml_mark_t mark, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int yerr_at(const struct yctx *c, yaml_mark_t mark, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%zu:%zu: ", c->path, mark.line + 1, mark.column + 1);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -EINVAL;
}

/* The pairs of a mapping node, the items of a sequence node (node indexes into the document). */
#define for_each_pair(p, node)                                                                     \
	for (yaml_node_pair_t *p = (node)->data.mapping.pairs.start;                               \
	     p < (node)->data.mapping.pairs.top; p++)
#define for_each_item(it, node)                                                                    \
	for (yaml_node_item_t *it = (node)->data.sequence.items.start;                             \
	     it < (node)->data.sequence.items.top; it++)

#define yerr(c, node, ...) yerr_at(c, (node)->start_mark, __VA_ARGS__)

static yaml_node_t *ynode(const struct yctx *c, int index)
{
	return yaml_document_get_node(c->doc, index);
}

static const char *sval(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static size_t slen(const yaml_node_t *n)
{
	return n->data.scalar.length;
}

/* An absent value ("key:" or "key: null" or "key: ~"): the setting keeps its default. */
static bool is_null(const yaml_node_t *n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(nulls); i++)
		if (strcmp(sval(n), nulls[i]) == 0)
			return true;
	return false;
}

static const char *node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return "a scalar";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

/* A string value: a scalar without NUL bytes (C strings end at the first one). */
static int get_string(const struct yctx *c, const yaml_node_t *n, const char *key)
{
	if (n->type != YAML_SCALAR_NODE)
		return yerr(c, n, "%s: expected a string, got %s", key, node_kind(n));
	if (memchr(sval(n), '\0', slen(n)))
		return yerr(c, n, "%s: string contains a NUL character", key);
	return 0;
}

/* A number is a plain scalar: a quoted "8080" is a string in YAML, and likely a mistake. */
static int get_number(const struct yctx *c, const yaml_node_t *n, const char *key)
{
	if (n->type != YAML_SCALAR_NODE)
		return yerr(c, n, "%s: expected a number, got %s", key, node_kind(n));
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return yerr(c, n, "%s: expected a number, got a quoted string", key);
	return 0;
}

static const char *own_scalar(struct yctx *c, const yaml_node_t *n)
{
	return own_strndup(&c->cfg->owned, sval(n), slen(n));
}

/*
 * Checks that n is a mapping whose keys are distinct strings and, when allowed is not NULL,
 * each one of allowed (unknown keys are errors: a typo must not silently become a default).
 */
static int check_mapping(const struct yctx *c, const yaml_node_t *n, const char *what,
			 const char *const *allowed, size_t n_allowed, const char *allowed_text)
{
	if (n->type != YAML_MAPPING_NODE)
		return yerr(c, n, "%s: expected a mapping, got %s", what, node_kind(n));
	for_each_pair (p, n) {
		yaml_node_t *k = ynode(c, p->key);
		size_t i;

		if (k->type != YAML_SCALAR_NODE)
			return yerr(c, k, "%s: keys must be strings, got %s", what, node_kind(k));
		if (memchr(sval(k), '\0', slen(k)))
			return yerr(c, k, "%s: key contains a NUL character", what);
		for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++) {
			yaml_node_t *prev = ynode(c, q->key);

			if (prev->type == YAML_SCALAR_NODE && strcmp(sval(prev), sval(k)) == 0)
				return yerr(c, k, "%s: duplicate key '%s' (first at line %zu)",
					    what, sval(k), prev->start_mark.line + 1);
		}
		if (!allowed)
			continue;
		for (i = 0; i < n_allowed; i++)
			if (strcmp(sval(k), allowed[i]) == 0)
				break;
		if (i == n_allowed)
			return yerr(c, k, "%s: unknown key '%s' (expected %s)", what, sval(k),
				    allowed_text);
	}
	return 0;
}

static int check_sequence(const struct yctx *c, const yaml_node_t *n, const char *what)
{
	if (n->type != YAML_SEQUENCE_NODE)
		return yerr(c, n, "%s: expected a list, got %s", what, node_kind(n));
	return 0;
}

/*
 * Seconds as written ("0.005", "2.5", "10") -> integer ns, exactly: going through a double
 * would turn 0.005 into 4999999.999... and shift a bound by a nanosecond.
 */
static const char *parse_seconds_ns(const char *s, size_t len, uint64_t *out)
{
	uint64_t ns = 0;
	size_t i = 0, int_digits = 0, frac_digits = 0;
	bool negative = false;

	if (len > 0 && s[0] == '-') {
		negative = true;
		i++;
	}
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, int_digits++) {
		if (ns > (UINT64_MAX / 1000000000ULL - 9) / 10)
			return "too large";
		ns = ns * 10 + (uint64_t)(s[i] - '0');
	}
	if (ns > UINT64_MAX / 1000000000ULL)
		return "too large";
	ns *= 1000000000ULL;
	if (i < len && s[i] == '.') {
		uint64_t scale = 100000000ULL;

		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, frac_digits++) {
			if (frac_digits == 9)
				return "more than 9 fractional digits (finer than a nanosecond)";
			ns += (uint64_t)(s[i] - '0') * scale;
			scale /= 10;
		}
	}
	if (i != len || int_digits + frac_digits == 0)
		return "not a decimal number of seconds (e.g. 0.005, 2.5, 10)";
	if (negative || ns == 0)
		return "must be greater than 0";
	*out = ns;
	return NULL;
}

/* A bound of http.body_size_buckets: a whole number of bytes, at least 1. */
static const char *parse_bytes(const char *s, size_t len, uint64_t *out)
{
	int err = parse_uint(s, len, UINT64_MAX / 2, out);

	if (err)
		return "not a whole number of bytes (e.g. 64, 1024, 1048576)";
	if (*out == 0)
		return "must be greater than 0";
	return NULL;
}

/* A list of ascending histogram bounds: durations in seconds (stored as ns) or sizes in
 * bytes, at most max of them. */
static int load_bounds(struct yctx *c, const yaml_node_t *n, const char *key,
		       const char *(*parse)(const char *, size_t, uint64_t *), size_t max,
		       uint64_t *out, size_t *n_out)
{
	uint64_t bounds[SOCKEYE_MAX_BUCKETS];
	size_t count = 0;
	int err;

	err = check_sequence(c, n, key);
	if (err)
		return err;
	for_each_item (it, n) {
		yaml_node_t *item = ynode(c, *it);
		const char *why;
		uint64_t ns;

		err = get_number(c, item, key);
		if (err)
			return err;
		why = parse(sval(item), slen(item), &ns);
		if (why)
			return yerr(c, item, "%s: bad bound '%s': %s", key, sval(item), why);
		if (count == max || count == SOCKEYE_MAX_BUCKETS)
			return yerr(c, item, "%s: more than %zu bounds", key, max);
		if (count > 0 && ns <= bounds[count - 1])
			return yerr(c, item,
				    "%s: %s is not above the bound before it (must be ascending)",
				    key, sval(item));
		bounds[count++] = ns;
	}
	if (count == 0)
		return yerr(c, n,
			    "%s: at least one bound is needed (omit the key for the defaults)",
			    key);
	memcpy(out, bounds, count * sizeof(bounds[0]));
	*n_out = count;
	return 0;
}

/* A map capacity: a whole number in 1..max. */
static int load_capacity(struct yctx *c, const yaml_node_t *v, const char *key, uint32_t max,
			 uint32_t *out)
{
	uint64_t size;
	int err = get_number(c, v, key);

	if (err)
		return err;
	err = parse_uint(sval(v), slen(v), max, &size);
	if (err == -EINVAL)
		return yerr(c, v, "%s: '%s' is not a decimal integer", key, sval(v));
	if (err || size == 0)
		return yerr(c, v, "%s: %s is not in 1..%u", key, sval(v), max);
	*out = (uint32_t)size;
	return 0;
}

/* Sync note: enum sockeye_route_unmatched in include/sockeye.h. */
static const char *const unmatched_names[SOCKEYE_UNMATCHED_MAX] = {
	[SOCKEYE_UNMATCHED_HEURISTIC] = "heuristic",
	[SOCKEYE_UNMATCHED_PATH] = "path",
	[SOCKEYE_UNMATCHED_LOW_CARDINALITY] = "low_cardinality",
	[SOCKEYE_UNMATCHED_WILDCARD] = "wildcard",
};

/* A list of route patterns (http.routes.patterns or .ignore), each checked (routes.c). An
 * error points at the offending character of the pattern. */
static int load_patterns(struct yctx *c, const yaml_node_t *n, const char *key,
			 const char **out, size_t *n_out)
{
	size_t count = 0;
	int err = check_sequence(c, n, key);

	if (err)
		return err;
	for_each_item (it, n) {
		yaml_node_t *item = ynode(c, *it);
		yaml_mark_t mark = item->start_mark;
		const char *why;
		size_t at;

		err = get_string(c, item, key);
		if (err)
			return err;
		why = routes_check_pattern(sval(item), &at);
		if (why) {
			if (item->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
			    item->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE)
				mark.column++;
			mark.column += at;
			return yerr_at(c, mark, "%s: bad pattern '%s': %s", key, sval(item), why);
		}
		for (size_t i = 0; i < count; i++)
			if (strcmp(out[i], sval(item)) == 0)
				return yerr(c, item, "%s: '%s' listed twice", key, sval(item));
		if (count == SOCKEYE_ROUTE_PATTERNS_MAX)
			return yerr(c, item, "%s: more than %d patterns", key,
				    SOCKEYE_ROUTE_PATTERNS_MAX);
		out[count++] = own_scalar(c, item);
	}
	*n_out = count;
	return 0;
}

static int load_routes(struct yctx *c, const yaml_node_t *n)
{
	static const char *const keys[] = { "patterns", "ignore", "unmatched",
					    "max_segment_values" };
	int err = check_mapping(c, n, "http.routes", keys, ARRAY_SIZE(keys),
				"patterns, ignore, unmatched or max_segment_values");

	if (err)
		return err;
	for_each_pair (p, n) {
		yaml_node_t *k = ynode(c, p->key), *v = ynode(c, p->value);

		if (is_null(v))
			continue;
		if (strcmp(sval(k), "patterns") == 0) {
			err = load_patterns(c, v, "http.routes.patterns", c->cfg->route_patterns,
					    &c->cfg->n_route_patterns);
		} else if (strcmp(sval(k), "ignore") == 0) {
			err = load_patterns(c, v, "http.routes.ignore", c->cfg->route_ignore,
					    &c->cfg->n_route_ignore);
		} else if (strcmp(sval(k), "unmatched") == 0) {
			size_t i;

			err = get_string(c, v, "http.routes.unmatched");
			if (err)
				return err;
			for (i = 0; i < SOCKEYE_UNMATCHED_MAX; i++)
				if (strcmp(sval(v), unmatched_names[i]) == 0)
					break;
			if (i == SOCKEYE_UNMATCHED_MAX)
				return yerr(c, v,
					    "http.routes.unmatched: '%s' is not heuristic, path, "
					    "low_cardinality or wildcard",
					    sval(v));
			c->cfg->route_unmatched = (uint32_t)i;
		} else {
			err = load_capacity(c, v, "http.routes.max_segment_values", 1000,
					    &c->cfg->route_max_values);
		}
		if (err)
			return err;
	}
	return 0;
}

static int load_http(struct yctx *c, const yaml_node_t *n)
{
	static const char *const keys[] = { "duration_buckets", "route_table_size",
					    "body_size_buckets", "series_capacity",
					    "series_budget", "routes" };
	int err;

	err = check_mapping(c, n, "http", keys, ARRAY_SIZE(keys),
			    "duration_buckets, body_size_buckets, route_table_size, "
			    "series_capacity, series_budget or routes");
	if (err)
		return err;
	for_each_pair (p, n) {
		yaml_node_t *k = ynode(c, p->key), *v = ynode(c, p->value);

		if (is_null(v))
			continue;
		if (strcmp(sval(k), "duration_buckets") == 0) {
			err = load_bounds(c, v, "http.duration_buckets", parse_seconds_ns,
					  SOCKEYE_MAX_BUCKETS, c->cfg->bounds_ns, &c->cfg->n_bounds);
		} else if (strcmp(sval(k), "body_size_buckets") == 0) {
			err = load_bounds(c, v, "http.body_size_buckets", parse_bytes,
					  SOCKEYE_SIZE_BOUNDS, c->cfg->size_bounds,
					  &c->cfg->n_size_bounds);
		} else if (strcmp(sval(k), "series_capacity") == 0) {
			err = load_capacity(c, v, "http.series_capacity", SOCKEYE_HTTP_ENTRIES_MAX,
					    &c->cfg->series_capacity);
			c->cfg->series_capacity_given = true;
		} else if (strcmp(sval(k), "series_budget") == 0) {
			uint32_t budget;

			err = load_capacity(c, v, "http.series_budget", SOCKEYE_HTTP_ENTRIES_MAX,
					    &budget);
			c->cfg->series_budget = budget;
		} else if (strcmp(sval(k), "routes") == 0) {
			err = load_routes(c, v);
		} else {
			err = load_capacity(c, v, "http.route_table_size", SOCKEYE_ROUTE_ENTRIES_MAX,
					    &c->cfg->route_capacity);
		}
		if (err)
			return err;
	}
	/* The series map keeps room for the {other} series past the budget. */
	if (c->cfg->series_budget && c->cfg->series_budget >= c->cfg->series_capacity) {
		uint64_t cap = c->cfg->series_budget + (c->cfg->series_budget / 16 > 64
								? c->cfg->series_budget / 16
								: 64);

		if (c->cfg->series_capacity_given || cap > SOCKEYE_HTTP_ENTRIES_MAX)
			return yerr(c, n,
				    "http.series_budget (%llu) must be below http.series_capacity "
				    "(%u): the rest holds the {other} series past the budget",
				    (unsigned long long)c->cfg->series_budget,
				    c->cfg->series_capacity_given ? c->cfg->series_capacity
								  : SOCKEYE_HTTP_ENTRIES_MAX);
		c->cfg->series_capacity = (uint32_t)cap;
	}
	return 0;
}

static int load_port_list(struct yctx *c, const yaml_node_t *n, const char *key, uint16_t *ports,
			  size_t *n_ports)
{
	size_t count = 0;
	int err;

	err = check_sequence(c, n, key);
	if (err)
		return err;
	for_each_item (it, n) {
		yaml_node_t *item = ynode(c, *it);
		const char *why;
		uint16_t port;

		err = get_number(c, item, key);
		if (err)
			return err;
		why = check_port(sval(item), slen(item), &port);
		if (why)
			return yerr(c, item, "%s: bad port '%s': %s", key, sval(item), why);
		for (size_t i = 0; i < count; i++)
			if (ports[i] == port)
				return yerr(c, item, "%s: port %u listed twice", key, port);
		if (count == CONFIG_MAX_PORTS)
			return yerr(c, item, "%s: more than %d ports", key, CONFIG_MAX_PORTS);
		ports[count++] = port;
	}
	*n_ports = count;
	return 0;
}

static int load_ports(struct yctx *c, const yaml_node_t *n)
{
	static const char *const keys[] = { "include", "exclude" };
	int err;

	err = check_mapping(c, n, "ports", keys, ARRAY_SIZE(keys), "include or exclude");
	if (err)
		return err;
	for_each_pair (p, n) {
		yaml_node_t *k = ynode(c, p->key), *v = ynode(c, p->value);

		if (is_null(v))
			continue;
		if (strcmp(sval(k), "include") == 0)
			err = load_port_list(c, v, "ports.include", c->cfg->include_ports,
					     &c->cfg->n_include_ports);
		else
			err = load_port_list(c, v, "ports.exclude", c->cfg->exclude_ports,
					     &c->cfg->n_exclude_ports);
		if (err)
			return err;
	}
	return 0;
}

/* A cgroup path relative to the cgroup2 mount: "/", or "/a/b" with no empty, "." or ".." part.
 * One trailing '/' is tolerated and dropped, so "/docker/" and "/docker" are the same. */
static const char *check_cgroup_path(const char *s, size_t *len)
{
	size_t n = *len;

	if (n == 0 || s[0] != '/')
		return "must start with '/' (relative to the cgroup2 mount)";
	if (n > 1 && s[n - 1] == '/')
		n--;
	for (size_t i = 1, start = 1; i <= n; i++) {
		if (i < n && s[i] != '/')
			continue;
		if (n == 1)
			break;
		if (i == start)
			return "empty path component ('//')";
		if ((i - start == 1 && s[start] == '.') ||
		    (i - start == 2 && s[start] == '.' && s[start + 1] == '.'))
			return "'.' and '..' are not allowed";
		start = i + 1;
	}
	*len = n;
	return NULL;
}

static int load_cgroup_list(struct yctx *c, const yaml_node_t *n, const char *key,
			    const char **paths, size_t *n_paths)
{
	size_t count = 0;
	int err;

	err = check_sequence(c, n, key);
	if (err)
		return err;
	for_each_item (it, n) {
		yaml_node_t *item = ynode(c, *it);
		size_t len;
		const char *why;

		err = get_string(c, item, key);
		if (err)
			return err;
		len = slen(item);
		why = check_cgroup_path(sval(item), &len);
		if (why)
			return yerr(c, item, "%s: bad cgroup path '%s': %s", key, sval(item), why);
		if (count == CONFIG_MAX_PORTS)
			return yerr(c, item, "%s: more than %d cgroups", key, CONFIG_MAX_PORTS);
		paths[count] = own_strndup(&c->cfg->owned, sval(item), len);
		if (!paths[count])
			return -ENOMEM;
		count++;
	}
	*n_paths = count;
	return 0;
}

static int load_cgroups(struct yctx *c, const yaml_node_t *n)
{
	static const char *const keys[] = { "include", "exclude" };
	int err;

	err = check_mapping(c, n, "cgroups", keys, ARRAY_SIZE(keys), "include or exclude");
	if (err)
		return err;
	for_each_pair (p, n) {
		yaml_node_t *k = ynode(c, p->key), *v = ynode(c, p->value);

		if (is_null(v))
			continue;
		if (strcmp(sval(k), "include") == 0)
			err = load_cgroup_list(c, v, "cgroups.include", c->cfg->include_cgroups,
					       &c->cfg->n_include_cgroups);
		else
			err = load_cgroup_list(c, v, "cgroups.exclude", c->cfg->exclude_cgroups,
					       &c->cfg->n_exclude_cgroups);
		if (err)
			return err;
	}
	return 0;
}

/* Labels sockeye puts on its own series; a static label of the same name would clash.
 * Sync note: also update docs/configuration.md when render.c gains a label. */
static const char *const reserved_labels[] = {
	"le",
	"quantile",
	"http_request_method",
	"http_response_status_code",
	"http_route",
	"network_protocol_version",
	"server_port",
	"event",
	"program",
	"map",
	"version",
	"revision",
	"service_name",
	"container_id",
	"k8s_namespace_name",
	"k8s_pod_name",
	"k8s_container_name",
};

static const char *check_label_name(const char *s)
{
	if (!(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return "must match [a-zA-Z_][a-zA-Z0-9_]*";
	for (const char *p = s + 1; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '_'))
			return "must match [a-zA-Z_][a-zA-Z0-9_]*";
	if (s[0] == '_' && s[1] == '_')
		return "names starting with '__' are reserved for Prometheus";
	for (size_t i = 0; i < ARRAY_SIZE(reserved_labels); i++)
		if (strcmp(s, reserved_labels[i]) == 0)
			return "sockeye sets this label itself";
	return NULL;
}

static int load_labels(struct yctx *c, const yaml_node_t *n)
{
	struct sockeye_config *cfg = c->cfg;
	size_t count = 0;
	int err;

	err = check_mapping(c, n, "labels", NULL, 0, NULL);
	if (err)
		return err;
	for_each_pair (p, n) {
		yaml_node_t *k = ynode(c, p->key), *v = ynode(c, p->value);
		const char *why = check_label_name(sval(k));

		if (why)
			return yerr(c, k, "labels: bad label name '%s': %s", sval(k), why);
		if (count == CONFIG_MAX_LABELS)
			return yerr(c, k, "labels: more than %d labels", CONFIG_MAX_LABELS);
		if (is_null(v) || (v->type == YAML_SCALAR_NODE && slen(v) == 0))
			return yerr(c, v, "labels.%s: empty value (an empty label is no label)",
				    sval(k));
		err = get_string(c, v, "labels");
		if (err)
			return err;
		cfg->labels[count].name = own_scalar(c, k);
		cfg->labels[count].value = own_scalar(c, v);
		if (!cfg->labels[count].name || !cfg->labels[count].value)
			return -ENOMEM;
		count++;
	}
	cfg->n_labels = count;
	return 0;
}

static int load_prefix(struct yctx *c, const yaml_node_t *n)
{
	const char *s;
	int err;

	err = get_string(c, n, "metric_prefix");
	if (err)
		return err;
	s = sval(n);
	if (!(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == ':'))
		return yerr(c, n, "metric_prefix: '%s' must match [a-zA-Z_:][a-zA-Z0-9_:]*", s);
	for (const char *p = s + 1; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '_' || *p == ':'))
			return yerr(c, n, "metric_prefix: '%s' must match [a-zA-Z_:][a-zA-Z0-9_:]*",
				    s);
	c->cfg->self_prefix = own_scalar(c, n);
	return c->cfg->self_prefix ? 0 : -ENOMEM;
}

/* Longest service_name a rule may set: identity labels keep SOCKEYE_ID_VALUE_LEN - 1 bytes. */
#define RULE_NAME_MAX (SOCKEYE_ID_VALUE_LEN - 1)

static int load_rule_match(struct yctx *c, const yaml_node_t *n, struct sockeye_identity_rule *r)
{
	static const char *const keys[] = { "exe", "port", "cgroup" };
	static const char *const what = "identity.rules[].match";
	int err;

	err = check_mapping(c, n, what, keys, ARRAY_SIZE(keys), "exe, port or cgroup");
	if (err)
		return err;
	for_each_pair (p, n) {
		yaml_node_t *k = ynode(c, p->key), *v = ynode(c, p->value);
		const char *key = sval(k), *why;
		size_t len;

		if (is_null(v))
			continue;
		if (strcmp(key, "port") == 0) {
			err = get_number(c, v, "identity.rules[].match.port");
			if (err)
				return err;
			why = check_port(sval(v), slen(v), &r->port);
			if (why)
				return yerr(c, v, "%s.port: bad port '%s': %s", what, sval(v), why);
			continue;
		}
		err = get_string(c, v, what);
		if (err)
			return err;
		if (strcmp(key, "exe") == 0) {
			if (sval(v)[0] != '/')
				return yerr(c, v, "%s.exe: '%s' must be an absolute path", what,
					    sval(v));
			r->exe = own_scalar(c, v);
			if (!r->exe)
				return -ENOMEM;
			continue;
		}
		len = slen(v);
		why = check_cgroup_path(sval(v), &len);
		if (why)
			return yerr(c, v, "%s.cgroup: bad cgroup path '%s': %s", what, sval(v), why);
		r->cgroup = own_strndup(&c->cfg->owned, sval(v), len);
		if (!r->cgroup)
			return -ENOMEM;
	}
	if (!r->exe && !r->cgroup && !r->port)
		return yerr(c, n, "%s: needs at least one of exe, port or cgroup", what);
	return 0;
}

static int load_rule(struct yctx *c, const yaml_node_t *n, struct sockeye_identity_rule *r)
{
	static const char *const keys[] = { "match", "service_name" };
	const yaml_node_t *match = NULL, *name = NULL;
	int err;

	memset(r, 0, sizeof(*r));
	err = check_mapping(c, n, "identity.rules[]", keys, ARRAY_SIZE(keys),
			    "match or service_name");
	if (err)
		return err;
	for_each_pair (p, n) {
		yaml_node_t *k = ynode(c, p->key), *v = ynode(c, p->value);

		if (strcmp(sval(k), "match") == 0)
			match = v;
		else
			name = v;
	}
	if (!match || is_null(match))
		return yerr(c, n, "identity.rules[]: 'match' is missing");
	if (!name || is_null(name) || (name->type == YAML_SCALAR_NODE && slen(name) == 0))
		return yerr(c, name ? name : n,
			    "identity.rules[]: 'service_name' is missing or empty");
	err = get_string(c, name, "identity.rules[].service_name");
	if (err)
		return err;
	if (slen(name) > RULE_NAME_MAX)
		return yerr(c, name, "identity.rules[].service_name: longer than %d bytes",
			    RULE_NAME_MAX);
	err = load_rule_match(c, match, r);
	if (err)
		return err;
	r->service_name = own_scalar(c, name);
	return r->service_name ? 0 : -ENOMEM;
}

static int load_identity(struct yctx *c, const yaml_node_t *n)
{
	static const char *const keys[] = { "rules" };
	size_t count = 0;
	int err;

	err = check_mapping(c, n, "identity", keys, ARRAY_SIZE(keys), "rules");
	if (err)
		return err;
	for_each_pair (p, n) {
		yaml_node_t *v = ynode(c, p->value);

		if (is_null(v))
			continue;
		err = check_sequence(c, v, "identity.rules");
		if (err)
			return err;
		for_each_item (it, v) {
			yaml_node_t *item = ynode(c, *it);

			if (count == CONFIG_MAX_RULES)
				return yerr(c, item, "identity.rules: more than %d rules",
					    CONFIG_MAX_RULES);
			err = load_rule(c, item, &c->cfg->rules[count]);
			if (err)
				return err;
			count++;
		}
	}
	c->cfg->n_rules = count;
	return 0;
}

/* ---- functions (docs/functions.md) -------------------------------------------------------- */

static struct config_mark mark_of(const yaml_node_t *n)
{
	return (struct config_mark){ .line = (uint32_t)n->start_mark.line + 1,
				     .column = (uint32_t)n->start_mark.column + 1 };
}

static yaml_mark_t yaml_mark_of(struct config_mark m)
{
	return (yaml_mark_t){ .line = m.line ? m.line - 1 : 0,
			      .column = m.column ? m.column - 1 : 0 };
}

/* Zeroed memory on the config's owned list (8-byte aligned, like the list's strings). */
static void *own_zalloc(void **owned, size_t n)
{
	struct owned_str *o = calloc(1, sizeof(*o) + n);

	if (!o)
		return NULL;
	o->next = *owned;
	*owned = o;
	return o->s;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Families sockeye exports itself (besides metric_prefix, checked once the file is read). */
static const char *const own_family_prefixes[] = {
	"http_server_",
	"http_client_",
	"process_",
	"service_process_",
};

/* A family name a declaration may export: a valid Prometheus name without ':' (reserved for
 * recording rules), not in sockeye's own namespaces; a counter's ends in _total, a
 * histogram's in none of the suffixes its series add. */
static const char *check_func_metric(const char *s, uint8_t type)
{
	static const char *const hist_suffixes[] = { "_total", "_bucket", "_count", "_sum" };

	if (!(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return "not a valid metric name: must match [a-zA-Z_][a-zA-Z0-9_]*";
	for (const char *p = s + 1; *p; p++) {
		if (*p == ':')
			return "not a valid metric name here: ':' is reserved for recording rules";
		if (!(isalnum((unsigned char)*p) || *p == '_'))
			return "not a valid metric name: must match [a-zA-Z_][a-zA-Z0-9_]*";
	}
	if (s[0] == '_' && s[1] == '_')
		return "names starting with '__' are reserved for Prometheus";
	for (size_t i = 0; i < ARRAY_SIZE(own_family_prefixes); i++)
		if (strncmp(s, own_family_prefixes[i], strlen(own_family_prefixes[i])) == 0)
			return "names starting with http_server_, http_client_, process_ or "
			       "service_process_ are sockeye's own families";
	if (type == SOCKEYE_FUNC_COUNTER) {
		if (!ends_with(s, "_total") || strcmp(s, "_total") == 0)
			return "a counter's name must end in _total";
		return NULL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(hist_suffixes); i++)
		if (ends_with(s, hist_suffixes[i]))
			return "a histogram's name must not end in _total, _bucket, _count or _sum";
	return NULL;
}

/* Labels every function series may carry besides its own. */
static const char *const func_reserved_labels[] = {
	"le", "service_name", "container_id", "k8s_namespace_name", "k8s_pod_name",
	"k8s_container_name",
};

static const char *check_func_label_name(const char *s)
{
	if (!(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return "must match [a-zA-Z_][a-zA-Z0-9_]*";
	for (const char *p = s + 1; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '_'))
			return "must match [a-zA-Z_][a-zA-Z0-9_]*";
	if (s[0] == '_' && s[1] == '_')
		return "names starting with '__' are reserved for Prometheus";
	for (size_t i = 0; i < ARRAY_SIZE(func_reserved_labels); i++)
		if (strcmp(s, func_reserved_labels[i]) == 0)
			return "sockeye sets this label itself";
	return NULL;
}

/* "arg1".."arg6" or "return". */
static int parse_func_src(const char *s, uint8_t *src)
{
	if (strcmp(s, "return") == 0) {
		*src = SOCKEYE_FUNC_SRC_RETURN;
		return 0;
	}
	if (strncmp(s, "arg", 3) == 0 && s[3] >= '1' && s[3] <= '6' && s[4] == '\0') {
		*src = (uint8_t)(SOCKEYE_FUNC_SRC_ARG1 + (s[3] - '1'));
		return 0;
	}
	return -EINVAL;
}

/* A decimal integer with an optional '-' (no '+', no leading zero). */
static int parse_int64(const char *s, size_t len, int64_t *out)
{
	uint64_t v;
	int err;

	if (len > 0 && s[0] == '-') {
		err = parse_uint(s + 1, len - 1, (uint64_t)INT64_MAX + 1, &v);
		if (!err)
			*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
		return err;
	}
	err = parse_uint(s, len, INT64_MAX, &v);
	if (!err)
		*out = (int64_t)v;
	return err;
}

/* values: {0: memory, 1: disk} of an int label. */
static int load_func_values(struct yctx *c, const yaml_node_t *n, struct sockeye_func_label_cfg *l)
{
	static const char *const what = "functions[].labels[].values";
	int err = check_mapping(c, n, what, NULL, 0, NULL);

	if (err)
		return err;
	if (n->data.mapping.pairs.top == n->data.mapping.pairs.start)
		return yerr(c, n, "%s: empty (omit the key to export the number itself)", what);
	for_each_pair (p, n) {
		yaml_node_t *k = ynode(c, p->key), *v = ynode(c, p->value);
		int64_t x;

		if (k->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
		    parse_int64(sval(k), slen(k), &x))
			return yerr(c, k, "%s: '%s' is not a decimal integer", what, sval(k));
		if (l->kind == SOCKEYE_FUNC_KIND_INT && (x < INT32_MIN || x > INT32_MAX))
			return yerr(c, k, "%s: %s does not fit a 32-bit int (use type: long)", what,
				    sval(k));
		for (size_t i = 0; i < l->n_values; i++)
			if (l->values[i] == x)
				return yerr(c, k, "%s: %s listed twice", what, sval(k));
		if (l->n_values == SOCKEYE_FUNC_MAX_VALUES)
			return yerr(c, k, "%s: more than %d values", what, SOCKEYE_FUNC_MAX_VALUES);
		if (is_null(v) || (v->type == YAML_SCALAR_NODE && slen(v) == 0))
			return yerr(c, v, "%s.%s: empty name (an empty label is no label)", what,
				    sval(k));
		err = get_string(c, v, what);
		if (err)
			return err;
		l->values[l->n_values] = x;
		l->value_names[l->n_values] = own_scalar(c, v);
		if (!l->value_names[l->n_values])
			return -ENOMEM;
		l->n_values++;
	}
	return 0;
}

static int load_func_label(struct yctx *c, const yaml_node_t *n, struct sockeye_func_cfg *f,
			   struct sockeye_func_label_cfg *l, size_t *n_strings)
{
	static const char *const keys[] = { "name", "from", "type", "values" };
	const yaml_node_t *name = NULL, *from = NULL, *type = NULL, *values = NULL;
	const char *why;
	int err;

	err = check_mapping(c, n, "functions[].labels[]", keys, ARRAY_SIZE(keys),
			    "name, from, type or values");
	if (err)
		return err;
	for_each_pair (p, n) {
		yaml_node_t *k = ynode(c, p->key), *v = ynode(c, p->value);

		if (is_null(v))
			continue;
		if (strcmp(sval(k), "name") == 0)
			name = v;
		else if (strcmp(sval(k), "from") == 0)
			from = v;
		else if (strcmp(sval(k), "type") == 0)
			type = v;
		else
			values = v;
	}
	if (!name || !from || !type)
		return yerr(c, n, "functions[].labels[]: '%s' is missing",
			    !name ? "name" : !from ? "from" : "type");

	err = get_string(c, name, "functions[].labels[].name");
	if (err)
		return err;
	why = check_func_label_name(sval(name));
	if (why)
		return yerr(c, name, "functions[].labels[].name: bad label name '%s': %s",
			    sval(name), why);
	for (size_t i = 0; i < f->n_labels; i++)
		if (strcmp(f->labels[i].name, sval(name)) == 0)
			return yerr(c, name, "functions[].labels[].name: '%s' listed twice",
				    sval(name));
	l->name = own_scalar(c, name);
	if (!l->name)
		return -ENOMEM;

	err = get_string(c, type, "functions[].labels[].type");
	if (err)
		return err;
	if (strcmp(sval(type), "int") == 0)
		l->kind = SOCKEYE_FUNC_KIND_INT;
	else if (strcmp(sval(type), "long") == 0)
		l->kind = SOCKEYE_FUNC_KIND_LONG;
	else if (strcmp(sval(type), "string") == 0)
		l->kind = SOCKEYE_FUNC_KIND_STRING;
	else
		return yerr(c, type, "functions[].labels[].type: '%s' is not int, long or string",
			    sval(type));

	err = get_string(c, from, "functions[].labels[].from");
	if (err)
		return err;
	if (parse_func_src(sval(from), &l->src))
		return yerr(c, from,
			    "functions[].labels[].from: '%s' is not arg1..arg6 or return (x86-64 "
			    "passes 6 arguments in registers)",
			    sval(from));
	l->from_at = mark_of(from);
	if (l->src == SOCKEYE_FUNC_SRC_RETURN && f->usdt_name)
		return yerr(c, from, "functions[].labels[].from: a USDT probe has no return value");
	if (l->src == SOCKEYE_FUNC_SRC_RETURN && l->kind == SOCKEYE_FUNC_KIND_STRING)
		return yerr(c, type,
			    "functions[].labels[]: a string label cannot come from the return value "
			    "(only arguments are read as strings, at entry)");
	if (l->kind == SOCKEYE_FUNC_KIND_STRING) {
		if (*n_strings == SOCKEYE_FUNC_MAX_STR_LABELS)
			return yerr(c, type, "functions[].labels[]: more than %d string labels",
				    SOCKEYE_FUNC_MAX_STR_LABELS);
		(*n_strings)++;
	}

	if (values) {
		if (l->kind == SOCKEYE_FUNC_KIND_STRING)
			return yerr(c, values,
				    "functions[].labels[].values: only for int and long labels");
		err = load_func_values(c, values, l);
		if (err)
			return err;
	}
	return 0;
}

static int load_func_labels(struct yctx *c, const yaml_node_t *n, struct sockeye_func_cfg *f)
{
	size_t n_strings = 0;
	int err = check_sequence(c, n, "functions[].labels");

	if (err)
		return err;
	for_each_item (it, n) {
		yaml_node_t *item = ynode(c, *it);

		if (f->n_labels == SOCKEYE_FUNC_MAX_LABELS)
			return yerr(c, item, "functions[].labels: more than %d labels",
				    SOCKEYE_FUNC_MAX_LABELS);
		err = load_func_label(c, item, f, &f->labels[f->n_labels], &n_strings);
		if (err)
			return err;
		f->n_labels++;
	}
	return 0;
}

/* "provider:name", each part letters, digits and '_' (as sys/sdt.h macros spell them). */
static int load_func_usdt(struct yctx *c, const yaml_node_t *n, struct sockeye_func_cfg *f)
{
	const char *s = sval(n), *colon = strchr(s, ':');
	size_t plen = colon ? (size_t)(colon - s) : 0;
	bool ok = colon && plen > 0 && colon[1] && !strchr(colon + 1, ':');

	for (const char *p = s; ok && *p; p++)
		if (p != colon && !(isalnum((unsigned char)*p) || *p == '_'))
			ok = false;
	if (!ok)
		return yerr(c, n, "functions[].usdt: '%s' is not \"provider:name\"", s);
	f->usdt_provider = own_strndup(&c->cfg->owned, s, plen);
	f->usdt_name = own_strndup(&c->cfg->owned, colon + 1, strlen(colon + 1));
	return f->usdt_provider && f->usdt_name ? 0 : -ENOMEM;
}

static int load_function(struct yctx *c, const yaml_node_t *n, struct sockeye_func_cfg *f)
{
	static const char *const keys[] = { "metric", "type",	    "binary", "symbol", "usdt",
					    "buckets", "max_series", "labels", "help",	 "value" };
	enum { K_METRIC, K_TYPE, K_BINARY, K_SYMBOL, K_USDT, K_BUCKETS, K_MAX_SERIES, K_LABELS,
	       K_HELP, K_VALUE, K_MAX };
	const yaml_node_t *v[K_MAX] = { 0 };
	const char *why;
	uint64_t max;
	int err;

	_Static_assert(ARRAY_SIZE(keys) == K_MAX, "a node per key");
	memset(f, 0, sizeof(*f));
	f->at = mark_of(n);
	f->max_series = CONFIG_DEFAULT_MAX_SERIES;
	err = check_mapping(c, n, "functions[]", keys, ARRAY_SIZE(keys),
			    "metric, type, binary, symbol, usdt, buckets, max_series, labels, help "
			    "or value");
	if (err)
		return err;
	for_each_pair (p, n) {
		yaml_node_t *k = ynode(c, p->key), *val = ynode(c, p->value);

		for (size_t i = 0; i < K_MAX; i++)
			if (strcmp(sval(k), keys[i]) == 0 && !is_null(val))
				v[i] = val;
	}
	for (size_t i = 0; i <= K_BINARY; i++)
		if (!v[i])
			return yerr(c, n, "functions[]: '%s' is missing", keys[i]);

	err = get_string(c, v[K_TYPE], "functions[].type");
	if (err)
		return err;
	if (strcmp(sval(v[K_TYPE]), "counter") == 0)
		f->type = SOCKEYE_FUNC_COUNTER;
	else if (strcmp(sval(v[K_TYPE]), "histogram") == 0)
		f->type = SOCKEYE_FUNC_HISTOGRAM;
	else
		return yerr(c, v[K_TYPE], "functions[].type: '%s' is not counter or histogram",
			    sval(v[K_TYPE]));

	err = get_string(c, v[K_METRIC], "functions[].metric");
	if (err)
		return err;
	why = check_func_metric(sval(v[K_METRIC]), f->type);
	if (why)
		return yerr(c, v[K_METRIC], "functions[].metric: '%s': %s", sval(v[K_METRIC]), why);
	for (size_t i = 0; i < c->cfg->n_functions; i++)
		if (strcmp(c->cfg->functions[i].metric, sval(v[K_METRIC])) == 0)
			return yerr(c, v[K_METRIC],
				    "functions[].metric: '%s' declared twice (first at line %u)",
				    sval(v[K_METRIC]), c->cfg->functions[i].at.line);
	f->metric = own_scalar(c, v[K_METRIC]);
	f->metric_at = mark_of(v[K_METRIC]);

	err = get_string(c, v[K_BINARY], "functions[].binary");
	if (err)
		return err;
	if (sval(v[K_BINARY])[0] != '/')
		return yerr(c, v[K_BINARY], "functions[].binary: '%s' must be an absolute path",
			    sval(v[K_BINARY]));
	f->binary = own_scalar(c, v[K_BINARY]);
	f->binary_at = mark_of(v[K_BINARY]);

	if (!v[K_SYMBOL] == !v[K_USDT])
		return yerr(c, v[K_SYMBOL] ? v[K_SYMBOL] : n,
			    "functions[]: give exactly one of 'symbol' and 'usdt'");
	if (v[K_SYMBOL]) {
		err = get_string(c, v[K_SYMBOL], "functions[].symbol");
		if (err)
			return err;
		f->symbol = own_scalar(c, v[K_SYMBOL]);
		f->probe_at = mark_of(v[K_SYMBOL]);
	} else {
		err = get_string(c, v[K_USDT], "functions[].usdt");
		if (!err)
			err = load_func_usdt(c, v[K_USDT], f);
		if (err)
			return err;
		f->probe_at = mark_of(v[K_USDT]);
	}
	if (!f->metric || !f->binary || (!f->symbol && !f->usdt_name))
		return -ENOMEM;

	if (v[K_HELP]) {
		err = get_string(c, v[K_HELP], "functions[].help");
		if (err)
			return err;
		if (slen(v[K_HELP]) == 0)
			return yerr(c, v[K_HELP], "functions[].help: empty (omit it for the default)");
		f->help = own_scalar(c, v[K_HELP]);
		if (!f->help)
			return -ENOMEM;
	}

	if (v[K_MAX_SERIES]) {
		err = get_number(c, v[K_MAX_SERIES], "functions[].max_series");
		if (err)
			return err;
		err = parse_uint(sval(v[K_MAX_SERIES]), slen(v[K_MAX_SERIES]),
				 SOCKEYE_FUNC_MAX_SERIES_MAX, &max);
		if (err || max == 0)
			return yerr(c, v[K_MAX_SERIES], "functions[].max_series: '%s' is not in 1..%d",
				    sval(v[K_MAX_SERIES]), SOCKEYE_FUNC_MAX_SERIES_MAX);
		f->max_series = (uint32_t)max;
	}

	if (v[K_BUCKETS]) {
		if (f->type != SOCKEYE_FUNC_HISTOGRAM)
			return yerr(c, v[K_BUCKETS], "functions[].buckets: only for histograms");
		err = load_bounds(c, v[K_BUCKETS], "functions[].buckets", parse_seconds_ns,
				  SOCKEYE_MAX_BUCKETS, f->bounds_ns, &f->n_bounds);
		if (err)
			return err;
	}

	if (v[K_VALUE]) {
		err = get_string(c, v[K_VALUE], "functions[].value");
		if (err)
			return err;
		if (f->type != SOCKEYE_FUNC_HISTOGRAM || !f->usdt_name)
			return yerr(c, v[K_VALUE],
				    "functions[].value: only for histograms of USDT probes (a "
				    "function's histogram times its calls)");
		if (parse_func_src(sval(v[K_VALUE]), &f->value_src) ||
		    f->value_src == SOCKEYE_FUNC_SRC_RETURN)
			return yerr(c, v[K_VALUE], "functions[].value: '%s' is not arg1..arg6",
				    sval(v[K_VALUE]));
		f->value_at = mark_of(v[K_VALUE]);
	} else if (f->type == SOCKEYE_FUNC_HISTOGRAM && f->usdt_name) {
		return yerr(c, n,
			    "functions[]: a histogram of a USDT probe needs 'value' (the argument "
			    "holding a duration in nanoseconds): a probe point has no return to time");
	}

	if (v[K_LABELS])
		return load_func_labels(c, v[K_LABELS], f);
	return 0;
}

static int load_functions(struct yctx *c, const yaml_node_t *n)
{
	struct sockeye_config *cfg = c->cfg;
	size_t count;
	int err = check_sequence(c, n, "functions");

	if (err)
		return err;
	count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (count > SOCKEYE_FUNC_MAX_DECLS)
		return yerr(c, ynode(c, n->data.sequence.items.start[SOCKEYE_FUNC_MAX_DECLS]),
			    "functions: more than %d entries", SOCKEYE_FUNC_MAX_DECLS);
	cfg->functions = own_zalloc(&cfg->owned, (count ? count : 1) * sizeof(*cfg->functions));
	if (!cfg->functions)
		return -ENOMEM;
	cfg->n_functions = 0;
	for_each_item (it, n) {
		err = load_function(c, ynode(c, *it), &cfg->functions[cfg->n_functions]);
		if (err)
			return err;
		cfg->n_functions++;
	}
	return 0;
}

/* What depends on other sections, which may come later in the file: default buckets,
 * metric_prefix, static label names. */
static int finish_functions(struct yctx *c)
{
	struct sockeye_config *cfg = c->cfg;

	for (size_t i = 0; i < cfg->n_functions; i++) {
		struct sockeye_func_cfg *f = &cfg->functions[i];

		if (f->type == SOCKEYE_FUNC_HISTOGRAM && !f->n_bounds) {
			memcpy(f->bounds_ns, cfg->bounds_ns, cfg->n_bounds * sizeof(cfg->bounds_ns[0]));
			f->n_bounds = cfg->n_bounds;
		}
		if (strncmp(f->metric, cfg->self_prefix, strlen(cfg->self_prefix)) == 0)
			return yerr_at(c, yaml_mark_of(f->metric_at),
				       "functions[].metric: '%s': names starting with '%s' "
				       "(metric_prefix) are sockeye's own families",
				       f->metric, cfg->self_prefix);
		for (size_t k = 0; k < f->n_labels; k++)
			for (size_t s = 0; s < cfg->n_labels; s++)
				if (strcmp(f->labels[k].name, cfg->labels[s].name) == 0)
					return yerr_at(c, yaml_mark_of(f->labels[k].from_at),
						       "functions[].labels[]: '%s' is also a static "
						       "label (labels:)",
						       f->labels[k].name);
	}
	return 0;
}

/* db: the database client families (Redis, PostgreSQL). */
static int load_db(struct yctx *c, const yaml_node_t *n)
{
	static const char *const keys[] = { "buckets" };
	int err;

	err = check_mapping(c, n, "db", keys, ARRAY_SIZE(keys), "buckets");
	if (err)
		return err;
	for_each_pair (p, n) {
		yaml_node_t *v = ynode(c, p->value);

		if (is_null(v))
			continue;
		err = load_bounds(c, v, "db.buckets", parse_seconds_ns, SOCKEYE_MAX_BUCKETS,
				  c->cfg->db_bounds_ns, &c->cfg->n_db_bounds);
		if (err)
			return err;
	}
	return 0;
}

static int load_root(struct yctx *c, const yaml_node_t *root)
{
	static const char *const keys[] = { "http",	     "ports",	 "cgroups",   "labels",
					    "metric_prefix", "identity", "functions", "db" };
	int err;

	/* An empty file, or one holding only comments or "---", configures nothing. */
	if (!root || is_null(root))
		return 0;
	err = check_mapping(c, root, "top level", keys, ARRAY_SIZE(keys),
			    "http, ports, cgroups, labels, metric_prefix, identity, functions or db");
	if (err)
		return err;
	for_each_pair (p, root) {
		yaml_node_t *k = ynode(c, p->key), *v = ynode(c, p->value);
		const char *key = sval(k);

		if (is_null(v))
			continue;
		if (strcmp(key, "http") == 0)
			err = load_http(c, v);
		else if (strcmp(key, "ports") == 0)
			err = load_ports(c, v);
		else if (strcmp(key, "cgroups") == 0)
			err = load_cgroups(c, v);
		else if (strcmp(key, "labels") == 0)
			err = load_labels(c, v);
		else if (strcmp(key, "identity") == 0)
			err = load_identity(c, v);
		else if (strcmp(key, "functions") == 0)
			err = load_functions(c, v);
		else if (strcmp(key, "db") == 0)
			err = load_db(c, v);
		else
			err = load_prefix(c, v);
		if (err)
			return err;
	}
	return finish_functions(c);
}

/* The agent runs as root and trusts its config: one that others may write is refused, as
 * sshd refuses such files (StrictModes). Read permission is not checked: nothing in it is
 * secret. fstat of the open file, so a rename between check and read cannot fool it. */
static int check_not_writable(const char *path, int fd)
{
	struct stat st;

	if (fstat(fd, &st)) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -errno;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		fprintf(stderr,
			"%s: writable by group or others (mode %04o): refusing a configuration "
			"anyone could change (chmod go-w %s)\n",
			path, (unsigned int)(st.st_mode & 07777), path);
		return -EPERM;
	}
	return 0;
}

/* Reads the whole file: read errors (EISDIR, EACCES) then get one clear "PATH: reason". */
static int read_file(const char *path, char **data, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t n = 0, cap = 0;
	int err = 0;

	if (!f) {
		err = -errno;
		fprintf(stderr, "%s: %s\n", path, strerror(-err));
		return err;
	}
	err = check_not_writable(path, fileno(f));
	if (err)
		goto cleanup;
	for (;;) {
		size_t got;

		if (n == cap) {
			char *nbuf;

			if (cap >= CONFIG_FILE_MAX) {
				fprintf(stderr, "%s: %s\n", path, strerror(EFBIG));
				err = -EFBIG;
				goto cleanup;
			}
			cap = cap ? cap * 2 : 4096;
			nbuf = realloc(buf, cap);
			if (!nbuf) {
				err = -ENOMEM;
				goto cleanup;
			}
			buf = nbuf;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0) {
			if (ferror(f)) {
				err = errno ? -errno : -EIO;
				fprintf(stderr, "%s: %s\n", path, strerror(-err));
				goto cleanup;
			}
			break;
		}
	}
	*data = buf;
	*len = n;
	buf = NULL;
cleanup:
	free(buf);
	fclose(f);
	return err;
}

/* A reader error (bad UTF-8) carries a byte offset, not a mark: count lines and characters. */
static yaml_mark_t mark_from_offset(const char *data, size_t len, size_t offset)
{
	yaml_mark_t m = { 0 };

	for (size_t i = 0; i < offset && i < len; i++) {
		if (data[i] == '\n') {
			m.line++;
			m.column = 0;
		} else if (((unsigned char)data[i] & 0xc0) != 0x80) {
			m.column++;
		}
	}
	m.index = offset;
	return m;
}

static int parser_error(const struct yctx *c, const yaml_parser_t *parser, const char *data,
			size_t len)
{
	yaml_mark_t mark = parser->problem_mark;
	const char *problem = parser->problem ? parser->problem : "invalid YAML";

	if (parser->error == YAML_MEMORY_ERROR)
		return -ENOMEM;
	if (parser->error == YAML_READER_ERROR)
		mark = mark_from_offset(data, len, parser->problem_offset);
	if (parser->context)
		return yerr_at(c, mark, "%s %s", problem, parser->context);
	return yerr_at(c, mark, "%s", problem);
}

int config_load_file(struct sockeye_config *cfg)
{
	struct sockeye_config work = *cfg;
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	struct yctx c = { .path = cfg->config_file, .doc = &doc, .cfg = &work };
	bool parser_ok = false, doc_ok = false;
	char *data = NULL;
	size_t len = 0;
	int err;

	if (!cfg->config_file)
		return 0;
	err = read_file(cfg->config_file, &data, &len);
	if (err)
		return err;

	/* New strings go on a list of their own, so a failed load leaves cfg untouched. */
	work.owned = NULL;
	if (!yaml_parser_initialize(&parser)) {
		err = -ENOMEM;
		goto cleanup;
	}
	parser_ok = true;
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	if (!yaml_parser_load(&parser, &doc)) {
		err = parser_error(&c, &parser, data, len);
		goto cleanup;
	}
	doc_ok = true;

	err = load_root(&c, yaml_document_get_root_node(&doc));
	if (err)
		goto cleanup;

	/* A second document would be ignored silently: say so instead. */
	if (!yaml_parser_load(&parser, &extra)) {
		err = parser_error(&c, &parser, data, len);
		goto cleanup;
	}
	if (yaml_document_get_root_node(&extra)) {
		err = yerr_at(&c, extra.start_mark, "only one YAML document is allowed");
		yaml_document_delete(&extra);
		goto cleanup;
	}
	yaml_document_delete(&extra);

	work.owned = owned_splice(cfg->owned, work.owned);
	*cfg = work;
	work.owned = NULL;
cleanup:
	owned_free(work.owned);
	if (doc_ok)
		yaml_document_delete(&doc);
	if (parser_ok)
		yaml_parser_delete(&parser);
	free(data);
	return err;
}
