"""Export and measurement of the malaria graph (train_malaria.py): the members exported by torch and
composed with the preprocessing (malaria_graph.compose); the final graph's validation scores and
its time per image in onnxruntime-node (training/prepare-malaria.ts --score,
training/bench-malaria.ts); and the small helpers the card's figures use (confusion matrix,
parasitized recall, load average)."""

import json
import os
import subprocess
import tempfile

import common
import malaria_graph
import numpy as np
import onnx
import torch

from malaria_config import TORCH_OPSET


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
