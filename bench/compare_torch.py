#!/usr/bin/python3
"""Run twingrad (bench/bench_train) and PyTorch (bench/torch_seed.py) on the same
model file, batch and thread count, one after the other in this run, and print
the throughput and memory side by side with their ratios. Each side runs in its
own process so that its peak memory is its own.

    /usr/bin/python3 bench/compare_torch.py [MODEL] [--batch 16] [--threads 2] [--repeat 3]

Run from the build directory (where bench/bench_train was built) or pass
--bench-train PATH. OPENBLAS_* variables are passed through unchanged.
"""
import argparse
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    line = [l for l in out.splitlines() if l.startswith("impl=")][-1]
    return dict(kv.split("=", 1) for kv in line.split())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model", nargs="?", default=os.path.join(HERE, "..", "models", "siamese_xray.tg"))
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--bench-train", default=os.path.join("bench", "bench_train"))
    a = p.parse_args()
    common = ["--batch", str(a.batch), "--threads", str(a.threads), "--steps", str(a.steps)]
    tg_cmd = [a.bench_train, a.model] + common
    pt_cmd = [sys.executable, os.path.join(HERE, "torch_seed.py"), a.model] + common
    results = {"twingrad": [], "pytorch": []}
    for _ in range(a.repeat):  # interleaved, so drift on a shared machine hits both
        results["twingrad"].append(run(tg_cmd))
        results["pytorch"].append(run(pt_cmd))
    keys = [("train_pairs_per_s", "training pairs/s", 1), ("infer_images_per_s", "inference images/s", 1),
            ("peak_rss_mb", "peak RSS MiB", -1)]
    print(f"model {a.model}, batch {a.batch} pairs, {a.threads} threads, median of {a.repeat} runs")
    print(f"{'':22s}{'twingrad':>12s}{'pytorch':>12s}{'ratio':>10s}")
    for key, label, sense in keys:
        tg = statistics.median(float(r[key]) for r in results["twingrad"])
        pt = statistics.median(float(r[key]) for r in results["pytorch"])
        ratio = tg / pt
        note = "(higher is better)" if sense > 0 else "(lower is better)"
        print(f"{label:22s}{tg:12.2f}{pt:12.2f}{ratio:9.2f}x {note}")
    print(f"parameters: twingrad {results['twingrad'][0]['params']}, pytorch {results['pytorch'][0]['params']}"
          f"; torch {results['pytorch'][0].get('torch', '?')}")


if __name__ == "__main__":
    main()
