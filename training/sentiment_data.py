"""IMDB reviews for the sentiment model (train_sentiment.py, and quantize.py --prune): reads
imdb/train.jsonl.gz or the public aclImdb download into rows {id, text, label}, sorted by id; and
the reviews people corrected (--extra DIR, written by `ml-forms feedback export`) in the same form."""

import glob
import gzip
import json
import os
import sys


def load_reviews(data_dir):
    """Returns a list of dicts {id, text, label} in a fixed order (sorted by id)."""
    jsonl = None
    for cand in (os.path.join(data_dir, "imdb", "train.jsonl.gz"), os.path.join(data_dir, "train.jsonl.gz")):
        if os.path.exists(cand):
            jsonl = cand
            break
    rows = []
    if jsonl:
        rows = read_jsonl(jsonl)
        source = jsonl
    else:
        acl = None
        for cand in (os.path.join(data_dir, "aclImdb"), data_dir):
            if os.path.isdir(os.path.join(cand, "train", "pos")):
                acl = cand
                break
        if acl is None:
            sys.exit(f"no IMDB data in {data_dir}: expected imdb/train.jsonl.gz or aclImdb/train/{{pos,neg}}")
        for sub, label in (("pos", "positive"), ("neg", "negative")):
            for path in glob.glob(os.path.join(acl, "train", sub, "*.txt")):
                stem = os.path.splitext(os.path.basename(path))[0]
                with open(path, encoding="utf-8") as f:
                    rows.append({"id": f"train/{sub}/{stem}", "text": f.read(), "label": label})
        source = os.path.join(acl, "train")
    rows.sort(key=lambda r: r["id"])
    return rows, source


def read_jsonl(path):
    """Rows {id, text, label} of a train.jsonl.gz, in file order."""
    rows = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            rows.append({"id": r["id"], "text": r["text"], "label": r["label"]})
    return rows


def load_extra_reviews(extra_dir, labels):
    """The reviews of DIR/imdb/train.jsonl.gz (ids "feedback/<id>"), sorted by id; [] if the export
    holds none. A label the model does not have stops the run: a typo must not train silently."""
    path = os.path.join(extra_dir, "imdb", "train.jsonl.gz")
    if not os.path.exists(path):
        return []
    rows = read_jsonl(path)
    for r in rows:
        if r["label"] not in labels:
            sys.exit(f"{path}: {r['id']} has the label {r['label']!r}; the labels are {labels}")
        if not isinstance(r["text"], str):
            sys.exit(f"{path}: {r['id']} has no text")
    ids = [r["id"] for r in rows]
    if len(set(ids)) != len(ids):
        sys.exit(f"{path}: an id appears twice")
    rows.sort(key=lambda r: r["id"])
    return rows
