"""Linear regression on generated points, as in the original walkthrough: points scattered around
a known line with Gaussian noise (fixed seed), fitted by least squares, exported as a one-node
ONNX graph (Gemm).

Usage: /usr/bin/python3 training/train_regression.py      (or: npm run train -- regression)
"""

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
    reg = LinearRegression().fit(x[~val], y[~val])
    pred = reg.predict(x[val])
    slope, intercept = float(reg.coef_[0]), float(reg.intercept_)
    export(slope, intercept, common.model_path("regression"))

    card = {
        "task": "regression",
        "description": "Least-squares line fitted to 800 generated points scattered around y = 3.5x + 1.5.",
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
            "n_train": int((~val).sum()),
            "n_validation": int(val.sum()),
            "split": "20% held out by sha1('42:'+index)",
            "validation_ids_sha256": common.ids_digest(held),
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
    common.write_card("regression", card, started, "npm run train -- regression")
    print(f"regression: y = {slope:.4f}x + {intercept:.4f}; validation R² {card['metrics']['validation']['r2']}")


if __name__ == "__main__":
    main()
