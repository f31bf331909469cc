"""PyTorch CPU reference for bench/serve.ts: torchvision densenet121(weights=None) with a 14-way head,
single-image latency including the PNG decode and resize (PIL), as a scoring service would pay it.

    /usr/bin/python3 bench/torch_latency.py IMAGE [--threads 1,2] [--iterations 30]

Prints one JSON line per thread count: {"threads", "iterations", "p50Ms", "p99Ms", "meanMs"}.
Needs Debian's python3-torch, python3-torchvision and python3-pil.
"""
import argparse
import json
import time

import numpy as np
import torch
import torchvision
from PIL import Image


def percentile(values, q):
    return float(np.percentile(np.array(values), q))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("image")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--iterations", type=int, default=30)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = torchvision.models.densenet121(weights=None)
    model.classifier = torch.nn.Linear(model.classifier.in_features, 14)
    model.eval()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def score(path):
        img = Image.open(path).convert("L").resize((224, 224), Image.BILINEAR)
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).view(1, 1, 224, 224).expand(1, 3, 224, 224)
        with torch.no_grad():
            return torch.sigmoid(model((x - mean) / std))

    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        for _ in range(3):
            score(args.image)
        times = []
        for _ in range(args.iterations):
            start = time.perf_counter()
            score(args.image)
            times.append((time.perf_counter() - start) * 1000)
        print(json.dumps({
            "threads": threads,
            "iterations": args.iterations,
            "p50Ms": round(percentile(times, 50), 1),
            "p99Ms": round(percentile(times, 99), 1),
            "meanMs": round(sum(times) / len(times), 1),
        }), flush=True)


if __name__ == "__main__":
    main()
