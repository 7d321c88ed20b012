/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* hist.bpf.h - the one histogram helper: a value's bucket among a family's bounds, and the
 * atomic add of (count, sum, bucket). Every family's histogram goes through it with its own
 * bounds: HTTP durations (bounds_ns) and body sizes (size_bounds), TCP round-trip times
 * (rtt_bounds_us), database operation durations (db_bounds_ns).
 *
 * Bounds are rodata written by the loader before load: the verifier sees them as constants.
 */
#ifndef SOCKEYE_HIST_BPF_H
#define SOCKEYE_HIST_BPF_H

#include "sockeye.h"

/* db_client_operation_duration_seconds: its bucket bounds in ns (the OpenTelemetry advice for
 * database durations, 0.5 ms .. 10 s). The loader may write others (the database families'
 * configuration); the histogram value is struct sockeye_http_val, so at most
 * SOCKEYE_MAX_BUCKETS of them. */
const volatile __u64 db_bounds_ns[SOCKEYE_MAX_BUCKETS] = {
	500000ULL,     1000000ULL,    2500000ULL,    5000000ULL,	  10000000ULL,
	25000000ULL,   50000000ULL,   100000000ULL,  250000000ULL,	  500000000ULL,
	1000000000ULL, 2500000000ULL, 5000000000ULL, 10000000000ULL,
};
const volatile __u32 n_db_bounds = 14;

/* The slot of v among the first n of max ascending bounds: slot i counts values in
 * (bounds[i-1], bounds[i]], slot n those above every bound. max is a constant at every call
 * (HIST_SLOT), which bounds the loop for the verifier. */
static __always_inline __u32 hist_slot(const volatile __u64 *bounds, __u32 n, const __u32 max,
				       __u64 v)
{
	__u32 i;

	for (i = 0; i < max; i++) {
		if (i >= n || v <= bounds[i])
			break;
	}
	return i;
}

#define HIST_SLOT(bounds, n, v) hist_slot(bounds, n, sizeof(bounds) / sizeof((bounds)[0]), v)

/* Adds v to a histogram of max + 1 buckets (the last one above every bound). Atomic although
 * the maps are per CPU: a program interrupting this one on its CPU may add to the same value.
 * The clamp is the index check the verifier needs, in the register that indexes. */
static __always_inline void hist_add(__u64 *count, __u64 *sum, __u64 *buckets, const __u32 max,
				     __u32 slot, __u64 v)
{
	__sync_fetch_and_add(count, 1);
	__sync_fetch_and_add(sum, v);
	if (slot > max)
		slot = max;
	__sync_fetch_and_add(&buckets[slot], 1);
}

/* A duration (ns) into a database operation histogram, over db_bounds_ns. A global function:
 * the bucket search branches once per bound, and inlined, each branch would carry the rest of
 * its caller through the verifier again. Only verified in objects that call it. */
__noinline int sockeye_db_dur_add(struct sockeye_http_val *h, __u64 ns)
{
	__u32 slot = HIST_SLOT(db_bounds_ns, n_db_bounds, ns);

	if (!h)
		return 0;
	hist_add(&h->count, &h->sum_ns, h->buckets, SOCKEYE_MAX_BUCKETS, slot, ns);
	return 0;
}

#endif /* SOCKEYE_HIST_BPF_H */
