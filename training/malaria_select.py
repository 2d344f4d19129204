"""Selection by measurement for the malaria model (train_malaria.py): the table of test-time views
(each member alone, the ensemble with 1, 2, 4 and 8 views, each graph timed) and VIEWS_RULE's
choice from it; and --select, the short-schedule comparison of configurations behind SELECTION."""

import json
import sys
import time

from malaria_config import MS_BUDGET, SEED
from malaria_data import load_cache
from malaria_export import parasitized_recall, timed_graph, typical_image
from malaria_fit import accuracy, train, val_logits
from malaria_net import count_params


VIEW_CHOICES = (1, 4, 8)


def compare_views(models, data, size, mode, image_file):
    """Accuracy and parasitized recall of each member alone (1 view) and of the ensemble with 1, 2,
    4 and 8 views; each ensemble graph exported and timed."""
    y = data["y_val"]
    rows = []

    def row(what, members, views, timed):
        logits = val_logits(members, data["x_val"], views)
        pred = logits.argmax(1)
        out = {"models": what, "views": views, "accuracy": round(accuracy(logits, y), 4),
               "parasitized_recall": parasitized_recall(pred, y)}
        if timed:
            out["bytes"], bench = timed_graph(members, size, mode, views, image_file, runs=300)
            out["ms_per_image"] = round(bench["ms"], 3)
            out["cpu_ms_per_image"] = round(bench["cpuMs"], 3)
        return out

    if len(models) > 1:
        rows += [row(f"member {i + 1}", [m], 1, False) for i, m in enumerate(models)]
    rows += [row(f"ensemble of {len(models)}" if len(models) > 1 else "model", models, v, True) for v in (1, 2, 4, 8)]
    return rows


def choose_views(table):
    fits = [r for r in table if "cpu_ms_per_image" in r and r["cpu_ms_per_image"] <= MS_BUDGET]
    if not fits:
        return 1
    top = max(r["accuracy"] for r in fits)
    return min(r["views"] for r in fits if r["accuracy"] >= top - 0.0005 - 1e-9)


def select(data_dir, configs, epochs):
    """Short-schedule comparison; prints the rows to paste into SELECTION. Each configuration is
    trained once ({size, width, mode, convs, members, epochs}) and evaluated with 1, 4 and 8
    test-time views, each exported and timed as a whole graph."""
    rows = []
    for cfg in configs:
        size, width, mode = cfg["size"], cfg["width"], cfg["mode"]
        convs, members, n_epochs = cfg.get("convs", 1), cfg.get("members", 1), cfg.get("epochs", epochs)
        data = load_cache(size, mode, data_dir)
        print(f"select: {json.dumps(cfg)}, {n_epochs} epochs", file=sys.stderr, flush=True)
        t0 = time.time()
        models = [train(data, width, n_epochs, 1, SEED + i, convs)[0] for i in range(members)]
        secs = time.time() - t0
        for views in cfg.get("views", VIEW_CHOICES):
            logits = val_logits(models, data["x_val"], views)
            nbytes, bench = timed_graph(models, size, mode, views, typical_image(data)["file"])
            pred = logits.argmax(1)
            y = data["y_val"]
            row = {"size": size, "width": width, "convs": convs, "members": members, "mode": mode, "views": views,
                   "parameters": sum(count_params(m) for m in models),
                   "val_accuracy": round(accuracy(logits, y), 4),
                   "parasitized_recall": parasitized_recall(pred, y),
                   "bytes": nbytes, "ms_per_image": round(bench["ms"], 3), "epochs": n_epochs,
                   "train_seconds": round(secs, 1)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    print(json.dumps(rows, indent=2))
