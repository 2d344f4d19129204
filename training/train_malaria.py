#!/usr/bin/python3
"""Trains the malaria cell classifier (parasitized vs uninfected) and exports it as one ONNX graph
that takes the decoded image at its own size (see training/malaria_graph.py).

    /usr/bin/python3 training/train_malaria.py [--data DIR] [--size S] [--epochs E] [--width W] [--views V] [--mode M]
                                               [--clean P] [--shift auto|X] [--extra DIR]
    /usr/bin/python3 training/train_malaria.py --select      # re-run the comparison (short schedules)

Pixels: malaria_graph.py writes the graph's preprocessing nodes (resize + padding) as a small ONNX
model; training/prepare-malaria.ts decodes every image with src/images.ts and runs that model in
onnxruntime-node; this script trains on its output. It never decodes or resizes an image itself.
--extra DIR adds the cells people corrected and shared (npx ml-forms feedback export --out DIR:
DIR/malaria/{parasitized,uninfected}/), through the same preprocessing, to the training split only:
the validation split, and so the card's metrics, stay those of the data alone.

After training: the CNN is exported with torch (opset 17), composed into the final graph (opset 18)
with the preprocessing, the test-time views, the temperature and the confidence cap; then every
validation image goes through the final graph in onnxruntime-node (prepare-malaria.ts --score), and
the card's metrics are computed from those served probabilities.
Writes models/malaria/<VERSION>/model.onnx, models/malaria/card.json and models/malaria/config.pbtxt.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import calibration  # noqa: E402
import common  # noqa: E402
import malaria_graph  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

# The parts, one concern each: malaria_config (constants, defaults, rules, SELECTION), malaria_data
# (the pixel cache and the split), malaria_net (the CNN), malaria_fit (the training loop),
# malaria_clean (label cleaning), malaria_decision (the decision shift), malaria_select (test-time
# views, --select), malaria_export (export and measurement in onnxruntime-node). This file: the
# command line, the run and the card.
from malaria_clean import clean_labels  # noqa: E402
from malaria_config import (  # noqa: E402
    BATCH_SIZE, DEFAULT_CLEAN, DEFAULT_CONVS, DEFAULT_EPOCHS, DEFAULT_MEMBERS, DEFAULT_MODE, DEFAULT_SIZE,
    DEFAULT_VIEWS, DEFAULT_WIDTH, LABELS, LR, SEED, SELECTION, VERSION, VIEWS_RULE, WEIGHT_DECAY,
)
from malaria_data import load_cache, load_extra, with_extra  # noqa: E402
from malaria_decision import choose_shift, decision_report  # noqa: E402
from malaria_export import confusion, export, load_average, onnx_bench, onnx_scores, typical_image  # noqa: E402
from malaria_fit import accuracy, train_members, val_logits  # noqa: E402
from malaria_net import count_params  # noqa: E402
from malaria_select import choose_views, compare_views, select  # noqa: E402


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
    ap.add_argument("--extra", metavar="DIR", help="also train on DIR/malaria/{parasitized,uninfected}/ (npx ml-forms feedback export --out DIR); "
                                    "training split only")
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
                "clean": DEFAULT_CLEAN, "shift": "auto", "extra": None}
    extra_dir = common.extra_dir(args.extra) if args.extra is not None else None
    if extra_dir is not None:
        args.extra = common.card_path(extra_dir)
    command = "npm run train -- malaria" + "".join(f" --{k} {getattr(args, k)}" for k, d in defaults.items() if str(getattr(args, k)) != str(d))
    size, mode = args.size, args.mode
    data = load_cache(size, mode, data_dir)
    extra = load_extra(size, mode, extra_dir) if extra_dir is not None else None
    if extra is not None:
        data = with_extra(data, extra)
        print(f"  + {len(extra['y'])} corrected cells from {extra_dir} in the training split "
              f"{common.extra_section(extra_dir, [it['label'] for it in extra['items']])['by_label']}", file=sys.stderr)
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
            **({"extra": common.extra_section(extra_dir, [it["label"] for it in (extra["items"] if extra else [])])}
               if extra_dir is not None else {}),
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
