/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* identity_util.h - small string and directory tests the identity sources (identity_proc.c,
 * identity_cgroup.c, identity_k8s.c) share. Internal to them: not part of identity.h. */
#ifndef SOCKEYE_IDENTITY_UTIL_H
#define SOCKEYE_IDENTITY_UTIL_H

#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Lower-case hex digits only: the form container ids and pod uids take. */
static inline int is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

static inline int ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* Whether the entry e of the directory dfd is a directory (symlinks are not followed). */
static inline int is_dir_at(int dfd, const struct dirent *e)
{
	struct stat st;

	if (e->d_type == DT_DIR)
		return 1;
	if (e->d_type != DT_UNKNOWN)
		return 0;
	return fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

#endif /* SOCKEYE_IDENTITY_UTIL_H */
