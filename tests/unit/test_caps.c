// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* test_caps.c - --capabilities.keep parsing, the measured capability sets, and the reduction
 * reaching every thread (run in a child process, so the test runner keeps its own). */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "caps.h"

#define BIT(c) (UINT64_C(1) << (c))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

enum { C_DAC_READ_SEARCH = 2, C_NET_ADMIN = 12, C_SYS_PTRACE = 19, C_SYS_ADMIN = 21,
       C_PERFMON = 38, C_BPF = 39, C_CHECKPOINT_RESTORE = 40 };

static void test_keep_parses_keywords_names_and_rejects_the_rest(void **state)
{
	static const struct {
		const char *name, *text;
		int ok;
		enum caps_keep_mode mode;
		uint64_t mask;
	} cases[] = {
		{ "auto", "auto", 1, CAPS_KEEP_AUTO, 0 },
		{ "all", "all", 1, CAPS_KEEP_ALL, 0 },
		{ "none is an empty list", "none", 1, CAPS_KEEP_LIST, 0 },
		{ "one name", "cap_sys_ptrace", 1, CAPS_KEEP_LIST, BIT(C_SYS_PTRACE) },
		{ "without prefix, any case", "SYS_PTRACE,Cap_Dac_Read_Search", 1, CAPS_KEEP_LIST,
		  BIT(C_SYS_PTRACE) | BIT(C_DAC_READ_SEARCH) },
		{ "newest names", "cap_bpf,cap_perfmon,cap_checkpoint_restore", 1, CAPS_KEEP_LIST,
		  BIT(C_BPF) | BIT(C_PERFMON) | BIT(C_CHECKPOINT_RESTORE) },
		{ "capability 0", "chown", 1, CAPS_KEEP_LIST, 1 },
		{ "empty", "", 0, 0, 0 },
		{ "unknown name", "cap_sys_ptrace,cap_nope", 0, 0, 0 },
		{ "empty element", "cap_sys_ptrace,,cap_bpf", 0, 0, 0 },
		{ "trailing comma", "cap_sys_ptrace,", 0, 0, 0 },
		{ "twice", "cap_bpf,CAP_BPF", 0, 0, 0 },
		{ "prefix only", "cap_", 0, 0, 0 },
		{ "keyword in a list", "auto,cap_bpf", 0, 0, 0 },
		{ "space", "cap_bpf, cap_perfmon", 0, 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct caps_keep k = { CAPS_KEEP_ALL, 12345 };
		const char *why = caps_parse_keep(cases[i].text, &k);

		printf("# Case %zu: %s\n", i, cases[i].name);
		if (!cases[i].ok) {
			assert_non_null(why);
			continue;
		}
		assert_null(why);
		assert_int_equal(k.mode, cases[i].mode);
		assert_int_equal(k.mask, cases[i].mask);
	}
}

static void test_names_and_format_follow_linux_capability_numbers(void **state)
{
	char buf[256];

	(void)state;
	assert_string_equal(caps_name(0), "cap_chown");
	assert_string_equal(caps_name(C_SYS_ADMIN), "cap_sys_admin");
	assert_string_equal(caps_name(C_CHECKPOINT_RESTORE), "cap_checkpoint_restore");
	assert_null(caps_name(41));
	assert_null(caps_name(-1));
	caps_format(0, buf, sizeof(buf));
	assert_string_equal(buf, "");
	caps_format(BIT(C_BPF) | BIT(C_DAC_READ_SEARCH) | BIT(C_SYS_PTRACE), buf, sizeof(buf));
	assert_string_equal(buf, "cap_dac_read_search,cap_sys_ptrace,cap_bpf");
	caps_format(BIT(C_BPF) | BIT(C_DAC_READ_SEARCH), buf, 12); /* cut at a whole name */
	assert_string_equal(buf, "");
}

/* The sets measured on kernel 6.18 (docs/deploy.md): CAP_SYS_ADMIN, needed for uprobes,
 * stands in for CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN. */
static void test_start_and_runtime_sets_are_the_measured_ones(void **state)
{
	(void)state;
	assert_int_equal(caps_start_mask(true),
			 BIT(C_SYS_ADMIN) | BIT(C_SYS_PTRACE) | BIT(C_DAC_READ_SEARCH));
	assert_int_equal(caps_start_mask(false), BIT(C_BPF) | BIT(C_PERFMON) | BIT(C_NET_ADMIN) |
							 BIT(C_SYS_PTRACE) | BIT(C_DAC_READ_SEARCH));
	assert_int_equal(caps_runtime_mask(true),
			 BIT(C_SYS_ADMIN) | BIT(C_SYS_PTRACE) | BIT(C_DAC_READ_SEARCH));
	assert_int_equal(caps_runtime_mask(false), BIT(C_SYS_PTRACE) | BIT(C_DAC_READ_SEARCH));
}

static void *idle_thread(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

static uint64_t status_field(const char *path, const char *key)
{
	char line[256];
	uint64_t v = UINT64_MAX;
	FILE *f = fopen(path, "r");

	if (!f)
		return UINT64_MAX;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, strlen(key)) == 0)
			v = strtoull(line + strlen(key), NULL, 16);
	fclose(f);
	return v;
}

/* In a child: 4 threads, then caps_reduce to cap_sys_ptrace (or nothing, when not held). Every
 * thread must end with exactly that permitted and effective set. Exit status: 0 ok, else the
 * number of the check that failed. */
static int reduce_child(void)
{
	pthread_t t[4];
	uint64_t eff, prm, want;
	struct caps_keep keep;
	char path[300];
	struct dirent *e;
	int n = 0;
	DIR *d;

	for (size_t i = 0; i < ARRAY_SIZE(t); i++)
		if (pthread_create(&t[i], NULL, idle_thread, NULL))
			return 10;
	prm = status_field("/proc/self/status", "CapPrm:");
	if (prm == UINT64_MAX || caps_parse_keep("cap_sys_ptrace", &keep))
		return 11;
	want = prm & BIT(C_SYS_PTRACE);
	if (caps_reduce(&keep, true))
		return 12;
	if (caps_effective(&eff) || eff != want)
		return 13;
	d = opendir("/proc/self/task");
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/status", e->d_name);
		n++;
		if (status_field(path, "CapPrm:") != want || status_field(path, "CapEff:") != want ||
		    status_field(path, "CapAmb:") != 0)
			return 14;
	}
	if (d)
		closedir(d);
	return n == 5 ? 0 : 15;
}

static void test_reduce_reaches_every_thread(void **state)
{
	int st = 0;
	pid_t pid;

	(void)state;
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(reduce_child());
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keep_parses_keywords_names_and_rejects_the_rest),
		cmocka_unit_test(test_names_and_format_follow_linux_capability_numbers),
		cmocka_unit_test(test_start_and_runtime_sets_are_the_measured_ones),
		cmocka_unit_test(test_reduce_reaches_every_thread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
