"""Adds the explanation outputs (sentiment_graph.explanation: `contributions`, `contribution_bias`)
to a sentiment graph that already exists, by tensor names, without retraining: every node and
initializer of the graph stays as it is (checked), but for the Unique over the (review, slot)
pairs, which also returns each pair's inverse indices and counts; `probabilities` do not change
(tests/models/sentiment/contributions.test.ts, and 5,000 validation reviews). Used once
for the committed versions 2 (float) and 3 (8-bit, from quantize.py); a new training run gets the
outputs from build() itself, and quantize.py carries them into the 8-bit version.

  /usr/bin/python3 training/sentiment_explain.py models/sentiment/2/model.onnx models/sentiment/3/model.onnx

Each file is rewritten in place. A graph that has the outputs already is left alone.
tests/models/sentiment/contributions.test.ts checks the result in onnxruntime-node.
"""

import os
import sys

import onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sentiment_graph as sg  # noqa: E402


def add_explanation(model):
    """Gives the prediction's Unique the outputs sg.UNIQUE_OUTPUTS and appends explanation()'s
    nodes, initializers and outputs to `model` (in place). Raises if a tensor they read is missing
    or a name they write is taken."""
    g = model.graph
    uniques = [node for node in g.node if node.op_type == "Unique" and list(node.input) == ["all_pairs"]]
    if len(uniques) != 1 or uniques[0].output[0] != sg.UNIQUE_OUTPUTS[0]:
        raise ValueError("expected one Unique of all_pairs giving uniq")
    del uniques[0].output[:]
    uniques[0].output.extend(sg.UNIQUE_OUTPUTS)
    nodes, inits, outputs = sg.explanation()
    known = {i.name for i in g.initializer} | {i.name for i in g.input} | {o for node in g.node for o in node.output}
    written = {o for node in nodes for o in node.output if o} | {i.name for i in inits}
    taken = sorted(written & known)
    if taken:
        raise ValueError(f"names already in the graph: {taken}")
    available = known | written
    missing = sorted({i for node in nodes for i in node.input if i and i not in available})
    if missing:
        raise ValueError(f"tensors the explanation reads are not in the graph: {missing}")
    g.node.extend(nodes)
    g.initializer.extend(inits)
    g.output.extend(outputs)


def same_prediction_part(before, after):
    """The graph before is a prefix of the graph after: the same nodes (but for the Unique's two
    further outputs), initializers and inputs."""
    b, a = before.graph, after.graph
    trimmed = []
    for node in list(a.node)[: len(b.node)]:
        if node.op_type == "Unique":
            copy = type(node)()
            copy.CopyFrom(node)
            del copy.output[1:]
            node = copy
        trimmed.append(node)
    return (list(b.node) == trimmed and list(b.initializer) == list(a.initializer)[: len(b.initializer)]
            and list(b.input) == list(a.input) and list(b.output) == list(a.output)[: len(b.output)])


def main():
    paths = sys.argv[1:]
    if not paths:
        raise SystemExit(__doc__)
    for path in paths:
        model = onnx.load(path)
        if any(o.name in sg.EXPLANATION_OUTPUTS for o in model.graph.output):
            print(f"{path}: has the explanation outputs already")
            continue
        before = onnx.load(path)
        size = os.path.getsize(path)
        add_explanation(model)
        if not same_prediction_part(before, model):
            raise SystemExit(f"{path}: the prediction's part of the graph changed")
        onnx.checker.check_model(model)
        onnx.save(model, path)
        print(f"{path}: {size:,} -> {os.path.getsize(path):,} B; outputs {[o.name for o in model.graph.output]}")


if __name__ == "__main__":
    main()
