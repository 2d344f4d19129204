"""The sentiment model's features (train_sentiment.py): the word list, uni-, bi- and trigram keys
(sentiment_graph.py's Python twins), the binary review x n-gram matrices, the NB log-count ratio,
the logistic regression, and Data: the split's features, with the n-grams ranked and cut to the
top ones for a vocabulary size."""

import sys
import time
from collections import Counter

import numpy as np
import scipy.sparse as sp
import sentiment_graph as sg
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize


SEED = 42
LABELS = ["negative", "positive"]
WORDS_MAX = 30000
MIN_DF = 2
RANK_C = 30.0


def word_index(tok_train):
    """The WORDS_MAX most frequent words (document frequency >= MIN_DF; ties by the word), id 1.."""
    df = Counter()
    for toks in tok_train:
        df.update(set(toks))
    ranked = sorted((w for w, c in df.items() if c >= MIN_DF and w not in sg.BREAK_TOKENS), key=lambda w: (-df[w], w))
    return {w: i + 1 for i, w in enumerate(ranked[:WORDS_MAX])}, df


def review_keys(tok_lists, index):
    return [np.unique(sg.ngram_keys(sg.word_ids(t, index), len(index))) for t in tok_lists]


def binary_matrix(keys, vocab):
    """Reviews x vocabulary (sorted keys): 1 where the review has the n-gram."""
    indptr, indices = [0], []
    for k in keys:
        pos = np.clip(np.searchsorted(vocab, k), 0, len(vocab) - 1)
        hit = pos[vocab[pos] == k]
        indices.append(hit)
        indptr.append(indptr[-1] + len(hit))
    idx = np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64)
    return sp.csr_matrix((np.ones(len(idx)), idx, np.array(indptr)), shape=(len(keys), len(vocab)))


def log_count_ratio(x, y):
    p = 1 + np.asarray(x[y == 1].sum(0)).ravel()
    q = 1 + np.asarray(x[y == 0].sum(0)).ravel()
    return np.log((p / p.sum()) / (q / q.sum()))


def nb_features(x, r):
    return normalize(x.multiply(r).tocsr())


def fit_lr(x, y, C):
    return LogisticRegression(C=C, solver="liblinear", dual=True, max_iter=3000, random_state=SEED).fit(x, y)


def decode_key(key, n_words):
    """An n-gram key -> its ids (0 = UNK), the inverse of sentiment_graph.ngram_keys."""
    base = n_words + 2
    if key < base:
        return (key - 1,)
    if key < base + base * base:
        q = key - base
        return (q // base - 1, q % base - 1)
    q = key - base - base * base
    return (q // (base * base) - 1, (q // base) % base - 1, q % base - 1)


class Data:
    def __init__(self, train, val):
        self.y_train = np.array([LABELS.index(r["label"]) for r in train])
        self.y_val = np.array([LABELS.index(r["label"]) for r in val])
        t0 = time.time()
        self.tok_train = [sg.tokenize(r["text"]) for r in train]
        self.tok_val = [sg.tokenize(r["text"]) for r in val]
        self.index0, self.df = word_index(self.tok_train)
        k_train = review_keys(self.tok_train, self.index0)
        keys, counts = np.unique(np.concatenate(k_train), return_counts=True)
        self.vocab0 = keys[counts >= MIN_DF]
        self.x0_train = binary_matrix(k_train, self.vocab0)
        self.x0_val = binary_matrix(review_keys(self.tok_val, self.index0), self.vocab0)
        self.r0 = log_count_ratio(self.x0_train, self.y_train)
        self.rank = None
        self.models = {}
        self.seconds = time.time() - t0
        print(f"{len(self.index0)} words, {len(self.vocab0)} n-grams in >= {MIN_DF} training reviews ({self.seconds:.0f} s)",
              file=sys.stderr, flush=True)

    def ranked(self):
        if self.rank is None:
            clf = fit_lr(nb_features(self.x0_train, self.r0), self.y_train, RANK_C)
            self.rank = np.argsort(-np.abs(clf.coef_.ravel() * self.r0), kind="stable")
            self.full_accuracy = float((clf.predict(nb_features(self.x0_val, self.r0)) == self.y_val).mean())
        return self.rank

    def model(self, n_ngrams):
        """The top n_ngrams, re-keyed over the words they contain: (words, index, vocab, x_train, x_val, r)."""
        if n_ngrams not in self.models:
            self.models = {n_ngrams: self._model(n_ngrams)}  # one at a time: they are large
        return self.models[n_ngrams]

    def _model(self, n_ngrams):
        kept = self.vocab0[np.sort(self.ranked()[:n_ngrams])]
        words0 = {i: w for w, i in self.index0.items()}
        grams = [decode_key(int(k), len(self.index0)) for k in kept]
        used = {i for g in grams for i in g if i > 0}
        words = sorted((words0[i] for i in used), key=lambda w: (-self.df[w], w))
        index = {w: i + 1 for i, w in enumerate(words)}
        vocab = np.array(sorted({self._key(g, index, words0) for g in grams}), dtype=np.int64)
        x_train = binary_matrix(review_keys(self.tok_train, index), vocab)
        x_val = binary_matrix(review_keys(self.tok_val, index), vocab)
        return words, index, vocab, x_train, x_val, log_count_ratio(x_train, self.y_train)

    @staticmethod
    def _key(gram, index, words0):
        a = [(index[words0[i]] if i > 0 else 0) + 1 for i in gram]
        base = len(index) + 2
        if len(a) == 1:
            return a[0]
        if len(a) == 2:
            return base + a[0] * base + a[1]
        return base + base * base + (a[0] * base + a[1]) * base + a[2]
