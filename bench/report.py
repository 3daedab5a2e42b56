#!/usr/bin/env python3
"""Turn the raw results of bench/bench.sh into the table: stdout, OUT.json, OUT.md.

--host DIR  the host part: machine.txt, host_<name>.json (nvmf-bridge-perf's JSON lines)
--vm DIR    the VM part (build/vm/share/results/bench): runs.txt, fio JSON,
            nvmf-pcie perf output, /proc/stat samples (.cpu), guest.txt
"""
import argparse
import json
import os
import statistics
import sys

HOST_RUNS = [
    ("randread_qd1", "4 KiB random read", 1),
    ("randread_qd32", "4 KiB random read", 32),
    ("randread_qd128", "4 KiB random read", 128),
    ("randwrite_qd1", "4 KiB random write", 1),
    ("randwrite_qd32", "4 KiB random write", 32),
    ("randwrite_qd128", "4 KiB random write", 128),
    ("read128k_qd32", "128 KiB sequential read", 32),
    ("randread_qd32_digest", "4 KiB random read, digests", 32),
    ("randwrite_qd32_digest", "4 KiB random write, digests", 32),
    ("read128k_qd32_digest", "128 KiB sequential read, digests", 32),
]
# each digest run and the plain run it is compared with
DIGEST_PAIRS = [("randread_qd32_digest", "randread_qd32"), ("randwrite_qd32_digest", "randwrite_qd32"),
                ("read128k_qd32_digest", "read128k_qd32")]
VM_JOBS = {
    "randread_qd32": "4 KiB random read QD32",
    "randread_qd1": "4 KiB random read QD1",
    "randwrite_qd32": "4 KiB random write QD32",
}
USER_HZ = 100


def kv_file(path):
    d = {}
    if os.path.exists(path):
        for line in open(path):
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                d[k] = v
    return d


def last_json(path):
    """The last line of a file that parses as a JSON object."""
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


def fio_json(path):
    try:
        text = open(path).read()
    except OSError:
        return None
    start = text.find("{")
    if start < 0:
        return None
    try:
        d = json.loads(text[start:])
    except ValueError:
        return None
    job = d["jobs"][0]
    side = job["write"] if job["write"]["io_bytes"] > job["read"]["io_bytes"] else job["read"]
    lat = side.get("lat_ns", {})
    pct = lat.get("percentile") or side.get("clat_ns", {}).get("percentile") or {}

    def p(key):
        for k, v in pct.items():
            if abs(float(k) - key) < 1e-6:
                return v / 1000.0
        return None

    return {
        "iops": side["iops"],
        "lat_us_mean": lat.get("mean", 0) / 1000.0,
        "lat_us_p50": p(50.0),
        "lat_us_p99": p(99.0),
        "lat_us_p999": p(99.9),
        "ios": side.get("total_ios"),
        "tool_cpu_s": (job.get("usr_cpu", 0) + job.get("sys_cpu", 0)) / 100.0 * job.get("job_runtime", 0) / 1000.0,
    }


def cpu_window(path, ncpus):
    """Busy guest CPU seconds and wall seconds between the two /proc/stat samples."""
    try:
        lines = [l.split() for l in open(path).read().splitlines() if l.strip()]
    except OSError:
        return None
    if len(lines) < 2:
        return None
    a, b = lines[0], lines[1]
    ta, tb = float(a[0]), float(b[0])
    va = [int(x) for x in a[2:]]
    vb = [int(x) for x in b[2:]]
    d = [y - x for x, y in zip(va, vb)]
    total = sum(d[:8])           # user nice system idle iowait irq softirq steal
    idle = d[3] + d[4]
    busy = (total - idle) / USER_HZ
    wall = tb - ta
    return {"busy_s": busy, "wall_s": wall, "util_pct": 100.0 * busy / (wall * ncpus) if wall > 0 else None}


def mean(xs):
    xs = [x for x in xs if x is not None]
    return statistics.mean(xs) if xs else None


def fmt(v, nd=1):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if abs(v) >= 1000 and nd <= 1:
        return "{:,.0f}".format(v)
    return "{:.{}f}".format(v, nd)


def md_table(head, rows):
    out = ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
    for r in rows:
        out.append("| " + " | ".join(fmt(c) if not isinstance(c, str) else c for c in r) + " |")
    return "\n".join(out)


def host_part(hdir, m):
    res = {"runs": [], "idle": None}
    for name, desc, qd in HOST_RUNS:
        r = last_json(os.path.join(hdir, "host_%s.json" % name))
        if not r:
            continue
        res["runs"].append({"name": name, "desc": desc, "qd": qd, **r})
    res["idle"] = last_json(os.path.join(hdir, "host_idle.json"))
    res["verify"] = last_json(os.path.join(hdir, "host_verify.json"))
    return res


def vm_part(vdir):
    guest = kv_file(os.path.join(vdir, "guest.txt"))
    ncpus = int(guest.get("cpus", "2") or 2)
    runs = []
    path = os.path.join(vdir, "runs.txt")
    if os.path.exists(path):
        for line in open(path):
            f = line.split()
            if len(f) < 6:
                continue
            pair, side, rnd, job, fname, rc = f[:6]
            full = os.path.join(vdir, fname)
            r = fio_json(full) if fname.endswith(".json") else last_json(full)
            if r is None or rc != "0":
                runs.append({"pair": pair, "side": side, "round": int(rnd), "job": job, "ok": False, "rc": rc})
                continue
            cpu = cpu_window(os.path.join(vdir, fname.rsplit(".", 1)[0] + ".cpu"), ncpus)
            iops = r["iops"]
            per = None
            if cpu and cpu["wall_s"] > 0 and iops > 0:
                per = cpu["busy_s"] * 1e6 / (iops * cpu["wall_s"])
            runs.append({"pair": pair, "side": side, "round": int(rnd), "job": job, "ok": True,
                         "iops": iops, "lat_us_mean": r.get("lat_us_mean"), "lat_us_p50": r.get("lat_us_p50"),
                         "lat_us_p99": r.get("lat_us_p99"), "lat_us_p999": r.get("lat_us_p999"),
                         "guest_cpu_us_per_cmd": per, "guest_cpu_pct": cpu["util_pct"] if cpu else None})
    status = {}
    p = os.path.join(vdir, "rdma_status.txt")
    if os.path.exists(p):
        status["rdma"] = open(p).read().strip()
    return {"guest": guest, "runs": runs, "status": status}


def summarize(runs, pair, job):
    out = {}
    for side in ("kernel", "ours"):
        rs = [r for r in runs if r["pair"] == pair and r["job"] == job and r["side"] == side and r["ok"]]
        if not rs:
            continue
        out[side] = {
            "rounds": [r["iops"] for r in sorted(rs, key=lambda r: r["round"])],
            "iops": mean([r["iops"] for r in rs]),
            "lat_us_mean": mean([r["lat_us_mean"] for r in rs]),
            "lat_us_p50": mean([r["lat_us_p50"] for r in rs]),
            "lat_us_p99": mean([r["lat_us_p99"] for r in rs]),
            "lat_us_p999": mean([r["lat_us_p999"] for r in rs]),
            "guest_cpu_us_per_cmd": mean([r["guest_cpu_us_per_cmd"] for r in rs]),
            "guest_cpu_pct": mean([r["guest_cpu_pct"] for r in rs]),
        }
    if "kernel" in out and "ours" in out:
        k, o = out["kernel"], out["ours"]
        out["ratio_iops"] = o["iops"] / k["iops"] if k["iops"] else None
        if k["guest_cpu_us_per_cmd"] and o["guest_cpu_us_per_cmd"]:
            out["ratio_cpu_per_cmd"] = o["guest_cpu_us_per_cmd"] / k["guest_cpu_us_per_cmd"]
    return out


def tls_part(path):
    """tls.txt: SIDE ROUND JOB IOPS CPU_US_PER_IO -> table rows"""
    acc = {}
    for line in open(path):
        f = line.split()
        if len(f) != 5 or f[4] == "-":
            continue
        acc.setdefault((f[2], f[0]), []).append((float(f[3]), float(f[4])))
    rows = []
    for job in ("randread_qd32", "randwrite_qd32", "read128k_qd8"):
        for side in ("kernel", "ours"):
            plain, tls = acc.get((job, side)), acc.get((job, side + "_tls"))
            if not plain or not tls:
                continue
            pi, pc = mean([x[0] for x in plain]), mean([x[1] for x in plain])
            ti, tc = mean([x[0] for x in tls]), mean([x[1] for x in tls])
            rows.append([job, side, fmt(pi, 0), fmt(pc, 1), "", ""])
            rows.append([job, side + " + TLS", fmt(ti, 0), fmt(tc, 1), "%.2f" % (ti / pi) if pi else "-",
                         fmt(tc - pc, 1)])
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--vm")
    ap.add_argument("--tls", help="tls.txt of the current guest's TLS runs (tests/vm/guest/tls_bench.sh)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    m = kv_file(os.path.join(a.host, "machine.txt"))
    host = host_part(a.host, m)
    vm = vm_part(a.vm) if a.vm and os.path.isdir(a.vm) else None
    md = []
    md.append("# nvmf-bridge benchmark %s" % os.path.basename(a.out))
    md.append("")
    md.append("- machine: %s, %s CPUs (%s hypervisor), kernel %s, TCP congestion control %s" % (
        m.get("cpu_model"), m.get("cpus"), m.get("hypervisor") or "no", m.get("kernel"),
        m.get("tcp_cc") or "not recorded"))
    md.append("- commit: %s%s" % (m.get("commit"), " (with %s uncommitted change(s) to tracked files)" % m["dirty"]
                                 if m.get("dirty", "0") not in ("0", "") else ""))
    md.append("- load average at start %s, after the host part %s, at end %s; other QEMU processes running at start: %s%s" % (
        m.get("loadavg_start"), m.get("loadavg_host_end"), m.get("loadavg_end"), m.get("other_qemu_start"),
        (", at the VM part: %s" % m["other_qemu_vm_start"]) if "other_qemu_vm_start" in m else ""))
    md.append("- wall time %s s" % m.get("wall_s"))
    md.append("")
    md.append("## Host loopback, no VM")
    md.append("")
    md.append("nvmf-bridged (1 reactor, `mem` namespace of 512 MiB with 4 KiB blocks, written once before the runs) on 127.0.0.1, "
              "pinned to CPU %s; nvmf-bridge-perf (1 queue, epoll) pinned to CPU %s; %s s per workload after %s s of warm-up. "
              "Target CPU = utime+stime of the daemon from /proc/PID/stat over the measured window, divided by the commands "
              "completed in it." % (m.get("target_cpu"), m.get("perf_cpu"), m.get("host_secs"), m.get("host_warmup")))
    md.append("")
    rows = []
    for r in host["runs"]:
        rows.append([r["desc"], str(r["qd"]), r["iops"], r["mib_s"], r["lat_us_mean"], r["lat_us_p50"], r["lat_us_p99"],
                     r["lat_us_p999"], fmt(r.get("target_cpu_us_per_cmd"), 2), fmt(r.get("target_cpu_pct"), 0),
                     fmt(r["cpu_us_per_cmd"], 2)])
    md.append(md_table(["workload", "QD", "IOPS", "MiB/s", "lat mean us", "p50", "p99", "p99.9",
                        "target CPU us/cmd", "target CPU % of a core", "perf CPU us/cmd"], rows))
    runs = {r["name"]: r for r in host["runs"]}
    drows = []
    for dig, plain in DIGEST_PAIRS:
        d, p = runs.get(dig), runs.get(plain)
        if not d or not p or d.get("target_cpu_us_per_cmd") is None or p.get("target_cpu_us_per_cmd") is None:
            continue
        dc, pc = d["target_cpu_us_per_cmd"], p["target_cpu_us_per_cmd"]
        drows.append([p["desc"], str(p["qd"]), fmt(pc, 2), fmt(dc, 2), fmt(dc - pc, 2),
                      "%.0f %%" % (100.0 * (dc - pc) / pc) if pc else "-",
                      "%.2f" % (d["iops"] / p["iops"]) if p["iops"] else "-"])
    if drows:
        md.append("")
        md.append("Cost of header and data digests (CRC32C, SSE4.2) per command, the same workload without and "
                  "with `--hdgst --ddgst` in this run:")
        md.append("")
        md.append(md_table(["workload", "QD", "target us/cmd plain", "with digests", "digest cost us/cmd",
                            "more CPU", "IOPS ratio"], drows))
    idle = host.get("idle")
    if idle:
        md.append("")
        md.append("Idle: one host connected (admin queue + 1 I/O queue, keep-alive every %d ms), nothing else, for %.1f s: "
                  "the target used **%.3f s of CPU = %.2f %% of a core**." % (
                      10000 // 2, idle["seconds"], idle.get("target_cpu_s", -1), idle.get("target_cpu_pct", -1)))
    if host.get("verify"):
        v = host["verify"]
        md.append("")
        md.append("Verify run: %d blocks checked, %d mismatches." % (v.get("verified_blocks", 0), v.get("mismatches", -1)))

    bars = []
    rr32 = next((r for r in host["runs"] if r["name"] == "randread_qd32"), None)
    if rr32 and rr32.get("target_cpu_us_per_cmd") is not None:
        v = rr32["target_cpu_us_per_cmd"]
        bars.append(("host 4 KiB randread QD32: target CPU per command <= 1.0 us", "%.2f us" % v, v <= 1.0))
    if idle and idle.get("target_cpu_pct") is not None:
        v = idle["target_cpu_pct"]
        bars.append(("host idle with a host connected: target CPU < 1 % of a core", "%.2f %%" % v, v < 1.0))

    if vm:
        g = vm["guest"]
        md.append("")
        md.append("## VM: the kernel's stack and ours side by side")
        md.append("")
        md.append("QEMU %s, TCG, 2 vCPUs, 2 GiB, q35 with an emulated Intel IOMMU; QEMU's NVMe controller backed by "
                  "`-drive driver=null-co,size=1G,read-zeroes=on` (no disk behind it); guest kernel %s, %s. "
                  "%s s per run, sides alternated A B A B over %s rounds (the IOPS of each round are listed). "
                  "Guest CPU per command: the guest's busy time (all CPUs: /proc/stat user+nice+system+irq+softirq+steal "
                  "ticks, i.e. total minus idle and iowait) between two samples taken %s s after a run starts and 1 s "
                  "before it ends, divided by (the tool's IOPS x the seconds between the samples). It covers everything "
                  "in the guest: fio, the initiator, the target and the driver." % (
                      (m.get("qemu") or "").replace("QEMU emulator version ", ""), g.get("kernel"), g.get("fio"),
                      g.get("secs", m.get("vm_secs")), g.get("rounds", m.get("rounds")), g.get("skip", "3")))
        sections = [
            ("pcie", "(a) PCIe: the kernel nvme driver + fio (io_uring) vs `nvmf-pcie perf` (our driver, polling)",
             ["randread_qd32"], ("kernel nvme + fio", "nvmf-pcie perf")),
            ("tcp", "(b) NVMe/TCP on 127.0.0.1: the kernel's nvmet-tcp (exporting the controller through the kernel nvme "
                    "driver) vs nvmf-bridged (%s reactor(s), our driver through VFIO); the kernel's nvme-tcp initiator and "
                    "fio (io_uring) on both" % g.get("reactors", "1"), list(VM_JOBS), ("kernel nvmet-tcp", "nvmf-bridged")),
            ("rdma", "(c) NVMe/RDMA over soft-RoCE (rxe loopback): the kernel's nvmet-rdma vs nvmf-bridged",
             list(VM_JOBS), ("kernel nvmet-rdma", "nvmf-bridged")),
        ]
        vm_json = {}
        for pair, title, jobs, names in sections:
            md.append("")
            md.append("### " + title)
            md.append("")
            if pair == "rdma" and vm["status"].get("rdma", "").startswith("not measured"):
                md.append("**TODO: %s**" % vm["status"]["rdma"])
                vm_json[pair] = {"status": vm["status"]["rdma"]}
                continue
            rows = []
            vm_json[pair] = {}
            for job in jobs:
                s = summarize(vm["runs"], pair, job)
                vm_json[pair][job] = s
                jd = VM_JOBS.get(job, job)
                for side, label in (("kernel", names[0]), ("ours", names[1])):
                    if side not in s:
                        rows.append([jd, label, "no result", "", "", "", "", "", "", ""])
                        continue
                    x = s[side]
                    rows.append([jd, label, " / ".join(fmt(v) for v in x["rounds"]), x["iops"], x["lat_us_mean"],
                                 x["lat_us_p50"], x["lat_us_p99"], x["lat_us_p999"], x["guest_cpu_us_per_cmd"],
                                 fmt(x["guest_cpu_pct"], 0)])
                if "ratio_iops" in s:
                    rows.append([jd, "**ours / theirs**", "", "**%.2fx**" % s["ratio_iops"], "", "", "", "",
                                 ("**%.2fx**" % s["ratio_cpu_per_cmd"]) if s.get("ratio_cpu_per_cmd") else "-", ""])
                if pair == "tcp" and job == "randread_qd32" and "ratio_iops" in s:
                    ok_cpu = s.get("ratio_cpu_per_cmd") is not None and s["ratio_cpu_per_cmd"] <= 1.0
                    bars.append(("VM TCP 4 KiB randread QD32: nvmf-bridged >= 1.5x nvmet IOPS at no more guest CPU per command",
                                 "%.2fx IOPS, %.2fx CPU/cmd" % (s["ratio_iops"], s.get("ratio_cpu_per_cmd") or float("nan")),
                                 s["ratio_iops"] >= 1.5 and ok_cpu))
            md.append(md_table(["workload", "side", "IOPS per round", "IOPS mean", "lat mean us", "p50", "p99", "p99.9",
                                "guest CPU us/cmd", "guest CPU %"], rows))
        failed = [r for r in vm["runs"] if not r["ok"]]
        if failed:
            md.append("")
            md.append("Failed VM runs: " + ", ".join("%s/%s/r%d/%s (rc %s)" % (r["pair"], r["side"], r["round"], r["job"], r["rc"])
                                                    for r in failed))
    else:
        vm_json = None
        md.append("")
        md.append("(VM part not run)")

    tls = tls_part(a.tls) if a.tls and os.path.isfile(a.tls) else None
    if tls:
        md.append("")
        md.append("## VM: the cost of TLS (issue 11)")
        md.append("")
        md.append("The current guest (kernel 6.12, tlshd, QEMU TCG, 2 vCPUs), the kernel's nvme-tcp initiator and fio "
                  "(io_uring, 1 I/O queue) on 127.0.0.1 against nvmet-tcp (null_blk) and nvmf-bridged (a null "
                  "namespace, 1 reactor), each on a plain port and one with TLS 1.3 (TLS_AES_128_GCM_SHA256, kTLS "
                  "at both ends); sides alternated in every round; means over the rounds. CPU per I/O is the "
                  "guest's (initiator, target and the kernel's crypto together).")
        md.append("")
        md.append(md_table(["workload", "side", "IOPS", "guest CPU us/IO", "TLS: IOPS ratio", "TLS: CPU us/IO added"],
                           tls))
    md.append("")
    md.append("## First bars (issue 6)")
    md.append("")
    md.append(md_table(["bar", "measured", "met"], [[b[0], b[1], "yes" if b[2] else "**no**"] for b in bars]))
    md.append("")
    md.append("Reproduce: `make bench` (env knobs in bench/bench.sh); this file's raw numbers are in %s.json." %
              os.path.basename(a.out))
    text = "\n".join(md) + "\n"
    result = {"name": os.path.basename(a.out), "machine": m, "host": host, "vm": vm_json,
              "vm_runs": vm["runs"] if vm else None, "vm_guest": vm["guest"] if vm else None,
              "bars": [{"bar": b[0], "measured": b[1], "met": b[2]} for b in bars], "tls": tls}
    with open(a.out + ".json", "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
    with open(a.out + ".md", "w") as f:
        f.write(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
