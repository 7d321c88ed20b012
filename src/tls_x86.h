/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* tls_x86.h - reads the few x86-64 instruction shapes OpenSSL's small functions are made of:
 * where a wrapper calls its internal function, where a probe is cheap, which struct offset a
 * getter or an I/O call reads. Pure functions on bytes (tests/unit/test_tls.c). */
#ifndef SOCKEYE_TLS_X86_H
#define SOCKEYE_TLS_X86_H

#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>

/* Each function returns 0 or -ENOEXEC when the bytes are not the simple shape it accepts (an
 * unknown instruction, a branch away, no call within the first instructions). */

struct tls_call_site {
	__u64 target; /* address the call goes to */
	__u32 writes; /* general registers written before it (bit n = register n, rax = 0) */
	__u32 offset; /* of the call instruction */
};
/* The first `call rel32` of a function starting at vaddr. */
int tls_x86_first_call(const unsigned char *code, size_t n, __u64 vaddr, struct tls_call_site *out);
/* Offset of the first instruction after an optional endbr64, if the kernel emulates it (push):
 * the cheap place for an entry probe with a return probe. */
int tls_x86_cheap_entry(const unsigned char *code, size_t n, size_t *off);
/* SSL_free's cheap probe point: the entry if it is a push, else the first push after a leading
 * `test %rdi,%rdi; je` (rdi, the SSL *, is untouched there). */
int tls_x86_free_point(const unsigned char *code, size_t n, size_t *off);

/* A getter of a pointer field of its first argument, `return arg->field;`
 * (SSL_get_rbio): `mov disp(%rdi),%rax`, then only register clearing up to `ret`. *off is the
 * field's offset. */
int tls_x86_getter(const unsigned char *code, size_t n, __u32 *off);
/* `return arg->ptr->field;` with a 32-bit field (BIO_method_type: BIO -> method -> type). */
int tls_x86_getter2(const unsigned char *code, size_t n, __u32 *off1, __u32 *off2);
/* A function that returns the address of a static object, `lea disp(%rip),%rax; ret`
 * (BIO_s_socket), starting at vaddr: *addr is the object's. */
int tls_x86_static_address(const unsigned char *code, size_t n, __u64 vaddr, __u64 *addr);

/* Whether a call to addr is a call of an I/O function whose first argument is a file
 * descriptor (read, write, recv, send...): the caller resolves PLT stubs. */
typedef bool (*tls_x86_io_fn)(void *ctx, __u64 addr);

/* The code of a function starting at vaddr, read on demand (a function's branches may go
 * anywhere in it). Returns the number of bytes copied to buf (at most n), 0 outside the code. */
typedef size_t (*tls_x86_fetch_fn)(void *ctx, __u64 vaddr, unsigned char *buf, size_t n);

/* The struct offset a function taking a struct pointer as its first argument (a BIO method's
 * read or write) passes as the descriptor of an I/O call: every path from its start to a call
 * the io callback recognises, whose first argument was loaded with `mov disp(%reg),%edi` from a
 * register still holding the struct pointer. Paths through instructions this decoder does not
 * know are given up; all the loads found must agree. -ENOENT when no path gets there. */
int tls_x86_fd_field(__u64 vaddr, tls_x86_fetch_fn fetch, tls_x86_io_fn io, void *ctx, __u32 *off);

/* Registers of the System V calling convention's first four arguments. */
#define TLS_X86_ARG_REGS ((1u << 7) | (1u << 6) | (1u << 2) | (1u << 1)) /* rdi rsi rdx rcx */

#endif /* SOCKEYE_TLS_X86_H */
