// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* bpfcost.c - development benchmark: ns per run of the real cgroup_skb programs on typical
 * segments, via BPF_PROG_TEST_RUN with repeat (one socket, the same segment again and again;
 * the sequence-number check is switched off through the bench_ignore_seq tunable). */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sockeye.skel.h"

static size_t packet(unsigned char *pkt, const char *payload)
{
	size_t len = strlen(payload);

	memset(pkt, 0, 54);
	pkt[12] = 0x08;
	pkt[14] = 0x45;
	pkt[16] = (40 + len) >> 8, pkt[17] = (40 + len) & 0xff;
	pkt[22] = 64, pkt[23] = 6;
	pkt[26] = 127, pkt[29] = 1, pkt[30] = 127, pkt[33] = 1;
	pkt[34] = 0xc3, pkt[35] = 0x50, pkt[36] = 0x1f, pkt[37] = 0x90;
	pkt[46] = 5 << 4, pkt[47] = 0x18;
	memcpy(pkt + 54, payload, len);
	return 54 + len;
}

static void bench(struct bpf_program *prog, const char *name, const char *payload, int repeat)
{
	static unsigned char pkt[4096];
	size_t n = packet(pkt, payload);
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = n, .repeat = repeat);

	if (bpf_prog_test_run_opts(bpf_program__fd(prog), &o)) {
		perror(name);
		return;
	}
	printf("%-34s %5zu bytes %6u ns/run\n", name, n - 54, o.duration);
}

int main(int argc, char **argv)
{
	int repeat = argc > 1 ? atoi(argv[1]) : 200000;
	struct sockeye_bpf *s = sockeye_bpf__open();

	if (!s)
		return 1;
	s->rodata->bench_ignore_seq = 1;
	s->rodata->bounds_ns[0] = 5000000;
	s->rodata->n_bounds = 1;
	if (sockeye_bpf__load(s)) {
		perror("load");
		return 1;
	}
	bench(s->progs.cgskb_ingress, "no payload (ACK)", "", repeat);
	bench(s->progs.cgskb_ingress, "binary (TLS record)", "\x16\x03\x01\x00\x10hello", repeat);
	bench(s->progs.cgskb_ingress, "wrk request", "GET /x HTTP/1.1\r\nHost: 127.0.0.1:8088\r\n\r\n",
	      repeat);
	bench(s->progs.cgskb_ingress, "curl request",
	      "GET /users/123/orders?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: "
	      "curl/7.88.1\r\nAccept: */*\r\n\r\n",
	      repeat);
	bench(s->progs.cgskb_egress, "nginx response",
	      "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Wed, 25 Nov 2026 18:35:42 "
	      "GMT\r\nContent-Type: application/octet-stream\r\nContent-Length: 2\r\nConnection: "
	      "keep-alive\r\n\r\nok",
	      repeat);
	bench(s->progs.cgskb_egress, "body segment (no header)", "0123456789abcdefghij", repeat);
	sockeye_bpf__destroy(s);
	return 0;
}
