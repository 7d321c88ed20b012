// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* test_procself.c - the agent's own outputs: process_* values from /proc, atomic textfiles. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "procself.h"
#include "textfile.h"

static char tmpdir[] = "/tmp/test_procself.XXXXXX";

static int setup_tmpdir(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
	char cmd[64];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Runs with stderr sent to a temporary file; returns what was logged (caller frees). */
static int saved_err = -1;
static FILE *err_file;

static void stderr_capture(void)
{
	fflush(stderr);
	err_file = tmpfile();
	assert_non_null(err_file);
	saved_err = dup(STDERR_FILENO);
	dup2(fileno(err_file), STDERR_FILENO);
}

static char *stderr_restore(void)
{
	long n;
	char *s;

	fflush(stderr);
	dup2(saved_err, STDERR_FILENO);
	close(saved_err);
	fseek(err_file, 0, SEEK_END);
	n = ftell(err_file);
	rewind(err_file);
	s = calloc(1, (size_t)n + 1);
	assert_non_null(s);
	if (n > 0)
		assert_int_equal(fread(s, 1, (size_t)n, err_file), (size_t)n);
	fclose(err_file);
	return s;
}

static char *read_whole(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s = calloc(1, 65536);

	assert_non_null(f);
	assert_non_null(s);
	(void)!fread(s, 1, 65535, f);
	fclose(f);
	return s;
}

/* Names in dir, sorted and joined with ' ' (no "." or ".."). */
static void list_dir(const char *dir, char *out, size_t size)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	size_t off = 0;

	assert_true(n >= 0);
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.')
			off += (size_t)snprintf(out + off, size - off, "%s%s", off ? " " : "",
						names[i]->d_name);
		free(names[i]);
	}
	free(names);
}

/* ---- procself ---------------------------------------------------------------------------- */

static void test_process_values_are_plausible(void **state)
{
	struct sockeye_process p = { 0 };
	struct rlimit rl;
	double now = (double)time(NULL);

	(void)state;
	assert_int_equal(procself_read(&p), 0);
	assert_int_equal(p.valid, 1);
	assert_true(p.cpu_seconds >= 0);
	assert_true(p.resident_bytes > 0);
	assert_true(p.virtual_bytes >= p.resident_bytes);
	assert_true(p.open_fds >= 3);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	assert_true(p.max_fds > 0);
	assert_int_equal(p.max_fds, rl.rlim_cur);
	/* btime has one-second resolution, so allow a little slack into the future. */
	if (!(p.start_time_seconds > now - 3600 && p.start_time_seconds <= now + 2))
		fail_msg("start time %.2f is not within the last hour of %.0f",
			 p.start_time_seconds, now);
}

static void test_open_fds_counts_a_newly_opened_file(void **state)
{
	struct sockeye_process before = { 0 }, after = { 0 };
	int fd;

	(void)state;
	assert_int_equal(procself_read(&before), 0);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(procself_read(&after), 0);
	close(fd);
	assert_int_equal(after.open_fds, before.open_fds + 1);
}

static void test_cpu_seconds_grow_with_work(void **state)
{
	struct sockeye_process before = { 0 }, after = { 0 };
	struct timespec start, now;
	volatile unsigned long spin = 0;

	(void)state;
	assert_int_equal(procself_read(&before), 0);
	/* Burn 50 ms of CPU: more than the 10 ms clock-tick resolution of utime. */
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &start);
	do {
		for (int i = 0; i < 100000; i++)
			spin++;
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
	} while ((now.tv_sec - start.tv_sec) * 1000000000L + (now.tv_nsec - start.tv_nsec) <
		 50000000L);
	assert_int_equal(procself_read(&after), 0);
	assert_true(after.cpu_seconds > before.cpu_seconds);
}

/* ---- textfile ---------------------------------------------------------------------------- */

static void test_textfile_content_is_exact_and_no_temp_file_remains(void **state)
{
	static const char data[] = "# HELP sockeye_up 1 when sockeye runs.\n"
				   "# TYPE sockeye_up gauge\n"
				   "sockeye_up 1\n";
	char dir[256], path[300], names[256], *got;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/exact", tmpdir);
	assert_int_equal(mkdir(dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/sockeye.prom", dir);
	assert_int_equal(textfile_write(path, data, strlen(data)), 0);
	got = read_whole(path);
	assert_string_equal(got, data);
	free(got);
	list_dir(dir, names, sizeof(names));
	assert_string_equal(names, "sockeye.prom");
}

static void test_textfile_replaces_the_old_file_whole(void **state)
{
	static const char first[] = "a 1\nb 2\nc 3\n";
	static const char second[] = "a 4\n";
	char dir[256], path[300], names[256], *got;
	struct stat st_before, st_after;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/replace", tmpdir);
	assert_int_equal(mkdir(dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/sockeye.prom", dir);
	assert_int_equal(textfile_write(path, first, strlen(first)), 0);
	assert_int_equal(stat(path, &st_before), 0);
	assert_int_equal(textfile_write(path, second, strlen(second)), 0);
	assert_int_equal(stat(path, &st_after), 0);
	got = read_whole(path);
	assert_string_equal(got, second);
	free(got);
	/* A new inode renamed into place: a reader holding the old file sees it whole. */
	assert_true(st_before.st_ino != st_after.st_ino);
	list_dir(dir, names, sizeof(names));
	assert_string_equal(names, "sockeye.prom");
}

static void test_textfile_empty_data_gives_empty_file(void **state)
{
	char path[300];
	struct stat st;

	(void)state;
	snprintf(path, sizeof(path), "%s/empty.prom", tmpdir);
	assert_int_equal(textfile_write(path, "", 0), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 0);
}

static void test_textfile_in_missing_directory_fails_and_logs_path(void **state)
{
	char path[300], *log;

	(void)state;
	snprintf(path, sizeof(path), "%s/no-such-dir/sockeye.prom", tmpdir);
	stderr_capture();
	assert_int_equal(textfile_write(path, "x 1\n", 4), -ENOENT);
	log = stderr_restore();
	if (!strstr(log, path) || !strstr(log, strerror(ENOENT)) || !strstr(log, "level=error"))
		fail_msg("log lacks path or reason: %s", log);
	free(log);
	assert_int_equal(access(path, F_OK), -1);
}

static void test_textfile_failed_rename_removes_temp_file(void **state)
{
	char dir[256], path[300], keep[320], names[256], *log;

	(void)state;
	/* The target is a non-empty directory: open and write succeed, rename fails. */
	snprintf(dir, sizeof(dir), "%s/rename", tmpdir);
	assert_int_equal(mkdir(dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/sockeye.prom", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(keep, sizeof(keep), "%s/keep", path);
	assert_int_equal(mkdir(keep, 0755), 0);
	stderr_capture();
	assert_int_equal(textfile_write(path, "x 1\n", 4), -EISDIR);
	log = stderr_restore();
	if (!strstr(log, path) || !strstr(log, "rename"))
		fail_msg("log lacks path or step: %s", log);
	free(log);
	list_dir(dir, names, sizeof(names));
	assert_string_equal(names, "sockeye.prom");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_process_values_are_plausible),
		cmocka_unit_test(test_open_fds_counts_a_newly_opened_file),
		cmocka_unit_test(test_cpu_seconds_grow_with_work),
		cmocka_unit_test(test_textfile_content_is_exact_and_no_temp_file_remains),
		cmocka_unit_test(test_textfile_replaces_the_old_file_whole),
		cmocka_unit_test(test_textfile_empty_data_gives_empty_file),
		cmocka_unit_test(test_textfile_in_missing_directory_fails_and_logs_path),
		cmocka_unit_test(test_textfile_failed_rename_removes_temp_file),
	};

	return cmocka_run_group_tests(tests, setup_tmpdir, remove_tmpdir);
}
