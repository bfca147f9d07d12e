#!/usr/bin/env python3
"""tcpdump -w through WireCap (`wirecap exec`) against tcpdump on the stock libpcap
(issue 16): the same traffic, the same buffer memory, loss and CPU.

    python3 Benchmarks/e2e/tcpdump_pcap.py --wirecap .build-bench/release/wirecap

Per case and engine (alternating, --reps times): a fresh tcpdump -w to tmpfs (so the
disk is not what is measured), ready once it says "listening on"; `wirecap generate`
sends the case's traffic from the testbed's namespace; once tcpdump's CPU time stops
growing (it has read everything it will) it gets SIGINT and its closing lines are
read. Loss = sent - captured (tcpdump's own count of packets written). CPU: the tcpdump
process, all threads (WireCap's capture threads included; the stock engine's kernel
copy runs in softirq context, charged to whoever was running, so the whole machine's
busy time over the run is given too).

Memory: --buffer-mib per queue for WireCap (`wirecap exec --buffer`), and the same
total for stock tcpdump's one ring (`-B` = queues x buffer), as the contest's pcap row.
Cases: `max` (--packets at the generator's maximum rate, 50/50 over 2 queues) and
`burst-P` (P packets on queue 0, one flow, at the maximum rate).
"""
import argparse, json, os, re, shutil, signal, subprocess, sys, tempfile, threading, time

from common import machine_busy, proc_cpu, testbed


def counts(stderr):
    def n(suffix):
        m = re.search(r"^(\d+) packets? " + suffix + "$", stderr, re.M)
        return int(m.group(1)) if m else None
    return n("captured"), n("received by filter"), n("dropped by kernel")


def run_one(args, bed, engine, case, out_dir):
    f = os.path.join(out_dir, f"{engine}.pcap")
    # -w: write the file (cheap per packet); text: decode and print every packet
    # (-n -v to /dev/null), a consumer slower than the traffic, where the buffer counts.
    tcpdump = ["tcpdump", "-i", bed["cap"], "-n"] + (["-w", f] if args.consumer == "write" else ["-v"])
    if engine == "stock":
        argv = tcpdump + ["-B", str(args.buffer_mib * 1024 * args.stock_buffer_queues)]
    else:
        argv = [args.wirecap, "exec", "--buffer", f"{args.buffer_mib}MiB", "--"] + tcpdump
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(iter(p.stderr.readline, "")), daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while not any("listening on" in l for l in list(lines)):   # readiness: tcpdump's line
        if time.monotonic() > deadline or p.poll() is not None:
            raise RuntimeError(f"{engine}: tcpdump never listened: {''.join(lines)}")
        time.sleep(0.01)
    c0, m0, t0 = proc_cpu(p.pid), machine_busy()[0], time.monotonic()
    if case == "max":
        gen = ["--queue-count", "2", "--count", str(args.packets), "--rate", "max", "--share", "0.5,0.5"]
    else:
        gen = ["--queue-count", "2", "--count", case.split("-")[1], "--rate", "max", "--share", "1,0", "--flows", "1"]
    g = subprocess.run([args.wirecap, "generate", "--netns", bed["name"], "-i", bed["gen"], "--json"] + gen,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if g.returncode != 0:
        p.kill()
        raise RuntimeError(f"wirecap generate failed: {g.stderr.strip()}")
    j = json.loads(g.stdout)
    sent = sum(q["sent"] for q in j["queues"])
    gen_seconds = max(q["seconds"] for q in j["queues"])
    # Drained: the process's CPU time grows by less than 30 ms over 1.5 s (longer than
    # stock tcpdump's 1 s timeout, after which libpcap hands over its last partly
    # filled TPACKET_V3 block; WireCap's idle capture thread alone takes ~15 ms per 1.5 s).
    last = proc_cpu(p.pid)
    while True:
        time.sleep(1.5)
        now = proc_cpu(p.pid)
        if now is None or now - last < 0.030:
            break
        last = now
    # CPU up to the start of the quiet window (the idle window itself is not the work).
    c1, m1, t1 = last, machine_busy()[0], time.monotonic()
    p.send_signal(signal.SIGINT)
    try:
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    reader.join(timeout=10)
    err = "".join(lines)
    captured, received, dropped = counts(err)
    os.unlink(f) if os.path.exists(f) else None
    return {"engine": engine, "consumer": args.consumer, "stock_B_mib": args.buffer_mib * args.stock_buffer_queues, "case": case, "sent": sent, "gen_pps": sent / gen_seconds if gen_seconds else None,
            "captured": captured, "received": received, "dropped": dropped,
            "lost": sent - (captured or 0), "loss_pct": 100.0 * (sent - (captured or 0)) / sent if sent else None,
            "cpu_s": c1 - c0, "idle_window_s": 1.5, "cpu_ns_per_pkt": (c1 - c0) / sent * 1e9 if sent else None,
            "machine_busy_s": m1 - m0, "window_s": t1 - t0}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wirecap", required=True, help="the release wirecap (libwirecap-pcap.so beside it)")
    ap.add_argument("--buffer-mib", type=int, default=64, help="WireCap's memory per queue (stock tcpdump: -B of twice that)")
    ap.add_argument("--stock-buffer-queues", type=int, default=2,
                    help="stock tcpdump's -B in units of --buffer-mib (default 2: the same total memory as WireCap's 2 queues; 1: -B = --buffer)")
    ap.add_argument("--packets", type=int, default=2_000_000, help="packets of the max-rate case")
    ap.add_argument("--bursts", default="1000000,4000000", help="burst sizes P (queue 0, one flow, max rate)")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--consumer", choices=["write", "text"], default="write",
                    help="write: tcpdump -w to tmpfs; text: tcpdump -n -v printing to /dev/null (a slow consumer)")
    ap.add_argument("--out", help="write the rows as JSON lines here")
    args = ap.parse_args()
    name = f"wcm{os.getpid() % 100000}"
    out_dir = tempfile.mkdtemp(dir="/dev/shm", prefix="wcm")
    os.chmod(out_dir, 0o777)
    rows = []
    try:
        with testbed(args.wirecap, name) as tb:
            bed = {"name": name, "cap": tb["captureInterface"], "gen": tb["generatorInterface"]}
            for argv in (["sysctl", "-qw", f"net.ipv6.conf.{bed['cap']}.disable_ipv6=1"],
                         ["ip", "netns", "exec", name, "sysctl", "-qw", f"net.ipv6.conf.{bed['gen']}.disable_ipv6=1"]):
                subprocess.run(argv, check=False)
            cases = ["max"] + [f"burst-{p}" for p in args.bursts.split(",") if p]
            for case in cases:
                for rep in range(args.reps):
                    for engine in (("stock", "wirecap") if rep % 2 == 0 else ("wirecap", "stock")):
                        row = run_one(args, bed, engine, case, out_dir)
                        row["rep"] = rep
                        rows.append(row)
                        print(json.dumps(row), flush=True)
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    if args.out:
        with open(args.out, "w") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
    print("\n| case | engine | rep | sent | gen pps | captured | lost % | tcpdump dropped | CPU s | CPU ns/pkt | machine busy s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['engine']} | {r['rep']} | {r['sent']:,} | {r['gen_pps'] or 0:,.0f} | {r['captured'] or 0:,} | "
              f"{r['loss_pct']:.2f} | {r['dropped']} | {r['cpu_s']:.2f} | {r['cpu_ns_per_pkt']:.0f} | {r['machine_busy_s']:.2f} |")


if __name__ == "__main__":
    sys.exit(main())
