/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* render_db.h - the database client families of a snapshot -> exposition text. Pure. */
#ifndef SOCKEYE_RENDER_DB_H
#define SOCKEYE_RENDER_DB_H

#include "db_snapshot.h"
#include "expo.h"

/* db_client_operation_duration_seconds, db_client_connections and
 * sockeye_db_client_cache_lookups_total (nothing when ds is NULL). */
void render_db(const struct expo *w, const struct sockeye_db_snapshot *ds);
/* <prefix>db_parser_events_total (nothing when ds is NULL). */
void render_db_self(const struct expo *w, const char *prefix, const struct sockeye_db_snapshot *ds);

/* db_system_name of an enum sockeye_db_system ("" when unknown). */
const char *render_db_system_name(unsigned int system);

#endif /* SOCKEYE_RENDER_DB_H */
