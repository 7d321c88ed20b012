// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* tls_x86.c - a decoder for the x86-64 instruction shapes of OpenSSL's small functions and of
 * function prologues: enough to follow a wrapper to its internal function, find a cheap probe
 * point, and read which struct offset a getter or an I/O call uses. Anything it does not know
 * ends the analysis (-ENOEXEC): a wrong answer would mean wrong attribution. */
#include <errno.h>
#include <string.h>

#include "tls_x86.h"

enum insn_kind {
	INSN_OTHER,
	INSN_PUSH,
	INSN_CALL,
	INSN_ENDBR,
	INSN_JCC,
	INSN_TEST_RDI,
	INSN_JMP,
	INSN_RET,
	INSN_INDIRECT, /* call or jmp through a register or memory */
};

enum { RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4, RBP = 5, RSI = 6, RDI = 7 };
#define BASE_NONE (-1) /* no register operand, or an address with an index or no base */
#define BASE_RIP  (-2)

/* Registers a call may change (System V): rax, rcx, rdx, rsi, rdi, r8-r11. */
#define CALLER_SAVED                                                                               \
	((1u << RAX) | (1u << RCX) | (1u << RDX) | (1u << RSI) | (1u << RDI) | (0xfu << 8))

struct insn {
	unsigned len;
	enum insn_kind kind;
	__u64 target; /* CALL, JMP, JCC */
	__u32 writes; /* general registers written */
	unsigned op;  /* opcode byte; 0x0fXX for two-byte opcodes; 0 without ModRM */
	bool w;	      /* REX.W */
	bool mem;     /* the ModRM operand is memory */
	int reg;      /* ModRM reg field with REX.R */
	int base;     /* register operand (mod 3), memory base, BASE_NONE or BASE_RIP */
	__s32 disp;
	__u64 rip; /* base == BASE_RIP: the address */
};

/* How a ModRM instruction treats its operands. */
enum modrm_dst {
	DST_NONE,  /* reads only (cmp, test) */
	DST_RM,	   /* writes the ModRM operand */
	DST_REG,   /* writes the reg operand */
	DST_GROUP, /* 0x80/0x81/0x83: reg field picks the operation, /7 (cmp) writes nothing */
	DST_UNARY, /* 0xf6/0xf7: /0 test, /2 not, /3 neg write rm; mul/div write rax and rdx */
	DST_FF,	   /* 0xff: /0 inc, /1 dec, /2 call, /4 jmp, /6 push */
};

/* One-byte opcodes with a ModRM byte that this decoder knows: what they write, and their
 * immediate's size (4 means 2 with an operand-size prefix). */
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
	case 0x80:
	case 0x83:
		*dst = DST_GROUP; /* add/or/.../cmp r/m, imm8 */
		*imm = 1;
		return 0;
	case 0x81:
		*dst = DST_GROUP;
		*imm = 4;
		return 0;
	case 0xc6:
		*dst = DST_RM; /* mov r/m8, imm8 */
		*imm = 1;
		return 0;
	case 0xc7:
		*dst = DST_RM; /* mov r/m, imm32 */
		*imm = 4;
		return 0;
	case 0xc1:
		*dst = DST_RM; /* shifts by imm8 */
		*imm = 1;
		return 0;
	case 0xd1:
	case 0xd3:
		*dst = DST_RM; /* shifts by 1, by cl */
		return 0;
	case 0xf6:
		*dst = DST_UNARY;
		*imm = 1;
		return 0;
	case 0xf7:
		*dst = DST_UNARY;
		*imm = 4;
		return 0;
	case 0xff:
		*dst = DST_FF;
		return 0;
	}
	return -ENOEXEC;
}

/* Two-byte (0x0f) opcodes with a ModRM byte that this decoder knows. */
static int modrm_opcode_0f(unsigned char op, enum modrm_dst *dst, unsigned *imm)
{
	*imm = 0;
	if (op == 0x1f) {
		*dst = DST_NONE; /* nopl r/m */
		return 0;
	}
	if ((op >= 0x40 && op <= 0x4f) || op == 0xaf || op == 0xb6 || op == 0xb7 || op == 0xbe ||
	    op == 0xbf) {
		*dst = DST_REG; /* cmovcc, imul, movzx, movsx */
		return 0;
	}
	if (op >= 0x90 && op <= 0x9f) {
		*dst = DST_RM; /* setcc */
		return 0;
	}
	return -ENOEXEC;
}

/* Decodes the ModRM byte (and SIB, displacement, immediate) at code[i..n) into in. */
static int decode_modrm(const unsigned char *code, size_t n, size_t i, unsigned rex, bool opsize,
			__u64 vaddr, enum modrm_dst dst, unsigned imm, struct insn *in)
{
	unsigned char modrm, mod, rm;
	unsigned sub;
	int rmreg;

	if (i >= n)
		return -ENOEXEC;
	modrm = code[i++];
	mod = modrm >> 6;
	rm = modrm & 7;
	sub = (modrm >> 3) & 7;
	in->reg = sub | ((rex & 4) << 1);
	rmreg = rm | ((rex & 1) << 3);
	in->mem = mod != 3;
	in->base = rmreg; /* the register, or the base of [reg + disp] */
	if (mod != 3 && rm == 4) {
		in->base = BASE_NONE; /* from the SIB byte, below */
		unsigned char sib;

		if (i >= n)
			return -ENOEXEC;
		sib = code[i++];
		if (mod == 0 && (sib & 7) == 5) {
			if (i + 4 > n)
				return -ENOEXEC;
			memcpy(&in->disp, code + i, 4);
			i += 4; /* no base */
		} else if (((sib >> 3) & 7) == 4 && !(rex & 2)) {
			in->base = (sib & 7) | ((rex & 1) << 3); /* base only, no index */
		}
	} else if (mod == 0 && rm == 5) {
		if (i + 4 > n)
			return -ENOEXEC;
		memcpy(&in->disp, code + i, 4);
		i += 4;
		in->base = BASE_RIP;
	}
	if (mod == 1) {
		if (i + 1 > n)
			return -ENOEXEC;
		in->disp = (__s8)code[i];
		i += 1;
	} else if (mod == 2) {
		if (i + 4 > n)
			return -ENOEXEC;
		memcpy(&in->disp, code + i, 4);
		i += 4;
	}
	if (dst == DST_UNARY && sub != 0)
		imm = 0; /* only test (/0) has an immediate */
	if (imm == 4 && opsize)
		imm = 2;
	i += imm;
	if (i > n)
		return -ENOEXEC;
	in->len = i;
	if (in->base == BASE_RIP)
		in->rip = vaddr + in->len + (__s64)in->disp; /* relative to the next instruction */

	if (dst == DST_GROUP)
		dst = sub == 7 ? DST_NONE : DST_RM; /* /7 is cmp */
	if (dst == DST_UNARY) {
		if (sub == 0 || sub == 1)
			dst = DST_NONE; /* test */
		else if (sub == 2 || sub == 3)
			dst = DST_RM; /* not, neg */
		else {
			in->writes = (1u << RAX) | (1u << RDX); /* mul, imul, div, idiv */
			dst = DST_NONE;
		}
	}
	if (dst == DST_FF) {
		if (sub == 2 || sub == 4) {
			in->kind = INSN_INDIRECT;
			return 0;
		}
		if (sub == 6) {
			in->kind = INSN_PUSH;
			in->writes = 1u << RSP;
			return 0;
		}
		if (sub > 1)
			return -ENOEXEC;
		dst = DST_RM; /* inc, dec */
	}
	if (dst == DST_RM && mod == 3)
		in->writes |= 1u << rmreg;
	else if (dst == DST_REG)
		in->writes |= 1u << in->reg;
	return 0;
}

/* Decodes the instruction at code[0..n) (at address vaddr). Only the shapes function
 * prologues and small functions use are known; anything else is -ENOEXEC. */
static int decode(const unsigned char *code, size_t n, __u64 vaddr, struct insn *in)
{
	size_t i = 0;
	unsigned rex = 0, imm;
	bool opsize = false;
	enum modrm_dst dst;
	unsigned char op;

	memset(in, 0, sizeof(*in));
	in->reg = -1;
	in->base = BASE_NONE;
	if (n >= 4 && code[0] == 0xf3 && code[1] == 0x0f && code[2] == 0x1e && code[3] == 0xfa) {
		in->len = 4;
		in->kind = INSN_ENDBR;
		return 0;
	}
	if (n >= 2 && code[0] == 0xf3 && code[1] == 0xc3) {
		in->len = 2; /* rep ret */
		in->kind = INSN_RET;
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
	in->w = rex & 8;

	if (op >= 0x50 && op <= 0x57) {
		in->kind = INSN_PUSH;
		in->writes = 1u << RSP;
		in->len = i;
		return (rex == 0 || rex == 0x41) && !opsize ? 0
							    : -ENOEXEC; /* push r, push r8-r15 */
	}
	if (op >= 0x58 && op <= 0x5f) {
		in->writes = (1u << RSP) | (1u << ((op & 7) | ((rex & 1) << 3))); /* pop */
		in->len = i;
		return 0;
	}
	if (op == 0xe8 || op == 0xe9) {
		__s32 rel;

		if (i + 4 > n || rex || opsize)
			return -ENOEXEC;
		memcpy(&rel, code + i, 4);
		in->len = i + 4;
		in->kind = op == 0xe8 ? INSN_CALL : INSN_JMP;
		in->target = vaddr + in->len + (__s64)rel;
		if (op == 0xe8)
			in->writes = CALLER_SAVED;
		return 0;
	}
	if (op == 0xeb || (op >= 0x70 && op <= 0x7f)) {
		if (i + 1 > n)
			return -ENOEXEC;
		in->len = i + 1;
		in->kind = op == 0xeb ? INSN_JMP : INSN_JCC;
		in->target = vaddr + in->len + (__s8)code[i];
		return 0;
	}
	if (op == 0xc3 || op == 0xc2) {
		in->len = i + (op == 0xc2 ? 2 : 0);
		in->kind = INSN_RET;
		return in->len <= n ? 0 : -ENOEXEC;
	}
	if (op >= 0xb8 && op <= 0xbf) {
		in->len = i + ((rex & 0x8) ? 8 : opsize ? 2 : 4);
		in->writes = 1u << ((op & 7) | ((rex & 1) << 3));
		return in->len <= n ? 0 : -ENOEXEC;
	}
	if (op == 0x90) {
		in->len = i;
		return 0;
	}
	if (op == 0x3c || op == 0x3d || op == 0xa8 || op == 0xa9) {
		/* cmp/test al or eax with an immediate */
		in->len = i + ((op & 1) ? (opsize ? 2 : 4) : 1);
		return in->len <= n ? 0 : -ENOEXEC;
	}
	if (op == 0x0f) {
		if (i >= n)
			return -ENOEXEC;
		op = code[i++];
		if (op >= 0x80 && op <= 0x8f) {
			__s32 rel;

			if (i + 4 > n)
				return -ENOEXEC;
			memcpy(&rel, code + i, 4);
			in->len = i + 4;
			in->kind = INSN_JCC;
			in->target = vaddr + in->len + (__s64)rel;
			return 0;
		}
		if (modrm_opcode_0f(op, &dst, &imm))
			return -ENOEXEC;
		in->op = 0x0f00 | op;
	} else {
		if (modrm_opcode(op, &dst, &imm))
			return -ENOEXEC;
		in->op = op;
	}
	if (decode_modrm(code, n, i, rex, opsize, vaddr, dst, imm, in))
		return -ENOEXEC;
	if (in->op == 0x85 && rex == 0x48 && !in->mem && in->base == RDI && in->reg == RDI)
		in->kind = INSN_TEST_RDI;
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
		if (in.kind == INSN_JMP || in.kind == INSN_RET || in.kind == INSN_INDIRECT)
			return -ENOEXEC; /* leaves the straight line */
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
	if (in.kind != INSN_PUSH || in.op == 0xff)
		return -ENOEXEC; /* push r only: push r/m is not emulated */
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
	if (decode(code + o, n - o, 0, &in) || in.kind != INSN_PUSH || in.op == 0xff)
		return -ENOEXEC;
	*off = o;
	return 0;
}

/* ---- getters ----------------------------------------------------------------------------- */

/* Whether in is `mov disp(%base),%dst` (a load of a plain base + displacement). */
static bool is_load(const struct insn *in, int base, int dst, bool w)
{
	return in->op == 0x8b && in->mem && in->base == base && in->reg == dst && in->w == w &&
	       in->kind == INSN_OTHER && in->disp >= 0;
}

/* After the loads of a getter: instructions that leave rax alone (compilers clear the argument
 * registers before returning: -fzero-call-used-regs), then ret. */
static int getter_tail(const unsigned char *code, size_t n, size_t off)
{
	for (int k = 0; k < 8 && off < n; k++) {
		struct insn in;

		if (decode(code + off, n - off, 0, &in))
			return -ENOEXEC;
		if (in.kind == INSN_RET)
			return 0;
		if (in.kind != INSN_OTHER || in.mem || (in.writes & ((1u << RAX) | (1u << RSP))))
			return -ENOEXEC;
		off += in.len;
	}
	return -ENOEXEC;
}

/* Skips an endbr64 at the start. */
static size_t skip_endbr(const unsigned char *code, size_t n)
{
	struct insn in;

	return decode(code, n, 0, &in) == 0 && in.kind == INSN_ENDBR ? in.len : 0;
}

int tls_x86_getter(const unsigned char *code, size_t n, __u32 *off)
{
	size_t o = skip_endbr(code, n);
	struct insn in;

	if (decode(code + o, n - o, 0, &in) || !is_load(&in, RDI, RAX, true) ||
	    getter_tail(code, n, o + in.len))
		return -ENOEXEC;
	*off = in.disp;
	return 0;
}

int tls_x86_getter2(const unsigned char *code, size_t n, __u32 *off1, __u32 *off2)
{
	size_t o = skip_endbr(code, n);
	struct insn a, b;

	if (decode(code + o, n - o, 0, &a) || !is_load(&a, RDI, RAX, true))
		return -ENOEXEC;
	o += a.len;
	if (decode(code + o, n - o, 0, &b) || !is_load(&b, RAX, RAX, false) ||
	    getter_tail(code, n, o + b.len))
		return -ENOEXEC;
	*off1 = a.disp;
	*off2 = b.disp;
	return 0;
}

int tls_x86_static_address(const unsigned char *code, size_t n, __u64 vaddr, __u64 *addr)
{
	size_t o = skip_endbr(code, n);
	struct insn in;

	if (decode(code + o, n - o, vaddr + o, &in) || in.op != 0x8d || !in.w ||
	    in.base != BASE_RIP || in.reg != RAX || getter_tail(code, n, o + in.len))
		return -ENOEXEC;
	*addr = in.rip;
	return 0;
}

/* ---- the descriptor field of an I/O function --------------------------------------------- */

#define FD_MAX_INSNS 400 /* instructions decoded in all paths together */
#define FD_MAX_PATHS 32	 /* branches waiting to be followed */
#define FD_FETCH     32	 /* bytes fetched per instruction (the longest is 15) */

/* Where a path is, and what it knows: which registers hold the struct pointer, and which field
 * the first argument register (edi) was last loaded from (-1 none). */
struct fd_path {
	__u64 at;
	__u32 holds;
	__s64 edi;
};

/* Register effects of one instruction on a path. */
static void fd_step(const struct insn *in, struct fd_path *p)
{
	bool copy = (in->op == 0x89 || in->op == 0x8b) && in->w && !in->mem;

	if (copy) {
		/* mov %src,%dst: 0x89 writes the rm operand from reg, 0x8b the other way */
		int src = in->op == 0x89 ? in->reg : in->base,
		    dst = in->op == 0x89 ? in->base : in->reg;

		if (p->holds & (1u << src))
			p->holds |= 1u << dst;
		else
			p->holds &= ~(1u << dst);
		if (dst == RDI)
			p->edi = -1;
		return;
	}
	if (is_load(in, in->base, RDI, false) && in->base >= 0 && (p->holds & (1u << in->base))) {
		p->edi = in->disp;
		p->holds &= ~(1u << RDI);
		return;
	}
	p->holds &= ~in->writes;
	if (in->writes & (1u << RDI))
		p->edi = -1;
}

int tls_x86_fd_field(__u64 vaddr, tls_x86_fetch_fn fetch, tls_x86_io_fn io, void *ctx, __u32 *off)
{
	struct fd_path todo[FD_MAX_PATHS];
	struct fd_path seen[FD_MAX_INSNS];
	size_t n_todo = 0, n_seen = 0;
	__s64 found = -1;
	int budget = FD_MAX_INSNS;

	todo[n_todo++] = (struct fd_path){.at = vaddr, .holds = 1u << RDI, .edi = -1};
	while (n_todo && budget > 0) {
		struct fd_path p = todo[--n_todo];

		while (budget-- > 0) {
			unsigned char code[FD_FETCH];
			size_t got = fetch(ctx, p.at, code, sizeof(code)), k;
			struct insn in;

			/* A place already followed with what this path knows (loops, joins) is
			 * not followed again; with other knowledge it is. */
			for (k = 0; k < n_seen; k++)
				if (seen[k].at == p.at && seen[k].holds == p.holds &&
				    seen[k].edi == p.edi)
					break;
			if (k < n_seen || n_seen == FD_MAX_INSNS)
				break;
			seen[n_seen++] = p;
			if (!got || decode(code, got, p.at, &in))
				break; /* unknown instruction: this path is given up */
			if (in.kind == INSN_RET || in.kind == INSN_INDIRECT)
				break;
			if (in.kind == INSN_CALL && io(ctx, in.target) && p.edi >= 0) {
				if (found >= 0 && found != p.edi)
					return -ENOEXEC; /* two answers: none is trusted */
				found = p.edi;
			}
			if (in.kind == INSN_JMP) {
				p.at = in.target;
				continue;
			}
			if (in.kind == INSN_JCC && n_todo < FD_MAX_PATHS)
				todo[n_todo++] = (struct fd_path){
					.at = in.target, .holds = p.holds, .edi = p.edi};
			fd_step(&in, &p);
			p.at += in.len;
		}
	}
	if (found < 0)
		return -ENOENT;
	*off = found;
	return 0;
}
