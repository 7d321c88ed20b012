/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* identity_k8s.h - Kubernetes names from the kubelet's log directories: a pod uid (from the
 * cgroup path) -> namespace, pod and container names. Part of identity.h's interface. */
#ifndef SOCKEYE_IDENTITY_K8S_H
#define SOCKEYE_IDENTITY_K8S_H

#include <stddef.h>

#include "identity_cgroup.h"
#include "snapshot.h"

/* A kubelet pod log directory name, "<namespace>_<pod>_<uid>". Returns 0 or -EINVAL. */
struct identity_pod {
	char ns[64];
	char name[254];
	char uid[IDENTITY_POD_UID_LEN + 1];
};
int identity_parse_pod_dir(const char *name, struct identity_pod *out);

/* A /var/log/containers file name, "<pod>_<namespace>_<container>-<id>.log": when it is the
 * log of container_id in that pod, copies the container name to out and returns 0; else
 * -ENOENT. */
int identity_parse_container_log(const char *name, const char *pod, const char *ns,
				 const char *container_id, char *out, size_t size);

/* The k8s_* labels of a container: the pod directory "<ns>_<pod>_<uid>" in pods_log_dir, and
 * the container's directory in it (the only one, or the one whose logs name container_id, in
 * <pods_log_dir>/../containers or through a symlink). Fills out's k8s_* values. Returns 0,
 * or -ENOENT when no pod directory has that uid. */
int identity_k8s_lookup(const char *pods_log_dir, const char *uid, const char *container_id,
			struct sockeye_identity *out);

#endif /* SOCKEYE_IDENTITY_K8S_H */
