"""The words the sentiment graph knows, for the prediction log's `unknown_share` (issue 26): the keys
of the graph's LabelEncoder that map to a word id (1..W), one a line in id order (line n is id n),
written beside the graph as models/sentiment/<version>/vocabulary.txt. The server reads that file
once (src/monitoring/features.ts) instead of the graph's protobuf; the keys mapped to -1 (the
padding and the break tokens) are not words and are left out. Run with Debian's interpreter:

  /usr/bin/python3 training/sentiment_vocabulary.py            every version folder with a model.onnx
  /usr/bin/python3 training/sentiment_vocabulary.py --version 2

tests/models/monitoring.test.ts reads the LabelEncoder from the graph again (its own protobuf
reader) and checks that the file is exactly its word list.
"""

import argparse
import os

import onnx

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
MODEL_DIR = os.path.join(ROOT, "models", "sentiment")
FILE = "vocabulary.txt"


def graph_words(model_path):
    """The LabelEncoder's words in id order; fails unless the graph has exactly one LabelEncoder
    whose word ids are 1..W."""
    model = onnx.load(model_path, load_external_data=False)
    encoders = [n for n in model.graph.node if n.op_type == "LabelEncoder"]
    if len(encoders) != 1:
        raise SystemExit(f"{model_path}: expected one LabelEncoder, found {len(encoders)}")
    attrs = {a.name: a for a in encoders[0].attribute}
    keys = [s.decode("utf-8") for s in attrs["keys_strings"].strings]
    ids = list(attrs["values_int64s"].ints)
    words = sorted(((i, k) for k, i in zip(keys, ids) if i >= 1))
    if [i for i, _ in words] != list(range(1, len(words) + 1)):
        raise SystemExit(f"{model_path}: the word ids are not 1..{len(words)}")
    for _, word in words:
        if "\n" in word or word != word.strip():
            raise SystemExit(f"{model_path}: the word {word!r} cannot be written one a line")
    return [w for _, w in words]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--version", help="one version folder of models/sentiment (default: every one with a model.onnx)")
    args = ap.parse_args()
    versions = [args.version] if args.version else sorted(
        v for v in os.listdir(MODEL_DIR) if os.path.isfile(os.path.join(MODEL_DIR, v, "model.onnx")))
    for version in versions:
        words = graph_words(os.path.join(MODEL_DIR, version, "model.onnx"))
        out = os.path.join(MODEL_DIR, version, FILE)
        with open(out, "w", encoding="utf-8", newline="\n") as f:
            f.write("".join(w + "\n" for w in words))
        print(f"{os.path.relpath(out, ROOT)}: {len(words):,} words")


if __name__ == "__main__":
    main()
