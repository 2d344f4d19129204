"""The malaria decision shift (train_malaria.py --shift, DECISION_RULE): the shift added to the
parasitized logit so that validation parasitized recall reaches RECALL_TARGET, and its effect
in-sample and 2-fold cross-fitted, for the card."""

import calibration
import numpy as np

from malaria_config import DECISION_RULE, RECALL_TARGET, SHIFT_STEP
from malaria_export import confusion


def decide(logits, shift):
    """Predicted label indices with `shift` added to the parasitized logit, as the graph decides."""
    return np.where(logits[:, 0] + shift - logits[:, 1] >= 0, 0, 1)


def choose_shift(logits, y):
    for k in range(int(round(3 / SHIFT_STEP)) + 1):
        if float((decide(logits, k * SHIFT_STEP)[y == 0] == 0).mean()) >= RECALL_TARGET:
            return round(k * SHIFT_STEP, 4)
    return 3.0


def decision_report(logits, y, ids, shift):
    """The shift's effect, in-sample and 2-fold cross-fitted (each fold decided with the shift chosen
    on the other: an estimate of how the rule does on images it was not chosen on)."""
    fold = calibration.folds(ids)
    conf = np.zeros((2, 2), dtype=int)
    fold_shifts = []
    for f in range(calibration.FOLDS):
        fold_shifts.append(choose_shift(logits[fold != f], y[fold != f]))
        conf += confusion(decide(logits[fold == f], fold_shifts[-1]), y[fold == f])

    def figures(c):
        missed, alarms = int(c[0, 1]), int(c[1, 0])
        return {"accuracy": round(1 - (missed + alarms) / int(c.sum()), 4), "parasitized_recall": round(1 - missed / int(c[0].sum()), 4),
                "missed_parasites": missed, "false_alarms": alarms}
    return {
        "rule": DECISION_RULE,
        "shift": shift,
        "unshifted": figures(confusion(decide(logits, 0.0), y)),
        "cross_fitted": {"fold_shifts": fold_shifts, **figures(conf)},
    }
