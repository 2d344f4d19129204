"""Calibration shared by the two classifiers: a temperature fitted by cross-fitting on the
validation split (so the reported ECE is measured on items the fit did not see), reliability
tables, and the rule for stating a confidence above 99.9 %.

Logits are [n, 2] (a binary logistic model's logit z is [0, z]: softmax([0, z] / T) = sigmoid(z / T)).
"""

import hashlib

import numpy as np

ECE_BINS = 10  # equal-width bins of the confidence (the larger probability) over [0.5, 1]
FOLDS = 2
CAP = 0.999  # largest confidence a graph states unless the validation data support more


def softmax(z):
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def fit_temperature(logits, y):
    """The T > 0 minimising the negative log-likelihood of softmax(logits / T): golden-section
    search on log T (the NLL is unimodal in T)."""
    def nll(log_t):
        p = softmax(logits / np.exp(log_t))
        return -np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None)).mean()
    lo, hi = np.log(0.05), np.log(20.0)
    g = (np.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    for _ in range(80):
        if nll(a) < nll(b):
            hi, b = b, a
            a = hi - g * (hi - lo)
        else:
            lo, a = a, b
            b = lo + g * (hi - lo)
    return float(np.exp((lo + hi) / 2))


def folds(ids):
    """Deterministic folds of the validation ids: ordered by sha1('calibration:'+id), dealt round-robin."""
    order = sorted(range(len(ids)), key=lambda i: hashlib.sha1(f"calibration:{ids[i]}".encode()).hexdigest())
    fold = np.zeros(len(ids), dtype=int)
    for rank, i in enumerate(order):
        fold[i] = rank % FOLDS
    return fold


def reliability(probs, y, bins=ECE_BINS):
    """Equal-width bins of the confidence over [0.5, 1]: (ECE, table)."""
    conf = probs.max(1)
    correct = probs.argmax(1) == y
    edges = np.linspace(0.5, 1.0, bins + 1)
    table, ece = [], 0.0
    for i in range(bins):
        lo, hi = edges[i], edges[i + 1]
        last = i == bins - 1
        m = (conf >= lo) & ((conf <= hi) if last else (conf < hi))
        row = {"bin": f"[{lo:.2f}, {hi:.2f}{']' if last else ')'}", "n": int(m.sum())}
        if m.any():
            ece += m.sum() / len(y) * abs(conf[m].mean() - correct[m].mean())
            row.update(mean_confidence=round(float(conf[m].mean()), 4), accuracy=round(float(correct[m].mean()), 4))
        table.append(row)
    return float(ece), table


def cap_support(probs, y, threshold=CAP):
    """Is a confidence above `threshold` supported? Among the predictions above it, the one-sided
    95 % Clopper-Pearson lower bound of their accuracy must reach `threshold` (with no error at all
    that takes about 3,000 such predictions)."""
    from scipy.stats import beta

    m = probs.max(1) > threshold
    n, k = int(m.sum()), int((probs[m].argmax(1) == y[m]).sum())
    lower = float(beta.ppf(0.05, k, n - k + 1)) if k > 0 else 0.0
    return {"threshold": threshold, "n_above": n, "correct_above": k, "accuracy_lower_bound_95": round(lower, 5),
            "supported": lower >= threshold}


def calibrate(logits, y, ids):
    """Cross-fitted temperature: each fold's probabilities use the T fitted on the other folds. The
    served T is fitted on the whole split; the cap applies if the cross-fitted data do not support
    confidences above CAP."""
    fold = folds(ids)
    crossed = np.zeros_like(logits, dtype=np.float64)
    fold_t = []
    for f in range(FOLDS):
        t = fit_temperature(logits[fold != f], y[fold != f])
        fold_t.append(round(t, 4))
        crossed[fold == f] = softmax(logits[fold == f] / t)
    support = cap_support(crossed, y)
    cap = None if support["supported"] else CAP
    if cap is not None:
        crossed = np.clip(crossed, 1 - cap, cap)
    ece_raw, table_raw = reliability(softmax(logits), y)
    ece, table = reliability(crossed, y)
    return {"temperature": fit_temperature(logits, y), "fold_temperatures": fold_t, "cap": cap, "cap_support": support,
            "ece": ece, "reliability": table, "ece_uncalibrated": ece_raw, "reliability_uncalibrated": table_raw}


def apply(logits, cal):
    """What the graph computes from the logits: softmax(logits / T), clipped to the cap if any."""
    p = softmax(logits / cal["temperature"])
    return np.clip(p, 1 - cal["cap"], cal["cap"]) if cal["cap"] is not None else p


def card_section(cal, served_probs, y, items):
    """The card's "calibration" block. served_probs: the committed graph's probabilities on the
    validation split (in-sample for the temperature, reported separately)."""
    ece_served, table_served = reliability(served_probs, y)
    return {
        "method": "temperature scaling inside the graph (logits / T before the softmax)",
        "how": f"temperature fitted (negative log-likelihood) by {FOLDS}-fold cross-fitting on the validation split "
               f"(folds by sha1('calibration:'+id)): each fold's probabilities use the temperature fitted on the other "
               f"fold, so ece and reliability are measured on {items} the fit did not see. The served temperature is "
               "fitted on the whole validation split; the served model's own (in-sample) figures are "
               "ece_served_in_sample and reliability_served_in_sample. The temperature does not change any label.",
        "temperature": round(cal["temperature"], 4),
        "fold_temperatures": cal["fold_temperatures"],
        "ece_bins": f"{ECE_BINS} equal-width bins of the confidence (the larger probability) over [0.5, 1]",
        "ece": round(cal["ece"], 4),
        "reliability": cal["reliability"],
        "ece_uncalibrated": round(cal["ece_uncalibrated"], 4),
        "reliability_uncalibrated": cal["reliability_uncalibrated"],
        "ece_served_in_sample": round(ece_served, 4),
        "reliability_served_in_sample": table_served,
        "confidence_cap": {
            "cap": cal["cap"],
            "rule": f"a confidence above {CAP:g} is stated only if, among the validation {items} the cross-fitted "
                    f"model puts above {CAP:g}, the one-sided 95 % Clopper-Pearson lower bound of accuracy reaches "
                    f"{CAP:g}; otherwise the graph clips the probabilities to [{1 - CAP:g}, {CAP:g}]",
            **cal["cap_support"],
        },
    }
