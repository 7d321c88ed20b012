/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* render_db.h - the database client families of a snapshot -> exposition text. Pure. */
#ifndef SOCKEYE_RENDER_DB_H
#define SOCKEYE_RENDER_DB_H

#include "db_snapshot.h"
#include "expo.h"

/* render_db and render_db_self are sections of render.c (render_group.h). */

/* db_system_name of an enum sockeye_db_system ("" when unknown). */
const char *render_db_system_name(unsigned int system);

#endif /* SOCKEYE_RENDER_DB_H */
