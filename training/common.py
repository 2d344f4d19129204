"""Shared helpers for the training scripts: data location, the held-out split rule, model cards
and Triton configs. Run with Debian's interpreter, /usr/bin/python3 (see training/README.md)."""

import datetime
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))
MODELS = os.path.join(ROOT, "models")
CACHE = os.path.join(ROOT, ".training-cache")

SPLIT_SEED = 42
VALIDATION_FRACTION = 0.2


def split_key(item_id, seed=SPLIT_SEED):
    """Same rule as training/split.ts: order by sha1(f"{seed}:{id}") within each class."""
    return hashlib.sha1(f"{seed}:{item_id}".encode("utf-8")).hexdigest()


def validation_ids(items, fraction=VALIDATION_FRACTION, seed=SPLIT_SEED):
    """items: iterable of (id, label). Returns the set of ids held out for validation, stratified."""
    by_label = {}
    for item_id, label in items:
        by_label.setdefault(label, []).append(item_id)
    held = set()
    for ids in by_label.values():
        ordered = sorted(ids, key=lambda i: split_key(i, seed))
        # JavaScript's Math.round(x) rounds .5 up; Python's round() rounds to even.
        n = int((len(ordered) * fraction) + 0.5)
        held.update(ordered[:n])
    return held


def ids_digest(ids):
    """sha256 of the sorted ids joined by newlines (same as training/split.ts idsDigest)."""
    return hashlib.sha256("\n".join(sorted(ids)).encode("utf-8")).hexdigest()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def git_commit():
    try:
        return subprocess.check_output(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], stderr=subprocess.DEVNULL).decode().strip()
    except Exception:  # noqa: BLE001 - a tarball without git still trains
        return None


def environment():
    import importlib

    versions = {"python": platform.python_version()}
    for mod in ("torch", "sklearn", "onnx", "numpy", "PIL"):
        try:
            versions[mod] = importlib.import_module(mod).__version__
        except Exception:  # noqa: BLE001
            pass
    versions["machine"] = f"{platform.machine()}, {os.cpu_count()} cores"
    return versions


TRITON_TYPES = {"float32": "TYPE_FP32", "uint8": "TYPE_UINT8", "string": "TYPE_STRING", "int64": "TYPE_INT64", "bool": "TYPE_BOOL"}
# Largest batch a client may send in one request (the first dimension of every tensor).
MAX_BATCH_SIZE = 32


def write_triton_config(name, inputs, outputs, max_batch_size=MAX_BATCH_SIZE):
    """Writes models/<name>/config.pbtxt as Triton's ONNX Runtime backend loads it (and the model
    tier, src/oip/, reads it). inputs/outputs: [{name, dtype, shape}] as in the card, ONNX shapes
    with -1 for dynamic dimensions; the first must be the batch dimension. With max_batch_size > 0,
    Triton's dims leave the batch dimension out; a tensor that has nothing but the batch dimension
    (the sentiment model's [N] reviews) is declared dims [ 1 ] with reshape { shape: [ ] }, as
    Triton's model configuration guide says. The version policy is Triton's default: the latest
    version folder is served. tests/oip/triton-config.test.ts checks the result against the ONNX graph."""
    def block(kind, specs):
        parts = []
        for s in specs:
            shape = list(s["shape"])
            if max_batch_size > 0:
                if not shape or shape[0] != -1:
                    raise ValueError(f"{name}: {kind} {s['name']} has shape {shape}; the first dimension must be the batch (-1)")
                shape = shape[1:]
            reshape = ""
            if not shape:
                shape, reshape = [1], "\n    reshape: { shape: [ ] }"
            dims = ", ".join(str(d) for d in shape)
            parts.append(f'  {{\n    name: "{s["name"]}"\n    data_type: {TRITON_TYPES[s["dtype"]]}\n    dims: [ {dims} ]{reshape}\n  }}')
        return f"{kind} [\n" + ",\n".join(parts) + "\n]\n"

    text = (
        f'name: "{name}"\nbackend: "onnxruntime"\nmax_batch_size: {max_batch_size}\n'
        + block("input", inputs)
        + block("output", outputs)
        + "version_policy: { latest: { num_versions: 1 } }\n"
    )
    path = os.path.join(MODELS, name, "config.pbtxt")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


def model_path(name, version="1"):
    path = os.path.join(MODELS, name, version, "model.onnx")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


def write_card(name, card, started_at, command, version="1"):
    """Completes and writes models/<name>/card.json. `card` holds the model-specific fields
    (task, description, labels, inputs, outputs, preprocessing, data, metrics, ...). Other version
    folders of the model are removed: one version is served (git history keeps the old ones)."""
    onnx_path = model_path(name, version)
    for other in os.listdir(os.path.join(MODELS, name)):
        if other.isdigit() and other != version:
            shutil.rmtree(os.path.join(MODELS, name, other))
    full = {
        "name": name,
        "version": version,
        **card,
        "artifact": {
            "file": f"models/{name}/{version}/model.onnx",
            "bytes": os.path.getsize(onnx_path),
            "sha256": sha256_file(onnx_path),
        },
        "training": {
            **card.get("training", {}),
            "command": command,
            "seconds": round(datetime.datetime.now().timestamp() - started_at, 1),
            "date": datetime.date.today().isoformat(),
            "code_commit": git_commit(),
            "environment": environment(),
        },
    }
    path = os.path.join(MODELS, name, "card.json")
    with open(path, "w") as f:
        json.dump(full, f, indent=2)
        f.write("\n")
    write_triton_config(name, card["inputs"], card["outputs"])
    print(f"wrote {path}", file=sys.stderr)
    return full


def data_arg(argv, default=DEFAULT_DATA):
    """--data DIR, defaulting to ../shared/data."""
    if "--data" in argv:
        i = argv.index("--data")
        if i + 1 < len(argv):
            return os.path.abspath(argv[i + 1])
    return default


def extra_arg(argv):
    """--extra DIR: items people corrected (`ml-forms feedback export --out DIR`) to add to the
    training split; None without it. Absolute; a missing folder is an error, not an empty set."""
    if "--extra" not in argv:
        return None
    i = argv.index("--extra")
    if i + 1 >= len(argv) or argv[i + 1].startswith("--"):
        raise SystemExit("--extra needs a folder: the output of ml-forms feedback export --out DIR")
    return extra_dir(argv[i + 1])


def extra_dir(path):
    """The --extra folder, absolute, or exit naming it if it is not a folder."""
    path = os.path.abspath(path)
    if not os.path.isdir(path):
        raise SystemExit(f"--extra {path}: no such folder (write it with: npx ml-forms feedback export --out DIR)")
    return path


def card_path(path):
    """A data folder as the card records it: relative to the repository when it is beside it."""
    return os.path.relpath(path, ROOT) if path.startswith(os.path.dirname(ROOT)) else path


def extra_section(path, labels):
    """The card's data.extra for the items added from --extra: their folder, how many, and how many
    per label (labels: one per item; a value model has none, so its by_label is empty). They are in
    the training split only, so n_validation and the metrics stay comparable with a run without."""
    by_label = {}
    for label in labels:
        if label is not None:
            by_label[label] = by_label.get(label, 0) + 1
    return {"path": card_path(path), "n": len(labels), "by_label": dict(sorted(by_label.items())),
            "split": "training only: the validation split is the one of the data without them"}
