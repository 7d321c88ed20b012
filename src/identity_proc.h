/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* identity_proc.h - what /proc/PID says about a process: its stat line, its name and
 * executable, the service name its environment sets (OTEL_SERVICE_NAME), the listening
 * sockets it holds. Part of identity.h's interface. */
#ifndef SOCKEYE_IDENTITY_PROC_H
#define SOCKEYE_IDENTITY_PROC_H

#include <stddef.h>
#include <stdint.h>

/* ---- Pure parsers (no I/O; tests/unit/test_identity.c) ---------------------------------- */

/* The service name in a /proc/PID/environ blob (NUL-separated, the last NUL optional):
 * OTEL_SERVICE_NAME, else service.name in OTEL_RESOURCE_ATTRIBUTES (percent-decoded).
 * Empty values count as unset. Returns 0, or -ENOENT when neither is set. */
int identity_environ_service_name(const char *env, size_t len, char *out, size_t size);

/* A process's name for service_name: its comm (the name it was executed as: "python3", not
 * the "python3.11" the symlink points to), or the base name of exe when comm is the kernel's
 * 15-byte truncation of it. */
void identity_process_name(const char *comm, const char *exe, char *out, size_t size);

/* ---- Reading /proc (proc is the mount: "/proc" unless a test says otherwise) ------------- */

/* What /proc/PID/stat says. */
struct proc_stat {
	uint64_t start;	    /* start time in clock ticks: tells a reused pid apart */
	uint64_t cpu_ticks; /* user + system */
	uint64_t rss_pages;
	char comm[16];
};

/* Returns 0, or a negative errno when the process is gone or the line is not understood. */
int proc_read_stat(const char *proc, int pid, struct proc_stat *out);

/* The executable's path without the kernel's " (deleted)" mark, malloc'd; NULL when it
 * cannot be read. */
char *proc_read_exe(const char *proc, int pid);

/* The service name the process's environment sets (identity_environ_service_name); out is ""
 * when it sets none or cannot be read. */
void proc_env_service(const char *proc, int pid, char *out, size_t size);

/* The listening TCP sockets of the network namespaces seen in one pass: each namespace's
 * /proc/PID/net/tcp{,6} is read once. Zero-initialised; emptied by proc_netns_clear. */
struct proc_netns;
struct proc_netns_set {
	struct proc_netns *ns;
	size_t n;
};
void proc_netns_clear(struct proc_netns_set *s);

/* Calls add(arg, port, pid) for each listening socket among pid's file descriptors. */
void proc_listeners(struct proc_netns_set *s, const char *proc, int pid,
		    void (*add)(void *, uint16_t, int), void *arg);

/* Whether pid holds a listening socket on port (in its own network namespace). */
int proc_holds_listener(struct proc_netns_set *s, const char *proc, int pid, uint16_t port);

#endif /* SOCKEYE_IDENTITY_PROC_H */
