// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* fuzz_render.c - libFuzzer target: render_text on random snapshots, in both formats; the
 * text must pass fuzz.h's structural check (UTF-8, names, escapes, values, one TYPE per
 * family, no series twice, well-formed histograms).
 *
 * The snapshot holds what collect.c can hand the renderer: HTTP series merged and sorted by
 * collect_merge, identities and TLS library paths of arbitrary bytes (a process chooses its
 * OTEL_SERVICE_NAME and the directory of its libssl), program and map names filling their
 * arrays without a NUL, any counter values, any duration bounds; static label names and the
 * self prefix are of the shapes config.c accepts (fuzz_config checks that side). */
#include "fuzz.h"

#include <linux/types.h>

#include "buf.h"
#include "collect.h"
#include "render.h"

#define MAX_HTTP 12
#define MAX_IDS 4
#define MAX_CONNS 6
#define MAX_SERVICES 4
#define MAX_PROGS 3
#define MAX_MAPS 3
#define MAX_LIBS 3
#define MAX_FEATURES 3

static const char *const label_names[] = {"env", "region", "Team_1", "_x", "a"};
#define N_LABELS ARRAY_SIZE(label_names)
static const char *const prefixes[] = {NULL, "sockeye_", "", "node:agent_", "X"};

/* Any bytes but NUL, into a fixed array of size n, NUL-terminated. */
static void fill_bytes(struct fin *f, char *dst, size_t n)
{
	size_t len = fin_count(f, n - 1);

	memset(dst, 0, n);
	for (size_t i = 0; i < len && !fin_empty(f); i++) {
		char c = (char)fin_u8(f);

		dst[i] = c ? c : '\\';
	}
}

/* A string built from pieces that stress escaping and UTF-8. */
static void hostile(struct fin *f, char *dst, size_t n)
{
	static const char *const pieces[] = {
		"\\", "\"", "\n", "\\n", "{", "}", ",", "=", " ", "\t", "\r", "#", "é", "\xe2\x82\xac",
		"\xf0\x9f\x90\x9f", "\xff", "\xc3", "\xed\xa0\x80", "a", "le", "+Inf", "\x7f",
	};
	size_t o = 0, k = fin_count(f, 12);

	memset(dst, 0, n);
	for (size_t i = 0; i < k; i++) {
		const char *s = pieces[fin_u8(f) % ARRAY_SIZE(pieces)];
		size_t l = strlen(s);

		if (o + l >= n)
			break;
		memcpy(dst + o, s, l);
		o += l;
	}
}

static void text_field(struct fin *f, char *dst, size_t n)
{
	if (fin_u8(f) & 1)
		hostile(f, dst, n);
	else
		fill_bytes(f, dst, n);
}

static uint64_t value(struct fin *f)
{
	switch (fin_u8(f) & 3) {
	case 0:
		return fin_u8(f);
	case 1:
		return UINT64_MAX - fin_u8(f);
	default:
		return fin_u64(f, 8);
	}
}

/* CPU seconds: what /proc gives, never negative. */
static double cpu_value(struct fin *f)
{
	return (double)fin_u64(f, 4) / 100.0;
}

static double dvalue(struct fin *f)
{
	static const double special[] = {0, -0.0, 1e-300, 1e300, NAN, INFINITY, -INFINITY, -1,
					 0.1, 1e17, 123456.789};
	uint64_t bits;
	double d;

	if (fin_u8(f) & 1)
		return special[fin_u8(f) % ARRAY_SIZE(special)];
	bits = fin_u64(f, 8);
	memcpy(&d, &bits, sizeof(d));
	return d;
}

/* Strictly ascending bounds (the config guarantees that), n of them. */
static void ascending(struct fin *f, uint64_t *b, size_t n, uint64_t scale)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++) {
		v += 1 + fin_u64(f, 2) * scale;
		b[i] = v;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sockeye_identity ids[MAX_IDS];
	static struct sockeye_http_series http[MAX_HTTP];
	static struct sockeye_conn_series conns[MAX_CONNS];
	static struct sockeye_service_process services[MAX_SERVICES];
	static struct sockeye_prog_stat progs[MAX_PROGS];
	static struct sockeye_map_stat maps[MAX_MAPS];
	static struct sockeye_tls_library libs[MAX_LIBS];
	static struct sockeye_feature_state features[MAX_FEATURES];
	static char label_values[N_LABELS][64];
	struct sockeye_label labels[N_LABELS];
	struct fin f = {data, size};
	struct sockeye_snapshot snap;
	char version[32], revision[32];
	size_t i;
	uint8_t mode = fin_u8(&f);

	memset(&snap, 0, sizeof(snap));
	memset(http, 0, sizeof(http));
	memset(conns, 0, sizeof(conns));
	for (i = 0; i < MAX_IDS; i++)
		for (int k = 0; k < SOCKEYE_ID_MAX; k++)
			text_field(&f, ids[i].v[k], sizeof(ids[i].v[k]));

	/* Duration bounds: any order when mode says so (render skips a bound not above the one
	 * before), else ascending as the config makes them. Below 2^51 ns (26 days): bounds
	 * further up that differ by a nanosecond are the same float64 le to Prometheus. */
	snap.n_bounds = fin_count(&f, SOCKEYE_MAX_BUCKETS + 2);
	if (mode & 1)
		for (i = 0; i < SOCKEYE_MAX_BUCKETS; i++)
			snap.bounds_ns[i] = value(&f) & ((1ULL << 51) - 1);
	else
		ascending(&f, snap.bounds_ns, SOCKEYE_MAX_BUCKETS, 1000);
	snap.n_size_bounds = fin_count(&f, SOCKEYE_SIZE_BOUNDS);
	ascending(&f, snap.size_bounds, SOCKEYE_SIZE_BOUNDS, 1);
	snap.n_rtt_bounds = fin_count(&f, SOCKEYE_RTT_BOUNDS);
	ascending(&f, snap.rtt_bounds_us, SOCKEYE_RTT_BOUNDS, 1);

	snap.n_http = fin_count(&f, MAX_HTTP);
	for (i = 0; i < snap.n_http; i++) {
		struct sockeye_http_series *s = &http[i];
		uint8_t b = fin_u8(&f);

		/* collect.c clamps method and version; role comes from the key as it is. */
		s->role = b & 1 ? SOCKEYE_ROLE_CLIENT : SOCKEYE_ROLE_SERVER;
		if ((b & 0x0e) == 0x0e)
			s->role = fin_u8(&f);
		s->method = fin_u8(&f) % SOCKEYE_METHOD_MAX;
		s->version = fin_u8(&f) % SOCKEYE_VERSION_MAX;
		s->status = (uint16_t)fin_u64(&f, 2);
		s->server_port = (uint16_t)fin_u64(&f, 2);
		s->cgroup_id = fin_u8(&f);
		s->identity = b & 0x10 ? &ids[fin_u8(&f) % MAX_IDS] : NULL;
		/* Routes come from the kernel parser: printable, NUL-terminated. "{other}" when the
		 * route table was full. */
		if (b & 0x20) {
			strcpy(s->route, "{other}");
		} else {
			size_t n = fin_count(&f, SOCKEYE_ROUTE_LEN - 1);

			for (size_t k = 0; k < n; k++)
				s->route[k] = (char)(0x21 + fin_u8(&f) % 94);
		}
		s->count = value(&f);
		s->sum_ns = value(&f);
		/* Per-bucket counts sum without wrapping (2^64 requests do not happen). */
		for (size_t k = 0; k < SOCKEYE_SLOTS; k++)
			s->buckets[k] = b & 0x40 ? value(&f) >> 8 : fin_u8(&f);
		/* Size counts are the bucket totals (collect.c size_hist_recount). */
		if (b & 0x80) {
			s->req_size.sum = value(&f);
			s->resp_size.sum = value(&f);
			for (size_t k = 0; k < SOCKEYE_SIZE_SLOTS; k++) {
				s->req_size.buckets[k] = fin_u8(&f);
				s->resp_size.buckets[k] = fin_u8(&f);
				s->req_size.count += s->req_size.buckets[k];
				s->resp_size.count += s->resp_size.buckets[k];
			}
		}
	}
	snap.http = http;
	snap.n_http = collect_merge(http, snap.n_http);

	snap.n_conns = fin_count(&f, MAX_CONNS);
	for (i = 0; i < snap.n_conns; i++) {
		struct sockeye_conn_series *c = &conns[i];
		uint64_t *v = (uint64_t *)&c->v;

		c->side = fin_u8(&f) % (SOCKEYE_ROLE_MAX + 1);
		/* (side, port, identity) groups are unique in a snapshot. */
		c->server_port = (uint16_t)(i * 1000 + fin_u8(&f));
		c->identity = fin_u8(&f) & 1 ? &ids[fin_u8(&f) % MAX_IDS] : NULL;
		for (size_t k = 0; k < sizeof(c->v) / sizeof(uint64_t); k++)
			v[k] = fin_u8(&f) & 1 ? value(&f) >> 8 : fin_u8(&f);
	}
	snap.conns = conns;

	/* Services are one per distinct identity (collect groups processes by identity). */
	for (i = fin_count(&f, MAX_SERVICES); i > 0; i--) {
		const struct sockeye_identity *id = &ids[i - 1];
		size_t k;

		for (k = 0; k < snap.n_services; k++)
			if (!memcmp(services[k].identity, id, sizeof(*id)))
				break;
		if (k < snap.n_services)
			continue;
		services[snap.n_services].identity = id;
		services[snap.n_services].cpu_seconds = cpu_value(&f);
		services[snap.n_services].resident_bytes = value(&f);
		snap.n_services++;
	}
	snap.services = services;
	snap.id_cache_valid = fin_u8(&f) & 1;
	for (i = 0; i < SOCKEYE_ID_CACHE_MAX; i++) {
		snap.id_cache_entries[i] = value(&f);
		snap.id_cache_evictions[i] = value(&f);
	}
	for (i = 0; i < SOCKEYE_STAT_MAX; i++)
		snap.stats[i] = value(&f);

	/* Program and map names are the kernel's (BPF_OBJ_NAME_LEN, may fill the array). */
	snap.n_progs = fin_count(&f, MAX_PROGS);
	for (i = 0; i < snap.n_progs; i++) {
		snprintf(progs[i].name, sizeof(progs[i].name), "%zu_prog", i); /* unique */
		if (fin_u8(&f) & 1)
			memset(progs[i].name + 1, 'p', sizeof(progs[i].name) - 1); /* no NUL */
		progs[i].run_cnt = value(&f);
		progs[i].run_time_ns = value(&f);
		progs[i].verified_insns = (uint32_t)value(&f);
	}
	snap.progs = progs;
	snap.n_maps = fin_count(&f, MAX_MAPS);
	for (i = 0; i < snap.n_maps; i++) {
		snprintf(maps[i].name, sizeof(maps[i].name), "%zu_map", i);
		if (fin_u8(&f) & 1)
			memset(maps[i].name + 1, 'm', sizeof(maps[i].name) - 1);
		maps[i].entries = value(&f);
		maps[i].capacity = value(&f);
	}
	snap.maps = maps;
	snap.n_features = fin_count(&f, MAX_FEATURES);
	for (i = 0; i < snap.n_features; i++) {
		snprintf(features[i].name, sizeof(features[i].name), "feature_%zu", i);
		features[i].enabled = fin_u8(&f) & 1;
	}
	snap.features = features;

	/* TLS library paths are what /proc/PID/maps shows: any bytes a directory name may hold,
	 * unique per library. */
	snap.tls_valid = fin_u8(&f) & 1;
	snap.n_tls_libs = fin_count(&f, MAX_LIBS);
	for (i = 0; i < snap.n_tls_libs; i++) {
		char tail[SOCKEYE_TLS_LIBRARY_LEN];

		text_field(&f, tail, 200);
		snprintf(libs[i].library, sizeof(libs[i].library), "/lib%zu/%s", i, tail);
		if (fin_u8(&f) == 0xff)
			memset(libs[i].library + 5, 'L', sizeof(libs[i].library) - 5); /* no NUL */
		libs[i].mode = fin_u8(&f) % (SOCKEYE_TLS_MODE_MAX + 1);
	}
	snap.tls_libs = libs;
	for (i = 0; i < SOCKEYE_TLS_STAT_MAX; i++)
		snap.tls_stats[i] = value(&f);

	/* Static labels: names config.c accepts (distinct), values of any UTF-8 YAML allows. */
	snap.n_static_labels = fin_count(&f, N_LABELS);
	for (i = 0; i < snap.n_static_labels; i++) {
		labels[i].name = label_names[i];
		hostile(&f, label_values[i], sizeof(label_values[i]));
		labels[i].value = label_values[i];
	}
	snap.static_labels = labels;
	snap.self_prefix = prefixes[fin_u8(&f) % ARRAY_SIZE(prefixes)];
	snap.version = fin_u8(&f) & 1 ? NULL : fin_str(&f, version, sizeof(version) - 1);
	snap.revision = fin_u8(&f) & 1 ? NULL : fin_str(&f, revision, sizeof(revision) - 1);
	snap.process.valid = fin_u8(&f) & 1;
	snap.process.cpu_seconds = cpu_value(&f);
	snap.process.start_time_seconds = dvalue(&f);
	snap.process.resident_bytes = value(&f);
	snap.process.open_fds = value(&f);
	snap.scrape_duration_seconds = dvalue(&f);

	for (int fmt = RENDER_TEXT_004; fmt <= RENDER_OPENMETRICS; fmt++) {
		struct sockeye_buf b;

		buf_init(&b);
		CHECK(render_text(&snap, fmt, &b) == 0, "render_text failed: %d", b.err);
		if (getenv("FUZZ_DUMP")) /* to see a failing input's text */
			fwrite(b.data, 1, b.len, stderr);
		expo_check(b.data ? b.data : "", b.len, fmt == RENDER_OPENMETRICS);
		buf_free(&b);
	}
	return 0;
}
