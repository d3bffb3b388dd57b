#!/usr/bin/env python3
"""Training-step throughput of a model: fp32 vs bf16 autocast (and channels_last), a few seconds each.

    python scripts/train_speed_probe.py [--model eapnet-lightweight] [--batch 32] [--patch 256] [--steps 10] [--loss mu_tanh]

Prints iterations/s per setting, to choose `train --amp` on a given GPU before a time-limited run.
Random inputs; the optimizer step is included (Adam), the data loading is not.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.core.environment import device_name  # noqa: E402
from bench.train.losses import LOSSES, get_loss  # noqa: E402
from models.registry import create_model  # noqa: E402


def step(model, opt, loss_fn, ldrs, ev, gt, amp: bool) -> None:
    with torch.autocast(ldrs.device.type, dtype=torch.bfloat16, enabled=amp):
        pred = model(ldrs, ev)
    loss = loss_fn(pred.float(), gt)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="eapnet-lightweight")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--patch", type=int, default=256)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--loss", default="mu_tanh", choices=LOSSES.names())
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()
    dev = torch.device(args.device)
    loss_fn = get_loss(args.loss)
    torch.backends.cudnn.benchmark = True
    ldrs = torch.rand(args.batch, 3, 3, args.patch, args.patch, device=dev)
    ev = torch.tensor([[-2.0, 0.0, 2.0]], device=dev).expand(args.batch, 3).contiguous()
    gt = torch.rand(args.batch, 3, args.patch, args.patch, device=dev) * 1.5
    name = device_name(dev)
    print(f"{args.model}, batch {args.batch}, {args.patch}px, {name}, torch {torch.__version__}")
    for amp in (False, True):
        for channels_last in (False, True):
            torch.manual_seed(0)
            model = create_model(args.model).to(dev)
            if channels_last:
                model = model.to(memory_format=torch.channels_last)
            opt = torch.optim.Adam(model.parameters(), lr=1e-4)
            for _ in range(3):
                step(model, opt, loss_fn, ldrs, ev, gt, amp)
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            t = time.perf_counter()
            for _ in range(args.steps):
                step(model, opt, loss_fn, ldrs, ev, gt, amp)
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            dt = (time.perf_counter() - t) / args.steps
            print(
                f"amp={int(amp)} channels_last={int(channels_last)}: {1 / dt:.2f} it/s ({dt * 1e3:.1f} ms/step)",
                flush=True,
            )


if __name__ == "__main__":
    main()
