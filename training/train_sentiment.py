"""Movie-review sentiment: logistic regression on word uni+bigram TF-IDF features (sublinear tf,
smoothed idf, L2 norm) of the IMDB Large Movie Review Dataset, exported as one ONNX graph that
takes the raw review text (see sentiment_graph.py for the graph).

The vocabulary is small on purpose. onnxruntime's TfIdfVectorizer keeps every n-gram of its
vocabulary in a tree of hash maps: about 0.21 MB of session RSS per 1,000 unigrams and 0.35 MB
per 1,000 bigrams (measured), so the full min_df 2 vocabulary (43,286 unigrams + 320,496 bigrams)
cost 142 MB of RSS per session. The model keeps only the n-grams that matter most: a full model
(min_df 2, C = RANK_C) is fitted on the training split, unigrams and bigrams are ranked by the
|coefficient| it gives them, the top ones are kept (FINAL) and the classifier is refitted on those
alone. The candidates, their validation accuracy and their measured session memory are in the
card's "selection" section.

Usage: /usr/bin/python3 training/train_sentiment.py [--data DIR] [--tune]
       (or: npm run train -- sentiment)

--data DIR   DIR/imdb/train.jsonl.gz (default ../shared/data), or the public download:
             DIR/aclImdb/train/{pos,neg}/*.txt, or DIR itself = aclImdb
--tune       re-run the candidate comparison (feature sets x C, each candidate's best C exported to
             ONNX and its session memory, file size and latency measured in onnxruntime-node) and
             train the candidate the rule picks; without it FINAL is trained directly and the card
             keeps the table from the last tuning run (TUNING_RESULTS). About 2 minutes more.

After training, the script runs the whole validation split through the exported graph in
onnxruntime-node (node must be on PATH, `npm ci` done) to check parity with the Python features
and to measure the ONNX accuracy, the single-review latency and the session's memory.
"""

import glob
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, precision_recall_fscore_support
from sklearn.preprocessing import normalize

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import sentiment_graph  # noqa: E402

SEED = 42
LABELS = ["negative", "positive"]
DROP_TOKENS = {"br"}  # what the <br /> tags tokenise to: formatting, not words
POOL_MIN_DF = 2   # every candidate vocabulary is a subset of the n-grams in >= 2 training reviews
RANK_C = 10.0     # C of the full model whose |coefficients| rank the n-grams

# A candidate vocabulary: n-grams in >= min_df training reviews, then (by |coefficient| of the full
# model) the top `top` n-grams overall, or the top `unigrams` unigrams and top `bigrams` bigrams
# (None: all of them, 0: none).
CANDIDATES = [
    {"min_df": 2},                                   # the previous model's vocabulary
    {"min_df": 5},
    {"min_df": 10},
    {"min_df": 20},
    {"min_df": 2, "bigrams": 0},                     # unigrams only
    {"top": 10000},
    {"top": 20000},
    {"top": 40000},
    {"top": 80000},
    {"bigrams": 10000},                              # all unigrams + the most useful bigrams
    {"bigrams": 20000},
    {"bigrams": 40000},
    {"unigrams": 10000, "bigrams": 10000},           # the most useful of each
    {"unigrams": 20000, "bigrams": 20000},
]
C_GRID = [3.0, 10.0, 30.0, 100.0]
MEMORY_LIMIT_MB = 40.0
TIE = 0.001
RULE = (f"highest validation accuracy (each candidate at its best C) among the candidates whose "
        f"session RSS is <= {MEMORY_LIMIT_MB:g} MB; accuracies within {TIE * 100:g} point "
        f"({round(TIE * 5000)} of 5,000 reviews) count as tied and the smaller session wins")

# Final configuration (chosen with --tune on the validation split, see TUNING_RESULTS).
FINAL = {"unigrams": 20000, "bigrams": 20000, "C": 30.0}
# Results of the last `--tune` run (20,000 train / 5,000 validation reviews).
TUNING_RESULTS = {
    "rule": RULE,
    "how": ("each candidate vocabulary fitted at every C in " + ", ".join(f"{c:g}" for c in C_GRID) + "; at its best C "
            "(ties: the smaller C) exported to ONNX and measured in onnxruntime-node: session_rss_mb = RSS growth "
            "of a fresh node process over InferenceSession.create (intraOpNumThreads 1), the model being the "
            "process's first session (includes onnxruntime's ~26 MB one-time set-up); session_rss_marginal_mb = "
            "the same after another model (regression) is loaded; medians of 3 processes; ms_per_review = median "
            "single-review latency (the ~230-word validation review, 300 runs). Validation accuracy has a "
            "standard error of about 0.4 point on 5,000 reviews; differences of 0.1-0.2 point between "
            "candidates are noise."),
    "candidates": [
        {"vocabulary": "all n-grams, min_df 2", "spec": {"min_df": 2}, "unigrams": 43286, "bigrams": 320496, "features": 363782, "C": 100.0, "accuracy": 0.9116, "accuracy_by_C": {"3": 0.9064, "10": 0.9104, "30": 0.9104, "100": 0.9116}, "session_rss_mb": 141.9, "session_rss_marginal_mb": 117.2, "model_bytes": 9257046, "ms_per_review": 1.264},
        {"vocabulary": "all n-grams, min_df 5", "spec": {"min_df": 5}, "unigrams": 25284, "bigrams": 105415, "features": 130699, "C": 100.0, "accuracy": 0.9108, "accuracy_by_C": {"3": 0.9072, "10": 0.908, "30": 0.909, "100": 0.9108}, "session_rss_mb": 67.4, "session_rss_marginal_mb": 42.7, "model_bytes": 3187969, "ms_per_review": 0.584},
        {"vocabulary": "all n-grams, min_df 10", "spec": {"min_df": 10}, "unigrams": 16679, "bigrams": 50820, "features": 67499, "C": 30.0, "accuracy": 0.91, "accuracy_by_C": {"3": 0.9074, "10": 0.908, "30": 0.91, "100": 0.9088}, "session_rss_mb": 46.9, "session_rss_marginal_mb": 21.9, "model_bytes": 1598287, "ms_per_review": 0.453},
        {"vocabulary": "all n-grams, min_df 20", "spec": {"min_df": 20}, "unigrams": 10675, "bigrams": 24954, "features": 35629, "C": 10.0, "accuracy": 0.9068, "accuracy_by_C": {"3": 0.905, "10": 0.9068, "30": 0.9048, "100": 0.9034}, "session_rss_mb": 37.1, "session_rss_marginal_mb": 11.7, "model_bytes": 816334, "ms_per_review": 0.369},
        {"vocabulary": "unigrams only, min_df 2", "spec": {"min_df": 2, "bigrams": 0}, "unigrams": 43286, "bigrams": 0, "features": 43286, "C": 3.0, "accuracy": 0.8988, "accuracy_by_C": {"3": 0.8988, "10": 0.8976, "30": 0.895, "100": 0.893}, "session_rss_mb": 35.9, "session_rss_marginal_mb": 10.3, "model_bytes": 907251, "ms_per_review": 0.349},
        {"vocabulary": "top 10,000 n-grams by |coef|", "spec": {"top": 10000}, "unigrams": 3783, "bigrams": 6217, "features": 10000, "C": 10.0, "accuracy": 0.9078, "accuracy_by_C": {"3": 0.907, "10": 0.9078, "30": 0.906, "100": 0.9038}, "session_rss_mb": 29.8, "session_rss_marginal_mb": 3.9, "model_bytes": 221315, "ms_per_review": 0.201},
        {"vocabulary": "top 20,000 n-grams by |coef|", "spec": {"top": 20000}, "unigrams": 6343, "bigrams": 13657, "features": 20000, "C": 10.0, "accuracy": 0.9104, "accuracy_by_C": {"3": 0.9072, "10": 0.9104, "30": 0.9094, "100": 0.9084}, "session_rss_mb": 32.8, "session_rss_marginal_mb": 7.2, "model_bytes": 455311, "ms_per_review": 0.278},
        {"vocabulary": "top 40,000 n-grams by |coef|", "spec": {"top": 40000}, "unigrams": 10170, "bigrams": 29830, "features": 40000, "C": 30.0, "accuracy": 0.9106, "accuracy_by_C": {"3": 0.9094, "10": 0.9096, "30": 0.9106, "100": 0.9106}, "session_rss_mb": 38.7, "session_rss_marginal_mb": 13.2, "model_bytes": 948721, "ms_per_review": 0.318},
        {"vocabulary": "top 80,000 n-grams by |coef|", "spec": {"top": 80000}, "unigrams": 15882, "bigrams": 64118, "features": 80000, "C": 100.0, "accuracy": 0.9112, "accuracy_by_C": {"3": 0.9082, "10": 0.9088, "30": 0.9108, "100": 0.9112}, "session_rss_mb": 51.2, "session_rss_marginal_mb": 26.5, "model_bytes": 1955292, "ms_per_review": 0.475},
        {"vocabulary": "all unigrams + top 10,000 bigrams by |coef|", "spec": {"bigrams": 10000}, "unigrams": 43286, "bigrams": 10000, "features": 53286, "C": 30.0, "accuracy": 0.9112, "accuracy_by_C": {"3": 0.909, "10": 0.9104, "30": 0.9112, "100": 0.9098}, "session_rss_mb": 39.1, "session_rss_marginal_mb": 13.2, "model_bytes": 1154487, "ms_per_review": 0.418},
        {"vocabulary": "all unigrams + top 20,000 bigrams by |coef|", "spec": {"bigrams": 20000}, "unigrams": 43286, "bigrams": 20000, "features": 63286, "C": 30.0, "accuracy": 0.912, "accuracy_by_C": {"3": 0.9098, "10": 0.9098, "30": 0.912, "100": 0.9118}, "session_rss_mb": 42.3, "session_rss_marginal_mb": 16.4, "model_bytes": 1407791, "ms_per_review": 0.572},
        {"vocabulary": "all unigrams + top 40,000 bigrams by |coef|", "spec": {"bigrams": 40000}, "unigrams": 43286, "bigrams": 40000, "features": 83286, "C": 30.0, "accuracy": 0.913, "accuracy_by_C": {"3": 0.9092, "10": 0.9108, "30": 0.913, "100": 0.9128}, "session_rss_mb": 49.0, "session_rss_marginal_mb": 23.1, "model_bytes": 1920477, "ms_per_review": 0.795},
        {"vocabulary": "top 10,000 unigrams + top 10,000 bigrams by |coef|", "spec": {"unigrams": 10000, "bigrams": 10000}, "unigrams": 10000, "bigrams": 10000, "features": 20000, "C": 10.0, "accuracy": 0.9088, "accuracy_by_C": {"3": 0.9078, "10": 0.9088, "30": 0.908, "100": 0.9084}, "session_rss_mb": 32.3, "session_rss_marginal_mb": 6.4, "model_bytes": 440355, "ms_per_review": 0.284},
        {"vocabulary": "top 20,000 unigrams + top 20,000 bigrams by |coef|", "spec": {"unigrams": 20000, "bigrams": 20000}, "unigrams": 20000, "bigrams": 20000, "features": 40000, "C": 30.0, "accuracy": 0.912, "accuracy_by_C": {"3": 0.9084, "10": 0.911, "30": 0.912, "100": 0.9114}, "session_rss_mb": 37.6, "session_rss_marginal_mb": 11.7, "model_bytes": 906676, "ms_per_review": 0.513},
    ],
    "chosen": FINAL,
    "full_vocabulary_grid": {
        "note": "the earlier --tune grid on the full vocabulary (the previous model: min_df 2, C 10), "
                "including NLTK stop-word removal, which lost 0.2 point",
        "grid": [
            {"min_df": 2, "C": 3.0, "stopwords": False, "features": 363782, "accuracy": 0.9064},
            {"min_df": 2, "C": 10.0, "stopwords": False, "features": 363782, "accuracy": 0.9104},
            {"min_df": 2, "C": 30.0, "stopwords": False, "features": 363782, "accuracy": 0.9104},
            {"min_df": 5, "C": 3.0, "stopwords": False, "features": 130699, "accuracy": 0.9072},
            {"min_df": 5, "C": 10.0, "stopwords": False, "features": 130699, "accuracy": 0.908},
            {"min_df": 5, "C": 30.0, "stopwords": False, "features": 130699, "accuracy": 0.909},
            {"min_df": 2, "C": 10.0, "stopwords": True, "features": 281462, "accuracy": 0.9084},
        ],
    },
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


# ------------------------------------------------------------------------------------ features

def ngrams(tokens):
    """Unigrams and adjacent bigrams ("a b"), as TfIdfVectorizer(min 1, max 2, skip 0) counts them.
    N-grams containing a dropped token are left out of the vocabulary (the graph still sees the
    token, so no bigram is formed across it on either side)."""
    out = [t for t in tokens if t not in DROP_TOKENS]
    out += [f"{a} {b}" for a, b in zip(tokens, tokens[1:]) if a not in DROP_TOKENS and b not in DROP_TOKENS]
    return out


def fit_lr(x, y, C):
    return LogisticRegression(C=C, solver="liblinear", dual=True, max_iter=2000, random_state=SEED).fit(x, y)


class Pool:
    """Every n-gram in >= POOL_MIN_DF training reviews, with its document frequency and idf, and
    the unnormalised sublinear-tf x idf matrices of both splits. A candidate vocabulary is a set of
    columns; its features are those columns L2-normalised per review, exactly what
    TfidfVectorizer(vocabulary=those n-grams, sublinear_tf, smooth_idf, norm="l2") fitted on the
    training split gives (a term's idf depends only on its own document frequency)."""

    def __init__(self, tok_train, tok_val):
        counts = CountVectorizer(analyzer=ngrams, min_df=POOL_MIN_DF, dtype=np.float64)
        c_train = counts.fit_transform(tok_train)
        c_val = counts.transform(tok_val)
        self.terms = counts.get_feature_names_out()
        self.is_bi = np.array([" " in t for t in self.terms])
        n = c_train.shape[0]
        self.df = np.asarray((c_train > 0).sum(axis=0)).ravel()
        self.idf = np.log((1 + n) / (1 + self.df)) + 1  # smooth idf
        self.w_train, self.w_val = (self._weigh(c) for c in (c_train, c_val))
        self.rank = None

    def _weigh(self, c):
        c = c.tocsr(copy=True)
        c.data = 1 + np.log(c.data)  # sublinear tf
        return c.multiply(self.idf[None, :]).tocsc()

    def features(self, cols):
        return (normalize(self.w_train[:, cols].tocsr()), normalize(self.w_val[:, cols].tocsr()))

    def ranked(self, y_train):
        """Column order by |coefficient| of the full model (min_df POOL_MIN_DF, C = RANK_C)."""
        if self.rank is None:
            x_train, _ = self.features(np.arange(len(self.terms)))
            coef = fit_lr(x_train, y_train, RANK_C).coef_.ravel()
            self.rank = np.argsort(-np.abs(coef), kind="stable")
        return self.rank

    def select(self, spec, y_train):
        keep = self.df >= spec.get("min_df", POOL_MIN_DF)
        if spec.get("top") is None and spec.get("unigrams") is None and spec.get("bigrams") is None:
            return np.flatnonzero(keep)
        order = [i for i in self.ranked(y_train) if keep[i]]
        if spec.get("top") is not None:
            return np.sort(np.array(order[: spec["top"]]))
        cols = []
        for want, bi in ((spec.get("unigrams"), False), (spec.get("bigrams"), True)):
            part = [i for i in order if self.is_bi[i] == bi]
            cols += part if want is None else part[:want]
        return np.sort(np.array(cols, dtype=np.int64))


def describe(spec):
    min_df = spec.get("min_df", POOL_MIN_DF)
    if spec.get("top") is not None:
        return f"top {spec['top']:,} n-grams by |coef|"
    u, b = spec.get("unigrams"), spec.get("bigrams")
    if u is None and b is None:
        return f"all n-grams, min_df {min_df}"
    if b == 0:
        return f"unigrams only, min_df {min_df}"
    return f"{'all' if u is None else f'top {u:,}'} unigrams + top {b:,} bigrams by |coef|"


def graph_args(pool, cols, clf):
    """The vocabulary in the graph's order (unigrams, then bigrams) with its idf and coefficients."""
    cols = np.asarray(cols)
    bi = pool.is_bi[cols]
    order = np.concatenate([cols[~bi], cols[bi]])
    coef = dict(zip(cols.tolist(), clf.coef_.ravel().tolist()))
    unigrams = [str(pool.terms[i]) for i in cols[~bi]]
    bigrams = [tuple(str(pool.terms[i]).split(" ")) for i in cols[bi]]
    return (unigrams, bigrams, pool.idf[order], np.array([coef[i] for i in order.tolist()]), float(clf.intercept_[0]))


# ------------------------------------------------------------------------- onnxruntime-node checks

# Session memory: in a fresh node process, RSS after require('onnxruntime-node') and before/after
# InferenceSession.create (intraOpNumThreads 1, as the app runs it). "standalone": the model is the
# process's first session, so the figure includes onnxruntime's one-time set-up (~26 MB, paid once
# per process whatever the models); "marginal": another model (regression, one Gemm node) is loaded
# first, so the figure is what this model adds. Then the single-review latency on that session.
NODE_MEMORY = r"""
const path = require('path');
const fs = require('fs');
const [, , root, modelPath, firstPath, reviewPath] = process.argv;
const ort = require(path.join(root, 'node_modules', 'onnxruntime-node'));
const mb = (b) => b / (1024 * 1024);
(async () => {
  const opts = { intraOpNumThreads: 1, interOpNumThreads: 1 };
  const out = { rssAfterRequire: mb(process.memoryUsage().rss) };
  if (firstPath !== '-') {
    await ort.InferenceSession.create(firstPath, opts);
    out.rssAfterFirst = mb(process.memoryUsage().rss);
  }
  const before = process.memoryUsage().rss;
  const session = await ort.InferenceSession.create(modelPath, opts);
  out.sessionRss = mb(process.memoryUsage().rss - before);
  if (reviewPath !== '-') {
    const one = new ort.Tensor('string', [fs.readFileSync(reviewPath, 'utf8')], [1]);
    for (let j = 0; j < 20; j++) await session.run({ review: one });
    const times = [];
    for (let j = 0; j < 300; j++) {
      const t0 = process.hrtime.bigint();
      await session.run({ review: one });
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    times.sort((a, b) => a - b);
    out.latency = { median: times[150], p90: times[270] };
    out.rssAfterRuns = mb(process.memoryUsage().rss);
  }
  console.log(JSON.stringify(out));
})().catch((err) => { console.error(err); process.exit(1); });
"""


def latency_review(val_rows):
    """The validation review closest to 230 words (the latency test input)."""
    words = [len(re.split(r"\s+", r["text"])) for r in val_rows]
    k = int(np.argmin([abs(w - 230) for w in words]))
    return val_rows[k], words[k]


def measure_session(path, review_text, repeats=3):
    """Median standalone and marginal session RSS (MB) over `repeats` fresh processes, and the
    single-review latency (ms) from the standalone runs."""
    with tempfile.TemporaryDirectory(prefix="sentiment-memory-") as tmp:
        script = os.path.join(tmp, "memory.js")
        with open(script, "w") as f:
            f.write(NODE_MEMORY)
        review = os.path.join(tmp, "review.txt")
        with open(review, "w", encoding="utf-8") as f:
            f.write(review_text)
        first = common.model_path("regression")

        def run(*args):
            out = subprocess.run(["node", script, common.ROOT, path, *args], check=True, cwd=common.ROOT,
                                 capture_output=True, text=True).stdout
            return json.loads(out)

        alone = [run("-", review) for _ in range(repeats)]
        after = [run(first, "-") for _ in range(repeats)]
    med = lambda xs: float(np.median(xs))  # noqa: E731
    return {
        "session_rss_mb": round(med([r["sessionRss"] for r in alone]), 1),
        "session_rss_marginal_mb": round(med([r["sessionRss"] for r in after]), 1),
        "rss_after_require_mb": round(med([r["rssAfterRequire"] for r in alone]), 1),
        "ms_per_review_median": round(med([r["latency"]["median"] for r in alone]), 3),
        "ms_per_review_p90": round(med([r["latency"]["p90"] for r in alone]), 3),
        "ort": json.load(open(os.path.join(common.ROOT, "node_modules", "onnxruntime-node", "package.json")))["version"],
    }


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
  fs.writeFileSync(outPath, JSON.stringify({
    n: rows.length, accuracy: correct / rows.length, maxLogitDiff: maxDiff, worst, batchDiff, edge: edgeOut,
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




def tune(pool, y_train, y_val, val_rows):
    """Each candidate vocabulary x C_GRID on the validation split; each candidate at its best C is
    exported and measured in onnxruntime-node. Returns (table, chosen spec)."""
    review, _ = latency_review(val_rows)
    rows = []
    with tempfile.TemporaryDirectory(prefix="sentiment-tune-") as tmp:
        for spec in CANDIDATES:
            cols = pool.select(spec, y_train)
            x_train, x_val = pool.features(cols)
            by_c, best = {}, None
            for C in C_GRID:
                clf = fit_lr(x_train, y_train, C)
                acc = accuracy_score(y_val, clf.predict(x_val))
                by_c[f"{C:g}"] = round(float(acc), 4)
                if best is None or acc > best[0]:  # ties: the smaller C
                    best = (acc, C, clf)
            path = os.path.join(tmp, "candidate.onnx")
            onnx.save(sentiment_graph.build(*graph_args(pool, cols, best[2])), path)
            m = measure_session(path, review["text"])
            row = {
                "vocabulary": describe(spec),
                "spec": spec,
                "unigrams": int((~pool.is_bi[cols]).sum()),
                "bigrams": int(pool.is_bi[cols].sum()),
                "features": int(len(cols)),
                "C": best[1],
                "accuracy": round(float(best[0]), 4),
                "accuracy_by_C": by_c,
                "session_rss_mb": m["session_rss_mb"],
                "session_rss_marginal_mb": m["session_rss_marginal_mb"],
                "model_bytes": os.path.getsize(path),
                "ms_per_review": m["ms_per_review_median"],
            }
            print("tune", json.dumps(row), file=sys.stderr, flush=True)
            rows.append(row)
    fits = [r for r in rows if r["session_rss_mb"] <= MEMORY_LIMIT_MB]
    top = max(r["accuracy"] for r in fits)
    chosen = min((r for r in fits if r["accuracy"] >= top - TIE - 1e-9), key=lambda r: (r["session_rss_mb"], -r["accuracy"]))
    return rows, {**chosen["spec"], "C": chosen["C"]}


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

    t0 = time.time()
    pool = Pool(tok_train, tok_val)
    pool_seconds = time.time() - t0
    print(f"n-gram pool: {len(pool.terms)} n-grams in >= {POOL_MIN_DF} training reviews ({pool_seconds:.1f}s)", file=sys.stderr)

    config = dict(FINAL)
    selection = TUNING_RESULTS
    if "--tune" in argv:
        table, config = tune(pool, y_train, y_val, val)
        selection = {**TUNING_RESULTS, "candidates": table, "chosen": config}
    print("final config", config, file=sys.stderr)

    t0 = time.time()
    spec = {k: v for k, v in config.items() if k != "C"}
    cols = pool.select(spec, y_train)
    x_train, x_val = pool.features(cols)
    clf = fit_lr(x_train, y_train, config["C"])
    fit_seconds = pool_seconds + time.time() - t0
    logits = clf.decision_function(x_val)
    pred = (logits > 0).astype(int)
    acc = accuracy_score(y_val, pred)
    prec, rec, f1, _ = precision_recall_fscore_support(y_val, pred, average="binary", pos_label=1)
    print(f"validation accuracy {acc:.4f} ({len(cols)} features, fit {fit_seconds:.1f}s)", file=sys.stderr)

    args = graph_args(pool, cols, clf)
    unigrams, bigrams = args[0], args[1]
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
    review, review_words = latency_review(val)
    mem = measure_session(path, review["text"], repeats=5)
    print("session", json.dumps(mem), file=sys.stderr)

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
            "-> x idf (smoothed, from the training split) -> L2 normalisation over the vocabulary's n-grams -> "
            "logistic regression -> [1-p, p]. No stop-word removal."
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
            "selection": (
                f"{describe(spec)}: from the {len(pool.terms):,} n-grams in >= {POOL_MIN_DF} training reviews, "
                f"ranked by the |coefficient| of a logistic regression (C {RANK_C:g}) on all of them, fitted on "
                "the training split; the classifier is then refitted on the kept n-grams alone"
            ),
            "min_df": spec.get("min_df", POOL_MIN_DF),
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
            "onnx_ms_per_review_median": mem["ms_per_review_median"],
            "onnx_ms_per_review_p90": mem["ms_per_review_p90"],
            "how": f"onnxruntime-node {mem['ort']}, intraOpNumThreads 1 (as the app runs it), one review of "
                   f"{review_words} words ({review['id']}), median of 300 single-review runs after 20 warm-up "
                   f"runs; median of 5 processes; {os.cpu_count()} CPU cores shared with other work",
        },
        "memory": {
            "session_rss_mb": mem["session_rss_mb"],
            "session_rss_marginal_mb": mem["session_rss_marginal_mb"],
            "rss_after_require_mb": mem["rss_after_require_mb"],
            "how": f"onnxruntime-node {mem['ort']} on Node {node_version()}, fresh process: RSS "
                   "(process.memoryUsage().rss) after require('onnxruntime-node') vs after "
                   "InferenceSession.create(model, {intraOpNumThreads: 1, interOpNumThreads: 1}); median of "
                   "5 processes. session_rss_mb: this model is the process's first session, so it includes "
                   "onnxruntime's one-time set-up (~26 MB, paid once per process whatever the models); "
                   "session_rss_marginal_mb: the regression model is loaded first, so it is what this model "
                   "adds." + previous_memory(selection),
        },
        "training": {"seed": SEED, "fit_seconds": round(fit_seconds, 1)},
    }
    common.write_card("sentiment", card, started, "npm run train -- sentiment")


def previous_memory(selection):
    prev = next((r for r in selection.get("candidates", []) if r["spec"] == {"min_df": 2}), None)
    if prev is None:
        return ""
    return (f" The previous model's full vocabulary ({prev['features']:,} n-grams) measured "
            f"{prev['session_rss_mb']:g} / {prev['session_rss_marginal_mb']:g} MB the same way (selection.candidates).")


def node_version():
    return subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip().lstrip("v")


if __name__ == "__main__":
    main()
