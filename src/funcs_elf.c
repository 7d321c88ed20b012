// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* funcs_elf.c - finds a declared function symbol (symtab, then dynsym) or USDT probe
 * (.note.stapsdt) in an ELF file, and the cheapest correct place to probe a function. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "funcs_elf.h"

#if defined(__x86_64__)
#define HOST_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define HOST_MACHINE EM_AARCH64
#else
#error "funcs_elf.c: unsupported architecture"
#endif

#define NT_STAPSDT	  3
#define CODE_BYTES	  16
#define MAX_EXEC_SEGMENTS 8

struct exec_seg {
	uint64_t vaddr, offset, filesz;
};

struct elf_file {
	int fd;
	Elf *elf;
	struct exec_seg segs[MAX_EXEC_SEGMENTS];
	size_t n_segs;
};

size_t funcs_elf_probe_point(const unsigned char *code, size_t n, bool *emulated)
{
	size_t o = 0;

	*emulated = false;
#if defined(__x86_64__)
	if (n >= 4 && code[0] == 0xf3 && code[1] == 0x0f && code[2] == 0x1e && code[3] == 0xfa)
		o = 4; /* endbr64 */
	if (o < n && code[o] >= 0x50 && code[o] <= 0x57) {
		*emulated = true; /* push %rax..%rdi */
		return o;
	}
	if (o + 1 < n && code[o] == 0x41 && code[o + 1] >= 0x50 && code[o + 1] <= 0x57) {
		*emulated = true; /* push %r8..%r15 */
		return o;
	}
#endif
	return 0; /* the entry itself: arguments are in place only there */
}

static void elf_close(struct elf_file *e)
{
	if (e->elf)
		elf_end(e->elf);
	if (e->fd >= 0)
		close(e->fd);
	e->elf = NULL;
	e->fd = -1;
}

static int elf_open(const char *path, struct elf_file *e, struct funcs_target *t, char *why,
		    size_t len)
{
	GElf_Ehdr eh;
	struct stat st;
	size_t nph;

	memset(e, 0, sizeof(*e));
	e->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (e->fd < 0) {
		int err = -errno;

		snprintf(why, len, "%s: %s", path, strerror(-err));
		return err;
	}
	if (fstat(e->fd, &st) || !S_ISREG(st.st_mode)) {
		snprintf(why, len, "%s: not a regular file", path);
		return -EINVAL;
	}
	t->dev = st.st_dev;
	t->ino = st.st_ino;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EINVAL;
	e->elf = elf_begin(e->fd, ELF_C_READ_MMAP, NULL);
	if (!e->elf || elf_kind(e->elf) != ELF_K_ELF || !gelf_getehdr(e->elf, &eh) ||
	    elf_getphdrnum(e->elf, &nph)) {
		snprintf(why, len, "%s: not an ELF file", path);
		return -ENOEXEC;
	}
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != HOST_MACHINE) {
		snprintf(why, len, "%s: not an ELF file for this machine", path);
		return -ENOEXEC;
	}
	if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) {
		snprintf(why, len, "%s: not an executable or a shared library", path);
		return -ENOEXEC;
	}
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(e->elf, (int)i, &ph) || ph.p_type != PT_LOAD ||
		    !(ph.p_flags & PF_X) || e->n_segs == MAX_EXEC_SEGMENTS)
			continue;
		e->segs[e->n_segs++] = (struct exec_seg){ph.p_vaddr, ph.p_offset, ph.p_filesz};
	}
	return 0;
}

/* What a symbol table says about name: defined functions (their addresses; aliases of one
 * function count once), and whether it is there undefined or as an IFUNC resolver. */
struct sym_search {
	const char *name;
	uint64_t addr[4];
	size_t n_addr;
	bool undefined;
	bool ifunc;
};

static void search_table(Elf *elf, Elf_Scn *scn, struct sym_search *s)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	GElf_Shdr sh;
	size_t n;

	if (!data || !gelf_getshdr(scn, &sh) || !sh.sh_entsize)
		return;
	n = sh.sh_size / sh.sh_entsize;
	for (size_t i = 0; i < n; i++) {
		GElf_Sym sym;
		const char *name;
		int type;

		if (!gelf_getsym(data, (int)i, &sym))
			continue;
		name = elf_strptr(elf, sh.sh_link, sym.st_name);
		if (!name || strcmp(name, s->name) != 0)
			continue;
		type = GELF_ST_TYPE(sym.st_info);
		if (sym.st_shndx == SHN_UNDEF) {
			s->undefined = true;
			continue;
		}
		if (type == STT_GNU_IFUNC) {
			s->ifunc = true;
			continue;
		}
		if (type != STT_FUNC || !sym.st_value)
			continue;
		bool seen = false;

		for (size_t k = 0; k < s->n_addr; k++)
			seen |= s->addr[k] == sym.st_value;
		if (!seen && s->n_addr < sizeof(s->addr) / sizeof(s->addr[0]))
			s->addr[s->n_addr++] = sym.st_value;
	}
}

static int resolve_symbol(struct elf_file *e, const struct sockeye_func_cfg *f,
			  struct funcs_target *t, char *why, size_t len)
{
	struct sym_search s = {.name = f->symbol};
	unsigned char code[CODE_BYTES] = {0};
	Elf_Scn *scn = NULL, *symtab = NULL, *dynsym = NULL;
	uint64_t addr;
	size_t i, skip;
	ssize_t got;

	while ((scn = elf_nextscn(e->elf, scn))) {
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_SYMTAB)
			symtab = scn;
		else if (sh.sh_type == SHT_DYNSYM)
			dynsym = scn;
	}
	if (symtab)
		search_table(e->elf, symtab, &s);
	if (!s.n_addr && dynsym)
		search_table(e->elf, dynsym, &s);
	if (!s.n_addr) {
		if (s.ifunc)
			snprintf(why, len,
				 "'%s' in %s is an IFUNC resolver, not the function it selects: "
				 "declare the implementation's symbol",
				 f->symbol, f->binary);
		else if (s.undefined)
			snprintf(why, len,
				 "'%s' is not defined in %s, only imported: declare it on the "
				 "shared library that defines it",
				 f->symbol, f->binary);
		else
			snprintf(why, len, "no function symbol '%s' in %s%s", f->symbol, f->binary,
				 symtab ? "" : " (it has no symtab, only dynamic symbols)");
		return -ENOENT;
	}
	if (s.n_addr > 1) {
		snprintf(why, len, "%zu different functions are named '%s' in %s", s.n_addr,
			 f->symbol, f->binary);
		return -ENOTUNIQ;
	}
	addr = s.addr[0];
	for (i = 0; i < e->n_segs; i++)
		if (addr >= e->segs[i].vaddr && addr < e->segs[i].vaddr + e->segs[i].filesz)
			break;
	if (i == e->n_segs) {
		snprintf(why, len, "'%s' in %s is not in an executable segment", f->symbol,
			 f->binary);
		return -ENOEXEC;
	}
	t->offset = addr - e->segs[i].vaddr + e->segs[i].offset;
	got = pread(e->fd, code, sizeof(code), (off_t)t->offset);
	if (got < 0)
		got = 0;
	skip = funcs_elf_probe_point(code, (size_t)got, &t->emulated);
	t->skipped_endbr = skip > 0;
	t->offset += skip;
	return 0;
}

/* The argument count of a USDT site: its argument string is space-separated "size@location". */
static uint32_t count_args(const char *a, size_t n)
{
	uint32_t count = 0;
	int in = 0;

	for (size_t i = 0; i < n && a[i]; i++) {
		if (a[i] == ' ') {
			in = 0;
		} else if (!in) {
			in = 1;
			count++;
		}
	}
	return count;
}

/* Whether libbpf 1.1 reads every argument of a USDT site: it knows a register (-4@%eax), a
 * register and an offset (8@-16(%rbp)) and a constant (4@$7), not a base and an index
 * register (8@(%r14,%rax,8), which gcc emits for array elements). It refuses to attach a
 * site with any argument it cannot read. Copies the first such argument into bad. */
static bool usdt_args_readable(const char *a, size_t n, char *bad, size_t len)
{
	size_t i = 0;

	while (i < n && a[i]) {
		size_t start, end;
		const char *at;

		while (i < n && a[i] == ' ')
			i++;
		start = i;
		while (i < n && a[i] && a[i] != ' ')
			i++;
		end = i;
		if (end == start)
			break;
		at = memchr(a + start, '@', end - start);
		if (!at || memchr(a + start, ',', end - start)) {
			snprintf(bad, len, "%.*s", (int)(end - start), a + start);
			return false;
		}
	}
	return true;
}

static int resolve_usdt(struct elf_file *e, const struct sockeye_func_cfg *f,
			struct funcs_target *t, char *why, size_t len)
{
	Elf_Scn *scn = NULL;
	uint32_t fewest = UINT32_MAX;
	char bad[128] = "";

	while ((scn = elf_nextscn(e->elf, scn))) {
		Elf_Data *data;
		GElf_Shdr sh;
		GElf_Nhdr nh;
		size_t off = 0, name_off, desc_off;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		data = elf_getdata(scn, NULL);
		if (!data)
			continue;
		while ((off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
			const char *name = (const char *)data->d_buf + name_off;
			const char *desc = (const char *)data->d_buf + desc_off;
			size_t plen, nlen, rest;
			const char *prov, *probe, *args;

			if (nh.n_type != NT_STAPSDT || nh.n_namesz != 8 ||
			    memcmp(name, "stapsdt", 8) != 0 || nh.n_descsz < 3 * 8 + 3)
				continue;
			/* pc, base, semaphore (8 bytes each), then provider\0 name\0 args\0 */
			prov = desc + 24;
			rest = nh.n_descsz - 24;
			plen = strnlen(prov, rest);
			if (plen == rest)
				continue;
			probe = prov + plen + 1;
			rest -= plen + 1;
			nlen = strnlen(probe, rest);
			if (nlen == rest)
				continue;
			args = probe + nlen + 1;
			rest -= nlen + 1;
			if (strcmp(prov, f->usdt_provider) != 0 || strcmp(probe, f->usdt_name) != 0)
				continue;
			t->usdt_sites++;
			if (count_args(args, rest) < fewest)
				fewest = count_args(args, rest);
			if (!bad[0])
				usdt_args_readable(args, rest, bad, sizeof(bad));
		}
	}
	if (!t->usdt_sites) {
		snprintf(why, len, "no USDT probe '%s:%s' in %s (readelf -n lists them)",
			 f->usdt_provider, f->usdt_name, f->binary);
		return -ENOENT;
	}
	t->usdt_args = fewest;
	if (bad[0]) {
		snprintf(
			why, len,
			"USDT probe '%s:%s' in %s has an argument libbpf cannot read: '%s' (a base "
			"and an index register)",
			f->usdt_provider, f->usdt_name, f->binary, bad);
		return -ENOTSUP;
	}
	return 0;
}

int funcs_elf_resolve(const struct sockeye_func_cfg *f, struct funcs_target *out, char *why,
		      size_t why_len, struct config_mark *at)
{
	struct elf_file e;
	int err;

	memset(out, 0, sizeof(*out));
	why[0] = '\0';
	*at = f->binary_at;
	err = elf_open(f->binary, &e, out, why, why_len);
	if (!err) {
		*at = f->probe_at;
		err = f->usdt_name ? resolve_usdt(&e, f, out, why, why_len)
				   : resolve_symbol(&e, f, out, why, why_len);
	}
	elf_close(&e);
	if (err || !f->usdt_name)
		return err;
	for (size_t i = 0; i < f->n_labels; i++) {
		uint32_t arg = f->labels[i].src - SOCKEYE_FUNC_SRC_ARG1 + 1;

		if (arg > out->usdt_args) {
			*at = f->labels[i].from_at;
			snprintf(why, why_len, "USDT probe '%s:%s' in %s has %u argument%s, not %u",
				 f->usdt_provider, f->usdt_name, f->binary, out->usdt_args,
				 out->usdt_args == 1 ? "" : "s", arg);
			return -EINVAL;
		}
	}
	if (f->value_src && (uint32_t)(f->value_src - SOCKEYE_FUNC_SRC_ARG1 + 1) > out->usdt_args) {
		*at = f->value_at;
		snprintf(why, why_len, "USDT probe '%s:%s' in %s has %u argument%s, not %u",
			 f->usdt_provider, f->usdt_name, f->binary, out->usdt_args,
			 out->usdt_args == 1 ? "" : "s", f->value_src - SOCKEYE_FUNC_SRC_ARG1 + 1);
		return -EINVAL;
	}
	return 0;
}

int funcs_elf_check_config(const struct sockeye_config *cfg)
{
	int err = 0;

	for (size_t i = 0; i < cfg->n_functions; i++) {
		const struct sockeye_func_cfg *f = &cfg->functions[i];
		struct funcs_target t;
		struct config_mark at;
		char why[512];

		if (funcs_elf_resolve(f, &t, why, sizeof(why), &at) == 0)
			continue;
		fprintf(stderr, "%s:%u:%u: functions[]: %s\n", cfg->config_file, at.line, at.column,
			why);
		err = -EINVAL;
	}
	return err;
}
