/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* progload.h - loads a BPF object with a verifier report per program. */
#ifndef SOCKEYE_PROGLOAD_H
#define SOCKEYE_PROGLOAD_H

#include <linux/types.h>
#include <stddef.h>
#include <stdio.h>

struct bpf_map;
struct bpf_object;

enum progload_state {
	PROGLOAD_LOADED = 0, /* verified and loaded */
	PROGLOAD_OFF,	     /* not loaded: its feature is off on this kernel (why says so) */
	PROGLOAD_FAILED,     /* the kernel refused it (why: the verifier's last lines) */
	PROGLOAD_UNTRIED,    /* not loaded: an earlier program of its object was refused */
};

struct progload_prog {
	char name[64];
	char object[16]; /* "sockeye", "tls" */
	__u8 state;	 /* enum progload_state */
	__u32 insns;	 /* instructions the verifier processed (0 when unknown) */
	char why[512];
};

#define PROGLOAD_MAX 32

/* Every program of every object the loader tried, in load order. */
struct progload_report {
	struct progload_prog progs[PROGLOAD_MAX];
	size_t n;
};

/* Loads obj, each program with its own verifier log at statistics level, and appends one entry
 * per program of obj to rep (programs with autoload off become PROGLOAD_OFF with off_why).
 * Returns 0, or a negative errno with *failed set to the report index of the program the
 * kernel refused (-1 when the failure was not a program's). */
int progload_object(struct bpf_object *obj, const char *object, const char *off_why,
		    struct progload_report *rep, int *failed);

/* Appends every program of obj (opened, not loaded) to rep as PROGLOAD_OFF with why. */
void progload_list_off(struct bpf_object *obj, const char *object, const char *why,
		       struct progload_report *rep);

/* Drops the entries of object from rep (before a retry of that object). */
void progload_forget(struct progload_report *rep, const char *object);

/* A map of an object and the name include/sockeye.h gives it (a SOCKEYE_MAP_* define). */
struct progload_map_name {
	const struct bpf_map *map;
	const char *name;
};

/* Checks that every map has the name the contract gives it: a map renamed in bpf/ and not in
 * include/sockeye.h would otherwise go unnoticed where user space names maps (the TLS object's
 * map sharing, logs). Returns 0 or -EINVAL (logged). */
int progload_check_map_names(const struct progload_map_name *maps, size_t n, const char *object);

/* Prints one line per program, as --check does: "program NAME loaded insns=N",
 * "program NAME off reason=\"...\"", "program NAME failed insns=N reason=\"...\"". */
void progload_print(const struct progload_report *rep, FILE *out);

#endif /* SOCKEYE_PROGLOAD_H */
