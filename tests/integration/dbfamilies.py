# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""dbfamilies.py - reading the database client families of a scrape for one db_system_name, as
test_redis.py and test_postgres.py do: every label but the ones named is summed over (identity,
cgroup); a test's series are those of its server's port."""

from harness import fail, wait_until

DUR = "db_client_operation_duration_seconds"
CONNS = "db_client_connections"
CACHE = "sockeye_db_client_cache_lookups_total"
EVENTS = "sockeye_db_parser_events_total"
# A reply is counted while the kernel handles its segment, before the client reads it; a close
# on the state tracepoint, maybe just after the client returned. Gauges and close effects are
# scraped again until they show, for at most this long.
SETTLE_TIMEOUT = 5.0


def delta(after, before):
    return {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before)
            if after.get(k, 0) - before.get(k, 0)}


class DbFamilies:
    def __init__(self, system):
        self.system = system

    def _mine(self, lab, port):
        return lab.get("server_port") == str(port) and lab.get("db_system_name") == self.system

    def ops(self, scrape, port):
        """{(op, status, error_type): count} of the duration histogram at port."""
        out = {}
        for n, lab, v in scrape.samples:
            if n == DUR + "_count" and self._mine(lab, port):
                k = (lab.get("db_operation_name"), lab.get("db_response_status_code", ""),
                     lab.get("error_type", ""))
                out[k] = out.get(k, 0) + v
        return out

    def buckets(self, scrape, port, op):
        """{le: cumulative count} of op (successes) at port."""
        out = {}
        for n, lab, v in scrape.samples:
            if n == DUR + "_bucket" and self._mine(lab, port) and \
                    lab.get("db_operation_name") == op and "error_type" not in lab:
                out[lab["le"]] = out.get(lab["le"], 0) + v
        return out

    def gauges(self, scrape, port):
        return {st: scrape.value(CONNS, server_port=port, db_system_name=self.system,
                                 db_client_connection_state=st) for st in ("idle", "used")}

    def event(self, scrape, name):
        return scrape.value(EVENTS, db_system_name=self.system, event=name)

    def expect_gauges(self, env, port, idle, used):
        def get():
            g = self.gauges(env.agent.scrape(), port)
            return g if g == {"idle": idle, "used": used} else None

        if wait_until(get, SETTLE_TIMEOUT) is None:
            fail("connection gauges at port %d: %s, want idle=%d used=%d" %
                 (port, self.gauges(env.agent.scrape(), port), idle, used))
