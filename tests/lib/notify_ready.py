#!/usr/bin/env python3
"""notify_ready.py SOCKET READY_FILE SECONDS: the test side of systemd's readiness protocol.

Binds a Unix datagram socket at SOCKET (tsbagd sends "READY=1" to $NOTIFY_SOCKET once its sockets
are bound, as under systemd Type=notify), then creates READY_FILE when that message arrives and
exits 0; exits 1 after SECONDS without it, 3 on "STOP=1" (sent by the harness once tsbagd has
exited: datagrams keep their order, so a READY=1 sent before is never missed). The harness
starts tsbagd only once SOCKET exists.
"""
import os
import socket
import sys
import time

path, ready, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path + ".tmp")
os.rename(path + ".tmp", path)  # the socket appears bound or not at all
deadline = time.monotonic() + seconds
while True:
    left = deadline - time.monotonic()
    if left <= 0:
        sys.exit(1)
    s.settimeout(left)
    try:
        msg = s.recv(4096)
    except socket.timeout:
        sys.exit(1)
    lines = msg.split(b"\n")
    if b"STOP=1" in lines:
        sys.exit(3)
    if b"READY=1" in lines:
        with open(ready + ".tmp", "w") as f:
            f.write("READY=1\n")
        os.rename(ready + ".tmp", ready)
        sys.exit(0)
