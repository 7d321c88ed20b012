// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* tls_derive.c - where to probe a libssl build, and the struct offsets its probes use, read
 * from the build's own code and checked; offsets are never hard-coded (docs/tls.md).
 *
 * Internal functions: a uprobe on an instruction the kernel cannot emulate is single-stepped,
 * which costs ~14 us per hit on a VM; OpenSSL's public SSL_read/SSL_write start with
 * `sub $N,%rsp`. Its internal read/write functions start with `push`, which the kernel
 * emulates. They have no symbol, so their addresses are taken from the `call` in
 * SSL_read_ex/SSL_write_ex and accepted only when SSL_read (SSL_write) calls the same address
 * and the _ex function passes its four arguments through untouched.
 *
 * Socket BIO lookup: SSL_get_rbio reads SSL -> rbio; BIO_method_type reads BIO -> method;
 * BIO_s_socket returns the socket BIO_METHOD; that method's read and write functions pass
 * BIO -> num to read()/write(). At run time the probe compares the BIO's method with the one
 * BIO_s_socket returns in the process (through libssl's GOT entry of BIO_s_socket) before it
 * trusts num as a descriptor.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "tls_derive.h"
#include "tls_elf.h"
#include "tls_x86.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define CODE_BYTES    96 /* bytes of a function's start that are decoded */
#define METHOD_SLOTS  16 /* pointers of a BIO_METHOD looked at */

const char *const tls_sym_names[TLS_SYM_MAX] = {
	[TLS_SYM_READ] = "SSL_read",	   [TLS_SYM_WRITE] = "SSL_write",
	[TLS_SYM_READ_EX] = "SSL_read_ex", [TLS_SYM_WRITE_EX] = "SSL_write_ex",
	[TLS_SYM_FREE] = "SSL_free",
};

/* The first CODE_BYTES bytes of code at vaddr (zero-filled past the end of the code). */
static int code_at(const struct tls_elf *e, __u64 vaddr, unsigned char *buf)
{
	size_t n = tls_elf_code(e, vaddr, buf, CODE_BYTES);

	if (!n)
		return -ENOENT;
	memset(buf + n, 0, CODE_BYTES - n);
	return 0;
}

/* The internal read and write functions, found and validated; fills why on failure. */
static int derive_internal(const struct tls_elf *e, struct tls_plan *p)
{
	static const int pairs[2][2] = {{TLS_SYM_READ_EX, TLS_SYM_READ},
					{TLS_SYM_WRITE_EX, TLS_SYM_WRITE}};
	struct tls_point out[2];
	__u64 target[2];

	if (!tls_elf_x86_64(e)) {
		snprintf(p->why, sizeof(p->why), "internal functions are derived on x86-64 only");
		return -ENOEXEC;
	}
	for (int d = 0; d < 2; d++) {
		struct tls_call_site ex, plain;
		unsigned char code[CODE_BYTES];
		int sx = pairs[d][0], sp = pairs[d][1];
		size_t entry;

		if (!p->have[sx] || !p->have[sp]) {
			snprintf(p->why, sizeof(p->why), "no %s or %s symbol", tls_sym_names[sx],
				 tls_sym_names[sp]);
			return -ENOEXEC;
		}
		if (code_at(e, p->sym[sx].vaddr, code) ||
		    tls_x86_first_call(code, sizeof(code), p->sym[sx].vaddr, &ex)) {
			snprintf(p->why, sizeof(p->why),
				 "%s does not start with a call we can follow", tls_sym_names[sx]);
			return -ENOEXEC;
		}
		if (ex.writes & TLS_X86_ARG_REGS) {
			snprintf(p->why, sizeof(p->why),
				 "%s changes its arguments before its call: not a pass-through",
				 tls_sym_names[sx]);
			return -ENOEXEC;
		}
		if (code_at(e, p->sym[sp].vaddr, code) ||
		    tls_x86_first_call(code, sizeof(code), p->sym[sp].vaddr, &plain) ||
		    plain.target != ex.target) {
			snprintf(p->why, sizeof(p->why), "%s and %s do not call the same function",
				 tls_sym_names[sx], tls_sym_names[sp]);
			return -ENOEXEC;
		}
		if (tls_elf_in_plt(e, ex.target) || tls_elf_code_offset(e, ex.target, &entry)) {
			snprintf(p->why, sizeof(p->why),
				 "%s calls outside the library's code (0x%llx)", tls_sym_names[sx],
				 (unsigned long long)ex.target);
			return -ENOEXEC;
		}
		for (int k = 0; k < TLS_SYM_MAX; k++) {
			if (p->have[k] && p->sym[k].vaddr == ex.target) {
				snprintf(p->why, sizeof(p->why),
					 "%s calls %s, not an internal function", tls_sym_names[sx],
					 tls_sym_names[k]);
				return -ENOEXEC;
			}
		}
		target[d] = ex.target;
		if (code_at(e, ex.target, code) ||
		    tls_x86_cheap_entry(code, sizeof(code), &entry)) {
			snprintf(p->why, sizeof(p->why),
				 "the function %s calls does not start with push: not cheaper",
				 tls_sym_names[sx]);
			return -ENOEXEC;
		}
		out[d].vaddr = ex.target + entry;
		tls_elf_code_offset(e, out[d].vaddr, &out[d].off);
	}
	if (target[0] == target[1]) {
		snprintf(p->why, sizeof(p->why), "read and write lead to the same function");
		return -ENOEXEC;
	}
	p->read = out[0];
	p->write = out[1];
	return 0;
}

/* SSL_free's probe point: its entry, or past its NULL check when that is a cheaper place. */
static void plan_free(const struct tls_elf *e, struct tls_plan *p)
{
	unsigned char code[CODE_BYTES];
	size_t o;

	if (!p->have[TLS_SYM_FREE])
		return;
	p->free_at = p->sym[TLS_SYM_FREE];
	if (tls_elf_x86_64(e) && !code_at(e, p->free_at.vaddr, code) &&
	    !tls_x86_free_point(code, sizeof(code), &o)) {
		p->free_at.vaddr += o;
		p->free_at.off += o;
		p->free_cheap = true;
	}
}

/* The libssl half of the socket BIO lookup: SSL -> rbio, and the GOT entry of BIO_s_socket. */
static void derive_ssl_fd(const struct tls_elf *e, struct tls_plan *p)
{
	unsigned char code[CODE_BYTES];
	__u64 vaddr;
	__u32 off;

	if (!tls_elf_x86_64(e)) {
		snprintf(p->fd_why, sizeof(p->fd_why), "derived on x86-64 only");
		return;
	}
	if (tls_elf_func(e, "SSL_get_rbio", &vaddr) || code_at(e, vaddr, code) ||
	    tls_x86_getter(code, sizeof(code), &off) || off > 0xffff) {
		snprintf(p->fd_why, sizeof(p->fd_why),
			 "SSL_get_rbio is not a plain field getter: rbio's offset unknown");
		return;
	}
	p->lib.ssl_rbio = off;
	p->lib.flags = SOCKEYE_TLS_LIB_RBIO;
	if (tls_elf_got_entry(e, "BIO_s_socket", &p->got_socket)) {
		snprintf(p->fd_why, sizeof(p->fd_why), "libssl does not import BIO_s_socket");
		return;
	}
	snprintf(p->fd_why, sizeof(p->fd_why), "libcrypto not analysed");
}

int tls_derive_ssl(struct tls_elf *e, const char *name, bool public_only, struct tls_plan *p)
{
	memset(p, 0, sizeof(*p));
	for (int k = 0; k < TLS_SYM_MAX; k++)
		p->have[k] = !tls_elf_func(e, tls_sym_names[k], &p->sym[k].vaddr) &&
			     !tls_elf_code_offset(e, p->sym[k].vaddr, &p->sym[k].off);
	if (!p->have[TLS_SYM_READ] || !p->have[TLS_SYM_WRITE]) {
		pr_warn("TLS: %s has no SSL_read/SSL_write symbols: not probed", name);
		return -ENOENT;
	}
	p->mode = SOCKEYE_TLS_MODE_PUBLIC;
	if (public_only)
		snprintf(p->why, sizeof(p->why), "--tls.probe-mode=public");
	else if (derive_internal(e, p) == 0)
		p->mode = SOCKEYE_TLS_MODE_INTERNAL;
	plan_free(e, p);
	derive_ssl_fd(e, p);
	return 0;
}

/* Whether addr is the PLT stub of an I/O call whose first argument is a descriptor. */
static bool is_io_call(void *ctx, __u64 addr)
{
	static const char *const io[] = {"read",   "write",   "recv",	 "send",  "recvfrom",
					 "sendto", "recvmsg", "sendmsg", "readv", "writev"};
	const char *name = tls_elf_plt_import(ctx, addr);

	for (size_t i = 0; name && i < ARRAY_SIZE(io); i++)
		if (strcmp(name, io[i]) == 0)
			return true;
	return false;
}

static size_t fetch_code(void *ctx, __u64 vaddr, unsigned char *buf, size_t n)
{
	return tls_elf_code(ctx, vaddr, buf, n);
}

void tls_derive_crypto(struct tls_elf *e, struct tls_plan *p)
{
	unsigned char code[CODE_BYTES];
	__u64 fn, method, ptrs[METHOD_SLOTS];
	__u32 off1, off2, num = 0;
	size_t n, found = 0;

	if (!p->got_socket)
		return; /* the libssl half failed: fd_why says why */
	if (tls_elf_func(e, "BIO_method_type", &fn) || code_at(e, fn, code) ||
	    tls_x86_getter2(code, sizeof(code), &off1, &off2) || off1 > 0xffff) {
		snprintf(p->fd_why, sizeof(p->fd_why),
			 "BIO_method_type is not a plain getter: the BIO's method offset unknown");
		return;
	}
	if (tls_elf_func(e, "BIO_s_socket", &fn) || code_at(e, fn, code) ||
	    tls_x86_static_address(code, sizeof(code), fn, &method)) {
		snprintf(p->fd_why, sizeof(p->fd_why),
			 "BIO_s_socket does not return a static method: its address unknown");
		return;
	}
	/* The socket method's functions (its pointers into the code): every one of them that
	 * reads or writes the socket must pass the same BIO field as the descriptor. */
	n = tls_elf_pointers(e, method, method + METHOD_SLOTS * sizeof(__u64), ptrs,
			     ARRAY_SIZE(ptrs));
	for (size_t i = 0; i < n; i++) {
		size_t unused;
		__u32 o;
		int err;

		if (tls_elf_code_offset(e, ptrs[i], &unused) || tls_elf_in_plt(e, ptrs[i]))
			continue; /* the name, or not code */
		err = tls_x86_fd_field(ptrs[i], fetch_code, is_io_call, e, &o);
		if (err == -ENOENT)
			continue;
		if (err || (found && o != num)) {
			snprintf(p->fd_why, sizeof(p->fd_why),
				 "the socket BIO's functions disagree on the descriptor's offset");
			return;
		}
		num = o;
		found++;
	}
	if (!found || num > 0xffff || num % 4 || num == off1) {
		snprintf(p->fd_why, sizeof(p->fd_why),
			 "no socket BIO function passes a BIO field to read or write");
		return;
	}
	p->lib.flags |= SOCKEYE_TLS_LIB_FD;
	p->lib.bio_method = off1;
	p->lib.bio_num = num;
	p->lib.sock_method = (__s64)(method - fn);
	p->fd_ok = true;
	p->fd_why[0] = '\0';
}
