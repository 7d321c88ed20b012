#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""make_seeds.py - writes the seed corpora of the fuzz targets into tests/fuzz/corpus/TARGET/.

The seeds are checked in; run this only to change them (it needs gcc for the ELF seeds and
libcrypt for bcrypt hashes). Each seed is named after what it holds. Inputs found by fuzzing
that crashed once are kept next to them as regress-*: every run starts from them.
"""

import ctypes
import os
import random
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def clear(target):
    """Removes the generated seeds of target, keeping regress-* inputs."""
    d = os.path.join(CORPUS, target)
    if os.path.isdir(d):
        for n in os.listdir(d):
            if not n.startswith("regress-"):
                os.unlink(os.path.join(d, n))


# ---- fuzz_http_parser: records (see the comment at the top of fuzz_http_parser.c) ----------

def seg(data, response=False):
    out = b""
    if isinstance(data, str):
        data = data.encode("latin-1")
    while data:
        part, data = data[:125], data[125:]
        out += bytes([(0x80 if response else 0) | len(part)]) + part
    return out


def byte_segments(data, response=False):
    if isinstance(data, str):
        data = data.encode("latin-1")
    return b"".join(bytes([(0x80 if response else 0) | 1, b]) for b in data)


def long_seg(pattern, k, response=False):
    pattern = pattern.encode("latin-1") if isinstance(pattern, str) else pattern
    assert len(pattern) == 16
    return bytes([(0x80 if response else 0) | 126, k]) + pattern


def gap(n, response=False):
    return bytes([(0x80 if response else 0) | 127, n - 1])


CLOSE = b"\x00"

HTTP_SEEDS = {
    "get_200": seg("GET /users/42 HTTP/1.1\r\nHost: a\r\n\r\n")
    + seg("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", True),
    "pipelined": seg("GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz"
                     "HEAD /c HTTP/1.0\r\n\r\n")
    + seg("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 201 Created\r\n"
          "Content-Length: 1\r\n\r\nxHTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", True),
    "chunked": seg("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
                   "3;x=y\r\nabc\r\n0\r\nTrailer: 1\r\n\r\n")
    + seg("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\n",
          True),
    "continue_then_final": seg("PUT /u HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4"
                               "\r\n\r\n")
    + seg("HTTP/1.1 100 Continue\r\n\r\n", True) + seg("data")
    + seg("HTTP/1.1 204 No Content\r\n\r\n", True),
    "upgrade_101": seg("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
    + seg("HTTP/1.1 101 Switching Protocols\r\n\r\n\x81\x05hello", True) + seg("\x81\x85abcd"),
    "connect_tunnel": seg("CONNECT example.com:443 HTTP/1.1\r\n\r\n")
    + seg("HTTP/1.1 200 Connection established\r\n\r\n", True) + seg("\x16\x03\x01\x00\x05"),
    "one_byte_segments": byte_segments("GET /x/y?q=1 HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
    + byte_segments("HTTP/1.0 404 Not Found\r\n\r\n", True) + CLOSE,
    "long_header_line": seg("GET / HTTP/1.1\r\nX-Long: ") + long_seg("aaaaaaaaaaaaaaaa", 200)
    + seg("\r\n\r\n") + seg("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", True),
    "many_headers": seg("GET / HTTP/1.1\r\n") + long_seg("X-A: b\r\nX-C: d\r\n", 255)
    + seg("\r\n"),
    "gap_in_body": seg("POST /g HTTP/1.1\r\nContent-Length: 300\r\n\r\n") + gap(200) + seg("x" * 100)
    + seg("GET /next HTTP/1.1\r\n\r\n"),
    "gap_in_headers": seg("GET / HTTP/1.1\r\nHo") + gap(5) + seg("GET /again HTTP/1.1\r\n\r\n"),
    "http2_preface": seg("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00\x00\x00\x00\x00"),
    "h2c_upgrade": seg("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                       "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
    + seg("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
          "\x00\x00\x00\x04\x00\x00\x00\x00\x00", True),
    "tls_client_hello": seg(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32))),
    "ssh_banner": seg("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"),
    "redis": seg("*1\r\n$4\r\nPING\r\n") + seg("+PONG\r\n", True),
    "postgres": seg(b"\x00\x00\x00\x08\x04\xd2\x16\x2f"),
    "content_length_2_63": seg("POST /big HTTP/1.1\r\nContent-Length: 9223372036854775808\r\n\r\n"
                               "abc"),
    "chunk_size_negative_and_huge": seg("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                                        "-1\r\nx\r\nffffffffffffffffffff\r\n"),
    "nul_in_path": seg("GET /a\x00b HTTP/1.1\r\n\r\n"),
    "response_without_request": seg("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", True)
    + seg("GET / HTTP/1.1\r\n\r\n"),
    "lookalike_header_names": seg("POST /a HTTP/1.1\r\nContent\rLength: 5\r\nTransfer\rEncoding:"
                                  " chunked\r\nContent-Length\x1a 3\r\n\r\nGET /x HTTP/1.1\r\n\r\n"),
    "close_mid_request": seg("GET /half HTTP/1.1\r\nHost") + CLOSE + seg("GET / HTTP/1.1\r\n\r\n"),
    "nine_pipelined": seg("GET / HTTP/1.1\r\n\r\n" * 9)
    + seg("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" * 9, True),
}


# ---- fuzz_redis_parser: the same records (see the comment at the top of fuzz_redis_parser.c)

REDIS_SEEDS = {
    "get_hit_miss": seg("*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n*2\r\n$3\r\nGET\r\n$4\r\nnope\r\n")
    + seg("$5\r\nhello\r\n$-1\r\n", True),
    "mget": seg("*4\r\n$4\r\nMGET\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n")
    + seg("*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n3\r\n", True),
    "errors": seg("*2\r\n$4\r\nINCR\r\n$1\r\nh\r\n*1\r\n$3\r\nFOO\r\n*1\r\n$4\r\nPING\r\n")
    + seg("-WRONGTYPE Operation against a key\r\n-ERR unknown command\r\n"
          "!21\r\nSYNTAX invalid syntax\r\n", True),
    "pipeline_16": seg("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nxxx\r\n" * 16)
    + seg("+OK\r\n" * 16, True),
    "pipeline_40": seg("*2\r\n$4\r\nINCR\r\n$1\r\nk\r\n" * 40) + seg(":1\r\n" * 40, True),
    "resp3": seg("*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n*1\r\n$4\r\nEVAL\r\n")
    + seg("%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n+proto\r\n:3\r\n" + "*1\r\n" * 20
          + "~3\r\n,3.14\r\n#t\r\n(123\r\n>2\r\n+a\r\n+b\r\n", True),
    "multi_exec": seg("*1\r\n$5\r\nMULTI\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n*1\r\n$4\r\nEXEC\r\n")
    + seg("+OK\r\n+QUEUED\r\n*1\r\n$1\r\n1\r\n", True),
    "subscribe": seg("*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n")
    + seg("*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n", True),
    "big_value": seg("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2048\r\n") + long_seg("*" * 16, 31)
    + seg("\r\n") + seg("+OK\r\n", True),
    "one_byte": byte_segments("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
    + byte_segments("$1\r\nv\r\n", True) + CLOSE,
    "inline": seg("PING\r\n") + seg("+PONG\r\n", True),
}


# Paths for the http.routes patterns of fuzz_http_parser.c: matched, ignored, neither.
ROUTE_SEEDS = seg("".join("GET %s HTTP/1.1\r\n\r\n" % t for t in (
    "/users/42", "/users/42/orders/7", "/api/v1/widgets/items", "/static/css/site.css",
    "/files/a/b/c.txt", "/healthz", "/internal/debug/x", "/t1/dashboard", "/t2/dashboard",
    "/t3/dashboard", "/a/b/c/d/e/f/g/h", "/", "/unknown/123/x"))) + seg(
    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" * 13, True)


# ---- fuzz_config ---------------------------------------------------------------------------

CONFIG_SEEDS = {
    "full.yaml": """# sockeye agent config
http:
  duration_buckets: [0.000000001, 0.005, 0.01, 0.25, 1, 2.5, 10, 60]
  body_size_buckets: [64, 1024, 65536]
  route_table_size: 4096
  series_capacity: 65536
ports:
  include: [8080, 80]
  exclude:
    - 22
cgroups:
  include: ["/docker", /kubepods.slice/]
  exclude: ["/system.slice/sshd.service"]
labels:
  env: prod
  region: "eu-west-1 \\u00e9"
metric_prefix: acme_sockeye_
identity:
  rules:
    - match: {exe: /usr/bin/python3, port: 8080, cgroup: /docker/}
      service_name: checkout
    - match:
        cgroup: /system.slice
      service_name: "system \\u00e9"
    - match: {port: 443, exe: ~}
      service_name: tls-edge
""",
    "empty.yaml": "",
    "comments.yaml": "# nothing\n---\n",
    "labels_hostile.yaml": 'labels:\n  a: "x\\"y\\\\z\\nw"\n  b: "\\u2603 \\t"\n',
    "anchors.yaml": "x: &a [1, 2]\nports:\n  include: *a\n",
    "duplicate_keys.yaml": "labels:\n  env: a\n  env: b\n",
    "reserved_label.yaml": "labels:\n  le: x\n  http_route: y\n",
    "nul_in_string.yaml": 'labels:\n  a: "b\\0c"\n',
    "bad_bounds.yaml": "http:\n  duration_buckets: [1, 0.5, -1, 1e3, 18446744073.709551615]\n",
    "cgroups_dots.yaml": "cgroups:\n  include: [/a/../b, //, /./x]\n",
    "two_docs.yaml": "labels: {a: b}\n---\nlabels: {c: d}\n",
    "bad_utf8.yaml": b"labels:\n  a: \"\xff\xfe\"\n",
    "deep.yaml": "identity: {rules: [" + "[" * 50 + "]" * 50 + "]}\n",
}


# ---- fuzz_webconfig -----------------------------------------------------------------------

def bcrypt(password, cost):
    lib = ctypes.CDLL("libcrypt.so.1")
    lib.crypt_gensalt.restype = ctypes.c_char_p
    lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    salt = lib.crypt_gensalt(b"$2b$", cost, None, 0)
    return lib.crypt(password.encode(), salt).decode()


def webconfig_seeds():
    h4 = bcrypt("password123", 4)
    return {
        "tls_auth_headers.yml": "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n"
        "  min_version: TLS12\n  max_version: TLS13\nbasic_auth_users:\n  alice: %s\n"
        "http_server_config:\n  headers:\n    X-Frame-Options: deny\n"
        "    Strict-Transport-Security: max-age=31536000\n" % h4,
        "client_ca.yml": "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n"
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n",
        "verify_if_given.yml": "tls_server_config:\n  cert_file: ./cert.pem\n  key_file: key.pem\n"
        "  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.pem\n"
        "  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]\n"
        "  curve_preferences: [X25519]\n  prefer_server_cipher_suites: false\n",
        "users_only.yml": "basic_auth_users:\n  alice: %s\n  bob: %s\n" % (h4, h4),
        "plain_password.yml": "basic_auth_users:\n  alice: hunter2-not-a-hash\n",
        "empty.yml": "",
        "headers_forbidden.yml": "http_server_config:\n  headers:\n    Content-Type: x\n"
        "    Set-Cookie: a=b\n",
        "missing_files.yml": "tls_server_config:\n  cert_file: nope.pem\n  key_file: /etc/shadow\n",
        "key_as_cert.yml": "tls_server_config:\n  cert_file: key.pem\n  key_file: cert.pem\n",
        "rate_limit.yml": "rate_limit:\n  interval: 1s\n",
        "two_docs.yml": "basic_auth_users: {}\n---\n{}\n",
        "http2.yml": "http_server_config:\n  http2: false\n",
    }


# ---- fuzz_flags ------------------------------------------------------------------------------

FLAG_SEEDS = {
    "listen_many": ["--web.listen-address=:9810", "--web.listen-address", "[::1]:1",
                    "--web.listen-address=127.0.0.1:65535"],
    "all_values": ["--web.telemetry-path=/m", "--web.config.file=w.yml", "--output.textfile=t",
                   "--output.interval=1m30s", "--config.file", "c.yaml", "--log.level=debug",
                   "--tls.probe-mode=internal", "--kubernetes.pods-log-dir=/p"],
    "switches": ["--web.disable", "--output.textfile=/x", "--tls.disable", "--check"],
    "help": ["-h"],
    "version": ["--version"],
    "bad": ["--web.listen-address=[::1", "--nope", "x", "--", "-", "--check=1"],
    "interval_edge": ["--output.interval=0s"],
    "listen_twice": ["--web.listen-address=:1", "--web.listen-address=:1"],
}


# ---- fuzz_tls_elf: small shared objects shaped like libssl -----------------------------------

ELF_ASM = r"""
	.text
	.globl SSL_read_ex, SSL_read, SSL_write_ex, SSL_write, SSL_free
	.type SSL_read_ex,@function
	.type SSL_read,@function
	.type SSL_write_ex,@function
	.type SSL_write,@function
	.type SSL_free,@function
internal_read:
	push %r13
	push %r12
	push %rbp
	push %rbx
	sub $0x38,%rsp
	ret
internal_write:
	push %r13
	push %rbx
	ret
SSL_read_ex:
	sub $8,%rsp
	call internal_read
	xor %edx,%edx
	ret
SSL_read:
	sub $0x18,%rsp
	mov %fs:0x28,%rax
	mov %rax,8(%rsp)
	xor %eax,%eax
	test %edx,%edx
	js 1f
	mov %rsp,%rcx
	movslq %edx,%rdx
	call READ_TARGET
1:	ret
SSL_write_ex:
	sub $8,%rsp
	call internal_write
	ret
SSL_write:
	sub $0x18,%rsp
	mov %rsp,%rcx
	movslq %edx,%rdx
	call internal_write
	ret
SSL_free:
	FREE_START
	je 2f
	push %r13
	mov $-1,%eax
2:	ret
"""


def elf_seeds():
    out = {}
    variants = {
        "libssl_internal.so": ("internal_read", "test %rdi,%rdi"),
        "libssl_read_elsewhere.so": ("internal_write", "test %rdi,%rdi"),
        "libssl_free_other_test.so": ("internal_read", "test %rsi,%rsi"),
    }
    with tempfile.TemporaryDirectory() as d:
        for name, (target, free_start) in variants.items():
            src = os.path.join(d, "ssl.S")
            with open(src, "w") as f:
                f.write(ELF_ASM.replace("READ_TARGET", target).replace("FREE_START", free_start))
            so = os.path.join(d, name)
            subprocess.run(["gcc", "-shared", "-nostdlib", "-Wl,-z,max-page-size=4096",
                            "-Wl,-z,noseparate-code", "-Wl,--hash-style=gnu", "-s", "-o", so, src],
                           check=True)
            with open(so, "rb") as f:
                out[name] = f.read()
    # The first 96 bytes of a function are decoded too: the prologue shapes on their own.
    out["prologue_ssl_read"] = bytes.fromhex("4883ec18 64488b042528000000 4889442408 31c0 85d2"
                                             " 782f 4889e1 4863d2 e83dfeffff".replace(" ", ""))
    out["prologue_ssl_free"] = bytes.fromhex("4885ff0f84970300004155b8ffffffff")
    out["prologue_endbr_push"] = bytes.fromhex("f30f1efa415541544883ec38")
    return out


# ---- fuzz_postgres_parser: the same records (see the comment at the top of
# fuzz_postgres_parser.c). pg(type, body) is one message.

def pg(t, body=b""):
    if isinstance(body, str):
        body = body.encode("latin-1")
    return t.encode() + struct.pack(">I", len(body) + 4) + body


PG_STARTUP = struct.pack(">II", 8, 80877103) + struct.pack(">II", 41, 196608) + \
    b"user\0postgres\0database\0postgres\0\0"
PG_READY = b"N" + pg("R", b"\0\0\0\0") + pg("K", b"\0\0\0\1\0\0\0\2") + pg("Z", "I")
PG_ERR = pg("E", "SERROR\0VERROR\0C42P01\0Mno such table\0\0")

PG_SEEDS = {
    "simple": seg(PG_STARTUP + pg("Q", "SELECT 1\0")) + seg(PG_READY, True)
    + seg(pg("T", b"\0\1a\0" + bytes(18)) + pg("D", b"\0\1\0\0\0\1x") + pg("C", "SELECT 1\0")
          + pg("Z", "I"), True),
    "error": seg(PG_STARTUP + pg("Q", "/* c */ select * from nosuch\0")) + seg(PG_READY, True)
    + seg(PG_ERR + pg("Z", "I"), True),
    "extended_named": seg(PG_STARTUP + pg("P", "s1\0UPDATE t SET a = 1\0\0\0")
                          + pg("B", "\0s1\0" + "\0" * 6) + pg("E", "\0\0\0\0\0") + pg("S")
                          + pg("C", "Ss1\0"))
    + seg(PG_READY + pg("1") + pg("2") + pg("C", "UPDATE 1\0") + pg("Z", "I") + pg("3"), True),
    "pipeline_error": seg(PG_STARTUP + (pg("P", "\0SELECT 1\0\0\0") + pg("B", "\0\0" + "\0" * 6)
                                        + pg("E", "\0\0\0\0\0")) * 3 + pg("S"))
    + seg(PG_READY + pg("1") + pg("2") + pg("C", "SELECT 1\0") + PG_ERR + pg("Z", "I"), True),
    "transaction": seg(PG_STARTUP + pg("Q", "BEGIN\0") + pg("Q", "COMMIT\0"))
    + seg(PG_READY + pg("C", "BEGIN\0") + pg("Z", "T") + pg("C", "COMMIT\0") + pg("Z", "I"), True),
    "copy": seg(PG_STARTUP + pg("Q", "COPY t FROM STDIN\0") + pg("d", "1\tx\n" * 30) + pg("c"))
    + seg(PG_READY + pg("G", "\0\0\1\0\0") + pg("C", "COPY 30\0") + pg("Z", "I"), True),
    "ssl_accepted": seg(struct.pack(">II", 8, 80877103)) + seg("S", True)
    + seg(b"\x16\x03\x01\x02\x00"),
    "close_outstanding": seg(PG_STARTUP + pg("Q", "SELECT pg_sleep(1)\0")) + seg(PG_READY, True)
    + CLOSE + seg(PG_STARTUP),
}


def main():
    rnd = random.Random(16)
    for t in ("http_parser", "config", "webconfig", "flags", "render", "tls_elf",
              "redis_parser", "postgres_parser"):
        clear(t)
    # The first byte is the route mode (fuzz_http_parser.c): 0 the heuristic only, else
    # http.routes patterns with an unmatched mode.
    for name, data in HTTP_SEEDS.items():
        put("http_parser", name, b"\x00" + data)
    for mode, what in ((0x01, "heuristic"), (0x05, "path"), (0x19, "low_cardinality"),
                       (0x0d, "wildcard")):
        put("http_parser", "routes_" + what, bytes([mode]) + ROUTE_SEEDS)
    put("http_parser", "routes_pipelined_path", b"\x05" + HTTP_SEEDS["pipelined"])
    for name, data in REDIS_SEEDS.items():
        put("redis_parser", name, data)
    for name, data in PG_SEEDS.items():
        put("postgres_parser", name, data)
    for name, data in CONFIG_SEEDS.items():
        put("config", name, data)
    for name, data in webconfig_seeds().items():
        put("webconfig", name, data)
    for name, argv in FLAG_SEEDS.items():
        put("flags", name, "\0".join(argv))
    for i in range(8):
        put("render", "random_%d" % i, bytes(rnd.randrange(256) for _ in range(64 + 96 * i)))
    put("render", "all_ones", b"\xff" * 600)
    for name, data in elf_seeds().items():
        put("tls_elf", name, data)
    print("seeds written under %s" % CORPUS)


if __name__ == "__main__":
    if len(sys.argv) != 1:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    main()
