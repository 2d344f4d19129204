"""The malaria training loop (train_malaria.py): seeding, augmentation, one member's training
(AdamW, one-cycle schedule), the ensemble's members in parallel processes, and the logits of the
members as the graph computes them (views and members averaged) with their accuracy."""

import json
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn as nn

from malaria_config import BATCH_SIZE, BRIGHTNESS, LR, SEED, WEIGHT_DECAY
from malaria_net import CellNet, Normalised, dihedral


def set_seed(seed=SEED):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def augment(xb, gen):
    """xb: uint8 NCHW. A random element of the dihedral group (flips and 90° rotations: all
    label-preserving for a cell crop on a square black canvas), brightness jitter. Float 0..~280."""
    n = xb.shape[0]
    k = torch.randint(0, 8, (n,), generator=gen)
    out = xb.clone()
    for v in range(1, 8):
        idx = (k == v).nonzero(as_tuple=True)[0]
        if len(idx):
            out[idx] = dihedral(xb[idx], v)
    factor = 1.0 + BRIGHTNESS * (2 * torch.rand(n, 1, 1, 1, generator=gen) - 1)
    return out.to(torch.float32) * factor


def train(data, width, epochs, views=1, seed=SEED, convs=1, log=True):
    set_seed(seed)
    x_train = torch.from_numpy(data["x_train"])  # uint8 NCHW
    y_train = torch.from_numpy(data["y_train"])
    pix = data["x_train"].transpose(0, 2, 3, 1).reshape(-1, 3).astype(np.float64) / 255.0
    mean, std = pix.mean(0), pix.std(0)
    del pix

    model = Normalised(CellNet(width=width, convs_per_stage=convs), mean, std)
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    steps_per_epoch = (len(y_train) + BATCH_SIZE - 1) // BATCH_SIZE
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=epochs * steps_per_epoch, pct_start=0.2)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)
    started = time.time()
    history = []
    for epoch in range(epochs):
        model.train()
        t0 = time.time()
        perm = torch.randperm(len(y_train), generator=gen)
        total, correct, loss_sum = 0, 0, 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * BATCH_SIZE:(b + 1) * BATCH_SIZE]
            xb = augment(x_train[idx], gen)
            yb = y_train[idx]
            logits = model(xb)
            loss = loss_fn(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == yb).sum().item()
            total += len(idx)
        row = {"epoch": epoch + 1, "train_loss": round(loss_sum / total, 4), "train_accuracy": round(correct / total, 4),
               "seconds": round(time.time() - t0, 1)}
        if (epoch + 1) % 4 == 0 and epoch + 1 < epochs:  # the last epoch is evaluated by the caller
            row["val_accuracy"] = round(accuracy(val_logits(model, data["x_val"], views), data["y_val"]), 4)
        history.append(row)
        if log:
            print(f"  epoch {epoch + 1}/{epochs}: {json.dumps(row)}", file=sys.stderr, flush=True)
    model.eval()
    return model, history, time.time() - started


@torch.no_grad()
def val_logits(model, x, views=1, batch=500):
    """Logits as the graph computes them: uint8 pixels → float → mean over the dihedral views.
    `model` may be a list (an ensemble): the mean of the members' logits, as in the graph."""
    members = model if isinstance(model, list) else [model]
    out = []
    for i in range(0, len(x), batch):
        xb = torch.from_numpy(x[i:i + batch]).to(torch.float32)
        per_view = []
        for k in range(views):
            v = dihedral(xb, k)
            per_view.append(torch.stack([m.eval()(v) for m in members]).mean(0))
        out.append(torch.stack(per_view).mean(0))
    return torch.cat(out).numpy().astype(np.float64)


def accuracy(logits, y):
    return float((logits.argmax(1) == y).mean())


def _train_member(args):
    data, width, epochs, convs, seed = args
    torch.set_num_threads(1)
    model, history, _ = train(data, width, epochs, 1, seed, convs)
    return model.state_dict(), model.mean, model.std, history


def train_members(data, width, epochs, convs, members):
    """Members (seeds SEED, SEED+1, ...) train in parallel processes, one per core: each uses one
    thread (see main), so two members on two cores take the time of one."""
    jobs = [(data, width, epochs, convs, SEED + i) for i in range(members)]
    if members == 1:
        results = [_train_member(jobs[0])]
    else:
        import multiprocessing
        with multiprocessing.get_context("fork").Pool(min(members, os.cpu_count() or 1)) as pool:
            results = pool.map(_train_member, jobs)
    models, history = [], []
    for i, (state, mean, std, member_history) in enumerate(results):
        m = Normalised(CellNet(width=width, convs_per_stage=convs), mean, std)
        m.load_state_dict(state)
        models.append(m.eval())
        history += [{"member": i + 1, **row} for row in member_history] if members > 1 else member_history
    return models, history
