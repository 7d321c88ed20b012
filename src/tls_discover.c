// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* tls_discover.c - where the libssl files are: the system library directories, and every
 * libssl.so* a process maps (/proc/PID/maps, attached through /proc/PID/map_files/<range>,
 * which reaches files replaced on disk and in other mount namespaces); and the libcrypto a
 * libssl uses. */
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "log.h"
#include "tls_internal.h"

#define TLS_SYSTEM_DIRS 8
size_t tls_system_dirs(char dirs[TLS_SYSTEM_DIRS][64])
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
	for (size_t i = 0; i < ARRAY_SIZE(plain) && n < TLS_SYSTEM_DIRS; i++)
		snprintf(dirs[n++], 64, "%s", plain[i]);
	return n;
}

/* Where the libcrypto a libssl uses is: the file named needed that process pid maps (through
 * map_files, as the libssl); else, as the process sees files (its root), the one beside the
 * libssl (shown: the path the process sees) or in a system library directory. The second is a
 * guess (the process may not have loaded it yet, or use another): the probes check the socket
 * method at run time, so a wrong guess costs the socket BIO lookup, not correctness. */
int tls_find_crypto(const char *shown, pid_t pid, const char *needed, char *out, size_t n)
{
	char maps[64], *line = NULL, dir[PATH_MAX], root[32] = "", dirs[TLS_SYSTEM_DIRS][64];
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
	nd = tls_system_dirs(dirs);
	for (size_t i = 0; i < nd; i++) {
		snprintf(out, n, "%s%s/%s", root, dirs[i], needed);
		if (access(out, R_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

static bool is_libssl(const char *path)
{
	const char *base = strrchr(path, '/');

	return base && strncmp(base + 1, "libssl.so", 9) == 0;
}

/* Reads /proc/PID/maps: attaches each libssl file not seen yet (through map_files), and
 * notes pid as a user of those already attached. Returns 0 or a negative errno (-ENOENT: the
 * process is gone). */
int tls_scan_pid(struct tls *t, pid_t pid)
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
		lib = tls_lib_find(t, makedev(maj, min), ino);
		if (lib) {
			tls_lib_add_pid(lib, pid);
			lib->seen = true;
			continue;
		}
		snprintf(mf, sizeof(mf), "/proc/%d/map_files/%lx-%lx", (int)pid, start, end);
		tls_lib_attach(t, mf, p, makedev(maj, min), ino, false, pid);
		lib = tls_lib_find(t, makedev(maj, min), ino);
		if (lib)
			lib->seen = true;
	}
	free(line);
	fclose(f);
	return 0;
}

void tls_scan_all(struct tls *t)
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
		tls_scan_pid(t, (pid_t)pid);
	}
	closedir(d);
}

/* libssl files in the system library directories, attached whether or not a process maps
 * them yet: a probe costs nothing until a process maps its file. */
void tls_scan_system(struct tls *t)
{
	char dirs[TLS_SYSTEM_DIRS][64];
	size_t n = tls_system_dirs(dirs);

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
			    tls_lib_find(t, st.st_dev, st.st_ino))
				continue;
			tls_lib_attach(t, real, real, st.st_dev, st.st_ino, true, 0);
		}
		closedir(d);
	}
}

bool tls_pid_maps(pid_t pid, dev_t dev, ino_t ino)
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
