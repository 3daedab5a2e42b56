#!/usr/bin/env python3
"""Receive sd_notify datagrams on a socket and log them, one per line,
with a timestamp: the host tests check READY=1, WATCHDOG=1, STOPPING=1."""
import os
import socket
import sys
import time

path, out, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
if os.path.exists(path):
    os.unlink(path)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(0.2)
end = time.monotonic() + seconds
with open(out, "w", buffering=1) as f:
    while time.monotonic() < end:
        try:
            data = s.recv(4096).decode(errors="replace")
        except socket.timeout:
            continue
        for line in data.split("\n"):
            f.write("%.3f %s\n" % (time.monotonic(), line))
        if "STOPPING=1" in data:
            # the daemon says it is stopping: give it a moment, then done
            end = min(end, time.monotonic() + 0.5)
