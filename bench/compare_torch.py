#!/usr/bin/python3
"""Run twingrad (bench/bench_train), PyTorch (bench/torch_seed.py) and, for inference,
ONNX Runtime (bench/ort_infer.js on the PyTorch tower exported with torch.onnx.export)
on the same model file, batch and thread count, interleaved in this run, and print
throughput and memory side by side with their ratios and twingrad's share of the
GEMM limit. Each side runs in its own process so that its peak memory is its own.
Below the table of medians: every run of each side, and the ratios of the best runs
(on a shared host, the runs least slowed by others).

    /usr/bin/python3 bench/compare_torch.py [MODEL] [--batch 16] [--threads 2] [--repeat 3]
                                            [--load] [--no-onnx] [--layers]

--load: robustness under load. Each repeat runs every side quiet, then again beside
one `nice -n 19` busy loop per core, and the table shows the share of the quiet
throughput each keeps (target for twingrad: >= 70%).

--layers: afterwards, one more quiet run of twingrad and of ONNX Runtime with their
per-layer timers on (bench_train --layers, ort_infer.js --layers), and a table of
where the time goes: twingrad's forward and backward per training step and both
engines' inference time per image, layer by layer.

Run from the build directory (where bench/bench_train was built) or pass
--bench-train PATH. OPENBLAS_* variables are passed through unchanged; speed figures
count with none set (env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ...). ONNX Runtime's
column is skipped, and says so, where node or onnxruntime-node (under tests/onnx) is absent.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, layers=None):
    """The key=value fields of the last 'impl=' line, and the '#' header lines; the
    'layer=' lines' fields are appended to `layers` when it is given."""
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr.strip()}")
    out = proc.stdout
    line = [l for l in out.splitlines() if l.startswith("impl=")][-1]
    header = [l[2:] for l in out.splitlines() if l.startswith("# ")]
    if layers is not None:
        layers += [dict(kv.split("=", 1) for kv in l.split()) for l in out.splitlines()
                   if l.startswith("layer=")]
    return dict(kv.split("=", 1) for kv in line.split()), header


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


class BusyLoops:
    """One `nice -n 19` busy loop per core, for the duration of a with-block."""

    def __enter__(self):
        self.procs = [subprocess.Popen(["nice", "-n", "19", sys.executable, "-c", "while True: pass"])
                      for _ in range(os.cpu_count() or 1)]
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
            p.wait()


def median(runs, key):
    vals = [float(r[key]) for r in runs if key in r]
    return statistics.median(vals) if vals else None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model", nargs="?", default=os.path.join(HERE, "..", "models", "siamese_xray.tg"))
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--images", type=int, default=64)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--load", action="store_true", help="also measure beside nice -n 19 busy loops")
    p.add_argument("--no-onnx", action="store_true", help="skip the ONNX Runtime column")
    p.add_argument("--layers", action="store_true", help="also time each layer (one more run)")
    p.add_argument("--bench-train", default=os.path.join("bench", "bench_train"))
    a = p.parse_args()
    common = ["--batch", str(a.batch), "--threads", str(a.threads), "--steps", str(a.steps),
              "--images", str(a.images)]
    tmp = tempfile.mkdtemp(prefix="tg_compare.")
    onnx_path = os.path.join(tmp, "tower.onnx")
    tg_cmd = [a.bench_train, a.model] + common
    pt_cmd = [sys.executable, os.path.join(HERE, "torch_seed.py"), a.model] + common
    ort_skip = None
    if a.no_onnx:
        ort_skip = "--no-onnx"
    elif not shutil.which("node"):
        ort_skip = "node not found"
    modes = ["quiet", "load"] if a.load else ["quiet"]
    results = {m: {"twingrad": [], "pytorch": [], "onnxruntime": []} for m in modes}
    header = []
    try:
        for rep in range(a.repeat):  # interleaved, so drift on a shared machine hits every side
            for mode in modes:
                loops = BusyLoops() if mode == "load" else None
                if loops:
                    loops.__enter__()
                try:
                    r, header = run(tg_cmd)
                    results[mode]["twingrad"].append(r)
                    export = ["--onnx", onnx_path] if rep == 0 and mode == "quiet" and not ort_skip else []
                    r, _ = run(pt_cmd + export)
                    results[mode]["pytorch"].append(r)
                    if not ort_skip:
                        r, _ = run(["node", os.path.join(HERE, "ort_infer.js"), onnx_path,
                                    "--shape", shape_of(results[mode]["pytorch"][-1], a.model)] + common_ort(a))
                        if "skipped" in r:
                            ort_skip = r["skipped"].replace("_", " ")
                        else:
                            results[mode]["onnxruntime"].append(r)
                finally:
                    if loops:
                        loops.__exit__(None, None, None)
        tg_layers, ort_layers = [], []
        if a.layers:
            run(tg_cmd + ["--layers"], tg_layers)
            if not ort_skip:
                run(["node", os.path.join(HERE, "ort_infer.js"), onnx_path, "--shape",
                     shape_of(None, a.model), "--layers"] + common_ort(a), ort_layers)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    blas_env = {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")}
    print(f"model {a.model}, batch {a.batch} pairs, {a.threads} threads, median of {a.repeat} interleaved runs")
    print(f"CPU: {cpu_name()} ({os.cpu_count()} logical CPUs)")
    for h in header:
        print(f"twingrad: {h}")
    omp_env = {k: v for k, v in os.environ.items() if k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}; "
          f"OpenMP wait variables set by the caller: {omp_env if omp_env else 'none'}")
    print(f"OPENBLAS_* set: {blas_env if blas_env else 'none'}"
          + ("  (speed figures count only with none set)" if blas_env else ""))
    pt0 = results["quiet"]["pytorch"][0]
    ort_runs = results["quiet"]["onnxruntime"]
    print(f"torch {pt0.get('torch', '?')}; onnxruntime "
          + (ort_runs[0].get("ort", "?") if ort_runs else f"skipped ({ort_skip or 'no result'})"))
    print()
    for mode in modes:
        res = results[mode]
        title = ("no added load (other sessions' work may be running: see the load average)" if mode == "quiet"
                 else "beside one nice -n 19 busy loop per core")
        print(f"[{title}]")
        print(f"{'':22s}{'twingrad':>12s}{'pytorch':>12s}{'tg/torch':>10s}{'onnxrt':>12s}{'tg/ort':>9s}")
        for key, label, lower in [("train_pairs_per_s", "training pairs/s", False),
                                  ("infer_images_per_s", "inference images/s", False),
                                  ("peak_rss_mb", "peak RSS MiB", True)]:
            tg, pt, ort = (median(res[s], key) for s in ("twingrad", "pytorch", "onnxruntime"))
            ort_col = f"{ort:12.2f}{tg / ort:8.2f}x" if ort and key == "infer_images_per_s" else f"{'-':>12s}{'-':>9s}"
            note = " (lower is better)" if lower else ""
            print(f"{label:22s}{tg:12.2f}{pt:12.2f}{tg / pt:9.2f}x{ort_col}{note}")
        share = median(res["twingrad"], "gemm_limit_share")
        if share is not None:
            print(f"twingrad training at {100 * share:.0f}% of the GEMM limit "
                  f"({median(res['twingrad'], 'gflop_per_pair'):.2f} GFLOP/pair at "
                  f"{median(res['twingrad'], 'sgemm_gflops'):.0f} GFLOP/s sgemm)")
        # each side's runs, and the ratios of their best: on a shared host the best run is
        # the one least slowed by others, so these show what the medians' spread hides
        for key, label in [("train_pairs_per_s", "training pairs/s"), ("infer_images_per_s", "inference images/s")]:
            runs = {s: [float(r[key]) for r in res[s] if key in r] for s in ("twingrad", "pytorch", "onnxruntime")}
            listed = "; ".join(f"{s} {', '.join(f'{v:.1f}' for v in runs[s])}" for s in runs if runs[s])
            best = {s: max(v) for s, v in runs.items() if v}
            ratios = ", ".join(f"tg/{'torch' if s == 'pytorch' else 'ort'} {best['twingrad'] / best[s]:.2f}x"
                               for s in ("pytorch", "onnxruntime") if s in best and "twingrad" in best)
            print(f"{label} runs: {listed}; best against best: {ratios}")
            # round by round: run i of each side ran minutes apart, under much the same load
            for s in ("pytorch", "onnxruntime"):
                rr = round_by_round(runs["twingrad"], runs[s])
                if rr:
                    print(f"  tg/{'torch' if s == 'pytorch' else 'ort'} round by round: "
                          f"median {rr[0]:.2f}x, {rr[1]:.2f}x to {rr[2]:.2f}x, "
                          f"twingrad ahead in {rr[3]} of {rr[4]}")
        print("row for docs/ops-conv.md: " + markdown_row(res, a.model, mode))
        print()
    if a.load:
        print("share of quiet throughput kept under load:")
        for side in ("twingrad", "pytorch", "onnxruntime"):
            for key, label in [("train_pairs_per_s", "training"), ("infer_images_per_s", "inference")]:
                q, l = median(results["quiet"][side], key), median(results["load"][side], key)
                if q and l:
                    print(f"  {side:12s} {label:10s} {100 * l / q:5.0f}%")
    print(f"parameters: twingrad {results['quiet']['twingrad'][0]['params']}, pytorch {pt0['params']}")
    if a.layers:
        print_layers(tg_layers, ort_layers, a)


def round_by_round(tg_runs, other_runs):
    """Run i of twingrad over run i of the other side: (median, min, max, rounds twingrad
    was ahead, rounds), or None when the two sides do not have the same runs."""
    if not other_runs or len(other_runs) != len(tg_runs):
        return None
    r = [t / o for t, o in zip(tg_runs, other_runs)]
    return statistics.median(r), min(r), max(r), sum(v > 1 for v in r), len(r)


def markdown_row(res, model, mode):
    """One row of the docs' table (docs/ops-conv.md, "Against PyTorch and ONNX Runtime"):
    the medians and their ratios, round by round against ONNX Runtime, memory, GEMM limit."""
    def med(side, key):
        return median(res[side], key)
    name = os.path.splitext(os.path.basename(model))[0] + (", beside the busy loops" if mode == "load" else "")
    tr = (med("twingrad", "train_pairs_per_s"), med("pytorch", "train_pairs_per_s"))
    inf = [med(s, "infer_images_per_s") for s in ("twingrad", "pytorch", "onnxruntime")]
    rss = (med("twingrad", "peak_rss_mb"), med("pytorch", "peak_rss_mb"))
    rr = round_by_round(*([float(r["infer_images_per_s"]) for r in res[s]] for s in ("twingrad", "onnxruntime")))
    ort_cols = f"{inf[0] / inf[2]:.2f}x" if inf[2] else "-"
    rounds = f"{rr[0]:.2f}x ({rr[1]:.2f}-{rr[2]:.2f}), ahead in {rr[3]} of {rr[4]}" if rr else "-"
    infer = " / ".join(f"{v:.1f}" for v in inf if v)
    share = med("twingrad", "gemm_limit_share")
    return (f"| {name} | {tr[0]:.2f} / {tr[1]:.2f} | {tr[0] / tr[1]:.2f}x | {infer} | "
            f"{inf[0] / inf[1]:.2f}x | {ort_cols} | {rounds} | {rss[0]:.0f} / {rss[1]:.0f} "
            f"({rss[0] / rss[1]:.2f}x) | " + (f"{100 * share:.0f}% |" if share is not None else "- |"))


def print_layers(tg_layers, ort_layers, a):
    """twingrad's layers in graph order beside ONNX Runtime's of the same name."""
    ort = {r["layer"]: float(r["ort_infer_ms_per_image"]) for r in ort_layers}
    step = sum(float(r["train_forward_ms"]) + float(r["train_backward_ms"]) for r in tg_layers)
    print()
    print(f"per layer (one more quiet run of each, batch {a.batch}, {a.threads} threads; "
          f"training ms per step of {a.batch} pairs, inference ms per image):")
    print(f"{'layer':20s}{'op':13s}{'train fwd':>10s}{'train bwd':>10s}{'share':>7s}"
          f"{'infer tg':>10s}{'infer ort':>10s}{'tg/ort':>8s}")
    tg_inf = ort_inf = 0.0
    for r in tg_layers:
        fwd, bwd = float(r["train_forward_ms"]), float(r["train_backward_ms"])
        inf = float(r["infer_ms_per_image"])
        o = ort.get(r["layer"])
        tg_inf += inf
        ort_inf += o or 0.0
        speed = f"{o / inf:7.2f}x" if o and inf > 0 else f"{'-':>8s}"
        print(f"{r['layer'][:19]:20s}{r['op'][:12]:13s}{fwd:10.2f}{bwd:10.2f}"
              f"{100 * (fwd + bwd) / step:6.1f}%{inf:10.3f}" + (f"{o:10.3f}" if o else f"{'-':>10s}") + speed)
    rest = sum(v for k, v in ort.items() if k not in {r["layer"] for r in tg_layers})
    if ort:
        print(f"{'(ONNX Runtime nodes of no twingrad layer)':63s}{'':10s}{rest:10.3f}")
        print(f"{'inference in the layers':63s}{tg_inf:10.3f}{ort_inf + rest:10.3f}"
              f"{(ort_inf + rest) / tg_inf:7.2f}x")
    print("tg/ort: ONNX Runtime's time over twingrad's (above 1: twingrad faster); an inference "
          "time of 0 is a layer whose forward the layer before it did (fused forwards)")


def shape_of(_pt_result, model):
    """C,H,W of the model's input line ("input H W C")."""
    with open(model) as f:
        for line in f:
            words = line.split("#", 1)[0].split()
            if words[:1] == ["input"] and len(words) >= 4:
                h, w, c = words[1:4]
                return f"{c},{h},{w}"
    raise SystemExit(f"{model}: no input line")


def common_ort(a):
    return ["--batch", str(a.batch), "--threads", str(a.threads), "--images", str(a.images)]


if __name__ == "__main__":
    main()
