// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* procself.c - the agent's own process_* metrics from /proc, as Prometheus clients define them. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.h"
#include "procself.h"

/* Reads a small /proc file whole into buf (NUL-terminated). */
static int read_proc(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");
	size_t n;
	int err = 0;

	if (!f) {
		err = -errno;
		pr_debug("procself: %s: %s", path, strerror(-err));
		return err;
	}
	n = fread(buf, 1, size - 1, f);
	if (ferror(f)) {
		err = -EIO;
		pr_debug("procself: %s: read error", path);
	}
	buf[n] = '\0';
	fclose(f);
	return err;
}

/* Boot time in seconds since the epoch: the "btime" line of /proc/stat. */
static int read_btime(uint64_t *btime)
{
	FILE *f = fopen("/proc/stat", "re");
	char line[256];
	int err = -EPROTO;

	if (!f) {
		err = -errno;
		pr_debug("procself: /proc/stat: %s", strerror(-err));
		return err;
	}
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "btime %" SCNu64, btime) == 1) {
			err = 0;
			break;
		}
	}
	fclose(f);
	if (err)
		pr_debug("procself: /proc/stat: no btime line");
	return err;
}

/* Entries of /proc/self/fd; includes the one this opendir holds, as client libraries do. */
static int count_fds(uint64_t *n)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	uint64_t count = 0;

	if (!d) {
		int err = -errno;

		pr_debug("procself: /proc/self/fd: %s", strerror(-err));
		return err;
	}
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			count++;
	closedir(d);
	*n = count;
	return 0;
}

/* Field numbers in /proc/self/stat, as proc(5) counts them. */
enum {
	STAT_UTIME = 14,
	STAT_STIME = 15,
	STAT_STARTTIME = 22,
	STAT_VSIZE = 23,
	STAT_RSS = 24,
};

int procself_read(struct sockeye_process *p)
{
	/* /proc/self/stat is one line of ~50 fields; the command name is at most 64 bytes. */
	char stat[1024];
	unsigned long long utime, stime, starttime, vsize;
	long long rss;
	long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	struct sockeye_process out = { 0 };
	struct rlimit rl;
	uint64_t btime;
	const char *field[STAT_RSS + 1] = { NULL }; /* indexed by field number */
	int nf = 3;
	char *rest;
	int err;

	p->valid = 0;
	if (ticks <= 0 || page <= 0)
		return -EINVAL;
	err = read_proc("/proc/self/stat", stat, sizeof(stat));
	if (err)
		return err;
	/* The command name (field 2) may hold spaces and ')': fields resume after the last ')'. */
	rest = strrchr(stat, ')');
	for (char *save = NULL, *tok = rest ? strtok_r(rest + 1, " \n", &save) : NULL;
	     tok && nf <= STAT_RSS; tok = strtok_r(NULL, " \n", &save))
		field[nf++] = tok;
	if (nf <= STAT_RSS) {
		pr_debug("procself: /proc/self/stat: unexpected format");
		return -EPROTO;
	}
	utime = strtoull(field[STAT_UTIME], NULL, 10);
	stime = strtoull(field[STAT_STIME], NULL, 10);
	starttime = strtoull(field[STAT_STARTTIME], NULL, 10);
	vsize = strtoull(field[STAT_VSIZE], NULL, 10);
	rss = strtoll(field[STAT_RSS], NULL, 10);
	err = read_btime(&btime);
	if (err)
		return err;
	err = count_fds(&out.open_fds);
	if (err)
		return err;
	if (getrlimit(RLIMIT_NOFILE, &rl)) {
		err = -errno;
		pr_debug("procself: getrlimit(RLIMIT_NOFILE): %s", strerror(-err));
		return err;
	}

	out.cpu_seconds = (double)(utime + stime) / (double)ticks;
	out.start_time_seconds = (double)btime + (double)starttime / (double)ticks;
	out.virtual_bytes = vsize;
	out.resident_bytes = rss > 0 ? (uint64_t)rss * (uint64_t)page : 0;
	/* RLIM_INFINITY is ~0, which client libraries also report as is. */
	out.max_fds = rl.rlim_cur;
	out.valid = 1;
	*p = out;
	return 0;
}
