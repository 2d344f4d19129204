"""Movie-review sentiment v2: NB-weighted logistic regression (Wang & Manning's NBSVM features with
a logistic loss) on word uni-, bi- and trigrams of the IMDB Large Movie Review Dataset, exported as
one ONNX graph that takes the raw review text (see sentiment_graph.py for the graph).

Features: for each n-gram of the vocabulary, "is it in the review" (binary), times its log-count
ratio r = log((p / |p|) / (q / |q|)) with p, q = 1 + the number of positive, negative training
reviews containing it; the vector is L2-normalised per review. The vocabulary:
  1. words: the WORDS_MAX most frequent (by document frequency) in >= 2 training reviews; any other
     word is UNK; n-grams stop at '<br />' (the token 'br');
  2. every uni-, bi- and trigram over those ids in >= MIN_DF training reviews (~760,000);
  3. a classifier on all of them (C = RANK_C) ranks them by |coefficient × r|; the top `ngrams`
     are kept, the word list shrinks to the words they contain (the rest become UNK), and the
     classifier is refitted on those n-grams alone.
The graph keeps the n-grams in a hash table held in tensors, the words in a LabelEncoder: the
session memory per n-gram is ~12 bytes instead of the ~350 of TfIdfVectorizer's maps (v1).

Usage: /usr/bin/python3 training/train_sentiment.py [--data DIR] [--extra DIR] [--tune]
       (or: npm run train -- sentiment)

--data DIR   DIR/imdb/train.jsonl.gz (default ../shared/data), or the public download:
             DIR/aclImdb/train/{pos,neg}/*.txt, or DIR itself = aclImdb
--extra DIR  also train on DIR/imdb/train.jsonl.gz, the reviews people corrected and shared
             (npx ml-forms feedback export --out DIR): training split only, the validation split
             and so the card's metrics stay those of the data alone; the card's data.extra counts them
--tune       re-run the comparison (vocabulary sizes x C, each exported to ONNX and its session
             memory, file size and latency measured in onnxruntime-node); without it FINAL is
             trained and the card keeps the table of the last tuning run (TUNING_RESULTS).

After training, every validation review goes through the exported graph in onnxruntime-node
(node must be on PATH, `npm ci` done): the card's accuracy and calibration are those of the graph,
and its logits must match the Python model's.
"""

import json
import os
import sys
import time

import numpy as np
import onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import calibration  # noqa: E402
import common  # noqa: E402
import sentiment_graph as sg  # noqa: E402

# The parts, one concern each: sentiment_data (reading the reviews), sentiment_features (words,
# n-grams, features, Data), sentiment_model (one configuration fitted, its graph), sentiment_tune
# (--tune and TUNING_RESULTS), sentiment_node (the checks in onnxruntime-node). This file: the run
# and the card. load_reviews is also imported from here by training/quantize.py.
from sentiment_data import load_extra_reviews, load_reviews  # noqa: E402
from sentiment_features import LABELS, MIN_DF, RANK_C, SEED, WORDS_MAX, Data  # noqa: E402
from sentiment_model import fit, graph, order_counts  # noqa: E402
from sentiment_node import LATENCY_CHARS, latency_review, measure_session, node_check, node_version  # noqa: E402
from sentiment_tune import FINAL, TUNING_RESULTS, tune  # noqa: E402


VERSION = "2"
# The card's description of sentiment_graph.explanation()'s outputs: returned only to a caller that
# names them (`on_request`: the app's backends and the model tier leave them out otherwise), and
# computed only for the reviews whose `explain` flag (EXPLAIN_INPUT) is set. The keys in the order
# of the app's card schema (src/predictors/types.ts), so a card read through it and the same card
# read raw compare equal.
EXPLANATION_OUTPUTS = [
    {"name": "contributions", "dtype": "float32", "shape": [-1, 3, -1],
     "description": "only when asked: explanations. [n, k, i]: the share of the (k+1)-gram of tokens i..i+k of review n "
                    "in the calibrated logit (T, the last dimension: the batch's longest review in tokens); 0 where "
                    "the n-gram is not formed or not in the table (see explanation), and for a review whose `explain` "
                    "flag is false",
     "on_request": True},
    {"name": "contribution_bias", "dtype": "float32", "shape": [-1],
     "description": "only when asked: explanations. bias / temperature: the part of review n's calibrated logit "
                    "that no n-gram makes",
     "on_request": True},
]
EXPLAIN_INPUT = {"name": sg.EXPLAIN_INPUT, "dtype": "bool", "shape": [-1], "description": sg.EXPLAIN_DESCRIPTION}


def training_extra(extra_dir, rows):
    """The corrected reviews of --extra DIR (none without it), for the training split only: the
    split above is made from the data alone, so the validation reviews and the card's metrics stay
    those of a run without them. An id the data already has would be a review counted twice."""
    if extra_dir is None:
        return []
    extra = load_extra_reviews(extra_dir, LABELS)
    known = {r["id"] for r in rows}
    twice = [r["id"] for r in extra if r["id"] in known]
    if twice:
        sys.exit(f"--extra {extra_dir}: {len(twice)} ids are also in the data (first {twice[0]})")
    by_label = common.extra_section(extra_dir, [r["label"] for r in extra])["by_label"]
    print(f"+ {len(extra)} corrected reviews from {extra_dir} in the training split {by_label}", file=sys.stderr)
    return extra


def main():
    started = time.time()
    argv = sys.argv[1:]
    data_dir = common.data_arg(argv)
    extra_dir = common.extra_arg(argv)
    rows, source = load_reviews(data_dir)
    held = common.validation_ids([(r["id"], r["label"]) for r in rows])
    train = [r for r in rows if r["id"] not in held]
    val = [r for r in rows if r["id"] in held]
    print(f"{len(train)} train, {len(val)} validation reviews from {source}", file=sys.stderr)
    extra = training_extra(extra_dir, rows)
    train += extra
    review_row, review_text = latency_review(val)
    data = Data(train, val)

    selection = TUNING_RESULTS
    config = dict(FINAL)
    if "--tune" in argv:
        selection = tune(data, review_text)
        config = dict(selection["chosen"])
        print(json.dumps(selection, indent=1))
    t0 = time.time()
    m = fit(data, config["ngrams"], config["C"])
    fit_seconds = data.seconds + time.time() - t0
    print(f"validation accuracy (Python) {m['accuracy']:.4f}, {m['n_ngrams']} n-grams, {len(m['words'])} words", file=sys.stderr)

    y = data.y_val
    ids = [r["id"] for r in val]
    two_col = np.stack([np.zeros_like(m["logits"]), m["logits"]], axis=1)
    cal = calibration.calibrate(two_col, y, ids)
    model = graph(m, cal["temperature"], cal["cap"])
    path = common.model_path("sentiment", VERSION)
    onnx.save(model, path)
    n_bytes = os.path.getsize(path)
    print(f"wrote {path} ({n_bytes} bytes)", file=sys.stderr)

    check = node_check(path, graph(m, cal["temperature"], cal["cap"], debug=True), val)
    graph_logits = np.array(check["logits"], dtype=np.float64)
    max_logit_diff = float(np.abs(graph_logits - m["logits"]).max())
    probs = np.stack([1 - np.array(check["probs"]), np.array(check["probs"])], axis=1).astype(np.float64)
    max_prob_diff = float(np.abs(probs - calibration.apply(two_col, cal)).max())
    if max_logit_diff > 1e-3 or max_prob_diff > 1e-4 or check["batchDiff"] > 1e-5:
        sys.exit(f"ONNX graph disagrees with the Python model: logits {max_logit_diff}, probabilities {max_prob_diff}, "
                 f"batch {check['batchDiff']}")
    for e in check["edge"][:3]:  # no known n-gram: logit = bias
        if abs(e["logit"] - m["bias"]) > 1e-5:
            sys.exit(f"edge case {e} does not give the bias {m['bias']}")
    pred = probs.argmax(1)
    acc = float((pred == y).mean())
    tp = int(((pred == 1) & (y == 1)).sum())
    precision, recall = tp / max(1, int((pred == 1).sum())), tp / int((y == 1).sum())
    mem = measure_session(path, review_text)
    print("session", json.dumps(mem), file=sys.stderr)
    counts = order_counts(m["vocab"], len(m["words"]))

    card = {
        "task": "binary text classification",
        "description": "Logistic regression on Naive-Bayes-weighted word uni-, bi- and trigram features of IMDB movie "
                       "reviews: says whether an English movie review is negative or positive.",
        "labels": LABELS,
        "inputs": [{"name": "review", "dtype": "string", "shape": [-1], "description": "raw review text"}, EXPLAIN_INPUT],
        "outputs": [{"name": "probabilities", "dtype": "float32", "shape": [-1, 2],
                     "description": "calibrated [negative, positive]"},
                    *EXPLANATION_OUTPUTS],
        "preprocessing": (
            "none: pass the raw review; everything happens inside the graph. StringNormalizer (LOWER, locale C.UTF-8: "
            "non-ASCII letters are lower-cased too) -> com.microsoft Tokenizer (RE2 tokenexp "
            f"{sg.TOKEN_PATTERN}: runs of Unicode letters, marks and numbers of any script with inner apostrophes, so "
            "'café' stays 'café'; everything else separates words) -> LabelEncoder word -> id "
            f"({len(m['words']):,} words; any other word is UNK; 'br', from '<br />', breaks n-grams) -> uni-, bi- and "
            "trigram keys -> lookup in an n-gram hash table held in tensors (cuckoo hashing, 31-bit fingerprints) -> "
            "binary features of the distinct n-grams found, times their log-count ratio, L2-normalised -> logistic "
            f"regression -> / temperature {cal['temperature']:.4f} -> sigmoid -> [1-p, p]"
            + (f", clipped to [{1 - cal['cap']:g}, {cal['cap']:g}]" if cal["cap"] is not None else "") + "."
        ),
        "explanation": sg.EXPLANATION,
        "data": {
            "source": "Large Movie Review Dataset v1.0 (Maas et al., ACL 2011), 25,000 labelled training reviews",
            "path": os.path.relpath(source, common.ROOT) if source.startswith(os.path.dirname(common.ROOT)) else source,
            "n_train": len(train),
            "n_validation": len(val),
            "split": "stratified by label: within each label ordered by sha1('42:'+id), first 20% held out",
            "validation_ids_sha256": common.ids_digest(held),
            **({"extra": common.extra_section(extra_dir, [r["label"] for r in extra])} if extra_dir is not None else {}),
        },
        "metrics": {
            "validation": {
                "accuracy": round(acc, 4),
                "n": len(val),
                "precision": round(precision, 4),
                "recall": round(recall, 4),
                "positive_class": "positive",
                "measured_with": "the committed graph in onnxruntime-node on every validation review",
                "python_accuracy": round(m["accuracy"], 4),
                "onnx_max_abs_logit_difference": float(f"{max_logit_diff:.3g}"),
            }
        },
        "calibration": calibration.card_section(cal, probs, y, "reviews"),
        "vocabulary": {
            "words": len(m["words"]),
            "ngrams": m["n_ngrams"],
            **counts,
            "selection": (
                f"from the {len(data.vocab0):,} uni-, bi- and trigrams (over the {WORDS_MAX:,} most frequent words, others "
                f"UNK) in >= {MIN_DF} training reviews, the top {config['ngrams']:,} by |coefficient x r| of a classifier "
                f"(C {RANK_C:g}) fitted on all of them on the training split; the word list is then cut to the words of "
                "the kept n-grams and the classifier refitted on those n-grams alone"
            ),
            "token_pattern": sg.TOKEN_PATTERN,
            "lowercase": "per code point (towlower in locale C.UTF-8)",
            "break_tokens": list(sg.BREAK_TOKENS),
            "features": "binary (present or not) x log-count ratio r, L2-normalised per review",
            "r": "log((p/|p|) / (q/|q|)), p and q = 1 + the positive and negative training reviews containing the n-gram",
            "table": {"slots": m["table"].n_slots, "load": round(m["n_ngrams"] / m["table"].n_slots, 3),
                      "bytes_per_slot": 12, "hashing": "cuckoo, 2 slots per key, 31-bit fingerprint"},
        },
        "classifier": {"type": "LogisticRegression (L2, liblinear dual) on NB-weighted features", "C": config["C"],
                       "bias": round(m["bias"], 6)},
        "selection": selection,
        "performance": {
            "onnx_ms_per_review_median": mem["ms_per_review_median"],
            "onnx_ms_per_review_p90": mem["ms_per_review_p90"],
            "how": f"onnxruntime-node {mem['ort']} with the app's session options (intraOpNumThreads 1), one review of "
                   f"{LATENCY_CHARS:,} characters (the start of {review_row['id']}), median of 300 single-review runs "
                   f"after 20 warm-up runs; median of 5 processes; {os.cpu_count()} CPU cores shared with other work",
        },
        "memory": {
            "session_rss_mb": mem["session_rss_mb"],
            "how": f"onnxruntime-node {mem['ort']} on Node {node_version()}: in a fresh process, RSS "
                   "(process.memoryUsage().rss) after InferenceSession.create(model, the app's options) and one review "
                   "run, minus RSS just before create (after require('onnxruntime-node')); median of 5 processes. It "
                   "includes onnxruntime's one-time set-up (~26 MB, paid by the first session of a process whatever "
                   "the model); the v1 model (40,000 uni- and bigrams in TfIdfVectorizer) measured 37.6 MB that way.",
        },
        "training": {"seed": SEED, "fit_seconds": round(fit_seconds, 1)},
    }
    command = "npm run train -- sentiment" + (f" --extra {common.card_path(extra_dir)}" if extra_dir is not None else "")
    common.write_card("sentiment", card, started, command, VERSION)
    print(f"sentiment: {acc:.4f} validation accuracy (graph), ECE {cal['ece']:.4f} cross-fitted, {n_bytes} bytes, "
          f"{mem['session_rss_mb']} MB session, {mem['ms_per_review_median']} ms per {LATENCY_CHARS}-character review")


if __name__ == "__main__":
    main()
