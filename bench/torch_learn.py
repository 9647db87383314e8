#!/usr/bin/python3
"""A PyTorch reference for twingrad's training protocol on a synthetic X-ray set
(twingrad synth): the same model file (via torch_seed.py's parser), split
(stratified, 15% validation), fresh class-balanced pairs each epoch (half
similar), contrastive loss on unit-length embeddings, Adam. Prints the validation
pair AUC per epoch, to tell a slow task from a slow framework.

    /usr/bin/python3 bench/torch_learn.py MODEL SYNTH_DIR [--epochs 8] [--pairs 800]
        [--lr 1e-3] [--batch 16] [--seed 1] [--standardize]
"""
import argparse
import csv
import os
import struct
import sys
import zlib

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_seed import Tower, contrastive, parse_model  # noqa: E402


def read_png_gray8(path):
    """Decode an 8-bit grayscale, non-interlaced PNG (what twingrad synth writes)."""
    data = open(path, "rb").read()
    pos, idat, w, h = 8, b"", 0, 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, color = struct.unpack(">IIBB", body[:10])
            if depth != 8 or color != 0:
                sys.exit(f"{path}: only 8-bit grayscale PNGs are read")
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    out = np.zeros((h, w), np.float32)
    prev = np.zeros(w, np.int32)
    for y in range(h):
        f = raw[y * (w + 1)]
        line = np.frombuffer(raw, np.uint8, w, y * (w + 1) + 1).astype(np.int32)
        cur = np.zeros(w, np.int32)
        for x in range(w):
            a = cur[x - 1] if x else 0
            b = prev[x]
            c = prev[x - 1] if x else 0
            if f == 0:
                p = 0
            elif f == 1:
                p = a
            elif f == 2:
                p = b
            elif f == 3:
                p = (a + b) // 2
            else:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                p = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            cur[x] = (line[x] + p) & 255
        out[y] = cur / 255.0
        prev = cur
    return out


def load(dirname):
    images, labels = [], []
    for row in csv.DictReader(open(os.path.join(dirname, "metadata.csv"))):
        if not row["finding"]:
            continue
        images.append(read_png_gray8(os.path.join(dirname, "images", row["patientid"] + ".png")))
        labels.append(1 if row["finding"] == "COVID-19" else 0)
    return torch.tensor(np.stack(images))[:, None], torch.tensor(labels)


def pairs(idx, labels, n, gen):
    """Half similar, half dissimilar; anchors class-balanced."""
    by = [idx[labels[idx] == c] for c in (0, 1)]
    a, b, y = [], [], []
    for i in range(n):
        sim = i % 2 == 0
        c = int(torch.randint(2, (1,), generator=gen))
        pool_a = by[c]
        pool_b = by[c] if sim else by[1 - c]
        a.append(int(pool_a[torch.randint(len(pool_a), (1,), generator=gen)]))
        b.append(int(pool_b[torch.randint(len(pool_b), (1,), generator=gen)]))
        y.append(0.0 if sim else 1.0)
    return torch.tensor(a), torch.tensor(b), torch.tensor(y)


def auc(score, label):
    pos, neg = score[label == 1], score[label == 0]
    return float(((pos[:, None] > neg[None, :]).float() + 0.5 * (pos[:, None] == neg[None, :]).float()).mean())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("data")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--pairs", type=int, default=800)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--standardize", action="store_true")
    args = p.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(args.seed)
    x, lab = load(args.data)
    if args.standardize:
        x = (x - x.mean(dim=(2, 3), keepdim=True)) / x.std(dim=(2, 3), keepdim=True)
    perm = torch.randperm(len(lab), generator=gen)
    val = torch.cat([perm[lab[perm] == c][: round(0.15 * int((lab == c).sum()))] for c in (0, 1)])
    train = torch.tensor([i for i in perm.tolist() if i not in set(val.tolist())])
    shape, layers, head = parse_model(args.model)
    tower = Tower(shape, layers)
    with torch.no_grad():
        tower(x[:2])
    opt = torch.optim.Adam(tower.parameters(), lr=args.lr)
    margin = float(head.get("margin", 1))
    va, vb, vy = pairs(val, lab, max(64, 2 * len(val)), gen)
    for epoch in range(1, args.epochs + 1):
        tower.train()
        a, b, y = pairs(train, lab, args.pairs, gen)
        total = 0.0
        for s in range(0, args.pairs, args.batch):
            ea = F.normalize(tower(x[a[s:s + args.batch]]), dim=1)
            eb = F.normalize(tower(x[b[s:s + args.batch]]), dim=1)
            loss = contrastive(F.pairwise_distance(ea, eb, eps=0), y[s:s + args.batch], margin, "hadsell")
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss)
        tower.eval()
        with torch.no_grad():
            d = F.pairwise_distance(F.normalize(tower(x[va]), dim=1), F.normalize(tower(x[vb]), dim=1))
        print(f"epoch {epoch}/{args.epochs}  train {total / (args.pairs // args.batch):.4f}  "
              f"val auc {auc(d, vy):.3f}", flush=True)


if __name__ == "__main__":
    main()
