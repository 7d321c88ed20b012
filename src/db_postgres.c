// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* db_postgres.c - the statement keywords exported as db_operation_name for PostgreSQL: the
 * first word of every SQL command in PostgreSQL 15's reference ("SQL Commands"), once each.
 * Any other leading word is exported as _OTHER. */
#include <linux/types.h>

#include "db_ops.h"

const char *const db_postgres_keywords[] = {
	"ABORT",      "ALTER",	   "ANALYZE",	 "BEGIN",     "CALL",	  "CHECKPOINT",
	"CLOSE",      "CLUSTER",   "COMMENT",	 "COMMIT",    "COPY",	  "CREATE",
	"DEALLOCATE", "DECLARE",   "DELETE",	 "DISCARD",   "DO",	  "DROP",
	"END",	      "EXECUTE",   "EXPLAIN",	 "FETCH",     "GRANT",	  "IMPORT",
	"INSERT",     "LISTEN",	   "LOAD",	 "LOCK",      "MERGE",	  "MOVE",
	"NOTIFY",     "PREPARE",   "REASSIGN",	 "REFRESH",   "REINDEX",  "RELEASE",
	"RESET",      "REVOKE",	   "ROLLBACK",	 "SAVEPOINT", "SECURITY", "SELECT",
	"SET",	      "SHOW",	   "START",	 "TABLE",     "TRUNCATE", "UNLISTEN",
	"UPDATE",     "VACUUM",	   "VALUES",	 "WITH",
};
const size_t db_n_postgres_keywords =
	sizeof(db_postgres_keywords) / sizeof(db_postgres_keywords[0]);
