#!/usr/bin/python3
"""Trains the malaria cell classifier (parasitized vs uninfected) and exports it as one ONNX graph
that takes the decoded image at its own size (see training/malaria_graph.py).

    /usr/bin/python3 training/train_malaria.py [--data DIR] [--size S] [--epochs E] [--width W] [--views V] [--mode M]
                                               [--clean P] [--shift auto|X]
    /usr/bin/python3 training/train_malaria.py --select      # re-run the comparison (short schedules)

Pixels: malaria_graph.py writes the graph's preprocessing nodes (resize + padding) as a small ONNX
model; training/prepare-malaria.ts decodes every image with src/images.ts and runs that model in
onnxruntime-node; this script trains on its output. It never decodes or resizes an image itself.

After training: the CNN is exported with torch (opset 17), composed into the final graph (opset 18)
with the preprocessing, the test-time views, the temperature and the confidence cap; then every
validation image goes through the final graph in onnxruntime-node (prepare-malaria.ts --score), and
the card's metrics are computed from those served probabilities.
Writes models/malaria/<VERSION>/model.onnx, models/malaria/card.json and models/malaria/config.pbtxt.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import calibration  # noqa: E402
import common  # noqa: E402
import malaria_graph  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

LABELS = ["parasitized", "uninfected"]
VERSION = "3"
SEED = 42
BATCH_SIZE = 128
LR = 3e-3
WEIGHT_DECAY = 5e-4
BRIGHTNESS = 0.1  # multiply pixel values by U(1-b, 1+b) per image (black background stays black)
TORCH_OPSET = 17  # torch 1.13's exporter stops at 17; the composed graph is opset 18

# Final configuration, chosen from SELECTION below (see --select).
DEFAULT_SIZE = 32
DEFAULT_WIDTH = 16
DEFAULT_EPOCHS = 30
DEFAULT_MODE = "linear"
DEFAULT_VIEWS = "auto"
MS_BUDGET = 1.0  # per image, whole graph, onnxruntime-node
VIEWS_RULE = (f"the number of test-time views (1, 2, 4 or 8) with the highest validation accuracy among those whose whole "
              f"graph costs <= {MS_BUDGET:g} ms of CPU per image (median; wall-clock medians are inflated by other jobs "
              "on the shared machine); accuracies within 0.05 point (2 images) count as tied and fewer views win")
DEFAULT_CONVS = 1
DEFAULT_MEMBERS = 2
DEFAULT_CLEAN = 0.1
CLEAN_RULE = ("the members are first trained on every training image; the training images whose given label that "
              "first ensemble (all 8 dihedral views) gives a probability below {clean:g} are dropped, and the final "
              "members are trained on the rest (about 1-2 % of the NIH labels are known to be wrong; the validation "
              "labels are never changed)")
RECALL_TARGET = 0.965
SHIFT_STEP = 0.05
DECISION_RULE = (f"a missed parasite is the costly error: the smallest shift (multiple of {SHIFT_STEP:g}, at most 3) added to "
                 f"the parasitized logit before the temperature for which the validation parasitized recall reaches "
                 f"{RECALL_TARGET:.1%}; the temperature is fitted after the shift, so the stated probabilities are those of the "
                 "shifted model and calibrated as such")


# The comparison behind the defaults, measured 2026-11-27 on the 2-core machine shared with other
# engineers' jobs: the same seed, split and augmentation; accuracy and parasitized recall on the
# 4,000 validation images (standard error ~0.3 point: 0.1 point is 4 images); ms: the whole graph
# on a 130x133 cell in onnxruntime-node, median wall clock (inflated by the load, epoch times varied
# 4-200 s for the same work). Rows with "select" were made with --select (pass the config as
# --select-configs to rerun one); "default run" rows by the plain command with earlier defaults;
# "ad hoc" rows by a one-off script on the cached pixels (not kept).
SELECTION = [
    {"how": "select", "size": 32, "width": 16, "convs": 1, "members": 1, "mode": "linear", "epochs": 6, "views": 1,
     "accuracy": 0.9597, "bytes": 395668, "ms_per_image": 0.227},
    {"how": "select", "size": 32, "width": 16, "convs": 1, "members": 1, "mode": "cubic", "epochs": 6, "views": 1,
     "accuracy": 0.9607, "bytes": 395716, "ms_per_image": 0.245,
     "note": "resize mode: within noise of linear; linear chosen, cheaper on large uploads (5000x5000: 83 vs 124 ms)"},
    {"how": "default run (milestone 1, commit 55b7f2b)", "size": 32, "width": 16, "convs": 1, "members": 1, "mode": "linear",
     "epochs": 20, "views": 1, "accuracy": 0.9655, "parasitized_recall": 0.952, "bytes": 395883, "ms_per_image": 0.231},
    {"how": "ad hoc, the milestone 1 model", "size": 32, "width": 16, "convs": 1, "members": 1, "epochs": 20, "views": 2,
     "accuracy": 0.967, "parasitized_recall": 0.9535},
    {"how": "ad hoc, the milestone 1 model", "size": 32, "width": 16, "convs": 1, "members": 1, "epochs": 20, "views": 4,
     "accuracy": 0.9673, "parasitized_recall": 0.952},
    {"how": "ad hoc, the milestone 1 model", "size": 32, "width": 16, "convs": 1, "members": 1, "epochs": 20, "views": 8,
     "accuracy": 0.9663, "parasitized_recall": 0.952},
    {"how": "select", "size": 48, "width": 16, "convs": 1, "members": 1, "mode": "linear", "epochs": 20, "views": 1,
     "accuracy": 0.966, "parasitized_recall": 0.9505, "bytes": 395748, "ms_per_image": 0.413, "train_seconds": 2484.4},
    {"how": "select", "size": 48, "width": 16, "convs": 1, "members": 1, "mode": "linear", "epochs": 20, "views": 4,
     "accuracy": 0.966, "parasitized_recall": 0.949, "bytes": 396670, "ms_per_image": 0.869},
    {"how": "select", "size": 48, "width": 16, "convs": 1, "members": 1, "mode": "linear", "epochs": 20, "views": 8,
     "accuracy": 0.966, "parasitized_recall": 0.9495, "bytes": 397582, "ms_per_image": 1.877},
    {"how": "default run (width 16, 1 conv per stage)", "size": 32, "width": 16, "convs": 1, "members": "1 (seed 42)",
     "mode": "linear", "epochs": 30, "views": 1, "accuracy": 0.9673, "parasitized_recall": 0.9555},
    {"how": "default run (width 16, 1 conv per stage)", "size": 32, "width": 16, "convs": 1, "members": "1 (seed 43)",
     "mode": "linear", "epochs": 30, "views": 1, "accuracy": 0.9663, "parasitized_recall": 0.954},
    {"how": "default run (width 16, 1 conv per stage)", "size": 32, "width": 16, "convs": 1, "members": 2, "mode": "linear",
     "epochs": 30, "views": 1, "accuracy": 0.967, "parasitized_recall": 0.955, "bytes": 790153, "ms_per_image": 0.334},
    {"how": "default run (width 16, 1 conv per stage)", "size": 32, "width": 16, "convs": 1, "members": 2, "mode": "linear",
     "epochs": 30, "views": 2, "accuracy": 0.968, "parasitized_recall": 0.956, "bytes": 790616, "ms_per_image": 0.526},
    {"how": "default run (width 16, 1 conv per stage)", "size": 32, "width": 16, "convs": 1, "members": 2, "mode": "linear",
     "epochs": 30, "views": 4, "accuracy": 0.9695, "parasitized_recall": 0.957, "bytes": 791068, "ms_per_image": 0.827,
     "note": "train accuracy (augmented) 96.7 % = validation: the members underfit, hence more capacity next"},
    {"how": "default run (width 16, 1 conv per stage)", "size": 32, "width": 16, "convs": 1, "members": 2, "mode": "linear",
     "epochs": 30, "views": 8, "accuracy": 0.9692, "parasitized_recall": 0.956, "bytes": 791980, "ms_per_image": 1.375},
    {"how": "run with --width 10 --convs 2", "size": 32, "width": 10, "convs": 2, "members": "1 (seed 42)", "mode": "linear",
     "epochs": 30, "views": 1, "accuracy": 0.9667, "parasitized_recall": 0.956},
    {"how": "run with --width 10 --convs 2", "size": 32, "width": 10, "convs": 2, "members": "1 (seed 43)", "mode": "linear",
     "epochs": 30, "views": 1, "accuracy": 0.9675, "parasitized_recall": 0.959},
    {"how": "run with --width 10 --convs 2", "size": 32, "width": 10, "convs": 2, "members": 2, "mode": "linear", "epochs": 30,
     "views": 1, "accuracy": 0.9685, "parasitized_recall": 0.958, "bytes": 932647, "ms_per_image": 0.548},
    {"how": "run with --width 10 --convs 2", "size": 32, "width": 10, "convs": 2, "members": 2, "mode": "linear", "epochs": 30,
     "views": 2, "accuracy": 0.968, "parasitized_recall": 0.958, "bytes": 933110, "ms_per_image": 0.89},
    {"how": "run with --width 10 --convs 2", "size": 32, "width": 10, "convs": 2, "members": 2, "mode": "linear", "epochs": 30,
     "views": 4, "accuracy": 0.9683, "parasitized_recall": 0.958, "bytes": 933562, "ms_per_image": 1.588},
    {"how": "run with --width 10 --convs 2", "size": 32, "width": 10, "convs": 2, "members": 2, "mode": "linear", "epochs": 30,
     "views": 8, "accuracy": 0.9705, "parasitized_recall": 0.962, "bytes": 934474, "ms_per_image": 3.014,
     "note": "the only configuration at 97 %, three times over the 1 ms budget; deeper narrow layers run slowly in onnxruntime"},
    {"how": "run with --epochs 45", "size": 32, "width": 16, "convs": 1, "members": "1 (seed 42)", "mode": "linear",
     "epochs": 45, "views": 1, "accuracy": 0.9688, "parasitized_recall": 0.956},
    {"how": "run with --epochs 45", "size": 32, "width": 16, "convs": 1, "members": "1 (seed 43)", "mode": "linear",
     "epochs": 45, "views": 1, "accuracy": 0.9665, "parasitized_recall": 0.954},
    {"how": "run with --epochs 45", "size": 32, "width": 16, "convs": 1, "members": 2, "mode": "linear", "epochs": 45,
     "views": 1, "accuracy": 0.9673, "parasitized_recall": 0.9545, "bytes": 790153, "ms_per_image": 0.31},
    {"how": "run with --epochs 45", "size": 32, "width": 16, "convs": 1, "members": 2, "mode": "linear", "epochs": 45,
     "views": 2, "accuracy": 0.9685, "parasitized_recall": 0.9565, "bytes": 790616, "ms_per_image": 0.453},
    {"how": "run with --epochs 45", "size": 32, "width": 16, "convs": 1, "members": 2, "mode": "linear", "epochs": 45,
     "views": 4, "accuracy": 0.9692, "parasitized_recall": 0.9575, "bytes": 791068, "ms_per_image": 0.729},
    {"how": "run with --epochs 45", "size": 32, "width": 16, "convs": 1, "members": 2, "mode": "linear", "epochs": 45,
     "views": 8, "accuracy": 0.97, "parasitized_recall": 0.957, "bytes": 791980, "ms_per_image": 1.309,
     "note": "a longer schedule adds nothing (30 epochs, 4 views: 96.95 %)"},
    {"how": "ad hoc: the width-16 (4 views) and width-10 (1 view) ensembles' graphs, log-odds averaged", "members": 4,
     "accuracy": 0.9702, "parasitized_recall": 0.959, "note": "1.3 ms and 1.7 MB together: over both budgets"},
    # 2026-11-27, second round (version 3): one-off runs on the cached pixels with this file's train() and a
    # variant network (not kept); one member unless said; "at 96.5 % recall": the accuracy when the decision
    # shift is set so that at most 70 of the 2,000 parasitized cells are missed (false alarms in brackets).
    {"how": "ad hoc", "size": 64, "width": 8, "convs": 1, "members": 1, "epochs": 30, "views": 4,
     "accuracy": 0.9683, "parasitized_recall": 0.9535, "note": "5 stages 8/16/32/64/128 at 64 px (1 view: 96.75 %); at 96.5 % recall, 8 views: 96.78 % (59)"},
    {"how": "ad hoc", "size": 64, "width": 16, "convs": 1, "members": 1, "epochs": 30, "views": 8,
     "accuracy": 0.9658, "parasitized_recall": 0.9485, "note": "stride-2 first convolution at 64 px instead of conv + pool at 32 px"},
    {"how": "ad hoc", "size": 32, "width": 24, "convs": 1, "members": 1, "epochs": 30, "views": 4,
     "accuracy": 0.9688, "parasitized_recall": 0.9585, "bytes": 771390, "ms_per_image": 0.917,
     "note": "channels 24/48/96/160 (1 view 96.90 %, 0.39 ms); at 96.5 % recall 96.80 % (58); with label cleaning no better"},
    {"how": "ad hoc", "size": 32, "width": 16, "convs": 1, "members": 2, "epochs": 30, "views": 4,
     "accuracy": 0.9695, "parasitized_recall": 0.957, "note": "version 2 (no cleaning): at 96.5 % recall 96.58 % (67)"},
    {"how": "ad hoc = this script's default", "size": 32, "width": 16, "convs": 1, "members": 2, "epochs": 30, "views": 4,
     "clean": 0.1, "accuracy": 0.9703, "parasitized_recall": 0.958,
     "note": "label cleaning, 129 training images dropped: at 96.5 % recall 96.90 % (54)"},
    {"how": "ad hoc", "size": 32, "width": 16, "convs": 1, "members": 2, "epochs": 30, "views": 4,
     "clean": 0.2, "accuracy": 0.969, "parasitized_recall": 0.958, "note": "206 dropped: at 96.5 % recall 96.88 % (55)"},
    {"how": "ad hoc", "size": 32, "width": 16, "convs": 1, "members": 2, "epochs": 30, "views": 4,
     "clean": "0.1, twice", "accuracy": 0.968, "parasitized_recall": 0.955,
     "note": "second cleaning by the cleaned members (160 dropped): at 96.5 % recall 96.97 % (51)"},
    {"how": "ad hoc", "members": 6, "views": 4, "accuracy": 0.9698, "parasitized_recall": 0.9645,
     "note": "the six cleaned members above together (2.4 MB, ~2.2 ms): 96.97 % with 71 missed and 50 false alarms; "
             "no configuration measured reaches 97.0 % accuracy at 96.5 % parasitized recall"},
]


def set_seed(seed=SEED):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


# ---------------------------------------------------------------------------------------------
# Data (the served graph's own preprocessing, run by the TypeScript side)


def load_cache(size, mode, data_dir):
    os.makedirs(common.CACHE, exist_ok=True)
    base = os.path.join(common.CACHE, f"malaria-{size}-{mode}")
    pre = malaria_graph.preprocessing_model(size, mode)
    pre_path = base + "-preprocessing.onnx"
    onnx.save(pre, pre_path)
    pre_sha = common.sha256_file(pre_path)
    meta_path, pix_path = base + ".json", base + ".u8"
    need = not (os.path.exists(meta_path) and os.path.exists(pix_path))
    if not need:
        with open(meta_path) as f:
            meta = json.load(f)
        if os.path.realpath(meta.get("dataRoot", "")) != os.path.realpath(data_dir) or meta.get("graphSha256") != pre_sha:
            print(f"cache {base} is from other data or another preprocessing graph: rebuilding", file=sys.stderr)
            need = True
    if need:
        cmd = ["npx", "tsx", "training/prepare-malaria.ts", "--graph", pre_path, "--size", str(size), "--out", base, "--data", data_dir]
        print("$ " + " ".join(cmd), file=sys.stderr)
        subprocess.run(cmd, cwd=common.ROOT, check=True)
        with open(meta_path) as f:
            meta = json.load(f)
    items = meta["items"]
    n = len(items)
    pixels = np.fromfile(pix_path, dtype=np.uint8)
    if pixels.size != n * 3 * size * size:
        raise SystemExit(f"{pix_path}: {pixels.size} bytes, expected {n}×3×{size}×{size}")
    pixels = pixels.reshape(n, 3, size, size)
    labels = np.array([LABELS.index(it["label"]) for it in items], dtype=np.int64)
    is_val = np.array([it["split"] == "validation" for it in items])

    # The split rule lives in training/split.ts and training/common.py: check they agree.
    held = common.validation_ids((it["id"], it["label"]) for it in items)
    val_ids = [it["id"] for it in items if it["split"] == "validation"]
    if set(val_ids) != held or common.ids_digest(val_ids) != meta["validationDigest"]:
        raise SystemExit("validation split in the cache does not match training/common.py's rule")
    return {
        "meta": meta,
        "x_train": pixels[~is_val],
        "y_train": labels[~is_val],
        "x_val": pixels[is_val],
        "y_val": labels[is_val],
        "val_items": [it for it in items if it["split"] == "validation"],
    }


# ---------------------------------------------------------------------------------------------
# Model


class CellNet(nn.Module):
    """4 stages of conv3×3-BN-ReLU + max-pool, widths w, 2w, 4w, 8w; global average pool; linear."""

    def __init__(self, width=16, convs_per_stage=1, stages=4, dropout=0.2):
        super().__init__()
        layers, cin = [], 3
        for s in range(stages):
            cout = width * 2 ** s
            for _ in range(convs_per_stage):
                layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
                cin = cout
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(cin, len(LABELS)))
        self.description = (
            f"{stages} stages of {convs_per_stage}×(Conv3×3 no-bias + BatchNorm + ReLU) then MaxPool2×2, channels "
            + "/".join(str(width * 2 ** s) for s in range(stages))
            + f"; GlobalAveragePool; Dropout {dropout}; Linear {cin}→{len(LABELS)}"
        )

    def forward(self, x):  # x: float NCHW, normalised
        return self.head(self.features(x))


class Normalised(nn.Module):
    """What the torch export holds: float NCHW pixel values 0..255 in, logits out. The per-channel
    normalisation (training split's mean and std) is part of the exported graph."""

    def __init__(self, net, mean, std):
        super().__init__()
        self.net = net
        self.register_buffer("scale", torch.tensor(1.0 / (255.0 * std), dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("shift", torch.tensor(-mean / std, dtype=torch.float32).view(1, 3, 1, 1))
        self.mean, self.std = mean, std

    def forward(self, x):
        return self.net(x * self.scale + self.shift)


def count_params(model):
    return sum(p.numel() for p in model.parameters())


def dihedral(x, k):
    """The k-th view of malaria_graph.DIHEDRAL, in torch: the same order as in the graph."""
    transpose, flip_h, flip_w = malaria_graph.DIHEDRAL[k]
    if transpose:
        x = x.transpose(2, 3)
    dims = [d for d, f in ((2, flip_h), (3, flip_w)) if f]
    return x.flip(dims) if dims else x


# ---------------------------------------------------------------------------------------------
# Training


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


# ---------------------------------------------------------------------------------------------
# Export and measurement in onnxruntime-node


def export(models, size, mode, views, temperature, cap, path, shift=0.0):
    """models: the ensemble's members (one or more). Each is exported by torch, then all are
    composed into one graph with the preprocessing (malaria_graph.compose)."""
    cnns = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, model in enumerate(models):
            cnn_path = os.path.join(tmp, f"cnn{i}.onnx")
            torch.onnx.export(
                model.eval(), torch.zeros(1, 3, size, size), cnn_path, input_names=["x"], output_names=["logits"],
                dynamic_axes={"x": {0: "M"}, "logits": {0: "M"}}, opset_version=TORCH_OPSET,
                do_constant_folding=True, training=torch.onnx.TrainingMode.EVAL,
            )
            cnn = onnx.load(cnn_path)
            onnx.checker.check_model(cnn)
            cnns.append(cnn)
    return malaria_graph.save(malaria_graph.compose(cnns, size, mode, temperature, views, cap, shift), path)


def onnx_scores(path, data_dir):
    """The final graph's probabilities for every validation image: decoded by src/images.ts, fed
    as the predictor feeds it, run by onnxruntime-node (training/prepare-malaria.ts --score)."""
    with tempfile.TemporaryDirectory() as tmp:
        base = os.path.join(tmp, "scores")
        subprocess.run(["npx", "tsx", "training/prepare-malaria.ts", "--score", path, "--out", base, "--data", data_dir],
                       cwd=common.ROOT, check=True)
        with open(base + ".json") as f:
            meta = json.load(f)
        probs = np.fromfile(base + ".f32", dtype=np.float32).reshape(-1, 2).astype(np.float64)
    return meta, probs


def typical_image(data):
    """The validation image of median area: what the per-image time is measured on."""
    items = sorted(data["val_items"], key=lambda it: (it["width"] * it["height"], it["id"]))
    return items[len(items) // 2]


def onnx_bench(path, image_file, runs=500):
    out = subprocess.run(["npx", "tsx", "training/bench-malaria.ts", path, image_file, "--runs", str(runs)],
                         cwd=common.ROOT, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def timed_graph(models, size, mode, views, image_file, runs=500):
    """The uncalibrated graph of `models` with `views` views, exported to a temporary file and timed
    by onnx_bench: (its size in bytes, the timing)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.onnx")
        export(models, size, mode, views, 1.0, None, path)
        return os.path.getsize(path), onnx_bench(path, image_file, runs)


def parasitized_recall(pred, y):
    return round(float((pred[y == 0] == 0).mean()), 4)


def load_average():
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def confusion(pred, y):
    conf = np.zeros((2, 2), dtype=int)
    for t, q in zip(y, pred):
        conf[t, q] += 1
    return conf


# ---------------------------------------------------------------------------------------------


VIEW_CHOICES = (1, 4, 8)


def clean_labels(models, data, threshold):
    """Drops the training images whose given label the ensemble `models` (8 views) finds unlikely
    (probability below threshold). Returns (the data without them, the card's report)."""
    logits = val_logits(models, data["x_train"], 8)
    p = calibration.softmax(logits)
    y = data["y_train"]
    given = p[np.arange(len(y)), y]
    keep = given >= threshold
    items = [it for it in data["meta"]["items"] if it["split"] != "validation"]
    dropped = sorted((float(given[i]), items[i]["id"], items[i]["label"]) for i in np.nonzero(~keep)[0])
    report = {
        "rule": CLEAN_RULE.format(clean=threshold),
        "threshold": threshold,
        "first_round_validation_accuracy_8_views": round(accuracy(val_logits(models, data["x_val"], 8), data["y_val"]), 4),
        "n_train_before": int(len(y)),
        "n_dropped": int((~keep).sum()),
        "dropped_by_label": {lab: int(((~keep) & (y == k)).sum()) for k, lab in enumerate(LABELS)},
        "dropped": [{"id": i, "label": lab, "label_probability": round(g, 4)} for g, i, lab in dropped],
        "contact_sheet": "npm run malaria:errors -- --dropped",
    }
    cleaned = dict(data, x_train=data["x_train"][keep], y_train=y[keep])
    return cleaned, report


def decide(logits, shift):
    """Predicted label indices with `shift` added to the parasitized logit, as the graph decides."""
    return np.where(logits[:, 0] + shift - logits[:, 1] >= 0, 0, 1)


def choose_shift(logits, y):
    for k in range(int(round(3 / SHIFT_STEP)) + 1):
        if float((decide(logits, k * SHIFT_STEP)[y == 0] == 0).mean()) >= RECALL_TARGET:
            return round(k * SHIFT_STEP, 4)
    return 3.0


def decision_report(logits, y, ids, shift):
    """The shift's effect, in-sample and 2-fold cross-fitted (each fold decided with the shift chosen
    on the other: an estimate of how the rule does on images it was not chosen on)."""
    fold = calibration.folds(ids)
    conf = np.zeros((2, 2), dtype=int)
    fold_shifts = []
    for f in range(calibration.FOLDS):
        fold_shifts.append(choose_shift(logits[fold != f], y[fold != f]))
        conf += confusion(decide(logits[fold == f], fold_shifts[-1]), y[fold == f])

    def figures(c):
        missed, alarms = int(c[0, 1]), int(c[1, 0])
        return {"accuracy": round(1 - (missed + alarms) / int(c.sum()), 4), "parasitized_recall": round(1 - missed / int(c[0].sum()), 4),
                "missed_parasites": missed, "false_alarms": alarms}
    return {
        "rule": DECISION_RULE,
        "shift": shift,
        "unshifted": figures(confusion(decide(logits, 0.0), y)),
        "cross_fitted": {"fold_shifts": fold_shifts, **figures(conf)},
    }


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


def compare_views(models, data, size, mode, image_file):
    """Accuracy and parasitized recall of each member alone (1 view) and of the ensemble with 1, 2,
    4 and 8 views; each ensemble graph exported and timed."""
    y = data["y_val"]
    rows = []

    def row(what, members, views, timed):
        logits = val_logits(members, data["x_val"], views)
        pred = logits.argmax(1)
        out = {"models": what, "views": views, "accuracy": round(accuracy(logits, y), 4),
               "parasitized_recall": parasitized_recall(pred, y)}
        if timed:
            out["bytes"], bench = timed_graph(members, size, mode, views, image_file, runs=300)
            out["ms_per_image"] = round(bench["ms"], 3)
            out["cpu_ms_per_image"] = round(bench["cpuMs"], 3)
        return out

    if len(models) > 1:
        rows += [row(f"member {i + 1}", [m], 1, False) for i, m in enumerate(models)]
    rows += [row(f"ensemble of {len(models)}" if len(models) > 1 else "model", models, v, True) for v in (1, 2, 4, 8)]
    return rows


def choose_views(table):
    fits = [r for r in table if "cpu_ms_per_image" in r and r["cpu_ms_per_image"] <= MS_BUDGET]
    if not fits:
        return 1
    top = max(r["accuracy"] for r in fits)
    return min(r["views"] for r in fits if r["accuracy"] >= top - 0.0005 - 1e-9)


def select(data_dir, configs, epochs):
    """Short-schedule comparison; prints the rows to paste into SELECTION. Each configuration is
    trained once ({size, width, mode, convs, members, epochs}) and evaluated with 1, 4 and 8
    test-time views, each exported and timed as a whole graph."""
    rows = []
    for cfg in configs:
        size, width, mode = cfg["size"], cfg["width"], cfg["mode"]
        convs, members, n_epochs = cfg.get("convs", 1), cfg.get("members", 1), cfg.get("epochs", epochs)
        data = load_cache(size, mode, data_dir)
        print(f"select: {json.dumps(cfg)}, {n_epochs} epochs", file=sys.stderr, flush=True)
        t0 = time.time()
        models = [train(data, width, n_epochs, 1, SEED + i, convs)[0] for i in range(members)]
        secs = time.time() - t0
        for views in cfg.get("views", VIEW_CHOICES):
            logits = val_logits(models, data["x_val"], views)
            nbytes, bench = timed_graph(models, size, mode, views, typical_image(data)["file"])
            pred = logits.argmax(1)
            y = data["y_val"]
            row = {"size": size, "width": width, "convs": convs, "members": members, "mode": mode, "views": views,
                   "parameters": sum(count_params(m) for m in models),
                   "val_accuracy": round(accuracy(logits, y), 4),
                   "parasitized_recall": parasitized_recall(pred, y),
                   "bytes": nbytes, "ms_per_image": round(bench["ms"], 3), "epochs": n_epochs,
                   "train_seconds": round(secs, 1)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    print(json.dumps(rows, indent=2))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=common.DEFAULT_DATA, help="malaria folder's parent (../shared/data) or a cell_images download")
    ap.add_argument("--size", type=int, default=DEFAULT_SIZE)
    ap.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
    ap.add_argument("--width", type=int, default=DEFAULT_WIDTH)
    ap.add_argument("--mode", default=DEFAULT_MODE, choices=sorted(malaria_graph.RESIZE_MODES))
    ap.add_argument("--views", default=DEFAULT_VIEWS, choices=["auto", "1", "2", "4", "8"],
                    help="test-time dihedral views averaged in the graph; auto: chosen by measurement (VIEWS_RULE)")
    ap.add_argument("--convs", type=int, default=DEFAULT_CONVS, help="convolutions per stage")
    ap.add_argument("--members", type=int, default=DEFAULT_MEMBERS, help="ensemble members (seeds 42, 43, ...), logits averaged in the graph")
    ap.add_argument("--clean", type=float, default=DEFAULT_CLEAN,
                    help="drop training images whose label a first ensemble finds less likely than this (CLEAN_RULE); 0: no cleaning")
    ap.add_argument("--shift", default="auto", help="decision shift on the parasitized logit; auto: DECISION_RULE")
    ap.add_argument("--select", action="store_true", help="compare configurations with a short schedule; writes no model")
    ap.add_argument("--select-configs", default='[{"size":32,"width":16,"mode":"linear"},{"size":32,"width":16,"mode":"cubic"}]')
    ap.add_argument("--select-epochs", type=int, default=6)
    args = ap.parse_args()
    data_dir = os.path.abspath(args.data)
    # One thread: on the shared 2-core machine two OpenMP threads spin-wait on each other whenever
    # another job holds a core (measured at load average ~11: 2.7 s per training step with 2
    # threads, 0.19 s with 1). On an idle machine 2 threads would be faster.
    torch.set_num_threads(1)

    if args.select:
        select(data_dir, json.loads(args.select_configs), args.select_epochs)
        return

    started_at = time.time()
    defaults = {"data": common.DEFAULT_DATA, "size": DEFAULT_SIZE, "epochs": DEFAULT_EPOCHS, "width": DEFAULT_WIDTH,
                "mode": DEFAULT_MODE, "views": DEFAULT_VIEWS, "convs": DEFAULT_CONVS, "members": DEFAULT_MEMBERS,
                "clean": DEFAULT_CLEAN, "shift": "auto"}
    command = "npm run train -- malaria" + "".join(f" --{k} {getattr(args, k)}" for k, d in defaults.items() if str(getattr(args, k)) != str(d))
    size, mode = args.size, args.mode
    data = load_cache(size, mode, data_dir)
    print(f"training {args.members} × CellNet width {args.width} ({args.convs} conv/stage) at {size}px ({mode}) for "
          f"{args.epochs} epochs on {len(data['y_train'])} images", file=sys.stderr)
    load_before = load_average()
    t0 = time.time()
    models, history = train_members(data, args.width, args.epochs, args.convs, args.members)
    cleaning = None
    if args.clean > 0:
        data, cleaning = clean_labels(models, data, args.clean)
        print(f"  label cleaning: dropped {cleaning['n_dropped']} training images {cleaning['dropped_by_label']}; "
              f"training again on {len(data['y_train'])}", file=sys.stderr)
        cleaning["first_round_history"] = history
        models, history = train_members(data, args.width, args.epochs, args.convs, args.members)
    train_seconds = time.time() - t0
    load_after = load_average()
    model = models[0]

    y = data["y_val"]
    ids = [it["id"] for it in data["val_items"]]
    typical = typical_image(data)
    view_table = compare_views(models, data, size, mode, typical["file"])
    views = choose_views(view_table) if args.views == "auto" else int(args.views)
    print(f"  views: {json.dumps(view_table)} -> {views}", file=sys.stderr)
    raw_logits = val_logits(models, data["x_val"], views)
    shift = choose_shift(raw_logits, y) if args.shift == "auto" else float(args.shift)
    decision = decision_report(raw_logits, y, ids, shift)
    print(f"  decision: {json.dumps(decision)}", file=sys.stderr)
    logits = raw_logits + np.array([shift, 0.0])
    cal = calibration.calibrate(logits, y, ids)
    path = common.model_path("malaria", VERSION)
    graph = export(models, size, mode, views, cal["temperature"], cal["cap"], path, shift)

    # Every number below is from the served graph: images decoded by src/images.ts, onnxruntime-node.
    meta, probs = onnx_scores(path, data_dir)
    if [it["id"] for it in meta["items"]] != ids:
        raise SystemExit("scored validation items are not the cache's")
    torch_probs = calibration.apply(logits, cal)
    max_diff = float(np.abs(probs - torch_probs).max())
    if max_diff > 1e-4:
        raise SystemExit(f"onnxruntime-node and PyTorch disagree by {max_diff} on a validation probability")
    pred = probs.argmax(1)
    conf = confusion(pred, y)
    acc = float((pred == y).mean())
    wrong = [i for i in range(len(y)) if pred[i] != y[i]]
    wrong.sort(key=lambda i: (-probs[i].max(), ids[i]))
    bench = onnx_bench(path, typical["file"])
    bench_load = load_average()

    card = {
        "task": "binary image classification",
        "description": "Small convolutional network that tells parasitized from uninfected red blood cells in "
                       "thin-blood-smear cell crops (NIH malaria cell images).",
        "labels": LABELS,
        "inputs": [{"name": "image", "dtype": "uint8", "shape": [-1, -1, -1, 3],
                    "description": "RGB pixels, NHWC, at the image's own size (a batch holds images of one size), "
                                   "as returned by src/images.ts decodeToRgb(bytes, limits)"}],
        "outputs": [{"name": "probabilities", "dtype": "float32", "shape": [-1, 2],
                     "description": "calibrated softmax, in label order"}],
        "preprocessing": (
            "Decode with src/images.ts decodeToRgb(bytes, limits): EXIF orientation applied, first GIF frame, transparency "
            "flattened on black, converted to sRGB, 8-bit RGB at the image's own size, fed as uint8 [1, H, W, 3]. "
            f"Inside the graph: Resize (mode {mode}, antialias 1, uint8) to fit {size}×{size} keeping the aspect ratio "
            f"(longer side {size}, shorter round(side × {size} / longer), at least 1), black padding centred to "
            f"{size}×{size}, float, per-channel normalisation (mean {[round(float(v), 4) for v in model.mean]}, std "
            f"{[round(float(v), 4) for v in model.std]} of [0, 1] values, from the training split)"
            + (f", the {views} flips/rotations of the square averaged (logits)" if views > 1 else "")
            + ", the CNN"
            + (f", {shift:g} added to the parasitized logit (decision shift)" if shift else "")
            + f", logits / {cal['temperature']:.4f} (temperature), softmax"
            + (f", probabilities clipped to [{1 - cal['cap']:g}, {cal['cap']:g}]" if cal["cap"] is not None else "")
            + ". Training read the output of the same preprocessing nodes (training/prepare-malaria.ts runs them "
              "in onnxruntime-node on src/images.ts's decode)."
        ),
        "image_size": size,
        "data": {
            "source": "NIH/NLM malaria cell images (Rajaraman et al. 2018), class-balanced 20,000-image sample",
            "path": os.path.relpath(data_dir, common.ROOT) if data_dir.startswith(os.path.dirname(common.ROOT)) else data_dir,
            "n_train": int(len(data["y_train"])),
            "n_validation": int(len(y)),
            "split": "stratified by class: within each class ordered by sha1('42:'+id), first 20% held out",
            "validation_ids_sha256": data["meta"]["validationDigest"],
        },
        "metrics": {
            "validation": {
                "accuracy": round(acc, 4),
                "parasitized_recall": round(float(conf[0, 0] / conf[0].sum()), 4),
                "uninfected_recall": round(float(conf[1, 1] / conf[1].sum()), 4),
                "confusion": {
                    "rows": "true label", "columns": "predicted label", "labels": LABELS,
                    "matrix": conf.tolist(),
                    "true_parasitized_predicted_uninfected": int(conf[0, 1]),
                    "true_uninfected_predicted_parasitized": int(conf[1, 0]),
                },
                "n": int(len(y)),
                "measured_with": "the committed graph in onnxruntime-node on every validation image decoded by src/images.ts "
                                 "(training/prepare-malaria.ts --score)",
                "pytorch_accuracy": round(accuracy(logits, y), 4),
                "max_abs_probability_difference_onnx_vs_pytorch": max_diff,
            },
        },
        "calibration": calibration.card_section(cal, probs, y, "images"),
        "most_confident_errors": {
            "what": "validation images the served model gets wrong, most confident first (about 1-2% of the NIH labels "
                    "are known to be wrong: a person should judge these); contact sheet: npm run malaria:errors",
            "n_errors": len(wrong),
            "images": [{"id": ids[i], "label": LABELS[y[i]], "predicted": LABELS[pred[i]],
                        "confidence": round(float(probs[i].max()), 4)} for i in wrong[:24]],
        },
        "architecture": {
            "layers": (f"ensemble of {len(models)} (seeds {SEED}..{SEED + len(models) - 1}), logits averaged; each: " if len(models) > 1 else "")
                      + model.net.description + (f"; {views} dihedral views, logits averaged" if views > 1 else "")
                      + "; /temperature; Softmax",
            "parameters": sum(count_params(m) for m in models),
            "onnx": graph,
        },
        "performance": {
            "onnx_ms_per_image_median": round(bench["ms"], 3),
            "onnx_ms_per_image_p90": round(bench["p90"], 3),
            "onnx_cpu_ms_per_image_median": round(bench["cpuMs"], 3),
            "how": f"training/bench-malaria.ts: the whole graph (in-graph resize included) on the validation image of "
                   f"median area ({typical['id']}, {bench['width']}×{bench['height']}), decoded by src/images.ts, through "
                   "the app's onnxruntime-node backend (one intra-op thread); 50 warm-up runs, median of 500 (wall clock "
                   "and CPU time of the process per run); "
                   f"{os.cpu_count()}-core CPU shared with other jobs, load average {bench_load:.2f} at measurement",
        },
        "selection": SELECTION,
        "decision": decision,
        "label_cleaning": cleaning,
        "test_time_views": {"rule": VIEWS_RULE, "chosen": views, "table": view_table,
                            "how": "the trained members, each alone and together, with 1, 2, 4 and 8 of the dihedral "
                                   "views averaged (PyTorch on the cached pixels; each graph timed as in performance)"},
        "training": {
            "seed": SEED,
            "epochs": args.epochs,
            "batch_size": BATCH_SIZE,
            "optimizer": f"AdamW (weight decay {WEIGHT_DECAY}), one-cycle LR schedule, max lr {LR}, 20% warm-up, cross-entropy",
            "augmentation": "a random element of the dihedral group (8 flips/rotations), brightness ×U(0.9, 1.1) per image",
            "width": args.width,
            "convs_per_stage": args.convs,
            "members": args.members,
            "resize_mode": mode,
            "views": views,
            "label_cleaning_threshold": args.clean,
            "train_seconds": round(train_seconds, 1),
            "load_average": {"before": load_before, "after": load_after},
            "history": history,
        },
    }
    common.write_card("malaria", card, started_at, command, VERSION)

    print(f"malaria: {size}px ({mode}) {args.members} × CellNet width {args.width}, {views} view(s), "
          f"{sum(count_params(m) for m in models)} params, "
          f"{args.epochs} epochs in {train_seconds:.0f} s")
    print(f"  validation accuracy {acc:.4f} (parasitized recall {conf[0, 0] / conf[0].sum():.4f}), n={len(y)}, "
          f"onnxruntime-node; PyTorch {accuracy(logits, y):.4f}; max |Δp| {max_diff:.2e}")
    print(f"  T {cal['temperature']:.3f}, ECE cross-fitted {cal['ece']:.4f} (uncalibrated {cal['ece_uncalibrated']:.4f}), "
          f"cap {cal['cap']}")
    print(f"  confusion (rows true, cols predicted; {LABELS}): {conf.tolist()}")
    print(f"  {path}: {os.path.getsize(path)} bytes, {bench['ms']:.3f} ms/image median on {bench['width']}×{bench['height']}")


if __name__ == "__main__":
    main()
