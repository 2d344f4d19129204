"""ONNX graph for the sentiment model: raw review text in, [negative, positive] probabilities out.

All preprocessing lives in the graph, so the server (and the browser) pass the raw review:

  review [N] string
    -> StringNormalizer (LOWER, locale C.UTF-8)
    -> com.microsoft Tokenizer (RE2 TOKEN_PATTERN: runs of Unicode letters, marks and numbers,
       inner apostrophes)                                                   tokens [N, T], padded
    -> LabelEncoder: word -> id (1..W), any other word -> 0 (UNK), 'br' and the padding -> -1
    -> n-gram keys from the ids (integers; an n-gram touching -1 is not formed):
         a = id + 1 (so -1 -> 0, UNK -> 1, words -> 2..W+1), B = W + 2
         unigram a1, bigram B + a1·B + a2, trigram B + B² + (a1·B + a2)·B + a3
    -> the n-gram table, a cuckoo hash table in tensors (not a hash map: onnxruntime keeps
       ~80-350 bytes of RSS per entry of LabelEncoder or TfIdfVectorizer maps, a table costs 12):
         slots h1(k), h2(k); the key's 31-bit fingerprint fp(k) is compared with the table's at
         both; the matching slot, or the empty slot S
    -> distinct (review, slot) pairs (Unique): the features are binary, "is this n-gram present"
    -> NB-weighted logistic regression on the L2-normalised features x·r (r: log-count ratio):
         logit = sum(w·r over present n-grams) / sqrt(sum(r² over them)) + bias
    -> / temperature -> Sigmoid -> [1 - p, p], clipped to [1 - cap, cap] when a cap is set
  and, for the reviews whose `explain` flag (bool [N]) is set (explanation(), in an If that skips
  it otherwise): each n-gram's share of the calibrated logit, `contributions` [N, 3, T] (order,
  first token; zeros for the others), and `contribution_bias` [N]

`tokenize`, `word_ids` and `ngram_keys` are the Python twins of the first steps, and `lookup` the
twin of the table: training uses them, so the features seen in training are the ones the graph
computes (the training script checks every validation review through the graph).
"""

import re
import sys
import unicodedata

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# A word: letters, combining marks and numbers of any script (Unicode general categories L*, M*, N*),
# with inner apostrophes ("don't", "l'été"). RE2's \p classes in the graph; the Python twin builds
# the same class from unicodedata (Python's own \w leaves out marks and keeps '_').
TOKEN_PATTERN = r"[\p{L}\p{M}\p{N}]+(?:'[\p{L}\p{M}\p{N}]+)*"
PAD = "#"  # cannot be a token
BREAK_TOKENS = ("br",)  # what the <br /> tags tokenise to: formatting, not words; n-grams stop there
OPSET = 17
ML_OPSET = 2

# Integer hashing, exact in numpy and in onnxruntime (int64, every product below 2^63): universal
# hashing ((A·(k mod P) + C) mod P) mod S, with a different prime P for each slot and for the
# fingerprint, so the three are independent of each other (cuckoo insertion needs the two slots
# independent: a slot linear in the key, A·k + C mod S, makes the second a function of the first).
P1, P2, P3 = 2147483647, 2147483629, 2147483587  # primes below 2^31
A1, C1 = 1103515245, 12345
A2, C2 = 1664525, 1013904223
A3 = 69069


def _letter_class():
    ranges, start = [], None
    for cp in range(sys.maxunicode + 1):
        ok = unicodedata.category(chr(cp))[0] in "LMN"
        if ok and start is None:
            start = cp
        elif not ok and start is not None:
            ranges.append((start, cp - 1))
            start = None
    if start is not None:
        ranges.append((start, sys.maxunicode))
    return "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)


_L = _letter_class()
_TOKEN_RE = re.compile(f"[{_L}]+(?:'[{_L}]+)*")


def tokenize(text):
    """Python twin of StringNormalizer(LOWER, C.UTF-8) + Tokenizer(TOKEN_PATTERN). onnxruntime
    lowers code point by code point (towlower); Python's str.lower() is contextual for a final
    sigma and maps U+0130 to two code points, so it is applied to one character at a time, with
    U+0130 -> 'i' as towlower does."""
    return _TOKEN_RE.findall("".join("i" if ch == "\u0130" else ch.lower() for ch in text))


def word_ids(tokens, index):
    """index: word -> id (1..W). Others -> 0 (UNK), break tokens -> -1."""
    return np.array([-1 if t in BREAK_TOKENS else index.get(t, 0) for t in tokens], dtype=np.int64)


def ngram_keys(ids, n_words):
    """Unigram, bigram and trigram keys of one review's ids (graph twin); n-grams touching -1 are
    not formed. Keys of different orders never collide."""
    a = ids + 1
    base = n_words + 2
    ok = a > 0
    keys = [a[ok]]
    if len(a) > 1:
        m = ok[:-1] & ok[1:]
        keys.append((base + a[:-1] * base + a[1:])[m])
    if len(a) > 2:
        m = ok[:-2] & ok[1:-1] & ok[2:]
        keys.append((base + base * base + (a[:-2] * base + a[1:-1]) * base + a[2:])[m])
    return np.concatenate(keys)


def _hashes(keys, n_slots):
    return (((keys % P1) * A1 + C1) % P1) % n_slots, (((keys % P2) * A2 + C2) % P2) % n_slots, ((keys % P3) * A3) % P3


class Table:
    """Cuckoo hash table of the vocabulary's n-gram keys: slot -> (fingerprint, entry index).
    Two candidate slots per key; load <= 0.45, so insertion succeeds (else the table grows)."""

    def __init__(self, keys, load=0.45, seed=42):
        keys = np.asarray(keys, dtype=np.int64)
        n_slots = int(len(keys) / load) + 1
        rng = np.random.default_rng(seed)
        while True:
            h1, h2, fp = _hashes(keys, n_slots)
            owner = np.full(n_slots, -1, dtype=np.int64)
            ok = True
            for i in range(len(keys)):
                item, slot = i, h1[i]
                for _ in range(500):
                    if owner[slot] < 0:
                        owner[slot] = item
                        break
                    owner[slot], item = item, owner[slot]
                    # the evicted item goes to its other slot (or a random one of its two if equal)
                    slot = h2[item] if slot == h1[item] else h1[item]
                    if h1[item] == h2[item] and rng.random() < 0.5:
                        slot = h1[item]
                else:
                    ok = False
                    break
            if ok:
                break
            n_slots = int(n_slots * 1.1) + 1
            if n_slots > 4 * len(keys) + 64:
                raise RuntimeError("cuckoo insertion keeps failing: the hash functions are not independent")
        self.n_slots = n_slots
        self.owner = owner  # slot -> entry index or -1
        fps = np.full(n_slots + 1, -1, dtype=np.int64)  # + the empty slot S
        fps[:n_slots][owner >= 0] = fp[owner[owner >= 0]]
        self.fingerprints = fps.astype(np.int32)

    def column(self, values):
        """values per entry -> float32 per slot (the empty slot and free slots: 0)."""
        out = np.zeros(self.n_slots + 1, dtype=np.float32)
        used = self.owner >= 0
        out[:self.n_slots][used] = np.asarray(values, dtype=np.float32)[self.owner[used]]
        return out


def lookup(table, keys):
    """Graph twin: each key's slot (the empty slot S when it is not in the table)."""
    h1, h2, fp = _hashes(np.asarray(keys, dtype=np.int64), table.n_slots)
    fp = fp.astype(np.int32)
    return np.where(table.fingerprints[h1] == fp, h1, np.where(table.fingerprints[h2] == fp, h2, table.n_slots))


def review_slots(text, index, table):
    """Distinct table slots of one review (the empty slot dropped): what the graph's Unique gives."""
    slots = np.unique(lookup(table, ngram_keys(word_ids(tokenize(text), index), len(index))))
    return slots[slots != table.n_slots]


# The explanation outputs, fetched by the app only to explain (the card marks them `on_request`).
# onnxruntime runs every node of a graph whatever outputs a caller fetches, so the nodes that make
# them sit in an If on the input EXPLAIN_INPUT: unless a flag is set, only the switch runs.
EXPLANATION_OUTPUTS = ("contributions", "contribution_bias")
EXPLAIN_INPUT = "explain"
EXPLANATION = (
    "contributions[n, k, i]: the share of the (k+1)-gram of tokens i..i+k of review n in the calibrated logit, "
    "(w·r of its table slot) / (the review's L2 norm) / temperature / (how many times that table slot occurs in the "
    "review: the feature is binary, so a repeated n-gram's one term is spread evenly over its occurrences); 0 where "
    "the n-gram is not formed ('br', padding, past the end) or not in the table, and for every review whose `explain` "
    "flag is false. contribution_bias[n] = bias / temperature. sigmoid(contribution_bias[n] + sum(contributions[n])) "
    "is the positive probability before the clip to the confidence cap."
)
EXPLAIN_DESCRIPTION = (
    "one flag per review: `contributions` are computed for the reviews whose flag is set; with every flag false "
    "the explanation's nodes do not run (an If skips them) and `contributions` is all zeros, [N, 3, T]; "
    "`probabilities` are bit for bit the same either way (the cost: performance.explanation_cost)"
)


def explanation(prefix="explain_", flag=EXPLAIN_INPUT):
    """Nodes, initializers, graph outputs and the graph input `flag` (bool [N], one per review) that
    add EXPLANATION_OUTPUTS to a graph of build(): the nodes only read tensors that build() names
    (a, valid, valid_flat, k, k_rows, all_pairs, wr, norm_safe, zeros, n, rows_col, bias,
    inv_temperature) and change none of its nodes, so the same function serves a new training run
    (build) and a graph already committed (training/sentiment_explain.py), and quantize.py's rewrite
    of `wr` (codebook) and of the table (pruning) leaves them exact.

    The work is in the then-branch of an If on "any flag set": onnxruntime runs every node of the main
    graph on every run, fetched or not (measured: these nodes cost ~0.04 ms per review when they ran
    always), but a branch not taken does not run. The else-branch gives zeros [N, 3, T], the shape the
    then-branch gives. Inside, a review whose flag is false has its positions dropped, so a batch of
    mixed flags gets zeros for those reviews. The branch sorts the (review, slot) pairs again for
    their inverse indices and counts rather than asking the prediction's Unique for them: that
    Unique then costs ~0.004 ms more on every run, the second sort only when explaining. Both sort the
    same `all_pairs`, so the branch's distinct pairs are the prediction's, in the order of `wr`.

    Each valid n-gram position already has its key, review (k_rows) and slot in the order of `k`;
    here it also gets its place in the [N, 3, T] output (review n, order k, first token i), and from
    the Unique its pair and how many positions share that pair."""
    x = lambda name: prefix + name  # noqa: E731
    i64 = lambda name, v: numpy_helper.from_array(np.asarray(v, dtype=np.int64), x(name))  # noqa: E731
    n = helper.make_node
    inits = [i64("two", 2), i64("three_1", [3]), i64("col", [-1, 1])]
    # [N, 3, T] of zeros: what the else-branch returns, and what the then-branch scatters into
    shape_nodes = lambda tag, zeros3: [  # noqa: E731
        n("Shape", ["a"], [x(tag + "T_1")], start=1, end=2),                             # [1]
        n("Concat", ["n", x("three_1"), x(tag + "T_1")], [x(tag + "shape")], axis=0),
        n("ConstantOfShape", [x(tag + "shape")], [zeros3], value=helper.make_tensor("z", TensorProto.FLOAT, [1], [0.0])),
    ]
    then_nodes = shape_nodes("", x("zeros3")) + [
        # each distinct (review, slot) pair's multiplicity, and each pair's index among them
        n("Unique", ["all_pairs"], [x("uniq"), "", x("pair_inverse"), x("pair_counts")], sorted=1),
        # the reviews asked for: their n-gram positions, in the order of `k`
        n("Reshape", [flag, x("col")], [x("flag_col")]),                                 # [N, 1]
        n("And", ["valid", x("flag_col")], [x("asked")]),                                # [N, L]
        n("Reshape", [x("asked"), "flat"], [x("asked_flat")]),
        n("Compress", [x("asked_flat"), "valid_flat"], [x("asked_k")], axis=0),          # [M] of `k`
        # T and each token position's place in a flat [N, 3, T]: n·3T + k·T + i
        n("Squeeze", [x("T_1")], [x("T")]),
        n("Range", ["zero", x("T"), "one_i"], [x("cols")]),                              # [T]
        n("Mul", [x("T"), x("three_1")], [x("T3_1")]),
        n("Mul", ["rows_col", x("T3_1")], [x("row_start")]),                             # [N, 1]
        n("Add", [x("row_start"), x("cols")], [x("at1")]),                               # [N, T]
        # the same slices build() takes of `a` for bigrams and trigrams, so the layouts agree
        n("Slice", [x("at1"), "zero_1", "m1_1", "axis1"], [x("at2_0")]),
        n("Add", [x("at2_0"), x("T")], [x("at2")]),
        n("Slice", [x("at1"), "zero_1", "m2_1", "axis1"], [x("at3_0")]),
        n("Mul", [x("T"), x("two")], [x("T2")]),
        n("Add", [x("at3_0"), x("T2")], [x("at3")]),
        n("Concat", [x("at1"), x("at2"), x("at3")], [x("at")], axis=1),                  # like `keys`
        n("Reshape", [x("at"), "flat"], [x("at_flat")]),
        n("Compress", [x("at_flat"), x("asked_flat")], [x("at_k")], axis=0),             # like `k`, asked only
        # each position's (review, slot) pair among the distinct ones, and its multiplicity
        n("Shape", ["k"], [x("M")]),
        n("Slice", [x("pair_inverse"), "zero_1", x("M")], [x("pair_all")]),              # `pairs` part only
        n("Compress", [x("pair_all"), x("asked_k")], [x("pair_k")], axis=0),
        n("Compress", ["k_rows", x("asked_k")], [x("rows_k")], axis=0),
        n("Cast", [x("pair_counts")], [x("counts_f")], to=TensorProto.FLOAT),
        n("Div", ["wr", x("counts_f")], [x("wr_each")]),
        n("Gather", [x("wr_each"), x("pair_k")], [x("wr_k")], axis=0),
        n("Gather", ["norm_safe", x("rows_k")], [x("norm_k")], axis=0),
        n("Div", [x("wr_k"), x("norm_k")], [x("score_k")]),
        n("Mul", [x("score_k"), "inv_temperature"], [x("logit_k")]),
        # into [N, 3, T], zeros elsewhere
        n("Reshape", [x("zeros3"), "flat"], [x("zeros_flat")]),
        n("ScatterElements", [x("zeros_flat"), x("at_k"), x("logit_k")], [x("scattered")], axis=0),
        # allowzero: T is 0 when no review of the batch has a token, and a 0 in Reshape's shape
        # otherwise means "keep the input's dimension"
        n("Reshape", [x("scattered"), x("shape")], [x("then_contributions")], allowzero=1),
    ]
    else_nodes = shape_nodes("else_", x("else_contributions"))  # 3 nodes: each node of a branch costs ~1 µs
    out = lambda name: helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", 3, "T"])  # noqa: E731
    then_branch = helper.make_graph(then_nodes, "explain", [], [out(x("then_contributions"))])
    else_branch = helper.make_graph(else_nodes, "do_not_explain", [], [out(x("else_contributions"))])
    nodes = [
        # any flag set: If takes one bool (ReduceMax takes no bool in opset 17)
        n("Cast", [flag], [x("flags")], to=TensorProto.INT32),
        n("ReduceMax", [x("flags")], [x("any_i")], keepdims=0),
        n("Cast", [x("any_i")], [x("any")], to=TensorProto.BOOL),
        n("If", [x("any")], ["contributions"], then_branch=then_branch, else_branch=else_branch),
        n("Mul", ["bias", "inv_temperature"], [x("bias_scaled")]),                       # folded at load
        n("Add", ["zeros", x("bias_scaled")], ["contribution_bias"]),                    # [N]
    ]
    outputs = [out("contributions"), helper.make_tensor_value_info("contribution_bias", TensorProto.FLOAT, ["N"])]
    flag_input = helper.make_tensor_value_info(flag, TensorProto.BOOL, ["N"])
    return nodes, inits, outputs, flag_input


def build(words, table, weight, r, bias, temperature=1.0, cap=None, debug_outputs=False):
    """words: the W words, in id order (id = position + 1). table: Table over the vocabulary;
    weight, r: per vocabulary entry (the classifier's coefficient and the n-gram's log-count
    ratio); bias: float. Returns the onnx.ModelProto."""
    n_words, S = len(words), table.n_slots
    base = n_words + 2
    i64 = lambda name, v: numpy_helper.from_array(np.asarray(v, dtype=np.int64), name)  # noqa: E731
    f32 = lambda name, v: numpy_helper.from_array(np.asarray(v, dtype=np.float32), name)  # noqa: E731
    inits = [
        numpy_helper.from_array(table.fingerprints, "fingerprints"),
        f32("slot_weight", table.column(np.asarray(weight) * np.asarray(r))),   # w·r
        f32("slot_r2", table.column(np.asarray(r) ** 2)),                         # r²
        f32("bias", [bias]), f32("inv_temperature", [1.0 / temperature]),
        f32("one", 1.0), f32("eps", 1e-12),
        i64("zero", 0), i64("one_i", 1), i64("zero_1", [0]), i64("one_1", [1]), i64("two_1", [2]),
        i64("m1_1", [-1]), i64("m2_1", [-2]), i64("big_1", [np.iinfo(np.int64).max]), i64("axis1", [1]),
        i64("base", base), i64("base2", base + base * base),
        i64("P1", P1), i64("P2", P2), i64("P3", P3), i64("A1", A1), i64("C1", C1), i64("A2", A2), i64("C2", C2), i64("A3", A3),
        i64("S", S), i64("S1", S + 1), i64("flat", [-1]), i64("col", [-1, 1]),
    ]
    n = helper.make_node
    sl = lambda x, start, end, out: n("Slice", [x, start, end, "axis1"], [out])  # noqa: E731
    nodes = [
        n("StringNormalizer", ["review"], ["lowered"], case_change_action="LOWER", is_case_sensitive=0, locale="C.UTF-8"),
        n("Tokenizer", ["lowered"], ["tokens"], domain="com.microsoft", mark=0, mincharnum=1, pad_value=PAD, tokenexp=TOKEN_PATTERN),
        n("LabelEncoder", ["tokens"], ["ids"], domain="ai.onnx.ml", default_int64=0,
          keys_strings=list(words) + [PAD, *BREAK_TOKENS], values_int64s=list(range(1, n_words + 1)) + [-1] * (1 + len(BREAK_TOKENS))),
        n("Add", ["ids", "one_i"], ["a"]),                                   # -1 -> 0, UNK -> 1
        n("Greater", ["a", "zero"], ["ok"]),
        # bigrams and trigrams over adjacent positions (empty when the review is that short)
        sl("a", "zero_1", "m1_1", "a_0"), sl("a", "one_1", "big_1", "a_1"),
        sl("a", "zero_1", "m2_1", "a_00"), sl("a", "one_1", "m1_1", "a_11"), sl("a", "two_1", "big_1", "a_22"),
        sl("ok", "zero_1", "m1_1", "ok_0"), sl("ok", "one_1", "big_1", "ok_1"), sl("ok", "two_1", "big_1", "ok_2"),
        n("Mul", ["a_0", "base"], ["b0"]), n("Add", ["b0", "a_1"], ["b1"]), n("Add", ["b1", "base"], ["k2"]),
        n("And", ["ok_0", "ok_1"], ["m2"]),
        n("Mul", ["a_00", "base"], ["t0"]), n("Add", ["t0", "a_11"], ["t1"]), n("Mul", ["t1", "base"], ["t2"]),
        n("Add", ["t2", "a_22"], ["t3"]), n("Add", ["t3", "base2"], ["k3"]),
        sl("m2", "zero_1", "m1_1", "m2_0"), n("And", ["m2_0", "ok_2"], ["m3"]),
        n("Concat", ["a", "k2", "k3"], ["keys"], axis=1),
        n("Concat", ["ok", "m2", "m3"], ["valid"], axis=1),
        # the review each key belongs to
        n("Shape", ["review"], ["n"]),
        n("Squeeze", ["n"], ["n_scalar"]),
        n("Range", ["zero", "n_scalar", "one_i"], ["rows"]),               # [N]
        n("Reshape", ["rows", "col"], ["rows_col"]),                       # [N, 1]
        n("Mul", ["keys", "zero"], ["zeros_like_keys"]),
        n("Add", ["zeros_like_keys", "rows_col"], ["key_rows"]),           # [N, L]
        n("Reshape", ["keys", "flat"], ["keys_flat"]), n("Reshape", ["valid", "flat"], ["valid_flat"]),
        n("Reshape", ["key_rows", "flat"], ["rows_flat"]),
        n("Compress", ["keys_flat", "valid_flat"], ["k"], axis=0),
        n("Compress", ["rows_flat", "valid_flat"], ["k_rows"], axis=0),
        # cuckoo lookup: slot h1 or h2 if the fingerprint matches, else the empty slot S
        n("Mod", ["k", "P1"], ["k1"]),
        n("Mul", ["k1", "A1"], ["h1a"]), n("Add", ["h1a", "C1"], ["h1b"]), n("Mod", ["h1b", "P1"], ["h1c"]), n("Mod", ["h1c", "S"], ["h1"]),
        n("Mod", ["k", "P2"], ["k2m"]),
        n("Mul", ["k2m", "A2"], ["h2a"]), n("Add", ["h2a", "C2"], ["h2b"]), n("Mod", ["h2b", "P2"], ["h2c"]), n("Mod", ["h2c", "S"], ["h2"]),
        n("Mod", ["k", "P3"], ["k3m"]), n("Mul", ["k3m", "A3"], ["fpa"]), n("Mod", ["fpa", "P3"], ["fp64"]),
        n("Cast", ["fp64"], ["fp"], to=TensorProto.INT32),
        n("Gather", ["fingerprints", "h1"], ["f1"], axis=0), n("Gather", ["fingerprints", "h2"], ["f2"], axis=0),
        n("Equal", ["f1", "fp"], ["at1"]), n("Equal", ["f2", "fp"], ["at2"]),
        n("Where", ["at2", "h2", "S"], ["slot2"]),
        n("Where", ["at1", "h1", "slot2"], ["slot"]),
        # distinct (review, slot) pairs; one empty-slot pair per review so that no review is absent
        n("Mul", ["k_rows", "S1"], ["kr"]), n("Add", ["kr", "slot"], ["pairs"]),
        n("Mul", ["rows", "S1"], ["rr"]), n("Add", ["rr", "S"], ["empty_pairs"]),
        n("Concat", ["pairs", "empty_pairs"], ["all_pairs"], axis=0),
        n("Unique", ["all_pairs"], ["uniq"], sorted=1),
        n("Div", ["uniq", "S1"], ["u_row"]), n("Mod", ["uniq", "S1"], ["u_slot"]),
        n("Gather", ["slot_weight", "u_slot"], ["wr"], axis=0),
        n("Gather", ["slot_r2", "u_slot"], ["r2"], axis=0),
        n("ConstantOfShape", ["n"], ["zeros"], value=helper.make_tensor("z", TensorProto.FLOAT, [1], [0.0])),
        n("ScatterElements", ["zeros", "u_row", "wr"], ["dot"], axis=0, reduction="add"),
        n("ScatterElements", ["zeros", "u_row", "r2"], ["sumsq"], axis=0, reduction="add"),
        n("Sqrt", ["sumsq"], ["norm"]), n("Max", ["norm", "eps"], ["norm_safe"]),
        n("Div", ["dot", "norm_safe"], ["score"]),
        n("Reshape", ["score", "col"], ["score_col"]),
        n("Add", ["score_col", "bias"], ["logit"]),                          # [N, 1]
        n("Mul", ["logit", "inv_temperature"], ["scaled"]),
        n("Sigmoid", ["scaled"], ["p_pos"]), n("Sub", ["one", "p_pos"], ["p_neg"]),
        n("Concat", ["p_neg", "p_pos"], ["probs"] if cap is not None else ["probabilities"], axis=1),
    ]
    if cap is not None:
        inits += [f32("cap_low", 1.0 - cap), f32("cap_high", cap)]
        nodes.append(n("Clip", ["probs", "cap_low", "cap_high"], ["probabilities"]))
    explain_nodes, explain_inits, explain_outputs, explain_input = explanation()
    nodes += explain_nodes
    inits += explain_inits
    outputs = [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2]), *explain_outputs]
    if debug_outputs:  # for the parity check only; the shipped model does not have it
        outputs.append(helper.make_tensor_value_info("logit", TensorProto.FLOAT, ["N", 1]))
    graph = helper.make_graph(nodes, "sentiment", [helper.make_tensor_value_info("review", TensorProto.STRING, ["N"]), explain_input],
                              outputs, initializer=inits)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("com.microsoft", 1), helper.make_opsetid("ai.onnx.ml", ML_OPSET)],
        producer_name="ml-forms training/sentiment_graph.py",
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
