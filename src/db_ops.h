/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* db_ops.h - the operation names the db client families export as themselves (db_ops map);
 * any other name is exported as "_OTHER", so the label's values are a known, bounded set. */
#ifndef SOCKEYE_DB_OPS_H
#define SOCKEYE_DB_OPS_H

#include <stddef.h>

#include "sockeye_db.h"

/* Adds names[0..n) for system to the db_ops map ops_fd. A name is what the kernel module
 * writes in an op field: upper-case ASCII, at most SOCKEYE_DB_NAME_LEN bytes (a longer one
 * cannot be told from another with the same first 16 bytes, so it is skipped, logged, and
 * exported as _OTHER; as is one with a byte outside A-Z 0-9 _ - . and space). Returns the
 * number of names added, or a negative errno when the map refused one (full: logged). */
int db_ops_register(int ops_fd, enum sockeye_db_system system, const char *const *names,
		    size_t n);

/* Whether name may be registered (the rules above); exposed for tests. */
int db_ops_valid_name(const char *name);

/* The Redis command names (COMMAND LIST of Redis 7.0, subcommands left out: CONFIG GET is
 * CONFIG). */
extern const char *const db_redis_commands[];
extern const size_t db_n_redis_commands;

/* The PostgreSQL statement keywords (the first words of PostgreSQL 15's SQL commands). */
extern const char *const db_postgres_keywords[];
extern const size_t db_n_postgres_keywords;

#endif /* SOCKEYE_DB_OPS_H */
