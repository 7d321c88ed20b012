// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* identity_cgroup.c - cgroup ids -> paths in the cgroup2 mount, and what a path says: the
 * container id and the pod uid. */
#define _GNU_SOURCE /* open_by_handle_at */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "identity_cgroup.h"
#include "identity_util.h"
#include "log.h"

#define MAX_SCAN_PIDS 65536 /* processes of one cgroup looked at for listeners */
#define MAX_WALK_DIRS 65536 /* cgroup directories walked when file handles fail */

/* FILEID_KERNFS: a cgroup2 file handle is the 64-bit cgroup id (include/linux/exportfs.h). */
#define FILEID_KERNFS 0xfe

/* The comment in identity_cgroup.h says which forms are accepted. */
int identity_parse_pod_uid(const char *s, size_t n, char *out)
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
				return identity_parse_pod_uid(c + i + 3, n - i - 3, out);
		}
		return -EINVAL;
	}
	if (n > 3 && memcmp(c, "pod", 3) == 0)
		return identity_parse_pod_uid(c + 3, n - 3, out);
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


static int path_by_handle(const struct cgroup_fs *c, uint64_t id, char *out, size_t size)
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
static int path_by_walk(const struct cgroup_fs *c, uint64_t id, char *out, size_t size)
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

int cgroup_fs_path(struct cgroup_fs *c, uint64_t id, char *out, size_t size)
{
	int err;

	if (!c->no_handles) {
		err = path_by_handle(c, id, out, size);
		/* ESTALE: no cgroup has that id (any more). */
		if (err == 0 || err == -ESTALE || err == -ENOENT)
			return err;
		pr_debug("identity: cgroup file handles unusable (%s): walking %s instead",
			 strerror(-err), c->root);
		c->no_handles = 1;
	}
	return path_by_walk(c, id, out, size);
}

/* The same directory as when its path was found: a cgroup removed and another made at its
 * path has another id (its inode). */
int cgroup_fs_alive(const struct cgroup_fs *fs, const char *path, uint64_t id)
{
	char abs[PATH_MAX];
	struct stat st;

	snprintf(abs, sizeof(abs), "%s%s", fs->root, strcmp(path, "/") == 0 ? "" : path);
	return stat(abs, &st) == 0 && (uint64_t)st.st_ino == id;
}

void cgroup_fs_procs(const struct cgroup_fs *fs, const char *path, void (*fn)(void *, int),
		     void *arg)
{
	char file[PATH_MAX];
	size_t n = 0;
	FILE *f;
	int pid;

	snprintf(file, sizeof(file), "%s%s/cgroup.procs", fs->root,
		 strcmp(path, "/") == 0 ? "" : path);
	f = fopen(file, "re");
	if (!f)
		return;
	while (n++ < MAX_SCAN_PIDS && fscanf(f, "%d", &pid) == 1)
		fn(arg, pid);
	fclose(f);
}

int cgroup_fs_open(struct cgroup_fs *fs, const char *root)
{
	int err;

	fs->root_fd = -1;
	fs->no_handles = 0;
	fs->root = strdup(root);
	if (!fs->root)
		return -ENOMEM;
	/* A mount point "/x/" and "/x" are the same; paths are built as root + "/a/b". */
	for (size_t n = strlen(fs->root); n > 1 && fs->root[n - 1] == '/'; n--)
		fs->root[n - 1] = '\0';
	fs->root_fd = open(fs->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fs->root_fd < 0) {
		err = -errno;
		pr_error("identity: opening the cgroup2 mount %s: %s", fs->root, strerror(-err));
		return err;
	}
	return 0;
}

void cgroup_fs_close(struct cgroup_fs *fs)
{
	if (fs->root_fd >= 0)
		close(fs->root_fd);
	free(fs->root);
	fs->root = NULL;
	fs->root_fd = -1;
}
