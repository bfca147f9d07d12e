#!/usr/bin/env python3
"""WireCap end-to-end benchmark harness (issue 7). Standard library only.

    sudo python3 Benchmarks/e2e/run.py [--quick]

Builds the C baselines (Benchmarks/baselines, gcc, into Benchmarks/e2e/build)
and `wirecap` (swift build -c release --scratch-path .build-bench), brings up a
2-queue veth testbed in a fresh network namespace, and runs every engine in
turn on identical generated traffic: offered loads x consumer costs, a 90/10
long-term imbalance with heavy consumers, and a short-term burst test beside
the simulator formula. Writes CSV, JSONL and a Markdown table (see README.md).
Everything printed is measured in this run; nothing is hard-coded.
"""
import argparse
import csv
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BASELINES = os.path.join(ROOT, "Benchmarks", "baselines")
BUILD = os.path.join(HERE, "build")
RESULTS = os.path.join(ROOT, "Benchmarks", "results")
SCRATCH = os.path.join(ROOT, ".build-bench")
from common import TICK, machine_busy, proc_cpu, schedstat_cpu, thread_delta, thread_table  # noqa: E402  (beside this script)

# Engines in table order. kind: how it is run; wirecap engines need the CLI.
ENGINES = [
    ("wirecap_advanced", "WireCap advanced (flow offload)"),
    ("wirecap_advanced_chunk", "WireCap advanced, chunk offload (WireCAP-A)"),
    ("wirecap_advanced_strict", "WireCap advanced, flow offload, strict affinity"),
    ("wirecap_basic", "WireCap basic"),
    ("wirecap_advanced_nospill", "WireCap advanced, spill off"),
    ("wirecap_basic_nospill", "WireCap basic, spill off"),
    ("wirecap_afpacket", "WireCap on AF_PACKET backend"),
    ("afpacket_hash", "AF_PACKET V3 fanout hash"),
    ("afpacket_hash_rollover", "AF_PACKET V3 hash+ROLLOVER"),
    ("afpacket_qm", "AF_PACKET V3 fanout qm (queue-bound)"),
    ("pcap", "libpcap pcap_loop"),
    ("recvmmsg", "recvmmsg raw socket"),
    ("xdp_min", "minimal AF_XDP (limit)"),
]
LABEL = dict(ENGINES)
REFERENCE = "wirecap_advanced"

CHILDREN = []  # Popen objects we started (only these are ever signalled)
CAPTURE_THREADS = ("wc-capture", "wc-afp")  # WireCap's capture threads (the consumers are the others)


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sh(argv, check=True, capture=True, timeout=None):
    r = subprocess.run(argv, stdout=subprocess.PIPE if capture else None,
                       stderr=subprocess.PIPE if capture else None, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"`{' '.join(argv)}` failed ({r.returncode}): {(r.stderr or '').strip()}")
    return r


# ---------------------------------------------------------------- measurement

def link_stats(ifname, netns=None):
    argv = ["ip", "-j", "-s", "link", "show", "dev", ifname]
    if netns:
        argv = ["ip", "netns", "exec", netns] + argv
    try:
        j = json.loads(sh(argv).stdout)[0]
        return j["stats64"]["rx"], j["stats64"]["tx"], j
    except Exception:
        return {}, {}, {}


def packet_sockets(ifname):
    """Packet sockets bound to the interface (/proc/net/packet, Iface column)."""
    try:
        idx = int(open(f"/sys/class/net/{ifname}/ifindex").read())
        with open("/proc/net/packet") as f:
            next(f)
            return sum(1 for line in f if len(line.split()) > 4 and line.split()[4] == str(idx))
    except Exception:
        return 0


def xdp_attached(ifname):
    try:
        j = json.loads(sh(["ip", "-j", "link", "show", "dev", ifname]).stdout)[0]
        return "xdp" in j
    except Exception:
        return False


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def spread(xs):
    xs = [x for x in xs if x is not None]
    return (min(xs), max(xs)) if xs else (None, None)


# ---------------------------------------------------------------- builds

def build_baselines():
    os.makedirs(BUILD, exist_ok=True)
    libs = ["-lpthread", "-lpcap"]
    for name, extra in [("afpacket_v3", []), ("pcap_loop", []), ("recvmmsg", []),
                        ("xdp_min", ["-lxdp", "-lbpf"]), ("gen_afpacket", None)]:
        src = [os.path.join(BASELINES, name + ".c")]
        if extra is not None:
            src.append(os.path.join(BASELINES, "wc_cost.c"))
        argv = ["gcc", "-O2", "-Wall", "-o", os.path.join(BUILD, name)] + src + libs + (extra or [])
        sh(argv)
    log(f"built C baselines into {os.path.relpath(BUILD, ROOT)}")


def build_wirecap(skip, ref=None):
    """Builds wirecap from the working tree, or from commit `ref` exported with
    git archive into build/wirecap-src (reproducible while others edit the tree)."""
    src, scratch = ROOT, SCRATCH
    if ref:
        src = os.path.join(BUILD, "wirecap-src")
        scratch = os.path.join(src, ".build-bench")
        if not skip:
            os.makedirs(src, exist_ok=True)
            for entry in os.listdir(src):  # a clean tree of that commit; keep the build cache
                if entry != ".build-bench":
                    path = os.path.join(src, entry)
                    shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.remove(path)
            archive = subprocess.run(["git", "-C", ROOT, "archive", ref], stdout=subprocess.PIPE, check=True).stdout
            subprocess.run(["tar", "-x", "-C", src], input=archive, check=True)
            commit = sh(["git", "-C", ROOT, "rev-parse", "--short", ref]).stdout.strip()
            with open(os.path.join(src, ".wirecap-commit"), "w") as f:
                f.write(commit + "\n")
    binary = os.path.join(scratch, "release", "wirecap")
    if not skip:
        log(f"swift build -c release --scratch-path {os.path.relpath(scratch, ROOT)} --product wirecap "
            f"({'commit ' + ref if ref else 'working tree'}; may take minutes)")
        r = subprocess.run(["swift", "build", "-c", "release", "--scratch-path", scratch, "--product", "wirecap"],
                           cwd=src, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            tail = "\n".join(r.stdout.strip().splitlines()[-8:])
            log(f"wirecap build FAILED; WireCap rows will be skipped:\n{tail}")
            return None, {}
    if not os.path.exists(binary):
        return None, {}
    caps = {}
    for sub in ["capture", "generate", "testbed"]:
        r = subprocess.run([binary, sub, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        caps[sub] = r.stdout if r.returncode == 0 and "not implemented" not in r.stdout.lower() else ""
    return binary, caps


# ---------------------------------------------------------------- testbed

class Testbed:
    def __init__(self, wirecap, caps, queues=2):
        self.name = f"wcb{os.getpid() % 100000}"
        self.queues = queues
        self.wirecap = wirecap if caps.get("testbed") else None
        self.cap = self.gen = None
        self.via = None

    def up(self):
        if self.wirecap:
            r = subprocess.run([self.wirecap, "testbed", "up", "--name", self.name, "--queues", str(self.queues), "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if r.returncode == 0:
                try:
                    j = json.loads(r.stdout)
                    self.cap, self.gen, self.via = j["captureInterface"], j["generatorInterface"], "wirecap testbed"
                except Exception:
                    self.down()
            else:
                log(f"wirecap testbed up failed ({r.stderr.strip()}); using ip directly")
        if not self.cap:
            self.cap, self.gen, self.via = self.name + "c", self.name + "g", "ip"
            q = str(self.queues)
            try:
                sh(["ip", "netns", "add", self.name])
                sh(["ip", "link", "add", self.cap, "numrxqueues", q, "numtxqueues", q, "type", "veth",
                    "peer", "name", self.gen, "numrxqueues", q, "numtxqueues", q])
                sh(["ip", "link", "set", self.gen, "netns", self.name])
                # Same veth settings as `wirecap testbed up`: no TSO/GSO on the sender so
                # packets take veth's NAPI path; GRO on the capture side keeps NAPI on.
                sh(["ip", "netns", "exec", self.name, "ethtool", "-K", self.gen, "tso", "off", "gso", "off"], check=False)
                sh(["ip", "netns", "exec", self.name, "ip", "link", "set", self.gen, "up"])
                sh(["ip", "netns", "exec", self.name, "ip", "link", "set", "lo", "up"])
                sh(["ethtool", "-K", self.cap, "gro", "on"], check=False)
                sh(["ip", "link", "set", self.cap, "up"])
            except Exception:
                self.down()
                raise
        # IPv6 autoconfiguration would add stray packets to the counts.
        for argv in (["sysctl", "-qw", f"net.ipv6.conf.{self.cap}.disable_ipv6=1"],
                     ["ip", "netns", "exec", self.name, "sysctl", "-qw", f"net.ipv6.conf.{self.gen}.disable_ipv6=1"]):
            sh(argv, check=False)
        log(f"testbed {self.name} up via {self.via}: capture {self.cap} (root ns), generator {self.gen} (netns {self.name})")

    def detach_xdp(self):
        if self.cap:
            for mode in ("xdp", "xdpdrv", "xdpgeneric"):
                sh(["ip", "link", "set", "dev", self.cap, mode, "off"], check=False)

    def down(self):
        self.detach_xdp()
        if self.wirecap:
            sh([self.wirecap, "testbed", "down", "--name", self.name], check=False)
        if self.cap and os.path.exists(f"/sys/class/net/{self.cap}"):
            sh(["ip", "link", "del", self.cap], check=False)
        if os.path.exists(f"/var/run/netns/{self.name}"):
            sh(["ip", "netns", "del", self.name], check=False)


# ---------------------------------------------------------------- generator

class Generator:
    """`wirecap generate` when it works, else the fallback gen_afpacket."""

    def __init__(self, bed, wirecap, caps, prefer, flows, elephant=0):
        self.bed = bed
        self.flows = flows
        self.elephant = elephant
        self.kind = "gen_afpacket"
        if prefer != "afpacket" and wirecap and "--share" in caps.get("generate", ""):
            self.kind = "wirecap"
            self.wirecap = wirecap
            ok = self.send(2000, 20000, "0.5,0.5")
            if not ok or ok.get("sent", 0) < 2000:
                log(f"wirecap generate did not work here ({ok}); falling back to gen_afpacket")
                self.kind = "gen_afpacket"
        if self.elephant and self.kind != "wirecap":
            raise RuntimeError("the elephant case needs `wirecap generate --elephant`")
        if prefer == "wirecap" and self.kind != "wirecap":
            raise RuntimeError("--generator wirecap requested but `wirecap generate` is not usable")

    def argv(self, count, rate, share, sizes="64"):
        if self.kind == "wirecap":
            return [self.wirecap, "generate", "--netns", self.bed.name, "-i", self.bed.gen,
                    "--queue-count", str(self.bed.queues), "--count", str(count), "--rate", str(rate),
                    "--share", share, "--flows", str(self.flows * self.bed.queues), "--size", sizes, "--json"] + (
                        ["--elephant", str(self.elephant)] if self.elephant else [])
        if sizes != "64":
            raise RuntimeError(f"frame sizes {sizes} need `wirecap generate` (gen_afpacket sends 64 B)")
        return ["ip", "netns", "exec", self.bed.name, os.path.join(BUILD, "gen_afpacket"), "-i", self.bed.gen,
                "--queues", str(self.bed.queues), "--count", str(count), "--rate", str(rate),
                "--share", share, "--flows", str(self.flows)]

    def send(self, count, rate, share, sizes="64"):
        """Runs the generator to completion; normalized result or None.

        `wirecap generate` started right after the previous one can fail to bind
        a queue (EBUSY) while the kernel still releases the old sockets; it fails
        while creating its sockets, before sending anything, so it is retried."""
        for attempt in range(5):
            t0 = time.monotonic()
            r = subprocess.run(self.argv(count, rate, share, sizes), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, timeout=300)
            wall = time.monotonic() - t0
            j = last_json(r.stdout)
            if r.returncode == 0 and j is not None:
                self.retries = getattr(self, "retries", 0) + attempt
                return normalize_generator(j, wall)
            busy = "busy" in r.stderr.lower() and "xsk_socket__create" in r.stderr
            if not busy:
                break
            time.sleep(0.2 * (attempt + 1))
        log(f"generator failed ({r.returncode}): {r.stderr.strip()[:300]}")
        return None


class Replay:
    """`wirecap replay` of one trace file, steered to the tx queues by Toeplitz RSS:
    the same interface as Generator (count, rate, share and sizes are the file's)."""
    kind = "replay"
    counts_all = True

    def __init__(self, bed, wirecap, path, speed):
        self.bed, self.wirecap, self.path, self.speed = bed, wirecap, path, speed

    def send(self, count, rate, share, sizes="64"):
        t0 = time.monotonic()
        r = subprocess.run([self.wirecap, "replay", "-r", self.path, "-i", self.bed.gen, "--netns", self.bed.name,
                            "--speed", str(self.speed), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=300)
        j = last_json(r.stdout)
        if r.returncode != 0 or j is None:
            log(f"replay failed ({r.returncode}): {r.stderr.strip()[:300]}")
            return None
        return normalize_generator(j, time.monotonic() - t0)


def last_json(text):
    """The last JSON object in a command's output (single- or multi-line). Event
    lines (`{"event": "ready"|"stats", ...}`, which `wirecap capture --json` prints
    before its multi-line report) are not reports and are skipped."""
    text = (text or "").strip()
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                j = json.loads(line)
            except ValueError:
                continue
            if isinstance(j, dict) and "event" in j:
                break
            return j
    i = text.find("{")
    while i >= 0:
        try:
            return json.loads(text[i:])
        except ValueError:
            i = text.find("{", i + 1)
    return None


def find_key(obj, names):
    """First value of any of `names` anywhere in a JSON tree (depth first)."""
    if isinstance(obj, dict):
        for n in names:
            if n in obj:
                return obj[n]
        for v in obj.values():
            r = find_key(v, names)
            if r is not None:
                return r
    elif isinstance(obj, list):
        for v in obj:
            r = find_key(v, names)
            if r is not None:
                return r
    return None


def normalize_generator(j, wall):
    """gen_afpacket: {sent, per_queue, per_queue_elapsed, elapsed}; wirecap generate:
    {queues: [{queue, sent, seconds, bytes}]}."""
    out = {"raw": j}
    if isinstance(j.get("queues"), list):
        qs = sorted(j["queues"], key=lambda q: q.get("queue", 0))
        per_q = [int(q.get("sent", 0)) for q in qs]
        per_e = [float(q.get("seconds", 0)) for q in qs]
        sent = sum(per_q)
        elapsed = max(per_e) if per_e else wall
    else:
        per_q = j.get("per_queue") or []
        per_e = j.get("per_queue_elapsed")
        sent = j.get("sent", sum(per_q))
        elapsed = j.get("elapsed") or wall
    out.update(sent=int(sent or 0), per_queue=per_q, elapsed=float(elapsed or wall), wall=wall,
               per_queue_elapsed=per_e)
    return out


# ---------------------------------------------------------------- consumers

class Runner:
    def __init__(self, args, bed, gen, wirecap, caps):
        self.args, self.bed, self.gen, self.wirecap, self.caps = args, bed, gen, wirecap, caps
        capture_help = caps.get("capture", "")
        self.available = {}
        for key, _ in ENGINES:
            if key.startswith("wirecap"):
                if not capture_help:
                    self.available[key] = "wirecap capture unavailable"
                elif key == "wirecap_afpacket" and "--backend" not in capture_help:
                    self.available[key] = "skipped: `wirecap capture --backend afpacket` not supported yet"
                elif "--consumer-cost" not in capture_help:
                    self.available[key] = "wirecap capture lacks --consumer-cost"
                else:
                    self.available[key] = None
            else:
                self.available[key] = None
        if args.engines:
            for key in self.available:
                if key not in args.engines.split(",") and self.available[key] is None:
                    self.available[key] = "not selected"

    def argv(self, engine, cost, flows, timeout_ms=None):
        """The consumer's command line. `timeout_ms`: the delivery-latency bound, through
        each engine's own knob (WireCap --timeout, TPACKET_V3 block retire timeout,
        libpcap timeout, the AF_XDP loop's idle sleep); None: each engine's default,
        1 ms for all of them. recvmmsg returns packets as they come (no bound to set)."""
        q = str(self.bed.queues)
        bound = lambda knob, scale=1: [knob, str(int(timeout_ms * scale))] if timeout_ms else []
        b = lambda n: os.path.join(BUILD, n)
        track = ["--flows"] if flows else []
        mem = memory_knobs(self.args, self.bed.queues)
        if engine.startswith("wirecap"):
            qs = ",".join(str(i) for i in range(self.bed.queues))
            argv = [self.wirecap, "capture", "-i", self.bed.cap, "-q", qs,
                    "-M", str(self.args.M), "-R", str(mem["wirecap_R"]), "--consumer-cpus", qs,
                    "--mode", "basic" if engine.startswith("wirecap_basic") else "advanced",
                    "--consumer-cost", str(cost), "--json",
                    "--stats-interval", "0.05" if self.args.timeline else "0"] + bound("--timeout")
            if engine.endswith("_nospill"):
                argv += ["--spill", "off"]
            if engine == "wirecap_advanced_chunk":
                argv += ["--offload", "chunk"]
            if engine == "wirecap_advanced_strict":
                argv += ["--strict-affinity"]
            if engine == "wirecap_afpacket":
                argv += ["--backend", "afpacket", "--fanout", "hash"] + mem["wirecap_afpacket"]
            return argv + track + self.args.wirecap_args.split()
        if engine in ("afpacket_hash", "afpacket_hash_rollover", "afpacket_qm"):
            return ([b("afpacket_v3"), "-i", self.bed.cap, "-q", q, "--fanout", "qm" if engine == "afpacket_qm" else "hash"]
                    + (["--rollover"] if engine == "afpacket_hash_rollover" else [])
                    + ["--cost", str(cost)] + mem["afpacket"] + bound("--tov") + track)
        if engine == "pcap":
            return [b("pcap_loop"), "-i", self.bed.cap, "-q", "1", "--cost", str(cost)] + mem["pcap"] + bound("--timeout") + track
        if engine == "recvmmsg":
            return [b("recvmmsg"), "-i", self.bed.cap, "-q", q, "--fanout", "hash", "--cost", str(cost)] + mem["recvmmsg"] + track
        if engine == "xdp_min":
            return [b("xdp_min"), "-i", self.bed.cap, "-q", q, "--cost", str(cost)] + mem["xdp_min"] + bound("--sleep-us", 1000) + track
        raise ValueError(engine)

    def run(self, engine, count, rate, share, cost, flows=False, gen=None, timeout_ms=None, sizes="64"):
        """One measured run: consumer up, generator to completion, drain, stop. Row dict."""
        a = self.args
        gen = gen or self.gen
        argv = self.argv(engine, cost, flows, timeout_ms)
        rx0, _, _ = link_stats(self.bed.cap)
        _, tx0, _ = link_stats(self.bed.gen, self.bed.name)
        errpath = os.path.join(BUILD, "consumer.err")
        errf = open(errpath, "w+")
        # stdout to a file, not a pipe: with --timeline the stats lines would fill a pipe
        # nobody reads until the end, and block the consumer's statistics thread.
        outf = open(os.path.join(BUILD, "consumer.out"), "w+")
        p = subprocess.Popen(argv, stdout=outf, stderr=errf, text=True)
        CHILDREN.append(p)
        row = {"engine": engine, "consumer_cost": cost, "share": share, "rate": rate, "count": count,
               "latency_ms": None if engine == "recvmmsg" else (timeout_ms or 1), "sizes": sizes,
               "loadavg1": float(open("/proc/loadavg").read().split()[0])}
        try:
            # Ready: our baselines print READY; WireCap is ready once its XDP program is attached.
            t_ready = time.monotonic()
            ready = False
            while time.monotonic() - t_ready < 60:
                if p.poll() is not None:
                    break
                errf.seek(0)
                if "READY" in errf.read():
                    ready = True
                    break
                if engine.startswith("wirecap") and engine != "wirecap_afpacket" and xdp_attached(self.bed.cap):
                    time.sleep(0.3)
                    ready = True
                    break
                if engine == "wirecap_afpacket" and packet_sockets(self.bed.cap) >= self.bed.queues:
                    time.sleep(0.5)   # rings mapped and the fanout group complete
                    ready = True
                    break
                time.sleep(0.05)
            if not ready:
                errf.seek(0)
                raise RuntimeError(f"{engine} did not start: {errf.read().strip()[-400:]}")
            time.sleep(0.2)
            m0, st0, si0 = machine_busy()
            c0 = proc_cpu(p.pid)
            k0 = schedstat_cpu(p.pid, CAPTURE_THREADS) if engine.startswith("wirecap") else None
            th0 = thread_table(p.pid)
            t0 = time.monotonic()
            g = gen.send(count, rate, share, sizes)
            if g is None:
                raise RuntimeError("generator failed")
            t_gen = time.monotonic()
            # Drain: wait until the consumer has used < 1 tick of CPU for 3 samples in a row.
            quiet, last = 0, proc_cpu(p.pid)
            c_end, t_end = last, time.monotonic()
            k_end = schedstat_cpu(p.pid, CAPTURE_THREADS) if k0 is not None else None
            th_end = thread_table(p.pid)
            while time.monotonic() - t_gen < a.drain_max:
                time.sleep(0.1)
                now = proc_cpu(p.pid)
                if now is None:
                    break
                if now - last <= 1.0 / TICK + 1e-9:
                    quiet += 1
                else:
                    quiet, c_end, t_end = 0, now, time.monotonic()
                    k_end = schedstat_cpu(p.pid, CAPTURE_THREADS) if k0 is not None else None
                    th_end = thread_table(p.pid)
                last = now
                if quiet >= 3:
                    break
            if quiet < 3:
                c_end, t_end = last, time.monotonic()
            m1, st1, si1 = machine_busy()
            # The machine window runs to now (3 quiet samples past t_end): idle time adds no busy.
            p.send_signal(signal.SIGINT)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                row["note"] = "killed after SIGINT timeout"
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            if p in CHILDREN:
                CHILDREN.remove(p)
            errf.seek(0)
            err_text = errf.read()
            errf.close()
            outf.seek(0)
            out = outf.read()
            outf.close()
            if engine.startswith("wirecap") or engine == "xdp_min":
                if xdp_attached(self.bed.cap):
                    row["note"] = (row.get("note", "") + " XDP program left attached; detached").strip()
                    self.bed.detach_xdp()
        rx1, _, _ = link_stats(self.bed.cap)
        _, tx1, _ = link_stats(self.bed.gen, self.bed.name)
        j = last_json(out)
        if self.args.timeline and engine.startswith("wirecap"):
            # Every stats line (20 a second: ledger and per-queue counters), for a look
            # at what the scheduler did in a run that lost (Benchmarks/e2e/README).
            os.makedirs(self.args.timeline, exist_ok=True)
            self.timelines = getattr(self, "timelines", 0) + 1   # runs whose timeline was kept
            path = os.path.join(self.args.timeline, f"{self.timelines:03d}-{engine}.jsonl")
            with open(path, "w") as f:
                f.writelines(l + "\n" for l in (out or "").splitlines() if l.startswith('{"event":"stats"'))
            row["timeline"] = path
        if j is None:
            raise RuntimeError(f"{engine}: no JSON report (exit {p.returncode}): {err_text.strip()[-400:]}")
        res = normalize_consumer(engine, j)
        if getattr(gen, "counts_all", False):
            res["captured"] = res["all_packets"]   # a trace: IPv6 and non-IP packets count too
        sent = g["sent"]
        captured = min(res["captured"], sent) if sent else res["captured"]
        # Loss no counter explains: WireCap's own ledger says it; for the C baselines it is
        # what the generator sent minus what they delivered and the drops they counted.
        unexplained = res.get("unexplained")
        if unexplained is None:
            unexplained = sent - res["captured"] - res["drops_total"]
        veth_drops = (rx1.get("dropped", 0) - rx0.get("dropped", 0)) + (tx1.get("dropped", 0) - tx0.get("dropped", 0))
        proc = (c_end - c0) if (c_end is not None and c0 is not None) else None
        row.update(
            generator=gen.kind, offered=sent, gen_rate=sent / g["elapsed"] if g["elapsed"] else None,
            gen_elapsed=g["elapsed"], gen_per_queue=g["per_queue"], gen_per_queue_elapsed=g.get("per_queue_elapsed"),
            captured=captured, reported_packets=res["captured"], loss=max(0, sent - captured),
            loss_pct=100.0 * max(0, sent - captured) / sent if sent else None,
            drops=res["drops"], drops_total=res["drops_total"], veth_drops=veth_drops,
            per_worker=res["per_worker"], proc_cpu=proc, self_cpu=res["self_cpu"],
            machine_busy=m1 - m0, machine_softirq=si1 - si0, window=t_end - t0,
            steal_share=(st1 - st0) / (os.cpu_count() * (time.monotonic() - t0)) if time.monotonic() > t0 else None,
            flows_total=res.get("flows_total"), flows_split=res.get("flows_split"), gen_raw=g.get("raw"),
            out_of_order=res.get("out_of_order"), flows_reordered=res.get("flows_reordered"),
            all_packets=res.get("all_packets"), unexplained=unexplained,
            capture_thread_cpu=(k_end - k0) if (k0 is not None and k_end is not None) else None,
            threads=thread_delta(th0, th_end),
            extra=max(0, res["captured"] - sent) if sent else 0,
            duplicates=j.get("duplicates"), foreign_ipv4=j.get("foreign_ipv4"),
            offloads=res.get("offloads"), exit_code=p.returncode, raw=j)
        return row


def normalize_consumer(engine, j):
    """Maps a consumer's JSON report to captured / drops-by-cause / CPU."""
    if not engine.startswith("wirecap"):
        return {"captured": int(j.get("ipv4", j.get("packets", 0))), "all_packets": int(j.get("packets", 0)),
                "drops": j.get("drops", {}),
                "drops_total": int(j.get("drops_total", 0)), "per_worker": j.get("per_worker", []),
                "self_cpu": (j.get("cpu_user", 0) or 0) + (j.get("cpu_sys", 0) or 0),
                "flows_total": j.get("flows_total"), "flows_split": j.get("flows_split"),
                "out_of_order": j.get("out_of_order"), "flows_reordered": j.get("flows_reordered")}
    # WireCap: per-queue statistics (QueueStatistics) plus ipv4 counts.
    queues = j.get("queues") or find_key(j, ["queues"]) or []
    causes = {}
    per_worker, captured, ipv4 = [], 0, 0
    offloads = 0
    for q in queues if isinstance(queues, list) else []:
        st = q.get("statistics", q) if isinstance(q, dict) else {}
        consumed = st.get("packetsConsumed", st.get("packetsDelivered", 0))
        per_worker.append(consumed)
        captured += consumed
        ipv4 += q.get("ipv4", 0) if isinstance(q, dict) else 0
        offloads += st.get("offloadedOut", 0)
        for k in ("dropsNoBuffer", "dropsRxRingFull", "dropsInvalidDescriptor", "dropsPoolExhausted", "deliveryDrops"):
            if k in st:
                causes[k] = causes.get(k, 0) + int(st[k])
    if not queues:
        captured = int(find_key(j, ["consumed", "packetsConsumed", "received", "packets"]) or 0)
    cpu = find_key(j, ["cpuSeconds", "cpu"])
    # The loss ledger's unexplained remainder (offered minus every counted fate), all rows.
    ledger = j.get("ledger") or {}
    rows = (ledger.get("queues") or []) + ([ledger["interfaceRow"]] if ledger.get("interfaceRow") else [])
    unexplained = None
    if rows:
        fates = ("delivered", "beforeSocket", "noFrame", "poolExhausted", "rxRingFull", "invalidDescriptor", "delivery",
                 "writer", "abandoned", "txStalled", "filtered", "sampled", "beyondCount", "bypassed", "inFlight")
        unexplained = sum(r["unexplained"] if "unexplained" in r else
                          r.get("offered", 0) - sum(r.get(k, 0) for k in fates) for r in rows)
    # Packets WireCap copied into spill blocks (a count beside the fates, not one of them).
    spilled = sum(r.get("spilled", 0) for r in rows) if rows and any("spilled" in r for r in rows) else None
    flows_total = find_key(j, ["flowsTotal", "flows_total"])
    flows_split = find_key(j, ["flowsSplit", "flows_split", "flowsOnSeveralWorkers"])
    out_of_order = (j.get("flows") or {}).get("outOfOrder")
    # Flows with a packet out of order: processed by two consumers at once (a flow moved
    # whole by flow offload is on two consumers but not here).
    flows_reordered = (j.get("flows") or {}).get("flowsReordered")
    return {"flows_reordered": flows_reordered, "captured": ipv4 if ipv4 else captured, "all_packets": captured, "drops": causes,
            "drops_total": sum(causes.values()),
            "per_worker": per_worker, "self_cpu": cpu if isinstance(cpu, (int, float)) else None,
            "flows_total": flows_total, "flows_split": flows_split, "offloads": offloads, "out_of_order": out_of_order,
            "unexplained": unexplained, "spilled": spilled}


# ---------------------------------------------------------------- equal memory

IMIX = [(64, 7), (576, 4), (1500, 1)]  # simple IMIX: 7:4:1 of 64/576/1,500-byte frames


def tpacket_bytes(frame):
    """Bytes one frame takes in a TPACKET_V3 block (Linux tpacket_rcv): the 48-byte
    tpacket3_hdr and sockaddr_ll (tp_hdrlen 68), the MAC header placed so the network
    header lands 16-aligned (macoff = ALIGN16(68 + 16) - 14 = 82), the frame, and the
    next header 16-aligned. A frame of L bytes on the wire is L - 4 captured (no FCS)."""
    captured = frame - 4
    return (82 + captured + 15) // 16 * 16


def memory_knobs(args, queues):
    """Each engine's own knob for the per-queue buffer budget (--buffer-mib), or the
    harness's historic defaults when no budget is given."""
    if not args.buffer_mib:
        return {"wirecap_R": args.R, "wirecap_afpacket": [], "afpacket": [], "pcap": [], "recvmmsg": [],
                "xdp_min": []}
    budget = args.buffer_mib * 2**20
    block = args.block_kib * 1024
    frames = budget // 2048
    return {
        # AF_XDP: R chunks of M 2 KiB frames per queue.
        "wirecap_R": budget // (args.M * 2048),
        "wirecap_afpacket": ["--blocks", str(budget // block), "--block-size", str(args.block_kib)],
        "afpacket": ["--blocks", str(budget // block), "--block-size", str(block)],
        # One libpcap handle serves every queue: it gets every queue's budget.
        "pcap": ["--buffer-mb", str(args.buffer_mib * queues)],
        "recvmmsg": ["--rcvbuf-mb", str(args.buffer_mib)],
        "xdp_min": ["--frames", str(frames)],
    }


def wirecap_spill_plan(budget, m):
    """BufferPlan.split (SpillGeometry.swift) for one queue's budget: (N, R). N: the
    largest power of two <= 16384 whose frames take at most a quarter of the budget;
    R: the whole budget in chunks of M frames (spill blocks are lent by free chunks)."""
    n = 8
    while n * 2 <= 16384 and n * 2 * 2048 <= budget // 4:
        n *= 2
    return max(n, m), budget // 2048 // m


def spill_record_bytes(frame):
    """Bytes one frame of L bytes on the wire (L - 4 captured) takes in a spill block:
    a 24-byte descriptor and the bytes 16-aligned, at least 16 (SpillArena.recordBytes)."""
    return 24 + max(16, (frame - 4 + 15) // 16 * 16)


def wirecap_capacity(budget, m, mix):
    """Packets one WireCap queue with spill holds at `budget`
    (CaptureConfiguration.packetCapacity): the fill ring's N frames, and every other
    chunk as a spill block of records of the mix's mean size; a mix whose records
    average more than half a frame is never copied: R·M, as with spill off."""
    n, r = wirecap_spill_plan(budget, m)
    total = sum(w for _, w in mix)
    mean = sum(spill_record_bytes(f) * w for f, w in mix) / total
    if mean * 2 > 2048:
        return r * m
    return n + (r - n // m) * int(m * 2048 // mean)


def capacity_table(args):
    """Packets one queue's buffer holds at 64 B, IMIX and 1,500 B frames, per engine
    kind, at the budget in use (computed from each engine's layout, not measured)."""
    budget = (args.buffer_mib or 0) * 2**20
    sizes = {"64 B": [(64, 1)], "IMIX 7:4:1": IMIX, "1,500 B": [(1500, 1)]}
    def per_size(bytes_per_frame):
        out = {}
        for name, mix in sizes.items():
            total = sum(w for _, w in mix)
            mean = sum(bytes_per_frame(f) * w for f, w in mix) / total
            out[name] = int(budget / mean) if budget else None
        return out
    block = args.block_kib * 1024
    # A block's 48-byte header, and a block holds whole frames only (the rest of it is lost).
    tpacket = lambda f: tpacket_bytes(f) * block / ((block - 48) // tpacket_bytes(f) * tpacket_bytes(f))
    spill = {name: (wirecap_capacity(budget, args.M, mix) if budget else None)
             for name, mix in sizes.items()}
    return {
        "WireCap with spill: the fill ring's frames, every other chunk a spill block (packets over ~1,000 B: a frame each)": spill,
        "AF_XDP (WireCap spill off, minimal AF_XDP): 2 KiB frame per packet": per_size(lambda f: 2048),
        f"TPACKET_V3 (AF_PACKET engines, libpcap, WireCap on AF_PACKET), {args.block_kib} KiB blocks": per_size(tpacket),
    }


# ---------------------------------------------------------------- experiment plan

def cost_check(runner, gen, engines, heavy, reps):
    """Consumer CPU per packet (proc) at X = 0, heavy and 10 x heavy, 20k packets at 20 kpps."""
    out = {}
    probes = [e for e in ("wirecap_basic", "afpacket_hash") if e in engines]
    for e in probes:
        per = {}
        for x in (0, heavy, 10 * heavy):
            vals = []
            for _ in range(1):
                try:
                    r = runner.run(e, 20000, "20000", "0.5,0.5", x)
                    if r.get("proc_cpu") is not None and r.get("captured"):
                        vals.append(r["proc_cpu"] / r["captured"] * 1e9)
                except Exception as ex:
                    log(f"  cost check {e} X={x}: FAILED: {ex}")
            per[x] = median(vals)
        c0, c1, c10 = per[0], per[heavy], per[10 * heavy]
        out[e] = {"ns_per_packet": {str(k): v for k, v in per.items()},
                  "extra_10x": (c10 - c0) if None not in (c0, c10) else None}
    # Verdict: the extra per-packet cost at 10 x heavy, relative to the C baseline's
    # (same filter, same X). Far below it means X is not (fully) applied.
    ref = out.get("afpacket_hash", {}).get("extra_10x")
    for e, v in out.items():
        rel = v["extra_10x"] / ref if (ref and v["extra_10x"] is not None) else None
        v["relative_to_c"] = rel
        v["verdict"] = "n/a" if rel is None else ("ok" if rel >= 0.25 else "NOT APPLIED")
    for e, v in out.items():
        per = v["ns_per_packet"]
        c0, c1, c10 = per["0"], per[str(heavy)], per[str(10 * heavy)]
        verdict = f"{v['verdict']} (extra cost {fmt(v['relative_to_c'])}x the C baseline's)"
        log(f"cost check {e}: ns/packet X=0 {fmt(c0, 0)}, X={heavy} {fmt(c1, 0)}, X={10 * heavy} {fmt(c10, 0)} "
            f"-> {verdict}")
    return out


def calibrate(x):
    r = sh([os.path.join(BUILD, "afpacket_v3"), "--calibrate", str(x)])
    return json.loads(r.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 repetition, short runs, results under build/")
    ap.add_argument("--reps", type=int, help="repetitions per point (default 3, quick 1)")
    ap.add_argument("--matrix-reps", type=int, help="repetitions of the steady-load matrix (default: --reps)")
    ap.add_argument("--loads", default="100000,200000,max", help="offered loads, pps or max")
    ap.add_argument("--heavy", type=int, default=300, help="heavy consumer cost X (BPF filter runs per packet)")
    ap.add_argument("--seconds", type=float, help="traffic seconds per rated run (default 1.0, quick 0.7)")
    ap.add_argument("--point-packets", type=int,
                    help="packets per steady-load and latency point, every rate (default 1000000, quick 200000)")
    ap.add_argument("--latency-bounds", default="1,10",
                    help="delivery-latency bounds (ms) of the latency phase: each engine's own timeout knob")
    ap.add_argument("--latency-rate", default="200000", help="offered load of the latency phase, pps")
    ap.add_argument("--latency-reps", type=int, help="repetitions of the latency phase (default 3, quick 1)")
    ap.add_argument("--latency-engines", default="wirecap_advanced,xdp_min,wirecap_afpacket,afpacket_hash",
                    help="engines of the latency phase (the pairs compared: WireCap vs its limit on each backend)")
    ap.add_argument("--burst-sizes", default="64,imix,1500",
                    help="frame sizes of the burst phase: 64 runs every --bursts size, the others --mix-bursts")
    ap.add_argument("--mix-bursts", default="1000000", help="burst sizes P run at the non-64 B frame sizes")
    ap.add_argument("--trace", help="trace phase: this pcap/pcapng file (default: a border-router model trace, "
                    "`wirecap trace synth --kind border-router`, of --trace-seconds)")
    ap.add_argument("--trace-seconds", type=float, default=3.0, help="seconds of the synthesized border-router trace")
    ap.add_argument("--trace-speed", default="3", help="replay speed of the trace phase (1.0 = recorded timing)")
    ap.add_argument("--trace-reps", type=int, help="repetitions of the trace phase (default: --reps)")
    ap.add_argument("--render", metavar="JSONL", help="write the .md/.csv and plots again from a results .jsonl "
                    "(the measured rows as they are; the text and tables of this harness), and run nothing")
    ap.add_argument("--bursts", default="1000,10000,100000,1000000", help="burst sizes P")
    ap.add_argument("--burst-flows", type=int, default=1,
                    help="flows of a burst (default 1: one flow on one queue, which no flow hash can spread)")
    ap.add_argument("--burst-rate", default="max",
                    help="burst rate, pps or max; on shared cores 'max' depends on the engine (see the README)")
    ap.add_argument("--imbalance-factor", type=float, default=1.2,
                    help="90/10 load = this x the calibrated heavy single-consumer rate")
    ap.add_argument("--consumer-pps", type=float,
                    help="take this as the single-consumer rate at X instead of calibrating: the 90/10 and elephant "
                         "loads are factors of it, so two builds compared in two invocations get the same loads")
    ap.add_argument("--flows", type=int, default=64, help="flows per queue")
    ap.add_argument("--buffer-mib", type=int, help="equal memory: every engine's buffer per queue, MiB, through its own "
                    "knob (WireCap -R, TPACKET_V3 blocks, libpcap buffer, rcvbuf, AF_XDP frames); default: each engine's own")
    ap.add_argument("--block-kib", type=int, default=256, help="TPACKET_V3 block size under --buffer-mib")
    ap.add_argument("--elephant-percent", type=int, default=75,
                    help="elephant case: share of queue 0's packets in its one elephant flow (share 0.8/0.2: 60%% of all)")
    ap.add_argument("--elephant-factor", default="1.3,1.8",
                    help="elephant case: offered loads in calibrated heavy consumers, a comma list (1.3: queue 0 is 1.04 "
                         "of one, the elephant alone 0.78, so two consumers can take it all, if the machine has the cores; "
                         "1.8: the elephant alone is 1.08 of one, so it must be split or lose)")
    ap.add_argument("-M", type=int, default=256, help="WireCap cells per chunk")
    ap.add_argument("-R", type=int, default=500, help="WireCap chunks per pool")
    ap.add_argument("--drain-max", type=float, default=12.0, help="max seconds to wait for a consumer to drain")
    ap.add_argument("--engines", help="comma-separated subset of: " + ",".join(k for k, _ in ENGINES))
    ap.add_argument("--generator", choices=["auto", "wirecap", "afpacket"], default="auto")
    ap.add_argument("--imbalance-generator", choices=["afpacket", "same"], default="afpacket",
                    help="generator of the 90/10 phase (default gen_afpacket: flow-disjoint queues)")
    ap.add_argument("--wirecap-args", default="", help="extra arguments for every `wirecap capture` (e.g. '-N 4096')")
    ap.add_argument("--wirecap-ref", help="build wirecap from this commit (git archive) instead of the working tree")
    ap.add_argument("--skip-swift-build", action="store_true", help="use an existing .build-bench/release/wirecap")
    ap.add_argument("--no-wirecap", action="store_true", help="baselines only")
    ap.add_argument("--skip", default="",
                    help="comma list of phases to skip: costcheck,matrix,latency,imbalance,elephant,burst,trace")
    ap.add_argument("--no-plots", action="store_true", help="do not draw the PNG plots (Benchmarks/e2e/plot.py)")
    ap.add_argument("--timeline", metavar="DIR",
                    help="WireCap engines print stats every 50 ms; each run's lines are kept in DIR/NNN-ENGINE.jsonl")
    ap.add_argument("--tag", help="appended to the results file name (e2e-DATE-HOST-TAG), to keep several runs of a day")
    ap.add_argument("--out", help="output directory (default Benchmarks/results, quick: Benchmarks/e2e/build)")
    args = ap.parse_args()
    if args.render:
        render_again(args.render, args)
        return
    if os.geteuid() != 0:
        sys.exit("run.py: needs root (netns, veth, AF_PACKET, XDP)")
    reps = args.reps or (1 if args.quick else 3)
    seconds = args.seconds or (0.7 if args.quick else 1.0)
    point_packets = args.point_packets or (200000 if args.quick else 1000000)
    latency_reps = args.latency_reps or (1 if args.quick else 3)
    out_dir = args.out or (BUILD if args.quick else RESULTS)
    skip = set(filter(None, args.skip.split(",")))

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)

    started = time.monotonic()
    build_baselines()
    wirecap, caps = (None, {}) if args.no_wirecap else build_wirecap(args.skip_swift_build, args.wirecap_ref)
    if wirecap:
        log(f"wirecap: {os.path.relpath(wirecap, ROOT)}; capture {'ok' if caps.get('capture') else 'missing'}, "
            f"generate {'ok' if caps.get('generate') else 'missing'}, testbed {'ok' if caps.get('testbed') else 'missing'}")
    heavy_cal = calibrate(args.heavy)
    zero_cal = calibrate(0)
    log(f"consumer cost calibration (C, bpf_filter): X={args.heavy}: {heavy_cal['ns_per_packet']:.0f} ns/packet "
        f"= {heavy_cal['packets_per_second']:.0f} pps per consumer")
    if args.consumer_pps:
        heavy_cal = {"packets_per_second": args.consumer_pps, "ns_per_packet": 1e9 / args.consumer_pps,
                     "measured_packets_per_second": heavy_cal["packets_per_second"]}
        log(f"--consumer-pps: loads are factors of {args.consumer_pps:.0f} pps per consumer (not the calibration)")
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(), "kernel": platform.release(), "cpus": os.cpu_count(),
        "cpu_model": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
        "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "loadavg_start": open("/proc/loadavg").read().split()[:3], "quick": args.quick, "reps": reps,
        "heavy_cost": args.heavy, "wirecap_args": args.wirecap_args, "heavy_ns_per_packet_c": heavy_cal["ns_per_packet"],
        "heavy_pps_c": heavy_cal["packets_per_second"], "M": args.M, "R": args.R,
        "point_packets": point_packets, "buffer_mib": args.buffer_mib, "block_kib": args.block_kib, "capacity": capacity_table(args),
        "git": sh(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], check=False).stdout.strip(),
        "wirecap_source": (open(os.path.join(BUILD, "wirecap-src", ".wirecap-commit")).read().strip()
                           if args.wirecap_ref and os.path.exists(os.path.join(BUILD, "wirecap-src", ".wirecap-commit"))
                           else "commit ?" if args.wirecap_ref else "working tree" + (" (with uncommitted changes)" if sh(
                               ["git", "-C", ROOT, "status", "--porcelain", "Sources", "Package.swift"],
                               check=False).stdout.strip() else "")),
    }
    bed = Testbed(wirecap, caps)
    rows, gen_alone = [], {}
    try:
        bed.up()
        gen = Generator(bed, wirecap, caps, args.generator, args.flows)
        meta["generator"] = gen.kind
        meta["testbed"] = bed.via
        runner = Runner(args, bed, gen, wirecap, caps)
        meta["skipped_engines"] = {k: v for k, v in runner.available.items() if v}
        for k, v in meta["skipped_engines"].items():
            log(f"{LABEL[k]}: {v}")
        engines = [k for k, _ in ENGINES if runner.available[k] is None]

        def gen_baseline(tag, count, rate, share, gen, sizes="64"):
            """Whole-machine busy and softirq CPU-seconds of one generator-alone run (no consumer),
            over the generator plus the same 0.3 s quiet tail the consumer runs end with."""
            m0, _, s0 = machine_busy()
            g = gen.send(count, rate, share, sizes)
            time.sleep(0.3)
            m1, _, s1 = machine_busy()
            if not g:
                return None, None
            entry = gen_alone.setdefault(tag, {"busy": [], "softirq": [], "count": count, "rate": rate, "share": share})
            entry["busy"].append(m1 - m0)
            entry["softirq"].append(s1 - s0)
            return m1 - m0, s1 - s0

        def do_point(phase, count, rate, share, cost, flows=False, n=reps, extra=None, g=None, timeout_ms=None,
                     sizes="64", only=None, alone=True):
            """n repetitions; each: the generator alone (unless not `alone`: the phase reports
            loss, not machine CPU), then every engine (of `only`) in turn."""
            g = g or gen
            tag = f"{g.kind}/{rate}/{share}/{count}/{sizes}"
            for rep in range(n):
                base_busy, base_si = gen_baseline(tag, count, rate, share, g, sizes) if alone else (None, None)
                for e in engines:
                    if only is not None and e not in only:
                        continue
                    try:
                        r = runner.run(e, count, rate, share, cost, flows, g, timeout_ms, sizes)
                    except Exception as ex:  # one failed run must not end the benchmark
                        log(f"  {e}: FAILED: {ex}")
                        r = {"engine": e, "consumer_cost": cost, "share": share, "rate": rate, "count": count,
                             "error": str(ex)[:300]}
                    r.update(phase=phase, rep=rep, gen_alone_busy=base_busy, gen_alone_softirq=base_si,
                             **(extra or {}))
                    if r.get("machine_busy") is not None and base_busy is not None:
                        r["capture_machine"] = r["machine_busy"] - base_busy
                    if r.get("proc_cpu") is not None and r.get("machine_softirq") is not None and base_si is not None:
                        r["proc_plus_softirq"] = r["proc_cpu"] + (r["machine_softirq"] - base_si)
                    rows.append(r)
                    if "error" not in r:
                        log(f"  {phase} {rate} x={cost} {share} {sizes} B t={r.get('latency_ms')} rep{rep} {e}: "
                            f"{r['captured']}/{r['offered']} "
                            f"loss {r['loss_pct']:.2f}% proc {fmt(r['proc_cpu'])} s machine {r['machine_busy']:.2f} s "
                            f"(gen alone {fmt(base_busy)} s; gen {r['gen_rate']:.0f} pps)")

        # 0. Consumer-cost check: per-packet CPU at X = 0, heavy, 10 x heavy for WireCap
        #    and one C baseline, on the same traffic. The extra cost must grow with X;
        #    if it does not, the engine's heavy runs do not emulate a heavy consumer.
        if "costcheck" not in skip:
            meta["cost_check"] = cost_check(runner, gen, engines, args.heavy, reps)
        # 1. Loads x costs, even share.
        if "matrix" not in skip:
            for rate in args.loads.split(","):
                for cost in (0, args.heavy):
                    do_point("matrix", point_packets, rate, "0.5,0.5", cost, n=args.matrix_reps or reps)
        # 1b. CPU at the same delivery-latency bound: each pair (WireCap and its limit on
        #     the same kernel mechanism) at each bound, paired repetitions.
        if "latency" not in skip:
            pairs = [e for e in args.latency_engines.split(",") if e in engines]
            meta["latency"] = {"bounds_ms": args.latency_bounds, "rate": args.latency_rate, "engines": pairs,
                               "reps": latency_reps}
            for rep in range(latency_reps):
                for bound in [float(b) for b in args.latency_bounds.split(",")]:
                    do_point("latency", point_packets, args.latency_rate, "0.5,0.5", 0, n=1, timeout_ms=bound,
                             only=pairs, extra={"latency_rep": rep})
        # 2. Long-term imbalance 90/10, heavy consumers, flows tracked.
        imb_rate = int(args.imbalance_factor * heavy_cal["packets_per_second"])
        meta["imbalance_rate"] = imb_rate
        if "imbalance" not in skip:
            # Flow-disjoint queues (as RSS would give): gen_afpacket's flows of queue q are its own
            # (so are `wirecap generate`'s, which numbers flows q·K + k).
            g_imb = gen if args.imbalance_generator == "same" else Generator(bed, None, {}, "afpacket", args.flows)
            meta["imbalance_generator"] = g_imb.kind
            do_point("imbalance", int(imb_rate * seconds * 2), str(imb_rate), "0.9,0.1", args.heavy, flows=True,
                     g=g_imb)
        # 3. Elephants: one flow carries elephant-percent of queue 0's packets (share 0.8/0.2:
        #    60% of all at the default), more than one heavy consumer can take; the rest are
        #    small flows on both queues. No flow hash can spread the elephant.
        if "elephant" not in skip:
            meta["elephant"] = []
            for factor in (float(f) for f in str(args.elephant_factor).split(",") if f.strip()):
                ele_rate = int(factor * heavy_cal["packets_per_second"])
                ele = {"rate": ele_rate, "factor": factor, "percent_of_queue0": args.elephant_percent, "share": "0.8,0.2",
                       "elephant_share_of_all": 0.8 * args.elephant_percent / 100}
                meta["elephant"].append(ele)
                try:
                    g_ele = Generator(bed, wirecap, caps, "wirecap", args.flows, elephant=args.elephant_percent)
                    do_point("elephant", int(ele_rate * seconds * 2), str(ele_rate), "0.8,0.2", args.heavy, flows=True,
                             g=g_ele)
                except RuntimeError as ex:
                    log(f"elephant case skipped: {ex}")
                    ele["skipped"] = str(ex)
        # 4. Bursts of P packets at max rate on queue 0, heavy consumers.
        if "burst" not in skip:
            g_burst = gen if args.burst_flows == args.flows else Generator(bed, wirecap, caps, args.generator,
                                                                             args.burst_flows)
            meta["burst"] = {"flows": args.burst_flows, "rate": args.burst_rate}
            meta["burst"]["sizes"] = args.burst_sizes
            for sizes in args.burst_sizes.split(","):
                for P in [int(x) for x in (args.bursts if sizes == "64" else args.mix_bursts).split(",")]:
                    try:
                        do_point("burst", P, args.burst_rate, "1,0", args.heavy, flows=True, n=1, extra={"burst": P},
                                 g=g_burst, sizes=sizes, alone=False)
                    except RuntimeError as ex:
                        log(f"burst at {sizes} B skipped: {ex}")
        # 5. A trace replayed with Toeplitz RSS (the border-router model, or the user's pcap).
        if "trace" not in skip and wirecap:
            path = args.trace
            if not path:
                path = os.path.join(BUILD, "border-router.pcap")
                r = sh([wirecap, "trace", "synth", "--kind", "border-router", "-o", path,
                        "--duration", str(args.trace_seconds)])
                log(r.stdout.strip())
            meta["trace"] = {"file": os.path.relpath(path, ROOT) if path.startswith(ROOT) else path,
                             "synthesized": not args.trace, "seconds": None if args.trace else args.trace_seconds,
                             "speed": args.trace_speed}
            do_point("trace", 0, f"trace x{args.trace_speed}", "rss", args.heavy, flows=True, n=args.trace_reps or reps,
                     g=Replay(bed, wirecap, path, args.trace_speed))
    except KeyboardInterrupt:
        log("interrupted: cleaning up and writing what was measured")
        meta["interrupted"] = True
    finally:
        for p in list(CHILDREN):
            if p.poll() is None:
                p.kill()
                p.wait()
        bed.down()
        log(f"testbed {bed.name} removed")
    meta["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    meta["wall_seconds"] = round(time.monotonic() - started, 1)
    base = write_results(out_dir, meta, rows, gen_alone, args)
    if not args.no_plots:
        draw_plots(base)


def render_again(path, args):
    """--render: the measured rows of an earlier run through this harness's reporting."""
    with open(path) as f:
        head = json.loads(f.readline())
        rows = [json.loads(line) for line in f if line.strip()]
    meta = head["meta"]
    meta["rendered_by"] = sh(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], check=False).stdout.strip()
    base = path[: -len(".jsonl")]
    write_results(os.path.dirname(base) or ".", meta, rows, head.get("generator_alone", {}), args, base=base)
    if not args.no_plots:
        draw_plots(base)


def draw_plots(base):
    """PNG plots beside the results (Benchmarks/e2e/plot.py, matplotlib). The system
    python has it (scripts/bootstrap installs python3-matplotlib); a python without it
    hands the job to /usr/bin/python3."""
    plot = os.path.join(HERE, "plot.py")
    for py in (sys.executable, "/usr/bin/python3"):
        r = subprocess.run([py, plot, base + ".jsonl"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode == 0:
            log(r.stdout.strip())
            return
        if "No module named" not in r.stdout:
            break
    log(f"plots not drawn: {r.stdout.strip()[-300:]}")


# ---------------------------------------------------------------- reporting

def fmt(v, nd=2):
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def per_m(cpu, captured):
    if cpu is None or not captured:
        return None
    return cpu / (captured / 1e6)


def summarize(rows, key_fields):
    groups = {}
    for r in rows:
        if "error" in r:
            continue
        groups.setdefault(tuple(r.get(k) for k in key_fields), []).append(r)
    return groups


def cell(values, nd=2):
    m = median(values)
    lo, hi = spread(values)
    if m is None:
        return "n/a"
    if len(values) > 1 and lo != hi:
        return f"{m:.{nd}f} [{lo:.{nd}f}–{hi:.{nd}f}]"
    return f"{m:.{nd}f}"


def ratio(a, b):
    """a / b; n/a when the reference is missing, zero or negative (noise-dominated)."""
    if a is None or b is None or b <= 0.02:
        return "n/a"
    return f"{a / b:.2f}×"


def drops_text(rs):
    agg = {}
    for r in rs:
        for k, v in (r.get("drops") or {}).items():
            agg.setdefault(k, []).append(v)
    parts = [f"{k} {int(median(v))}" for k, v in agg.items() if median(v)]
    ex = [r.get("extra") or 0 for r in rs]
    if any(ex):
        parts.append(f"(delivered > offered by {', '.join(str(e) for e in ex)}: extra IPv4 packets, capped)")
    vd = median([r.get("veth_drops") for r in rs])
    if vd:
        parts.append(f"(iface counters {int(vd)})")
    return ", ".join(parts) if parts else "0"


def write_results(out_dir, meta, rows, gen_alone, args, base=None):
    os.makedirs(out_dir, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d")
    host = re.sub(r"[^A-Za-z0-9_.-]", "_", platform.node()) or "host"
    tag = f"-{args.tag}" if args.tag else ""
    base = base or os.path.join(out_dir, f"e2e-{stamp}-{host}{tag}{'-quick' if meta['quick'] else ''}")
    for r in rows:
        r["cpu_per_M_proc"] = per_m(r.get("proc_cpu"), r.get("captured"))
        r["cpu_per_M_machine"] = per_m(r.get("capture_machine"), r.get("captured"))
        r["cpu_per_M_machine_total"] = per_m(r.get("machine_busy"), r.get("captured"))
        r["cpu_per_M_proc_softirq"] = per_m(r.get("proc_plus_softirq"), r.get("captured"))
        # Flows on several consumers (the trackers' `flows_split`) are either split, processed
        # by two at once (seen out of order: the generator's per-flow sequence numbers), or
        # moved whole, one consumer after the other. "Split" in the tables is the first.
        if r.get("flows_split") is not None:
            r["flows_on_several"] = r["flows_split"]
            if r.get("flows_reordered") is not None:
                r["flows_moved"] = max(0, r["flows_split"] - r["flows_reordered"])
        if r.get("flows_total"):
            split = r.get("flows_reordered") if r.get("flows_reordered") is not None else r.get("flows_split")
            r["flows_split_frac"] = (split or 0) / r["flows_total"]
    with open(base + ".jsonl", "w") as f:
        f.write(json.dumps({"meta": meta, "generator_alone": gen_alone}) + "\n")
        for r in rows:
            f.write(json.dumps(r) + "\n")
    cols = ["phase", "burst", "rate", "share", "consumer_cost", "engine", "rep", "generator", "offered", "gen_rate",
            "captured", "loss", "loss_pct", "drops_total", "drops", "veth_drops", "proc_cpu", "self_cpu",
            "machine_busy", "gen_alone_busy", "capture_machine", "machine_softirq", "gen_alone_softirq",
            "proc_plus_softirq", "cpu_per_M_proc", "cpu_per_M_machine", "cpu_per_M_machine_total",
            "cpu_per_M_proc_softirq", "steal_share", "unexplained", "capture_thread_cpu", "latency_ms", "sizes", "flows_total", "flows_split", "flows_split_frac",
            "flows_reordered", "flows_moved", "out_of_order", "extra", "duplicates", "foreign_ipv4",
            "offloads", "per_worker", "window", "loadavg1", "error", "note"]
    with open(base + ".csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in rows:
            w.writerow([json.dumps(r.get(c)) if isinstance(r.get(c), (dict, list)) else r.get(c, "") for c in cols])
    md = render_markdown(meta, rows, gen_alone)
    with open(base + ".md", "w") as f:
        f.write(md)
    print(md)
    log(f"wrote {base}.md / .csv / .jsonl")
    return base


def burst_section(meta, bursts, sizes):
    """The burst table of one frame-size mix, with the simulator formula's prediction."""
    L = []
    bm = meta.get("burst") or {"flows": "?", "rate": "max"}
    L.append(f"\n## Short-term imbalance: one burst of P packets on queue 0 ({bm['flows']} flow(s), rate "
             f"{bm['rate']}), heavy consumers, {'IMIX 7:4:1' if sizes == 'imix' else sizes + ' B'} frames\n")
    # Measured consumer rate P_p per engine: delivered packets / consumer window of the largest burst.
    rate_pp = {}
    for e, _ in ENGINES:
        big = [r for r in bursts if r["engine"] == e]
        if big:
            r = max(big, key=lambda r: r["burst"])
            if r.get("window"):
                rate_pp[e] = r["captured"] / r["window"]
    budget = (meta["buffer_mib"] * 2**20) if meta.get("buffer_mib") else meta["R"] * meta["M"] * 2048
    RM = budget // 2048
    mix = IMIX if sizes == "imix" else [(int(sizes), 1)]
    C = wirecap_capacity(budget, meta["M"], mix)
    L.append(f"Prediction (paper §3.2.2 / simulator): a buffer of C packets absorbs a burst up to "
             "B = P_m·C/(P_m − P_p); a burst of P > B loses (P − B)·(1 − P_p/P_m). C: with spill, the fill ring's frames "
             f"and every other chunk as a spill block ({C} packets of this size; packets over ~1,000 B are not copied); spill off, R·M = {RM}. P_m = the generator's "
             "measured rate on queue 0 in that run; P_p = WireCap basic's measured drain rate (delivered / time "
             "until its consumer went idle, largest burst), and, in the last prediction column, the calibrated rate "
             f"of one consumer running the X-cost loop in C ({meta['heavy_pps_c']:.0f} pps, with spill): what the "
             "formula predicts for a consumer that really costs X.\n")
    hdr = ["P", "P_m (pps)", "predicted loss % (spill, measured P_p)", "predicted loss % (spill off, measured P_p)",
           "predicted loss % (spill, P_p = calibrated X-cost rate)"] + [
               LABEL[e] + " loss %" for e, _ in ENGINES if any(r["engine"] == e for r in bursts)]
    L.append("| " + " | ".join(hdr) + " |")
    L.append("|" + "---|" * len(hdr))
    pp = rate_pp.get("wirecap_basic")
    for P in sorted({r["burst"] for r in bursts}):
        rs = [r for r in bursts if r["burst"] == P]
        pm_vals = []
        for r in rs:
            pq, pe = r.get("gen_per_queue") or [], r.get("gen_per_queue_elapsed") or []
            if pq and pe and pe[0]:
                pm_vals.append(pq[0] / pe[0])
            elif r.get("gen_rate"):
                pm_vals.append(r["gen_rate"])
        pm = median(pm_vals)

        def predict(capacity, p_p):
            if pm and p_p and pm > p_p:
                B = pm * capacity / (pm - p_p)
                return f"{max(0.0, (P - B) * (1 - p_p / pm)) / P * 100:.2f} (B={B:.0f})"
            return "0.00 (P_p ≥ P_m)" if pm and p_p else "n/a"
        line = [str(P), f"{pm:.0f}" if pm else "n/a", predict(C, pp), predict(RM, rate_pp.get("wirecap_basic_nospill", pp)),
                predict(C, meta["heavy_pps_c"])]
        for e, _ in ENGINES:
            if not any(r["engine"] == e for r in bursts):
                continue
            er = [r for r in rs if r["engine"] == e]
            line.append(cell([r["loss_pct"] for r in er]) if er else "n/a")
        L.append("| " + " | ".join(line) + " |")
    # The rate each engine actually received the burst at: on shared cores a consumer's
    # kernel work slows the generator, so "max" is not the same burst for every engine.
    L.append("\nGenerator rate each engine received the burst at (pps, P: " +
             ", ".join(str(P) for P in sorted({r["burst"] for r in bursts})) + "):\n")
    for e, _ in ENGINES:
        er = sorted((r for r in bursts if r["engine"] == e), key=lambda r: r["burst"])
        if er:
            L.append(f"- {LABEL[e]}: " + ", ".join(f"{r['gen_rate']:.0f}" if r.get("gen_rate") else "n/a" for r in er))
    L.append("\nMeasured drain rate per engine (largest burst): " +
             ", ".join(f"{LABEL[e]} {v:.0f} pps" for e, v in rate_pp.items()) + ".")
    per_engine = lambda key: [
        f"{LABEL[e]} {', '.join(fmt(r.get(key), 0) for r in sorted(er, key=lambda r: r['burst']))}"
        for e, _ in ENGINES for er in [[r for r in bursts if r["engine"] == e]] if er]
    L.append("\nUnexplained loss (offered − delivered − counted drops; per P, ascending): "
             + "; ".join(per_engine("unexplained")) + ".")
    spilled = [s for s in per_engine("spilled") if not s.endswith(" n/a") and "n/a, " not in s]
    if spilled:
        L.append("\nPackets WireCap copied into spill blocks (per P, ascending): " + "; ".join(spilled) + ".")
    orders = per_engine("out_of_order")
    L.append("\nGenerator packets out of order within their flow (per P, ascending): " + "; ".join(orders) + ".")
    return L


def render_markdown(meta, rows, gen_alone):
    L = []
    L.append(f"# WireCap end-to-end benchmark — {meta['date']}\n")
    L.append(f"Machine: `{meta['host']}`, {meta['cpus']} CPUs ({meta['cpu_model']}), {meta['mem_gib']} GiB, "
             f"kernel {meta['kernel']}; git {meta['git']} (wirecap built from {meta.get('wirecap_source')})"
             f"{'; tables rendered again by git ' + meta['rendered_by'] + ' from the same measured rows' if meta.get('rendered_by') else ''}; load average at start {' '.join(meta['loadavg_start'])}, "
             f"at end {' '.join(meta.get('loadavg_end', []))}; wall time {meta.get('wall_seconds')} s"
             f"{' (INTERRUPTED)' if meta.get('interrupted') else ''}; 1-minute load average at the start of the "
             f"runs: median {fmt(median([r.get('loadavg1') for r in rows]))}, max "
             f"{fmt(max([r.get('loadavg1') or 0 for r in rows] or [0]))} (other jobs on the machine inflate the "
             f"'machine' CPU column). Hypervisor steal over the runs' windows (CPU time this VM wanted and did not "
             f"get; not counted as busy): median {fmt(100 * (median([r.get('steal_share') for r in rows]) or 0), 1)}%, "
             f"max {fmt(100 * max([r.get('steal_share') or 0 for r in rows] or [0]), 1)}% of the 2 CPUs.\n")
    L.append(f"Testbed: 2-queue veth pair, generator side in its own netns (via {meta.get('testbed')}); "
             f"generator: `{meta.get('generator')}`; 64-byte UDP packets unless a table says otherwise (IMIX = 7:4:1 of "
             f"64/576/1,500 B). Packets per steady-load and latency point: {meta.get('point_packets')}. "
             f"Repetitions per point: {meta['reps']} "
             f"(cells: median [min–max]). Heavy consumer cost X = {meta['heavy_cost']} runs of the BPF filter "
             f"`udp and dst port 9` per packet: {meta['heavy_ns_per_packet_c']:.0f} ns/packet in C "
             f"(≈ {meta['heavy_pps_c']:.0f} pps per consumer). WireCap: M={meta['M']}, R={meta['R']}, other "
             f"options default{' + ' + meta['wirecap_args'] if meta.get('wirecap_args') else ''}.\n")
    if meta.get("buffer_mib"):
        L.append(f"**Equal memory**: every engine gets {meta['buffer_mib']} MiB of buffer per queue, through its own "
                 f"knob: WireCap R = {meta['buffer_mib'] * 2**20 // (meta['M'] * 2048)} chunks of M = {meta['M']} "
                 f"2 KiB frames (the `-R` above is not used); TPACKET_V3 (the AF_PACKET engines and WireCap on "
                 f"AF_PACKET) {meta['buffer_mib'] * 1024 // meta['block_kib']} blocks of {meta['block_kib']} KiB per "
                 f"socket; libpcap one handle with {meta['buffer_mib']} MiB per queue; recvmmsg SO_RCVBUFFORCE "
                 f"{meta['buffer_mib']} MiB per socket; minimal AF_XDP {meta['buffer_mib'] * 2**20 // 2048} frames per "
                 "queue. Packets one queue's buffer holds (computed from each layout, not measured; recvmmsg's "
                 "depends on the kernel's per-skb accounting and is not computed):\n")
        sizes = list(next(iter(meta["capacity"].values())).keys())
        L.append("| buffer layout | " + " | ".join(sizes) + " |")
        L.append("|---|" + "---|" * len(sizes))
        for layout, caps in meta["capacity"].items():
            L.append(f"| {layout} | " + " | ".join(f"{caps[k]:,}" for k in sizes) + " |")
        L.append("")
    if meta.get("skipped_engines"):
        L.append("Not run: " + "; ".join(f"{LABEL[k]} — {v}" for k, v in meta["skipped_engines"].items()) + ".\n")
    L.append("CPU columns are CPU-seconds per million delivered packets: **proc** = the consumer process's own "
             "CPU time over the traffic window (every thread's sum_exec_runtime, /proc/PID/task/*/schedstat, ns); **machine** = whole-machine busy time "
             "(/proc/stat) over the same window minus the generator-alone run of the same repetition (softirq work on "
             "veth is charged to no process); **proc+softirq** = proc plus the machine's softirq time over the window "
             "minus the generator-alone run's softirq time (the capture's kernel work without other jobs' noise). Loss % = (offered − delivered) / offered; drops by cause are the engine's own "
             "counters (medians); 'iface counters' = the veth pair's rx/tx dropped counters, which also count XDP "
             "redirect failures (so they overlap the AF_XDP engines' own counters). Ratios are to WireCap advanced "
             "(loss ratio shown as a difference in percentage points).\n")
    cc = meta.get("cost_check") or {}
    if cc:
        L.append("**Consumer-cost check** (consumer process CPU per packet, ns, same traffic: 20k packets at 20 kpps; "
                 "the extra cost over X=0 must scale with X like the C baseline's, whose filter is the same):\n")
        L.append("| engine | X=0 | X=" + str(meta["heavy_cost"]) + " | X=" + str(10 * meta["heavy_cost"]) +
                 " | extra cost at 10×X relative to the C baseline | verdict |")
        L.append("|---|---|---|---|---|---|")
        for e, v in cc.items():
            n = v["ns_per_packet"]
            L.append(f"| {LABEL[e]} | {fmt(n.get('0'), 0)} | {fmt(n.get(str(meta['heavy_cost'])), 0)} | "
                     f"{fmt(n.get(str(10 * meta['heavy_cost'])), 0)} | {fmt(v.get('relative_to_c'))} | {v['verdict']} |")
        if any(v["verdict"] != "ok" for e, v in cc.items() if e.startswith("wirecap")):
            L.append("\n**Warning:** `wirecap capture --consumer-cost X` did not make the consumer slower in "
                     "proportion to X on this build, so in every X>0 table below the WireCap rows (marked †) ran a "
                     "much lighter consumer than the baselines and are not comparable to them.\n")
    ok = [r for r in rows if "error" not in r]
    failed = [r for r in rows if "error" in r]

    def table(phase, key_fields, title_fn, extra_cols=(), engines=None, only=None):
        groups = summarize([r for r in ok if r.get("phase") == phase], key_fields + ["engine"])
        points = []
        for k in groups:
            if k[:-1] not in points and (only is None or only(k[:-1])):
                points.append(k[:-1])
        for pt in points:
            L.append(f"\n### {title_fn(pt)}\n")
            ref = groups.get(pt + (REFERENCE,))
            hdr = ["engine", "offered", "delivered", "loss %", "drops by cause", "unexplained", "CPU/M proc",
                   "CPU/M machine", "CPU/M proc+softirq"]
            hdr += [c[0] for c in extra_cols]
            hdr += ["Δloss vs WC-adv (pp)", "proc CPU/M ÷ WC-adv", "machine CPU/M ÷ WC-adv", "proc+softirq ÷ WC-adv"]
            L.append("| " + " | ".join(hdr) + " |")
            L.append("|" + "---|" * len(hdr))
            for e, label in ENGINES:
                rs = groups.get(pt + (e,))
                if not rs or (engines is not None and e not in engines):
                    continue
                loss = [r["loss_pct"] for r in rs]
                cp = [r["cpu_per_M_proc"] for r in rs]
                cm = [r["cpu_per_M_machine"] for r in rs]
                cs = [r.get("cpu_per_M_proc_softirq") for r in rs]
                flag = ""
                if e.startswith("wirecap") and any(r["consumer_cost"] for r in rs) and \
                        any(v["verdict"] != "ok" for k, v in cc.items() if k.startswith("wirecap")):
                    flag = " †"
                line = [label + flag, f"{int(median([r['offered'] for r in rs]))}", f"{int(median([r['captured'] for r in rs]))}",
                        cell(loss), drops_text(rs), cell([r.get("unexplained") for r in rs], 0), cell(cp), cell(cm),
                        cell(cs)]
                line += [c[1](rs) for c in extra_cols]
                ref_flagged = any(r["consumer_cost"] for r in (ref or [])) and \
                    any(v["verdict"] != "ok" for k, v in cc.items() if k.startswith("wirecap"))
                if ref and ref_flagged:
                    line += ["n/a †"] * 4
                elif ref:
                    rl = median([r["loss_pct"] for r in ref])
                    line += [f"{median(loss) - rl:+.2f}" if median(loss) is not None and rl is not None else "n/a",
                             ratio(median(cp), median([r['cpu_per_M_proc'] for r in ref])),
                             ratio(median(cm), median([r['cpu_per_M_machine'] for r in ref])),
                             ratio(median(cs), median([r.get('cpu_per_M_proc_softirq') for r in ref]))]
                else:
                    line += ["n/a", "n/a", "n/a", "n/a"]
                L.append("| " + " | ".join(line) + " |")
            gr = [r.get("gen_rate") for rs in (groups.get(pt + (e,)) or [] for e, _ in ENGINES) for r in rs]
            if gr and median(gr):
                L.append(f"\nGenerator achieved {median(gr):.0f} pps (median over these runs; range "
                         f"{min(gr):.0f}–{max(gr):.0f}).")

    L.append("\n## Offered load × consumer cost (even 50/50 share)\n")
    table("matrix", ["rate", "consumer_cost"],
          lambda pt: f"offered {pt[0] if pt[0] == 'max' else str(int(pt[0]) // 1000) + ' kpps'}, consumer cost X={pt[1]}")

    def split_col(rs):
        fr = [r.get("flows_split_frac") for r in rs]
        if all(f is None for f in fr):
            return "n/a"
        text = cell([100 * f for f in fr if f is not None], 1) + " %"
        dup = [r.get("duplicates") for r in rs if r.get("duplicates") is not None]
        fo = [r.get("foreign_ipv4") for r in rs if r.get("foreign_ipv4") is not None]
        if all(r.get("phase") == "trace" for r in rs):
            fo = []   # trace packets are not test packets: all of them are "foreign"
        if any(dup) or any(fo):
            text += f" (duplicate test packets {dup}, foreign IPv4 {fo})"
        return text

    def worker_col(rs):
        pw = rs[len(rs) // 2].get("per_worker") or []
        return "/".join(str(x) for x in pw) if pw else "n/a"

    # The columns of the cases where flows may be split between workers.
    def order_col(rs):
        vals = [r.get("out_of_order") for r in rs]
        if all(v is None for v in vals):
            return "n/a"
        return cell([v for v in vals if v is not None], 0) + " pkts"

    def capture_col(rs):
        """WireCap's capture threads' CPU over the window, as a share of one core: what
        they took from the consumers they share the 2 cores with."""
        vals = [r["capture_thread_cpu"] / r["window"] * 100 for r in rs
                if r.get("capture_thread_cpu") is not None and r.get("window")]
        return cell(vals, 1) + " %" if vals else "n/a"

    def moved_col(rs):
        vals = [r.get("flows_moved") for r in rs]
        if all(v is None for v in vals):
            return "n/a"
        return cell([v for v in vals if v is not None], 0)

    flow_cols = [("flows split (seen out of order)", split_col), ("flows moved whole", moved_col),
                 ("out of order in flow", order_col),
                 ("capture thread, % of a core", capture_col), ("per-worker packets (median run)", worker_col),
                 ("WireCap offloaded chunks", lambda rs: fmt(median([r.get("offloads") for r in rs]), 0))]

    lat = meta.get("latency")
    if lat:
        L.append("\n## CPU at the same delivery-latency bound\n")
        L.append(f"{lat['rate']} pps, x = 0, {meta.get('point_packets')} packets per run, {lat['reps']} paired "
                 "repetitions (each repetition runs every bound and engine in turn). The bound is each engine's own "
                 "knob: WireCap `--timeout` (partial chunks/blocks delivered after it), the TPACKET_V3 block retire "
                 "timeout, the AF_XDP loop's idle sleep. Ratio = WireCap's CPU per packet ÷ its limit's on the same "
                 "kernel mechanism, per repetition (median [min–max]); 'proc' = the consumer process's threads "
                 "(schedstat, ns), 'proc+softirq' adds the machine's softirq time over the window minus the "
                 "generator alone.\n")
        pairs = [("wirecap_advanced", "xdp_min", 1.05), ("wirecap_afpacket", "afpacket_hash", 1.10)]
        L.append("| bound | pair | target | proc ratio | proc+softirq ratio | CPU/M proc (WireCap; limit) | "
                 "of which WireCap's capture thread | verdict |")
        L.append("|---|---|---|---|---|---|---|---|")
        lrows = [r for r in ok if r.get("phase") == "latency"]
        for bound in sorted({r["latency_ms"] for r in lrows if r.get("latency_ms")}):
            for a_e, b_e, target in pairs:
                pr, ps, ca, cb, ck = [], [], [], [], []
                for rep in sorted({r.get("latency_rep") for r in lrows}):
                    ra = [r for r in lrows if r["engine"] == a_e and r["latency_ms"] == bound and r.get("latency_rep") == rep]
                    rb = [r for r in lrows if r["engine"] == b_e and r["latency_ms"] == bound and r.get("latency_rep") == rep]
                    if ra and rb and ra[0].get("cpu_per_M_proc") and rb[0].get("cpu_per_M_proc"):
                        pr.append(ra[0]["cpu_per_M_proc"] / rb[0]["cpu_per_M_proc"])
                        ca.append(ra[0]["cpu_per_M_proc"]); cb.append(rb[0]["cpu_per_M_proc"])
                        if ra[0].get("capture_thread_cpu") is not None and ra[0].get("captured"):
                            ck.append(per_m(ra[0]["capture_thread_cpu"], ra[0]["captured"]))
                        if ra[0].get("cpu_per_M_proc_softirq") and rb[0].get("cpu_per_M_proc_softirq"):
                            ps.append(ra[0]["cpu_per_M_proc_softirq"] / rb[0]["cpu_per_M_proc_softirq"])
                if not pr:
                    continue
                lo, hi = spread(pr)
                verdict = ("within target" if hi <= target else
                           "over target" if lo > target else "not decided (the spread straddles the target)")
                L.append(f"| {fmt(bound, 0)} ms | {LABEL[a_e]} ÷ {LABEL[b_e]} | {target:.2f}× | {cell(pr)}× | "
                         f"{cell(ps)}× | {cell(ca, 3)}; {cell(cb, 3)} | {cell(ck, 3)} | {verdict} (proc) |")
        L.append("")
        table("latency", ["latency_ms"], lambda pt: f"latency bound {fmt(pt[0], 0)} ms: every engine of the phase")

    L.append("\n## Long-term imbalance: 90/10 share, heavy consumers\n")
    L.append(f"Offered rate {meta.get('imbalance_rate')} pps = {meta.get('imbalance_rate', 0) / max(1, meta['heavy_pps_c']):.2f}× "
             "the calibrated single-consumer rate: queue 0 alone is overloaded, both consumers together are not. "
             "'flows split' = fraction of flows processed by two workers at once (a packet of the flow "
             "processed after a later one of its own); 'flows moved whole' = flows processed by more than "
             "one worker, one after the other, never out of order (n/a where the engine does not report it).\n")
    table("imbalance", ["rate", "consumer_cost"], lambda pt: f"90/10 at {pt[0]} pps, X={pt[1]}",
          extra_cols=flow_cols)

    eles = meta.get("elephant") or []
    for ele in ([eles] if isinstance(eles, dict) else eles):
        L.append(f"\n## Elephants at {ele['rate']} pps: one flow no hash can spread, heavy consumers\n")
        if ele.get("skipped"):
            L.append(f"Not run: {ele['skipped']}.\n")
        else:
            L.append(f"Offered {ele['rate']} pps = {ele['rate'] / max(1, meta['heavy_pps_c']):.2f}× the calibrated "
                     f"single-consumer rate, share {ele['share']}; one flow carries {ele['percent_of_queue0']}% of queue 0's "
                     f"packets = {100 * ele['elephant_share_of_all']:.0f}% of all "
                     f"({ele['rate'] * ele['elephant_share_of_all'] / max(1, meta['heavy_pps_c']):.2f}× what one consumer "
                     "can take), the rest in small flows on both queues. An engine that keeps every flow on one worker "
                     "must lose the elephant's excess; one that splits it can deliver everything, at the price of "
                     "flows processed by two workers.\n")
            table("elephant", ["rate", "consumer_cost"], lambda pt: f"elephant at {pt[0]} pps, X={pt[1]}",
                  extra_cols=flow_cols, only=lambda pt, rate=str(ele["rate"]): pt[0] == rate)

    tr = meta.get("trace")
    if tr:
        L.append("\n## A trace replayed with Toeplitz RSS, heavy consumers\n")
        L.append(f"`wirecap replay --speed {tr['speed']}` of {tr['file']} "
                 f"({'the border-router model, ' + str(tr['seconds']) + ' s, synthesized by this run' if tr['synthesized'] else 'a user trace'}), "
                 "each packet to the tx queue its Toeplitz hash selects (the RSS imbalance is the trace's own). Every "
                 "packet counts here (IPv6 too); trace packets carry no sequence number, so order within a flow is "
                 "not measured (the column counts generator packets only: 0).\n")
        table("trace", ["rate", "consumer_cost"], lambda pt: f"{pt[0]}, X={pt[1]}", extra_cols=flow_cols)

    # Burst test with the simulator formula.
    all_bursts = [r for r in ok if r.get("phase") == "burst"]
    for sizes in sorted({r.get("sizes", "64") for r in all_bursts}, key=lambda s: (s != "64", s)):
        bursts = [r for r in all_bursts if r.get("sizes", "64") == sizes]
        L.extend(burst_section(meta, bursts, sizes))
    L.append("\n## Generator alone (one run before each repetition; CPU-seconds, subtracted above)\n")
    for tag, v in gen_alone.items():
        L.append(f"- {tag}: machine busy {cell(v['busy'], 3)} s, softirq {cell(v['softirq'], 3)} s")
    if failed:
        L.append("\n## Failed runs\n")
        for r in failed:
            L.append(f"- {r.get('phase')} {r['engine']} rate {r['rate']} x={r['consumer_cost']}: {r['error']}")
    L.append("")
    return "\n".join(L)


if __name__ == "__main__":
    main()
