#!/usr/bin/env python3
"""Flow bypass in the XDP program (issue 17): what it saves, what it costs, on the veth testbed.

    sudo python3 Benchmarks/e2e/bypass_cost.py [--wirecap PATH] [--packets N] [--rate PPS] [--reps K] [--costs 0,100]

Traffic: 2 queues, 16 flows per queue, shared 80/20, with an elephant carrying
75% of queue 0 (60% of all packets; `wirecap generate --share 0.8,0.2
--elephant 75`). One capture per (configuration, consumer cost x, repetition),
alternating:

  off      no bypass table: every packet is captured and consumed
  table    the table in the program, nothing bypassed (`--bypass-after` far above
           any flow): the parse and lookup every packet pays
  bypass   `--bypass-after 4MiB`: the elephant (1.2 M packets at the default 2 M)
           is cut off after its first 4 MiB; every other flow (at most 27,000
           packets, 1.7 MB) stays under it and is captured whole

Reports, per run, the ledger (offered, delivered, bypassed, lost, unexplained),
frames the pools took (packets the capture threads received), the capture
process's CPU-seconds (rusage of the child: hundreds of ticks at the default 2 M
packets) and the whole machine's busy CPU-seconds (/proc/stat, softirq included:
the XDP program runs there, and the generator), each per million offered
packets, and the XDP program's own time per run as the kernel measures it
(`kernel.bpf_stats_enabled` is set to 1 for the runs and restored after).
Standard library only; every figure printed is measured in this run.
"""
import argparse
import json
import os
import subprocess
import time

from common import capture_report, machine_busy, testbed, wait_ready

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = {"off": [], "table": ["--bypass-after", "1TiB"], "bypass": ["--bypass-after", "4MiB"]}


def run(wirecap, bed, extra, cost, packets, rate):
    argv = [wirecap, "capture", "-i", bed["captureInterface"], "-q", "0,1", "--buffer", "64MiB", "--json",
            "--stats-interval", "0", "--idle-exit", "1", "--consumer-cost", str(cost)] + extra
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_ready(p)
    busy0 = machine_busy()[0]
    gen = subprocess.run([wirecap, "generate", "--netns", bed["namespace"], "-i", bed["generatorInterface"],
                          "--queue-count", "2", "--share", "0.8,0.2", "--elephant", "75", "--flows", "16",
                          "--count", str(packets), "--rate", str(rate), "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if gen.returncode != 0:
        p.kill()
        raise RuntimeError("generator failed: " + gen.stderr.strip())
    # Children's times accrue when each is waited for: the generator's now, the capture's below.
    after_gen = os.times()
    out, err = p.communicate(timeout=300)
    after = os.times()
    cpu = (after.children_user - after_gen.children_user) + (after.children_system - after_gen.children_system)
    busy = machine_busy()[0] - busy0
    if p.returncode != 0:
        raise RuntimeError(f"capture exited {p.returncode}: {err.strip()}")
    return out, cpu, busy


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wirecap", default=os.path.join(ROOT, ".build-bench/release/wirecap"))
    ap.add_argument("--packets", type=int, default=2_000_000)
    ap.add_argument("--rate", type=int, default=200_000)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--costs", default="0,100", help="consumer costs x (BPF filter runs per packet)")
    args = ap.parse_args()
    rows = []
    stats_path = "/proc/sys/kernel/bpf_stats_enabled"
    with open(stats_path) as f:
        stats_before = f.read().strip()
    with open(stats_path, "w") as f:
        f.write("1")
    try:
        with testbed(args.wirecap, f"wbc{os.getpid() % 100000}") as bed:
            for rep in range(args.reps):
                for cost in [int(c) for c in args.costs.split(",")]:
                    for config, extra in CONFIGS.items():
                        out, cpu, busy = run(args.wirecap, bed, extra, cost, args.packets, args.rate)
                        report = capture_report(out)
                        q = report["ledger"]["queues"]
                        t = {k: sum(r.get(k, 0) for r in q) for k in ("offered", "delivered", "bypassed", "unexplained")}
                        lost = sum(sum(r.get(k, 0) for k in ("beforeSocket", "noFrame", "poolExhausted", "rxRingFull",
                                                             "invalidDescriptor", "delivery", "writer", "abandoned", "txStalled"))
                                   for r in q)
                        received = sum(r["statistics"]["packetsReceived"] for r in report["queues"])
                        xdp = report.get("xdpProgram") or {}
                        row = dict(config=config, cost=cost, rep=rep, **t, lost=lost, framesTaken=received,
                                   flowsCut=sum(r.get("flowsBypassed", 0) for r in report["queues"]),
                                   processCPU=cpu, machineBusy=busy,
                                   xdpNsPerRun=xdp.get("nanoseconds", 0) / max(1, xdp.get("runs", 0)))
                        rows.append(row)
                        print(json.dumps(row), flush=True)
    finally:
        with open(stats_path, "w") as f:
            f.write(stats_before)
    print("\n| config | x | rep | offered | delivered | bypassed | lost | unexplained | frames taken | flows cut "
          "| process CPU-s per M offered | machine busy CPU-s per M offered | XDP ns per run |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        m = r["offered"] / 1e6
        print(f"| {r['config']} | {r['cost']} | {r['rep']} | {r['offered']} | {r['delivered']} | {r['bypassed']} | {r['lost']} "
              f"| {r['unexplained']} | {r['framesTaken']} | {r['flowsCut']} | {r['processCPU'] / m:.3f} | {r['machineBusy'] / m:.3f} "
              f"| {r['xdpNsPerRun']:.0f} |")


if __name__ == "__main__":
    main()
