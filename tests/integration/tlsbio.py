#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""tlsbio.py - an HTTPS client and server that call OpenSSL directly (ctypes), so that a test
knows exactly which SSL calls they make and which BIO carries their ciphertext:

  socket  SSL_set_fd: OpenSSL's socket BIO reads and writes the descriptor (nginx, wrk, python)
  custom  a BIO of its own (BIO_meth_new) whose callbacks send and receive on the socket, as
          curl's does
  memory  a pair of memory BIOs; the program moves the ciphertext between them and the socket
          itself, outside the SSL calls (python's asyncio does this)

  tlsbio.py server KIND CERT KEY     prints "READY <port>", serves until killed: a thread per
                                     connection, SSL_accept, then SSL_read (16 KiB) until it
                                     returns <= 0, answering each read with one SSL_write
  tlsbio.py client KIND PORT N CONNS CA [PORT2]
                                     CONNS connections one after the other, each with N requests
                                     (one SSL_write, then SSL_read until the response is whole),
                                     then SSL_free; prints "OK <reads> <writes>" (SSL calls made).
                                     With PORT2: one SSL object for all connections, alternately
                                     to PORT and PORT2, SSL_clear and a new BIO between them (as
                                     wrk reconnects), SSL_free at the end

Blocking sockets: with the socket and custom BIOs a request costs the client exactly one
SSL_write and one SSL_read, and the server one SSL_read and one SSL_write (plus one final
SSL_read per connection that sees the client close). The library is libssl.so.3 as the dynamic
loader finds it: LD_LIBRARY_PATH picks a private copy.
"""

import ctypes
import socket
import sys
import threading

KINDS = ("socket", "custom", "memory")
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
READ_SIZE = 16384

SSL_FILETYPE_PEM = 1
SSL_ERROR_WANT_READ = 2
SSL_ERROR_WANT_WRITE = 3
BIO_CTRL_FLUSH = 11
BIO_CTRL_PENDING = 10
BIO_TYPE_SOURCE_SINK = 0x0400


def request(i):
    return ("GET /tlsbio/%d HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % i).encode()


class OpenSSL:
    def __init__(self):
        self.ssl = ssl = ctypes.CDLL("libssl.so.3")
        vp, ip, c = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p
        for name, res, args in (
                ("TLS_client_method", vp, []), ("TLS_server_method", vp, []),
                ("SSL_CTX_new", vp, [vp]), ("SSL_CTX_use_certificate_file", ip, [vp, c, ip]),
                ("SSL_CTX_use_PrivateKey_file", ip, [vp, c, ip]),
                ("SSL_CTX_load_verify_locations", ip, [vp, c, c]),
                ("SSL_CTX_set_verify", None, [vp, ip, vp]),
                ("SSL_new", vp, [vp]), ("SSL_free", None, [vp]), ("SSL_set_fd", ip, [vp, ip]),
                ("SSL_clear", ip, [vp]),
                ("SSL_set_bio", None, [vp, vp, vp]), ("SSL_connect", ip, [vp]),
                ("SSL_accept", ip, [vp]), ("SSL_set_connect_state", None, [vp]),
                ("SSL_do_handshake", ip, [vp]), ("SSL_get_error", ip, [vp, ip]),
                ("SSL_read", ip, [vp, vp, ip]), ("SSL_write", ip, [vp, c, ip]),
                ("BIO_new", vp, [vp]), ("BIO_s_mem", vp, []), ("BIO_meth_new", vp, [ip, c]),
                ("BIO_meth_set_write", ip, [vp, vp]), ("BIO_meth_set_read", ip, [vp, vp]),
                ("BIO_meth_set_ctrl", ip, [vp, vp]), ("BIO_set_init", None, [vp, ip]),
                ("BIO_read", ip, [vp, vp, ip]), ("BIO_write", ip, [vp, c, ip]),
                ("BIO_ctrl", ctypes.c_long, [vp, ip, ctypes.c_long, vp])):
            f = getattr(ssl, name)
            f.restype, f.argtypes = res, args


WRITE_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)
READ_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)
CTRL_CB = ctypes.CFUNCTYPE(ctypes.c_long, ctypes.c_void_p, ctypes.c_int, ctypes.c_long,
                           ctypes.c_void_p)


class Conn:
    """One TLS connection over sock with a BIO of kind."""

    def __init__(self, o, ctx, sock, kind, server, ssl=None):
        self.o, self.sock, self.kind = o, sock, kind
        self.reads = self.writes = 0
        sock.settimeout(None)  # blocking: a timeout makes python's socket non-blocking
        lib = o.ssl
        if ssl is not None:
            lib.SSL_clear(ssl)  # a used object, for a new connection
        self.ssl = ssl if ssl is not None else lib.SSL_new(ctx)
        if kind == "socket":
            lib.SSL_set_fd(self.ssl, sock.fileno())
        elif kind == "custom":
            # Callbacks kept on self: ctypes must not free them while OpenSSL holds them.
            self.cbs = (WRITE_CB(self._bio_write), READ_CB(self._bio_read),
                        CTRL_CB(self._bio_ctrl))
            self.meth = lib.BIO_meth_new(0x80 | BIO_TYPE_SOURCE_SINK, b"tlsbio custom")
            lib.BIO_meth_set_write(self.meth, ctypes.cast(self.cbs[0], ctypes.c_void_p))
            lib.BIO_meth_set_read(self.meth, ctypes.cast(self.cbs[1], ctypes.c_void_p))
            lib.BIO_meth_set_ctrl(self.meth, ctypes.cast(self.cbs[2], ctypes.c_void_p))
            bio = lib.BIO_new(self.meth)
            lib.BIO_set_init(bio, 1)
            lib.SSL_set_bio(self.ssl, bio, bio)
        else:
            self.rbio = lib.BIO_new(lib.BIO_s_mem())
            self.wbio = lib.BIO_new(lib.BIO_s_mem())
            lib.SSL_set_bio(self.ssl, self.rbio, self.wbio)
        if kind == "memory":
            if server:
                raise ValueError("the memory BIO is a client here")
            lib.SSL_set_connect_state(self.ssl)
            self._pump(lambda: lib.SSL_do_handshake(self.ssl))
        elif (lib.SSL_accept if server else lib.SSL_connect)(self.ssl) != 1:
            raise OSError("TLS handshake failed")

    def _bio_write(self, bio, buf, n):
        self.sock.sendall(ctypes.string_at(buf, n))
        return n

    def _bio_read(self, bio, buf, n):
        data = self.sock.recv(n)
        ctypes.memmove(buf, data, len(data))
        return len(data)

    def _bio_ctrl(self, bio, cmd, num, ptr):
        return 1 if cmd == BIO_CTRL_FLUSH else 0

    def _flush(self):
        lib = self.o.ssl
        buf = ctypes.create_string_buffer(READ_SIZE)
        while lib.BIO_ctrl(self.wbio, BIO_CTRL_PENDING, 0, None) > 0:
            n = lib.BIO_read(self.wbio, buf, READ_SIZE)
            self.sock.sendall(buf.raw[:n])

    def _pump(self, call):
        """Memory BIOs: calls call until it is done, moving ciphertext by hand."""
        lib = self.o.ssl
        while True:
            r = call()
            self._flush()
            if r > 0:
                return r
            err = lib.SSL_get_error(self.ssl, r)
            if err != SSL_ERROR_WANT_READ:
                raise OSError("SSL error %d" % err)
            data = self.sock.recv(READ_SIZE)
            if not data:
                raise OSError("connection closed")
            lib.BIO_write(self.rbio, data, len(data))

    def read(self, buf):
        lib = self.o.ssl
        if self.kind == "memory":
            return self._pump(lambda: self._count_read(buf))
        return self._count_read(buf)

    def _count_read(self, buf):
        self.reads += 1
        return self.o.ssl.SSL_read(self.ssl, buf, READ_SIZE)

    def write(self, data):
        self.writes += 1
        n = self.o.ssl.SSL_write(self.ssl, data, len(data))
        if self.kind == "memory":
            self._flush()
        if n != len(data):
            raise OSError("SSL_write wrote %d of %d bytes" % (n, len(data)))

    def free(self):
        self.o.ssl.SSL_free(self.ssl)
        self.sock.close()


def serve(kind, cert, key):
    o = OpenSSL()
    ctx = o.ssl.SSL_CTX_new(o.ssl.TLS_server_method())
    if (o.ssl.SSL_CTX_use_certificate_file(ctx, cert.encode(), SSL_FILETYPE_PEM) != 1 or
            o.ssl.SSL_CTX_use_PrivateKey_file(ctx, key.encode(), SSL_FILETYPE_PEM) != 1):
        sys.exit("tlsbio server: cannot load %s / %s" % (cert, key))
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(64)
    print("READY %d" % lsock.getsockname()[1], flush=True)

    def handle(sock):
        try:
            c = Conn(o, ctx, sock, kind, server=True)
        except OSError:
            sock.close()
            return
        buf = ctypes.create_string_buffer(READ_SIZE)
        while c.read(buf) > 0:
            c.write(RESPONSE)
        c.free()

    while True:
        sock, _ = lsock.accept()
        threading.Thread(target=handle, args=(sock,), daemon=True).start()


def client(kind, port, n, conns, ca, port2=None):
    o = OpenSSL()
    ctx = o.ssl.SSL_CTX_new(o.ssl.TLS_client_method())
    if o.ssl.SSL_CTX_load_verify_locations(ctx, ca.encode(), None) != 1:
        sys.exit("tlsbio client: cannot load %s" % ca)
    o.ssl.SSL_CTX_set_verify(ctx, 1, None)  # SSL_VERIFY_PEER
    reads = writes = 0
    buf = ctypes.create_string_buffer(READ_SIZE)
    reused = None
    for k in range(conns):
        p = port2 if port2 and k % 2 else port
        c = Conn(o, ctx, socket.create_connection(("127.0.0.1", p), timeout=20), kind,
                 server=False, ssl=reused)
        for i in range(n):
            c.write(request(i))
            got = b""
            while len(got) < len(RESPONSE):
                r = c.read(buf)
                if r <= 0:
                    sys.exit("tlsbio client: SSL_read returned %d" % r)
                got += buf.raw[:r]
            if got != RESPONSE:
                sys.exit("tlsbio client: unexpected response %r" % got)
        reads += c.reads
        writes += c.writes
        if port2 and k < conns - 1:
            reused = c.ssl
            c.sock.close()
        else:
            c.free()
    print("OK %d %d" % (reads, writes), flush=True)


if __name__ == "__main__":
    a = sys.argv[1:]
    if len(a) == 4 and a[0] == "server" and a[1] in KINDS:
        serve(a[1], a[2], a[3])
    elif len(a) in (6, 7) and a[0] == "client" and a[1] in KINDS:
        client(a[1], int(a[2]), int(a[3]), int(a[4]), a[5], int(a[6]) if len(a) == 7 else None)
    else:
        sys.exit(__doc__)
