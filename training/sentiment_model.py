"""One sentiment configuration (train_sentiment.py): the logistic regression fitted on the top
n-grams at a given C, with what the graph and the card need, and its ONNX graph (sentiment_graph.build)."""

import sentiment_graph as sg

from sentiment_features import fit_lr, nb_features


def fit(data, n_ngrams, C):
    """Returns everything the graph and the card need for one configuration."""
    words, index, vocab, x_train, x_val, r = data.model(n_ngrams)
    clf = fit_lr(nb_features(x_train, r), data.y_train, C)
    logits = clf.decision_function(nb_features(x_val, r))
    table = sg.Table(vocab)
    # the table's entry order is the vocabulary's (sorted keys)
    return {"words": words, "index": index, "vocab": vocab, "table": table, "weight": clf.coef_.ravel(), "r": r,
            "bias": float(clf.intercept_[0]), "logits": logits, "accuracy": float(((logits > 0) == data.y_val).mean()),
            "C": C, "n_ngrams": int(len(vocab))}


def graph(m, temperature=1.0, cap=None, debug=False):
    return sg.build(m["words"], m["table"], m["weight"], m["r"], m["bias"], temperature, cap, debug_outputs=debug)


def order_counts(vocab, n_words):
    base = n_words + 2
    return {"unigrams": int((vocab < base).sum()), "bigrams": int(((vocab >= base) & (vocab < base + base * base)).sum()),
            "trigrams": int((vocab >= base + base * base).sum())}
