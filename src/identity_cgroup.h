/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* identity_cgroup.h - what the cgroup v2 hierarchy says: a cgroup id's path, the container id
 * and pod uid that path names, the processes in it. Part of identity.h's interface. */
#ifndef SOCKEYE_IDENTITY_CGROUP_H
#define SOCKEYE_IDENTITY_CGROUP_H

#include <stddef.h>
#include <stdint.h>

#define IDENTITY_CONTAINER_ID_LEN 64 /* hex digits of a docker/containerd/cri-o/podman id */
#define IDENTITY_POD_UID_LEN 36	     /* 8-4-4-4-12; static pods use 32 hex digits */

/* ---- Pure parsers (no I/O; tests/unit/test_identity.c) ---------------------------------- */

/* What a cgroup v2 path says: the innermost container id and the pod uid, "" when none. */
struct identity_cgroup_info {
	char container_id[IDENTITY_CONTAINER_ID_LEN + 1];
	char pod_uid[IDENTITY_POD_UID_LEN + 1]; /* with '-', as in /var/log/pods names */
};

/* Parses a cgroup v2 path relative to the mount ("/system.slice/docker-<id>.scope"). */
void identity_parse_cgroup_path(const char *path, struct identity_cgroup_info *out);

/* A pod uid as the kubelet writes it: 8-4-4-4-12 hex digits with '-' (cgroupfs, log dirs)
 * or '_' (systemd slice names), or 32 hex digits (static pods). Copies it with '-'
 * separators to out (IDENTITY_POD_UID_LEN + 1 bytes). Returns 0 or -EINVAL. */
int identity_parse_pod_uid(const char *s, size_t n, char *out);

/* ---- The mounted hierarchy -------------------------------------------------------------- */

struct cgroup_fs {
	char *root;	/* the cgroup2 mount, without a trailing '/' */
	int root_fd;
	int no_handles; /* open_by_handle_at refused: walk the tree instead */
};

/* Opens the mount at root. Returns 0 or a negative errno (logged); close with cgroup_fs_close
 * either way. */
int cgroup_fs_open(struct cgroup_fs *fs, const char *root);
void cgroup_fs_close(struct cgroup_fs *fs);

/* The path of cgroup id relative to the mount ("/" for the root). Returns 0, or -ENOENT /
 * -ESTALE when no cgroup has that id (any more). */
int cgroup_fs_path(struct cgroup_fs *fs, uint64_t id, char *out, size_t size);

/* Whether the cgroup at path still exists and is still the one with that id. */
int cgroup_fs_alive(const struct cgroup_fs *fs, const char *path, uint64_t id);

/* Calls fn(arg, pid) for each process of the cgroup at path (a bounded number of them). */
void cgroup_fs_procs(const struct cgroup_fs *fs, const char *path, void (*fn)(void *, int),
		     void *arg);

#endif /* SOCKEYE_IDENTITY_CGROUP_H */
