"""IMDB reviews for the sentiment model (train_sentiment.py, and quantize.py --prune): reads
imdb/train.jsonl.gz or the public aclImdb download into rows {id, text, label}, sorted by id."""

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
        with gzip.open(jsonl, "rt", encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                rows.append({"id": r["id"], "text": r["text"], "label": r["label"]})
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
