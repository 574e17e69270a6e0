#!/usr/bin/env python3
"""tests/sh/wsprobe.py — one WebSocket round trip through a TLS proxy, for the
proxy tests: handshake (expects 101), send {"event":"ping","data":{"n":N}} in
a masked text frame, wait for the "pong" message, print it, exit 0. Exit 1 on
anything else (the status line or the reason on stderr).

  wsprobe.py URL [HEADER: VALUE]...     URL: wss://host:port/path (certificate not verified)
"""
import base64, json, os, socket, ssl, struct, sys
from urllib.parse import urlsplit


def fail(msg):
    sys.stderr.write("wsprobe: %s\n" % msg)
    sys.exit(1)


def read_exact(s, n):
    b = b""
    while len(b) < n:
        chunk = s.recv(n - len(b))
        if not chunk:
            fail("connection closed")
        b += chunk
    return b


def read_frame(s):
    h = read_exact(s, 2)
    op, n = h[0] & 0x0F, h[1] & 0x7F
    if n == 126:
        n = struct.unpack("!H", read_exact(s, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", read_exact(s, 8))[0]
    return op, read_exact(s, n)


def main():
    u = urlsplit(sys.argv[1])
    port = u.port or 443
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection((u.hostname, port), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname=u.hostname)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = ["GET %s HTTP/1.1" % (u.path or "/"), "Host: %s:%d" % (u.hostname, port),
             "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13",
             "Sec-WebSocket-Key: " + key] + sys.argv[2:]
    s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += read_exact(s, 1)
    status = head.split(b"\r\n", 1)[0].decode()
    if " 101 " not in status + " ":
        fail(status)
    payload = json.dumps({"event": "ping", "data": {"n": 42}}).encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    s.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
    for _ in range(20):
        op, data = read_frame(s)
        if op == 1:
            msg = json.loads(data)
            if msg.get("event") == "pong":
                print(json.dumps(msg))
                return
        elif op == 8:
            fail("closed by the server: %r" % data)
    fail("no pong")


main()
