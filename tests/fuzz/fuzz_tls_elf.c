// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* fuzz_tls_elf.c - libFuzzer target: how sockeye finds OpenSSL's probe points in a library file
 * (src/tls_elf.c, tls_derive.c, tls_x86.c): the ELF reader (libelf: program headers, sections, dynamic symbols, versions)
 * and the x86-64 prologue decoder, on random and truncated files (the seeds are small shared
 * objects shaped like libssl). Invariants: no crash or out-of-bounds read, the offsets derived
 * lie in the file, read and write never lead to the same function, and the decoder never
 * reports an instruction past the bytes it was given. */
#include "fuzz.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "log.h"
#include "tls_derive.h"
#include "tls_elf.h"
#include "tls_x86.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_level(LOG_ERROR); /* a warning per malformed file otherwise */
	return 0;
}

/* The decoder on the first bytes of the input as a function start. */
static void decode_prologue(const uint8_t *data, size_t size)
{
	struct tls_call_site site;
	size_t n = size < 96 ? size : 96, off;
	unsigned char *code = malloc(n ? n : 1); /* exactly n bytes: ASan sees any read past */
	uint64_t vaddr = 0;

	CHECK(code, "out of memory");
	memcpy(code, data, n);
	for (size_t i = 0; i < 8 && i < size; i++)
		vaddr = vaddr << 8 | data[size - 1 - i];
	if (tls_x86_first_call(code, n, vaddr, &site) == 0)
		CHECK(site.offset + 5 <= n, "call at %u of %zu bytes", site.offset, n);
	if (tls_x86_cheap_entry(code, n, &off) == 0)
		CHECK(off < n, "entry %zu of %zu", off, n);
	if (tls_x86_free_point(code, n, &off) == 0)
		CHECK(off < n, "free point %zu of %zu", off, n);
	free(code);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tls_plan plan;
	struct tls_elf *e;
	int fd = memfd_create("fuzz-elf", MFD_CLOEXEC);

	decode_prologue(data, size);
	CHECK(fd >= 0, "memfd_create: %s", strerror(errno));
	CHECK(write(fd, data, size) == (ssize_t)size, "write");
	e = tls_elf_open(fd, "fuzz");
	if (e) {
		memset(&plan, 0, sizeof(plan));
		if (tls_derive_ssl(e, "fuzz", false, &plan) == 0) {
			CHECK(memchr(plan.why, '\0', sizeof(plan.why)), "why not NUL-terminated");
			CHECK(memchr(plan.fd_why, '\0', sizeof(plan.fd_why)),
			      "fd_why not NUL-terminated");
			CHECK(plan.have[TLS_SYM_READ] || plan.have[TLS_SYM_READ_EX],
			      "a plan without a read function");
			if (plan.mode == SOCKEYE_TLS_MODE_INTERNAL) {
				CHECK(plan.read.off < size && plan.write.off < size,
				      "offsets %zu/%zu outside a %zu-byte file", plan.read.off,
				      plan.write.off, size);
				CHECK(plan.read.off != plan.write.off,
				      "read and write at the same offset");
			}
			if (plan.have[TLS_SYM_FREE] && plan.free_cheap)
				CHECK(plan.free_at.off < size, "SSL_free point %zu outside a %zu-byte file",
				      plan.free_at.off, size);
		}
		tls_elf_close(e);
	}
	close(fd);
	return 0;
}
