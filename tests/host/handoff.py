#!/usr/bin/env python3
"""A restart as systemd's file descriptor store makes it, without systemd.

Plays the service manager: a NOTIFY_SOCKET that keeps the listening sockets
the daemon hands in (FDSTORE=1, FDNAME=...), SIGTERM to the first daemon,
then, while no daemon runs, a host that connects (its connection waits in
the kept socket's backlog instead of being refused), then a second daemon
started with the sockets (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES, fds from 3),
which must take them over and serve the waiting host.

usage: handoff.py DAEMON CONFIG WORKDIR PORT HOST_CMD...
HOST_CMD is the host to run during the gap (it must exit 0). Prints one
summary line; exit 0 when everything held.
"""
import array
import os
import signal
import socket
import subprocess
import sys
import time

daemon, config, work, port = sys.argv[1:5]
host_cmd = sys.argv[5:]
sock_path = os.path.join(work, "handoff.sock")
if os.path.exists(sock_path):
    os.unlink(sock_path)
ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
ns.bind(sock_path)
ns.settimeout(0.1)
store = {}          # FDNAME -> fd
log = open(os.path.join(work, "handoff.notify"), "w", buffering=1)


def fail(msg):
    print("FAIL " + msg)
    sys.exit(1)


def pump(until, what):
    """Receive notifications (keeping FDSTORE fds) until what() or until"""
    while time.monotonic() < until:
        if what():
            return True
        try:
            msg, anc, _, _ = ns.recvmsg(4096, socket.CMSG_SPACE(16 * 4))
        except socket.timeout:
            continue
        text = msg.decode(errors="replace")
        fds = []
        for level, typ, data in anc:
            if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                a = array.array("i")
                a.frombytes(data[: len(data) - len(data) % a.itemsize])
                fds.extend(a)
        log.write("%.3f %s fds=%s\n" % (time.monotonic(), text.replace("\n", "|"), fds))
        fields = dict(l.split("=", 1) for l in text.split("\n") if "=" in l)
        if fields.get("FDSTORE") == "1" and fds:
            name = fields.get("FDNAME", "stored")
            if name in store:           # systemd keeps one copy of the same socket
                for fd in fds:
                    os.close(fd)
            else:
                store[name] = fds[0]
                for fd in fds[1:]:
                    os.close(fd)
        if fields.get("FDSTOREREMOVE") == "1":
            fd = store.pop(fields.get("FDNAME", ""), None)
            if fd is not None:
                os.close(fd)
        if fields.get("READY") == "1":
            pump.ready = True
    return what()


pump.ready = False
env = dict(os.environ, NOTIFY_SOCKET=sock_path)
d1_log = open(os.path.join(work, "handoff.d1.log"), "w")
d1 = subprocess.Popen([daemon, "--config", config], env=env, stdout=d1_log, stderr=subprocess.STDOUT)
if not pump(time.monotonic() + 20, lambda: pump.ready and store):
    d1.kill()
    fail("first daemon: no READY=1 with FDSTORE=1 (store %s)" % list(store))
pump.ready = False
names = sorted(store)
d1.send_signal(signal.SIGTERM)
rc = d1.wait(20)
pump(time.monotonic() + 0.2, lambda: False)
if rc != 0:
    fail("first daemon exited %d at SIGTERM" % rc)

# no daemon now: a host connects; the kept socket queues it
t_gap = time.monotonic()
probe = socket.create_connection(("127.0.0.1", int(port)), timeout=2)
probe.close()
host_log = open(os.path.join(work, "handoff.host.log"), "w")
host = subprocess.Popen(host_cmd, stdout=host_log, stderr=subprocess.STDOUT)
time.sleep(0.5)
if host.poll() is not None:
    fail("the host gave up while no daemon ran (exit %s)" % host.returncode)

ordered = [store[n] for n in names]


def hand_over():
    for i, fd in enumerate(ordered):
        os.dup2(fd, 3 + i)
    os.environ["LISTEN_PID"] = str(os.getpid())
    os.environ["LISTEN_FDS"] = str(len(ordered))
    os.environ["LISTEN_FDNAMES"] = ":".join(names)


d2_log = open(os.path.join(work, "handoff.d2.log"), "w")
os.environ["NOTIFY_SOCKET"] = sock_path
t_start = time.monotonic()
# (the environment the child ends up with is os.environ as hand_over leaves it)
d2 = subprocess.Popen([daemon, "--config", config], stdout=d2_log, stderr=subprocess.STDOUT,
                      preexec_fn=hand_over, close_fds=False)
try:
    host_rc = host.wait(60)
except subprocess.TimeoutExpired:
    host.kill()
    host_rc = "timeout"
t_done = time.monotonic()
pump(time.monotonic() + 1, lambda: False)
d2.send_signal(signal.SIGTERM)
d2_rc = d2.wait(20)
d2_text = open(os.path.join(work, "handoff.d2.log")).read()
host_text = open(os.path.join(work, "handoff.host.log")).read()
if host_rc != 0:
    fail("the host that connected during the restart failed (exit %s): %s" % (host_rc, host_text.strip()[-300:]))
if "socket handed over by the service manager" not in d2_text:
    fail("the second daemon did not take the kept socket over: %s" % d2_text.strip()[-300:])
if d2_rc != 0:
    fail("second daemon exited %d" % d2_rc)
print("ok: %d socket(s) kept (%s); a host connected %.2f s before the second daemon started, was served "
      "(%s), the whole gap %.2f s; no connection refused"
      % (len(names), ", ".join(names), t_start - t_gap, host_text.strip().splitlines()[-1][:80], t_done - t_gap))
