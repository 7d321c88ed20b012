/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* config.h - flags and the agent config file -> struct sockeye_config; validation only. */
#ifndef SOCKEYE_CONFIG_H
#define SOCKEYE_CONFIG_H

#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sockeye.h"
#include "snapshot.h"

/* --tls.probe-mode: where the TLS uprobes go (docs/tls.md). */
enum config_tls_mode {
	CONFIG_TLS_AUTO = 0, /* internal functions where derived and validated, else public */
	CONFIG_TLS_INTERNAL, /* internal functions only: libraries without them are skipped */
	CONFIG_TLS_PUBLIC,   /* the exported SSL_read/SSL_write (and _ex) symbols */
};

#define CONFIG_MAX_LISTEN 8
#define CONFIG_MAX_PORTS 64
#define CONFIG_MAX_LABELS 16
#define CONFIG_DEFAULT_LISTEN ":9810"
#define CONFIG_DEFAULT_PATH "/metrics"
#define CONFIG_DEFAULT_PODS_LOG_DIR "/var/log/pods"
#define CONFIG_DEFAULT_MAX_SEGMENT_VALUES 10
#define CONFIG_MAX_RULES 64

/* One identity.rules entry: the first rule whose every given criterion matches a series names
 * its service. At least one criterion is set. */
struct sockeye_identity_rule {
	const char *exe;	  /* executable path (as given, e.g. /usr/bin/python3); NULL: any */
	const char *cgroup;	  /* cgroup v2 path: that cgroup and those below it; NULL: any */
	uint16_t port;		  /* server_port; 0: any */
	const char *service_name; /* never NULL or "" */
};

/* A place in the agent config file, 1-based (0: unknown), for "file:line:column: reason"
 * errors found after parsing (a symbol missing from its binary). */
struct config_mark {
	uint32_t line;
	uint32_t column;
};

/* One functions[].labels entry (docs/functions.md). */
struct sockeye_func_label_cfg {
	const char *name;
	uint8_t src;  /* enum sockeye_func_src */
	uint8_t kind; /* enum sockeye_func_kind */
	size_t n_values; /* values: named ints (the rest export as "other"); 0: the number */
	int64_t values[SOCKEYE_FUNC_MAX_VALUES];
	const char *value_names[SOCKEYE_FUNC_MAX_VALUES];
	struct config_mark from_at;
};

/* One functions entry: a metric from a function symbol or a USDT probe of one ELF file. */
struct sockeye_func_cfg {
	const char *metric; /* the family name as exported (a counter's ends in _total) */
	uint8_t type;	    /* enum sockeye_func_type */
	const char *help;   /* NULL: a default naming the symbol and the binary */
	const char *binary; /* absolute path of an executable or shared library */
	const char *symbol; /* a function symbol, or NULL for a USDT probe */
	const char *usdt_provider; /* with usdt_name, the USDT probe; NULL for a symbol */
	const char *usdt_name;
	uint8_t value_src; /* USDT histograms: the argument observed (ns); SRC_NONE otherwise */
	uint64_t bounds_ns[SOCKEYE_MAX_BUCKETS]; /* histograms; default http.duration_buckets */
	size_t n_bounds;
	uint32_t max_series;
	struct sockeye_func_label_cfg labels[SOCKEYE_FUNC_MAX_LABELS];
	size_t n_labels;
	struct config_mark at;	      /* the entry */
	struct config_mark metric_at; /* its metric value */
	struct config_mark binary_at; /* its binary value */
	struct config_mark probe_at;  /* its symbol or usdt value */
	struct config_mark value_at;  /* its value value */
};

#define CONFIG_DEFAULT_MAX_SERIES 64

struct sockeye_config {
	/* Web (flags). */
	const char *listen[CONFIG_MAX_LISTEN]; /* --web.listen-address, repeatable */
	size_t n_listen;
	const char *telemetry_path;  /* --web.telemetry-path */
	const char *web_config_file; /* --web.config.file, NULL = plain HTTP, no auth */
	bool web_disable;	     /* --web.disable */
	bool tls_disable;	     /* --tls.disable: no OpenSSL uprobes */
	bool redis_disable;	     /* --redis.disable: no Redis client metrics */
	bool postgresql_disable;     /* --postgresql.disable: no PostgreSQL client metrics */
	bool bpf_run_time_stats;     /* --bpf.run-time-stats: kernel.bpf_stats while running */
	int tls_probe_mode;	     /* --tls.probe-mode: enum config_tls_mode */
	const char *textfile;	     /* --output.textfile, NULL = none */
	unsigned interval_ms;	     /* --output.interval */
	const char *config_file;     /* --config.file */
	int log_level;		     /* enum log_level */
	bool check;		     /* --check: load, attach, report, exit */
	const char *pods_log_dir;    /* --kubernetes.pods-log-dir */
	const char *caps_keep;	     /* --capabilities.keep: auto, all, none or a list (caps.h) */

	/* Agent config file. Every field has a default (config_defaults). */
	uint64_t bounds_ns[SOCKEYE_MAX_BUCKETS]; /* histogram bounds, ascending */
	size_t n_bounds;
	uint64_t size_bounds[SOCKEYE_SIZE_BOUNDS]; /* body size bounds (bytes), ascending */
	size_t n_size_bounds;
	uint64_t db_bounds_ns[SOCKEYE_MAX_BUCKETS]; /* db.buckets: db client durations, ascending */
	size_t n_db_bounds;
	uint32_t route_capacity;		 /* http_routes max_entries */
	uint32_t series_capacity;		 /* http_dur and http_sizes max_entries */
	bool series_capacity_given;		 /* http.series_capacity was in the file */
	uint64_t series_budget;			 /* http.series_budget, 0: not given */
	/* http.routes (docs/routes.md): patterns in order, ignored paths, unmatched mode. */
	const char *route_patterns[SOCKEYE_ROUTE_PATTERNS_MAX];
	size_t n_route_patterns;
	const char *route_ignore[SOCKEYE_ROUTE_PATTERNS_MAX];
	size_t n_route_ignore;
	uint32_t route_unmatched;  /* enum sockeye_route_unmatched */
	uint32_t route_max_values; /* http.routes.max_segment_values */
	uint16_t include_ports[CONFIG_MAX_PORTS]; /* empty = every port */
	size_t n_include_ports;
	uint16_t exclude_ports[CONFIG_MAX_PORTS];
	size_t n_exclude_ports;
	/* cgroup v2 paths relative to the cgroup2 mount ("/docker/abc..."); a socket is included
	 * when its cgroup is one of these or below one (empty = every cgroup), unless excluded. */
	const char *include_cgroups[CONFIG_MAX_PORTS];
	size_t n_include_cgroups;
	const char *exclude_cgroups[CONFIG_MAX_PORTS];
	size_t n_exclude_cgroups;
	struct sockeye_label labels[CONFIG_MAX_LABELS]; /* static labels on every series */
	size_t n_labels;
	const char *self_prefix; /* prefix of sockeye's own families, default "sockeye_" */
	struct sockeye_identity_rule rules[CONFIG_MAX_RULES]; /* identity.rules, in file order */
	size_t n_rules;
	struct sockeye_func_cfg *functions; /* functions, in file order (owned) */
	size_t n_functions;

	/* Storage the strings above point into (owned; freed by config_free). */
	void *owned;
};

/* Fills every default. */
void config_defaults(struct sockeye_config *cfg);

/* Parses argv. Returns 0 to run, 1 when --help/--version printed and the program should exit 0,
 * or -EINVAL after printing a clear message to stderr (exit status 2). */
int config_parse_args(struct sockeye_config *cfg, int argc, char **argv);

/* Loads the YAML agent config file named by cfg->config_file (no-op when NULL). On error prints
 * "file:line:column: reason" to stderr and returns a negative errno (exit status 1); a file
 * writable by group or others is refused (-EPERM). */
int config_load_file(struct sockeye_config *cfg);

void config_free(struct sockeye_config *cfg);

#endif /* SOCKEYE_CONFIG_H */
