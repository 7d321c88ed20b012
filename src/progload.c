// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* progload.c - loads a BPF object with a verifier report per program: the instructions each
 * program took to verify, and for a refused one the verifier's own last lines. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "progload.h"

/* Statistics only (BPF_LOG_STATS): the verifier's error and its "processed N insns" line,
 * without the per-instruction trace that would slow it down. */
#define LOG_LEVEL_STATS 4
#define LOG_SIZE (64 * 1024)

/* The figure in "processed N insns" of a verifier log, 0 when absent. */
static __u32 processed_insns(const char *log)
{
	const char *p = log ? strstr(log, "processed ") : NULL;

	return p ? (__u32)strtoul(p + strlen("processed "), NULL, 10) : 0;
}

/* Statistics lines end every log at LOG_LEVEL_STATS; anything else is the verifier's refusal. */
static int stats_line(const char *p)
{
	return !strncmp(p, "verification time", 17) || !strncmp(p, "stack depth", 11) ||
	       !strncmp(p, "processed ", 10);
}

static int refused(const char *log)
{
	for (const char *p = log; p && *p;) {
		const char *e = strchr(p, '\n');

		if (*p != '\n' && !stats_line(p))
			return 1;
		p = e ? e + 1 : NULL;
	}
	return 0;
}

/* The last lines of a verifier log, without its statistics lines, joined by " | ". */
static void last_lines(const char *log, char *out, size_t len)
{
	const char *lines[4] = {0};
	size_t lens[4] = {0}, n = 0;
	const char *p = log;

	out[0] = 0;
	while (p && *p) {
		const char *e = strchr(p, '\n');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (l && (!stats_line(p) || !strncmp(p, "processed ", 10))) {
			memmove(lines, lines + (n == 4), sizeof(lines[0]) * (n == 4 ? 3 : 0));
			memmove(lens, lens + (n == 4), sizeof(lens[0]) * (n == 4 ? 3 : 0));
			if (n < 4)
				n++;
			lines[n - 1] = p;
			lens[n - 1] = l;
		}
		p = e ? e + 1 : NULL;
	}
	for (size_t i = 0; i < n; i++) {
		size_t used = strlen(out);

		snprintf(out + used, len - used, "%s%.*s", i ? " | " : "", (int)lens[i], lines[i]);
	}
	for (char *q = out; *q; q++)
		if (*q == '"' || *q == '\\')
			*q = '\'';
}

int progload_object(struct bpf_object *obj, const char *object, const char *off_why,
		    struct progload_report *rep, int *failed)
{
	struct bpf_program *prog;
	char *logs[PROGLOAD_MAX] = {0}; /* by index in rep; NULL for programs not loaded */
	size_t first = rep->n;
	int err = 0, refused_at = -1;

	*failed = -1;
	bpf_object__for_each_program(prog, obj)
	{
		struct progload_prog *e;

		if (rep->n >= PROGLOAD_MAX) {
			err = -E2BIG;
			goto cleanup;
		}
		e = &rep->progs[rep->n++];
		memset(e, 0, sizeof(*e));
		snprintf(e->name, sizeof(e->name), "%s", bpf_program__name(prog));
		snprintf(e->object, sizeof(e->object), "%s", object);
		if (!bpf_program__autoload(prog)) {
			e->state = PROGLOAD_OFF;
			snprintf(e->why, sizeof(e->why), "%s", off_why ? off_why : "off");
			continue;
		}
		logs[rep->n - 1] = calloc(1, LOG_SIZE);
		if (!logs[rep->n - 1]) {
			err = -ENOMEM;
			goto cleanup;
		}
		bpf_program__set_log_buf(prog, logs[rep->n - 1], LOG_SIZE);
		bpf_program__set_log_level(prog, LOG_LEVEL_STATS);
	}

	err = bpf_object__load(obj);

	/* libbpf loads programs in this same order and stops at the first one refused: by the
	 * kernel (its log says why), or by libbpf itself before the kernel saw it (e.g. a
	 * tracepoint missing from the kernel's BTF: the first program without a log). */
	for (size_t k = first; k < rep->n; k++) {
		rep->progs[k].insns = processed_insns(logs[k]);
		if (!err || rep->progs[k].state == PROGLOAD_OFF || refused_at >= 0)
			continue;
		if (refused(logs[k]) || !logs[k][0])
			refused_at = (int)k;
	}
	for (size_t k = first; k < rep->n; k++) {
		struct progload_prog *e = &rep->progs[k];

		if (e->state == PROGLOAD_OFF)
			continue;
		if (!err || (int)k < refused_at)
			e->state = PROGLOAD_LOADED; /* if err: verified, then unloaded with the rest */
		else if ((int)k == refused_at)
			e->state = PROGLOAD_FAILED;
		else
			e->state = PROGLOAD_UNTRIED;
	}
	if (!err) {
		size_t k = first;

		bpf_object__for_each_program(prog, obj)
		{
			struct bpf_prog_info info = {};
			__u32 len = sizeof(info);

			if (rep->progs[k].state == PROGLOAD_LOADED &&
			    !bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) &&
			    info.verified_insns)
				rep->progs[k].insns = info.verified_insns;
			k++;
		}
	} else if (refused_at >= 0) {
		struct progload_prog *e = &rep->progs[refused_at];

		*failed = refused_at;
		last_lines(logs[refused_at], e->why, sizeof(e->why));
		if (!e->why[0])
			snprintf(e->why, sizeof(e->why), "%s (refused by libbpf before loading)",
				 strerror(-err));
	}

cleanup:
	bpf_object__for_each_program(prog, obj)
		bpf_program__set_log_buf(prog, NULL, 0);
	for (size_t k = 0; k < PROGLOAD_MAX; k++)
		free(logs[k]);
	return err;
}

void progload_list_off(struct bpf_object *obj, const char *object, const char *why,
		       struct progload_report *rep)
{
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, obj)
	{
		struct progload_prog *e;

		if (rep->n >= PROGLOAD_MAX)
			return;
		e = &rep->progs[rep->n++];
		memset(e, 0, sizeof(*e));
		snprintf(e->name, sizeof(e->name), "%s", bpf_program__name(prog));
		snprintf(e->object, sizeof(e->object), "%s", object);
		e->state = PROGLOAD_OFF;
		snprintf(e->why, sizeof(e->why), "%s", why);
	}
}

void progload_forget(struct progload_report *rep, const char *object)
{
	size_t out = 0;

	for (size_t k = 0; k < rep->n; k++)
		if (strcmp(rep->progs[k].object, object) != 0)
			rep->progs[out++] = rep->progs[k];
	rep->n = out;
}

static const char *const state_names[] = {
	[PROGLOAD_LOADED] = "loaded",
	[PROGLOAD_OFF] = "off",
	[PROGLOAD_FAILED] = "failed",
	[PROGLOAD_UNTRIED] = "untried",
};

void progload_print(const struct progload_report *rep, FILE *out)
{
	for (size_t k = 0; k < rep->n; k++) {
		const struct progload_prog *e = &rep->progs[k];

		fprintf(out, "program %s %s", e->name, state_names[e->state]);
		if (e->state != PROGLOAD_OFF && e->state != PROGLOAD_UNTRIED)
			fprintf(out, " insns=%u", e->insns);
		if (e->why[0])
			fprintf(out, " reason=\"%s\"", e->why);
		fputc('\n', out);
	}
}

int progload_check_map_names(const struct progload_map_name *maps, size_t n, const char *object)
{
	int err = 0;

	for (size_t i = 0; i < n; i++) {
		const char *name = bpf_map__name(maps[i].map);

		if (name && strcmp(name, maps[i].name) == 0)
			continue;
		pr_error("%s: BPF map %s is named %s in include/sockeye.h", object,
			 name ? name : "(none)", maps[i].name);
		err = -EINVAL;
	}
	return err;
}
