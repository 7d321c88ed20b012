// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* tls.c - finds libssl files, derives and validates where to probe each, attaches the TLS
 * object's uprobes once per library inode, and follows processes as they exec and exit.
 *
 * Where to probe (docs/tls.md): a uprobe on an instruction the kernel cannot emulate is
 * single-stepped, which costs ~14 us per hit on a VM; OpenSSL's public SSL_read/SSL_write start
 * with `sub $N,%rsp`, so each call pays that. Its internal read/write functions start with
 * `push`, which the kernel emulates (~0.4 us). They have no symbol, so their addresses are taken
 * from the `call` in SSL_read_ex/SSL_write_ex and accepted only when SSL_read (SSL_write) calls
 * the same address and the _ex function passes its four arguments through untouched, which
 * makes the internal function's arguments those of the _ex function. Anything else falls back
 * to the public symbols, and says so (log, sockeye_tls_probe_mode).
 *
 * Which files: every libssl.so* in the system library directories (attached at start, so
 * processes that start or dlopen it later are covered from their first call), and every
 * libssl.so* a process maps (/proc/PID/maps): at start for all processes, and for each
 * exec'd process a few times while its loader and its dlopen calls run, and all of them again
 * every minute. A mapped file is
 * attached through /proc/PID/map_files/<range>, which reaches files replaced on disk and files
 * in other mount namespaces (containers). A library that no process maps any more is detached,
 * system libraries excepted.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "progload.h"
#include "tls.h"
#include "tls.skel.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define TLS_MAX_LINKS 12   /* public mode: 4 functions x (entry, return) + SSL_free */
#define TLS_LIB_PIDS  16   /* processes remembered per library, to notice when all are gone */
#define WATCH_MAX     4096 /* exec'd processes waiting for a look at their maps */
#define POLL_MS	      20   /* ring buffer poll timeout: how late a due scan may run */
#define LIVENESS_S    2.0  /* how often libraries outside the system directories are checked */
#define RESCAN_S      60.0 /* how often all of /proc is read (a late dlopen of a private copy) */
#define CODE_BYTES    96   /* bytes of a function's start that are decoded */

_Static_assert(sizeof(((struct tls_bpf *)0)->rodata->include_ports) ==
		       sizeof(((struct tls_tunables *)0)->include_ports),
	       "TLS_FILTER_MAX matches FILTER_MAX in bpf/tls.bpf.c");
_Static_assert(sizeof(((struct tls_bpf *)0)->rodata->bounds_ns) ==
		       sizeof(((struct tls_tunables *)0)->bounds_ns),
	       "bounds_ns sizes match");

/* Delays after an exec at which its maps are read: the dynamic loader maps DT_NEEDED
 * libraries within milliseconds; interpreters dlopen libssl when a script imports it. */
static const double watch_delays[] = {0.02, 0.1, 0.5, 2.0, 10.0};

enum sym_id { SYM_READ, SYM_WRITE, SYM_READ_EX, SYM_WRITE_EX, SYM_FREE, SYM_MAX };
static const char *const sym_names[SYM_MAX] = {
	[SYM_READ] = "SSL_read",	 [SYM_WRITE] = "SSL_write", [SYM_READ_EX] = "SSL_read_ex",
	[SYM_WRITE_EX] = "SSL_write_ex", [SYM_FREE] = "SSL_free",
};

static const char *const mode_names[SOCKEYE_TLS_MODE_MAX] = {
	[SOCKEYE_TLS_MODE_INTERNAL] = "internal",
	[SOCKEYE_TLS_MODE_PUBLIC] = "public",
};

struct tls_lib {
	dev_t dev; /* identity, as /proc/PID/maps shows it */
	ino_t ino;
	char name[SOCKEYE_TLS_LIBRARY_LEN]; /* the library label */
	enum sockeye_tls_mode mode;
	bool system; /* in a system library directory: stays attached */
	bool failed; /* could not be attached: not tried again */
	bool seen;   /* found by the current full scan */
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

	pthread_mutex_t lock; /* libs: changed by the thread, read by collect */
	struct tls_lib *libs;
	size_t n_libs, cap_libs;

	struct watch *watch; /* the thread's alone */
	size_t n_watch;
	double next_liveness;
	double next_rescan;
	double next_warn; /* warn_limited */
	pid_t self;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Warnings the thread's loop may hit over and over: at most one a minute. */
static void warn_limited(struct tls *t, const char *msg, int err)
{
	double now = now_s();

	if (now < t->next_warn)
		return;
	t->next_warn = now + 60;
	if (err)
		pr_warn("%s: %s", msg, strerror(-err));
	else
		pr_warn("%s", msg);
}

/* ---- x86-64 prologue decoding ------------------------------------------------------------ */

enum insn_kind { INSN_OTHER, INSN_PUSH, INSN_CALL, INSN_ENDBR, INSN_JCC, INSN_TEST_RDI };

struct insn {
	unsigned len;
	enum insn_kind kind;
	__u64 target; /* INSN_CALL */
	__u32 writes; /* general registers written */
};

/* Opcodes with a ModRM byte that this decoder knows; how their operands are written. */
enum modrm_dst { DST_NONE, DST_RM, DST_REG, DST_GROUP };

static int modrm_opcode(unsigned char op, enum modrm_dst *dst, unsigned *imm)
{
	*imm = 0;
	switch (op) {
	case 0x01:
	case 0x09:
	case 0x21:
	case 0x29:
	case 0x31:
	case 0x88:
	case 0x89:
		*dst = DST_RM; /* add/or/and/sub/xor/mov r/m, reg */
		return 0;
	case 0x03:
	case 0x0b:
	case 0x23:
	case 0x2b:
	case 0x33:
	case 0x8a:
	case 0x8b:
	case 0x8d:
	case 0x63:
		*dst = DST_REG; /* ... reg, r/m; lea; movsxd */
		return 0;
	case 0x38:
	case 0x39:
	case 0x3a:
	case 0x3b:
	case 0x84:
	case 0x85:
		*dst = DST_NONE; /* cmp, test */
		return 0;
	case 0x83:
		*dst = DST_GROUP; /* add/or/.../cmp r/m, imm8 */
		*imm = 1;
		return 0;
	case 0x81:
		*dst = DST_GROUP;
		*imm = 4;
		return 0;
	case 0xc7:
		*dst = DST_RM; /* mov r/m, imm32 */
		*imm = 4;
		return 0;
	}
	return -ENOEXEC;
}

/* Decodes the instruction at code[0..n) (at address vaddr). Only the shapes function
 * prologues use are known; anything else is -ENOEXEC. */
static int decode(const unsigned char *code, size_t n, __u64 vaddr, struct insn *in)
{
	size_t i = 0;
	unsigned rex = 0, imm;
	bool opsize = false;
	enum modrm_dst dst;
	unsigned char op;

	memset(in, 0, sizeof(*in));
	if (n >= 4 && code[0] == 0xf3 && code[1] == 0x0f && code[2] == 0x1e && code[3] == 0xfa) {
		in->len = 4;
		in->kind = INSN_ENDBR;
		return 0;
	}
	while (i < n && (code[i] == 0x64 || code[i] == 0x65 || code[i] == 0x66)) {
		opsize |= code[i] == 0x66;
		i++;
	}
	if (i < n && (code[i] & 0xf0) == 0x40)
		rex = code[i++];
	if (i >= n)
		return -ENOEXEC;
	op = code[i++];

	if (op >= 0x50 && op <= 0x57) {
		in->kind = INSN_PUSH;
		in->writes = 1u << 4; /* rsp */
		in->len = i;
		return (rex == 0 || rex == 0x41) && !opsize ? 0
							    : -ENOEXEC; /* push r, push r8-r15 */
	}
	if (op == 0xe8) {
		__s32 rel;

		if (i + 4 > n || rex || opsize)
			return -ENOEXEC;
		memcpy(&rel, code + i, 4);
		in->len = i + 4;
		in->kind = INSN_CALL;
		in->target = vaddr + in->len + (__s64)rel;
		return 0;
	}
	if (op >= 0x70 && op <= 0x7f) {
		in->len = i + 1;
		in->kind = INSN_JCC;
		return in->len <= n ? 0 : -ENOEXEC;
	}
	if (op >= 0xb8 && op <= 0xbf) {
		in->len = i + ((rex & 0x8) ? 8 : 4);
		in->writes = 1u << ((op & 7) | ((rex & 1) << 3));
		return in->len <= n ? 0 : -ENOEXEC;
	}
	if (op == 0x90) {
		in->len = i;
		return 0;
	}
	if (op == 0x0f) {
		if (i >= n)
			return -ENOEXEC;
		op = code[i++];
		if (op >= 0x80 && op <= 0x8f) {
			in->len = i + 4;
			in->kind = INSN_JCC;
			return in->len <= n ? 0 : -ENOEXEC;
		}
		if (op != 0x1f)
			return -ENOEXEC;
		dst = DST_NONE; /* nopl r/m */
		imm = 0;
	} else if (modrm_opcode(op, &dst, &imm)) {
		return -ENOEXEC;
	}

	/* ModRM, SIB, displacement, immediate. */
	{
		unsigned char modrm, mod, rm;
		unsigned reg, rmreg;

		if (i >= n)
			return -ENOEXEC;
		modrm = code[i++];
		mod = modrm >> 6;
		rm = modrm & 7;
		reg = ((modrm >> 3) & 7) | ((rex & 4) << 1);
		rmreg = rm | ((rex & 1) << 3);
		if (mod != 3 && rm == 4) {
			unsigned char sib;

			if (i >= n)
				return -ENOEXEC;
			sib = code[i++];
			if (mod == 0 && (sib & 7) == 5)
				i += 4;
		} else if (mod == 0 && rm == 5) {
			i += 4; /* rip-relative */
		}
		if (mod == 1)
			i += 1;
		else if (mod == 2)
			i += 4;
		if (imm == 4 && opsize)
			imm = 2;
		i += imm;
		if (i > n)
			return -ENOEXEC;
		in->len = i;
		if (dst == DST_GROUP)
			dst = ((modrm >> 3) & 7) == 7 ? DST_NONE : DST_RM; /* /7 is cmp */
		if (dst == DST_RM && mod == 3)
			in->writes = 1u << rmreg;
		else if (dst == DST_REG)
			in->writes = 1u << reg;
		if (op == 0x85 && rex == 0x48 && modrm == 0xff)
			in->kind = INSN_TEST_RDI;
	}
	return 0;
}

#define MAX_PROLOGUE_INSNS 24

int tls_x86_first_call(const unsigned char *code, size_t n, __u64 vaddr, struct tls_call_site *out)
{
	size_t off = 0;
	__u32 writes = 0;

	for (int k = 0; k < MAX_PROLOGUE_INSNS && off < n; k++) {
		struct insn in;

		if (decode(code + off, n - off, vaddr + off, &in))
			return -ENOEXEC;
		if (in.kind == INSN_CALL) {
			out->target = in.target;
			out->writes = writes;
			out->offset = off;
			return 0;
		}
		writes |= in.writes;
		off += in.len;
	}
	return -ENOEXEC;
}

int tls_x86_cheap_entry(const unsigned char *code, size_t n, size_t *off)
{
	struct insn in;
	size_t o = 0;

	if (decode(code, n, 0, &in))
		return -ENOEXEC;
	if (in.kind == INSN_ENDBR) {
		o = in.len;
		if (decode(code + o, n - o, 0, &in))
			return -ENOEXEC;
	}
	if (in.kind != INSN_PUSH)
		return -ENOEXEC;
	*off = o;
	return 0;
}

int tls_x86_free_point(const unsigned char *code, size_t n, size_t *off)
{
	struct insn in;
	size_t o = 0;

	if (tls_x86_cheap_entry(code, n, off) == 0)
		return 0;
	if (decode(code, n, 0, &in))
		return -ENOEXEC;
	if (in.kind == INSN_ENDBR) {
		o = in.len;
		if (decode(code + o, n - o, 0, &in))
			return -ENOEXEC;
	}
	if (in.kind != INSN_TEST_RDI)
		return -ENOEXEC;
	o += in.len;
	if (decode(code + o, n - o, 0, &in) || in.kind != INSN_JCC)
		return -ENOEXEC;
	o += in.len;
	if (decode(code + o, n - o, 0, &in) || in.kind != INSN_PUSH)
		return -ENOEXEC;
	*off = o;
	return 0;
}

/* ---- ELF: symbols and placement ---------------------------------------------------------- */

struct elf_info {
	bool x86_64;
	bool have[SYM_MAX];
	__u64 vaddr[SYM_MAX];
	size_t off[SYM_MAX]; /* file offsets */
	struct {
		__u64 vaddr, offset, filesz;
	} text[8]; /* executable PT_LOAD segments */
	size_t n_text;
	__u64 plt_lo[3], plt_hi[3]; /* .plt, .plt.got, .plt.sec */
	size_t n_plt;
};

static int vaddr_to_off(const struct elf_info *e, __u64 v, size_t *off)
{
	for (size_t i = 0; i < e->n_text; i++) {
		if (v >= e->text[i].vaddr && v < e->text[i].vaddr + e->text[i].filesz) {
			*off = v - e->text[i].vaddr + e->text[i].offset;
			return 0;
		}
	}
	return -ENOENT;
}

static bool in_plt(const struct elf_info *e, __u64 v)
{
	for (size_t i = 0; i < e->n_plt; i++)
		if (v >= e->plt_lo[i] && v < e->plt_hi[i])
			return true;
	return false;
}

static int elf_read(int fd, const char *path, struct elf_info *e)
{
	Elf *elf = NULL;
	Elf_Scn *scn = NULL, *dynsym = NULL, *versym = NULL;
	GElf_Ehdr eh;
	size_t shstrndx, nph;
	bool hidden[SYM_MAX] = {false};
	int err = -ENOEXEC;

	memset(e, 0, sizeof(*e));
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EINVAL;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || !gelf_getehdr(elf, &eh) || elf_getshdrstrndx(elf, &shstrndx) ||
	    elf_getphdrnum(elf, &nph)) {
		pr_warn("TLS: %s: not a readable ELF file: %s", path, elf_errmsg(-1));
		goto out;
	}
	e->x86_64 = eh.e_machine == EM_X86_64;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD || !(ph.p_flags & PF_X) ||
		    e->n_text == ARRAY_SIZE(e->text))
			continue;
		e->text[e->n_text].vaddr = ph.p_vaddr;
		e->text[e->n_text].offset = ph.p_offset;
		e->text[e->n_text].filesz = ph.p_filesz;
		e->n_text++;
	}
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *name;

		if (!gelf_getshdr(scn, &sh))
			continue;
		name = elf_strptr(elf, shstrndx, sh.sh_name);
		if (sh.sh_type == SHT_DYNSYM)
			dynsym = scn;
		else if (sh.sh_type == SHT_GNU_versym)
			versym = scn;
		else if (name && e->n_plt < ARRAY_SIZE(e->plt_lo) &&
			 (!strcmp(name, ".plt") || !strcmp(name, ".plt.got") ||
			  !strcmp(name, ".plt.sec"))) {
			e->plt_lo[e->n_plt] = sh.sh_addr;
			e->plt_hi[e->n_plt] = sh.sh_addr + sh.sh_size;
			e->n_plt++;
		}
	}
	if (!dynsym) {
		pr_warn("TLS: %s: no dynamic symbol table", path);
		goto out;
	}
	{
		GElf_Shdr sh;
		Elf_Data *data = elf_getdata(dynsym, NULL), *vdata = NULL;
		size_t nsym;

		gelf_getshdr(dynsym, &sh);
		if (!data || !sh.sh_entsize)
			goto out;
		if (versym)
			vdata = elf_getdata(versym, NULL);
		nsym = sh.sh_size / sh.sh_entsize;
		for (size_t i = 0; i < nsym; i++) {
			GElf_Sym sym;
			GElf_Versym vs = 0;
			const char *name;
			bool hid;

			if (!gelf_getsym(data, i, &sym) || GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
			    sym.st_shndx == SHN_UNDEF || !sym.st_value)
				continue;
			name = elf_strptr(elf, sh.sh_link, sym.st_name);
			if (!name)
				continue;
			if (vdata)
				gelf_getversym(vdata, i, &vs);
			hid = vs & 0x8000; /* a non-default version of the symbol */
			for (int k = 0; k < SYM_MAX; k++) {
				if (strcmp(name, sym_names[k]) != 0)
					continue;
				if (e->have[k] && (hid || !hidden[k]))
					continue; /* keep the default version */
				e->have[k] = true;
				hidden[k] = hid;
				e->vaddr[k] = sym.st_value;
			}
		}
	}
	for (int k = 0; k < SYM_MAX; k++)
		if (e->have[k] && vaddr_to_off(e, e->vaddr[k], &e->off[k]))
			e->have[k] = false;
	err = 0;
out:
	if (elf)
		elf_end(elf);
	return err;
}

static int read_code(int fd, size_t off, unsigned char *buf, size_t n)
{
	ssize_t r = pread(fd, buf, n, off);

	if (r < 0)
		return -errno;
	if ((size_t)r < n)
		memset(buf + r, 0, n - r); /* decoding stops at the end of real bytes anyway */
	return 0;
}

/* Where the probes of one library go. */
struct plan {
	enum sockeye_tls_mode mode;
	size_t read_off, write_off; /* internal */
	size_t free_off;
	bool have_free;
	bool free_cheap;
	char why[160]; /* why not internal */
};

/* The internal read and write functions, found and validated; fills why on failure. */
static int derive_internal(int fd, const struct elf_info *e, struct plan *p)
{
	static const int pairs[2][2] = {{SYM_READ_EX, SYM_READ}, {SYM_WRITE_EX, SYM_WRITE}};
	__u64 target[2];
	size_t off[2];

	if (!e->x86_64) {
		snprintf(p->why, sizeof(p->why), "internal functions are derived on x86-64 only");
		return -ENOEXEC;
	}
	for (int d = 0; d < 2; d++) {
		struct tls_call_site ex, plain;
		unsigned char code[CODE_BYTES];
		int sx = pairs[d][0], sp = pairs[d][1];

		if (!e->have[sx] || !e->have[sp]) {
			snprintf(p->why, sizeof(p->why), "no %s or %s symbol", sym_names[sx],
				 sym_names[sp]);
			return -ENOEXEC;
		}
		if (read_code(fd, e->off[sx], code, sizeof(code)) ||
		    tls_x86_first_call(code, sizeof(code), e->vaddr[sx], &ex)) {
			snprintf(p->why, sizeof(p->why),
				 "%s does not start with a call we can follow", sym_names[sx]);
			return -ENOEXEC;
		}
		if (ex.writes & TLS_X86_ARG_REGS) {
			snprintf(p->why, sizeof(p->why),
				 "%s changes its arguments before its call: not a pass-through",
				 sym_names[sx]);
			return -ENOEXEC;
		}
		if (read_code(fd, e->off[sp], code, sizeof(code)) ||
		    tls_x86_first_call(code, sizeof(code), e->vaddr[sp], &plain) ||
		    plain.target != ex.target) {
			snprintf(p->why, sizeof(p->why), "%s and %s do not call the same function",
				 sym_names[sx], sym_names[sp]);
			return -ENOEXEC;
		}
		if (in_plt(e, ex.target) || vaddr_to_off(e, ex.target, &off[d])) {
			snprintf(p->why, sizeof(p->why),
				 "%s calls outside the library's code (0x%llx)", sym_names[sx],
				 (unsigned long long)ex.target);
			return -ENOEXEC;
		}
		for (int k = 0; k < SYM_MAX; k++) {
			if (e->have[k] && e->vaddr[k] == ex.target) {
				snprintf(p->why, sizeof(p->why),
					 "%s calls %s, not an internal function", sym_names[sx],
					 sym_names[k]);
				return -ENOEXEC;
			}
		}
		target[d] = ex.target;
		{
			size_t entry;

			if (read_code(fd, off[d], code, sizeof(code)) ||
			    tls_x86_cheap_entry(code, sizeof(code), &entry)) {
				snprintf(p->why, sizeof(p->why),
					 "the function %s calls does not start with push: not "
					 "cheaper",
					 sym_names[sx]);
				return -ENOEXEC;
			}
			off[d] += entry;
		}
	}
	if (target[0] == target[1]) {
		snprintf(p->why, sizeof(p->why), "read and write lead to the same function");
		return -ENOEXEC;
	}
	p->read_off = off[0];
	p->write_off = off[1];
	return 0;
}

static void plan_free(int fd, const struct elf_info *e, struct plan *p)
{
	unsigned char code[CODE_BYTES];
	size_t o;

	p->have_free = e->have[SYM_FREE];
	if (!p->have_free)
		return;
	p->free_off = e->off[SYM_FREE];
	if (e->x86_64 && !read_code(fd, e->off[SYM_FREE], code, sizeof(code)) &&
	    !tls_x86_free_point(code, sizeof(code), &o)) {
		p->free_off += o;
		p->free_cheap = true;
	}
}

int tls_plan_file(int fd, const char *name, struct tls_file_plan *out)
{
	struct elf_info e;
	struct plan p = {0};
	int err;

	memset(out, 0, sizeof(*out));
	err = elf_read(fd, name, &e);
	if (err)
		return err;
	out->has_read_write = e.have[SYM_READ] && e.have[SYM_WRITE];
	out->internal = derive_internal(fd, &e, &p) == 0;
	plan_free(fd, &e, &p);
	out->read_off = p.read_off;
	out->write_off = p.write_off;
	out->have_free = p.have_free;
	out->free_cheap = p.free_cheap;
	out->free_off = p.free_off;
	snprintf(out->why, sizeof(out->why), "%s", p.why);
	return 0;
}

/* ---- libraries --------------------------------------------------------------------------- */

static struct tls_lib *lib_find(struct tls *t, dev_t dev, ino_t ino)
{
	for (size_t i = 0; i < t->n_libs; i++)
		if (t->libs[i].dev == dev && t->libs[i].ino == ino)
			return &t->libs[i];
	return NULL;
}

static void lib_add_pid(struct tls_lib *lib, pid_t pid)
{
	if (pid <= 0)
		return;
	for (size_t i = 0; i < lib->n_pids; i++)
		if (lib->pids[i] == pid)
			return;
	if (lib->n_pids < TLS_LIB_PIDS)
		lib->pids[lib->n_pids++] = pid;
}

static void lib_detach(struct tls_lib *lib)
{
	for (size_t i = 0; i < lib->n_links; i++)
		bpf_link__destroy(lib->links[i]);
	lib->n_links = 0;
}

static int attach_one(struct tls_lib *lib, struct bpf_program *prog, const char *path, size_t off,
		      bool ret, __u64 cookie)
{
	LIBBPF_OPTS(bpf_uprobe_opts, o, .retprobe = ret, .bpf_cookie = cookie);
	struct bpf_link *link;

	if (lib->n_links == TLS_MAX_LINKS)
		return -E2BIG;
	link = bpf_program__attach_uprobe_opts(prog, -1, path, off, &o);
	if (!link)
		return -errno;
	lib->links[lib->n_links++] = link;
	return 0;
}

/* Attaches entry and return probes of the read/write program at off. */
static int attach_rw(struct tls *t, struct tls_lib *lib, const char *path, size_t off, __u64 cookie)
{
	int err = attach_one(lib, t->skel->progs.uprobe_ssl_rw, path, off, false, cookie);

	if (!err)
		err = attach_one(lib, t->skel->progs.uretprobe_ssl_rw, path, off, true, cookie);
	return err;
}

static int attach_plan(struct tls *t, struct tls_lib *lib, const char *path,
		       const struct elf_info *e, const struct plan *p)
{
	const __u64 W = SOCKEYE_TLS_COOKIE_WRITE, EX = SOCKEYE_TLS_COOKIE_EX;
	int err = 0;

	if (p->mode == SOCKEYE_TLS_MODE_INTERNAL) {
		err = attach_rw(t, lib, path, p->read_off, EX);
		if (!err)
			err = attach_rw(t, lib, path, p->write_off, EX | W);
	} else {
		static const struct {
			int sym;
			__u64 cookie;
		} pub[] = {
			{SYM_READ, 0},
			{SYM_WRITE, SOCKEYE_TLS_COOKIE_WRITE},
			{SYM_READ_EX, SOCKEYE_TLS_COOKIE_EX},
			{SYM_WRITE_EX, SOCKEYE_TLS_COOKIE_EX | SOCKEYE_TLS_COOKIE_WRITE},
		};

		for (size_t i = 0; i < ARRAY_SIZE(pub) && !err; i++)
			if (e->have[pub[i].sym])
				err = attach_rw(t, lib, path, e->off[pub[i].sym], pub[i].cookie);
	}
	if (!err && p->have_free)
		err = attach_one(lib, t->skel->progs.uprobe_ssl_free, path, p->free_off, false, 0);
	return err;
}

/* A label no other library has: the path, with the inode when two files share it. */
static void lib_name(struct tls *t, struct tls_lib *lib, const char *shown)
{
	snprintf(lib->name, sizeof(lib->name), "%s", shown);
	for (size_t i = 0; i < t->n_libs; i++) {
		if (&t->libs[i] != lib && !t->libs[i].failed &&
		    strcmp(t->libs[i].name, lib->name) == 0) {
			snprintf(lib->name, sizeof(lib->name), "%.200s (inode %u:%u:%lu)", shown,
				 major(lib->dev), minor(lib->dev), (unsigned long)lib->ino);
			return;
		}
	}
}

/* Derives the plan for the file at path (opened for reading), attaches, and records the
 * library; shown is the path processes see, for the label and the log. */
static void lib_attach(struct tls *t, const char *path, const char *shown, dev_t dev, ino_t ino,
		       bool system, pid_t pid)
{
	struct tls_lib lib = {.dev = dev, .ino = ino, .system = system}, *grown;
	struct elf_info e;
	struct plan p = {0};
	int fd, err;
	bool internal_ok;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		pr_warn("TLS: cannot open %s (%s): %s", shown, path, strerror(errno));
		return; /* not recorded: another process may give a path that works */
	}
	err = elf_read(fd, shown, &e);
	if (!err && (!e.have[SYM_READ] || !e.have[SYM_WRITE])) {
		pr_warn("TLS: %s has no SSL_read/SSL_write symbols: not probed", shown);
		err = -ENOENT;
	}
	if (!err) {
		internal_ok = t->mode_cfg != CONFIG_TLS_PUBLIC && derive_internal(fd, &e, &p) == 0;
		if (t->mode_cfg == CONFIG_TLS_PUBLIC)
			snprintf(p.why, sizeof(p.why), "--tls.probe-mode=public");
		if (!internal_ok && t->mode_cfg == CONFIG_TLS_INTERNAL) {
			pr_error("TLS: %s: internal read/write functions not usable (%s); not "
				 "probed "
				 "(--tls.probe-mode=internal)",
				 shown, p.why);
			err = -ENOEXEC;
		}
		p.mode = internal_ok ? SOCKEYE_TLS_MODE_INTERNAL : SOCKEYE_TLS_MODE_PUBLIC;
		plan_free(fd, &e, &p);
	}
	close(fd);

	lib.failed = err != 0;
	lib.mode = p.mode;
	lib_add_pid(&lib, pid);
	if (!err) {
		err = attach_plan(t, &lib, path, &e, &p);
		if (err) {
			pr_warn("TLS: attaching uprobes to %s (%s): %s", shown, path,
				strerror(-err));
			lib_detach(&lib);
			lib.failed = true;
		}
	}

	pthread_mutex_lock(&t->lock);
	if (t->n_libs == t->cap_libs) {
		size_t cap = t->cap_libs ? t->cap_libs * 2 : 8;

		grown = realloc(t->libs, cap * sizeof(*grown));
		if (!grown) {
			pthread_mutex_unlock(&t->lock);
			lib_detach(&lib);
			pr_warn("TLS: out of memory recording %s", shown);
			return;
		}
		t->libs = grown;
		t->cap_libs = cap;
	}
	t->libs[t->n_libs] = lib;
	lib_name(t, &t->libs[t->n_libs], shown);
	t->n_libs++;
	pthread_mutex_unlock(&t->lock);

	if (lib.failed)
		return;
	if (p.mode == SOCKEYE_TLS_MODE_INTERNAL)
		pr_info("TLS: probing %s: internal read/write functions at file offsets "
			"0x%zx/0x%zx "
			"(derived from SSL_read_ex/SSL_write_ex and checked against "
			"SSL_read/SSL_write)",
			shown, p.read_off, p.write_off);
	else
		pr_warn("TLS: probing %s: public SSL_read/SSL_write symbols (%s); each call costs "
			"a "
			"single-stepped breakpoint",
			shown, p.why);
	if (p.have_free && !p.free_cheap)
		pr_warn("TLS: %s: SSL_free is probed at its entry (single-stepped, once per "
			"connection)",
			shown);
}

/* ---- discovery --------------------------------------------------------------------------- */

static bool is_libssl(const char *path)
{
	const char *base = strrchr(path, '/');

	return base && strncmp(base + 1, "libssl.so", 9) == 0;
}

/* Reads /proc/PID/maps: attaches each libssl file not seen yet (through map_files), and
 * notes pid as a user of those already attached. Returns 0 or a negative errno (-ENOENT: the
 * process is gone). */
static int scan_pid(struct tls *t, pid_t pid)
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
		lib = lib_find(t, makedev(maj, min), ino);
		if (lib) {
			lib_add_pid(lib, pid);
			lib->seen = true;
			continue;
		}
		snprintf(mf, sizeof(mf), "/proc/%d/map_files/%lx-%lx", (int)pid, start, end);
		lib_attach(t, mf, p, makedev(maj, min), ino, false, pid);
		lib = lib_find(t, makedev(maj, min), ino);
		if (lib)
			lib->seen = true;
	}
	free(line);
	fclose(f);
	return 0;
}

static void scan_all(struct tls *t)
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
		scan_pid(t, (pid_t)pid);
	}
	closedir(d);
}

/* libssl files in the system library directories, attached whether or not a process maps
 * them yet: a probe costs nothing until a process maps its file. */
static void scan_system(struct tls *t)
{
	char dirs[8][64] = {"/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib"};
	size_t n = 5;
	struct utsname u;

	if (uname(&u) == 0) {
		const char *triple = strcmp(u.machine, "x86_64") == 0	 ? "x86_64-linux-gnu"
				     : strcmp(u.machine, "aarch64") == 0 ? "aarch64-linux-gnu"
									 : NULL;

		if (triple) {
			snprintf(dirs[n++], sizeof(dirs[0]), "/lib/%s", triple);
			snprintf(dirs[n++], sizeof(dirs[0]), "/usr/lib/%s", triple);
		}
	}
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
			    lib_find(t, st.st_dev, st.st_ino))
				continue;
			lib_attach(t, real, real, st.st_dev, st.st_ino, true, 0);
		}
		closedir(d);
	}
}

/* ---- process events ---------------------------------------------------------------------- */

static void watch_add(struct tls *t, pid_t pid)
{
	if (t->n_watch == WATCH_MAX) {
		warn_limited(t,
			     "TLS: too many new processes to look at; some are not checked for "
			     "libssl",
			     0);
		return;
	}
	t->watch[t->n_watch].pid = pid;
	t->watch[t->n_watch].step = 0;
	t->watch[t->n_watch].due = now_s() + watch_delays[0];
	t->n_watch++;
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct tls *t = ctx;
	const struct sockeye_tls_event *e = data;

	if (size < sizeof(*e))
		return 0;
	if (e->type == SOCKEYE_TLS_EV_EXEC)
		watch_add(t, e->pid);
	return 0;
}

static void watch_run(struct tls *t)
{
	double now = now_s();
	size_t i = 0;

	while (i < t->n_watch) {
		struct watch *w = &t->watch[i];

		if (w->due > now) {
			i++;
			continue;
		}
		if (scan_pid(t, w->pid) == 0 && ++w->step < ARRAY_SIZE(watch_delays)) {
			w->due = now + watch_delays[w->step] - watch_delays[w->step - 1];
			i++;
			continue;
		}
		*w = t->watch[--t->n_watch]; /* gone, or looked at for the last time */
	}
}

static bool pid_maps(pid_t pid, dev_t dev, ino_t ino)
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

/* Libraries outside the system directories stay attached while a process maps them. When
 * the processes we know of are gone, all of /proc is searched once before detaching (a
 * forked child may still map the file). */
static void liveness(struct tls *t)
{
	bool lost = false;

	for (size_t i = 0; i < t->n_libs; i++) {
		struct tls_lib *lib = &t->libs[i];
		size_t k = 0;

		if (lib->system || lib->failed)
			continue;
		while (k < lib->n_pids) {
			if (pid_maps(lib->pids[k], lib->dev, lib->ino))
				k++;
			else
				lib->pids[k] = lib->pids[--lib->n_pids];
		}
		lost |= lib->n_pids == 0;
	}
	if (!lost)
		return;
	for (size_t i = 0; i < t->n_libs; i++)
		t->libs[i].seen = false;
	scan_all(t);
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->n_libs;) {
		struct tls_lib *lib = &t->libs[i];

		if (lib->system || lib->seen) {
			i++;
			continue;
		}
		if (!lib->failed)
			pr_info("TLS: detached from %s: no process maps it any more", lib->name);
		lib_detach(lib);
		t->libs[i] = t->libs[--t->n_libs];
	}
	pthread_mutex_unlock(&t->lock);
}

static void *tls_thread(void *arg)
{
	struct tls *t = arg;

	while (!atomic_load(&t->stop)) {
		int err = ring_buffer__poll(t->rb, POLL_MS);

		if (err < 0 && err != -EINTR)
			warn_limited(t, "TLS: reading process events", err);
		watch_run(t);
		if (now_s() >= t->next_rescan) {
			scan_all(t);
			t->next_rescan = now_s() + RESCAN_S;
		}
		if (now_s() >= t->next_liveness) {
			liveness(t);
			t->next_liveness = now_s() + LIVENESS_S;
		}
	}
	return NULL;
}

/* ---- lifecycle --------------------------------------------------------------------------- */

static void set_tunables(struct tls_bpf *s, const struct tls_tunables *tun)
{
	for (size_t i = 0; i < SOCKEYE_MAX_BUCKETS; i++)
		s->rodata->bounds_ns[i] = tun->bounds_ns[i];
	s->rodata->n_bounds = tun->n_bounds;
	for (size_t i = 0; i < TLS_FILTER_MAX; i++) {
		s->rodata->include_ports[i] = tun->include_ports[i];
		s->rodata->exclude_ports[i] = tun->exclude_ports[i];
		s->rodata->include_cgroups[i] = tun->include_cgroups[i];
		s->rodata->include_cgroup_levels[i] = tun->include_cgroup_levels[i];
		s->rodata->exclude_cgroups[i] = tun->exclude_cgroups[i];
		s->rodata->exclude_cgroup_levels[i] = tun->exclude_cgroup_levels[i];
	}
	s->rodata->n_include_ports = tun->n_include_ports;
	s->rodata->n_exclude_ports = tun->n_exclude_ports;
	s->rodata->n_include_cgroups = tun->n_include_cgroups;
	s->rodata->n_exclude_cgroups = tun->n_exclude_cgroups;
}

/* Every map the socket hooks' object also has becomes the same kernel map, except the
 * per-object scratch maps and the objects' own .rodata/.bss. */
static int share_maps(struct tls_bpf *s, const struct bpf_object *main_obj)
{
	struct bpf_map *m;

	bpf_object__for_each_map(m, s->obj)
	{
		const char *name = bpf_map__name(m);
		struct bpf_map *other;
		int err;

		if (name[0] == '.' || strchr(name, '.') || strcmp(name, "scratch") == 0 ||
		    strcmp(name, "scratch_depth") == 0)
			continue;
		other = bpf_object__find_map_by_name(main_obj, name);
		if (!other)
			continue;
		err = bpf_map__reuse_fd(m, bpf_map__fd(other));
		if (err) {
			pr_error("TLS: sharing map %s with the socket hooks: %s", name,
				 strerror(-err));
			return err;
		}
	}
	return 0;
}

static int attach_tp(struct bpf_program *prog, struct bpf_link **link, const char *name)
{
	*link = bpf_program__attach(prog);
	if (!*link) {
		int err = -errno;

		pr_error("TLS: attaching %s: %s", name, strerror(-err));
		return err;
	}
	return 0;
}

struct tls *tls_start(const struct sockeye_config *cfg, const struct bpf_object *main_obj,
		      const struct tls_tunables *tun, struct progload_report *report)
{
	struct tls *t = calloc(1, sizeof(*t));
	int err, failed;

	if (!t)
		return NULL;
	pthread_mutex_init(&t->lock, NULL);
	t->mode_cfg = cfg->tls_probe_mode;
	t->self = getpid();
	t->watch = calloc(WATCH_MAX, sizeof(*t->watch));
	if (!t->watch) {
		err = -ENOMEM;
		goto cleanup;
	}
	t->skel = tls_bpf__open();
	if (!t->skel) {
		err = -errno;
		pr_error("TLS: opening the BPF object: %s", strerror(-err));
		goto cleanup;
	}
	set_tunables(t->skel, tun);
	err = share_maps(t->skel, main_obj);
	if (err)
		goto cleanup;
	err = progload_object(t->skel->obj, "tls", NULL, report, &failed);
	if (err) {
		pr_error("TLS: loading BPF program %s: %s: %s",
			 failed >= 0 ? report->progs[failed].name : "(none)", strerror(-err),
			 failed >= 0 ? report->progs[failed].why : "");
		goto cleanup;
	}
	err = attach_tp(t->skel->progs.tp_sock_send, &t->skel->links.tp_sock_send, "tp_sock_send");
	if (!err)
		err = attach_tp(t->skel->progs.tp_sock_recv, &t->skel->links.tp_sock_recv,
				"tp_sock_recv");
	if (!err)
		err = attach_tp(t->skel->progs.tp_exec, &t->skel->links.tp_exec, "tp_exec");
	if (!err)
		err = attach_tp(t->skel->progs.tp_exit, &t->skel->links.tp_exit, "tp_exit");
	if (err)
		goto cleanup;
	t->rb = ring_buffer__new(bpf_map__fd(t->skel->maps.tls_events), on_event, t, NULL);
	if (!t->rb) {
		err = -errno;
		pr_error("TLS: ring buffer: %s", strerror(-err));
		goto cleanup;
	}

	/* Exec events from now on are queued in the ring buffer, so a process that starts
	 * during the scans below is not missed. */
	scan_system(t);
	scan_all(t);
	t->next_liveness = now_s() + LIVENESS_S;
	t->next_rescan = now_s() + RESCAN_S;
	err = pthread_create(&t->thread, NULL, tls_thread, t);
	if (err) {
		err = -err;
		pr_error("TLS: starting the process thread: %s", strerror(-err));
		goto cleanup;
	}
	t->thread_started = true;
	return t;

cleanup:
	tls_stop(t);
	errno = -err;
	return NULL;
}

void tls_report_off(struct progload_report *report, const char *why)
{
	struct tls_bpf *s = tls_bpf__open();

	if (!s)
		return;
	progload_list_off(s->obj, "tls", why, report);
	tls_bpf__destroy(s);
}

void tls_stop(struct tls *t)
{
	if (!t)
		return;
	if (t->thread_started) {
		atomic_store(&t->stop, true);
		pthread_join(t->thread, NULL);
	}
	for (size_t i = 0; i < t->n_libs; i++)
		lib_detach(&t->libs[i]);
	ring_buffer__free(t->rb);
	tls_bpf__destroy(t->skel);
	pthread_mutex_destroy(&t->lock);
	free(t->libs);
	free(t->watch);
	free(t);
}

void tls_report(struct tls *t, FILE *out)
{
	size_t n_ok = 0;

	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->n_libs; i++) {
		const struct tls_lib *lib = &t->libs[i];

		if (lib->failed)
			continue;
		n_ok++;
		pr_info("attached TLS probes mode=%s library=%s", mode_names[lib->mode], lib->name);
		if (out)
			fprintf(out, "attached TLS probes (%s) to %s\n", mode_names[lib->mode],
				lib->name);
	}
	pthread_mutex_unlock(&t->lock);
	if (!n_ok) {
		pr_info("TLS: no libssl found yet; new processes are watched");
		if (out)
			fprintf(out, "TLS: no libssl found yet\n");
	}
}

static int lib_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sockeye_tls_library *)a)->library,
		      ((const struct sockeye_tls_library *)b)->library);
}

struct sockeye_tls_library *tls_libraries(struct tls *t, size_t *n)
{
	struct sockeye_tls_library *out = NULL;

	*n = 0;
	pthread_mutex_lock(&t->lock);
	if (t->n_libs)
		out = calloc(t->n_libs, sizeof(*out));
	for (size_t i = 0; out && i < t->n_libs; i++) {
		if (t->libs[i].failed)
			continue;
		snprintf(out[*n].library, sizeof(out[*n].library), "%s", t->libs[i].name);
		out[*n].mode = t->libs[i].mode;
		(*n)++;
	}
	pthread_mutex_unlock(&t->lock);
	if (out)
		qsort(out, *n, sizeof(*out), lib_cmp);
	return out;
}

int tls_stats_fd(const struct tls *t)
{
	return bpf_map__fd(t->skel->maps.tls_stats);
}

size_t tls_prog_fds(const struct tls *t, int *fds, const char **names, size_t max)
{
	struct bpf_program *progs[] = {
		t->skel->progs.uprobe_ssl_rw,	t->skel->progs.uretprobe_ssl_rw,
		t->skel->progs.uprobe_ssl_free, t->skel->progs.tp_sock_send,
		t->skel->progs.tp_sock_recv,	t->skel->progs.tp_exec,
		t->skel->progs.tp_exit,
	};
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(progs) && n < max; i++) {
		names[n] = bpf_program__name(progs[i]);
		fds[n++] = bpf_program__fd(progs[i]);
	}
	return n;
}

size_t tls_map_fds(const struct tls *t, int *fds, size_t max)
{
	size_t n = 0;

	if (n < max)
		fds[n++] = bpf_map__fd(t->skel->maps.tls_conns);
	if (n < max)
		fds[n++] = bpf_map__fd(t->skel->maps.tls_calls);
	return n;
}
