"""Adds the explanation (sentiment_graph.explanation: the input `explain`, the outputs
`contributions` and `contribution_bias`) to a sentiment graph that does not have it, by tensor
names, without retraining: every node, initializer, input and output of the graph stays as it is
(checked; the new ones come after them), so `probabilities` do not change (checked on the 5,000
validation reviews with `explain` false and true). Used for the committed versions 2 (float) and
3 (8-bit, from quantize.py), starting from them as they were before any explanation (git commit
1bdfb7b); a new training run gets it from build() itself, and quantize.py carries it into the
8-bit version.

  /usr/bin/python3 training/sentiment_explain.py --from 1bdfb7b models/sentiment/2/model.onnx models/sentiment/3/model.onnx

--from COMMIT reads each graph as it is at that commit (`git show`, read only) and writes it to the
path; without it each file is rewritten in place. A graph that has the outputs already is refused
(the nodes would be added twice). tests/models/sentiment/contributions.test.ts checks the result
in onnxruntime-node.
"""

import argparse
import os
import subprocess
import sys

import onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sentiment_graph as sg  # noqa: E402


def add_explanation(model):
    """Appends explanation()'s nodes, initializers, outputs and input to `model` (in place). Raises
    if a tensor they read is missing or a name they write is taken (the branches' nodes included)."""
    g = model.graph
    nodes, inits, outputs, flag = sg.explanation()
    branches = [n for node in nodes for a in node.attribute if a.type == onnx.AttributeProto.GRAPH for n in a.g.node]
    every = nodes + branches
    known = {i.name for i in g.initializer} | {i.name for i in g.input} | {o for node in g.node for o in node.output}
    written = {o for node in every for o in node.output if o} | {i.name for i in inits} | {flag.name}
    taken = sorted(written & known)
    if taken:
        raise ValueError(f"names already in the graph: {taken}")
    available = known | written
    missing = sorted({i for node in every for i in node.input if i and i not in available})
    if missing:
        raise ValueError(f"tensors the explanation reads are not in the graph: {missing}")
    g.node.extend(nodes)
    g.initializer.extend(inits)
    g.output.extend(outputs)
    g.input.append(flag)


def same_prediction_part(before, after):
    """The graph before is a prefix of the graph after: the same nodes, initializers, inputs and
    outputs, in the same order, before the added ones."""
    b, a = before.graph, after.graph
    prefix = lambda field: list(getattr(b, field)) == list(getattr(a, field))[: len(getattr(b, field))]  # noqa: E731
    return all(prefix(field) for field in ("node", "initializer", "input", "output"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--from", dest="commit", help="start from each graph as it is at this git commit")
    ap.add_argument("paths", nargs="+")
    args = ap.parse_args()
    for path in args.paths:
        if args.commit:
            root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
            rel = os.path.relpath(os.path.abspath(path), root)
            data = subprocess.run(["git", "show", f"{args.commit}:{rel}"], check=True, capture_output=True, cwd=root).stdout
        else:
            with open(path, "rb") as f:
                data = f.read()
        model, before = onnx.load_from_string(data), onnx.load_from_string(data)
        if any(o.name in sg.EXPLANATION_OUTPUTS for o in model.graph.output):
            raise SystemExit(f"{path}: has the explanation outputs already; start from the graph without them (--from)")
        size = len(data)
        add_explanation(model)
        if not same_prediction_part(before, model):
            raise SystemExit(f"{path}: the prediction's part of the graph changed")
        onnx.checker.check_model(model)
        onnx.save(model, path)
        print(f"{path}: {size:,} -> {os.path.getsize(path):,} B; outputs {[o.name for o in model.graph.output]}")


if __name__ == "__main__":
    main()
