// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* test_progload.c - progload.c against the real verifier: the figures of accepted programs,
 * which program was refused and the verifier's words, programs never tried, programs off. */
#include <bpf/libbpf.h>
#include <linux/types.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "progload.h"

#define OBJ "build/tests/refused.bpf.o"

static struct bpf_object *open_obj(void)
{
	struct bpf_object *obj = bpf_object__open_file(OBJ, NULL);

	if (!obj)
		fail_msg("opening %s", OBJ);
	return obj;
}

static void test_refused_program_is_named_with_the_verifiers_words(void **state)
{
	struct progload_report rep = {0};
	struct bpf_object *obj = open_obj();
	int failed = 0, err;

	(void)state;
	err = progload_object(obj, "refused", NULL, &rep, &failed);
	assert_true(err < 0);
	assert_int_equal(rep.n, 3);
	assert_string_equal(rep.progs[0].name, "accepted");
	assert_int_equal(rep.progs[0].state, PROGLOAD_LOADED);
	assert_true(rep.progs[0].insns > 0 && rep.progs[0].insns < 100);
	assert_string_equal(rep.progs[1].name, "out_of_bounds");
	assert_int_equal(rep.progs[1].state, PROGLOAD_FAILED);
	assert_int_equal(failed, 1);
	if (!strstr(rep.progs[1].why, "invalid access to map value") ||
	    !strstr(rep.progs[1].why, "processed "))
		fail_msg("why: %s", rep.progs[1].why);
	assert_null(strchr(rep.progs[1].why, '"'));
	assert_null(strchr(rep.progs[1].why, '\n'));
	assert_string_equal(rep.progs[2].name, "after_the_refused_one");
	assert_int_equal(rep.progs[2].state, PROGLOAD_UNTRIED);
	bpf_object__close(obj);
}

static void test_program_off_is_reported_and_the_rest_loads(void **state)
{
	struct progload_report rep = {0};
	struct bpf_object *obj = open_obj();
	char line[4096];
	FILE *out;
	int failed = 0;

	(void)state;
	bpf_program__set_autoload(bpf_object__find_program_by_name(obj, "out_of_bounds"), false);
	assert_int_equal(progload_object(obj, "refused", "not on this kernel", &rep, &failed), 0);
	assert_int_equal(failed, -1);
	assert_int_equal(rep.progs[0].state, PROGLOAD_LOADED);
	assert_int_equal(rep.progs[1].state, PROGLOAD_OFF);
	assert_string_equal(rep.progs[1].why, "not on this kernel");
	assert_int_equal(rep.progs[2].state, PROGLOAD_LOADED);
	assert_true(rep.progs[2].insns >= 1 && rep.progs[2].insns < 10);

	out = tmpfile();
	assert_non_null(out);
	progload_print(&rep, out);
	rewind(out);
	assert_non_null(fgets(line, sizeof(line), out));
	if (strncmp(line, "program accepted loaded insns=", 30) != 0)
		fail_msg("line 1: %s", line);
	assert_non_null(fgets(line, sizeof(line), out));
	assert_string_equal(line, "program out_of_bounds off reason=\"not on this kernel\"\n");
	assert_non_null(fgets(line, sizeof(line), out));
	if (strncmp(line, "program after_the_refused_one loaded insns=", 43) != 0)
		fail_msg("line 3: %s", line);
	fclose(out);

	/* A retry of the object starts from a report without its entries. */
	progload_forget(&rep, "refused");
	assert_int_equal(rep.n, 0);
	bpf_object__close(obj);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refused_program_is_named_with_the_verifiers_words),
		cmocka_unit_test(test_program_off_is_reported_and_the_rest_loads),
	};

	libbpf_set_print(NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
