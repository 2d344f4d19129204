"""Malaria training data (train_malaria.py): the cell images' pixels as the served graph's own
preprocessing makes them (malaria_graph.py's resize and padding nodes, run by
training/prepare-malaria.ts in onnxruntime-node on src/images.ts's decode), cached under
.training-cache/, split into training and validation and checked against training/common.py's rule.
The cells people corrected (--extra DIR, written by `ml-forms feedback export`) go through the same
preprocessing and join the training split only."""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import common
import malaria_graph
import numpy as np
import onnx

from malaria_config import LABELS


def preprocessing_graph(size, mode):
    """Writes the graph's preprocessing nodes alone to the cache: (base path for the cache files,
    the graph's path, its sha256)."""
    os.makedirs(common.CACHE, exist_ok=True)
    base = os.path.join(common.CACHE, f"malaria-{size}-{mode}")
    pre_path = base + "-preprocessing.onnx"
    onnx.save(malaria_graph.preprocessing_model(size, mode), pre_path)
    return base, pre_path, common.sha256_file(pre_path)


def prepare(pre_path, size, out, data_dir):
    """Runs training/prepare-malaria.ts: the images under data_dir through the app's decoder and the
    preprocessing graph, into out.u8 and out.json."""
    cmd = ["npx", "tsx", "training/prepare-malaria.ts", "--graph", pre_path, "--size", str(size), "--out", out, "--data", data_dir]
    print("$ " + " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, cwd=common.ROOT, check=True)


def load_cache(size, mode, data_dir):
    base, pre_path, pre_sha = preprocessing_graph(size, mode)
    meta_path, pix_path = base + ".json", base + ".u8"
    need = not (os.path.exists(meta_path) and os.path.exists(pix_path))
    if not need:
        with open(meta_path) as f:
            meta = json.load(f)
        if os.path.realpath(meta.get("dataRoot", "")) != os.path.realpath(data_dir) or meta.get("graphSha256") != pre_sha:
            print(f"cache {base} is from other data or another preprocessing graph: rebuilding", file=sys.stderr)
            need = True
    if need:
        prepare(pre_path, size, base, data_dir)
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


def extra_files(extra_dir):
    """The image files of DIR/malaria/<label>/, by label (what prepare-malaria.ts will read there)."""
    found = {}
    for label in LABELS:
        folder = os.path.join(extra_dir, "malaria", label)
        names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
        found[label] = [n for n in names if n.lower().endswith((".png", ".webp", ".jpg", ".jpeg", ".gif"))]
    return found


def load_extra(size, mode, extra_dir):
    """The cells of DIR/malaria/{parasitized,uninfected}/ through the same preprocessing graph as the
    data (decoded by src/images.ts, run in onnxruntime-node): {x, y, items} with items
    {id: "extra/<label>/<file>", label, split: "train", file, width, height}, or None when the export
    holds no cell. Not cached: an export is small and each one is different."""
    files = extra_files(extra_dir)
    if not any(files.values()):
        return None
    missing = [label for label in LABELS if not os.path.isdir(os.path.join(extra_dir, "malaria", label))]
    if missing:
        # prepare-malaria.ts finds a layout by its label folders: all of them must be there.
        raise SystemExit(f"--extra {extra_dir}: malaria/{missing[0]}/ is missing (ml-forms feedback export writes both folders)")
    _, pre_path, _ = preprocessing_graph(size, mode)
    work = tempfile.mkdtemp(prefix="malaria-extra-", dir=common.CACHE)
    try:
        out = os.path.join(work, "extra")
        prepare(pre_path, size, out, extra_dir)
        with open(out + ".json") as f:
            meta = json.load(f)
        pixels = np.fromfile(out + ".u8", dtype=np.uint8)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    items = meta["items"]
    if sorted(it["id"] for it in items) != sorted(f"{label}/{n}" for label, names in files.items() for n in names):
        raise SystemExit(f"--extra {extra_dir}: prepare-malaria.ts read other files than malaria/{{{','.join(LABELS)}}}/")
    n = len(items)
    if pixels.size != n * 3 * size * size:
        raise SystemExit(f"--extra {extra_dir}: {pixels.size} bytes of pixels, expected {n}×3×{size}×{size}")
    # prepare-malaria.ts splits every folder it reads; these are all for training, whatever it says.
    items = [dict(it, id=f"extra/{it['id']}", split="train") for it in items]
    return {
        "x": pixels.reshape(n, 3, size, size),
        "y": np.array([LABELS.index(it["label"]) for it in items], dtype=np.int64),
        "items": items,
    }


def with_extra(data, extra):
    """The data with the extra cells appended to the training split (the validation split is left
    as it is). They are also appended to meta's items, after the data's own: the training items in
    meta's order then line up with x_train row for row, as label cleaning (malaria_clean.py) needs."""
    meta = dict(data["meta"], items=data["meta"]["items"] + extra["items"])
    return dict(
        data,
        meta=meta,
        x_train=np.concatenate([data["x_train"], extra["x"]]),
        y_train=np.concatenate([data["y_train"], extra["y"]]),
    )
