"""8-bit versions of the classifiers (issue 28, stage 1): rewrites a float graph so that its large
weights are stored in 8 bits, and writes it as a separate file. Run with Debian's interpreter:

  /usr/bin/python3 training/quantize.py --model malaria --out /tmp/q8/malaria
  /usr/bin/python3 training/quantize.py --model sentiment --prune 0.4 --out /tmp/q8/sentiment
  (--src PATH: the float graph; by default models/<name>/<version>/model.onnx from the card)

Without --out (what `npm run train -- <model>` runs after training, training/train.sh), the 8-bit
graph is the model's next version, models/<name>/<version + 1>/model.onnx, beside the float one,
and config.pbtxt's version_policy is set to serve both (`specific: { versions: [ v, v + 1 ] }`,
as Triton reads it; the model tier's default stays the float version, the one the card describes).
training/eval-quantized.ts --card then writes the 8-bit version's figures into the card.

malaria: every Conv and Gemm weight becomes a QDQ pair: an int8 initializer with one scale per
  output channel (symmetric, zero point 0) -> DequantizeLinear(axis 0) -> the original op.
  Activations stay float (weights-only QDQ): the biases, the preprocessing and the calibration
  nodes are unchanged.
sentiment: the graph is the n-gram hash table of training/sentiment_graph.py, three tables of
  one value per slot. The two float tables (w·r and r², heavy-tailed: most values below 2, a
  few up to ~40) become uint8 codes into a 256-entry float codebook (1-D k-means; code 0 is
  exactly 0, the value of every free slot): Gather(codes, slots) -> Cast -> Gather(codebook), so
  only the slots a review uses are decoded (the k-means starts from a grid even in asinh(value),
  so the largest weights keep their own centres). A linear int8 scale for these tables would give a
  step of 0.3 where most weights are ~0.8. The 31-bit fingerprints (int32) are kept to their low
  16 bits (int16): the graph compares (fp mod 65536) - 32768 instead of fp. An n-gram that is not
  in the table now matches a slot with probability 2^-16 per lookup instead of ~2^-31 (and a
  match on a free slot adds nothing); training/eval-quantized.ts measures the effect on labels.
  --prune F first drops the fraction F of the n-grams the model uses least: ranked by |w·r| times
  the number of training reviews that contain the n-gram (--prune-by use; by |w·r| alone, the
  labels moved 2-3 times as often), and rebuilds the table for the rest (see prune_sentiment).

Prints the sizes and checks the result with onnx.checker; training/eval-quantized.ts measures
accuracy, agreement, calibration and time in onnxruntime-node.
"""

import argparse
import json
import os
import sys
import types

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import DEFAULT_DATA, MODELS  # noqa: E402

FP_BITS = 16
CODEBOOK = 256


def float_path(name):
    with open(os.path.join(MODELS, name, "card.json")) as f:
        card = json.load(f)
    return os.path.join(MODELS, name, str(card["version"]), "model.onnx")


def card_version(name):
    with open(os.path.join(MODELS, name, "card.json")) as f:
        return int(json.load(f)["version"])


def serve_both(name, float_version, q8_version):
    """config.pbtxt's version policy: the float version and its 8-bit version."""
    path = os.path.join(MODELS, name, "config.pbtxt")
    with open(path) as f:
        lines = [line for line in f.read().splitlines() if not line.startswith("version_policy:")]
    lines.append(f"version_policy: {{ specific: {{ versions: [ {float_version}, {q8_version} ] }} }}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return f"{os.path.relpath(path)}: serves versions {float_version} and {q8_version}"


def initializers(model):
    return {i.name: i for i in model.graph.initializer}


def replace_initializer(model, name, new_tensors):
    """Removes initializer `name`, adds `new_tensors`."""
    keep = [i for i in model.graph.initializer if i.name != name]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep + list(new_tensors))


# ---------------------------------------------------------------- malaria: per-channel int8 QDQ


def quantize_per_channel(w):
    """Symmetric int8 per output channel (axis 0): (q, scale), w ≈ q · scale[c]."""
    flat = np.abs(w.reshape(w.shape[0], -1)).max(1)
    scale = np.where(flat > 0, flat / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.round(w / scale.reshape((-1,) + (1,) * (w.ndim - 1))), -127, 127).astype(np.int8)
    return q, scale


def quantize_malaria(model):
    inits = initializers(model)
    new_nodes, report = [], []
    done = {}
    for node in model.graph.node:
        if node.op_type in ("Conv", "Gemm") and node.input[1] in inits:
            name = node.input[1]
            if node.op_type == "Gemm":
                trans_b = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "transB"), 0)
                if trans_b != 1:
                    raise ValueError(f"{node.name}: Gemm without transB=1 (per-channel axis would be 1)")
            if name not in done:
                w = numpy_helper.to_array(inits[name])
                q, scale = quantize_per_channel(w)
                err = np.abs(q.astype(np.float32) * scale.reshape((-1,) + (1,) * (w.ndim - 1)) - w).max()
                replace_initializer(model, name, [
                    numpy_helper.from_array(q, f"{name}_q"),
                    numpy_helper.from_array(scale, f"{name}_scale"),
                    numpy_helper.from_array(np.zeros(len(scale), dtype=np.int8), f"{name}_zp"),
                ])
                new_nodes.append(helper.make_node("DequantizeLinear", [f"{name}_q", f"{name}_scale", f"{name}_zp"],
                                                  [f"{name}_dq"], name=f"{name}_DequantizeLinear", axis=0))
                done[name] = f"{name}_dq"
                report.append(f"  {name} {list(w.shape)}: int8 per-channel, max abs error {err:.2e} (max |w| {np.abs(w).max():.3f})")
            node.input[1] = done[name]
        new_nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(new_nodes)
    return report


# ---------------------------------------------------------------- sentiment: codebooks, 16-bit fingerprints


def kmeans_1d(values, k, iterations=50):
    """1-D k-means (Lloyd) started from a grid even in asinh(value): dense near 0, where most
    weights are, and still reaching the few large ones (started from quantiles, Lloyd leaves the
    tail without centres: the largest weight, 38, came back as 16). Returns sorted centres."""
    v = np.sort(values.astype(np.float64))
    y = np.arcsinh(v)
    centres = np.unique(np.sinh(np.linspace(y[0], y[-1], k)))
    for _ in range(iterations):
        edges = (centres[:-1] + centres[1:]) / 2
        idx = np.searchsorted(edges, v)
        sums = np.bincount(idx, weights=v, minlength=len(centres))
        counts = np.bincount(idx, minlength=len(centres))
        moved = np.where(counts > 0, sums / np.maximum(counts, 1), centres)
        if np.allclose(moved, centres, rtol=0, atol=1e-9):
            break
        centres = moved
    return np.unique(centres)


def codebook(table):
    """float table -> (uint8 codes, float32 codebook of CODEBOOK entries); code 0 is exactly 0."""
    nonzero = table != 0
    centres = kmeans_1d(table[nonzero], CODEBOOK - 1).astype(np.float32)
    book = np.zeros(CODEBOOK, dtype=np.float32)
    book[1:1 + len(centres)] = centres
    codes = np.zeros(len(table), dtype=np.uint8)
    if nonzero.any():
        edges = (centres[:-1] + centres[1:]) / 2
        codes[nonzero] = 1 + np.searchsorted(edges, table[nonzero])
    return codes, book


def prune_sentiment(model, fraction, data_dir, by, extra_dir=None):
    """Drops the `fraction` of the n-grams with the smallest |w·r| (their whole term in the logit,
    dot and norm) and rebuilds the cuckoo table for the rest (sentiment_graph.Table, same load).
    The table stores no keys: they are found again by running the training split's reviews
    through the graph's Python twins and looking each n-gram key up in the float table. With
    `extra_dir` (npm run train -- sentiment --extra DIR), its reviews were trained on too: they are
    part of the training split here as well."""
    import sentiment_graph as sg
    from common import validation_ids
    from train_sentiment import load_reviews

    inits = {k: numpy_helper.to_array(v) for k, v in initializers(model).items()}
    le = next(n for n in model.graph.node if n.op_type == "LabelEncoder")
    attrs = {a.name: helper.get_attribute_value(a) for a in le.attribute}
    index = {w.decode(): i for w, i in zip(attrs["keys_strings"], attrs["values_int64s"]) if i > 0}
    old = types.SimpleNamespace(n_slots=len(inits["fingerprints"]) - 1, fingerprints=inits["fingerprints"])
    rows, _ = load_reviews(data_dir)
    held = validation_ids((r["id"], r["label"]) for r in rows)
    if extra_dir is not None:
        from sentiment_data import load_extra_reviews
        from sentiment_features import LABELS
        rows = rows + load_extra_reviews(extra_dir, LABELS)
    keys, df = np.unique(np.concatenate([np.unique(sg.ngram_keys(sg.word_ids(sg.tokenize(r["text"]), index), len(index)))
                                         for r in rows if r["id"] not in held]), return_counts=True)
    slots = sg.lookup(old, keys)
    found = slots != old.n_slots
    key_of = np.full(old.n_slots, -1, dtype=np.int64)
    key_of[slots[found]] = keys[found]
    df_of = np.zeros(old.n_slots, dtype=np.int64)
    df_of[slots[found]] = df[found]
    if len(np.unique(slots[found])) != int(found.sum()):
        raise RuntimeError("two training n-grams share a table entry (a fingerprint collision): keys are ambiguous")
    used = np.flatnonzero(old.fingerprints[:old.n_slots] >= 0)
    if (key_of[used] < 0).any():
        raise RuntimeError(f"{int((key_of[used] < 0).sum())} table entries not found in the training reviews")
    wr, r2 = inits["slot_weight"][used], inits["slot_r2"][used]
    score = np.abs(wr) * (df_of[used] if by == "use" else 1)
    keep = np.sort(np.argsort(-score, kind="stable")[: int(round(len(used) * (1 - fraction)))])
    table = sg.Table(key_of[used][keep])
    replace_initializer(model, "fingerprints", [numpy_helper.from_array(table.fingerprints, "fingerprints")])
    replace_initializer(model, "slot_weight", [numpy_helper.from_array(table.column(wr[keep]), "slot_weight")])
    replace_initializer(model, "slot_r2", [numpy_helper.from_array(table.column(r2[keep]), "slot_r2")])
    replace_initializer(model, "S", [numpy_helper.from_array(np.array(table.n_slots, dtype=np.int64), "S")])
    replace_initializer(model, "S1", [numpy_helper.from_array(np.array(table.n_slots + 1, dtype=np.int64), "S1")])
    rank = "|w·r| × document frequency" if by == "use" else "|w·r|"
    return [f"  pruned {len(used) - len(keep):,} of {len(used):,} n-grams (smallest {rank}); "
            f"table rebuilt: {old.n_slots + 1:,} -> {table.n_slots + 1:,} slots"]


def quantize_sentiment(model):
    inits = initializers(model)
    g = model.graph
    report = []
    extra_inits, insert_after = [], {}  # node output name -> nodes to insert after that node

    # value tables: Gather(table, u_slot) -> out   becomes   Gather(codes) -> Cast -> Gather(book) -> out
    for table in ("slot_weight", "slot_r2"):
        values = numpy_helper.to_array(inits[table])
        codes, book = codebook(values)
        err = np.abs(book[codes] - values)
        report.append(f"  {table} [{len(values)}] float32 -> uint8 codes + {CODEBOOK}-entry codebook: "
                      f"max abs error {err.max():.3e}, mean {err[values != 0].mean():.3e} (max |v| {np.abs(values).max():.2f})")
        replace_initializer(model, table, [numpy_helper.from_array(codes, f"{table}_codes"),
                                           numpy_helper.from_array(book, f"{table}_codebook")])
        users = [n for n in g.node if n.op_type == "Gather" and n.input[0] == table]
        if len(users) != 1:
            raise ValueError(f"expected one Gather of {table}, found {len(users)}")
        user = users[0]
        out = user.output[0]
        user.input[0] = f"{table}_codes"
        user.output[0] = f"{out}_code"
        insert_after[user.output[0]] = [
            helper.make_node("Cast", [f"{out}_code"], [f"{out}_code64"], to=TensorProto.INT64),
            helper.make_node("Gather", [f"{table}_codebook", f"{out}_code64"], [out], axis=0),
        ]

    # fingerprints: keep the low 16 bits, stored as int16 (value - 32768)
    fps = numpy_helper.to_array(inits["fingerprints"]).astype(np.int64)
    half = 1 << (FP_BITS - 1)
    fp16 = ((fps % (1 << FP_BITS)) - half).astype(np.int16)
    replace_initializer(model, "fingerprints", [numpy_helper.from_array(fp16, "fingerprints16")])
    extra_inits += [numpy_helper.from_array(np.array(1 << FP_BITS, dtype=np.int64), "fp_mod"),
                    numpy_helper.from_array(np.array(half, dtype=np.int64), "fp_half")]
    report.append(f"  fingerprints [{len(fps)}] int32 (31-bit) -> int16 (low {FP_BITS} bits)")
    # the key's fingerprint: Cast(fp64 -> INT32) -> fp   becomes   Mod, Sub, Cast -> fp
    casts = [n for n in g.node if n.op_type == "Cast" and n.input[0] == "fp64"]
    if len(casts) != 1:
        raise ValueError("expected one Cast of fp64")
    casts[0].input[0] = "fp64_16"
    insert_after["fp64"] = [helper.make_node("Mod", ["fp64", "fp_mod"], ["fp64_mod"]),
                            helper.make_node("Sub", ["fp64_mod", "fp_half"], ["fp64_16"])]
    for user in [n for n in g.node if n.op_type == "Gather" and n.input[0] == "fingerprints"]:
        out = user.output[0]
        user.input[0] = "fingerprints16"
        user.output[0] = f"{out}_16"
        insert_after[user.output[0]] = [helper.make_node("Cast", [f"{out}_16"], [out], to=TensorProto.INT32)]

    nodes = []
    for node in g.node:
        nodes.append(node)
        for o in node.output:
            nodes.extend(insert_after.pop(o, []))
    if insert_after:
        raise ValueError(f"not inserted: {list(insert_after)}")
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend(extra_inits)
    return report


def check(model, added):
    """onnx.checker on the result. onnx 1.12 knows opsets up to 17: a graph of a later opset (the
    malaria graph, 18, for Resize's antialias and ReduceMean's axes input; see
    training/malaria_graph.py) cannot pass its check_model, so there every node this script added
    and every initializer are checked one by one against opset 17 (DequantizeLinear has not
    changed from 13 to 18), and onnxruntime loads the whole graph in eval-quantized.ts."""
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if opset <= 17:
        # (full_check's shape inference crashes onnx 1.12 on the com.microsoft Tokenizer)
        onnx.checker.check_model(model)
        return "onnx.checker.check_model: ok"
    ctx = onnx.checker.C.CheckerContext()
    ctx.ir_version = model.ir_version
    ctx.opset_imports = {"": 17}
    for tensor in model.graph.initializer:
        onnx.checker.check_tensor(tensor, ctx)
    for node in added:
        onnx.checker.check_node(node, ctx)
    return f"opset {opset} > 17: onnx.checker on the {len(added)} added nodes and all initializers: ok"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, choices=["malaria", "sentiment"])
    ap.add_argument("--out", help="folder for model.onnx (default: models/<name>/<version + 1>, served beside the float version)")
    ap.add_argument("--src", help="float graph (default: the card's version in models/)")
    ap.add_argument("--prune", type=float, default=0.0, help="sentiment: fraction of n-grams to drop (smallest |w·r|)")
    ap.add_argument("--prune-by", choices=["weight", "use"], default="use",
                    help="rank n-grams by |w·r| (weight) or |w·r| × training reviews containing them (use)")
    ap.add_argument("--data", default=DEFAULT_DATA, help="with --prune: the IMDB data (as train_sentiment.py)")
    ap.add_argument("--extra", help="with --prune: the feedback export the float version was also trained on (as train_sentiment.py)")
    args = ap.parse_args()
    src = args.src or float_path(args.model)
    model = onnx.load(src)
    if args.model == "malaria":
        report = quantize_malaria(model)
    else:
        report = prune_sentiment(model, args.prune, args.data, args.prune_by, args.extra) if args.prune > 0 else []
        report += quantize_sentiment(model)
    model.producer_name = "ml-forms training/quantize.py"
    added = [n for n in model.graph.node if n.op_type == "DequantizeLinear"]
    checked = check(model, added)
    in_repo = args.out is None
    if in_repo and args.src is not None:
        raise SystemExit("--src needs --out: the repository's next version is made from the card's float version")
    out_dir = args.out or os.path.join(MODELS, args.model, str(card_version(args.model) + 1))
    os.makedirs(out_dir, exist_ok=True)
    out = os.path.join(out_dir, "model.onnx")
    onnx.save(model, out)
    a, b = os.path.getsize(src), os.path.getsize(out)
    print(f"{args.model}: {src} ({a:,} B) -> {out} ({b:,} B, {100 * b / a:.1f} %)")
    print("\n".join(report))
    print(checked)
    if in_repo:
        print(serve_both(args.model, card_version(args.model), card_version(args.model) + 1))


if __name__ == "__main__":
    main()
