#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""nvmf-bridged against SPDK's nvmf_tgt, side by side, on host loopback TCP.

Run by bench/bench.sh when SPDK is a peer (make bench PEERS=spdk); can run
alone:  bench/vs_spdk.py --build build --spdk /opt/spdk --out bench/results/X

Both targets run pinned to the same CPU (--tcpu), one at a time, alternated
A B A B over --rounds rounds; each round starts its target fresh, writes the
whole namespace once (128 KiB writes), then runs every workload with every
initiator pinned to the other CPU (--pcpu):
  spdk_nvme_perf             SPDK's initiator (busy polling, its own TCP stack
                             use through the kernel socket API)
  nvmf-bridge-perf           ours, waiting in epoll
  nvmf-bridge-perf --poll    ours, busy polling
Devices of the same block size (4 KiB) and size on both sides:
  mem   ours: {"mem": SIZE} (hugepages, pre-faulted)  SPDK: Malloc bdev
  null  ours: {"null": SIZE}                          SPDK: Null bdev
The target's CPU time comes from /proc/PID/stat (utime+stime), sampled every
50 ms and cut to the initiator's measured window; "IOPS per target
CPU-second" divides the IOPS by the share of a core the target used in it.
Also per target: the time from exec to a listening socket, RSS and
hugepages after the prefill, and its CPU with a host connected and idle.

Writes OUT.json (every run) and OUT.md (the tables); prints the tables.
"""
import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

NQN_MEM = "nqn.2024-01.io.nvmf-bridge:bench-peer-mem"
NQN_NULL = "nqn.2024-01.io.nvmf-bridge:bench-peer-null"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# (key, title, workload, io size, qd, devices)
WORKLOADS = [
    ("randread_qd1", "4 KiB random read QD1", "randread", 4096, 1),
    ("randread_qd32", "4 KiB random read QD32", "randread", 4096, 32),
    ("randread_qd128", "4 KiB random read QD128", "randread", 4096, 128),
    ("randwrite_qd32", "4 KiB random write QD32", "randwrite", 4096, 32),
    ("randwrite_qd128", "4 KiB random write QD128", "randwrite", 4096, 128),
    ("read128k_qd32", "128 KiB sequential read QD32", "read", 131072, 32),
]
INITIATORS = [
    ("spdk_nvme_perf", "spdk_nvme_perf"),
    ("bridge_perf_epoll", "nvmf-bridge-perf (epoll)"),
    ("bridge_perf_poll", "nvmf-bridge-perf --poll"),
]


def log(msg):
    print("bench: " + msg, flush=True)


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])   # utime + stime


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def meminfo(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def listening(port):
    s = socket.socket()
    try:
        s.settimeout(0.05)
        s.connect(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


class Sampler(threading.Thread):
    """The target's CPU ticks every 50 ms, to cut any window out later."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.samples = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                self.samples.append((time.monotonic(), cpu_ticks(self.pid)))
            except OSError:
                return
            time.sleep(0.05)

    def share(self, t0, t1):
        """Share of one core used between t0 and t1 (interpolated)."""
        def at(t):
            s = self.samples
            for i in range(1, len(s)):
                if s[i][0] >= t:
                    (ta, ca), (tb, cb) = s[i - 1], s[i]
                    return ca + (cb - ca) * (t - ta) / max(tb - ta, 1e-9)
            return s[-1][1]
        if len(self.samples) < 2 or t1 <= t0:
            return None
        return (at(t1) - at(t0)) / CLK_TCK / (t1 - t0)


class Target:
    def __init__(self, args, kind, port, workdir):
        self.args, self.kind, self.port, self.dir = args, kind, port, workdir
        self.proc = None
        self.sampler = None

    def start(self):
        a = self.args
        size = a.ns_mib * 1024 * 1024
        if self.kind == "ours":
            cfg = {
                "bridge": {"reactors": 1, "discovery_port": self.port + 1,
                           "rpc_socket": os.path.join(self.dir, "rpc.sock")},
                "ports": [{"portid": 1, "addr": {"trtype": "tcp", "adrfam": "ipv4",
                                                  "traddr": "127.0.0.1", "trsvcid": str(self.port)},
                           "subsystems": [NQN_MEM]}],
                "subsystems": [
                    {"nqn": NQN_MEM, "attr": {"allow_any_host": "1", "model": "nvmf-bridge bench"},
                     "namespaces": [{"nsid": 1, "device": {"mem": size, "block_size": 4096}}]},
                ],
            }
            if a.null:
                cfg["ports"][0]["subsystems"].append(NQN_NULL)
                cfg["subsystems"].append(
                    {"nqn": NQN_NULL, "attr": {"allow_any_host": "1", "model": "nvmf-bridge bench"},
                     "namespaces": [{"nsid": 1, "device": {"null": size, "block_size": 4096}}]})
            self.rpc_sock = os.path.join(self.dir, "rpc.sock")
            path = os.path.join(self.dir, "ours.json")
            cmd = [os.path.join(a.build, "nvmf-bridged"), "--config", path]
        else:
            blocks = size // 4096
            listen = {"trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1",
                      "trsvcid": str(self.port)}
            nvmf = [{"method": "nvmf_create_transport", "params": {"trtype": "TCP"}}]
            for nqn, bdev, sn in ((NQN_MEM, "Malloc0", "SPDK00000000000001"),
                                  (NQN_NULL, "Null0", "SPDK00000000000002")):
                nvmf += [
                    {"method": "nvmf_create_subsystem",
                     "params": {"nqn": nqn, "allow_any_host": True, "serial_number": sn,
                                "model_number": "SPDK bench"}},
                    {"method": "nvmf_subsystem_add_ns",
                     "params": {"nqn": nqn, "namespace": {"bdev_name": bdev, "nsid": 1}}},
                    {"method": "nvmf_subsystem_add_listener",
                     "params": {"nqn": nqn, "listen_address": listen}},
                ]
            cfg = {"subsystems": [
                {"subsystem": "bdev", "config": [
                    {"method": "bdev_malloc_create",
                     "params": {"name": "Malloc0", "num_blocks": blocks, "block_size": 4096}},
                    {"method": "bdev_null_create",
                     "params": {"name": "Null0", "num_blocks": blocks, "block_size": 4096}}]},
                {"subsystem": "nvmf", "config": nvmf}]}
            path = os.path.join(self.dir, "spdk.json")
            self.rpc_sock = os.path.join(self.dir, "spdk.sock")
            cmd = [os.path.join(a.spdk, "build/bin/nvmf_tgt"), "-m", "0x%x" % (1 << a.tcpu),
                   "-c", path, "-i", "7", "-r", self.rpc_sock]
        with open(path, "w") as f:
            json.dump(cfg, f, indent=1)
        self.huge_free0 = meminfo("HugePages_Free")
        logf = open(os.path.join(self.dir, self.kind + ".log"), "ab")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(["taskset", "-c", str(a.tcpu)] + cmd, stdout=logf,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        while not listening(self.port):
            if self.proc.poll() is not None or time.monotonic() - t0 > 30:
                raise RuntimeError("%s did not start listening; see %s" %
                                   (self.kind, logf.name))
            time.sleep(0.005)
        self.listen_ms = (time.monotonic() - t0) * 1000
        self.sampler = Sampler(self.proc.pid)
        self.sampler.start()

    def busy_sample(self):
        """(busy seconds, busy + idle seconds) of the target's reactors, as
        the target itself counts them: ours from `nvmf-bridgectl stats`,
        SPDK's from `rpc.py thread_get_stats` (every thread on its core)."""
        try:
            if self.kind == "ours":
                p = subprocess.run([os.path.join(self.args.build, "nvmf-bridgectl"), "--socket",
                                    self.rpc_sock, "--json", "stats"], capture_output=True,
                                   text=True, timeout=10)
                rs = json.loads(p.stdout)["reactors"]
                return (sum(r["busy_ns"] for r in rs) / 1e9,
                        sum(r["busy_ns"] + r["idle_ns"] for r in rs) / 1e9)
            p = subprocess.run([sys.executable, os.path.join(self.args.spdk, "scripts/rpc.py"), "-s",
                                self.rpc_sock, "thread_get_stats"], capture_output=True, text=True,
                               timeout=10)
            st = json.loads(p.stdout)
            hz = float(st["tick_rate"])
            return (sum(t["busy"] for t in st["threads"]) / hz,
                    sum(t["busy"] + t["idle"] for t in st["threads"]) / hz)
        except (OSError, ValueError, KeyError, subprocess.SubprocessError):
            return None

    def footprint(self):
        used = max(self.huge_free0 - meminfo("HugePages_Free"), 0)
        return {"rss_mib": rss_kib(self.proc.pid) / 1024.0,
                "hugepages_mib": used * meminfo("Hugepagesize") / 1024.0,
                "listen_ms": self.listen_ms}

    def stop(self):
        if self.sampler:
            self.sampler.stop.set()
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class BusyWindow(threading.Thread):
    """Two busy samples inside a run's measured window: start() when the
    run's clock starts (the workers launch), result() after the run."""

    def __init__(self, tgt, warmup, secs):
        super().__init__(daemon=True)
        self.tgt, self.warmup, self.secs = tgt, warmup, secs
        self.t_launch = None
        self.go = threading.Event()
        self.a = self.b = None

    def launched(self, t):
        self.t_launch = t
        self.go.set()

    def run(self):
        if not self.go.wait(60):
            return
        t0 = self.t_launch + self.warmup + 0.3
        t1 = self.t_launch + self.warmup + self.secs - 0.4
        if t1 - t0 < 0.5:
            return
        time.sleep(max(t0 - time.monotonic(), 0))
        self.a = self.tgt.busy_sample()
        time.sleep(max(t1 - time.monotonic(), 0))
        self.b = self.tgt.busy_sample()

    def share(self):
        self.join(timeout=30)
        if not self.a or not self.b or self.b[1] <= self.a[1]:
            return None
        return (self.b[0] - self.a[0]) / (self.b[1] - self.a[1])


def bridge_perf(args, tgt, nqn, extra, secs=None, warmup=None, poll=False, window=None):
    cmd = ["taskset", "-c", str(args.pcpu), os.path.join(args.build, "nvmf-bridge-perf"),
           "-a", "127.0.0.1", "-s", str(tgt.port), "-n", nqn, "--cpu", str(args.pcpu),
           "--quiet"] + extra
    if poll:
        cmd.append("--poll")
    t_start = time.monotonic()
    if window:
        window.launched(t_start + 0.05)   # connecting takes a few ms
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise RuntimeError("nvmf-bridge-perf %s failed: %s %s" % (" ".join(extra), p.stdout[-2000:],
                                                                  p.stderr[-2000:]))
    r = json.loads(p.stdout.strip().splitlines()[-1])
    t_end = time.monotonic()
    return r, t_start, t_end, p.stderr


def spdk_perf(args, tgt, nqn, wl, size, qd, window=None):
    trid = "trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:%d subnqn:%s" % (tgt.port, nqn)
    # line-buffered, so that "Launching workers" is seen when it is printed
    cmd = ["stdbuf", "-oL", os.path.join(args.spdk, "build/bin/spdk_nvme_perf"), "-c", "0x%x" % (1 << args.pcpu),
           "-q", str(qd), "-o", str(size), "-w", wl, "-t", str(args.secs), "-a", str(args.warmup),
           "-L", "-i", "8", "-r", trid]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out, t_launch = [], None
    for line in p.stdout:
        out.append(line)
        if t_launch is None and "Launching workers" in line:
            t_launch = time.monotonic()
            if window:
                window.launched(t_launch)
    rc = p.wait()
    text = "".join(out)
    m = re.search(r"^Total\s*:\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", text, re.M)
    if rc != 0 or not m or t_launch is None:
        raise RuntimeError("spdk_nvme_perf %s QD%d against %s failed (rc %d):\n%s" %
                           (wl, qd, tgt.kind, rc, text[-3000:]))
    pct = {float(a): float(b) for a, b in re.findall(r"^\s*([\d.]+)%\s*:\s*([\d.]+)us", text, re.M)}
    r = {"iops": float(m.group(1)), "mib_s": float(m.group(2)), "lat_us_mean": float(m.group(3)),
         "lat_us_p50": pct.get(50.0), "lat_us_p99": pct.get(99.0)}
    w0 = t_launch + args.warmup
    return r, w0, w0 + args.secs


def run_one(args, tgt, nqn, ini, wl):
    key, title, pattern, size, qd = wl
    window = BusyWindow(tgt, args.warmup, args.secs)
    window.start()
    if ini == "spdk_nvme_perf":
        r, w0, w1 = spdk_perf(args, tgt, nqn, pattern, size, qd, window)
        share = tgt.sampler.share(w0 + 0.1, w1 - 0.1)
        dev = None
    else:
        r, _, _, err = bridge_perf(args, tgt, nqn,
                                   ["-w", pattern, "-o", str(size), "-q", str(qd), "-t",
                                    str(args.secs), "--warmup", str(args.warmup),
                                    "--target-pid", str(tgt.proc.pid)],
                                   poll=ini == "bridge_perf_poll", window=window)
        share = r.get("target_cpu_pct", 0) / 100.0 if r.get("target_cpu_pct") is not None else None
        dev = r.get("deviations")
    res = {"iops": r["iops"], "mib_s": r["mib_s"], "lat_us_mean": r["lat_us_mean"],
           "lat_us_p50": r.get("lat_us_p50"), "lat_us_p99": r.get("lat_us_p99"),
           "target_core_share": share, "deviations": dev}
    if share:
        res["iops_per_target_cpu_s"] = r["iops"] / share
        res["target_cpu_us_per_cmd"] = share * 1e6 / r["iops"] if r["iops"] else None
    busy = window.share()
    res["target_busy_share"] = busy
    if busy:
        res["iops_per_target_busy_s"] = r["iops"] / busy
        res["target_busy_us_per_cmd"] = busy * 1e6 / r["iops"] if r["iops"] else None
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--spdk", default=os.environ.get("SPDK_DIR", "/opt/spdk"))
    ap.add_argument("--out", required=True, help="path prefix of OUT.json and OUT.md")
    ap.add_argument("--secs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--idle-secs", type=int, default=5)
    ap.add_argument("--tcpu", type=int, default=0)
    ap.add_argument("--pcpu", type=int, default=1)
    ap.add_argument("--ns-mib", type=int, default=512)
    ap.add_argument("--workloads", default="all", help="comma list of keys, or all")
    ap.add_argument("--initiators", default="all", help="comma list of keys, or all")
    ap.add_argument("--null", default="randread_qd32,randwrite_qd32,randread_qd128",
                    help="workloads also run on null devices with spdk_nvme_perf ('' = none)")
    ap.add_argument("--workdir", default="/tmp")
    ap.add_argument("--report", metavar="JSON", help="only write OUT.md again from a saved OUT.json")
    args = ap.parse_args()
    if args.report:
        with open(args.report) as f:
            md = report(json.load(f))
        with open(args.out + ".md", "w") as f:
            f.write(md)
        print(md)
        return

    for b in ("build/bin/nvmf_tgt", "build/bin/spdk_nvme_perf"):
        if not os.access(os.path.join(args.spdk, b), os.X_OK):
            sys.exit("vs_spdk: %s/%s is missing: bench/build-spdk.sh builds it" % (args.spdk, b))
    wls = [w for w in WORKLOADS if args.workloads == "all" or w[0] in args.workloads.split(",")]
    inis = [i for i in INITIATORS if args.initiators == "all" or i[0] in args.initiators.split(",")]
    null_wls = [w for w in WORKLOADS if w[0] in args.null.split(",")] if args.null else []
    setup_hugepages(args)
    workdir = os.path.join(args.workdir, "nvmfb-vs-spdk.%d" % os.getpid())
    os.makedirs(workdir, exist_ok=True)
    runs, foot, idle = [], {"ours": [], "spdk": []}, {"ours": [], "spdk": []}
    port = 28000 + os.getpid() % 1000
    t_begin = time.monotonic()
    try:
        for rnd in range(args.rounds):
            order = ("ours", "spdk") if rnd % 2 == 0 else ("spdk", "ours")
            for kind in order:
                tgt = Target(args, kind, port, workdir)
                port += 2
                try:
                    tgt.start()
                    # every block written once: reads never hit untouched memory
                    bridge_perf(args, tgt, NQN_MEM, ["-w", "write", "-o", "128k", "-q", "32", "-t", "0",
                                                     "--prefill"])
                    foot[kind].append(tgt.footprint())
                    for wl in wls:
                        for ini, _ in inis:
                            r = run_one(args, tgt, NQN_MEM, ini, wl)
                            r.update(round=rnd, target=kind, initiator=ini, workload=wl[0], device="mem")
                            runs.append(r)
                            log("round %d %-5s %-18s %-16s mem  %9.0f IOPS  target %5.1f %% (busy %5.1f %%)  p50 %s us" % (
                                rnd + 1, kind, ini, wl[0], r["iops"],
                                100 * (r["target_core_share"] or 0), 100 * (r["target_busy_share"] or 0),
                                r["lat_us_p50"]))
                    for wl in null_wls:
                        r = run_one(args, tgt, NQN_NULL, "spdk_nvme_perf", wl)
                        r.update(round=rnd, target=kind, initiator="spdk_nvme_perf", workload=wl[0],
                                 device="null")
                        runs.append(r)
                        log("round %d %-5s %-18s %-16s null %9.0f IOPS  target %5.1f %%" % (
                            rnd + 1, kind, "spdk_nvme_perf", wl[0], r["iops"],
                            100 * (r["target_core_share"] or 0)))
                    if args.idle_secs:
                        r, _, _, _ = bridge_perf(args, tgt, NQN_MEM, ["--idle", str(args.idle_secs),
                                                                     "--target-pid", str(tgt.proc.pid)])
                        idle[kind].append(r.get("target_cpu_pct"))
                        pct = r.get("target_cpu_pct")
                        log("round %d %-5s idle with a host connected: target %s of a core" %
                            (rnd + 1, kind, "not measured" if pct is None else "%.2f %%" % pct))
                finally:
                    tgt.stop()
    finally:
        restore_hugepages(args)
    result = {"params": vars(args), "runs": runs, "footprint": foot, "idle_pct": idle,
              "wall_s": time.monotonic() - t_begin,
              "workloads": {w[0]: w[1] for w in WORKLOADS},
              "initiators": dict(INITIATORS)}
    with open(args.out + ".json", "w") as f:
        json.dump(result, f, indent=1)
    md = report(result)
    with open(args.out + ".md", "w") as f:
        f.write(md)
    print(md)


def setup_hugepages(args):
    """SPDK's DPDK needs hugetlbfs; ours uses hugepages when there are some."""
    need = 1536   # 2 MiB pages: SPDK takes ~900 MiB, ours the namespaces + 64 MiB
    try:
        args.hugepages_before = meminfo("HugePages_Total")
        if args.hugepages_before < need:
            with open("/proc/sys/vm/nr_hugepages", "w") as f:
                f.write(str(need))
        with open("/proc/mounts") as f:
            if not any(l.split()[2] == "hugetlbfs" for l in f):
                os.makedirs("/dev/hugepages", exist_ok=True)
                subprocess.run(["mount", "-t", "hugetlbfs", "nodev", "/dev/hugepages"], check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit("vs_spdk: cannot set up hugepages (%s): run as root" % e)
    log("hugepages: %d of 2 MiB, %d free" % (meminfo("HugePages_Total"), meminfo("HugePages_Free")))


def restore_hugepages(args):
    """Give back the hugepages reserved for the run (the mount stays)."""
    before = getattr(args, "hugepages_before", None)
    if before is not None and meminfo("HugePages_Total") != before:
        try:
            with open("/proc/sys/vm/nr_hugepages", "w") as f:
                f.write(str(before))
        except OSError as e:
            log("could not give back the hugepages: %s" % e)


def fmt(v, nd=0):
    if v is None:
        return "-"
    if nd == 0:
        return "{:,.0f}".format(v)
    return "{:,.{}f}".format(v, nd)


def report(res):
    runs = res["runs"]
    out = ["## nvmf-bridged vs SPDK nvmf_tgt (host loopback TCP)", ""]
    p = res["params"]
    out.append("Both targets on CPU %d, one at a time, alternated A B A B over %d rounds; initiator "
               "on CPU %d; %d s per run after %d s of warm-up; %d MiB namespaces of 4 KiB blocks "
               "written once per round. mem = ours `{\"mem\": ...}` vs SPDK Malloc bdev; null = ours "
               "`{\"null\": ...}` vs SPDK Null bdev. Ratios are ours / SPDK per round, shown as "
               "min-max over the rounds (the mean in bold). IOPS per CPU-s = IOPS divided by the "
               "share of a core the target used in the measured window (/proc/PID/stat): both "
               "targets poll, so this is near 100 %% for both. IOPS per busy-s = IOPS divided by the "
               "share of its reactors' time the target itself counted as busy (turns that did work; "
               "ours: nvmf-bridgectl stats, SPDK: thread_get_stats), sampled twice inside the window." %
               (p["tcpu"], p["rounds"], p["pcpu"], p["secs"], p["warmup"], p["ns_mib"]))
    out.append("")
    out.append("| workload | device | initiator | ours IOPS | SPDK IOPS | IOPS ours/SPDK | ours target CPU % | "
               "SPDK target CPU % | IOPS per CPU-s ours/SPDK | busy % ours / SPDK | "
               "IOPS per busy-s ours/SPDK | p50 us ours | p50 us SPDK | p99 us ours | p99 us SPDK |")
    out.append("| --- " * 15 + "|")
    keys = []
    for r in runs:
        k = (r["workload"], r["device"], r["initiator"])
        if k not in keys:
            keys.append(k)

    def ratio_str(vals):
        vals = [v for v in vals if v is not None]
        if not vals:
            return "-"
        return "**%.2fx** (%.2f-%.2f)" % (statistics.mean(vals), min(vals), max(vals))

    summary = {}
    for k in keys:
        sel = [r for r in runs if (r["workload"], r["device"], r["initiator"]) == k]
        by = {t: {r["round"]: r for r in sel if r["target"] == t} for t in ("ours", "spdk")}
        rounds = sorted(set(by["ours"]) & set(by["spdk"]))
        iops_r = [by["ours"][i]["iops"] / by["spdk"][i]["iops"] for i in rounds if by["spdk"][i]["iops"]]
        def per(f):
            return [by["ours"][i][f] / by["spdk"][i][f] for i in rounds
                    if by["spdk"][i].get(f) and by["ours"][i].get(f)]
        eff_r = per("iops_per_target_cpu_s")
        busy_r = per("iops_per_target_busy_s")

        def mean(t, f, scale=1.0):
            v = [by[t][i].get(f) for i in rounds if by[t][i].get(f) is not None]
            return statistics.mean(v) * scale if v else None
        summary[k] = {"iops_ratio": iops_r, "eff_ratio": eff_r, "busy_ratio": busy_r,
                      "p50_ours": mean("ours", "lat_us_p50"), "p50_spdk": mean("spdk", "lat_us_p50")}
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s | %s | %s | %s | %s |" % (
            res["workloads"][k[0]], k[1], res["initiators"][k[2]],
            " / ".join(fmt(by["ours"][i]["iops"]) for i in rounds),
            " / ".join(fmt(by["spdk"][i]["iops"]) for i in rounds),
            ratio_str(iops_r),
            fmt(mean("ours", "target_core_share", 100), 1), fmt(mean("spdk", "target_core_share", 100), 1),
            ratio_str(eff_r),
            fmt(mean("ours", "target_busy_share", 100), 1), fmt(mean("spdk", "target_busy_share", 100), 1),
            ratio_str(busy_r),
            fmt(mean("ours", "lat_us_p50"), 1), fmt(mean("spdk", "lat_us_p50"), 1),
            fmt(mean("ours", "lat_us_p99"), 1), fmt(mean("spdk", "lat_us_p99"), 1)))
    out.append("")
    out.append("| target | listening after ms | RSS MiB | hugepages MiB | idle with a host connected, % of a core |")
    out.append("| --- | --- | --- | --- | --- |")
    for t, name in (("ours", "nvmf-bridged"), ("spdk", "SPDK nvmf_tgt")):
        f = res["footprint"][t]
        idle = [v for v in res["idle_pct"][t] if v is not None]
        out.append("| %s | %s | %s | %s | %s |" % (
            name, " / ".join(fmt(x["listen_ms"]) for x in f), " / ".join(fmt(x["rss_mib"], 1) for x in f),
            " / ".join(fmt(x["hugepages_mib"]) for x in f), " / ".join(fmt(v, 2) for v in idle)))
    out.append("")
    # the bars, as far as this run measures them
    out.append("| bar | measured | met |")
    out.append("| --- | --- | --- |")
    for wl in ("randread_qd32", "randread_qd128", "randwrite_qd32", "randwrite_qd128"):
        for ini in ("spdk_nvme_perf", "bridge_perf_epoll", "bridge_perf_poll"):
            s = summary.get((wl, "mem", ini))
            if not s:
                continue
            for key, what in (("eff_ratio", "CPU-s (/proc)"), ("busy_ratio", "busy-s (own count)")):
                if not s.get(key):
                    continue
                lo = min(s[key])
                out.append("| %s, %s: IOPS per target %s >= 1.3x SPDK | %.2fx (min %.2fx) | %s |" % (
                    res["workloads"][wl], res["initiators"][ini], what, statistics.mean(s[key]), lo,
                    "yes" if lo >= 1.3 else "**no**"))
    for ini in ("spdk_nvme_perf", "bridge_perf_epoll", "bridge_perf_poll"):
        s = summary.get(("randread_qd1", "mem", ini))
        if s and s["p50_ours"] is not None and s["p50_spdk"] is not None:
            out.append("| 4 KiB random read QD1, %s: p50 <= SPDK's | %.1f vs %.1f us | %s |" % (
                res["initiators"][ini], s["p50_ours"], s["p50_spdk"],
                "yes" if s["p50_ours"] <= s["p50_spdk"] else "**no**"))
    idle = [v for v in res["idle_pct"]["ours"] if v is not None]
    if idle:
        out.append("| idle with a host connected < 1 %% of a core | %.2f %% | %s |" % (
            max(idle), "yes" if max(idle) < 1 else "**no**"))
    out.append("")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
