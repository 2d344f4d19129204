"""Linear regression on generated points, as in the original walkthrough: points scattered around
a known line with Gaussian noise (fixed seed), fitted by least squares, exported as a one-node
ONNX graph (Gemm).

Usage: /usr/bin/python3 training/train_regression.py [--extra DIR]     (or: npm run train -- regression)

--extra DIR  also fit DIR/regression/points.csv (header x,y: the numbers people asked about and the
             values they said were right; npx ml-forms feedback export --out DIR), in the training
             split only: the validation points, and so the card's metrics, are the generated ones.
"""

import csv
import math
import os
import sys
import time

import numpy as np
import onnx
from onnx import TensorProto, helper
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

SEED = 42
TRUE_SLOPE = 3.5
TRUE_INTERCEPT = 1.5
NOISE_SD = 2.0
N_POINTS = 1000
X_RANGE = (0.0, 10.0)


def generate(rng):
    x = rng.uniform(*X_RANGE, size=N_POINTS)
    y = TRUE_SLOPE * x + TRUE_INTERCEPT + rng.normal(0.0, NOISE_SD, size=N_POINTS)
    return x.reshape(-1, 1), y


def load_extra_points(extra_dir):
    """x (N×1) and y of DIR/regression/points.csv; empty arrays if the export holds none. A row that
    is not two finite numbers stops the run, naming its line: nothing is skipped silently."""
    path = os.path.join(extra_dir, "regression", "points.csv")
    xs, ys = [], []
    if os.path.exists(path):
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header != ["x", "y"]:
                raise SystemExit(f"{path}: the header must be x,y, not {header}")
            for line, row in enumerate(reader, start=2):
                try:
                    x, y = (float(v) for v in row)
                except ValueError:
                    raise SystemExit(f"{path}:{line}: expected two numbers, got {row}") from None
                if not (math.isfinite(x) and math.isfinite(y)):
                    raise SystemExit(f"{path}:{line}: {row} is not finite")
                xs.append(x)
                ys.append(y)
    return np.array(xs, dtype=np.float64).reshape(-1, 1), np.array(ys, dtype=np.float64)


def export(slope, intercept, path):
    # y = x · W + b with W = [[slope]], b = [intercept]; Gemm keeps it one standard op.
    w = helper.make_tensor("W", TensorProto.FLOAT, [1, 1], [float(slope)])
    b = helper.make_tensor("B", TensorProto.FLOAT, [1], [float(intercept)])
    node = helper.make_node("Gemm", ["x", "W", "B"], ["y"], name="linear")
    graph = helper.make_graph(
        [node],
        "regression",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])],
        initializer=[w, b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="ml-forms")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def main():
    started = time.time()
    rng = np.random.default_rng(SEED)
    x, y = generate(rng)
    ids = [(str(i), "all") for i in range(N_POINTS)]
    held = common.validation_ids(ids)
    val = np.array([str(i) in held for i in range(N_POINTS)])
    n_generated = int((~val).sum())
    x_train, y_train = x[~val], y[~val]
    extra_dir = common.extra_arg(sys.argv[1:])
    n_extra = 0
    if extra_dir is not None:
        x_extra, y_extra = load_extra_points(extra_dir)
        n_extra = len(y_extra)
        x_train, y_train = np.concatenate([x_train, x_extra]), np.concatenate([y_train, y_extra])
        print(f"+ {n_extra} corrected points from {extra_dir} in the training split", file=sys.stderr)
    reg = LinearRegression().fit(x_train, y_train)
    pred = reg.predict(x[val])
    slope, intercept = float(reg.coef_[0]), float(reg.intercept_)
    export(slope, intercept, common.model_path("regression"))

    card = {
        "task": "regression",
        "description": f"Least-squares line fitted to {n_generated} generated points scattered around y = 3.5x + 1.5"
                       + (f" and {n_extra} points people corrected." if extra_dir is not None else "."),
        "labels": [],
        "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, 1], "description": "the number, one per row"}],
        "outputs": [{"name": "y", "dtype": "float32", "shape": [-1, 1], "description": "the predicted value"}],
        "preprocessing": "none: pass x as float32 of shape [N, 1]",
        "true_line": {"slope": TRUE_SLOPE, "intercept": TRUE_INTERCEPT, "noise_sd": NOISE_SD},
        "fitted": {"slope": round(slope, 6), "intercept": round(intercept, 6)},
        "data": {
            "source": f"generated: {N_POINTS} points, x uniform on [{X_RANGE[0]:g}, {X_RANGE[1]:g}], "
            f"y = {TRUE_SLOPE}x + {TRUE_INTERCEPT} + N(0, {NOISE_SD}²), numpy seed {SEED}",
            "x_range": list(X_RANGE),
            "n_train": int(len(y_train)),
            "n_validation": int(val.sum()),
            "split": "20% held out by sha1('42:'+index)",
            "validation_ids_sha256": common.ids_digest(held),
            **({"extra": common.extra_section(extra_dir, [None] * n_extra)} if extra_dir is not None else {}),
        },
        "metrics": {
            "validation": {
                "r2": round(float(r2_score(y[val], pred)), 4),
                "rmse": round(float(np.sqrt(mean_squared_error(y[val], pred))), 4),
                "mae": round(float(mean_absolute_error(y[val], pred)), 4),
                "n": int(val.sum()),
            }
        },
        "training": {"seed": SEED, "method": "ordinary least squares (scikit-learn LinearRegression)"},
    }
    command = "npm run train -- regression" + (f" --extra {common.card_path(extra_dir)}" if extra_dir is not None else "")
    common.write_card("regression", card, started, command)
    print(f"regression: y = {slope:.4f}x + {intercept:.4f}; validation R² {card['metrics']['validation']['r2']}")


if __name__ == "__main__":
    main()
