/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* tls_elf.h - what the TLS probes need to know of a shared library file: its exported
 * functions, its code by address, its imports (GOT entries, PLT stubs) and the pointers its
 * relocations fill in. */
#ifndef SOCKEYE_TLS_ELF_H
#define SOCKEYE_TLS_ELF_H

#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>

struct tls_elf;

/* Reads the ELF file open at fd (kept open by the caller until tls_elf_close); name is for
 * messages. NULL with errno set (and a warning logged) when it is not a readable ELF file with
 * a dynamic symbol table. */
struct tls_elf *tls_elf_open(int fd, const char *name);
void tls_elf_close(struct tls_elf *e); /* NULL-safe */

bool tls_elf_x86_64(const struct tls_elf *e);
/* The address of an exported function (its default version). -ENOENT if not exported. */
int tls_elf_func(const struct tls_elf *e, const char *name, __u64 *vaddr);
/* The file offset of an address in the library's code (what a uprobe is attached at). */
int tls_elf_code_offset(const struct tls_elf *e, __u64 vaddr, size_t *off);
/* Up to n bytes of code at vaddr; returns how many (0 outside the code). */
size_t tls_elf_code(const struct tls_elf *e, __u64 vaddr, unsigned char *buf, size_t n);
bool tls_elf_in_plt(const struct tls_elf *e, __u64 vaddr);
/* The GOT entry the dynamic linker fills with the address of the imported function name. */
int tls_elf_got_entry(const struct tls_elf *e, const char *name, __u64 *vaddr);
/* The imported function a PLT stub at vaddr jumps to, NULL if vaddr is not one. */
const char *tls_elf_plt_import(const struct tls_elf *e, __u64 vaddr);
/* The addresses R_X86_64_RELATIVE relocations store in [lo, hi) (a static table of pointers,
 * such as a BIO_METHOD), in address order; returns how many (at most max). */
size_t tls_elf_pointers(const struct tls_elf *e, __u64 lo, __u64 hi, __u64 *out, size_t max);
/* The first DT_NEEDED entry starting with prefix ("libcrypto.so"), NULL if none. */
const char *tls_elf_needed(const struct tls_elf *e, const char *prefix);

#endif /* SOCKEYE_TLS_ELF_H */
