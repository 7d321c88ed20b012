/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* tls_internal.h - the state tls.c (the object's lifecycle), tls_attach.c (probes per library),
 * tls_discover.c (finding the files) and tls_watch.c (following processes) share. Not for
 * other files: tls.h is the interface. */
#ifndef SOCKEYE_TLS_INTERNAL_H
#define SOCKEYE_TLS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#include "tls.h"
#include "tls.skel.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define TLS_MAX_LINKS 12   /* public mode: 4 functions x (entry, return) + SSL_free */
#define TLS_LIB_PIDS  16   /* processes remembered per library, to notice when all are gone */
#define WATCH_MAX     4096 /* exec'd processes waiting for a look at their maps */
#define POLL_MS	      20   /* ring buffer poll timeout: how late a due scan may run */
#define LIVENESS_S    2.0  /* how often libraries outside the system directories are checked */
#define RESCAN_S      60.0 /* how often all of /proc is read (a late dlopen of a private copy) */
#define TLS_SYSTEM_DIRS 8 /* system library directories at most */

struct tls_lib {
	dev_t dev; /* identity, as /proc/PID/maps shows it */
	ino_t ino;
	char name[SOCKEYE_TLS_LIBRARY_LEN]; /* the library label */
	enum sockeye_tls_mode mode;
	bool system;	/* in a system library directory: stays attached */
	bool failed;	/* could not be attached: not tried again */
	bool seen;	/* found by the current full scan */
	bool fd_lookup; /* the socket BIO lookup's offsets were derived */
	int slot;	/* in tls_libs, -1 none */
	struct bpf_link *links[TLS_MAX_LINKS];
	size_t n_links;
	pid_t pids[TLS_LIB_PIDS]; /* processes seen mapping it */
	size_t n_pids;
};

struct watch {
	pid_t pid;
	unsigned step; /* index into watch_delays of the next scan */
	double due;
};

struct tls {
	struct tls_bpf *skel;
	struct ring_buffer *rb;
	enum config_tls_mode mode_cfg;
	pthread_t thread;
	bool thread_started;
	atomic_bool stop;

	bool slot_used[SOCKEYE_TLS_LIB_SLOTS]; /* tls_libs; the thread's alone after start */

	pthread_mutex_t lock; /* libs: changed by the thread, read by collect */
	struct tls_lib *libs;
	size_t n_libs, cap_libs;

	struct watch *watch; /* the thread's alone */
	size_t n_watch;
	double next_liveness;
	double next_rescan;
	double next_warn; /* tls_warn_limited */
	pid_t self;
};

/* ---- tls_attach.c: a library's probes ---------------------------------------------------- */

struct tls_lib *tls_lib_find(struct tls *t, dev_t dev, ino_t ino);
void tls_lib_add_pid(struct tls_lib *lib, pid_t pid);
/* Detaches the library's probes, then gives its tls_libs slot back. */
void tls_lib_detach(struct tls *t, struct tls_lib *lib);
/* Derives the plan for the file at path, attaches, and records the library; shown is the path
 * processes see, for the label and the log; pid the process it was found in (0: a system
 * library directory). */
void tls_lib_attach(struct tls *t, const char *path, const char *shown, dev_t dev, ino_t ino,
		    bool system, pid_t pid);

/* ---- tls_discover.c: the files --------------------------------------------------------- */

/* The system library directories (the dynamic loader's defaults); returns how many. */
size_t tls_system_dirs(char dirs[TLS_SYSTEM_DIRS][64]);
/* Where the libcrypto (file name needed) of the libssl at shown, mapped by pid, is. 0 or
 * -ENOENT. */
int tls_find_crypto(const char *shown, pid_t pid, const char *needed, char *out, size_t n);
/* Reads /proc/PID/maps: attaches each libssl file not seen yet (through map_files), and
 * notes pid as a user of those already attached. Returns 0 or a negative errno (-ENOENT: the
 * process is gone). */
int tls_scan_pid(struct tls *t, pid_t pid);
/* tls_scan_pid for every process but this one. */
void tls_scan_all(struct tls *t);
/* libssl files in the system library directories, attached whether or not a process maps
 * them yet: a probe costs nothing until a process maps its file. */
void tls_scan_system(struct tls *t);
/* Whether process pid maps the file dev:ino. */
bool tls_pid_maps(pid_t pid, dev_t dev, ino_t ino);

/* ---- tls_watch.c: following processes ------------------------------------------------------ */

double tls_now(void); /* CLOCK_MONOTONIC, in seconds */
/* Warnings the thread's loop may hit over and over: at most one a minute. */
void tls_warn_limited(struct tls *t, const char *msg, int err);
/* The ring buffer's callback: an exec'd process is queued for a look at its maps. */
int tls_on_event(void *ctx, void *data, size_t size);
/* The process thread: exec'd processes, a rescan every minute, detaching unmapped libraries. */
void *tls_thread(void *arg);

#endif /* SOCKEYE_TLS_INTERNAL_H */
