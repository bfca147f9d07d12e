#!/usr/bin/env python3
"""Plots of one end-to-end run (Benchmarks/e2e/run.py), from its JSONL file.

    python3 Benchmarks/e2e/plot.py Benchmarks/results/e2e-DATE-HOST.jsonl

Writes, beside the file (BASE = the file without .jsonl):
  BASE-bursts.png    loss vs burst size per engine, at equal memory (one panel per frame-size mix)
  BASE-cpu.png       CPU per delivered packet vs offered load, x = 0 and heavy
  BASE-elephant.png  loss vs flows split in the (first) elephant case (label: packets out of order)
Every point is a median over the run's repetitions; nothing is computed but medians.
Needs matplotlib (scripts/bootstrap installs python3-matplotlib).
"""
import json
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# Engine order, labels and one fixed colour and marker each, so that every plot
# (and every run) draws an engine the same way.
STYLE = {
    "wirecap_advanced": ("WireCap advanced", "tab:blue", "o"),
    "wirecap_basic": ("WireCap basic", "tab:cyan", "s"),
    "wirecap_advanced_nospill": ("WireCap advanced, spill off", "navy", "h"),
    "wirecap_basic_nospill": ("WireCap basic, spill off", "teal", "H"),
    "wirecap_afpacket": ("WireCap on AF_PACKET", "tab:purple", "D"),
    "afpacket_hash": ("AF_PACKET fanout hash", "tab:orange", "v"),
    "afpacket_hash_rollover": ("AF_PACKET hash+rollover", "tab:red", "^"),
    "afpacket_qm": ("AF_PACKET fanout qm", "tab:brown", "<"),
    "pcap": ("libpcap", "tab:olive", ">"),
    "recvmmsg": ("recvmmsg", "tab:gray", "x"),
    "xdp_min": ("minimal AF_XDP", "tab:green", "P"),
}


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def load(path):
    with open(path) as f:
        head = json.loads(f.readline())
        rows = [json.loads(line) for line in f if line.strip()]
    return head["meta"], [r for r in rows if "error" not in r]


def subtitle(meta):
    mem = f"{meta['buffer_mib']} MiB per queue, every engine" if meta.get("buffer_mib") else "each engine's own memory"
    return f"{meta['date'][:10]}, git {meta['git']}, {meta['cpus']} CPUs, {mem}"


def panels(count):
    """A figure of `count` panels side by side."""
    return plt.subplots(1, count, figsize=(6.5 * count, 4.6), squeeze=False)


def save(fig, title, path):
    """Titles, lays out, writes and closes a figure; returns its path."""
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_bursts(meta, rows, out):
    bursts = [r for r in rows if r.get("phase") == "burst"]
    if not bursts:
        return None
    mixes = sorted({r.get("sizes", "64") for r in bursts}, key=lambda s: (s != "64", s))
    fig, axes = panels(len(mixes))
    for ax, mix in zip(axes[0], mixes):
        for e, (label, colour, marker) in STYLE.items():
            er = [r for r in bursts if r["engine"] == e and r.get("sizes", "64") == mix]
            ps = sorted({r["burst"] for r in er})
            if not ps:
                continue
            ys = [median([r["loss_pct"] for r in er if r["burst"] == p]) for p in ps]
            ax.plot(ps, ys, marker=marker, color=colour, label=label, linestyle="-" if len(ps) > 1 else "none")
        ax.set_xscale("log")
        ax.set_xlabel("burst size P (packets, one flow on queue 0)")
        ax.set_ylabel("loss %")
        ax.set_title(f"{'IMIX 7:4:1' if mix == 'imix' else mix + ' B'} frames")
        ax.grid(True, alpha=0.3)
    axes[0][0].legend(fontsize=7)
    return save(fig, f"Loss vs burst size at equal memory, x = {meta['heavy_cost']}\n({subtitle(meta)})",
                out + "-bursts.png")


def plot_cpu(meta, rows, out):
    matrix = [r for r in rows if r.get("phase") == "matrix"]
    if not matrix:
        return None
    costs = sorted({r["consumer_cost"] for r in matrix})
    fig, axes = panels(len(costs))
    for ax, x in zip(axes[0], costs):
        for e, (label, colour, marker) in STYLE.items():
            er = [r for r in matrix if r["engine"] == e and r["consumer_cost"] == x]
            if not er:
                continue
            # The load each run actually got (the generator's rate), so 'max' lands where it was.
            points = {}
            for r in er:
                points.setdefault(r["rate"], []).append(r)
            xs, ys = [], []
            for rate, rs in points.items():
                got, cpu = median([r.get("gen_rate") for r in rs]), median([r.get("cpu_per_M_proc_softirq") for r in rs])
                if got and cpu is not None:
                    xs.append(got / 1e3)
                    ys.append(cpu / 1e6 * 1e9)   # CPU-seconds per million packets -> ns per packet
            order = sorted(range(len(xs)), key=lambda i: xs[i])
            ax.plot([xs[i] for i in order], [ys[i] for i in order], marker=marker, color=colour, label=label)
        ax.set_xlabel("offered load (kpps, as the generator achieved it)")
        ax.set_ylabel("CPU per delivered packet (ns): consumer + softirq")
        ax.set_title(f"x = {x}")
        ax.grid(True, alpha=0.3)
    axes[0][0].legend(fontsize=7)
    return save(fig, f"CPU per packet vs load, 1 ms latency bound\n({subtitle(meta)})", out + "-cpu.png")


def plot_elephant(meta, rows, out):
    els = meta.get("elephant") or []
    el = (els if isinstance(els, dict) else (els[0] if els else {}))
    # The first elephant load of the run (the harness's first --elephant-factor).
    ele = [r for r in rows if r.get("phase") == "elephant" and (not el or str(r.get("rate")) == str(el.get("rate")))]
    if not ele:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.8))
    for e, (label, colour, marker) in STYLE.items():
        er = [r for r in ele if r["engine"] == e]
        if not er:
            continue
        split = median([100 * r["flows_split_frac"] for r in er if r.get("flows_split_frac") is not None])
        loss = median([r["loss_pct"] for r in er])
        ooo = median([r.get("out_of_order") for r in er])
        if loss is None:
            continue
        ax.scatter([split if split is not None else -2], [loss], color=colour, marker=marker, s=60, label=label)
        note = f"{int(ooo):,} out of order" if ooo is not None else "order n/a"
        ax.annotate(note, (split if split is not None else -2, loss), fontsize=6, xytext=(4, 3),
                    textcoords="offset points")
    ax.set_xlabel("flows split: processed by two workers at once (%; −2: not reported)")
    ax.set_ylabel("loss %")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    return save(fig, f"Elephant at {el.get('rate')} pps: one flow = {100 * el.get('elephant_share_of_all', 0):.0f}% of the load, x = "
                f"{meta['heavy_cost']}\n({subtitle(meta)})", out + "-elephant.png")


def main():
    if len(sys.argv) != 2 or not sys.argv[1].endswith(".jsonl"):
        sys.exit("usage: plot.py RESULTS.jsonl")
    meta, rows = load(sys.argv[1])
    out = sys.argv[1][: -len(".jsonl")]
    made = [p for p in (plot_bursts(meta, rows, out), plot_cpu(meta, rows, out), plot_elephant(meta, rows, out)) if p]
    print("plots: " + (", ".join(made) if made else "none (no burst, matrix or elephant rows)"))


if __name__ == "__main__":
    main()
