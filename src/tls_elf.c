// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* tls_elf.c - reads a shared library file for the TLS probes: exported functions, code by
 * address, PLT stubs and GOT entries of imports, pointers filled in by relocations. */
#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "tls_elf.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#ifndef R_X86_64_GLOB_DAT
#define R_X86_64_GLOB_DAT 6
#endif
#ifndef R_X86_64_JUMP_SLOT
#define R_X86_64_JUMP_SLOT 7
#endif
#ifndef R_X86_64_RELATIVE
#define R_X86_64_RELATIVE 8
#endif

struct reloc {
	__u64 offset;
	__s64 addend;
	__u32 type;
	__u32 sym;
};

struct tls_elf {
	int fd;
	Elf *elf;
	bool x86_64;
	struct {
		__u64 vaddr, offset, filesz;
	} text[8]; /* executable PT_LOAD segments */
	size_t n_text;
	__u64 plt_lo[3], plt_hi[3]; /* .plt, .plt.got, .plt.sec */
	size_t n_plt;
	Elf_Data *dynsym, *versym;
	size_t dynstr, n_syms;
	struct reloc *relocs; /* every SHT_RELA entry, sorted by offset */
	size_t n_relocs;
	const char *needed[16];
	size_t n_needed;
};

static int reloc_cmp(const void *a, const void *b)
{
	const struct reloc *x = a, *y = b;

	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int read_relocs(struct tls_elf *e, Elf_Scn *scn, const GElf_Shdr *sh)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t n = sh->sh_entsize ? sh->sh_size / sh->sh_entsize : 0;
	struct reloc *grown;

	if (!data || !n)
		return 0;
	grown = realloc(e->relocs, (e->n_relocs + n) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	e->relocs = grown;
	for (size_t i = 0; i < n; i++) {
		GElf_Rela r;

		if (!gelf_getrela(data, i, &r))
			continue;
		e->relocs[e->n_relocs++] = (struct reloc){
			.offset = r.r_offset,
			.addend = r.r_addend,
			.type = GELF_R_TYPE(r.r_info),
			.sym = GELF_R_SYM(r.r_info),
		};
	}
	return 0;
}

static void read_dynamic(struct tls_elf *e, Elf_Scn *scn, const GElf_Shdr *sh)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t n = sh->sh_entsize ? sh->sh_size / sh->sh_entsize : 0;

	for (size_t i = 0; data && i < n && e->n_needed < ARRAY_SIZE(e->needed); i++) {
		GElf_Dyn d;
		const char *name;

		if (!gelf_getdyn(data, i, &d) || d.d_tag != DT_NEEDED)
			continue;
		name = elf_strptr(e->elf, sh->sh_link, d.d_un.d_val);
		if (name)
			e->needed[e->n_needed++] = name;
	}
}

struct tls_elf *tls_elf_open(int fd, const char *name)
{
	struct tls_elf *e = calloc(1, sizeof(*e));
	Elf_Scn *scn = NULL;
	GElf_Ehdr eh;
	size_t shstrndx, nph;
	int err = -ENOEXEC;

	if (!e)
		return NULL;
	e->fd = fd;
	if (elf_version(EV_CURRENT) == EV_NONE) {
		err = -EINVAL;
		goto fail;
	}
	e->elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!e->elf || !gelf_getehdr(e->elf, &eh) || elf_getshdrstrndx(e->elf, &shstrndx) ||
	    elf_getphdrnum(e->elf, &nph)) {
		pr_warn("TLS: %s: not a readable ELF file: %s", name, elf_errmsg(-1));
		goto fail;
	}
	e->x86_64 = eh.e_machine == EM_X86_64;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(e->elf, i, &ph) || ph.p_type != PT_LOAD || !(ph.p_flags & PF_X) ||
		    e->n_text == ARRAY_SIZE(e->text))
			continue;
		e->text[e->n_text].vaddr = ph.p_vaddr;
		e->text[e->n_text].offset = ph.p_offset;
		e->text[e->n_text].filesz = ph.p_filesz;
		e->n_text++;
	}
	while ((scn = elf_nextscn(e->elf, scn))) {
		GElf_Shdr sh;
		const char *sname;

		if (!gelf_getshdr(scn, &sh))
			continue;
		sname = elf_strptr(e->elf, shstrndx, sh.sh_name);
		if (sh.sh_type == SHT_DYNSYM) {
			e->dynsym = elf_getdata(scn, NULL);
			e->dynstr = sh.sh_link;
			e->n_syms = sh.sh_entsize ? sh.sh_size / sh.sh_entsize : 0;
		} else if (sh.sh_type == SHT_GNU_versym) {
			e->versym = elf_getdata(scn, NULL);
		} else if (sh.sh_type == SHT_RELA) {
			if (read_relocs(e, scn, &sh)) {
				err = -ENOMEM;
				goto fail;
			}
		} else if (sh.sh_type == SHT_DYNAMIC) {
			read_dynamic(e, scn, &sh);
		} else if (sname && e->n_plt < ARRAY_SIZE(e->plt_lo) &&
			   (!strcmp(sname, ".plt") || !strcmp(sname, ".plt.got") ||
			    !strcmp(sname, ".plt.sec"))) {
			e->plt_lo[e->n_plt] = sh.sh_addr;
			e->plt_hi[e->n_plt] = sh.sh_addr + sh.sh_size;
			e->n_plt++;
		}
	}
	if (!e->dynsym) {
		pr_warn("TLS: %s: no dynamic symbol table", name);
		err = -ENOEXEC;
		goto fail;
	}
	if (e->n_relocs) /* qsort's array must not be NULL, even empty (UBSan, fuzz_tls_elf) */
		qsort(e->relocs, e->n_relocs, sizeof(*e->relocs), reloc_cmp);
	return e;
fail:
	tls_elf_close(e);
	errno = -err;
	return NULL;
}

void tls_elf_close(struct tls_elf *e)
{
	if (!e)
		return;
	if (e->elf)
		elf_end(e->elf);
	free(e->relocs);
	free(e);
}

bool tls_elf_x86_64(const struct tls_elf *e)
{
	return e->x86_64;
}

static const char *sym_name(const struct tls_elf *e, size_t i, GElf_Sym *sym)
{
	if (i >= e->n_syms || !gelf_getsym(e->dynsym, i, sym))
		return NULL;
	return elf_strptr(e->elf, e->dynstr, sym->st_name);
}

int tls_elf_func(const struct tls_elf *e, const char *name, __u64 *vaddr)
{
	bool have = false, have_hidden = false;

	for (size_t i = 0; i < e->n_syms; i++) {
		GElf_Sym sym;
		GElf_Versym vs = 0;
		const char *n = sym_name(e, i, &sym);
		bool hidden;

		if (!n || strcmp(n, name) != 0 || GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
		    sym.st_shndx == SHN_UNDEF || !sym.st_value)
			continue;
		if (e->versym)
			gelf_getversym(e->versym, i, &vs);
		hidden = vs & 0x8000; /* a non-default version of the symbol */
		if (have && (hidden || !have_hidden))
			continue; /* keep the default version */
		have = true;
		have_hidden = hidden;
		*vaddr = sym.st_value;
	}
	return have ? 0 : -ENOENT;
}

int tls_elf_code_offset(const struct tls_elf *e, __u64 vaddr, size_t *off)
{
	for (size_t i = 0; i < e->n_text; i++) {
		if (vaddr >= e->text[i].vaddr && vaddr < e->text[i].vaddr + e->text[i].filesz) {
			*off = vaddr - e->text[i].vaddr + e->text[i].offset;
			return 0;
		}
	}
	return -ENOENT;
}

size_t tls_elf_code(const struct tls_elf *e, __u64 vaddr, unsigned char *buf, size_t n)
{
	for (size_t i = 0; i < e->n_text; i++) {
		__u64 end = e->text[i].vaddr + e->text[i].filesz;
		ssize_t r;

		if (vaddr < e->text[i].vaddr || vaddr >= end)
			continue;
		if (n > end - vaddr)
			n = end - vaddr;
		r = pread(e->fd, buf, n, vaddr - e->text[i].vaddr + e->text[i].offset);
		return r > 0 ? (size_t)r : 0;
	}
	return 0;
}

bool tls_elf_in_plt(const struct tls_elf *e, __u64 vaddr)
{
	for (size_t i = 0; i < e->n_plt; i++)
		if (vaddr >= e->plt_lo[i] && vaddr < e->plt_hi[i])
			return true;
	return false;
}

/* The relocation of a GOT entry that the dynamic linker fills with an import's address. */
static const struct reloc *import_reloc(const struct tls_elf *e, __u64 offset)
{
	size_t lo = 0, hi = e->n_relocs;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (e->relocs[mid].offset < offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < e->n_relocs && e->relocs[lo].offset == offset; lo++)
		if (e->relocs[lo].type == R_X86_64_JUMP_SLOT ||
		    e->relocs[lo].type == R_X86_64_GLOB_DAT)
			return &e->relocs[lo];
	return NULL;
}

int tls_elf_got_entry(const struct tls_elf *e, const char *name, __u64 *vaddr)
{
	if (!e->x86_64)
		return -ENOENT;
	for (size_t i = 0; i < e->n_relocs; i++) {
		const struct reloc *r = &e->relocs[i];
		GElf_Sym sym;
		const char *n;

		if ((r->type != R_X86_64_JUMP_SLOT && r->type != R_X86_64_GLOB_DAT) || !r->sym)
			continue;
		n = sym_name(e, r->sym, &sym);
		if (n && strcmp(n, name) == 0 && sym.st_shndx == SHN_UNDEF) {
			*vaddr = r->offset;
			return 0;
		}
	}
	return -ENOENT;
}

const char *tls_elf_plt_import(const struct tls_elf *e, __u64 vaddr)
{
	unsigned char c[16];
	size_t n, i = 0;
	const struct reloc *r;
	GElf_Sym sym;
	__s32 disp;

	if (!e->x86_64 || !tls_elf_in_plt(e, vaddr))
		return NULL;
	n = tls_elf_code(e, vaddr, c, sizeof(c));
	if (n >= 4 && c[0] == 0xf3 && c[1] == 0x0f && c[2] == 0x1e && c[3] == 0xfa)
		i = 4; /* endbr64 */
	if (i < n && c[i] == 0xf2)
		i++; /* bnd */
	if (i + 6 > n || c[i] != 0xff || c[i + 1] != 0x25)
		return NULL; /* not jmp *disp32(%rip) */
	memcpy(&disp, c + i + 2, 4);
	r = import_reloc(e, vaddr + i + 6 + (__s64)disp);
	if (!r || !r->sym)
		return NULL;
	return sym_name(e, r->sym, &sym);
}

size_t tls_elf_pointers(const struct tls_elf *e, __u64 lo, __u64 hi, __u64 *out, size_t max)
{
	size_t n = 0;

	if (!e->x86_64)
		return 0;
	for (size_t i = 0; i < e->n_relocs && n < max; i++) {
		const struct reloc *r = &e->relocs[i];

		if (r->offset >= lo && r->offset < hi && r->type == R_X86_64_RELATIVE)
			out[n++] = (__u64)r->addend;
	}
	return n;
}

const char *tls_elf_needed(const struct tls_elf *e, const char *prefix)
{
	for (size_t i = 0; i < e->n_needed; i++)
		if (strncmp(e->needed[i], prefix, strlen(prefix)) == 0)
			return e->needed[i];
	return NULL;
}
