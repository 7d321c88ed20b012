// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* tls.c - attaches the TLS object's uprobes once per libssl inode, where tls_derive.c says, and
 * finds the files to attach: every libssl.so* in the system library directories (attached at
 * start, so processes that start or dlopen it later are covered from their first call), and
 * every libssl.so* a process maps (/proc/PID/maps): at start for all processes, and for each
 * exec'd process a few times while its loader and its dlopen calls run, and all of them again
 * every minute. A mapped file is attached through /proc/PID/map_files/<range>, which reaches
 * files replaced on disk and files in other mount namespaces (containers). A library that no
 * process maps any more is detached, system libraries excepted.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "progload.h"
#include "tls.h"
#include "tls.skel.h"
#include "tls_derive.h"
#include "tls_elf.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define TLS_MAX_LINKS 12   /* public mode: 4 functions x (entry, return) + SSL_free */
#define TLS_LIB_PIDS  16   /* processes remembered per library, to notice when all are gone */
#define WATCH_MAX     4096 /* exec'd processes waiting for a look at their maps */
#define POLL_MS	      20   /* ring buffer poll timeout: how late a due scan may run */
#define LIVENESS_S    2.0  /* how often libraries outside the system directories are checked */
#define RESCAN_S      60.0 /* how often all of /proc is read (a late dlopen of a private copy) */

_Static_assert(sizeof(((struct tls_bpf *)0)->rodata->include_ports) ==
		       sizeof(((struct tls_tunables *)0)->include_ports),
	       "TLS_FILTER_MAX matches FILTER_MAX in bpf/tls.bpf.c");
_Static_assert(sizeof(((struct tls_bpf *)0)->rodata->bounds_ns) ==
		       sizeof(((struct tls_tunables *)0)->bounds_ns),
	       "bounds_ns sizes match");

/* Delays after an exec at which its maps are read: the dynamic loader maps DT_NEEDED
 * libraries within milliseconds; interpreters dlopen libssl when a script imports it. */
static const double watch_delays[] = {0.02, 0.1, 0.5, 2.0, 10.0};

static const char *const mode_names[SOCKEYE_TLS_MODE_MAX] = {
	[SOCKEYE_TLS_MODE_INTERNAL] = "internal",
	[SOCKEYE_TLS_MODE_PUBLIC] = "public",
};

struct tls_lib {
	dev_t dev; /* identity, as /proc/PID/maps shows it */
	ino_t ino;
	char name[SOCKEYE_TLS_LIBRARY_LEN]; /* the library label */
	enum sockeye_tls_mode mode;
	bool system;	/* in a system library directory: stays attached */
	bool failed;	/* could not be attached: not tried again */
	bool seen;	/* found by the current full scan */
	bool fd_lookup; /* the socket BIO lookup's offsets were derived */
	int slot;	/* in tls_libs, -1 none */
	struct bpf_link *links[TLS_MAX_LINKS];
	size_t n_links;
	pid_t pids[TLS_LIB_PIDS]; /* processes seen mapping it */
	size_t n_pids;
};

struct watch {
	pid_t pid;
	unsigned step; /* index into watch_delays of the next scan */
	double due;
};

struct tls {
	struct tls_bpf *skel;
	struct ring_buffer *rb;
	enum config_tls_mode mode_cfg;
	pthread_t thread;
	bool thread_started;
	atomic_bool stop;

	bool slot_used[SOCKEYE_TLS_LIB_SLOTS]; /* tls_libs; the thread's alone after start */

	pthread_mutex_t lock; /* libs: changed by the thread, read by collect */
	struct tls_lib *libs;
	size_t n_libs, cap_libs;

	struct watch *watch; /* the thread's alone */
	size_t n_watch;
	double next_liveness;
	double next_rescan;
	double next_warn; /* warn_limited */
	pid_t self;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Warnings the thread's loop may hit over and over: at most one a minute. */
static void warn_limited(struct tls *t, const char *msg, int err)
{
	double now = now_s();

	if (now < t->next_warn)
		return;
	t->next_warn = now + 60;
	if (err)
		pr_warn("%s: %s", msg, strerror(-err));
	else
		pr_warn("%s", msg);
}

/* ---- libraries --------------------------------------------------------------------------- */

static struct tls_lib *lib_find(struct tls *t, dev_t dev, ino_t ino)
{
	for (size_t i = 0; i < t->n_libs; i++)
		if (t->libs[i].dev == dev && t->libs[i].ino == ino)
			return &t->libs[i];
	return NULL;
}

static void lib_add_pid(struct tls_lib *lib, pid_t pid)
{
	if (pid <= 0)
		return;
	for (size_t i = 0; i < lib->n_pids; i++)
		if (lib->pids[i] == pid)
			return;
	if (lib->n_pids < TLS_LIB_PIDS)
		lib->pids[lib->n_pids++] = pid;
}

/* Detaches the library's probes, then gives its tls_libs slot back. */
static void lib_detach(struct tls *t, struct tls_lib *lib)
{
	for (size_t i = 0; i < lib->n_links; i++)
		bpf_link__destroy(lib->links[i]);
	lib->n_links = 0;
	if (lib->slot >= 0)
		t->slot_used[lib->slot] = false;
	lib->slot = -1;
}

/* A free tls_libs slot holding the library's offsets, its counter rows (tls_hits, tls_attr)
 * zeroed (a slot is reused after a library is detached), or -ENOSPC. */
static int slot_take(struct tls *t, const struct sockeye_tls_lib *info)
{
	int ncpu = libbpf_num_possible_cpus();
	__u64 *zeros;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	zeros = calloc(ncpu, sizeof(*zeros));
	if (!zeros)
		return -ENOMEM;
	for (__u32 i = 0; i < SOCKEYE_TLS_LIB_SLOTS; i++) {
		int err = 0;

		if (t->slot_used[i])
			continue;
		for (__u32 k = 0; k < SOCKEYE_TLS_PROBE_MAX && !err; k++) {
			__u32 row = i * SOCKEYE_TLS_PROBE_MAX + k;

			err = bpf_map_update_elem(bpf_map__fd(t->skel->maps.tls_hits), &row, zeros,
						  BPF_ANY);
		}
		for (__u32 k = 0; k < SOCKEYE_TLS_ATTR_MAX && !err; k++) {
			__u32 row = i * SOCKEYE_TLS_ATTR_MAX + k;

			err = bpf_map_update_elem(bpf_map__fd(t->skel->maps.tls_attr), &row, zeros,
						  BPF_ANY);
		}
		if (!err)
			err = bpf_map_update_elem(bpf_map__fd(t->skel->maps.tls_libs), &i, info,
						  BPF_ANY);
		free(zeros);
		if (err)
			return -errno;
		t->slot_used[i] = true;
		return i;
	}
	free(zeros);
	return -ENOSPC;
}

static int attach_one(struct tls_lib *lib, struct bpf_program *prog, const char *path, size_t off,
		      bool ret, __u64 cookie)
{
	LIBBPF_OPTS(bpf_uprobe_opts, o, .retprobe = ret, .bpf_cookie = cookie);
	struct bpf_link *link;

	if (lib->n_links == TLS_MAX_LINKS)
		return -E2BIG;
	link = bpf_program__attach_uprobe_opts(prog, -1, path, off, &o);
	if (!link)
		return -errno;
	lib->links[lib->n_links++] = link;
	return 0;
}

/* The cookie of a read/write probe at pt (include/sockeye.h): flags, the library's slot, and
 * the distance from the probed instruction to the GOT entry of BIO_s_socket. */
static __u64 rw_cookie(const struct tls_lib *lib, const struct tls_plan *p,
		       const struct tls_point *pt, __u64 flags)
{
	__s64 got = (__s64)(p->got_socket - pt->vaddr);
	__u64 cookie = flags | ((__u64)lib->slot << SOCKEYE_TLS_COOKIE_SLOT_SHIFT);

	if (p->fd_ok && got != 0 && got == (__s32)got)
		cookie |= (__u64)(__u32)(__s32)got << SOCKEYE_TLS_COOKIE_GOT_SHIFT;
	return cookie;
}

/* Attaches entry and return probes of the read/write program at pt. */
static int attach_rw(struct tls *t, struct tls_lib *lib, const char *path, const struct tls_plan *p,
		     const struct tls_point *pt, __u64 flags)
{
	__u64 cookie = rw_cookie(lib, p, pt, flags);
	int err = attach_one(lib, t->skel->progs.uprobe_ssl_rw, path, pt->off, false, cookie);

	if (!err)
		err = attach_one(lib, t->skel->progs.uretprobe_ssl_rw, path, pt->off, true, cookie);
	return err;
}

static int attach_plan(struct tls *t, struct tls_lib *lib, const char *path,
		       const struct tls_plan *p)
{
	const __u64 W = SOCKEYE_TLS_COOKIE_WRITE, EX = SOCKEYE_TLS_COOKIE_EX;
	int err = 0;

	if (p->mode == SOCKEYE_TLS_MODE_INTERNAL) {
		err = attach_rw(t, lib, path, p, &p->read, EX);
		if (!err)
			err = attach_rw(t, lib, path, p, &p->write, EX | W);
	} else {
		static const struct {
			int sym;
			__u64 flags;
		} pub[] = {
			{TLS_SYM_READ, 0},
			{TLS_SYM_WRITE, SOCKEYE_TLS_COOKIE_WRITE},
			{TLS_SYM_READ_EX, SOCKEYE_TLS_COOKIE_EX},
			{TLS_SYM_WRITE_EX, SOCKEYE_TLS_COOKIE_EX | SOCKEYE_TLS_COOKIE_WRITE},
		};

		for (size_t i = 0; i < ARRAY_SIZE(pub) && !err; i++)
			if (p->have[pub[i].sym])
				err = attach_rw(t, lib, path, p, &p->sym[pub[i].sym], pub[i].flags);
	}
	if (!err && p->have[TLS_SYM_FREE])
		err = attach_one(lib, t->skel->progs.uprobe_ssl_free, path, p->free_at.off, false,
				 (__u64)lib->slot << SOCKEYE_TLS_COOKIE_SLOT_SHIFT);
	return err;
}

/* A label no other library has: the path, with the inode when two files share it. */
static void lib_name(struct tls *t, struct tls_lib *lib, const char *shown)
{
	snprintf(lib->name, sizeof(lib->name), "%s", shown);
	for (size_t i = 0; i < t->n_libs; i++) {
		if (&t->libs[i] != lib && !t->libs[i].failed &&
		    strcmp(t->libs[i].name, lib->name) == 0) {
			snprintf(lib->name, sizeof(lib->name), "%.200s (inode %u:%u:%lu)", shown,
				 major(lib->dev), minor(lib->dev), (unsigned long)lib->ino);
			return;
		}
	}
}

/* The system library directories (the dynamic loader's defaults); returns how many. */
#define SYSTEM_DIRS 8
static size_t system_dirs(char dirs[SYSTEM_DIRS][64])
{
	static const char *const plain[] = {"/lib", "/lib64", "/usr/lib", "/usr/lib64",
					    "/usr/local/lib"};
	struct utsname u;
	size_t n = 0;

	if (uname(&u) == 0) {
		const char *triple = strcmp(u.machine, "x86_64") == 0	 ? "x86_64-linux-gnu"
				     : strcmp(u.machine, "aarch64") == 0 ? "aarch64-linux-gnu"
									 : NULL;

		if (triple) {
			snprintf(dirs[n++], 64, "/usr/lib/%s", triple);
			snprintf(dirs[n++], 64, "/lib/%s", triple);
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(plain) && n < SYSTEM_DIRS; i++)
		snprintf(dirs[n++], 64, "%s", plain[i]);
	return n;
}

/* Where the libcrypto a libssl uses is: the file named needed that process pid maps (through
 * map_files, as the libssl); else, as the process sees files (its root), the one beside the
 * libssl (shown: the path the process sees) or in a system library directory. The second is a
 * guess (the process may not have loaded it yet, or use another): the probes check the socket
 * method at run time, so a wrong guess costs the socket BIO lookup, not correctness. */
static int crypto_path(const char *shown, pid_t pid, const char *needed, char *out, size_t n)
{
	char maps[64], *line = NULL, dir[PATH_MAX], root[32] = "", dirs[SYSTEM_DIRS][64];
	size_t cap = 0, nd;
	FILE *f;
	int found = -ENOENT;

	if (pid > 0) {
		snprintf(maps, sizeof(maps), "/proc/%d/maps", (int)pid);
		f = fopen(maps, "re");
		while (f && found && getline(&line, &cap, f) > 0) {
			unsigned long start, end;
			char *path = strchr(line, '/'), *nl, *base;

			if (!path || sscanf(line, "%lx-%lx", &start, &end) != 2)
				continue;
			nl = strchr(path, '\n');
			if (nl)
				*nl = '\0';
			base = strrchr(path, '/') + 1;
			if (strcmp(base, needed) == 0) {
				snprintf(out, n, "/proc/%d/map_files/%lx-%lx", (int)pid, start,
					 end);
				found = 0;
			}
		}
		free(line);
		if (f)
			fclose(f);
		if (!found)
			return 0;
		snprintf(root, sizeof(root), "/proc/%d/root", (int)pid);
	}
	snprintf(dir, sizeof(dir), "%s", shown);
	snprintf(out, n, "%s%s/%s", root, dirname(dir), needed);
	if (access(out, R_OK) == 0)
		return 0;
	nd = system_dirs(dirs);
	for (size_t i = 0; i < nd; i++) {
		snprintf(out, n, "%s%s/%s", root, dirs[i], needed);
		if (access(out, R_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

/* The libcrypto half of the socket BIO lookup (tls_derive_crypto). */
static void plan_crypto(struct tls_plan *p, struct tls_elf *ssl, const char *shown, pid_t pid)
{
	const char *needed = tls_elf_needed(ssl, "libcrypto.so");
	char path[PATH_MAX];
	struct tls_elf *e;
	int fd;

	if (!p->got_socket)
		return;
	if (!needed || crypto_path(shown, pid, needed, path, sizeof(path))) {
		snprintf(p->fd_why, sizeof(p->fd_why), "its libcrypto (%s) not found",
			 needed ? needed : "no DT_NEEDED libcrypto.so*");
		return;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	e = fd >= 0 ? tls_elf_open(fd, path) : NULL;
	if (e)
		tls_derive_crypto(e, p);
	else
		snprintf(p->fd_why, sizeof(p->fd_why), "cannot read its libcrypto %.100s", path);
	tls_elf_close(e);
	if (fd >= 0)
		close(fd);
}

/* Derives the plan for the file at path, attaches, and records the library; shown is the path
 * processes see, for the label and the log; pid the process it was found in (0: a system
 * library directory). */
static void lib_attach(struct tls *t, const char *path, const char *shown, dev_t dev, ino_t ino,
		       bool system, pid_t pid)
{
	struct tls_lib lib = {.dev = dev, .ino = ino, .system = system, .slot = -1}, *grown;
	struct tls_elf *e = NULL;
	struct tls_plan p = {0};
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		pr_warn("TLS: cannot open %s (%s): %s", shown, path, strerror(errno));
		return; /* not recorded: another process may give a path that works */
	}
	e = tls_elf_open(fd, shown);
	err = e ? tls_derive_ssl(e, shown, t->mode_cfg == CONFIG_TLS_PUBLIC, &p) : -ENOEXEC;
	if (!err && p.mode != SOCKEYE_TLS_MODE_INTERNAL && t->mode_cfg == CONFIG_TLS_INTERNAL) {
		pr_error("TLS: %s: internal read/write functions not usable (%s); not probed "
			 "(--tls.probe-mode=internal)",
			 shown, p.why);
		err = -ENOEXEC;
	}
	if (!err)
		plan_crypto(&p, e, shown, pid);
	tls_elf_close(e);
	close(fd);

	lib.failed = err != 0;
	lib.mode = p.mode;
	lib.fd_lookup = p.fd_ok;
	lib_add_pid(&lib, pid);
	if (!err) {
		lib.slot = slot_take(t, &p.lib);
		err = lib.slot < 0 ? lib.slot : attach_plan(t, &lib, path, &p);
		if (err) {
			pr_warn("TLS: attaching uprobes to %s (%s): %s", shown, path,
				strerror(-err));
			lib_detach(t, &lib);
			lib.failed = true;
		}
	}

	pthread_mutex_lock(&t->lock);
	if (t->n_libs == t->cap_libs) {
		size_t cap = t->cap_libs ? t->cap_libs * 2 : 8;

		grown = realloc(t->libs, cap * sizeof(*grown));
		if (!grown) {
			pthread_mutex_unlock(&t->lock);
			lib_detach(t, &lib);
			pr_warn("TLS: out of memory recording %s", shown);
			return;
		}
		t->libs = grown;
		t->cap_libs = cap;
	}
	t->libs[t->n_libs] = lib;
	lib_name(t, &t->libs[t->n_libs], shown);
	t->n_libs++;
	pthread_mutex_unlock(&t->lock);

	if (lib.failed)
		return;
	if (p.mode == SOCKEYE_TLS_MODE_INTERNAL)
		pr_info("TLS: probing %s: internal read/write functions at file offsets "
			"0x%zx/0x%zx (derived from SSL_read_ex/SSL_write_ex and checked against "
			"SSL_read/SSL_write)",
			shown, p.read.off, p.write.off);
	else
		pr_warn("TLS: probing %s: public SSL_read/SSL_write symbols (%s); each call costs "
			"a single-stepped breakpoint",
			shown, p.why);
	if (p.fd_ok)
		pr_info("TLS: %s: sockets found through the SSL object's socket BIO (SSL rbio at "
			"0x%x, BIO method at 0x%x, descriptor at 0x%x)",
			shown, p.lib.ssl_rbio, p.lib.bio_method, p.lib.bio_num);
	else
		pr_warn("TLS: %s: no socket BIO lookup (%s): connections are attributed by the "
			"socket I/O of their writes",
			shown, p.fd_why);
	if (p.have[TLS_SYM_FREE] && !p.free_cheap)
		pr_warn("TLS: %s: SSL_free is probed at its entry (single-stepped, once per "
			"connection)",
			shown);
}

/* ---- discovery --------------------------------------------------------------------------- */

static bool is_libssl(const char *path)
{
	const char *base = strrchr(path, '/');

	return base && strncmp(base + 1, "libssl.so", 9) == 0;
}

/* Reads /proc/PID/maps: attaches each libssl file not seen yet (through map_files), and
 * notes pid as a user of those already attached. Returns 0 or a negative errno (-ENOENT: the
 * process is gone). */
static int scan_pid(struct tls *t, pid_t pid)
{
	char path[64], *line = NULL;
	size_t cap = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		unsigned long start, end, off, ino;
		unsigned maj, min;
		char perms[8], mf[96], *p, *nl;
		struct tls_lib *lib;
		int pos = 0;

		if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu %n", &start, &end, perms, &off, &maj,
			   &min, &ino, &pos) < 7 ||
		    !pos || !ino)
			continue;
		p = line + pos;
		nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		if (p[0] != '/' || !is_libssl(p))
			continue;
		lib = lib_find(t, makedev(maj, min), ino);
		if (lib) {
			lib_add_pid(lib, pid);
			lib->seen = true;
			continue;
		}
		snprintf(mf, sizeof(mf), "/proc/%d/map_files/%lx-%lx", (int)pid, start, end);
		lib_attach(t, mf, p, makedev(maj, min), ino, false, pid);
		lib = lib_find(t, makedev(maj, min), ino);
		if (lib)
			lib->seen = true;
	}
	free(line);
	fclose(f);
	return 0;
}

static void scan_all(struct tls *t)
{
	DIR *d = opendir("/proc");
	struct dirent *de;

	if (!d) {
		pr_warn("TLS: cannot read /proc: %s", strerror(errno));
		return;
	}
	while ((de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end || pid <= 0 || pid == t->self)
			continue;
		scan_pid(t, (pid_t)pid);
	}
	closedir(d);
}

/* libssl files in the system library directories, attached whether or not a process maps
 * them yet: a probe costs nothing until a process maps its file. */
static void scan_system(struct tls *t)
{
	char dirs[SYSTEM_DIRS][64];
	size_t n = system_dirs(dirs);

	for (size_t i = 0; i < n; i++) {
		DIR *d = opendir(dirs[i]);
		struct dirent *de;

		if (!d)
			continue;
		while ((de = readdir(d))) {
			char path[PATH_MAX], real[PATH_MAX];
			struct stat st;

			if (strncmp(de->d_name, "libssl.so", 9) != 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", dirs[i], de->d_name);
			if (!realpath(path, real) || stat(real, &st) || !S_ISREG(st.st_mode) ||
			    lib_find(t, st.st_dev, st.st_ino))
				continue;
			lib_attach(t, real, real, st.st_dev, st.st_ino, true, 0);
		}
		closedir(d);
	}
}

/* ---- process events ---------------------------------------------------------------------- */

static void watch_add(struct tls *t, pid_t pid)
{
	if (t->n_watch == WATCH_MAX) {
		warn_limited(t,
			     "TLS: too many new processes to look at; some are not checked for "
			     "libssl",
			     0);
		return;
	}
	t->watch[t->n_watch].pid = pid;
	t->watch[t->n_watch].step = 0;
	t->watch[t->n_watch].due = now_s() + watch_delays[0];
	t->n_watch++;
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct tls *t = ctx;
	const struct sockeye_tls_event *e = data;

	if (size < sizeof(*e))
		return 0;
	if (e->type == SOCKEYE_TLS_EV_EXEC)
		watch_add(t, e->pid);
	return 0;
}

static void watch_run(struct tls *t)
{
	double now = now_s();
	size_t i = 0;

	while (i < t->n_watch) {
		struct watch *w = &t->watch[i];

		if (w->due > now) {
			i++;
			continue;
		}
		if (scan_pid(t, w->pid) == 0 && ++w->step < ARRAY_SIZE(watch_delays)) {
			w->due = now + watch_delays[w->step] - watch_delays[w->step - 1];
			i++;
			continue;
		}
		*w = t->watch[--t->n_watch]; /* gone, or looked at for the last time */
	}
}

static bool pid_maps(pid_t pid, dev_t dev, ino_t ino)
{
	char path[64], line[512];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long ino_l;
		unsigned maj, min;

		if (sscanf(line, "%*x-%*x %*s %*x %x:%x %lu", &maj, &min, &ino_l) == 3 &&
		    ino_l == ino && makedev(maj, min) == dev)
			found = true;
	}
	fclose(f);
	return found;
}

/* Libraries outside the system directories stay attached while a process maps them. When
 * the processes we know of are gone, all of /proc is searched once before detaching (a
 * forked child may still map the file). */
static void liveness(struct tls *t)
{
	bool lost = false;

	for (size_t i = 0; i < t->n_libs; i++) {
		struct tls_lib *lib = &t->libs[i];
		size_t k = 0;

		if (lib->system || lib->failed)
			continue;
		while (k < lib->n_pids) {
			if (pid_maps(lib->pids[k], lib->dev, lib->ino))
				k++;
			else
				lib->pids[k] = lib->pids[--lib->n_pids];
		}
		lost |= lib->n_pids == 0;
	}
	if (!lost)
		return;
	for (size_t i = 0; i < t->n_libs; i++)
		t->libs[i].seen = false;
	scan_all(t);
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->n_libs;) {
		struct tls_lib *lib = &t->libs[i];

		if (lib->system || lib->seen) {
			i++;
			continue;
		}
		if (!lib->failed)
			pr_info("TLS: detached from %s: no process maps it any more", lib->name);
		lib_detach(t, lib);
		t->libs[i] = t->libs[--t->n_libs];
	}
	pthread_mutex_unlock(&t->lock);
}

static void *tls_thread(void *arg)
{
	struct tls *t = arg;

	while (!atomic_load(&t->stop)) {
		int err = ring_buffer__poll(t->rb, POLL_MS);

		if (err < 0 && err != -EINTR)
			warn_limited(t, "TLS: reading process events", err);
		watch_run(t);
		if (now_s() >= t->next_rescan) {
			scan_all(t);
			t->next_rescan = now_s() + RESCAN_S;
		}
		if (now_s() >= t->next_liveness) {
			liveness(t);
			t->next_liveness = now_s() + LIVENESS_S;
		}
	}
	return NULL;
}

/* ---- lifecycle --------------------------------------------------------------------------- */

static void set_tunables(struct tls_bpf *s, const struct tls_tunables *tun)
{
	for (size_t i = 0; i < SOCKEYE_MAX_BUCKETS; i++)
		s->rodata->bounds_ns[i] = tun->bounds_ns[i];
	s->rodata->n_bounds = tun->n_bounds;
	for (size_t i = 0; i < TLS_FILTER_MAX; i++) {
		s->rodata->include_ports[i] = tun->include_ports[i];
		s->rodata->exclude_ports[i] = tun->exclude_ports[i];
		s->rodata->include_cgroups[i] = tun->include_cgroups[i];
		s->rodata->include_cgroup_levels[i] = tun->include_cgroup_levels[i];
		s->rodata->exclude_cgroups[i] = tun->exclude_cgroups[i];
		s->rodata->exclude_cgroup_levels[i] = tun->exclude_cgroup_levels[i];
	}
	s->rodata->n_include_ports = tun->n_include_ports;
	s->rodata->n_exclude_ports = tun->n_exclude_ports;
	s->rodata->n_include_cgroups = tun->n_include_cgroups;
	s->rodata->n_exclude_cgroups = tun->n_exclude_cgroups;
}

/* The TLS probes' own maps and their names in include/sockeye.h. */
static int check_map_names(const struct tls_bpf *s)
{
	const struct progload_map_name maps[] = {
		{ s->maps.tls_calls, SOCKEYE_MAP_TLS_CALLS },
		{ s->maps.tls_conns, SOCKEYE_MAP_TLS_CONNS },
		{ s->maps.tls_libs, SOCKEYE_MAP_TLS_LIBS },
		{ s->maps.tls_procs, SOCKEYE_MAP_TLS_PROCS },
		{ s->maps.tls_stats, SOCKEYE_MAP_TLS_STATS },
		{ s->maps.tls_hits, SOCKEYE_MAP_TLS_HITS },
		{ s->maps.tls_attr, SOCKEYE_MAP_TLS_ATTR },
		{ s->maps.tls_events, SOCKEYE_MAP_TLS_EVENTS },
	};

	return progload_check_map_names(maps, ARRAY_SIZE(maps), "tls");
}

/* Every map the socket hooks' object also has becomes the same kernel map, except the
 * per-object scratch maps and the objects' own .rodata/.bss. */
static int share_maps(struct tls_bpf *s, const struct bpf_object *main_obj)
{
	struct bpf_map *m;

	bpf_object__for_each_map(m, s->obj)
	{
		const char *name = bpf_map__name(m);
		struct bpf_map *other;
		int err;

		if (name[0] == '.' || strchr(name, '.') || strcmp(name, SOCKEYE_MAP_SCRATCH) == 0 ||
		    strcmp(name, SOCKEYE_MAP_SCRATCH_DEPTH) == 0)
			continue;
		other = bpf_object__find_map_by_name(main_obj, name);
		if (!other)
			continue;
		err = bpf_map__reuse_fd(m, bpf_map__fd(other));
		if (err) {
			pr_error("TLS: sharing map %s with the socket hooks: %s", name,
				 strerror(-err));
			return err;
		}
	}
	return 0;
}

static int attach_tp(struct bpf_program *prog, struct bpf_link **link, const char *name)
{
	*link = bpf_program__attach(prog);
	if (!*link) {
		int err = -errno;

		pr_error("TLS: attaching %s: %s", name, strerror(-err));
		return err;
	}
	return 0;
}

struct tls *tls_start(const struct sockeye_config *cfg, const struct bpf_object *main_obj,
		      const struct tls_tunables *tun, struct progload_report *report)
{
	struct tls *t = calloc(1, sizeof(*t));
	int err, failed;

	if (!t)
		return NULL;
	pthread_mutex_init(&t->lock, NULL);
	t->mode_cfg = cfg->tls_probe_mode;
	t->self = getpid();
	t->watch = calloc(WATCH_MAX, sizeof(*t->watch));
	if (!t->watch) {
		err = -ENOMEM;
		goto cleanup;
	}
	t->skel = tls_bpf__open();
	if (!t->skel) {
		err = -errno;
		pr_error("TLS: opening the BPF object: %s", strerror(-err));
		goto cleanup;
	}
	err = check_map_names(t->skel);
	if (err)
		goto cleanup;
	set_tunables(t->skel, tun);
	err = share_maps(t->skel, main_obj);
	if (err)
		goto cleanup;
	err = progload_object(t->skel->obj, "tls", NULL, report, &failed);
	if (err) {
		pr_error("TLS: loading BPF program %s: %s: %s",
			 failed >= 0 ? report->progs[failed].name : "(none)", strerror(-err),
			 failed >= 0 ? report->progs[failed].why : "");
		goto cleanup;
	}
	err = attach_tp(t->skel->progs.tp_exec, &t->skel->links.tp_exec, "tp_exec");
	if (!err)
		err = attach_tp(t->skel->progs.tp_exit, &t->skel->links.tp_exit, "tp_exit");
	if (err)
		goto cleanup;
	t->rb = ring_buffer__new(bpf_map__fd(t->skel->maps.tls_events), on_event, t, NULL);
	if (!t->rb) {
		err = -errno;
		pr_error("TLS: ring buffer: %s", strerror(-err));
		goto cleanup;
	}

	/* Exec events from now on are queued in the ring buffer, so a process that starts
	 * during the scans below is not missed. */
	scan_system(t);
	scan_all(t);
	t->next_liveness = now_s() + LIVENESS_S;
	t->next_rescan = now_s() + RESCAN_S;
	err = pthread_create(&t->thread, NULL, tls_thread, t);
	if (err) {
		err = -err;
		pr_error("TLS: starting the process thread: %s", strerror(-err));
		goto cleanup;
	}
	t->thread_started = true;
	return t;

cleanup:
	tls_stop(t);
	errno = -err;
	return NULL;
}

void tls_report_off(struct progload_report *report, const char *why)
{
	struct tls_bpf *s = tls_bpf__open();

	if (!s)
		return;
	progload_list_off(s->obj, "tls", why, report);
	tls_bpf__destroy(s);
}

void tls_stop(struct tls *t)
{
	if (!t)
		return;
	if (t->thread_started) {
		atomic_store(&t->stop, true);
		pthread_join(t->thread, NULL);
	}
	for (size_t i = 0; i < t->n_libs; i++)
		lib_detach(t, &t->libs[i]);
	ring_buffer__free(t->rb);
	tls_bpf__destroy(t->skel);
	pthread_mutex_destroy(&t->lock);
	free(t->libs);
	free(t->watch);
	free(t);
}

void tls_report(struct tls *t, FILE *out)
{
	size_t n_ok = 0;

	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->n_libs; i++) {
		const struct tls_lib *lib = &t->libs[i];

		if (lib->failed)
			continue;
		n_ok++;
		pr_info("attached TLS probes mode=%s library=%s", mode_names[lib->mode], lib->name);
		if (out)
			fprintf(out, "attached TLS probes (%s) to %s\n", mode_names[lib->mode],
				lib->name);
	}
	pthread_mutex_unlock(&t->lock);
	if (!n_ok) {
		pr_info("TLS: no libssl found yet; new processes are watched");
		if (out)
			fprintf(out, "TLS: no libssl found yet\n");
	}
}

static int lib_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sockeye_tls_library *)a)->library,
		      ((const struct sockeye_tls_library *)b)->library);
}

struct sockeye_tls_library *tls_libraries(struct tls *t, size_t *n)
{
	struct sockeye_tls_library *out = NULL;

	*n = 0;
	pthread_mutex_lock(&t->lock);
	if (t->n_libs)
		out = calloc(t->n_libs, sizeof(*out));
	for (size_t i = 0; out && i < t->n_libs; i++) {
		if (t->libs[i].failed)
			continue;
		snprintf(out[*n].library, sizeof(out[*n].library), "%s", t->libs[i].name);
		out[*n].mode = t->libs[i].mode;
		out[*n].fd_lookup = t->libs[i].fd_lookup;
		out[*n].slot = t->libs[i].slot;
		(*n)++;
	}
	pthread_mutex_unlock(&t->lock);
	if (out)
		qsort(out, *n, sizeof(*out), lib_cmp);
	return out;
}

int tls_stats_fd(const struct tls *t)
{
	return bpf_map__fd(t->skel->maps.tls_stats);
}

int tls_hits_fd(const struct tls *t)
{
	return bpf_map__fd(t->skel->maps.tls_hits);
}

int tls_attr_fd(const struct tls *t)
{
	return bpf_map__fd(t->skel->maps.tls_attr);
}

size_t tls_prog_fds(const struct tls *t, int *fds, const char **names, size_t max)
{
	struct bpf_program *progs[] = {
		t->skel->progs.uprobe_ssl_rw,	t->skel->progs.uretprobe_ssl_rw,
		t->skel->progs.uprobe_ssl_free, t->skel->progs.tp_exec,
		t->skel->progs.tp_exit,
	};
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(progs) && n < max; i++) {
		names[n] = bpf_program__name(progs[i]);
		fds[n++] = bpf_program__fd(progs[i]);
	}
	return n;
}

size_t tls_map_fds(const struct tls *t, int *fds, size_t max)
{
	size_t n = 0;

	if (n < max)
		fds[n++] = bpf_map__fd(t->skel->maps.tls_conns);
	if (n < max)
		fds[n++] = bpf_map__fd(t->skel->maps.tls_calls);
	return n;
}
