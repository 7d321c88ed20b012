// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* identity.c - cgroup ids, ports and owner pids -> service and container labels; bounded cache. */
#define _GNU_SOURCE /* open_by_handle_at */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "identity.h"
#include "log.h"
#include "utf8.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* A series group is named again this often even when nothing changed: new workers join the
 * service's process set, a changed rule or pod directory shows. */
#define REFRESH_SECONDS 30.0
/* A pod directory that was not found (the kubelet may not have made it yet) is looked for
 * again after this long, not on every scrape. */
#define K8S_RETRY_SECONDS 5.0

/* Bounds. A series group is a (cgroup, role, port) of the http_dur map, so there are never
 * more than that map holds; the others follow from it. */
#define MAX_SERIES SOCKEYE_HTTP_ENTRIES
#define MAX_CGROUPS SOCKEYE_HTTP_ENTRIES
#define MAX_PROCESSES 16384
#define MAX_PIDS_PER_SERIES 1024   /* processes holding one listener: workers of a pool */
#define MAX_SCAN_PIDS 65536	   /* processes of one cgroup looked at for listeners */
#define MAX_WALK_DIRS 65536	   /* cgroup directories walked when file handles fail */
#define ENVIRON_MAX (256 * 1024)   /* bytes of /proc/PID/environ read */
#define PODS_DIR_MAX_CONTAINERS 64 /* container directories looked at in one pod */

/* FILEID_KERNFS: a cgroup2 file handle is the 64-bit cgroup id (include/linux/exportfs.h). */
#define FILEID_KERNFS 0xfe

/* ---- Pure parsers ------------------------------------------------------------------------ */

void identity_copy_utf8(char *out, size_t size, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, o = 0;

	if (!size)
		return;
	while (i < len && u[i]) {
		size_t n = utf8_seq(u + i, len - i);

		if (o + (n ? n : 1) >= size)
			break;
		if (n) {
			memcpy(out + o, s + i, n);
			o += n;
			i += n;
		} else {
			out[o++] = '?';
			i++;
		}
	}
	out[o] = '\0';
}

static int is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

static int ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* A pod uid as the kubelet writes it: 8-4-4-4-12 hex digits with '-' (cgroupfs, log dirs)
 * or '_' (systemd slice names), or 32 hex digits (static pods: a hash of the manifest).
 * Copies it with '-' separators to out. */
static int parse_uid(const char *s, size_t n, char *out)
{
	if (n == 32 && is_hex(s, n)) {
		memcpy(out, s, n);
		out[n] = '\0';
		return 0;
	}
	if (n != IDENTITY_POD_UID_LEN)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-' && s[i] != '_')
				return -EINVAL;
			out[i] = '-';
		} else if (is_hex(s + i, 1)) {
			out[i] = s[i];
		} else {
			return -EINVAL;
		}
	}
	out[n] = '\0';
	return 0;
}

/* "<prefix><64 hex>[.scope]" or a bare "<64 hex>" (cgroupfs drivers). Conmon's scopes
 * ("libpod-conmon-<id>", "crio-conmon-<id>") are not containers and do not match. */
static int parse_container_component(const char *c, size_t n, char *out)
{
	static const char *const prefixes[] = { "docker-", "cri-containerd-", "crio-", "libpod-" };

	if (ends_with(c, n, ".scope"))
		n -= strlen(".scope");
	for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++) {
		size_t k = strlen(prefixes[i]);

		if (n > k && memcmp(c, prefixes[i], k) == 0) {
			c += k;
			n -= k;
			break;
		}
	}
	if (n != IDENTITY_CONTAINER_ID_LEN || !is_hex(c, n))
		return -EINVAL;
	memcpy(out, c, n);
	out[n] = '\0';
	return 0;
}

/* "pod<uid>" (cgroupfs) or "<...>-pod<uid>.slice" (systemd). */
static int parse_pod_component(const char *c, size_t n, char *out)
{
	if (ends_with(c, n, ".slice")) {
		n -= strlen(".slice");
		for (size_t i = n; i-- > 0;) {
			if (i + 3 <= n && memcmp(c + i, "pod", 3) == 0 &&
			    (i == 0 || c[i - 1] == '-'))
				return parse_uid(c + i + 3, n - i - 3, out);
		}
		return -EINVAL;
	}
	if (n > 3 && memcmp(c, "pod", 3) == 0)
		return parse_uid(c + 3, n - 3, out);
	return -EINVAL;
}

static int has_substr(const char *s, size_t n, const char *sub)
{
	size_t k = strlen(sub);

	for (size_t i = 0; i + k <= n; i++)
		if (memcmp(s + i, sub, k) == 0)
			return 1;
	return 0;
}

void identity_parse_cgroup_path(const char *path, struct identity_cgroup_info *out)
{
	const char *p = path;
	int kubepods = 0;

	memset(out, 0, sizeof(*out));
	while (*p) {
		const char *c;
		size_t n;
		char id[IDENTITY_CONTAINER_ID_LEN + 1], uid[IDENTITY_POD_UID_LEN + 1];

		while (*p == '/')
			p++;
		c = p;
		while (*p && *p != '/')
			p++;
		n = (size_t)(p - c);
		if (!n)
			break;
		/* The innermost match wins: a container nested in another names the inner one. */
		if (parse_container_component(c, n, id) == 0)
			strcpy(out->container_id, id);
		/* A pod uid only below a kubepods cgroup ("kubepods", "kubepods.slice",
		 * "kubelet-kubepods.slice"): a "pod..." name elsewhere is not the kubelet's. */
		if (has_substr(c, n, "kubepods"))
			kubepods = 1;
		if (kubepods && parse_pod_component(c, n, uid) == 0)
			strcpy(out->pod_uid, uid);
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes [s, s + n) into out (the W3C baggage encoding that OTEL_RESOURCE_ATTRIBUTES
 * values use); a '%' not followed by two hex digits stays as it is. Returns the length. */
static size_t percent_decode(const char *s, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			out[o++] = (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	return o;
}

static void trim(const char **s, size_t *n)
{
	while (*n && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*n)--;
	}
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

/* service.name in an OTEL_RESOURCE_ATTRIBUTES value: "k1=v1,service.name=x,...". */
static int resource_service_name(const char *v, size_t n, char *out, size_t size)
{
	const char *end = v + n;

	while (v < end) {
		const char *comma = memchr(v, ',', (size_t)(end - v)), *eq;
		const char *item_end = comma ? comma : end;
		const char *key = v, *val;
		size_t klen, vlen;

		v = comma ? comma + 1 : end;
		eq = memchr(key, '=', (size_t)(item_end - key));
		if (!eq)
			continue;
		klen = (size_t)(eq - key);
		trim(&key, &klen);
		if (klen != strlen("service.name") || memcmp(key, "service.name", klen) != 0)
			continue;
		val = eq + 1;
		vlen = (size_t)(item_end - val);
		trim(&val, &vlen);
		if (!vlen)
			return -ENOENT;
		{
			char *dec = malloc(vlen + 1);
			size_t dlen;

			if (!dec)
				return -ENOMEM;
			dlen = percent_decode(val, vlen, dec);
			identity_copy_utf8(out, size, dec, dlen);
			free(dec);
		}
		return out[0] ? 0 : -ENOENT;
	}
	return -ENOENT;
}

/* The value of the first entry name=... in an environ blob, NULL when there is none. */
static const char *environ_get(const char *env, size_t len, const char *name, size_t *vlen)
{
	size_t k = strlen(name);
	const char *p = env, *end = env + len;

	while (p < end) {
		const char *nul = memchr(p, '\0', (size_t)(end - p));
		const char *e = nul ? nul : end;

		if ((size_t)(e - p) > k && memcmp(p, name, k) == 0 && p[k] == '=') {
			*vlen = (size_t)(e - p - k - 1);
			return p + k + 1;
		}
		p = e + 1;
	}
	return NULL;
}

int identity_environ_service_name(const char *env, size_t len, char *out, size_t size)
{
	const char *v;
	size_t vlen;

	if (size)
		out[0] = '\0';
	v = environ_get(env, len, "OTEL_SERVICE_NAME", &vlen);
	if (v) {
		trim(&v, &vlen);
		identity_copy_utf8(out, size, v, vlen);
		if (out[0])
			return 0;
	}
	v = environ_get(env, len, "OTEL_RESOURCE_ATTRIBUTES", &vlen);
	if (v)
		return resource_service_name(v, vlen, out, size);
	return -ENOENT;
}

/* A Kubernetes object name as the log paths carry it: non-empty, shorter than size, and
 * without '_' (which separates the parts of those names). */
static int k8s_name(const char *s, size_t n, char *out, size_t size)
{
	if (n == 0 || n >= size || memchr(s, '_', n) || memchr(s, '/', n))
		return -EINVAL;
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

int identity_parse_pod_dir(const char *name, struct identity_pod *out)
{
	const char *first = strchr(name, '_'), *last = strrchr(name, '_');

	memset(out, 0, sizeof(*out));
	if (!first || first == last)
		return -EINVAL;
	if (k8s_name(name, (size_t)(first - name), out->ns, sizeof(out->ns)) ||
	    k8s_name(first + 1, (size_t)(last - first - 1), out->name, sizeof(out->name)) ||
	    parse_uid(last + 1, strlen(last + 1), out->uid)) {
		memset(out, 0, sizeof(*out));
		return -EINVAL;
	}
	return 0;
}

int identity_parse_container_log(const char *name, const char *pod, const char *ns,
				 const char *container_id, char *out, size_t size)
{
	size_t n = strlen(name), lp = strlen(pod), ln = strlen(ns), li = strlen(container_id);
	size_t head = lp + 1 + ln + 1, tail = 1 + li + strlen(".log");

	if (!lp || !ln || !li || n <= head + tail)
		return -ENOENT;
	if (memcmp(name, pod, lp) != 0 || name[lp] != '_' || memcmp(name + lp + 1, ns, ln) != 0 ||
	    name[lp + 1 + ln] != '_')
		return -ENOENT;
	if (name[n - tail] != '-' || memcmp(name + n - tail + 1, container_id, li) != 0 ||
	    strcmp(name + n - 4, ".log") != 0)
		return -ENOENT;
	return k8s_name(name + head, n - head - tail, out, size) ? -ENOENT : 0;
}

static int is_dir_at(int dfd, const struct dirent *e)
{
	struct stat st;

	if (e->d_type == DT_DIR)
		return 1;
	if (e->d_type != DT_UNKNOWN)
		return 0;
	return fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

/* The container whose log in <pods_log_dir>/../containers names container_id. */
static int container_from_containers_dir(const char *pods_log_dir, const struct identity_pod *pod,
					 const char *container_id, char *out, size_t size)
{
	char dir[PATH_MAX];
	size_t n = strlen(pods_log_dir);
	struct dirent *e;
	DIR *d;
	int err = -ENOENT;

	while (n > 1 && pods_log_dir[n - 1] == '/')
		n--;
	while (n > 0 && pods_log_dir[n - 1] != '/')
		n--;
	if (snprintf(dir, sizeof(dir), "%.*scontainers", (int)n, pods_log_dir) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	d = opendir(dir);
	if (!d)
		return -ENOENT;
	while ((e = readdir(d)))
		if (identity_parse_container_log(e->d_name, pod->name, pod->ns, container_id, out,
						 size) == 0) {
			err = 0;
			break;
		}
	closedir(d);
	return err;
}

/* Whether a file in the container's log directory is a symlink naming container_id (docker
 * links 0.log to /var/lib/docker/containers/<id>/<id>-json.log). */
static int dir_links_to(int pod_fd, const char *container, const char *container_id)
{
	int fd = openat(pod_fd, container, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *e;
	int found = 0;
	DIR *d;

	if (fd < 0)
		return 0;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return 0;
	}
	while (!found && (e = readdir(d))) {
		char target[PATH_MAX];
		ssize_t n = readlinkat(dirfd(d), e->d_name, target, sizeof(target) - 1);

		if (n <= 0)
			continue;
		target[n] = '\0';
		found = strstr(target, container_id) != NULL;
	}
	closedir(d);
	return found;
}

int identity_k8s_lookup(const char *pods_log_dir, const char *uid, const char *container_id,
			struct sockeye_identity *out)
{
	char names[PODS_DIR_MAX_CONTAINERS][64], found_dir[PATH_MAX];
	struct identity_pod pod, p;
	size_t n_names = 0;
	struct dirent *e;
	int pod_fd, err = -ENOENT;
	DIR *d;

	d = opendir(pods_log_dir);
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		if (identity_parse_pod_dir(e->d_name, &p) == 0 && strcmp(p.uid, uid) == 0) {
			pod = p;
			snprintf(found_dir, sizeof(found_dir), "%s", e->d_name);
			err = 0;
			break;
		}
	}
	if (err) {
		closedir(d);
		return err;
	}
	identity_copy_utf8(out->v[SOCKEYE_ID_K8S_NAMESPACE_NAME], SOCKEYE_ID_VALUE_LEN, pod.ns,
			   strlen(pod.ns));
	identity_copy_utf8(out->v[SOCKEYE_ID_K8S_POD_NAME], SOCKEYE_ID_VALUE_LEN, pod.name,
			   strlen(pod.name));
	out->v[SOCKEYE_ID_K8S_CONTAINER_NAME][0] = '\0';

	pod_fd = openat(dirfd(d), found_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	closedir(d);
	if (pod_fd < 0)
		return 0;
	d = fdopendir(pod_fd);
	if (!d) {
		close(pod_fd);
		return 0;
	}
	while ((e = readdir(d)) && n_names < PODS_DIR_MAX_CONTAINERS) {
		char name[64];

		if (e->d_name[0] == '.' || !is_dir_at(dirfd(d), e) ||
		    k8s_name(e->d_name, strlen(e->d_name), name, sizeof(name)))
			continue;
		strcpy(names[n_names++], name);
	}
	if (n_names == 1) {
		strcpy(out->v[SOCKEYE_ID_K8S_CONTAINER_NAME], names[0]);
	} else if (n_names > 1 && container_id && container_id[0]) {
		char name[64];

		if (container_from_containers_dir(pods_log_dir, &pod, container_id, name,
						  sizeof(name)) == 0) {
			strcpy(out->v[SOCKEYE_ID_K8S_CONTAINER_NAME], name);
		} else {
			for (size_t i = 0; i < n_names; i++) {
				if (dir_links_to(dirfd(d), names[i], container_id)) {
					strcpy(out->v[SOCKEYE_ID_K8S_CONTAINER_NAME], names[i]);
					break;
				}
			}
		}
	}
	closedir(d);
	return 0;
}

void identity_process_name(const char *comm, const char *exe, char *out, size_t size)
{
	const char *base = NULL;
	size_t blen = 0, clen = comm ? strnlen(comm, 16) : 0;

	if (exe && exe[0]) {
		const char *slash = strrchr(exe, '/');

		base = slash ? slash + 1 : exe;
		blen = strlen(base);
		/* The kernel marks a replaced or removed binary. */
		if (ends_with(base, blen, " (deleted)"))
			blen -= strlen(" (deleted)");
	}
	/* comm is the base name of the file that was executed, cut to 15 bytes. */
	if (clen == 0 || (clen == 15 && base && blen > clen && memcmp(base, comm, clen) == 0))
		identity_copy_utf8(out, size, base ? base : "", blen);
	else
		identity_copy_utf8(out, size, comm, clen);
}

static int cgroup_at_or_below(const char *path, const char *top)
{
	size_t n = strlen(top);

	if (strcmp(top, "/") == 0)
		return 1;
	return strncmp(path, top, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

const struct sockeye_identity_rule *identity_match_rule(const struct sockeye_identity_rule *rules,
							const char *const *exe_real, size_t n,
							const char *exe, uint16_t port,
							const char *cgroup)
{
	for (size_t i = 0; i < n; i++) {
		const struct sockeye_identity_rule *r = &rules[i];

		if (r->port && r->port != port)
			continue;
		if (r->cgroup && !(cgroup && cgroup_at_or_below(cgroup, r->cgroup)))
			continue;
		if (r->exe && !(exe && (strcmp(exe, r->exe) == 0 ||
					(exe_real && exe_real[i] && strcmp(exe, exe_real[i]) == 0))))
			continue;
		return r;
	}
	return NULL;
}

/* ---- The cache ----------------------------------------------------------------------------- */

/* Every cache entry starts with its key; a table finds entries through an open-addressing
 * index over a dense array, which a sweep compacts. */
struct tkey {
	uint64_t a, b;
};

struct table {
	char *items;
	size_t n, cap, item_size, max;
	uint32_t *slots; /* index + 1 of an item, 0: empty */
	size_t n_slots;	 /* a power of two, more than twice n */
};

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static size_t slot_of(const struct table *t, const void *key)
{
	const struct tkey *k = key;

	return (size_t)(mix64(k->a ^ mix64(k->b + 0x9e3779b97f4a7c15ULL)) & (t->n_slots - 1));
}

static void *table_at(const struct table *t, size_t i)
{
	return t->items + i * t->item_size;
}

static void *table_find(const struct table *t, const struct tkey *k)
{
	if (!t->n_slots)
		return NULL;
	for (size_t h = slot_of(t, k);; h = (h + 1) & (t->n_slots - 1)) {
		uint32_t s = t->slots[h];

		if (!s)
			return NULL;
		if (memcmp(table_at(t, s - 1), k, sizeof(*k)) == 0)
			return table_at(t, s - 1);
	}
}

static void table_index(struct table *t)
{
	memset(t->slots, 0, t->n_slots * sizeof(*t->slots));
	for (size_t i = 0; i < t->n; i++) {
		size_t h = slot_of(t, table_at(t, i));

		while (t->slots[h])
			h = (h + 1) & (t->n_slots - 1);
		t->slots[h] = (uint32_t)(i + 1);
	}
}

/* A zeroed entry with key k, added; NULL with errno set when the table is at its bound
 * (ENOSPC) or memory ran out. Pointers to other entries of t are invalid afterwards. */
static void *table_add(struct table *t, const struct tkey *k)
{
	size_t h;
	void *it;

	if (t->n >= t->max) {
		errno = ENOSPC;
		return NULL;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		char *items = realloc(t->items, cap * t->item_size);

		if (!items)
			return NULL;
		t->items = items;
		t->cap = cap;
	}
	if ((t->n + 1) * 2 >= t->n_slots) {
		size_t n_slots = t->n_slots ? t->n_slots * 2 : 256;
		uint32_t *slots = calloc(n_slots, sizeof(*slots));

		if (!slots)
			return NULL;
		free(t->slots);
		t->slots = slots;
		t->n_slots = n_slots;
		table_index(t);
	}
	it = table_at(t, t->n++);
	memset(it, 0, t->item_size);
	memcpy(it, k, sizeof(*k));
	h = slot_of(t, k);
	while (t->slots[h])
		h = (h + 1) & (t->n_slots - 1);
	t->slots[h] = (uint32_t)t->n;
	return it;
}

/* Keeps the entries keep() says to and drops the others after drop(). */
static void table_sweep(struct table *t, int (*keep)(struct identity_cache *, void *),
			void (*drop)(struct identity_cache *, void *), struct identity_cache *c)
{
	size_t j = 0;

	for (size_t i = 0; i < t->n; i++) {
		void *it = table_at(t, i);

		if (keep(c, it)) {
			if (i != j)
				memcpy(table_at(t, j), it, t->item_size);
			j++;
		} else {
			drop(c, it);
		}
	}
	t->n = j;
	if (t->slots)
		table_index(t);
}

static void table_free(struct table *t)
{
	free(t->items);
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

struct proc_ref {
	int pid;
	uint64_t start;
};

/* A series group: the labels it was given and the processes behind it. */
struct series_entry {
	struct tkey key; /* cgroup id; server_port | role << 16 | group << 32 */
	uint64_t pass;	 /* the last pass that resolved it */
	double resolved_at;
	int resolved;		/* labels hold a resolution (kept once given) */
	uint32_t owner_tgid;	/* sock_owner's tgid at the last resolution */
	char owner_comm[16];	/* comm of the process the labels came from */
	struct proc_ref *pids;	/* listener holders and the owner, when alive */
	size_t n_pids;
	struct sockeye_identity labels;
};

struct proc_entry {
	struct tkey key;    /* pid */
	uint64_t pass;	    /* the last pass that needed it */
	uint64_t stat_pass; /* the pass of the last /proc/PID/stat read */
	int dead;
	int loaded; /* exe, name and env_service read */
	uint64_t start;
	uint64_t cpu_ticks;
	uint64_t rss_pages;
	char comm[16];
	char *exe; /* NULL: unreadable */
	char name[SOCKEYE_ID_VALUE_LEN];
	char env_service[SOCKEYE_ID_VALUE_LEN]; /* "" when the environment names none */
};

struct listener {
	uint16_t port;
	int pid;
};

struct cgroup_entry {
	struct tkey key; /* cgroup id */
	uint64_t pass;
	char *path; /* relative to the cgroup2 mount; NULL: no such cgroup */
	struct identity_cgroup_info info;
	struct sockeye_identity k8s; /* the k8s_* values only */
	int k8s_tried;
	double k8s_tried_at;
	uint64_t scan_pass; /* the pass ls was found in */
	struct listener *ls;
	size_t n_ls;
};

/* The listening TCP sockets of one network namespace, sorted by inode (for one pass). */
struct sock_listen {
	uint64_t inode;
	uint16_t port;
};

struct netns {
	uint64_t ino;
	struct sock_listen *socks;
	size_t n;
};

struct identity_cache {
	char *root; /* the cgroup2 mount */
	char *pods_log_dir;
	char *proc;
	const struct sockeye_identity_rule *rules; /* the config's: outlives the cache */
	char **exe_real;			   /* rules[i].exe with symlinks resolved */
	size_t n_rules;
	int root_fd;
	int no_handles; /* open_by_handle_at refused: walk the tree instead */
	uint64_t pass;
	double now;
	long clk_tck, page_size;
	struct table series, procs, cgroups;
	struct netns *netns;
	size_t n_netns;
	uint64_t evictions[SOCKEYE_ID_CACHE_MAX];
	int warned_full[SOCKEYE_ID_CACHE_MAX];
};

static uint64_t refresh_epoch(double t)
{
	return (uint64_t)(t / REFRESH_SECONDS);
}

static double monotonic_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void warn_full(struct identity_cache *c, enum sockeye_id_cache which, const char *what)
{
	/* Once: it would repeat on every scrape. */
	if (c->warned_full[which])
		return;
	c->warned_full[which] = 1;
	pr_warn("identity: %s cache: %s; some series go without identity labels", what,
		strerror(errno));
}

/* Reads a small file whole; returns its length or a negative errno. */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;

	if (fd < 0)
		return -errno;
	while (n + 1 < size) {
		ssize_t r = read(fd, buf + n, size - 1 - n);

		if (r < 0) {
			int err = -errno;

			close(fd);
			return err;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	return (ssize_t)n;
}

/* Field numbers in /proc/PID/stat, as proc(5) counts them. */
enum {
	STAT_UTIME = 14,
	STAT_STIME = 15,
	STAT_STARTTIME = 22,
	STAT_RSS = 24,
};

static int read_stat(struct identity_cache *c, int pid, struct proc_entry *out)
{
	char path[PATH_MAX], buf[1024], *l, *r, *save = NULL;
	const char *field[STAT_RSS + 1] = { NULL };
	int nf = 3;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%d/stat", c->proc, pid);
	n = read_small(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	/* The comm (field 2) may hold spaces and ')': fields resume after the last ')'. */
	l = strchr(buf, '(');
	r = strrchr(buf, ')');
	if (!l || !r || r < l)
		return -EPROTO;
	for (char *tok = strtok_r(r + 1, " \n", &save); tok && nf <= STAT_RSS;
	     tok = strtok_r(NULL, " \n", &save))
		field[nf++] = tok;
	if (nf <= STAT_RSS)
		return -EPROTO;
	memset(out->comm, 0, sizeof(out->comm));
	memcpy(out->comm, l + 1, (size_t)(r - l - 1) < 15 ? (size_t)(r - l - 1) : 15);
	out->cpu_ticks = strtoull(field[STAT_UTIME], NULL, 10) +
			 strtoull(field[STAT_STIME], NULL, 10);
	out->start = strtoull(field[STAT_STARTTIME], NULL, 10);
	out->rss_pages = strtoull(field[STAT_RSS], NULL, 10);
	return 0;
}

static void proc_clear(struct proc_entry *pe)
{
	free(pe->exe);
	pe->exe = NULL;
	pe->loaded = 0;
	pe->name[0] = '\0';
	pe->env_service[0] = '\0';
}

/* The live process pid, read at most once per pass; NULL when it is gone. */
static struct proc_entry *proc_get(struct identity_cache *c, int pid)
{
	struct tkey k = { (uint64_t)pid, 0 };
	struct proc_entry *pe = table_find(&c->procs, &k), now = { 0 };

	if (pid <= 0)
		return NULL;
	if (pe && pe->stat_pass == c->pass) {
		pe->pass = c->pass;
		return pe->dead ? NULL : pe;
	}
	if (read_stat(c, pid, &now)) {
		if (pe) {
			pe->dead = 1;
			pe->stat_pass = c->pass;
		}
		return NULL;
	}
	if (pe && pe->start != now.start) {
		/* The pid was reused: the cached process exited. */
		pr_debug("identity: evicted process pid=%d comm=%s: exited (pid reused)", pid,
			 pe->comm);
		c->evictions[SOCKEYE_ID_CACHE_PROCESS]++;
		proc_clear(pe);
	}
	if (!pe) {
		pe = table_add(&c->procs, &k);
		if (!pe) {
			warn_full(c, SOCKEYE_ID_CACHE_PROCESS, "process");
			return NULL;
		}
	}
	pe->start = now.start;
	pe->cpu_ticks = now.cpu_ticks;
	pe->rss_pages = now.rss_pages;
	memcpy(pe->comm, now.comm, sizeof(pe->comm));
	pe->dead = 0;
	pe->stat_pass = c->pass;
	pe->pass = c->pass;
	return pe;
}

/* Reads what naming needs: the executable and the environment (once per process). */
static void proc_load(struct identity_cache *c, struct proc_entry *pe)
{
	char path[PATH_MAX], exe[PATH_MAX];
	int pid = (int)pe->key.a;
	char *env;
	ssize_t n;

	if (pe->loaded)
		return;
	pe->loaded = 1;
	snprintf(path, sizeof(path), "%s/%d/exe", c->proc, pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		if (ends_with(exe, (size_t)n, " (deleted)"))
			exe[n - strlen(" (deleted)")] = '\0';
		pe->exe = strdup(exe);
	}
	identity_process_name(pe->comm, pe->exe, pe->name, sizeof(pe->name));
	env = malloc(ENVIRON_MAX);
	if (!env)
		return;
	snprintf(path, sizeof(path), "%s/%d/environ", c->proc, pid);
	n = read_small(path, env, ENVIRON_MAX);
	if (n > 0)
		identity_environ_service_name(env, (size_t)n, pe->env_service,
					      sizeof(pe->env_service));
	free(env);
}

static int sock_cmp(const void *a, const void *b)
{
	const struct sock_listen *x = a, *y = b;

	return x->inode < y->inode ? -1 : x->inode > y->inode;
}

/* Appends the LISTEN (state 0A) sockets of /proc/PID/net/tcp or tcp6. */
static void parse_net_tcp(const char *path, struct netns *ns)
{
	FILE *f = fopen(path, "re");
	char line[512];

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned int port, state;
		unsigned long long inode;
		struct sock_listen *grown;

		if (sscanf(line, " %*u: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x %*x:%*x %*x:%*x %*x %*u %*u %llu",
			   &port, &state, &inode) != 3 ||
		    state != 0x0a || !inode)
			continue;
		if ((ns->n & (ns->n + 1)) == 0 || ns->n == 0) {
			grown = realloc(ns->socks, (ns->n * 2 + 16) * sizeof(*ns->socks));
			if (!grown)
				break;
			ns->socks = grown;
		}
		ns->socks[ns->n].inode = inode;
		ns->socks[ns->n].port = (uint16_t)port;
		ns->n++;
	}
	fclose(f);
}

/* The listening sockets of pid's network namespace, read once per namespace and pass. */
static struct netns *netns_of(struct identity_cache *c, int pid)
{
	char path[PATH_MAX];
	struct netns *grown, *ns;
	struct stat st;

	snprintf(path, sizeof(path), "%s/%d/ns/net", c->proc, pid);
	if (stat(path, &st))
		return NULL;
	for (size_t i = 0; i < c->n_netns; i++)
		if (c->netns[i].ino == (uint64_t)st.st_ino)
			return &c->netns[i];
	grown = realloc(c->netns, (c->n_netns + 1) * sizeof(*c->netns));
	if (!grown)
		return NULL;
	c->netns = grown;
	ns = &c->netns[c->n_netns++];
	memset(ns, 0, sizeof(*ns));
	ns->ino = st.st_ino;
	snprintf(path, sizeof(path), "%s/%d/net/tcp", c->proc, pid);
	parse_net_tcp(path, ns);
	snprintf(path, sizeof(path), "%s/%d/net/tcp6", c->proc, pid);
	parse_net_tcp(path, ns);
	if (ns->n)
		qsort(ns->socks, ns->n, sizeof(*ns->socks), sock_cmp);
	return ns;
}

/* Calls add(port) for each listening socket among pid's file descriptors. */
static void pid_listeners(struct identity_cache *c, int pid, struct netns *ns,
			  void (*add)(void *, uint16_t, int), void *arg)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%d/fd", c->proc, pid);
	d = opendir(path);
	if (!d)
		return;
	while ((e = readdir(d))) {
		char target[64];
		unsigned long long inode;
		struct sock_listen key, *hit;
		ssize_t n;

		if (e->d_name[0] == '.')
			continue;
		n = readlinkat(dirfd(d), e->d_name, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (sscanf(target, "socket:[%llu]", &inode) != 1)
			continue;
		key.inode = inode;
		hit = bsearch(&key, ns->socks, ns->n, sizeof(*ns->socks), sock_cmp);
		if (hit)
			add(arg, hit->port, pid);
	}
	closedir(d);
}

static void add_listener(void *arg, uint16_t port, int pid)
{
	struct cgroup_entry *ce = arg;
	struct listener *grown;

	for (size_t i = 0; i < ce->n_ls; i++)
		if (ce->ls[i].port == port && ce->ls[i].pid == pid)
			return; /* the same port in IPv4 and IPv6 */
	if ((ce->n_ls & (ce->n_ls + 1)) == 0 || ce->n_ls == 0) {
		grown = realloc(ce->ls, (ce->n_ls * 2 + 16) * sizeof(*ce->ls));
		if (!grown)
			return;
		ce->ls = grown;
	}
	ce->ls[ce->n_ls].port = port;
	ce->ls[ce->n_ls].pid = pid;
	ce->n_ls++;
}

/* Every (port, pid) of a listening socket held by a process of the cgroup, once per pass. */
static void scan_cgroup(struct identity_cache *c, struct cgroup_entry *ce)
{
	char path[PATH_MAX];
	size_t n = 0;
	FILE *f;
	int pid;

	if (ce->scan_pass == c->pass)
		return;
	ce->scan_pass = c->pass;
	ce->n_ls = 0;
	if (!ce->path)
		return;
	snprintf(path, sizeof(path), "%s%s/cgroup.procs", c->root,
		 strcmp(ce->path, "/") == 0 ? "" : ce->path);
	f = fopen(path, "re");
	if (!f)
		return;
	while (n++ < MAX_SCAN_PIDS && fscanf(f, "%d", &pid) == 1) {
		struct netns *ns = netns_of(c, pid);

		if (ns && ns->n)
			pid_listeners(c, pid, ns, add_listener, ce);
	}
	fclose(f);
}

struct holds {
	uint16_t port;
	int found;
};

static void check_port(void *arg, uint16_t port, int pid)
{
	struct holds *h = arg;

	(void)pid;
	if (port == h->port)
		h->found = 1;
}

/* Whether pid holds a listening socket on port (in its own network namespace). */
static int proc_holds_listener(struct identity_cache *c, int pid, uint16_t port)
{
	struct netns *ns = netns_of(c, pid);
	struct holds h = { port, 0 };

	if (ns && ns->n)
		pid_listeners(c, pid, ns, check_port, &h);
	return h.found;
}

static int cgroup_path_by_handle(struct identity_cache *c, uint64_t id, char *out, size_t size)
{
	union {
		struct file_handle fh;
		char buf[sizeof(struct file_handle) + sizeof(uint64_t)];
	} h;
	char link[64], path[PATH_MAX];
	size_t root_len = strlen(c->root);
	ssize_t n;
	int fd;

	h.fh.handle_bytes = sizeof(id);
	h.fh.handle_type = FILEID_KERNFS;
	memcpy(h.fh.f_handle, &id, sizeof(id));
	fd = open_by_handle_at(c->root_fd, &h.fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	close(fd);
	if (n <= 0)
		return -ENOENT;
	path[n] = '\0';
	if (strncmp(path, c->root, root_len) != 0 || (path[root_len] && path[root_len] != '/'))
		return -ENOENT; /* outside our view of the hierarchy */
	snprintf(out, size, "%s", path[root_len] ? path + root_len : "/");
	return 0;
}

/* The slow way: the directory whose inode is id, walking the tree breadth first. */
static int cgroup_path_by_walk(struct identity_cache *c, uint64_t id, char *out, size_t size)
{
	char **queue = NULL;
	size_t head = 0, tail = 0, cap = 0, seen = 0;
	int err = -ENOENT;

	queue = malloc(sizeof(*queue) * (cap = 64));
	if (!queue || !(queue[tail++] = strdup("")))
		goto out;
	while (head < tail && seen++ < MAX_WALK_DIRS) {
		char *rel = queue[head++], abs[PATH_MAX];
		struct dirent *e;
		struct stat st;
		DIR *d;

		snprintf(abs, sizeof(abs), "%s%s", c->root, rel);
		if (stat(abs, &st) == 0 && (uint64_t)st.st_ino == id) {
			snprintf(out, size, "%s", rel[0] ? rel : "/");
			err = 0;
			break;
		}
		d = opendir(abs);
		while (d && (e = readdir(d))) {
			char child[PATH_MAX];

			if (e->d_name[0] == '.' || !is_dir_at(dirfd(d), e))
				continue;
			if (snprintf(child, sizeof(child), "%s/%s", rel, e->d_name) >=
			    (int)sizeof(child))
				continue;
			if (tail == cap) {
				char **grown = realloc(queue, sizeof(*queue) * cap * 2);

				if (!grown)
					break;
				queue = grown;
				cap *= 2;
			}
			queue[tail] = strdup(child);
			if (queue[tail])
				tail++;
		}
		if (d)
			closedir(d);
	}
out:
	for (size_t i = 0; i < tail; i++)
		free(queue[i]);
	free(queue);
	return err;
}

static int cgroup_path(struct identity_cache *c, uint64_t id, char *out, size_t size)
{
	int err;

	if (!c->no_handles) {
		err = cgroup_path_by_handle(c, id, out, size);
		/* ESTALE: no cgroup has that id (any more). */
		if (err == 0 || err == -ESTALE || err == -ENOENT)
			return err;
		pr_debug("identity: cgroup file handles unusable (%s): walking %s instead",
			 strerror(-err), c->root);
		c->no_handles = 1;
	}
	return cgroup_path_by_walk(c, id, out, size);
}

static struct cgroup_entry *cgroup_get(struct identity_cache *c, uint64_t id)
{
	struct tkey k = { id, 0 };
	struct cgroup_entry *ce = table_find(&c->cgroups, &k);
	char path[PATH_MAX];

	if (!ce) {
		ce = table_add(&c->cgroups, &k);
		if (!ce) {
			warn_full(c, SOCKEYE_ID_CACHE_CGROUP, "cgroup");
			return NULL;
		}
		if (cgroup_path(c, id, path, sizeof(path)) == 0) {
			ce->path = strdup(path);
			if (ce->path)
				identity_parse_cgroup_path(ce->path, &ce->info);
		}
	}
	ce->pass = c->pass;
	if (ce->path && ce->info.pod_uid[0] && !ce->k8s.v[SOCKEYE_ID_K8S_POD_NAME][0] &&
	    (!ce->k8s_tried || c->now - ce->k8s_tried_at >= K8S_RETRY_SECONDS)) {
		ce->k8s_tried = 1;
		ce->k8s_tried_at = c->now;
		if (identity_k8s_lookup(c->pods_log_dir, ce->info.pod_uid, ce->info.container_id,
					&ce->k8s))
			memset(&ce->k8s, 0, sizeof(ce->k8s));
	}
	return ce;
}

static int has_ref(const struct proc_ref *refs, size_t n, int pid)
{
	for (size_t i = 0; i < n; i++)
		if (refs[i].pid == pid)
			return 1;
	return 0;
}

static void add_ref(struct proc_ref *refs, size_t *n, const struct proc_entry *pe)
{
	if (*n < MAX_PIDS_PER_SERIES && !has_ref(refs, *n, (int)pe->key.a)) {
		refs[*n].pid = (int)pe->key.a;
		refs[*n].start = pe->start;
		(*n)++;
	}
}

static void set_label(struct sockeye_identity *id, enum sockeye_id_label l, const char *v)
{
	identity_copy_utf8(id->v[l], SOCKEYE_ID_VALUE_LEN, v, strlen(v));
}

/* Names a series group from what is true now: the listener's holders in its cgroup and the
 * sock_owner process (see docs/identity.md for the order of preference). */
static void resolve_series(struct identity_cache *c, struct series_entry *se,
			   const struct sockeye_owner *owner)
{
	uint16_t port = (uint16_t)(se->key.b & 0xffff);
	int server = ((se->key.b >> 16) & 0xff) == SOCKEYE_ROLE_SERVER;
	struct cgroup_entry *ce = cgroup_get(c, se->key.a);
	struct proc_ref *refs = calloc(MAX_PIDS_PER_SERIES, sizeof(*refs));
	struct proc_entry *rep = NULL, *pe;
	const struct sockeye_identity_rule *rule;
	struct sockeye_identity l;
	char comm[16] = "";
	size_t n = 0;
	int lowest = 0;

	if (!refs)
		return;
	if (server && ce && ce->path) {
		scan_cgroup(c, ce);
		for (size_t i = 0; i < ce->n_ls; i++) {
			if (ce->ls[i].port != port)
				continue;
			pe = proc_get(c, ce->ls[i].pid);
			if (!pe)
				continue;
			add_ref(refs, &n, pe);
			if (!lowest || ce->ls[i].pid < lowest)
				lowest = ce->ls[i].pid;
		}
	}
	/* sock_owner names the process that really sent on the sockets (a worker, or a service
	 * that inherited its listener from systemd). It is taken when it is alive and, for a
	 * server, holds the listener or nothing else does: a response sent from softirq
	 * context can name an unrelated process. */
	if (owner && owner->tgid) {
		pe = proc_get(c, (int)owner->tgid);
		if (pe && (!server || n == 0 || has_ref(refs, n, (int)owner->tgid) ||
			   proc_holds_listener(c, (int)owner->tgid, port))) {
			add_ref(refs, &n, pe);
			rep = pe;
		}
	}
	if (!rep && lowest)
		rep = proc_get(c, lowest); /* the parent of a forking server: nginx's master */

	free(se->pids);
	se->pids = refs;
	se->n_pids = n;
	se->resolved_at = c->now;
	se->owner_tgid = owner ? owner->tgid : 0;
	if (owner)
		memcpy(comm, owner->comm, sizeof(owner->comm));
	comm[sizeof(comm) - 1] = '\0';

	/* Nobody alive to ask: a series keeps the labels it had (its process exited; a new
	 * one of another name would show in sock_owner's comm). */
	if (!rep && se->resolved && (!owner || strcmp(comm, se->owner_comm) == 0))
		return;

	memset(&l, 0, sizeof(l));
	if (ce && ce->path) {
		set_label(&l, SOCKEYE_ID_CONTAINER_ID, ce->info.container_id);
		set_label(&l, SOCKEYE_ID_K8S_NAMESPACE_NAME, ce->k8s.v[SOCKEYE_ID_K8S_NAMESPACE_NAME]);
		set_label(&l, SOCKEYE_ID_K8S_POD_NAME, ce->k8s.v[SOCKEYE_ID_K8S_POD_NAME]);
		set_label(&l, SOCKEYE_ID_K8S_CONTAINER_NAME, ce->k8s.v[SOCKEYE_ID_K8S_CONTAINER_NAME]);
	} else if (se->resolved) {
		/* The cgroup is gone; what its path said still holds for these counts. */
		for (int i = SOCKEYE_ID_CONTAINER_ID; i < SOCKEYE_ID_MAX; i++)
			set_label(&l, i, se->labels.v[i]);
	}
	if (rep)
		proc_load(c, rep);
	rule = identity_match_rule(c->rules, (const char *const *)c->exe_real, c->n_rules,
				   rep ? rep->exe : NULL, port, ce ? ce->path : NULL);
	if (rule)
		set_label(&l, SOCKEYE_ID_SERVICE_NAME, rule->service_name);
	else if (rep && rep->env_service[0])
		set_label(&l, SOCKEYE_ID_SERVICE_NAME, rep->env_service);
	else if (rep)
		set_label(&l, SOCKEYE_ID_SERVICE_NAME, rep->name);
	else
		identity_process_name(comm, NULL, l.v[SOCKEYE_ID_SERVICE_NAME],
				      SOCKEYE_ID_VALUE_LEN);
	se->labels = l;
	memcpy(se->owner_comm, rep ? rep->comm : comm, sizeof(se->owner_comm));
	se->resolved = 1;
}

struct identity_cache *identity_new(const struct identity_options *o)
{
	struct identity_cache *c = calloc(1, sizeof(*c));
	int err = -ENOMEM;

	if (!c)
		return NULL;
	c->root_fd = -1;
	c->root = strdup(o->cgroup_root);
	c->pods_log_dir = strdup(o->pods_log_dir ? o->pods_log_dir : CONFIG_DEFAULT_PODS_LOG_DIR);
	c->proc = strdup(o->proc_root ? o->proc_root : "/proc");
	c->exe_real = calloc(o->n_rules ? o->n_rules : 1, sizeof(*c->exe_real));
	if (!c->root || !c->pods_log_dir || !c->proc || !c->exe_real)
		goto fail;
	/* A mount point "/x/" and "/x" are the same; paths are built as root + "/a/b". */
	for (size_t n = strlen(c->root); n > 1 && c->root[n - 1] == '/'; n--)
		c->root[n - 1] = '\0';
	c->rules = o->rules;
	c->n_rules = o->n_rules;
	for (size_t i = 0; i < o->n_rules; i++)
		if (o->rules[i].exe)
			c->exe_real[i] = realpath(o->rules[i].exe, NULL); /* NULL: as written */
	c->root_fd = open(c->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->root_fd < 0) {
		err = -errno;
		pr_error("identity: opening the cgroup2 mount %s: %s", c->root, strerror(-err));
		goto fail;
	}
	c->clk_tck = sysconf(_SC_CLK_TCK);
	c->page_size = sysconf(_SC_PAGESIZE);
	c->series.item_size = sizeof(struct series_entry);
	c->series.max = MAX_SERIES;
	c->procs.item_size = sizeof(struct proc_entry);
	c->procs.max = MAX_PROCESSES;
	c->cgroups.item_size = sizeof(struct cgroup_entry);
	c->cgroups.max = MAX_CGROUPS;
	return c;
fail:
	identity_free(c);
	errno = -err;
	return NULL;
}

static void free_netns(struct identity_cache *c)
{
	for (size_t i = 0; i < c->n_netns; i++)
		free(c->netns[i].socks);
	free(c->netns);
	c->netns = NULL;
	c->n_netns = 0;
}

void identity_free(struct identity_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->series.n; i++)
		free(((struct series_entry *)table_at(&c->series, i))->pids);
	for (size_t i = 0; i < c->procs.n; i++)
		free(((struct proc_entry *)table_at(&c->procs, i))->exe);
	for (size_t i = 0; i < c->cgroups.n; i++) {
		struct cgroup_entry *ce = table_at(&c->cgroups, i);

		free(ce->path);
		free(ce->ls);
	}
	table_free(&c->series);
	table_free(&c->procs);
	table_free(&c->cgroups);
	free_netns(c);
	for (size_t i = 0; c->exe_real && i < c->n_rules; i++)
		free(c->exe_real[i]);
	free(c->exe_real);
	if (c->root_fd >= 0)
		close(c->root_fd);
	free(c->root);
	free(c->pods_log_dir);
	free(c->proc);
	free(c);
}

void identity_begin(struct identity_cache *c)
{
	c->pass++;
	c->now = monotonic_seconds();
	free_netns(c);
}

void identity_resolve(struct identity_cache *c, const struct identity_query *q,
		      struct sockeye_identity *out)
{
	struct tkey k = { q->cgroup_id, (uint64_t)q->server_port | (uint64_t)q->role << 16 |
					(uint64_t)q->group << 32 };
	struct series_entry *se = table_find(&c->series, &k);
	const struct sockeye_owner *o = q->owner;

	if (!se) {
		se = table_add(&c->series, &k);
		if (!se) {
			warn_full(c, SOCKEYE_ID_CACHE_SERIES, "series");
			memset(out, 0, sizeof(*out));
			return;
		}
	}
	se->pass = c->pass;
	/* Named again when new, when due, or when a process not known to be behind it sent on
	 * its sockets (a restarted service, a client run again). Every group is due in the same
	 * pass, so a cgroup's processes are scanned once per period, not once per group. */
	if (!se->resolved || refresh_epoch(c->now) != refresh_epoch(se->resolved_at) ||
	    (o && o->tgid && o->tgid != se->owner_tgid && !has_ref(se->pids, se->n_pids, (int)o->tgid)))
		resolve_series(c, se, o);
	*out = se->labels;
}

static int keep_series(struct identity_cache *c, void *it)
{
	return ((struct series_entry *)it)->pass == c->pass;
}

static void drop_series(struct identity_cache *c, void *it)
{
	free(((struct series_entry *)it)->pids);
	c->evictions[SOCKEYE_ID_CACHE_SERIES]++;
}

static int keep_proc(struct identity_cache *c, void *it)
{
	struct proc_entry *pe = it;

	return pe->pass == c->pass && !pe->dead;
}

static void drop_proc(struct identity_cache *c, void *it)
{
	struct proc_entry *pe = it;

	if (pe->dead)
		pr_debug("identity: evicted process pid=%d comm=%s: exited", (int)pe->key.a,
			 pe->comm);
	free(pe->exe);
	c->evictions[SOCKEYE_ID_CACHE_PROCESS]++;
}

static int cgroup_alive(struct identity_cache *c, const struct cgroup_entry *ce)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s%s", c->root, strcmp(ce->path, "/") == 0 ? "" : ce->path);
	return stat(path, &st) == 0 && (uint64_t)st.st_ino == ce->key.a;
}

static int keep_cgroup(struct identity_cache *c, void *it)
{
	struct cgroup_entry *ce = it;

	return ce->pass == c->pass && ce->path && cgroup_alive(c, ce);
}

static void drop_cgroup(struct identity_cache *c, void *it)
{
	struct cgroup_entry *ce = it;

	if (ce->path && ce->pass == c->pass)
		pr_debug("identity: evicted cgroup id=%llu path=%s: removed",
			 (unsigned long long)ce->key.a, ce->path);
	free(ce->path);
	free(ce->ls);
	c->evictions[SOCKEYE_ID_CACHE_CGROUP]++;
}

void identity_end(struct identity_cache *c)
{
	/* A series group not resolved in this pass is no longer in the kernel's map. */
	table_sweep(&c->series, keep_series, drop_series, c);
	/* The processes the remaining groups name stay, read afresh for their CPU and memory;
	 * those that exited go. */
	for (size_t i = 0; i < c->series.n; i++) {
		struct series_entry *se = table_at(&c->series, i);

		for (size_t j = 0; j < se->n_pids; j++) {
			struct tkey k = { (uint64_t)se->pids[j].pid, 0 };
			struct proc_entry *pe = table_find(&c->procs, &k);

			if (pe && pe->start == se->pids[j].start)
				pe->pass = c->pass;
		}
	}
	for (size_t i = 0; i < c->procs.n; i++) {
		struct proc_entry *pe = table_at(&c->procs, i), now = { 0 };

		if (pe->pass != c->pass || pe->stat_pass == c->pass)
			continue;
		pe->stat_pass = c->pass;
		if (read_stat(c, (int)pe->key.a, &now) || now.start != pe->start) {
			pe->dead = 1;
			continue;
		}
		pe->cpu_ticks = now.cpu_ticks;
		pe->rss_pages = now.rss_pages;
	}
	table_sweep(&c->procs, keep_proc, drop_proc, c);
	table_sweep(&c->cgroups, keep_cgroup, drop_cgroup, c);
	free_netns(c);
}

static int same_identity(const struct sockeye_identity *a, const struct sockeye_identity *b)
{
	for (int i = 0; i < SOCKEYE_ID_MAX; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return 0;
	return 1;
}

int identity_usage(const struct identity_cache *c, const struct sockeye_identity *id,
		   double *cpu_seconds, uint64_t *resident_bytes)
{
	uint64_t ticks = 0, pages = 0;
	int *seen = NULL;
	size_t n_seen = 0, cap = 0;
	int found = 0;

	if (!id->v[SOCKEYE_ID_SERVICE_NAME][0] || c->clk_tck <= 0 || c->page_size <= 0)
		return -ENOENT;
	for (size_t i = 0; i < c->series.n; i++) {
		const struct series_entry *se = table_at(&c->series, i);

		if (se->pass != c->pass || !se->resolved || !same_identity(&se->labels, id))
			continue;
		for (size_t j = 0; j < se->n_pids; j++) {
			struct tkey k = { (uint64_t)se->pids[j].pid, 0 };
			const struct proc_entry *pe = table_find(&c->procs, &k);
			size_t s;

			if (!pe || pe->dead || pe->start != se->pids[j].start)
				continue;
			for (s = 0; s < n_seen && seen[s] != se->pids[j].pid; s++)
				;
			if (s < n_seen)
				continue; /* one process behind two ports */
			if (n_seen == cap) {
				int *grown = realloc(seen, (cap = cap * 2 + 16) * sizeof(*seen));

				if (!grown)
					break;
				seen = grown;
			}
			seen[n_seen++] = se->pids[j].pid;
			ticks += pe->cpu_ticks;
			pages += pe->rss_pages;
			found = 1;
		}
	}
	free(seen);
	if (!found)
		return -ENOENT;
	*cpu_seconds = (double)ticks / (double)c->clk_tck;
	*resident_bytes = pages * (uint64_t)c->page_size;
	return 0;
}

void identity_stats(const struct identity_cache *c, uint64_t *entries, uint64_t *evictions)
{
	entries[SOCKEYE_ID_CACHE_SERIES] = c->series.n;
	entries[SOCKEYE_ID_CACHE_PROCESS] = c->procs.n;
	entries[SOCKEYE_ID_CACHE_CGROUP] = c->cgroups.n;
	memcpy(evictions, c->evictions, sizeof(c->evictions));
}
