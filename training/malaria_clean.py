"""Label cleaning for the malaria training split (train_malaria.py --clean, CLEAN_RULE): drops the
training images whose given label a first ensemble finds unlikely; the validation labels are
never changed."""

import calibration
import numpy as np

from malaria_config import CLEAN_RULE, LABELS
from malaria_fit import accuracy, val_logits


def clean_labels(models, data, threshold):
    """Drops the training images whose given label the ensemble `models` (8 views) finds unlikely
    (probability below threshold). Returns (the data without them, the card's report)."""
    logits = val_logits(models, data["x_train"], 8)
    p = calibration.softmax(logits)
    y = data["y_train"]
    given = p[np.arange(len(y)), y]
    keep = given >= threshold
    items = [it for it in data["meta"]["items"] if it["split"] != "validation"]
    dropped = sorted((float(given[i]), items[i]["id"], items[i]["label"]) for i in np.nonzero(~keep)[0])
    report = {
        "rule": CLEAN_RULE.format(clean=threshold),
        "threshold": threshold,
        "first_round_validation_accuracy_8_views": round(accuracy(val_logits(models, data["x_val"], 8), data["y_val"]), 4),
        "n_train_before": int(len(y)),
        "n_dropped": int((~keep).sum()),
        "dropped_by_label": {lab: int(((~keep) & (y == k)).sum()) for k, lab in enumerate(LABELS)},
        "dropped": [{"id": i, "label": lab, "label_probability": round(g, 4)} for g, i, lab in dropped],
        "contact_sheet": "npm run malaria:errors -- --dropped",
    }
    cleaned = dict(data, x_train=data["x_train"][keep], y_train=y[keep])
    return cleaned, report
