// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* identity_k8s.c - a pod uid -> the k8s_* labels, from the kubelet's pod and container log
 * directories (no API server: nothing to authenticate to, nothing to watch). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "identity.h"
#include "identity_util.h"

#define PODS_DIR_MAX_CONTAINERS 64 /* container directories looked at in one pod */

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
	    identity_parse_pod_uid(last + 1, strlen(last + 1), out->uid)) {
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
