"""
The walkthrough's stack, as the reference for the form-post benchmark: a Flask app with one form;
the POST handler unpickles a scikit-learn LinearRegression *on every request* (as the walkthrough
did) and renders the prediction into an HTML template. Served by gunicorn with 2 sync workers:

    MODEL_PATH=/tmp/model.pkl gunicorn -w 2 -b 127.0.0.1:5000 --chdir bench/flask app:app

Set RELOAD_MODEL=0 to load the pickle once at import instead (the fairer, faster variant).

PAGE_TEMPLATE=/path/page.html renders that file instead of the walkthrough's one-line page:
`npm run bench` saves ml-forms' own page after a form post there once per run, with the
statement and the input's value left to Jinja ({{ prediction_text }}, {{ x }}), so both servers
answer the same page.
"""
import os
import pickle

import numpy as np
from flask import Flask, render_template, request

PAGE = os.environ.get("PAGE_TEMPLATE")
app = Flask(__name__, template_folder=os.path.dirname(PAGE) if PAGE else "templates")
TEMPLATE = os.path.basename(PAGE) if PAGE else "index.html"
MODEL_PATH = os.environ.get("MODEL_PATH", "model.pkl")
RELOAD = os.environ.get("RELOAD_MODEL", "1") != "0"
_model = None if RELOAD else pickle.load(open(MODEL_PATH, "rb"))


def model():
    if _model is not None:
        return _model
    with open(MODEL_PATH, "rb") as f:
        return pickle.load(f)


@app.route("/")
def home():
    return render_template(TEMPLATE, x="")


@app.route("/predict", methods=["POST"])
def predict():
    x = float(request.form["x"])
    y = model().predict(np.array([[x]]))[0]
    return render_template(TEMPLATE, x=request.form["x"], prediction_text=f"The predicted value for {x:g} is {y:.2f}.")
