// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* caps.c - the capabilities sockeye needs: checked before loading, reduced after attaching.
 *
 * What each capability is for was measured on kernel 6.18 by taking one away at a time
 * (docs/deploy.md has the table and tests/integration/test_caps.py repeats it):
 *   CAP_BPF             bpf(): maps, program loads
 *   CAP_PERFMON         tracing programs (tp_btf) and the helpers that read kernel memory
 *   CAP_NET_ADMIN       attaching cgroup_skb programs to the cgroup v2 root
 *   CAP_SYS_ADMIN       uprobes (perf_event_open refuses them without it, since the 2025 fix
 *                       "perf/core: Require CAP_SYS_ADMIN for uprobes"), BPF run-time stats;
 *                       it also passes the checks of the three above
 *   CAP_SYS_PTRACE      /proc/PID/{exe,maps,root,fd/N,map_files} of processes that are not ours
 *   CAP_DAC_READ_SEARCH /proc/PID/environ (0400) and /proc/PID/fd (0500) of other users
 *
 * Capabilities belong to threads, not processes: capset() changes the calling thread only. By
 * the time the agent has attached, the TLS exec-watch thread and the HTTP server's threads run,
 * so the reduction is broadcast: each thread gets a signal whose handler calls capset() for
 * itself (what libcap's psx does), and every thread is then checked in /proc/self/task.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "caps.h"
#include "log.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define BIT(c) (UINT64_C(1) << (c))

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif
#ifndef CAP_CHECKPOINT_RESTORE
#define CAP_CHECKPOINT_RESTORE 40
#endif

#define BROADCAST_ROUNDS 4	   /* threads started while a round runs are caught by the next */
#define BROADCAST_WAIT_NS 2000000000L /* per round, for every signalled thread to answer */

/* Sync note: the order of <linux/capability.h>. */
static const char *const cap_names[] = {
	"cap_chown",		"cap_dac_override",   "cap_dac_read_search", "cap_fowner",
	"cap_fsetid",		"cap_kill",	      "cap_setgid",	     "cap_setuid",
	"cap_setpcap",		"cap_linux_immutable", "cap_net_bind_service", "cap_net_broadcast",
	"cap_net_admin",	"cap_net_raw",	      "cap_ipc_lock",	     "cap_ipc_owner",
	"cap_sys_module",	"cap_sys_rawio",      "cap_sys_chroot",	     "cap_sys_ptrace",
	"cap_sys_pacct",	"cap_sys_admin",      "cap_sys_boot",	     "cap_sys_nice",
	"cap_sys_resource",	"cap_sys_time",	      "cap_sys_tty_config",  "cap_mknod",
	"cap_lease",		"cap_audit_write",    "cap_audit_control",   "cap_setfcap",
	"cap_mac_override",	"cap_mac_admin",      "cap_syslog",	     "cap_wake_alarm",
	"cap_block_suspend",	"cap_audit_read",     "cap_perfmon",	     "cap_bpf",
	"cap_checkpoint_restore",
};
_Static_assert(ARRAY_SIZE(cap_names) == CAP_CHECKPOINT_RESTORE + 1, "one name per capability");

/* Why each needed capability is needed: the text of the error when it is missing. */
struct cap_need {
	int cap;
	bool https_only; /* needed only while HTTPS is measured */
	bool admin_ok;	 /* CAP_SYS_ADMIN passes the same kernel check */
	const char *why;
};

static const struct cap_need needs[] = {
	{ CAP_BPF, false, true, "to create the BPF maps and load the programs (bpf())" },
	{ CAP_PERFMON, false, true,
	  "to load the tracing programs (tp_btf) that read socket and task state" },
	{ CAP_NET_ADMIN, false, true,
	  "to attach the cgroup_skb programs to the cgroup v2 root" },
	{ CAP_SYS_PTRACE, false, false,
	  "to read /proc/PID/exe, maps, root and fd of other processes (service_name and "
	  "listener labels, OpenSSL library discovery)" },
	{ CAP_DAC_READ_SEARCH, false, false,
	  "to read /proc/PID/environ (OTEL_SERVICE_NAME) and /proc/PID/fd of processes of other "
	  "users" },
	{ CAP_SYS_ADMIN, true, false,
	  "to attach the OpenSSL uprobes that measure HTTPS (perf_event_open refuses uprobes "
	  "without it); or run with --tls.disable" },
};

const char *caps_name(int cap)
{
	if (cap < 0 || (size_t)cap >= ARRAY_SIZE(cap_names))
		return NULL;
	return cap_names[cap];
}

static int cap_by_name(const char *s, size_t len)
{
	char buf[64];

	if (len >= 4 && strncasecmp(s, "cap_", 4) == 0) {
		s += 4;
		len -= 4;
	}
	if (len == 0 || len + 4 >= sizeof(buf))
		return -1;
	memcpy(buf, "cap_", 4);
	for (size_t i = 0; i < len; i++)
		buf[4 + i] = (char)tolower((unsigned char)s[i]);
	buf[4 + len] = '\0';
	for (size_t c = 0; c < ARRAY_SIZE(cap_names); c++)
		if (strcmp(cap_names[c], buf) == 0)
			return (int)c;
	return -1;
}

const char *caps_parse_keep(const char *text, struct caps_keep *out)
{
	const char *p = text;

	out->mode = CAPS_KEEP_LIST;
	out->mask = 0;
	if (strcmp(text, "auto") == 0) {
		out->mode = CAPS_KEEP_AUTO;
		return NULL;
	}
	if (strcmp(text, "all") == 0) {
		out->mode = CAPS_KEEP_ALL;
		return NULL;
	}
	if (strcmp(text, "none") == 0)
		return NULL;
	if (!*text)
		return "empty: give auto, all, none or a list of capabilities";
	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		int cap = cap_by_name(p, len);

		if (cap < 0)
			return len ? "unknown capability (names as in capabilities(7), e.g. "
				     "cap_sys_ptrace)"
				   : "empty element in the list";
		if (out->mask & BIT(cap))
			return "a capability is listed twice";
		out->mask |= BIT(cap);
		if (!end)
			return NULL;
		p = end + 1;
	}
}

void caps_format(uint64_t mask, char *buf, size_t size)
{
	size_t n = 0;

	if (size)
		buf[0] = '\0';
	for (size_t c = 0; c < ARRAY_SIZE(cap_names) && size; c++) {
		if (!(mask & BIT(c)))
			continue;
		int w = snprintf(buf + n, size - n, "%s%s", n ? "," : "", cap_names[c]);

		if (w < 0 || (size_t)w >= size - n) {
			buf[n] = '\0'; /* whole names only */
			break;
		}
		n += (size_t)w;
	}
}

uint64_t caps_start_mask(bool https)
{
	uint64_t m = 0;

	for (size_t i = 0; i < ARRAY_SIZE(needs); i++)
		if (!needs[i].https_only || https)
			m |= BIT(needs[i].cap);
	if (m & BIT(CAP_SYS_ADMIN))
		for (size_t i = 0; i < ARRAY_SIZE(needs); i++)
			if (needs[i].admin_ok)
				m &= ~BIT(needs[i].cap);
	return m;
}

uint64_t caps_runtime_mask(bool https)
{
	return BIT(CAP_SYS_PTRACE) | BIT(CAP_DAC_READ_SEARCH) | (https ? BIT(CAP_SYS_ADMIN) : 0);
}

static int get_caps(uint64_t *eff, uint64_t *prm)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data))
		return -errno;
	*eff = data[0].effective | (uint64_t)data[1].effective << 32;
	*prm = data[0].permitted | (uint64_t)data[1].permitted << 32;
	return 0;
}

int caps_effective(uint64_t *mask)
{
	uint64_t prm;

	return get_caps(mask, &prm);
}

int caps_check(bool https)
{
	uint64_t eff, want = caps_start_mask(https);
	int err = get_caps(&eff, &(uint64_t){ 0 }), missing = 0;

	if (err) {
		pr_error("capabilities: capget: %s", strerror(-err));
		return err;
	}
	for (size_t i = 0; i < ARRAY_SIZE(needs); i++) {
		int c = needs[i].cap;

		if (!(want & BIT(c)) || (eff & BIT(c)))
			continue;
		missing++;
		if (needs[i].admin_ok)
			pr_error("missing capability %s (or cap_sys_admin): needed %s", cap_names[c],
				 needs[i].why);
		else
			pr_error("missing capability %s: needed %s", cap_names[c], needs[i].why);
	}
	return missing ? -EPERM : 0;
}

/* ---- reducing every thread ------------------------------------------------------------ */

/* The one piece of state a signal handler can reach: what to set, and who has answered. Only
 * caps_reduce writes it, before any signal is sent. */
static struct {
	struct __user_cap_header_struct hdr;
	struct __user_cap_data_struct data[2];
	atomic_int answered;
	atomic_int failed;
} bcast;

static int set_own(void)
{
	if (syscall(SYS_capset, &bcast.hdr, bcast.data))
		return -errno;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL)
		return -errno;
	return 0;
}

static void on_bcast(int sig)
{
	int saved = errno;

	(void)sig;
	if (set_own())
		atomic_fetch_add(&bcast.failed, 1);
	atomic_fetch_add(&bcast.answered, 1);
	errno = saved;
}

/* CapPrm, CapEff, CapInh and CapAmb of one thread, from /proc/self/task/TID/status. */
static int thread_caps(int tid, uint64_t v[4])
{
	static const char *const keys[4] = { "CapPrm:", "CapEff:", "CapInh:", "CapAmb:" };
	char path[64], line[256];
	int found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", tid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		for (int k = 0; k < 4; k++)
			if (strncmp(line, keys[k], strlen(keys[k])) == 0) {
				v[k] = strtoull(line + strlen(keys[k]), NULL, 16);
				found++;
			}
	fclose(f);
	return found == 4 ? 0 : -ENODATA;
}

/* One round: signals every thread whose sets differ from target and waits for the answers.
 * Returns how many threads differed (0: all done), or a negative errno. */
static int bcast_round(uint64_t target, int sig)
{
	struct timespec t0, now, nap = { 0, 1000000 };
	int self = (int)syscall(SYS_gettid), sent = 0;
	struct dirent *e;
	DIR *d;

	atomic_store(&bcast.answered, 0);
	d = opendir("/proc/self/task");
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		uint64_t v[4];
		int tid = atoi(e->d_name);

		if (tid <= 0 || thread_caps(tid, v))
			continue; /* gone already */
		if (v[0] == target && v[1] == target && v[2] == 0 && v[3] == 0)
			continue;
		if (tid == self) {
			if (set_own())
				atomic_fetch_add(&bcast.failed, 1);
			sent++;
			atomic_fetch_add(&bcast.answered, 1);
			continue;
		}
		if (syscall(SYS_tgkill, getpid(), tid, sig) == 0)
			sent++;
	}
	closedir(d);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (atomic_load(&bcast.answered) < sent) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - t0.tv_sec) * 1000000000L + (now.tv_nsec - t0.tv_nsec) >
		    BROADCAST_WAIT_NS)
			return -ETIMEDOUT;
		nanosleep(&nap, NULL);
	}
	return sent;
}

int caps_reduce(const struct caps_keep *keep, bool https)
{
	struct sigaction sa = { .sa_handler = on_bcast, .sa_flags = SA_RESTART }, old;
	uint64_t eff, prm, target;
	char kept[1024], dropped[1024];
	int sig = SIGRTMIN + 3, err = 0, round;

	if (keep->mode == CAPS_KEEP_ALL) {
		pr_info("capabilities: keeping all (--capabilities.keep=all)");
		return 0;
	}
	err = get_caps(&eff, &prm);
	if (err) {
		pr_error("capabilities: capget: %s", strerror(-err));
		return err;
	}
	target = (keep->mode == CAPS_KEEP_AUTO ? caps_runtime_mask(https) : keep->mask) & prm;
	if (keep->mode == CAPS_KEEP_LIST && (keep->mask & ~prm)) {
		caps_format(keep->mask & ~prm, kept, sizeof(kept));
		pr_warn("capabilities: --capabilities.keep names capabilities not held: %s", kept);
	}

	bcast.hdr.version = _LINUX_CAPABILITY_VERSION_3;
	bcast.hdr.pid = 0;
	memset(bcast.data, 0, sizeof(bcast.data));
	bcast.data[0].effective = bcast.data[0].permitted = (uint32_t)target;
	bcast.data[1].effective = bcast.data[1].permitted = (uint32_t)(target >> 32);
	atomic_store(&bcast.failed, 0);

	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, &old)) {
		err = -errno;
		pr_error("capabilities: sigaction: %s", strerror(-err));
		return err;
	}
	/* Done when a round finds every thread reduced. A thread that exits with the signal
	 * pending never answers: its round times out and the next one looks again. */
	for (round = 0; round <= BROADCAST_ROUNDS; round++) {
		err = bcast_round(target, sig);
		if (err == 0 || (err < 0 && err != -ETIMEDOUT))
			break;
	}
	/* A signal still pending somewhere must not find the default action (terminate). */
	if (old.sa_handler == SIG_DFL)
		old.sa_handler = SIG_IGN;
	sigaction(sig, &old, NULL);
	if (err == 0 && atomic_load(&bcast.failed))
		err = -EPERM;
	else if (err > 0)
		err = -EAGAIN; /* threads kept appearing with the old sets */
	if (err) {
		pr_error("capabilities: could not reduce every thread to {%s}: %s",
			 (caps_format(target, kept, sizeof(kept)), kept), strerror(-err));
		return err;
	}
	caps_format(target, kept, sizeof(kept));
	caps_format(prm & ~target, dropped, sizeof(dropped));
	pr_info("capabilities: kept=\"%s\" dropped=\"%s\"", kept, dropped);
	return 0;
}
