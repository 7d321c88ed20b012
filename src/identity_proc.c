// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* identity_proc.c - /proc/PID -> a process's stat, name, executable, environment service name
 * and listening sockets. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "identity.h"
#include "identity_util.h"

#define ENVIRON_MAX (256 * 1024) /* bytes of /proc/PID/environ read */

/* ---- Pure parsers ------------------------------------------------------------------------ */

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

/* ---- Reading /proc ------------------------------------------------------------------------ */

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

int proc_read_stat(const char *proc, int pid, struct proc_stat *out)
{
	char path[PATH_MAX], buf[1024], *l, *r, *save = NULL;
	const char *field[STAT_RSS + 1] = { NULL };
	int nf = 3;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%d/stat", proc, pid);
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

char *proc_read_exe(const char *proc, int pid)
{
	char path[PATH_MAX], exe[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%d/exe", proc, pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	if (ends_with(exe, (size_t)n, " (deleted)"))
		exe[n - strlen(" (deleted)")] = '\0';
	return strdup(exe);
}

void proc_env_service(const char *proc, int pid, char *out, size_t size)
{
	char path[PATH_MAX], *env;
	ssize_t n;

	if (size)
		out[0] = '\0';
	env = malloc(ENVIRON_MAX);
	if (!env)
		return;
	snprintf(path, sizeof(path), "%s/%d/environ", proc, pid);
	n = read_small(path, env, ENVIRON_MAX);
	if (n > 0)
		identity_environ_service_name(env, (size_t)n, out, size);
	free(env);
}

/* ---- Listening sockets --------------------------------------------------------------------- */

/* The listening TCP sockets of one network namespace, sorted by inode (for one pass). */
struct sock_listen {
	uint64_t inode;
	uint16_t port;
};

struct proc_netns {
	uint64_t ino;
	struct sock_listen *socks;
	size_t n;
};

static int sock_cmp(const void *a, const void *b)
{
	const struct sock_listen *x = a, *y = b;

	return x->inode < y->inode ? -1 : x->inode > y->inode;
}

/* Appends the LISTEN (state 0A) sockets of /proc/PID/net/tcp or tcp6. */
static void parse_net_tcp(const char *path, struct proc_netns *ns)
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
static struct proc_netns *netns_of(struct proc_netns_set *s, const char *proc, int pid)
{
	char path[PATH_MAX];
	struct proc_netns *grown, *ns;
	struct stat st;

	snprintf(path, sizeof(path), "%s/%d/ns/net", proc, pid);
	if (stat(path, &st))
		return NULL;
	for (size_t i = 0; i < s->n; i++)
		if (s->ns[i].ino == (uint64_t)st.st_ino)
			return &s->ns[i];
	grown = realloc(s->ns, (s->n + 1) * sizeof(*s->ns));
	if (!grown)
		return NULL;
	s->ns = grown;
	ns = &s->ns[s->n++];
	memset(ns, 0, sizeof(*ns));
	ns->ino = st.st_ino;
	snprintf(path, sizeof(path), "%s/%d/net/tcp", proc, pid);
	parse_net_tcp(path, ns);
	snprintf(path, sizeof(path), "%s/%d/net/tcp6", proc, pid);
	parse_net_tcp(path, ns);
	if (ns->n)
		qsort(ns->socks, ns->n, sizeof(*ns->socks), sock_cmp);
	return ns;
}

/* Calls add(port) for each listening socket among pid's file descriptors. */
static void pid_listeners(const char *proc, int pid, struct proc_netns *ns,
			  void (*add)(void *, uint16_t, int), void *arg)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%d/fd", proc, pid);
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

void proc_listeners(struct proc_netns_set *s, const char *proc, int pid,
		    void (*add)(void *, uint16_t, int), void *arg)
{
	struct proc_netns *ns = netns_of(s, proc, pid);

	if (ns && ns->n)
		pid_listeners(proc, pid, ns, add, arg);
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

int proc_holds_listener(struct proc_netns_set *s, const char *proc, int pid, uint16_t port)
{
	struct holds h = { port, 0 };

	proc_listeners(s, proc, pid, check_port, &h);
	return h.found;
}

void proc_netns_clear(struct proc_netns_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->ns[i].socks);
	free(s->ns);
	s->ns = NULL;
	s->n = 0;
}
