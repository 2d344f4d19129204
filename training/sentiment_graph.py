"""ONNX graph for the sentiment model: raw review text in, [negative, positive] probabilities out.

All preprocessing lives in the graph so that the TypeScript server passes the raw review:

  review [N] string
    -> StringNormalizer (LOWER, locale C.UTF-8)
    -> com.microsoft Tokenizer (regex TOKEN_PATTERN, RE2)        [N, T] (padded with PAD)
    -> TfIdfVectorizer (TF counts of the vocabulary's uni+bigrams) [N, V]
    -> on the non-zero counts only (NonZero + GatherND): sublinear tf 1 + log(tf), x idf,
       per-review sums (ScatterElements add) of w^2 and w * coef
    -> logit = dot / max(||w||, 1e-12) + bias  (the L2-normalised features times coef)
    -> Sigmoid -> probabilities [N, 2] = [1 - p, p]

`tokenize` below is the Python twin of the first two steps; training must use it so that the
features seen in training are the ones the graph computes.
"""

import re

import numpy as np
import onnx
from onnx import TensorProto, helper

# Word tokens: runs of ASCII letters/digits, with inner apostrophes ("don't", "it's").
# Python's re and RE2 agree on this pattern (leftmost-first, no backtracking-only features).
TOKEN_PATTERN = r"[a-z0-9]+(?:'[a-z0-9]+)*"
PAD = "#"  # cannot be a token, so n-grams that touch padding never match the vocabulary
_TOKEN_RE = re.compile(TOKEN_PATTERN)


def tokenize(text):
    """Python twin of StringNormalizer(LOWER) + Tokenizer(tokenexp=TOKEN_PATTERN).
    ONNX Runtime lowers code point by code point (towlower); Python's str.lower() maps U+0130
    to two code points ('i' + U+0307), which would split a word that the graph keeps whole."""
    return _TOKEN_RE.findall(text.replace("\u0130", "i").lower())


def build(unigrams, bigrams, idf, coef, bias, opset=17, debug_outputs=False):
    """unigrams: list of str; bigrams: list of (str, str); idf, coef: float arrays over
    unigrams + bigrams (that order); bias: float. Returns the onnx.ModelProto."""
    n_uni, n_bi = len(unigrams), len(bigrams)
    V = n_uni + n_bi
    assert len(idf) == V and len(coef) == V
    pool = list(unigrams) + [w for pair in bigrams for w in pair]

    inits = [
        helper.make_tensor("idf", TensorProto.FLOAT, [V], np.asarray(idf, np.float32)),
        helper.make_tensor("coef", TensorProto.FLOAT, [V], np.asarray(coef, np.float32)),
        helper.make_tensor("bias", TensorProto.FLOAT, [1], [float(bias)]),
        helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
        helper.make_tensor("eps", TensorProto.FLOAT, [], [1e-12]),
        helper.make_tensor("i0", TensorProto.INT64, [], [0]),
        helper.make_tensor("i1", TensorProto.INT64, [], [1]),
        helper.make_tensor("shape_col", TensorProto.INT64, [2], [-1, 1]),
    ]
    nodes = [
        helper.make_node("StringNormalizer", ["review"], ["lowered"], name="lowercase",
                         case_change_action="LOWER", is_case_sensitive=0, locale="C.UTF-8"),
        helper.make_node("Tokenizer", ["lowered"], ["tokens"], name="tokenize", domain="com.microsoft",
                         mark=0, mincharnum=1, pad_value=PAD, tokenexp=TOKEN_PATTERN),
        helper.make_node("TfIdfVectorizer", ["tokens"], ["tf"], name="ngram_counts",
                         mode="TF", min_gram_length=1, max_gram_length=2, max_skip_count=0,
                         ngram_counts=[0, n_uni], ngram_indexes=list(range(V)), pool_strings=pool),
        # The count matrix [N, V] has a few hundred non-zeros per review; dense elementwise ops
        # and a [V, 1] MatMul over it cost milliseconds, so the rest works on the non-zeros only.
        helper.make_node("NonZero", ["tf"], ["nz"]),                            # [2, nnz]: row, column
        helper.make_node("Gather", ["nz", "i0"], ["nz_row"], axis=0),           # [nnz]
        helper.make_node("Gather", ["nz", "i1"], ["nz_col"], axis=0),           # [nnz]
        helper.make_node("Transpose", ["nz"], ["nz_t"], perm=[1, 0]),           # [nnz, 2]
        helper.make_node("GatherND", ["tf", "nz_t"], ["counts"]),               # [nnz], all >= 1
        # sublinear tf: 1 + log(tf), times idf
        helper.make_node("Log", ["counts"], ["log_tf"]),
        helper.make_node("Add", ["log_tf", "one"], ["sub_tf"]),
        helper.make_node("Gather", ["idf", "nz_col"], ["idf_nz"], axis=0),
        helper.make_node("Mul", ["sub_tf", "idf_nz"], ["w"]),
        # per review: sum of w^2 (squared L2 norm) and sum of w * coef (unnormalised score)
        helper.make_node("Gather", ["coef", "nz_col"], ["coef_nz"], axis=0),
        helper.make_node("Mul", ["w", "w"], ["w2"]),
        helper.make_node("Mul", ["w", "coef_nz"], ["wc"]),
        helper.make_node("Shape", ["review"], ["n"]),
        helper.make_node("ConstantOfShape", ["n"], ["zeros"],
                         value=helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0])),   # [N]
        helper.make_node("ScatterElements", ["zeros", "nz_row", "w2"], ["sumsq"], axis=0, reduction="add"),
        helper.make_node("ScatterElements", ["zeros", "nz_row", "wc"], ["dot"], axis=0, reduction="add"),
        # logit = dot / max(||w||, 1e-12) + bias   (= coef . l2normalise(w) + bias)
        helper.make_node("Sqrt", ["sumsq"], ["norm"]),
        helper.make_node("Max", ["norm", "eps"], ["norm_safe"]),
        helper.make_node("Div", ["dot", "norm_safe"], ["score"]),
        helper.make_node("Reshape", ["score", "shape_col"], ["score_col"]),     # [N, 1]
        helper.make_node("Add", ["score_col", "bias"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["p_pos"]),
        helper.make_node("Sub", ["one", "p_pos"], ["p_neg"]),
        helper.make_node("Concat", ["p_neg", "p_pos"], ["probabilities"], axis=1),
    ]
    outputs = [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2])]
    if debug_outputs:  # for the parity check only; the shipped model has one output
        outputs.append(helper.make_tensor_value_info("logit", TensorProto.FLOAT, ["N", 1]))
    graph = helper.make_graph(nodes, "sentiment",
                              [helper.make_tensor_value_info("review", TensorProto.STRING, ["N"])],
                              outputs, initializer=inits)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid("com.microsoft", 1)],
        producer_name="ml-forms",
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
