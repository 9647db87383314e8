#!/usr/bin/python3
"""The PyTorch side of bench/compare_torch.py: the same Siamese model, loss and
optimizer as twingrad, read from the same .tg model file, on random data.
Prints one key=value line: training pairs/s, inference images/s, peak RSS.

    /usr/bin/python3 bench/torch_seed.py MODEL [--batch 16] [--threads 2] [--steps 10]

Only the ops a model file uses are mapped: conv2d, sepconv2d, depthwise_conv2d,
batchnorm, maxpool2d, avgpool2d, global_avgpool, dropout, flatten, dense, add,
relu/sigmoid/tanh, l2normalize. Stride-1 'same' padding (odd kernels) only.
"""
import argparse
import resource
import shlex
import statistics
import sys
import time

import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

warnings.filterwarnings("ignore", message="Lazy modules")

ACTS = {"none": nn.Identity, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


def parse_model(path):
    """Return (input (H, W, C), layers [(name, op, attrs, inputs)], head attrs)."""
    shape, layers, head, count = None, [], {}, 0
    for raw in open(path):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = shlex.split(line)
        if words[0] == "input":
            shape = tuple(int(w) for w in words[1:4])
            continue
        if words[0] in ("siamese", "train", "data"):
            if words[0] == "siamese":
                head = dict(w.split("=", 1) for w in words[1:])
            continue
        name = None
        if words[0].endswith(":"):
            name, words = words[0][:-1], words[1:]
        op, attrs = words[0], dict(w.split("=", 1) for w in words[1:])
        count += 1
        name = name or f"{op}_{count}"
        inputs = attrs.pop("in").split(",") if "in" in attrs else [layers[-1][0] if layers else "input"]
        layers.append((name, op, attrs, inputs))
    return shape, layers, head


class Tower(nn.Module):
    def __init__(self, shape, layers):
        super().__init__()
        self.layers = layers
        self.mods = nn.ModuleDict()
        chans = {"input": shape[2]}
        for name, op, a, ins in layers:
            c = chans[ins[0]]
            k = int(a.get("kernel", 3))
            act = ACTS[a.get("act", "none")]()
            if op == "conv2d":
                if int(a.get("stride", 1)) != 1:
                    sys.exit("torch_seed.py: only stride 1 is mapped")
                pad = k // 2 if a.get("pad", "same") == "same" else 0
                f = int(a["filters"])
                m = nn.Sequential(nn.Conv2d(c, f, k, padding=pad, bias=a.get("bias", "true") == "true"), act)
            elif op == "sepconv2d":
                pad = k // 2 if a.get("pad", "same") == "same" else 0
                f = int(a["filters"])
                m = nn.Sequential(nn.Conv2d(c, c, k, padding=pad, groups=c, bias=False),
                                  nn.Conv2d(c, f, 1, bias=a.get("bias", "true") == "true"), act)
            elif op == "depthwise_conv2d":
                pad = k // 2 if a.get("pad", "same") == "same" else 0
                f = c
                m = nn.Sequential(nn.Conv2d(c, c, k, padding=pad, groups=c), act)
            elif op == "batchnorm":
                f = c
                m = nn.BatchNorm2d(c, eps=float(a.get("eps", 1e-3))) if c != "flat" else None
            elif op in ("maxpool2d", "avgpool2d"):
                s = int(a.get("size", 2))
                f = c
                m = (nn.MaxPool2d if op == "maxpool2d" else nn.AvgPool2d)(s, int(a.get("stride", 0)) or s)
            elif op == "global_avgpool":
                f = c
                m = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
            elif op == "dropout":
                f = c
                m = nn.Dropout(float(a["rate"]))
            elif op == "flatten":
                f = c
                m = nn.Flatten()
            elif op == "dense":
                f = int(a["units"])
                m = nn.Sequential(nn.LazyLinear(f), act)
            elif op == "add":
                f, m = c, None
            elif op in ACTS:
                f, m = c, ACTS[op]()
            elif op == "l2normalize":
                f, m = c, None
            else:
                sys.exit(f"torch_seed.py: op '{op}' is not mapped")
            chans[name] = f
            if m is not None:
                self.mods[name] = m

    def forward(self, x):
        out = {"input": x}
        for name, op, a, ins in self.layers:
            if op == "add":
                out[name] = out[ins[0]] + out[ins[1]]
            elif op == "l2normalize":
                out[name] = F.normalize(out[ins[0]], dim=1)
            else:
                v = out[ins[0]]
                if op == "batchnorm" and v.dim() == 2 and isinstance(self.mods[name], nn.BatchNorm2d):
                    bn = self.mods[name]
                    self.mods[name] = nn.BatchNorm1d(v.shape[1], eps=bn.eps)
                out[name] = self.mods[name](v)
        return out[self.layers[-1][0]]


def contrastive(d, y, margin, form):
    if form == "seed":
        return ((1 - y) * d ** 2 + y * torch.clamp(margin - d ** 2, min=0)).mean()
    return (0.5 * (1 - y) * d ** 2 + 0.5 * y * torch.clamp(margin - d, min=0) ** 2).mean()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--images", type=int, default=64)
    p.add_argument("--onnx", help="also export the tower (eval mode) to this ONNX file")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    shape, layers, head = parse_model(args.model)
    h, w, c = shape
    tower = Tower(shape, layers)
    xa = torch.rand(args.batch, c, h, w)
    xb = torch.rand(args.batch, c, h, w)
    y = (torch.arange(args.batch) % 2).float()
    with torch.no_grad():
        tower(xa[:2])  # materialise the lazy layers
    margin, form = float(head.get("margin", 1)), head.get("form", "hadsell")
    normalize = head.get("normalize", "false") == "true"
    opt = torch.optim.Adam(tower.parameters(), lr=1e-4)
    tower.train()
    times = []
    for step in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        ea, eb = tower(xa), tower(xb)
        if normalize:
            ea, eb = F.normalize(ea, dim=1), F.normalize(eb, dim=1)
        loss = contrastive(F.pairwise_distance(ea, eb, eps=0), y, margin, form)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step >= args.warmup:
            times.append(time.perf_counter() - t0)
    step_time = statistics.median(times)
    tower.eval()
    images = torch.rand(args.images, c, h, w)
    with torch.no_grad():
        for chunk in images.split(args.batch):
            tower(chunk)
        t0 = time.perf_counter()
        for chunk in images.split(args.batch):
            tower(chunk)
        infer = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # before the export
    if args.onnx:  # for ONNX Runtime's column; batch size left dynamic
        torch.onnx.export(tower, images[: args.batch], args.onnx, input_names=["x"],
                          output_names=["embedding"], dynamic_axes={"x": {0: "n"}, "embedding": {0: "n"}},
                          opset_version=13)
    n_params = sum(p.numel() for p in tower.parameters())
    print(f"impl=pytorch model={args.model} batch={args.batch} threads={args.threads} "
          f"train_pairs_per_s={args.batch / step_time:.3f} infer_images_per_s={args.images / infer:.3f} "
          f"peak_rss_mb={rss:.1f} params={n_params} torch={torch.__version__}")


if __name__ == "__main__":
    main()
