"""Fit the reference LinearRegression on the walkthrough's generated points (the generator of
training/train_regression.py: y = 3.5x + 1.5 + N(0, 2), seed 42) and pickle it.
Usage: /usr/bin/python3 bench/flask/fit.py OUT.pkl"""
import os
import pickle
import sys

import numpy as np
from sklearn.linear_model import LinearRegression

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "training"))
from train_regression import SEED, generate  # noqa: E402

x, y = generate(np.random.default_rng(SEED))
with open(sys.argv[1], "wb") as f:
    pickle.dump(LinearRegression().fit(x, y), f)
