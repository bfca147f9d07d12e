#!/usr/bin/env python3
"""A run's timeline (`run.py --timeline DIR` keeps one per WireCap run) as one CSV row per
stats line and queue: what the flow scheduler saw and did, 20 times a second.

    python3 Benchmarks/e2e/timeline.py DIR/001-wirecap_advanced.jsonl > run1.csv
    python3 Benchmarks/e2e/timeline.py --every 4 FILE      # every 4th line (0.2 s)

Columns: t (s since start), queue, and per queue over the interval since the last row:
rx/drop/consumed (k packets per second: recorded by the pool, lost before recording by
every cause, taken by the queue's consumer), held (k pps waiting for a move's drain),
spread (k pps of spread buckets), moves (buckets moved); and at the instant:
backlog_items (handles waiting for the consumer), free_chunks, lent_chunks (spill
blocks' memory), load_kpps (the consumer's settled load, FlowScheduler), spread_buckets.
Standard library only."""
import argparse
import csv
import json
import sys


def rows(path, every):
    lines = [json.loads(l) for l in open(path) if l.strip()]
    prev = None
    for i, line in enumerate(lines):
        if i % every:
            continue
        if prev is not None:
            dt = (line["t"] - prev["t"]) or 1e-9
            for q, p in zip(line["queues"], prev["queues"]):
                d = lambda k: (q.get(k, 0) - p.get(k, 0)) / dt / 1e3
                drop = d("dropsNoBuffer") + d("dropsRxRingFull") + d("dropsPoolExhausted")
                yield {"t": round(line["t"], 3), "queue": q["queue"], "rx_kpps": round(d("packetsReceived"), 1),
                       "drop_kpps": round(drop, 1), "consumed_kpps": round(d("packetsConsumed"), 1),
                       "held_kpps": round(d("packetsHeld"), 1), "spread_kpps": round(d("packetsSpread"), 1),
                       "moves": q.get("bucketMoves", 0) - p.get("bucketMoves", 0),
                       "backlog_items": q["captureQueueLength"], "free_chunks": q["freeChunks"],
                       "lent_chunks": q.get("lentChunks", 0), "load_kpps": round(q.get("consumerLoad", 0) / 1e3, 1),
                       "spread_buckets": q.get("bucketsSpread", 0)}
        prev = line


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file", help="a DIR/NNN-ENGINE.jsonl of run.py --timeline")
    ap.add_argument("--every", type=int, default=1, help="use every Nth stats line (default 1: 50 ms)")
    a = ap.parse_args()
    out = None
    for r in rows(a.file, max(1, a.every)):
        if out is None:
            out = csv.DictWriter(sys.stdout, fieldnames=list(r))
            out.writeheader()
        out.writerow(r)


if __name__ == "__main__":
    main()
