"""The malaria classifier's configuration (train_malaria.py): the fixed training constants, the
defaults the plain command runs with, the rules it applies (test-time views, label cleaning, the
decision shift) and SELECTION, the measured comparison behind the defaults (the card repeats it)."""


LABELS = ["parasitized", "uninfected"]
VERSION = "3"
SEED = 42
BATCH_SIZE = 128
LR = 3e-3
WEIGHT_DECAY = 5e-4
BRIGHTNESS = 0.1  # multiply pixel values by U(1-b, 1+b) per image (black background stays black)
TORCH_OPSET = 17  # torch 1.13's exporter stops at 17; the composed graph is opset 18

# Final configuration, chosen from SELECTION below (see --select).
DEFAULT_SIZE = 32
DEFAULT_WIDTH = 16
DEFAULT_EPOCHS = 30
DEFAULT_MODE = "linear"
DEFAULT_VIEWS = "auto"
MS_BUDGET = 1.0  # per image, whole graph, onnxruntime-node
VIEWS_RULE = (f"the number of test-time views (1, 2, 4 or 8) with the highest validation accuracy among those whose whole "
              f"graph costs <= {MS_BUDGET:g} ms of CPU per image (median; wall-clock medians are inflated by other jobs "
              "on the shared machine); accuracies within 0.05 point (2 images) count as tied and fewer views win")
DEFAULT_CONVS = 1
DEFAULT_MEMBERS = 2
DEFAULT_CLEAN = 0.1
CLEAN_RULE = ("the members are first trained on every training image; the training images whose given label that "
              "first ensemble (all 8 dihedral views) gives a probability below {clean:g} are dropped, and the final "
              "members are trained on the rest (about 1-2 % of the NIH labels are known to be wrong; the validation "
              "labels are never changed)")
RECALL_TARGET = 0.965
SHIFT_STEP = 0.05
DECISION_RULE = (f"a missed parasite is the costly error: the smallest shift (multiple of {SHIFT_STEP:g}, at most 3) added to "
                 f"the parasitized logit before the temperature for which the validation parasitized recall reaches "
                 f"{RECALL_TARGET:.1%}; the temperature is fitted after the shift, so the stated probabilities are those of the "
                 "shifted model and calibrated as such")


# The comparison behind the defaults, measured 2026-11-27 on the 2-core machine shared with other
# engineers' jobs: the same seed, split and augmentation; accuracy and parasitized recall on the
# 4,000 validation images (standard error ~0.3 point: 0.1 point is 4 images); ms: the whole graph
# on a 130x133 cell in onnxruntime-node, median wall clock (inflated by the load, epoch times varied
# 4-200 s for the same work). Rows with "select" were made with --select (pass the config as
# --select-configs to rerun one); "default run" rows by the plain command with earlier defaults;
# "ad hoc" rows by a one-off script on the cached pixels (not kept).
SELECTION = [
    {"how": "select", "size": 32, "width": 16, "convs": 1, "members": 1, "mode": "linear", "epochs": 6, "views": 1,
     "accuracy": 0.9597, "bytes": 395668, "ms_per_image": 0.227},
    {"how": "select", "size": 32, "width": 16, "convs": 1, "members": 1, "mode": "cubic", "epochs": 6, "views": 1,
     "accuracy": 0.9607, "bytes": 395716, "ms_per_image": 0.245,
     "note": "resize mode: within noise of linear; linear chosen, cheaper on large uploads (5000x5000: 83 vs 124 ms)"},
    {"how": "default run (milestone 1, commit 55b7f2b)", "size": 32, "width": 16, "convs": 1, "members": 1, "mode": "linear",
     "epochs": 20, "views": 1, "accuracy": 0.9655, "parasitized_recall": 0.952, "bytes": 395883, "ms_per_image": 0.231},
    {"how": "ad hoc, the milestone 1 model", "size": 32, "width": 16, "convs": 1, "members": 1, "epochs": 20, "views": 2,
     "accuracy": 0.967, "parasitized_recall": 0.9535},
    {"how": "ad hoc, the milestone 1 model", "size": 32, "width": 16, "convs": 1, "members": 1, "epochs": 20, "views": 4,
     "accuracy": 0.9673, "parasitized_recall": 0.952},
    {"how": "ad hoc, the milestone 1 model", "size": 32, "width": 16, "convs": 1, "members": 1, "epochs": 20, "views": 8,
     "accuracy": 0.9663, "parasitized_recall": 0.952},
    {"how": "select", "size": 48, "width": 16, "convs": 1, "members": 1, "mode": "linear", "epochs": 20, "views": 1,
     "accuracy": 0.966, "parasitized_recall": 0.9505, "bytes": 395748, "ms_per_image": 0.413, "train_seconds": 2484.4},
    {"how": "select", "size": 48, "width": 16, "convs": 1, "members": 1, "mode": "linear", "epochs": 20, "views": 4,
     "accuracy": 0.966, "parasitized_recall": 0.949, "bytes": 396670, "ms_per_image": 0.869},
    {"how": "select", "size": 48, "width": 16, "convs": 1, "members": 1, "mode": "linear", "epochs": 20, "views": 8,
     "accuracy": 0.966, "parasitized_recall": 0.9495, "bytes": 397582, "ms_per_image": 1.877},
    {"how": "default run (width 16, 1 conv per stage)", "size": 32, "width": 16, "convs": 1, "members": "1 (seed 42)",
     "mode": "linear", "epochs": 30, "views": 1, "accuracy": 0.9673, "parasitized_recall": 0.9555},
    {"how": "default run (width 16, 1 conv per stage)", "size": 32, "width": 16, "convs": 1, "members": "1 (seed 43)",
     "mode": "linear", "epochs": 30, "views": 1, "accuracy": 0.9663, "parasitized_recall": 0.954},
    {"how": "default run (width 16, 1 conv per stage)", "size": 32, "width": 16, "convs": 1, "members": 2, "mode": "linear",
     "epochs": 30, "views": 1, "accuracy": 0.967, "parasitized_recall": 0.955, "bytes": 790153, "ms_per_image": 0.334},
    {"how": "default run (width 16, 1 conv per stage)", "size": 32, "width": 16, "convs": 1, "members": 2, "mode": "linear",
     "epochs": 30, "views": 2, "accuracy": 0.968, "parasitized_recall": 0.956, "bytes": 790616, "ms_per_image": 0.526},
    {"how": "default run (width 16, 1 conv per stage)", "size": 32, "width": 16, "convs": 1, "members": 2, "mode": "linear",
     "epochs": 30, "views": 4, "accuracy": 0.9695, "parasitized_recall": 0.957, "bytes": 791068, "ms_per_image": 0.827,
     "note": "train accuracy (augmented) 96.7 % = validation: the members underfit, hence more capacity next"},
    {"how": "default run (width 16, 1 conv per stage)", "size": 32, "width": 16, "convs": 1, "members": 2, "mode": "linear",
     "epochs": 30, "views": 8, "accuracy": 0.9692, "parasitized_recall": 0.956, "bytes": 791980, "ms_per_image": 1.375},
    {"how": "run with --width 10 --convs 2", "size": 32, "width": 10, "convs": 2, "members": "1 (seed 42)", "mode": "linear",
     "epochs": 30, "views": 1, "accuracy": 0.9667, "parasitized_recall": 0.956},
    {"how": "run with --width 10 --convs 2", "size": 32, "width": 10, "convs": 2, "members": "1 (seed 43)", "mode": "linear",
     "epochs": 30, "views": 1, "accuracy": 0.9675, "parasitized_recall": 0.959},
    {"how": "run with --width 10 --convs 2", "size": 32, "width": 10, "convs": 2, "members": 2, "mode": "linear", "epochs": 30,
     "views": 1, "accuracy": 0.9685, "parasitized_recall": 0.958, "bytes": 932647, "ms_per_image": 0.548},
    {"how": "run with --width 10 --convs 2", "size": 32, "width": 10, "convs": 2, "members": 2, "mode": "linear", "epochs": 30,
     "views": 2, "accuracy": 0.968, "parasitized_recall": 0.958, "bytes": 933110, "ms_per_image": 0.89},
    {"how": "run with --width 10 --convs 2", "size": 32, "width": 10, "convs": 2, "members": 2, "mode": "linear", "epochs": 30,
     "views": 4, "accuracy": 0.9683, "parasitized_recall": 0.958, "bytes": 933562, "ms_per_image": 1.588},
    {"how": "run with --width 10 --convs 2", "size": 32, "width": 10, "convs": 2, "members": 2, "mode": "linear", "epochs": 30,
     "views": 8, "accuracy": 0.9705, "parasitized_recall": 0.962, "bytes": 934474, "ms_per_image": 3.014,
     "note": "the only configuration at 97 %, three times over the 1 ms budget; deeper narrow layers run slowly in onnxruntime"},
    {"how": "run with --epochs 45", "size": 32, "width": 16, "convs": 1, "members": "1 (seed 42)", "mode": "linear",
     "epochs": 45, "views": 1, "accuracy": 0.9688, "parasitized_recall": 0.956},
    {"how": "run with --epochs 45", "size": 32, "width": 16, "convs": 1, "members": "1 (seed 43)", "mode": "linear",
     "epochs": 45, "views": 1, "accuracy": 0.9665, "parasitized_recall": 0.954},
    {"how": "run with --epochs 45", "size": 32, "width": 16, "convs": 1, "members": 2, "mode": "linear", "epochs": 45,
     "views": 1, "accuracy": 0.9673, "parasitized_recall": 0.9545, "bytes": 790153, "ms_per_image": 0.31},
    {"how": "run with --epochs 45", "size": 32, "width": 16, "convs": 1, "members": 2, "mode": "linear", "epochs": 45,
     "views": 2, "accuracy": 0.9685, "parasitized_recall": 0.9565, "bytes": 790616, "ms_per_image": 0.453},
    {"how": "run with --epochs 45", "size": 32, "width": 16, "convs": 1, "members": 2, "mode": "linear", "epochs": 45,
     "views": 4, "accuracy": 0.9692, "parasitized_recall": 0.9575, "bytes": 791068, "ms_per_image": 0.729},
    {"how": "run with --epochs 45", "size": 32, "width": 16, "convs": 1, "members": 2, "mode": "linear", "epochs": 45,
     "views": 8, "accuracy": 0.97, "parasitized_recall": 0.957, "bytes": 791980, "ms_per_image": 1.309,
     "note": "a longer schedule adds nothing (30 epochs, 4 views: 96.95 %)"},
    {"how": "ad hoc: the width-16 (4 views) and width-10 (1 view) ensembles' graphs, log-odds averaged", "members": 4,
     "accuracy": 0.9702, "parasitized_recall": 0.959, "note": "1.3 ms and 1.7 MB together: over both budgets"},
    # 2026-11-27, second round (version 3): one-off runs on the cached pixels with this file's train() and a
    # variant network (not kept); one member unless said; "at 96.5 % recall": the accuracy when the decision
    # shift is set so that at most 70 of the 2,000 parasitized cells are missed (false alarms in brackets).
    {"how": "ad hoc", "size": 64, "width": 8, "convs": 1, "members": 1, "epochs": 30, "views": 4,
     "accuracy": 0.9683, "parasitized_recall": 0.9535, "note": "5 stages 8/16/32/64/128 at 64 px (1 view: 96.75 %); at 96.5 % recall, 8 views: 96.78 % (59)"},
    {"how": "ad hoc", "size": 64, "width": 16, "convs": 1, "members": 1, "epochs": 30, "views": 8,
     "accuracy": 0.9658, "parasitized_recall": 0.9485, "note": "stride-2 first convolution at 64 px instead of conv + pool at 32 px"},
    {"how": "ad hoc", "size": 32, "width": 24, "convs": 1, "members": 1, "epochs": 30, "views": 4,
     "accuracy": 0.9688, "parasitized_recall": 0.9585, "bytes": 771390, "ms_per_image": 0.917,
     "note": "channels 24/48/96/160 (1 view 96.90 %, 0.39 ms); at 96.5 % recall 96.80 % (58); with label cleaning no better"},
    {"how": "ad hoc", "size": 32, "width": 16, "convs": 1, "members": 2, "epochs": 30, "views": 4,
     "accuracy": 0.9695, "parasitized_recall": 0.957, "note": "version 2 (no cleaning): at 96.5 % recall 96.58 % (67)"},
    {"how": "ad hoc = this script's default", "size": 32, "width": 16, "convs": 1, "members": 2, "epochs": 30, "views": 4,
     "clean": 0.1, "accuracy": 0.9703, "parasitized_recall": 0.958,
     "note": "label cleaning, 129 training images dropped: at 96.5 % recall 96.90 % (54)"},
    {"how": "ad hoc", "size": 32, "width": 16, "convs": 1, "members": 2, "epochs": 30, "views": 4,
     "clean": 0.2, "accuracy": 0.969, "parasitized_recall": 0.958, "note": "206 dropped: at 96.5 % recall 96.88 % (55)"},
    {"how": "ad hoc", "size": 32, "width": 16, "convs": 1, "members": 2, "epochs": 30, "views": 4,
     "clean": "0.1, twice", "accuracy": 0.968, "parasitized_recall": 0.955,
     "note": "second cleaning by the cleaned members (160 dropped): at 96.5 % recall 96.97 % (51)"},
    {"how": "ad hoc", "members": 6, "views": 4, "accuracy": 0.9698, "parasitized_recall": 0.9645,
     "note": "the six cleaned members above together (2.4 MB, ~2.2 ms): 96.97 % with 71 missed and 50 false alarms; "
             "no configuration measured reaches 97.0 % accuracy at 96.5 % parasitized recall"},
]
