"""Movie-review sentiment: logistic regression on word uni+bigram TF-IDF features (sublinear tf,
smoothed idf, L2 norm) of the IMDB Large Movie Review Dataset, exported as one ONNX graph that
takes the raw review text (see sentiment_graph.py for the graph).

Usage: /usr/bin/python3 training/train_sentiment.py [--data DIR] [--tune]
       (or: npm run train -- sentiment)

--data DIR   DIR/imdb/train.jsonl.gz (default ../shared/data), or the public download:
             DIR/aclImdb/train/{pos,neg}/*.txt, or DIR itself = aclImdb
--tune       re-run the small validation grid (C, min_df, stop words) before training the final
             model; without it the final configuration below is trained directly and the card
             keeps the grid results from the last tuning run (TUNING_RESULTS).

After training, the script runs the whole validation split through the exported graph in
onnxruntime-node (node must be on PATH, `npm ci` done) to check parity with the Python features
and to measure the ONNX accuracy and single-review latency.
"""

import glob
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import sentiment_graph  # noqa: E402

SEED = 42
LABELS = ["negative", "positive"]
# Final configuration (chosen with --tune on the validation split, see TUNING_RESULTS).
FINAL = {"min_df": 2, "C": 10.0, "stopwords": False}
GRID = {"min_df": [2, 5], "C": [3.0, 10.0, 30.0]}
DROP_TOKENS = {"br"}  # what the <br /> tags tokenise to: formatting, not words
# Results of the last `--tune` run (validation accuracy, 20,000 train / 5,000 validation reviews).
TUNING_RESULTS = {
    "grid": [
        {"min_df": 2, "C": 3.0, "stopwords": False, "features": 363782, "accuracy": 0.9064},
        {"min_df": 2, "C": 10.0, "stopwords": False, "features": 363782, "accuracy": 0.9104},
        {"min_df": 2, "C": 30.0, "stopwords": False, "features": 363782, "accuracy": 0.9104},
        {"min_df": 5, "C": 3.0, "stopwords": False, "features": 130699, "accuracy": 0.9072},
        {"min_df": 5, "C": 10.0, "stopwords": False, "features": 130699, "accuracy": 0.908},
        {"min_df": 5, "C": 30.0, "stopwords": False, "features": 130699, "accuracy": 0.909},
        {"min_df": 2, "C": 10.0, "stopwords": True, "features": 281462, "accuracy": 0.9084},
    ],
    "chosen": FINAL,
    "rule": "highest validation accuracy (ties: smaller C); NLTK stop-word removal compared at the best min_df and C",
}


# ---------------------------------------------------------------------------------------- data

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


def load_stopwords(data_dir):
    path = os.path.join(data_dir, "stopwords-en.txt")
    if not os.path.exists(path):
        path = os.path.join(common.DEFAULT_DATA, "stopwords-en.txt")
    with open(path, encoding="utf-8") as f:
        return {w.strip() for w in f if w.strip()}


# ------------------------------------------------------------------------------------ features

def ngrams(tokens):
    """Unigrams and adjacent bigrams ("a b"), as TfIdfVectorizer(min 1, max 2, skip 0) counts them.
    N-grams containing a dropped token are left out of the vocabulary (the graph still sees the
    token, so no bigram is formed across it on either side)."""
    out = [t for t in tokens if t not in DROP_TOKENS]
    out += [f"{a} {b}" for a, b in zip(tokens, tokens[1:]) if a not in DROP_TOKENS and b not in DROP_TOKENS]
    return out


def vectorizer(min_df):
    return TfidfVectorizer(analyzer=ngrams, min_df=min_df, sublinear_tf=True, smooth_idf=True, norm="l2", dtype=np.float64)


def fit_lr(x, y, C):
    return LogisticRegression(C=C, solver="liblinear", dual=True, max_iter=2000, random_state=SEED).fit(x, y)


def tune(tok_train, y_train, tok_val, y_val, stopwords):
    results = []
    best = None
    for min_df in GRID["min_df"]:
        vec = vectorizer(min_df)
        xt, xv = vec.fit_transform(tok_train), None
        xv = vec.transform(tok_val)
        for C in GRID["C"]:
            acc = accuracy_score(y_val, fit_lr(xt, y_train, C).predict(xv))
            row = {"min_df": min_df, "C": C, "stopwords": False, "features": len(vec.vocabulary_), "accuracy": round(acc, 4)}
            print("tune", row, file=sys.stderr)
            results.append(row)
            if best is None or acc > best["accuracy"]:
                best = row
    # stop-word removal (the old walkthrough's preprocessing), at the best min_df and C
    sw_train = [[t for t in toks if t not in stopwords] for toks in tok_train]
    sw_val = [[t for t in toks if t not in stopwords] for toks in tok_val]
    vec = vectorizer(best["min_df"])
    xt = vec.fit_transform(sw_train)
    acc = accuracy_score(y_val, fit_lr(xt, y_train, best["C"]).predict(vec.transform(sw_val)))
    row = {"min_df": best["min_df"], "C": best["C"], "stopwords": True, "features": len(vec.vocabulary_), "accuracy": round(acc, 4)}
    print("tune", row, file=sys.stderr)
    results.append(row)
    return results, best


# ----------------------------------------------------------------------------- export + check

NODE_CHECK = r"""
const path = require('path');
const fs = require('fs');
const ort = require(path.join(process.argv[2], 'node_modules', 'onnxruntime-node'));
const [, , root, modelPath, debugPath, valPath, outPath] = process.argv;
(async () => {
  const rows = fs.readFileSync(valPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const model = await ort.InferenceSession.create(modelPath);
  const debug = await ort.InferenceSession.create(debugPath);
  const B = 100;
  let correct = 0, maxDiff = 0, worst = null;
  const pos = [];
  for (let i = 0; i < rows.length; i += B) {
    const batch = rows.slice(i, i + B);
    const t = new ort.Tensor('string', batch.map((r) => r.text), [batch.length]);
    const r = await model.run({ review: t });
    const d = await debug.run({ review: t });
    batch.forEach((row, j) => {
      const p = r.probabilities.data[2 * j + 1];
      pos.push(p);
      if ((p >= 0.5 ? 1 : 0) === row.y) correct++;
      const diff = Math.abs(d.logit.data[j] - row.logit);
      if (diff > maxDiff) { maxDiff = diff; worst = row.id; }
    });
  }
  // batching: the first 20 reviews one at a time give the same as in the batch
  let batchDiff = 0;
  for (let j = 0; j < 20; j++) {
    const r = await model.run({ review: new ort.Tensor('string', [rows[j].text], [1]) });
    batchDiff = Math.max(batchDiff, Math.abs(r.probabilities.data[1] - pos[j]));
  }
  // edge cases: empty, punctuation only, non-ASCII, mixed in one batch
  const edge = ['', '!!! ... ???', '<br /><br />', 'Café déjà vu, naïve İstanbul: très bien 😀👍 日本語の映画 最高',
                'GREAT MOVIE!!! Loved it.', 'Terrible. Worst film ever, don\'t watch.'];
  const e = await model.run({ review: new ort.Tensor('string', edge, [edge.length]) });
  const edgeOut = edge.map((text, j) => ({ text, p: [e.probabilities.data[2 * j], e.probabilities.data[2 * j + 1]] }));
  // latency: one ~230-word review, median of 300 single-review runs after 20 warm-up runs
  const words = rows.map((r) => r.text.split(/\s+/).length);
  let k = 0;
  words.forEach((w, j) => { if (Math.abs(w - 230) < Math.abs(words[k] - 230)) k = j; });
  const one = new ort.Tensor('string', [rows[k].text], [1]);
  for (let j = 0; j < 20; j++) await model.run({ review: one });
  const times = [];
  for (let j = 0; j < 300; j++) {
    const t0 = process.hrtime.bigint();
    await model.run({ review: one });
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  fs.writeFileSync(outPath, JSON.stringify({
    n: rows.length, accuracy: correct / rows.length, maxLogitDiff: maxDiff, worst, batchDiff, edge: edgeOut,
    latency: { median: times[150], p90: times[270], words: words[k], id: rows[k].id },
    ort: require(path.join(root, 'node_modules', 'onnxruntime-node', 'package.json')).version,
  }, null, 2));
})().catch((err) => { console.error(err); process.exit(1); });
"""


def node_check(model, debug_model, val_rows, logits, y_val):
    with tempfile.TemporaryDirectory(prefix="sentiment-check-") as tmp:
        debug_path = os.path.join(tmp, "debug.onnx")
        onnx.save(debug_model, debug_path)
        val_path = os.path.join(tmp, "val.jsonl")
        with open(val_path, "w", encoding="utf-8") as f:
            for r, z, y in zip(val_rows, logits, y_val):
                f.write(json.dumps({"id": r["id"], "text": r["text"], "y": int(y), "logit": float(z)}) + "\n")
        script = os.path.join(tmp, "check.js")
        with open(script, "w") as f:
            f.write(NODE_CHECK)
        out = os.path.join(tmp, "out.json")
        subprocess.run(["node", script, common.ROOT, model, debug_path, val_path, out], check=True, cwd=common.ROOT)
        with open(out) as f:
            return json.load(f)


def main():
    started = time.time()
    argv = sys.argv[1:]
    data_dir = common.data_arg(argv)
    rows, source = load_reviews(data_dir)
    held = common.validation_ids([(r["id"], r["label"]) for r in rows])
    train = [r for r in rows if r["id"] not in held]
    val = [r for r in rows if r["id"] in held]
    print(f"{len(train)} train, {len(val)} validation reviews from {source}", file=sys.stderr)
    y_train = np.array([LABELS.index(r["label"]) for r in train])
    y_val = np.array([LABELS.index(r["label"]) for r in val])
    tok_train = [sentiment_graph.tokenize(r["text"]) for r in train]
    tok_val = [sentiment_graph.tokenize(r["text"]) for r in val]

    config = dict(FINAL)
    selection = TUNING_RESULTS
    if "--tune" in argv:
        selection, best = tune(tok_train, y_train, tok_val, y_val, load_stopwords(data_dir))
        config = {"min_df": best["min_df"], "C": best["C"], "stopwords": False}
        selection = {"grid": selection, "chosen": config,
                     "rule": TUNING_RESULTS["rule"]}
    print("final config", config, file=sys.stderr)

    t0 = time.time()
    vec = vectorizer(config["min_df"])
    x_train = vec.fit_transform(tok_train)
    clf = fit_lr(x_train, y_train, config["C"])
    fit_seconds = time.time() - t0
    x_val = vec.transform(tok_val)
    logits = clf.decision_function(x_val)
    pred = (logits > 0).astype(int)
    acc = accuracy_score(y_val, pred)
    prec, rec, f1, _ = precision_recall_fscore_support(y_val, pred, average="binary", pos_label=1)
    print(f"validation accuracy {acc:.4f} ({len(vec.vocabulary_)} features, fit {fit_seconds:.1f}s)", file=sys.stderr)

    # vocabulary in the graph's order: unigrams, then bigrams
    terms = vec.get_feature_names_out()
    coef = clf.coef_.ravel()
    idf = vec.idf_
    is_bi = np.array([" " in t for t in terms])
    order = np.concatenate([np.flatnonzero(~is_bi), np.flatnonzero(is_bi)])
    unigrams = [str(terms[i]) for i in order[: (~is_bi).sum()]]
    bigrams = [tuple(str(terms[i]).split(" ")) for i in order[(~is_bi).sum():]]
    args = (unigrams, bigrams, idf[order], coef[order], float(clf.intercept_[0]))
    model = sentiment_graph.build(*args)
    path = common.model_path("sentiment")
    onnx.save(model, path)
    n_bytes = os.path.getsize(path)
    print(f"wrote {path} ({n_bytes} bytes)", file=sys.stderr)

    check = node_check(path, sentiment_graph.build(*args, debug_outputs=True), val, logits, y_val)
    print("onnx check", json.dumps({k: v for k, v in check.items() if k != "edge"}), file=sys.stderr)
    if check["maxLogitDiff"] > 1e-3 or abs(check["accuracy"] - acc) > 0.003 or check["batchDiff"] > 1e-5:
        sys.exit(f"ONNX graph disagrees with the Python model: {check}")
    sig_bias = float(1 / (1 + np.exp(-clf.intercept_[0])))
    for e in check["edge"][:3]:  # no known n-gram: p = sigmoid(bias)
        if abs(e["p"][1] - sig_bias) > 1e-5:
            sys.exit(f"edge case {e} does not give sigmoid(bias) = {sig_bias}")

    card = {
        "task": "binary text classification",
        "description": "Logistic regression on word uni- and bigram TF-IDF features of IMDB movie reviews: "
                       "says whether an English movie review is negative or positive.",
        "labels": LABELS,
        "inputs": [{"name": "review", "dtype": "string", "shape": [-1], "description": "raw review text"}],
        "outputs": [{"name": "probabilities", "dtype": "float32", "shape": [-1, 2], "description": "[negative, positive]"}],
        "preprocessing": (
            "none: pass the raw review; lower-casing, tokenising, uni+bigrams, TF-IDF happen inside the graph. "
            "StringNormalizer (LOWER, locale C.UTF-8) -> com.microsoft Tokenizer (RE2 tokenexp "
            f"{sentiment_graph.TOKEN_PATTERN}, i.e. ASCII letters/digits with inner apostrophes; everything else "
            "separates words; '<br />' becomes the token 'br', which is in no n-gram of the vocabulary) -> "
            "TfIdfVectorizer TF counts of the vocabulary's unigrams and adjacent bigrams -> sublinear tf 1+log(tf) "
            "-> x idf (smoothed, from the training split) -> L2 normalisation -> logistic regression -> "
            "[1-p, p]. No stop-word removal."
        ),
        "data": {
            "source": "Large Movie Review Dataset v1.0 (Maas et al., ACL 2011), 25,000 labelled training reviews",
            "path": os.path.relpath(source, common.ROOT) if source.startswith(os.path.dirname(common.ROOT)) else source,
            "n_train": len(train),
            "n_validation": len(val),
            "split": "stratified by label: within each label ordered by sha1('42:'+id), first 20% held out",
            "validation_ids_sha256": common.ids_digest(held),
        },
        "metrics": {
            "validation": {
                "accuracy": round(float(acc), 4),
                "onnx_accuracy": round(float(check["accuracy"]), 4),
                "n": len(val),
                "precision": round(float(prec), 4),
                "recall": round(float(rec), 4),
                "f1": round(float(f1), 4),
                "positive_class": "positive",
                "onnx_max_abs_logit_difference": float(f"{check['maxLogitDiff']:.3g}"),
            }
        },
        "vocabulary": {
            "unigrams": len(unigrams),
            "bigrams": len(bigrams),
            "min_df": config["min_df"],
            "max_features": None,
            "token_pattern": sentiment_graph.TOKEN_PATTERN,
            "lowercase": True,
            "stopwords": None,
            "excluded_tokens": sorted(DROP_TOKENS),
            "tf": "sublinear (1 + log tf)",
            "idf": "smooth: ln((1 + n) / (1 + df)) + 1",
            "norm": "l2",
        },
        "classifier": {"type": "LogisticRegression (L2, liblinear dual)", "C": config["C"]},
        "selection": selection,
        "performance": {
            "onnx_ms_per_review_median": round(check["latency"]["median"], 3),
            "onnx_ms_per_review_p90": round(check["latency"]["p90"], 3),
            "how": f"onnxruntime-node {check['ort']}, default session options, one review of "
                   f"{check['latency']['words']} words ({check['latency']['id']}), median of 300 single-review "
                   f"runs after 20 warm-up runs, {os.cpu_count()} CPU cores shared with other work",
        },
        "training": {"seed": SEED, "fit_seconds": round(fit_seconds, 1)},
    }
    common.write_card("sentiment", card, started, "npm run train -- sentiment")


if __name__ == "__main__":
    main()
