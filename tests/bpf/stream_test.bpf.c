// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* stream_test.bpf.c - the agent's socket hooks (bpf/sockeye.bpf.c, unchanged) with one more
 * protocol module registered: tests/bpf/stream_probe.bpf.h (the path is relative to
 * bpf/protocols.bpf.h, which includes it). For tests/bpf/test_stream.c only. */
#define STREAM_TEST_MODULE "../tests/bpf/stream_probe.bpf.h"
#include "sockeye.bpf.c"
