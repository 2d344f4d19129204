"""Malaria training data (train_malaria.py): the cell images' pixels as the served graph's own
preprocessing makes them (malaria_graph.py's resize and padding nodes, run by
training/prepare-malaria.ts in onnxruntime-node on src/images.ts's decode), cached under
.training-cache/, split into training and validation and checked against training/common.py's rule."""

import json
import os
import subprocess
import sys

import common
import malaria_graph
import numpy as np
import onnx

from malaria_config import LABELS


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
