// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* test_tls.c - where the OpenSSL probes go and what they read: the x86-64 analysis that finds the
 * internal read/write functions, the cheap probe points and the struct offsets from an SSL
 * object to its socket's descriptor, on bytes of Debian's OpenSSL 3.0 libssl.so.3 and
 * libcrypto.so.3 and on shapes it must refuse. No root, no kernel, no libssl. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tls_x86.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define R(n)	      (1u << (n))
enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI };

/* Debian 12 libssl.so.3 (OpenSSL 3.0): the starts of SSL_read_ex, SSL_read, SSL_write_ex,
 * SSL_free and of the internal read function, as objdump shows them. */
static const unsigned char ssl_read_ex[] = {
	0x48, 0x83, 0xec, 0x08,		    /* sub $0x8,%rsp */
	0xe8, 0xc7, 0xfd, 0xff, 0xff,	    /* call 35290 */
	0x31, 0xd2, 0x85, 0xc0, 0x0f, 0x48, /* xor; test; cmovs ... */
};
static const unsigned char ssl_read[] = {
	0x48, 0x83, 0xec, 0x18,			     /* sub $0x18,%rsp */
	0x64, 0x48, 0x8b, 0x04, 0x25, 0x28, 0, 0, 0, /* mov %fs:0x28,%rax */
	0x48, 0x89, 0x44, 0x24, 0x08,		     /* mov %rax,0x8(%rsp) */
	0x31, 0xc0,				     /* xor %eax,%eax */
	0x85, 0xd2,				     /* test %edx,%edx */
	0x78, 0x2f,				     /* js */
	0x48, 0x89, 0xe1,			     /* mov %rsp,%rcx */
	0x48, 0x63, 0xd2,			     /* movslq %edx,%rdx */
	0xe8, 0x3d, 0xfe, 0xff, 0xff,		     /* call 35290 */
};
static const unsigned char ssl_write_ex[] = {
	0x48, 0x83, 0xec, 0x08,	      /* sub $0x8,%rsp */
	0xe8, 0x87, 0xfb, 0xff, 0xff, /* call 355a0 */
};
static const unsigned char ssl_free[] = {
	0x48, 0x85, 0xff,		    /* test %rdi,%rdi */
	0x0f, 0x84, 0x97, 0x03, 0x00, 0x00, /* je 3b6f0 */
	0x41, 0x55,			    /* push %r13 */
	0xb8, 0xff, 0xff, 0xff, 0xff,	    /* mov $-1,%eax */
};
static const unsigned char ssl_read_internal[] = {
	0x41, 0x55, 0x41, 0x54, 0x55, 0x53, /* push %r13; push %r12; push %rbp; push %rbx */
	0x48, 0x83, 0xec, 0x38,		    /* sub $0x38,%rsp */
};

static void test_first_call_of_the_read_and_write_functions(void **state)
{
	static const struct {
		const char *name;
		const unsigned char *code;
		size_t n;
		uint64_t vaddr;
		uint64_t target;
		uint32_t offset;
		uint32_t writes;
	} cases[] = {
		{"SSL_read_ex", ssl_read_ex, sizeof(ssl_read_ex), 0x354c0, 0x35290, 4, R(RSP)},
		{"SSL_read", ssl_read, sizeof(ssl_read), 0x35430, 0x35290, 30,
		 R(RSP) | R(RAX) | R(RCX) | R(RDX)},
		{"SSL_write_ex", ssl_write_ex, sizeof(ssl_write_ex), 0x35a10, 0x355a0, 4, R(RSP)},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct tls_call_site site = {0};
		int err = tls_x86_first_call(cases[i].code, cases[i].n, cases[i].vaddr, &site);

		if (err || site.target != cases[i].target || site.offset != cases[i].offset ||
		    site.writes != cases[i].writes)
			fail_msg("# Case: %s: err %d, target 0x%llx offset %u writes 0x%x; want "
				 "target 0x%llx offset %u writes 0x%x",
				 cases[i].name, err, (unsigned long long)site.target, site.offset,
				 site.writes, (unsigned long long)cases[i].target, cases[i].offset,
				 cases[i].writes);
	}
}

static void test_pass_through_check_sees_argument_registers_written(void **state)
{
	struct tls_call_site site;

	(void)state;
	assert_int_equal(tls_x86_first_call(ssl_read_ex, sizeof(ssl_read_ex), 0x354c0, &site), 0);
	assert_int_equal(site.writes & TLS_X86_ARG_REGS, 0);
	assert_int_equal(tls_x86_first_call(ssl_read, sizeof(ssl_read), 0x35430, &site), 0);
	assert_int_not_equal(site.writes & TLS_X86_ARG_REGS, 0); /* rcx, rdx: not the _ex args */
}

static void test_shapes_that_are_not_followed(void **state)
{
	static const struct {
		const char *name;
		unsigned char code[16];
		size_t n;
	} cases[] = {
		{"ret before any call", {0x48, 0x83, 0xec, 0x08, 0xc3}, 5},
		{"jmp before any call", {0xe9, 0x10, 0, 0, 0}, 5},
		{"indirect call", {0xff, 0xd0}, 2},
		{"call cut short", {0xe8, 0x01, 0x02}, 3},
		{"no call in the bytes", {0x55, 0x53, 0x41, 0x54}, 4},
		{"unknown opcode", {0x0f, 0x05, 0xe8, 0, 0, 0, 0}, 7}, /* syscall */
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct tls_call_site site;
		int err = tls_x86_first_call(cases[i].code, cases[i].n, 0x1000, &site);

		if (err != -ENOEXEC)
			fail_msg("# Case: %s: got %d, want -ENOEXEC", cases[i].name, err);
	}
}

static void test_operand_lengths_of_common_prologue_instructions(void **state)
{
	static const struct {
		const char *name;
		unsigned char code[24];
		size_t n;
		uint32_t call_offset;
		uint32_t writes;
	} cases[] = {
		{"lea rip-relative",
		 {0x48, 0x8d, 0x05, 1, 2, 3, 4, 0xe8, 0, 0, 0, 0},
		 12,
		 7,
		 R(RAX)},
		{"mov disp32(%rsp)",
		 {0x48, 0x89, 0x84, 0x24, 0x80, 0, 0, 0, 0xe8, 0, 0, 0, 0},
		 13,
		 8,
		 0},
		{"sub imm32 from rsp",
		 {0x48, 0x81, 0xec, 0, 1, 0, 0, 0xe8, 0, 0, 0, 0},
		 12,
		 7,
		 R(RSP)},
		{"cmp imm8 writes nothing", {0x48, 0x83, 0xff, 0x01, 0xe8, 0, 0, 0, 0}, 9, 4, 0},
		{"mov %rdi,%rbx", {0x48, 0x89, 0xfb, 0xe8, 0, 0, 0, 0}, 8, 3, R(RBX)},
		{"mov %rsi,%rdi clobbers the first argument",
		 {0x48, 0x89, 0xf7, 0xe8, 0, 0, 0, 0},
		 8,
		 3,
		 R(RDI)},
		{"mov $imm,%r8d", {0x41, 0xb8, 1, 0, 0, 0, 0xe8, 0, 0, 0, 0}, 11, 6, R(8)},
		{"endbr64 then push",
		 {0xf3, 0x0f, 0x1e, 0xfa, 0x55, 0xe8, 0, 0, 0, 0},
		 10,
		 5,
		 R(RSP)},
		{"multi-byte nop", {0x0f, 0x1f, 0x44, 0, 0, 0xe8, 0, 0, 0, 0}, 10, 5, 0},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct tls_call_site site = {0};
		int err = tls_x86_first_call(cases[i].code, cases[i].n, 0x1000, &site);

		if (err || site.offset != cases[i].call_offset || site.writes != cases[i].writes)
			fail_msg("# Case: %s: err %d offset %u writes 0x%x; want offset %u writes "
				 "0x%x",
				 cases[i].name, err, site.offset, site.writes, cases[i].call_offset,
				 cases[i].writes);
	}
}

static void test_cheap_entry_is_a_push_after_optional_endbr(void **state)
{
	static const unsigned char endbr_push[] = {0xf3, 0x0f, 0x1e, 0xfa, 0x41, 0x57};
	size_t off = 99;

	(void)state;
	assert_int_equal(tls_x86_cheap_entry(ssl_read_internal, sizeof(ssl_read_internal), &off),
			 0);
	assert_int_equal(off, 0);
	assert_int_equal(tls_x86_cheap_entry(endbr_push, sizeof(endbr_push), &off), 0);
	assert_int_equal(off, 4);
	/* The public functions start with sub: single-stepped, not cheap. */
	assert_int_equal(tls_x86_cheap_entry(ssl_read_ex, sizeof(ssl_read_ex), &off), -ENOEXEC);
	assert_int_equal(tls_x86_cheap_entry(ssl_read, sizeof(ssl_read), &off), -ENOEXEC);
}

static void test_ssl_free_probe_skips_its_null_check(void **state)
{
	static const unsigned char short_je[] = {0x48, 0x85, 0xff, 0x74, 0x10, 0x53};
	static const unsigned char no_push[] = {0x48, 0x85, 0xff, 0x74, 0x10, 0x48, 0x89, 0xfb};
	static const unsigned char other_test[] = {0x48, 0x85, 0xf6, 0x74, 0x10, 0x53};
	size_t off = 99;

	(void)state;
	assert_int_equal(tls_x86_free_point(ssl_free, sizeof(ssl_free), &off), 0);
	assert_int_equal(off, 9);
	assert_int_equal(tls_x86_free_point(short_je, sizeof(short_je), &off), 0);
	assert_int_equal(off, 5);
	assert_int_equal(tls_x86_free_point(ssl_read_internal, sizeof(ssl_read_internal), &off), 0);
	assert_int_equal(off, 0);
	assert_int_equal(tls_x86_free_point(no_push, sizeof(no_push), &off), -ENOEXEC);
	assert_int_equal(tls_x86_free_point(other_test, sizeof(other_test), &off), -ENOEXEC);
}

/* ---- struct offsets: getters, static addresses, the socket BIO's descriptor ---- */

/* Debian 12 libssl.so.3 / libcrypto.so.3 (OpenSSL 3.0), as objdump shows them. */
static const unsigned char ssl_get_rbio[] = {
	0x48, 0x8b, 0x47, 0x10, /* mov 0x10(%rdi),%rax */
	0x31, 0xff,		/* xor %edi,%edi */
	0xc3,			/* ret */
};
static const unsigned char ssl_get_wbio[] = {
	0x48, 0x8b, 0x47, 0x20, /* mov 0x20(%rdi),%rax */
	0x48, 0x85, 0xc0,	/* test %rax,%rax */
	0x75, 0x07,		/* jne: the bbio's next BIO */
	0x48, 0x8b, 0x47, 0x18, /* mov 0x18(%rdi),%rax */
	0x31, 0xff, 0xc3,
};
static const unsigned char bio_method_type[] = {
	0x48, 0x8b, 0x47, 0x08, /* mov 0x8(%rdi),%rax */
	0x8b, 0x00,		/* mov (%rax),%eax */
	0x31, 0xff, 0xc3,
};
static const unsigned char bio_s_socket[] = {
	0x48, 0x8d, 0x05, 0x89, 0xcf, 0x34, 0x00, /* lea 0x34cf89(%rip),%rax */
	0xc3,
};

static void test_getters_give_the_field_offsets(void **state)
{
	static const unsigned char endbr_getter[] = {0xf3, 0x0f, 0x1e, 0xfa, 0x48, 0x8b,
						     0x87, 0x10, 0x01, 0x00, 0x00, 0xc3};
	static const unsigned char other_reg[] = {0x48, 0x8b, 0x46, 0x10, 0xc3}; /* (%rsi) */
	static const unsigned char clobbers_rax[] = {0x48, 0x8b, 0x47, 0x10, 0x31, 0xc0, 0xc3};
	static const unsigned char no_ret[] = {0x48, 0x8b, 0x47, 0x10, 0x31, 0xff};
	static const unsigned char narrow[] = {0x8b, 0x47, 0x10, 0xc3}; /* mov 0x10(%rdi),%eax */
	__u32 off = 0, off2 = 0;
	__u64 addr = 0;

	(void)state;
	assert_int_equal(tls_x86_getter(ssl_get_rbio, sizeof(ssl_get_rbio), &off), 0);
	assert_int_equal(off, 0x10);
	assert_int_equal(tls_x86_getter(endbr_getter, sizeof(endbr_getter), &off), 0);
	assert_int_equal(off, 0x110);
	/* A branch (SSL_get_wbio returns the BIO under the buffering BIO): not a plain getter. */
	assert_int_equal(tls_x86_getter(ssl_get_wbio, sizeof(ssl_get_wbio), &off), -ENOEXEC);
	assert_int_equal(tls_x86_getter(other_reg, sizeof(other_reg), &off), -ENOEXEC);
	assert_int_equal(tls_x86_getter(clobbers_rax, sizeof(clobbers_rax), &off), -ENOEXEC);
	assert_int_equal(tls_x86_getter(no_ret, sizeof(no_ret), &off), -ENOEXEC);
	assert_int_equal(tls_x86_getter(narrow, sizeof(narrow), &off), -ENOEXEC);

	assert_int_equal(tls_x86_getter2(bio_method_type, sizeof(bio_method_type), &off, &off2), 0);
	assert_int_equal(off, 0x8);
	assert_int_equal(off2, 0);
	assert_int_equal(tls_x86_getter2(ssl_get_rbio, sizeof(ssl_get_rbio), &off, &off2),
			 -ENOEXEC);

	assert_int_equal(tls_x86_static_address(bio_s_socket, sizeof(bio_s_socket), 0x112af0, &addr),
			 0);
	assert_int_equal(addr, 0x45fa80); /* methods_sockp, as objdump resolves it */
	assert_int_equal(tls_x86_static_address(ssl_get_rbio, sizeof(ssl_get_rbio), 0, &addr),
			 -ENOEXEC);
}

/* sock_read at 0x112bd0 */
static const unsigned char sock_read[] = {
	0x41, 0x55, 0x41, 0x54, 0x55, 0x53, 0x48, 0x83, 0xec, 0x78, 0x64, 0x48,
	0x8b, 0x04, 0x25, 0x28, 0x00, 0x00, 0x00, 0x48, 0x89, 0x44, 0x24, 0x68,
	0x31, 0xc0, 0x48, 0x85, 0xf6, 0x0f, 0x84, 0x8d, 0x01, 0x00, 0x00, 0x48,
	0x89, 0xfd, 0x89, 0xd3, 0x49, 0x89, 0xf4, 0xe8, 0xb0, 0x9e, 0xfb, 0xff,
	0x31, 0xd2, 0x48, 0x89, 0xef, 0x31, 0xc9, 0xc7, 0x00, 0x00, 0x00, 0x00,
	0x00, 0xbe, 0x4c, 0x00, 0x00, 0x00, 0x49, 0x89, 0xc5, 0xe8, 0xc6, 0x31,
	0xfb, 0xff, 0x8b, 0x7d, 0x38, 0x48, 0x63, 0xd3, 0x48, 0x85, 0xc0, 0x7f,
	0x4b, 0x4c, 0x89, 0xe6, 0xe8, 0x23, 0x4c, 0xfb, 0xff,
};
/* sock_write_head at 0x112dc0 */
static const unsigned char sock_write_head[] = {
	0x41, 0x54, 0x49, 0x89, 0xf4, 0x55, 0x89, 0xd5, 0x53, 0x48, 0x89, 0xfb,
	0x48, 0x83, 0xec, 0x70, 0x64, 0x48, 0x8b, 0x04, 0x25, 0x28, 0x00, 0x00,
	0x00, 0x48, 0x89, 0x44, 0x24, 0x68, 0x31, 0xc0, 0xe8, 0xcb, 0x9c, 0xfb,
	0xff, 0xbe, 0x00, 0x10, 0x00, 0x00, 0x48, 0x89, 0xdf, 0xc7, 0x00, 0x00,
	0x00, 0x00, 0x00, 0xe8, 0x58, 0x67, 0xfb, 0xff, 0x48, 0x63, 0xd5, 0x85,
	0xc0, 0x0f, 0x84, 0x9d, 0x00, 0x00, 0x00, 0x48, 0x8b, 0x43, 0x40, 0x48,
	0x8d, 0x4c, 0x24, 0x50, 0x8b, 0x7b, 0x38,
};
/* sock_write_tail at 0x112ea0 */
static const unsigned char sock_write_tail[] = {
	0x8b, 0x7b, 0x38, 0x4c, 0x89, 0xe6, 0xe8, 0xc5, 0xcf, 0xfb, 0xff,
};

#define READ_PLT  0xc7850 /* read@plt in that libcrypto */
#define WRITE_PLT 0xcfe70 /* write@plt */

/* A function's code at the addresses objdump shows: (vaddr, bytes) pieces; 0 elsewhere. */
struct code_piece {
	__u64 vaddr;
	const unsigned char *code;
	size_t n;
};
struct code_map {
	const struct code_piece *pieces;
	size_t n;
	__u64 io[2]; /* the addresses that count as read/write calls */
};

static size_t fetch(void *ctx, __u64 vaddr, unsigned char *buf, size_t n)
{
	const struct code_map *m = ctx;

	for (size_t i = 0; i < m->n; i++) {
		const struct code_piece *p = &m->pieces[i];

		if (vaddr >= p->vaddr && vaddr < p->vaddr + p->n) {
			size_t k = p->vaddr + p->n - vaddr;

			if (k > n)
				k = n;
			memcpy(buf, p->code + (vaddr - p->vaddr), k);
			return k;
		}
	}
	return 0;
}

static bool is_io(void *ctx, __u64 addr)
{
	const struct code_map *m = ctx;

	return addr == m->io[0] || addr == m->io[1];
}

static void test_socket_bio_read_and_write_pass_the_same_descriptor_field(void **state)
{
	const struct code_piece read_fn[] = {{0x112bd0, sock_read, sizeof(sock_read)}};
	const struct code_piece write_fn[] = {
		{0x112dc0, sock_write_head, sizeof(sock_write_head)},
		{0x112ea0, sock_write_tail, sizeof(sock_write_tail)},
	};
	struct code_map m = {read_fn, ARRAY_SIZE(read_fn), {READ_PLT, WRITE_PLT}};
	__u32 off = 0;

	(void)state;
	/* sock_read: rdi is copied to rbp before BIO_ctrl, then `mov 0x38(%rbp),%edi; ...;
	 * call read@plt`. */
	assert_int_equal(tls_x86_fd_field(0x112bd0, fetch, is_io, &m, &off), 0);
	assert_int_equal(off, 0x38);
	/* sock_write: the kTLS branch stops at an SSE instruction; the other one (a je away)
	 * reaches write@plt with 0x38(%rbx). */
	m.pieces = write_fn;
	m.n = ARRAY_SIZE(write_fn);
	off = 0;
	assert_int_equal(tls_x86_fd_field(0x112dc0, fetch, is_io, &m, &off), 0);
	assert_int_equal(off, 0x38);
	/* Not an I/O call: nothing found. */
	m.io[0] = m.io[1] = 0x1;
	assert_int_equal(tls_x86_fd_field(0x112dc0, fetch, is_io, &m, &off), -ENOENT);
}

static void test_descriptor_field_is_refused_when_unsure(void **state)
{
	/* mov %rdi,%rbx; mov 0x38(%rbx),%edi; test; je +5; mov 0x3c(%rbx),%edi; call io */
	static const unsigned char two_fields[] = {
		0x48, 0x89, 0xfb, 0x8b, 0x7b, 0x38, 0x85, 0xc0, 0x74, 0x03,
		0x8b, 0x7b, 0x3c, 0xe8, 0x00, 0x00, 0x00, 0x00, 0xc3,
	};
	/* mov %rdi,%rbx; call f (rbx survives); mov 0x38(%rbx),%edi; mov %eax,%edi; call io */
	static const unsigned char edi_overwritten[] = {
		0x48, 0x89, 0xfb, 0xe8, 0x00, 0x01, 0x00, 0x00, 0x8b, 0x7b,
		0x38, 0x89, 0xc7, 0xe8, 0x00, 0x00, 0x00, 0x00, 0xc3,
	};
	/* mov 0x38(%rdi),%edi after a call: rdi no longer holds the struct */
	static const unsigned char pointer_lost[] = {
		0xe8, 0x00, 0x01, 0x00, 0x00, 0x8b, 0x7f, 0x38, 0xe8, 0x00, 0x00, 0x00, 0x00, 0xc3,
	};
	const struct code_piece a[] = {{0x1000, two_fields, sizeof(two_fields)}};
	const struct code_piece b[] = {{0x1000, edi_overwritten, sizeof(edi_overwritten)}};
	const struct code_piece c[] = {{0x1000, pointer_lost, sizeof(pointer_lost)}};
	struct code_map m = {a, 1, {0x1012, 0x1012}};
	__u32 off = 0;

	(void)state;
	/* Both loads reach the call (the je skips the second): two answers, none trusted. */
	assert_int_equal(tls_x86_fd_field(0x1000, fetch, is_io, &m, &off), -ENOEXEC);
	m.pieces = b;
	assert_int_equal(tls_x86_fd_field(0x1000, fetch, is_io, &m, &off), -ENOENT);
	m.pieces = c;
	m.io[0] = m.io[1] = 0x100d;
	assert_int_equal(tls_x86_fd_field(0x1000, fetch, is_io, &m, &off), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_call_of_the_read_and_write_functions),
		cmocka_unit_test(test_pass_through_check_sees_argument_registers_written),
		cmocka_unit_test(test_shapes_that_are_not_followed),
		cmocka_unit_test(test_operand_lengths_of_common_prologue_instructions),
		cmocka_unit_test(test_cheap_entry_is_a_push_after_optional_endbr),
		cmocka_unit_test(test_ssl_free_probe_skips_its_null_check),
		cmocka_unit_test(test_getters_give_the_field_offsets),
		cmocka_unit_test(test_socket_bio_read_and_write_pass_the_same_descriptor_field),
		cmocka_unit_test(test_descriptor_field_is_refused_when_unsure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
