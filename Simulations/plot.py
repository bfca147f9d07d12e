#!/usr/bin/env python3
"""Plots the outputs of `wirecap simulate --scenario NAME --out DIR`.

Reads DIR/NAME.csv and DIR/NAME.json and writes DIR/NAME.png, with the paper's
reported numbers (from the JSON summary) beside the simulated ones.

    python3 Simulations/plot.py --out out/simulations            # every scenario found
    python3 Simulations/plot.py --out out/simulations fig9 table1
"""
import argparse
import csv
import json
import os
import sys
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SCENARIOS = ["fig3", "table1", "fig8", "fig9", "fig10", "fig11", "fig12"]


def load(out, name):
    with open(os.path.join(out, name + ".csv")) as f:
        rows = list(csv.DictReader(f))
    with open(os.path.join(out, name + ".json")) as f:
        summary = json.load(f)
    return rows, summary


def by_engine(rows, x):
    series = {}
    for r in rows:
        series.setdefault(r["engine"], []).append((float(r[x]), float(r["drop_rate"]) * 100))
    return series


def note(fig, summary):
    fig.text(0.01, 0.005, "simulated (WireCap simulator, seed %s%s)" % (summary["seed"], ", fast" if summary.get("fast") else ""),
             fontsize=7, color="gray")


def plot_fig3(rows, summary, ax_fig):
    fig, axes = ax_fig
    t = [float(r["time_s"]) for r in rows]
    for ax, q, ref, window in ((axes[0], 0, summary["paper"]["queue0_pps"], summary["paper"]["queue0_window_s"]),
                               (axes[1], 3, summary["paper"]["queue3_pps"], summary["paper"]["queue3_window_s"])):
        pps = [int(r["q%d_packets" % q]) * 100 for r in rows]
        ax.plot(t, pps, lw=0.4, label="queue %d, simulated (10 ms bins)" % q)
        ax.hlines(ref, window[0], min(window[1], t[-1]), colors="red", linestyles="dashed",
                  label="paper: ≈%s p/s, %s–%s s" % (format(ref, ","), window[0], window[1]))
        ax.set_ylabel("packets/s")
        ax.legend(fontsize=7, loc="upper right")
    axes[1].set_xlabel("time (s)")
    axes[0].set_title("Figure 3: load imbalance, 6 RSS queues (border-router-like trace)")


def plot_table1(rows, summary, ax_fig):
    fig, ax = ax_fig
    labels, sim_c, sim_d, pap_c, pap_d = [], [], [], [], []
    for r in summary["rows"]:
        if r["x"] != 300:
            continue
        labels.append("%s\nq%d" % (r["engine"], r["queue"]))
        sim_c.append(r["capture_drop_rate"] * 100)
        sim_d.append(r["delivery_drop_rate"] * 100)
        pap_c.append((r["paper_capture_drop_rate"] or 0) * 100)
        pap_d.append((r["paper_delivery_drop_rate"] or 0) * 100)
    xs = range(len(labels))
    w = 0.2
    ax.bar([x - 1.5 * w for x in xs], sim_c, w, label="capture drops, simulated", color="tab:blue")
    ax.bar([x - 0.5 * w for x in xs], pap_c, w, label="capture drops, paper", color="tab:blue", alpha=0.4, hatch="//")
    ax.bar([x + 0.5 * w for x in xs], sim_d, w, label="delivery drops, simulated", color="tab:orange")
    ax.bar([x + 1.5 * w for x in xs], pap_d, w, label="delivery drops, paper", color="tab:orange", alpha=0.4, hatch="//")
    for x, a, b in zip(xs, sim_c, sim_d):
        ax.text(x - w, max(a, b) + 1, "%.1f%%" % (a + b), ha="center", fontsize=7)
    ax.set_xticks(list(xs))
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylabel("drop rate (%)")
    ax.set_title("Table 1: drop rates, 6 queues, ring 1,024, x = 300")
    ax.legend(fontsize=7)
    # The model's cause of a loss can differ from the paper's (same size, other counter): say so.
    notes = summary.get("cause_mismatches") or []
    if notes:
        ax.set_title("Table 1: drop rates, 6 queues, ring 1,024, x = 300\n" +
                     "\n".join(textwrap.fill("cause differs: " + t, 150) for t in notes), fontsize=8)


def plot_burst(rows, summary, ax_fig, title, paper_points=()):
    fig, ax = ax_fig
    colors = {}
    for engine, pts in by_engine(rows, "P").items():
        pts.sort()
        (line,) = ax.plot([p for p, _ in pts], [d for _, d in pts], marker="o", ms=3, label=engine + " (simulated)")
        colors[engine] = line.get_color()
    # Each paper point takes its own engine's line colour (not the next colour of the
    # scatter cycle, which would give a star another engine's colour); black when the
    # engine has no simulated line.
    for engine, p, rate in paper_points:
        ax.scatter([p], [rate * 100], marker="*", s=160, zorder=5, edgecolors="black",
                   color=colors.get(engine, "black"),
                   label="paper: %s, P=%s: %g%%" % (engine, format(p, ","), rate * 100))
    ax.set_xscale("log")
    ax.set_xlabel("burst size P (64-byte packets at 14.88 Mpps)")
    ax.set_ylabel("drop rate (%)")
    ax.set_ylim(-3, 103)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def plot_queues(rows, summary, ax_fig, title):
    fig, ax = ax_fig
    for engine, pts in by_engine(rows, "queues").items():
        pts.sort()
        ax.plot([q for q, _ in pts], [d for _, d in pts], marker="o", ms=4, label=engine)
    ax.set_xlabel("receive queues (one x = 300 consumer each)")
    ax.set_ylabel("overall drop rate (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.text(0.02, 0.02, "paper: " + summary["paper"], transform=ax.transAxes, fontsize=6, wrap=True, va="bottom")


def fig12_verdict(rows):
    """What the 4–6 queue zoom shows, from the data: whether T changes the drop rate
    at all in the model, and which T drops least (no hard-coded claim)."""
    means = {}
    for engine, pts in by_engine(rows, "queues").items():
        zoom = [d for q, d in pts if q >= 4]
        if zoom:
            means[engine] = sum(zoom) / len(zoom)
    if not means:
        return "no data"
    if max(means.values()) - min(means.values()) < 1e-9:
        return "all T identical: the model gives offload no cost, so T cannot matter here"
    best = min(means, key=means.get)
    return "lowest mean drop: %s" % best


def plot(out, name):
    rows, summary = load(out, name)
    if name == "fig3":
        ax_fig = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
        plot_fig3(rows, summary, ax_fig)
    elif name == "table1":
        ax_fig = plt.subplots(figsize=(10, 5))
        plot_table1(rows, summary, ax_fig)
    elif name == "fig8":
        ax_fig = plt.subplots(figsize=(9, 5))
        plot_burst(rows, summary, ax_fig, "Figure 8: basic mode, x = 0 (paper: no drops except PF_RING)")
    elif name == "fig9":
        ax_fig = plt.subplots(figsize=(9, 5))
        points = [(c["engine"], c["P"], c["paper_drop_rate"]) for c in summary["comparison"]]
        plot_burst(rows, summary, ax_fig, "Figure 9: basic mode, x = 300", points)
    elif name == "fig10":
        ax_fig = plt.subplots(figsize=(9, 5))
        plot_burst(rows, summary, ax_fig, "Figure 10: R·M fixed at 25,600, x = 300 (paper: curves coincide)")
    elif name == "fig11":
        ax_fig = plt.subplots(figsize=(9, 5))
        plot_queues(rows, summary, ax_fig, "Figure 11: advanced vs basic mode and existing engines, x = 300")
    elif name == "fig12":
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
        plot_queues(rows, summary, (fig, left), "Figure 12: WireCAP-A(256,100,T), x = 300")
        for engine, pts in by_engine(rows, "queues").items():
            pts = sorted(p for p in pts if p[0] >= 4)
            right.plot([q for q, _ in pts], [d for _, d in pts], marker="o", ms=4, label=engine)
        right.set_yscale("log")
        right.set_xticks([4, 5, 6])
        right.set_xlabel("receive queues")
        right.set_ylabel("overall drop rate (%, log)")
        right.set_title("zoom: 4–6 queues (" + fig12_verdict(rows) + ")")
        right.grid(alpha=0.3, which="both")
        right.legend(fontsize=7)
        ax_fig = (fig, left)
    else:
        raise SystemExit("unknown scenario " + name)
    fig = ax_fig[0]
    note(fig, summary)
    fig.tight_layout()
    path = os.path.join(out, name + ".png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print("plot.py: wrote " + path, file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="out/simulations")
    ap.add_argument("names", nargs="*")
    a = ap.parse_args()
    names = a.names or [n for n in SCENARIOS if os.path.exists(os.path.join(a.out, n + ".json"))]
    for n in names:
        plot(a.out, n)


if __name__ == "__main__":
    main()
