// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* textfile.c - write the exposition for node_exporter's textfile collector, atomically. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "textfile.h"

static int write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Makes the rename itself durable. Best effort: some filesystems cannot fsync a directory,
 * and the file is already complete and in place either way. */
static void sync_dir(const char *path)
{
	char *copy = strdup(path);
	int fd;

	if (!copy)
		return;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(copy);
}

int textfile_write(const char *path, const char *data, size_t len)
{
	/* The temporary name does not end in ".prom", so the textfile collector never reads a
	 * half-written file; rename() then swaps the whole file in at once. */
	char *tmp = NULL;
	const char *step = "open";
	size_t size;
	int fd = -1, err = 0;

	size = strlen(path) + sizeof(".tmp.") + 20;
	tmp = malloc(size);
	if (!tmp) {
		err = -ENOMEM;
		pr_error("textfile %s: %s", path, strerror(-err));
		return err;
	}
	snprintf(tmp, size, "%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		err = -errno;
		goto cleanup;
	}
	step = "write";
	err = write_all(fd, data, len);
	if (err)
		goto cleanup;
	step = "fsync";
	if (fsync(fd)) {
		err = -errno;
		goto cleanup;
	}
	step = "close";
	err = close(fd) ? -errno : 0;
	fd = -1;
	if (err)
		goto cleanup;
	step = "rename";
	if (rename(tmp, path)) {
		err = -errno;
		goto cleanup;
	}
	sync_dir(path);
cleanup:
	if (fd >= 0)
		close(fd);
	if (err) {
		pr_error("textfile %s: %s %s: %s", path, step, tmp, strerror(-err));
		unlink(tmp);
	}
	free(tmp);
	return err;
}
