// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* tls_attach.c - one libssl file -> its uprobes: the plan tls_derive.c makes (with the
 * libcrypto half of the socket BIO lookup), a tls_libs slot with the offsets, the links, the
 * library's label. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "log.h"
#include "tls_internal.h"
#include "tls_derive.h"
#include "tls_elf.h"

struct tls_lib *tls_lib_find(struct tls *t, dev_t dev, ino_t ino)
{
	for (size_t i = 0; i < t->n_libs; i++)
		if (t->libs[i].dev == dev && t->libs[i].ino == ino)
			return &t->libs[i];
	return NULL;
}

void tls_lib_add_pid(struct tls_lib *lib, pid_t pid)
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
void tls_lib_detach(struct tls *t, struct tls_lib *lib)
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

/* The libcrypto half of the socket BIO lookup (tls_derive_crypto). */
static void plan_crypto(struct tls_plan *p, struct tls_elf *ssl, const char *shown, pid_t pid)
{
	const char *needed = tls_elf_needed(ssl, "libcrypto.so");
	char path[PATH_MAX];
	struct tls_elf *e;
	int fd;

	if (!p->got_socket)
		return;
	if (!needed || tls_find_crypto(shown, pid, needed, path, sizeof(path))) {
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
void tls_lib_attach(struct tls *t, const char *path, const char *shown, dev_t dev, ino_t ino,
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
	tls_lib_add_pid(&lib, pid);
	if (!err) {
		lib.slot = slot_take(t, &p.lib);
		err = lib.slot < 0 ? lib.slot : attach_plan(t, &lib, path, &p);
		if (err) {
			pr_warn("TLS: attaching uprobes to %s (%s): %s", shown, path,
				strerror(-err));
			tls_lib_detach(t, &lib);
			lib.failed = true;
		}
	}

	pthread_mutex_lock(&t->lock);
	if (t->n_libs == t->cap_libs) {
		size_t cap = t->cap_libs ? t->cap_libs * 2 : 8;

		grown = realloc(t->libs, cap * sizeof(*grown));
		if (!grown) {
			pthread_mutex_unlock(&t->lock);
			tls_lib_detach(t, &lib);
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
