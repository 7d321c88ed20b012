/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* tls_derive.h - where to probe a libssl build and what its probes need to know, derived from
 * the build's own code (and that of the libcrypto it uses): the internal read/write functions,
 * SSL_free's cheap point, and the struct offsets from an SSL object to its socket's
 * descriptor. */
#ifndef SOCKEYE_TLS_DERIVE_H
#define SOCKEYE_TLS_DERIVE_H

#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>

#include "sockeye.h"
#include "snapshot.h"

struct tls_elf;

enum tls_sym {
	TLS_SYM_READ,
	TLS_SYM_WRITE,
	TLS_SYM_READ_EX,
	TLS_SYM_WRITE_EX,
	TLS_SYM_FREE,
	TLS_SYM_MAX
};
extern const char *const tls_sym_names[TLS_SYM_MAX];

/* A probed instruction: file offset (where the uprobe goes) and address in the library. */
struct tls_point {
	size_t off;
	__u64 vaddr;
};

struct tls_plan {
	enum sockeye_tls_mode mode;
	struct tls_point read, write; /* internal mode */
	bool have[TLS_SYM_MAX];	      /* public symbols */
	struct tls_point sym[TLS_SYM_MAX];
	struct tls_point free_at;
	bool free_cheap;
	char why[160]; /* why not internal */

	/* The socket BIO lookup (sockeye_tls_lib); fd_ok when every part was derived. */
	bool fd_ok;
	struct sockeye_tls_lib lib;
	__u64 got_socket; /* the libssl GOT entry of BIO_s_socket */
	char fd_why[160]; /* why not */
};

/* The libssl at fd (name for messages): its symbols, and, unless public_only, its internal
 * read/write functions (mode stays public with the reason in why when they do not pass the
 * checks), SSL_free's probe point, and the libssl half of the socket BIO lookup. Returns 0, or
 * -ENOENT (logged) when the file has no SSL_read/SSL_write. */
int tls_derive_ssl(struct tls_elf *ssl, const char *name, bool public_only, struct tls_plan *p);
/* The libcrypto half of the socket BIO lookup, from the libcrypto (at its file) the libssl
 * uses; sets fd_ok when both halves are there, else the reason in fd_why. */
void tls_derive_crypto(struct tls_elf *crypto, struct tls_plan *p);

#endif /* SOCKEYE_TLS_DERIVE_H */
