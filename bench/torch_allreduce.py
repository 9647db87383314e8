#!/usr/bin/env python3
"""The bare gradient all-reduce in PyTorch (torch.distributed, gloo over localhost TCP)
for the side-by-side in docs/distributed.md: N processes, one thread each, a buffer of
the seed model's gradient size (5,582,656 floats), median of 5 after one warm-up.

    /usr/bin/python3 bench/torch_allreduce.py [ranks] [floats]
"""
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def run(rank, ranks, n, port, out):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=ranks)
    buf = torch.zeros(n)
    times = []
    for i in range(6):
        dist.barrier()
        t0 = time.perf_counter()
        dist.all_reduce(buf)
        if i:
            times.append(time.perf_counter() - t0)
    times.sort()
    if rank == 0:
        out.put(times[len(times) // 2])
    dist.destroy_process_group()


if __name__ == "__main__":
    ranks = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 5582656
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=run, args=(r, ranks, n, 29517, q)) for r in range(ranks)]
    for p in procs:
        p.start()
    t = q.get()
    for p in procs:
        p.join()
    bus = 2.0 * (ranks - 1) / ranks * n * 4 / t / 1e9
    print(f"impl=torch-gloo ranks={ranks} floats={n} allreduce_s={t:.5f} allreduce_bus_GBps={bus:.3f}")
