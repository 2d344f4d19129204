"""Adds the occlusion map (issue 25, "Why this answer") to the committed malaria graphs without
retraining: malaria_graph.add_explanation on the card's float version (models/malaria/3) and on its
8-bit version (models/malaria/4, where the occluded copies go through the same DequantizeLinear'd
weights), in place. Then the card (artifact and quantized.artifact sizes and sha256, the `explain` input, the
`logits` and `occlusion` outputs, the `explanation` section) and config.pbtxt follow the files.
compose() adds the same nodes to every graph a training writes, so this script is for graphs
composed before it did. Run with Debian's interpreter:

  /usr/bin/python3 training/malaria_explain.py [--grid 4]
  /usr/bin/python3 training/malaria_explain.py --grid 8 --src DIR --out /tmp/g8   (a trial: writes
      /tmp/g8/<version>/model.onnx from graphs without the map, DIR/<version>/model.onnx, e.g.
      `git show 1bdfb7b:models/malaria/3/model.onnx`; leaves models/ alone)

then `npx tsx training/explain-cells.ts --card` measures the map (its cost and the deletion test)
and writes the figures into the card's `explanation.measured`.
"""

import argparse
import hashlib
import json
import os
import sys
import zlib

import onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import malaria_graph  # noqa: E402
from common import MODELS, write_triton_config  # noqa: E402
from quantize import check, serve_both  # noqa: E402

NAME = "malaria"


def tensor_specs(grid):
    """The card's entries for what add_explanation adds."""
    explain = {"name": "explain", "dtype": "bool", "shape": [-1],
               "description": "one flag per image: any flag set computes `occlusion` for the whole batch; with every "
                              "flag false the occluded copies are an empty batch: the probabilities are bit for bit "
                              "those of the graph without the map, for ~0.02 ms more (explanation.measured)"}
    logits = {"name": "logits", "dtype": "float32", "shape": [-1, 2], "on_request": True,
              "description": "calibrated logits in label order (after the view average, the decision shift and the "
                             "temperature; before the softmax and the clip): softmax(logits) is the unclipped "
                             "probabilities"}
    occlusion = {"name": "occlusion", "dtype": "float32", "shape": [-1, grid, grid], "on_request": True,
                 "description": f"[n, r, c] = margin(canvas) - margin(canvas with block (r, c) of the {grid}x{grid} grid "
                                "over the 32x32 canvas set to black), margin = logits[parasitized] - logits[uninfected]: "
                                "higher is more evidence for parasitized; [0, G, G] unless `explain` is set"}
    return explain, [logits, occlusion]


def gzip_size(data):
    """Bytes after gzip at zlib's default level, as the compression middleware serves the file."""
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    return len(c.compress(data) + c.flush())


def explain_file(path, grid, out):
    """Adds the map to the graph at `path`, written to `out`; returns (report, bytes before, bytes after)."""
    model = onnx.load(path)
    if any(i.name == "explain" for i in model.graph.input):
        raise SystemExit(f"{path} already has the explanation (restore it from git to rebuild it)")
    before = os.path.getsize(path)
    known = {n.name for n in model.graph.node}
    report = malaria_graph.add_explanation(model, grid)
    # onnx 1.12 checks opset <= 17: the new nodes and every initializer; onnxruntime loads the whole
    # graph in tests/models/malaria/explain.test.ts.
    checked = check(model, [n for n in model.graph.node if n.name not in known])
    os.makedirs(os.path.dirname(out), exist_ok=True)
    onnx.save(model, out)
    return {**report, "checked": checked}, before, os.path.getsize(out)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--grid", type=int, default=malaria_graph.EXPLANATION_GRID)
    ap.add_argument("--out", help="write <out>/<version>/model.onnx instead, and change nothing in models/")
    ap.add_argument("--src", help="with --out: read <src>/<version>/model.onnx (default: models/malaria)")
    args = ap.parse_args()
    if args.src is not None and args.out is None:
        raise SystemExit("--src needs --out: models/ is only rebuilt from its own files")
    card_path = os.path.join(MODELS, NAME, "card.json")
    with open(card_path) as f:
        card = json.load(f)
    versions = [card["version"], card["quantized"]["version"]]
    sizes = {}
    for version in versions:
        path = os.path.join(args.src or os.path.join(MODELS, NAME), version, "model.onnx")
        out = path if args.out is None else os.path.join(args.out, version, "model.onnx")
        report, before, after = explain_file(path, args.grid, out)
        sizes[version] = (before, after)
        print(f"{os.path.relpath(path)} -> {out}: {before:,} -> {after:,} B; {json.dumps(report)}")
    if args.out is not None:
        return

    explain, outputs = tensor_specs(args.grid)
    card["inputs"] = [t for t in card["inputs"] if t["name"] != "explain"] + [explain]
    card["outputs"] = [t for t in card["outputs"] if t["name"] not in ("logits", "occlusion")] + outputs
    float_file, q8_file = (os.path.join(MODELS, NAME, v, "model.onnx") for v in versions)
    card["artifact"].update(bytes=os.path.getsize(float_file), sha256=sha256(float_file))
    graph = onnx.load(float_file).graph
    card["architecture"]["onnx"].update(ops=sorted({n.op_type for n in graph.node}), nodes=len(graph.node))
    q = card["quantized"]["artifact"]
    with open(float_file, "rb") as f:
        float_gzip = gzip_size(f.read())
    with open(q8_file, "rb") as f:
        q8_gzip = gzip_size(f.read())
    q.update(bytes=os.path.getsize(q8_file), gzip_bytes=q8_gzip,
             share_of_float=round(os.path.getsize(q8_file) / os.path.getsize(float_file), 4),
             gzip_share_of_float=round(q8_gzip / float_gzip, 4), sha256=sha256(q8_file))
    card["explanation"] = {
        **card.get("explanation", {}),
        "method": "occlusion inside the graph: the 32x32 canvas (after the resize and the padding) is cut into "
                  f"{args.grid}x{args.grid} blocks of {32 // args.grid}x{32 // args.grid} pixels; each block is set to "
                  "black (0, the padding's value) in its own copy; the copies go through the prediction's own nodes "
                  "in one batch with the canvas (views, both CNNs, decision shift, temperature), and the map is the "
                  "drop of the margin logit(parasitized) - logit(uninfected). Memory does not grow with the upload: "
                  f"{args.grid * args.grid} copies of the 32x32 canvas per image. probabilities are bit for bit those "
                  "of the graph without the map on the 4,000 validation images, with and without explain set",
        "grid": args.grid,
        "canvas": card["image_size"],
        "how_to_ask": "feed explain = true and fetch `occlusion` (onnxruntime runs every node whatever is fetched, "
                      "so the flag, not the fetch, decides whether the copies run); src/models/malaria/explain.ts "
                      "lays the grid over the uploaded image",
        "bytes_added": {v: after - before for v, (before, after) in sizes.items()},
        "command": "/usr/bin/python3 training/malaria_explain.py; npx tsx training/explain-cells.ts --card",
    }
    with open(card_path, "w") as f:
        json.dump(card, f, indent=2, ensure_ascii=False)
        f.write("\n")
    write_triton_config(NAME, card["inputs"], card["outputs"])
    print(serve_both(NAME, *versions))
    print(f"{os.path.relpath(card_path)}: inputs, outputs, artifact, quantized.artifact, explanation")


if __name__ == "__main__":
    main()
