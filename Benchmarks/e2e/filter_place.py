#!/usr/bin/env python3
"""Kernel filter vs user-space filter (issue 17), on the veth testbed.

    sudo python3 Benchmarks/e2e/filter_place.py [--wirecap PATH] [--packets N] [--rate PPS] [--reps K]

One capture per (placement, repetition), alternating: `wirecap capture` with a
filter that keeps 1% of the traffic (`udp and src port 10000`: one flow of the
generator's 100), run in the XDP program (`--filter-in kernel`, rejected
packets passed to the stack or dropped) or after capture (`--filter-in user`).
Reports, per run, what the ledger says (offered, delivered, filtered, and how
many in the kernel), how many frames the pools took (packets the capture
threads received), the capture process's CPU-seconds (rusage of the child, so
hundreds of scheduler ticks at the default 2 M packets) and the whole machine's
busy CPU-seconds (/proc/stat, softirq included: the kernel's share, and the
generator's), each per million offered packets and per thousand delivered. Standard library only;
nothing is hard-coded: every figure printed is measured in this run.
"""
import argparse
import json
import os
import subprocess
import time

from common import capture_report, machine_busy, testbed, wait_ready

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(wirecap, bed, place, rejected, packets, rate):
    argv = [wirecap, "capture", "-i", bed["captureInterface"], "-q", "0,1", "--buffer", "64MiB", "--json",
            "--stats-interval", "0", "--idle-exit", "1", "--filter-in", place, "--filter-rejected", rejected,
            "udp and src port 10000"]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_ready(p)
    busy0 = machine_busy()[0]
    t0 = time.monotonic()
    before = os.times()
    gen = subprocess.run([wirecap, "generate", "--netns", bed["namespace"], "-i", bed["generatorInterface"],
                          "--count", str(packets), "--rate", str(rate), "--flows", "100", "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if gen.returncode != 0:
        p.kill()
        raise RuntimeError("generator failed: " + gen.stderr.strip())
    # Children's times accrue when each is waited for: the generator's now, the capture's below.
    after_gen = os.times()
    out, err = p.communicate(timeout=120)
    after = os.times()
    cpu = (after.children_user - after_gen.children_user) + (after.children_system - after_gen.children_system)
    busy = machine_busy()[0] - busy0
    wall = time.monotonic() - t0
    if p.returncode != 0:
        raise RuntimeError(f"capture exited {p.returncode}: {err.strip()}")
    return out, err, busy, wall, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wirecap", default=os.path.join(ROOT, ".build-bench/release/wirecap"))
    ap.add_argument("--packets", type=int, default=2_000_000)
    ap.add_argument("--rate", type=int, default=200_000)
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args()
    rows = []
    with testbed(args.wirecap, f"wfp{os.getpid() % 100000}") as bed:
        for rep in range(args.reps):
            for place, rejected in (("kernel", "pass"), ("user", "pass"), ("kernel", "drop")):
                out, err, busy, wall, cpu = run(args.wirecap, bed, place, rejected, args.packets, args.rate)
                report = capture_report(out)
                t = {k: sum(q[k] for q in report["ledger"]["queues"]) for k in
                     ("offered", "delivered", "filtered", "filteredInKernel", "unexplained")}
                received = sum(q["statistics"]["packetsReceived"] for q in report["queues"])
                row = dict(place=place, rejected=rejected, rep=rep, **t, framesTaken=received, processCPU=cpu,
                           machineBusy=busy, wall=wall, note=err.strip().splitlines()[:1])
                rows.append(row)
                print(json.dumps(row), flush=True)
    print("\n| filter in | rejected | rep | offered | delivered | filtered (in kernel) | frames taken | process CPU-s per M offered "
          "| per 1k delivered | machine busy CPU-s per M offered |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        m = r["offered"] / 1e6
        print(f"| {r['place']} | {r['rejected']} | {r['rep']} | {r['offered']} | {r['delivered']} | {r['filtered']} "
              f"({r['filteredInKernel']}) | {r['framesTaken']} | {r['processCPU'] / m:.3f} | "
              f"{r['processCPU'] / max(1, r['delivered']) * 1000:.3f} | {r['machineBusy'] / m:.3f} |")


if __name__ == "__main__":
    main()
