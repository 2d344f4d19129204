"""The malaria ONNX graph, composed with onnx.helper around the torch-exported CNN.

    image uint8 [N, H, W, 3], any H and W (RGB, NHWC; a batch holds images of one size)
      -> Transpose to NCHW
      -> Resize (antialias=1) to fit S x S, keeping the aspect ratio: the longer side becomes S,
         the shorter round(side * S / longer), at least 1 pixel; uint8 in and out
      -> Pad with black to S x S, centred                         = `pixels` uint8 [N, 3, S, S]
      -> Cast to float -> [test-time views: the 8 flips/rotations, concatenated on the batch axis]
      -> the CNN (torch export: per-channel normalisation, convolutions, linear) -> logits
      -> [mean of the views' logits] -> [+ decision shift on the parasitized logit] -> / temperature
      -> Softmax -> [clip to the supported cap]
      -> probabilities float32 [N, 2]

The explanation (add_explanation, issue 25), computed only for a batch whose `explain` flags ask:
      explain    bool [N]           input: true asks for the map (any flag: the whole batch)
      logits     float32 [N, 2]     the calibrated logits (after the temperature, before the softmax)
      occlusion  float32 [N, G, G]  margin(canvas) - margin(canvas with block (r, c) black), where
                                    margin = logit(parasitized) - logit(uninfected): the G x G blocks
                                    of the S x S canvas blacked out one at a time, each copy through
                                    the same nodes as the canvas; [0, G, G] when no flag is set

Resize comes before the padding, not after: padding a 25-megapixel strip (say 25,000 x 1,000) to a
square first would allocate 1.9 GB. For a square cell crop both orders are the same image.

The preprocessing part (everything up to `pixels`) is also written alone as a small model:
training/prepare-malaria.ts runs it in onnxruntime-node on every image decoded by src/images.ts,
and PyTorch trains on its output. There is no other resize implementation anywhere.

Opset 18 (Resize's antialias attribute). onnx 1.12's checker only knows opset 17, so these graphs
are not passed through onnx.checker; onnxruntime (1.14+) loads and checks them.
"""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 18
IR_VERSION = 8
# Chosen by measurement (see the card's selection): 'linear' with antialias is a triangle filter
# as wide as the downscaling factor; 'cubic' (a = -0.5, exclude_outside) a 4-tap cubic one.
RESIZE_MODES = {
    "linear": {"mode": "linear"},
    "cubic": {"mode": "cubic", "cubic_coeff_a": -0.5, "exclude_outside": 1},
}
# The dihedral group of the square: (transpose H and W?, flip H?, flip W?).
DIHEDRAL = [(t, fh, fw) for t in (False, True) for fh in (False, True) for fw in (False, True)]
INT64_MIN = np.iinfo(np.int64).min
# The occlusion map's grid: 4 x 4 blocks of 8 x 8 canvas pixels. Chosen by measurement (the card's
# "explanation"): the 4 x 4 map adds ~6.4 ms per cell in onnxruntime-node (16 copies x 4 views x 2
# CNNs), the 8 x 8 one ~31 ms, over issue 25's budget of 15 ms.
EXPLANATION_GRID = 4


class _Builder:
    def __init__(self, prefix=""):
        self.prefix = prefix
        self.nodes = []
        self.initializers = []

    def const(self, name, value, dtype=np.int64):
        full = self.prefix + name
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), full))
        return full

    def op(self, op_type, inputs, name, **attrs):
        out = self.prefix + name
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out


def _preprocess(b, size, mode):
    """Adds the nodes image -> pixels (uint8 NCHW S x S) to builder b; returns the output name."""
    one, two, zero = b.const("one", [1]), b.const("two", [2]), b.const("zero", [0])
    shape = b.op("Shape", ["image"], "shape")
    batch = b.op("Slice", [shape, zero, one], "batch")
    hw = b.op("Slice", [shape, one, b.const("three", [3])], "hw")
    longer = b.op("ReduceMax", [hw], "longer", keepdims=1)
    # fitted = max(1, round_half_up(hw * S / longer)) in integers: (2·hw·S + longer) // (2·longer)
    num = b.op("Add", [b.op("Mul", [hw, b.const("two_s", [2 * size])], "hw2s"), longer], "fit_num")
    fitted = b.op("Max", [b.op("Div", [num, b.op("Mul", [longer, two], "fit_den")], "fit_raw"), one], "fitted")
    nchw = b.op("Transpose", ["image"], "nchw", perm=[0, 3, 1, 2])
    sizes = b.op("Concat", [batch, b.const("channels", [3]), fitted], "sizes", axis=0)
    resized = b.op("Resize", [nchw, "", "", sizes], "resized", antialias=1, **RESIZE_MODES[mode])
    gap = b.op("Sub", [b.const("s", [size]), fitted], "gap")
    before = b.op("Div", [gap, two], "pad_before")
    after = b.op("Sub", [gap, before], "pad_after")
    pads = b.op("Concat", [zero, zero, before, zero, zero, after], "pads", axis=0)
    return b.op("Pad", [resized, pads], "pixels", mode="constant")


def _model(b, graph_name, output, output_type, output_shape, doc):
    graph = helper.make_graph(
        b.nodes, graph_name,
        [helper.make_tensor_value_info("image", TensorProto.UINT8, ["N", "H", "W", 3])],
        [helper.make_tensor_value_info(output, output_type, output_shape)],
        b.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="ml-forms training/malaria_graph.py")
    model.ir_version = IR_VERSION
    model.doc_string = doc
    return model


def preprocessing_model(size, mode):
    """image uint8 [N, H, W, 3] -> pixels uint8 [N, 3, S, S]: the final graph's first nodes, alone."""
    b = _Builder()
    _preprocess(b, size, mode)
    return _model(b, "malaria_preprocessing", "pixels", TensorProto.UINT8, ["N", 3, size, size],
                  f"malaria preprocessing: fit into {size}x{size} (Resize {mode}, antialias), black padding")


def _views(b, x, views):
    """x float [N,3,S,S] -> [views·N,3,S,S]: the first `views` elements of the dihedral group."""
    if views == 1:
        return x
    outs = []
    for i, (transpose, flip_h, flip_w) in enumerate(DIHEDRAL[:views]):
        y = x
        if transpose:
            y = b.op("Transpose", [y], f"view{i}_t", perm=[0, 1, 3, 2])
        axes = [a for a, f in ((2, flip_h), (3, flip_w)) if f]
        if axes:
            n = len(axes)
            y = b.op("Slice", [y, b.const(f"view{i}_starts", [-1] * n), b.const(f"view{i}_ends", [INT64_MIN] * n),
                               b.const(f"view{i}_axes", axes), b.const(f"view{i}_steps", [-1] * n)], f"view{i}")
        outs.append(y)
    return b.op("Concat", outs, "views", axis=0)


def _append_cnn(b, cnn, x, prefix):
    """Copies a torch-exported CNN (one float input, one output) into b, every name prefixed so
    nothing collides; its input becomes x. Returns the name of its output."""
    g = cnn.graph
    inits = {t.name for t in g.initializer}
    (cnn_in,), (cnn_out,) = [i.name for i in g.input if i.name not in inits], [o.name for o in g.output]
    ren = lambda n: x if n == cnn_in else (prefix + n if n else n)  # noqa: E731
    for init in g.initializer:
        t = onnx.TensorProto()
        t.CopyFrom(init)
        t.name = ren(init.name)
        b.initializers.append(t)
    for node in g.node:
        n = onnx.NodeProto()
        n.CopyFrom(node)
        n.name = prefix + node.name
        n.input[:] = [ren(i) for i in node.input]
        n.output[:] = [ren(o) for o in node.output]
        b.nodes.append(n)
    return ren(cnn_out)


def compose(cnns, size, mode, temperature=1.0, views=1, cap=None, shift=0.0, explain_grid=EXPLANATION_GRID):
    """The served model. `cnns`: torch-exported ModelProtos, each with one float input (NCHW, values
    0..255) and one output (logits [M, 2]); several are an ensemble (logits averaged).
    temperature: logits are divided by it before the softmax. views: how many dihedral views are
    averaged (logits). cap: if set, probabilities are clipped to [1 - cap, cap] (two classes, so
    they still sum to 1). shift: added to the first (parasitized) logit before the temperature, so the
    most probable label is parasitized from a lower unshifted probability (the cost of a missed
    parasite; see train_malaria.py's DECISION_RULE). explain_grid: the occlusion map's grid (add_explanation; None: no map)."""
    b = _Builder()
    pixels = _preprocess(b, size, mode)
    x = _views(b, b.op("Cast", [pixels], "pixels_float", to=TensorProto.FLOAT), views)
    outs = [_append_cnn(b, cnn, x, f"cnn{i}/") for i, cnn in enumerate(cnns)]
    logits = outs[0] if len(outs) == 1 else b.op("Mean", outs, "ensemble_logits")
    if views > 1:
        per_view = b.op("Reshape", [logits, b.const("views_shape", [views, -1, 2])], "view_logits")
        logits = b.op("ReduceMean", [per_view, b.const("view_axis", [0])], "mean_logits", keepdims=0)
    if shift:
        logits = b.op("Add", [logits, b.const("decision_shift", [[shift, 0.0]], np.float32)], "shifted_logits")
    scaled = b.op("Div", [logits, b.const("temperature", [temperature], np.float32)], "scaled_logits")
    probs = b.op("Softmax", [scaled], "softmax" if cap is not None else "probabilities", axis=1)
    if cap is not None:
        probs = b.op("Clip", [probs, b.const("cap_low", 1.0 - cap, np.float32), b.const("cap_high", cap, np.float32)], "probabilities")
    doc = (f"malaria: fit into {size}x{size} (Resize {mode}, antialias), black padding; {len(cnns)} CNN(s); {views} "
           f"dihedral view(s) averaged; "
           + (f"parasitized logit + {shift:g}; " if shift else "") + f"temperature {temperature:.4f}"
           + (f"; probabilities clipped to [{1 - cap:g}, {cap:g}]" if cap is not None else ""))
    model = _model(b, "malaria", "probabilities", TensorProto.FLOAT, ["N", 2], doc)
    if explain_grid is not None:
        add_explanation(model, explain_grid)
    return model


def _path_nodes(graph, source, target):
    """The nodes on some path from tensor `source` to tensor `target`, in graph order."""
    reached, forward = {source}, set()
    for i, node in enumerate(graph.node):
        if reached.intersection(node.input):
            forward.add(i)
            reached.update(node.output)
    needed, on_path = {target}, []
    for i in reversed(range(len(graph.node))):
        node = graph.node[i]
        if needed.intersection(node.output):
            needed.update(x for x in node.input if x)
            if i in forward:
                on_path.append(node)
    return on_path[::-1]


def add_explanation(model, grid=EXPLANATION_GRID):
    """Adds the input `explain` and the outputs `logits` and `occlusion` (see the module's doc) to a
    composed malaria graph, float or 8-bit (training/quantize.py). Returns a short report.

    The occluded copies go through the prediction's own nodes: the canvas (`pixels_float`, values
    0..255, before the CNN's normalisation) and its copies times a 0/1 mask (black is 0, as in the
    padding; every other pixel is exactly the canvas's) are one batch [N + N*G*G, 3, S, S] for the
    views, the CNNs, the view mean, the decision shift and the temperature; the first N rows of the
    result are `scaled_logits` as before (softmax, clip, `probabilities`), the rest the copies'.
    Nothing is duplicated: the file grows by the ~25 nodes below, and in the 8-bit graph the copies
    use the same dequantized weights. Image n's copies are rows N + n*G*G .. N + (n+1)*G*G - 1, so
    a batch of N images works as the prediction does; measured on the 4,000 validation images,
    `probabilities` are bit for bit the same with and without the copies in the batch.

    The copies are made only when a flag of `explain` (bool [N]; any flag explains the whole batch)
    is set. onnxruntime's builds for Node and the browser run every node of a graph whatever the
    caller fetches (running only the nodes the fetches need is compiled in with ENABLE_TRAINING
    only): measured, a graph that always made them took ~15x the time of a prediction. With no flag
    set, the copies' batch is empty, the added nodes run on empty tensors (~0.02 ms) and
    `occlusion` is [0, G, G]. `explain` is a required input: onnxruntime-node ignores a feed for an
    initializer-backed (optional) input. Tried and dropped: the copies in an If's branch (its CNN
    ran 2.3x slower than the same nodes in the main graph: 19 vs 8.5 ms of CPU per cell), and copies
    of the nodes in the main graph on a batch that is empty unless asked (~0.045 ms per prediction
    for the empty copies' 43 nodes)."""
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    if "s" not in inits or any(i.name == "explain" for i in g.input):
        raise ValueError("add_explanation: expects a composed malaria graph without the explanation")
    size = int(numpy_helper.to_array(inits["s"])[0])
    if size % grid:
        raise ValueError(f"add_explanation: the {size}x{size} canvas cannot be cut into {grid}x{grid} equal blocks")
    block = size // grid
    if len({n.name for n in g.node}) != len(g.node):
        raise ValueError("add_explanation: node names are not unique")
    path = {n.name for n in _path_nodes(g, "pixels_float", "scaled_logits")}

    head = _Builder("explain/")  # after `pixels_float`: the batch of the canvas and its copies
    zero, one = head.const("zero", [0]), head.const("one", [1])
    wanted = head.op("ReduceMax", [head.op("Cast", ["explain"], "flags", to=TensorProto.INT64)], "any", keepdims=1)  # [1]
    batch = head.op("Slice", [head.op("Shape", ["pixels_float"], "canvas_shape"), zero, one], "batch")
    explained = head.op("Mul", [batch, wanted], "explained")  # N or 0
    # keep[k, 0, y, x] = 0 inside block k = (r, c) = (y // block, x // block), 1 elsewhere (folded at load).
    rows = (np.arange(size)[None, :] // block == np.arange(grid)[:, None]).astype(np.float32)
    in_block = head.op("Mul", [head.const("block_rows", rows.reshape(grid, 1, size, 1), np.float32),
                               head.const("block_cols", rows.reshape(1, grid, 1, size), np.float32)], "in_block")
    keep = head.op("Reshape", [head.op("Sub", [head.const("one_f", 1.0, np.float32), in_block], "keep_grid"),
                               head.const("keep_shape", [grid * grid, 1, size, size])], "keep")
    canvases = head.op("Slice", [head.op("Unsqueeze", ["pixels_float", head.const("axis1", [1])], "all_canvases"),
                                 zero, explained, zero], "canvases")
    copies = head.op("Reshape", [head.op("Mul", [canvases, keep], "copies_nk"), head.const("copies_shape", [-1, 3, size, size])], "copies")
    both = head.op("Concat", ["pixels_float", copies], "canvas_and_copies", axis=0)

    tail = _Builder("explain/")  # after the temperature: the canvas's rows, then the copies'
    all_logits = "explain/all_scaled_logits"
    tail.nodes.append(helper.make_node("Slice", [all_logits, zero, batch, zero], ["scaled_logits"], name="explain/scaled_logits"))
    copy_logits = tail.op("Slice", [all_logits, batch, tail.const("to_end", [np.iinfo(np.int64).max]), zero], "copy_logits")

    nodes = []
    for node in g.node:
        if node.name in path:
            node.input[:] = [both if x == "pixels_float" else x for x in node.input]
            node.output[:] = [all_logits if x == "scaled_logits" else x for x in node.output]
        nodes.append(node)
        if "pixels_float" in node.output:
            nodes.extend(head.nodes)
        if all_logits in node.output:
            nodes.extend(tail.nodes)

    b = _Builder("explain/")  # occlusion = margin(canvas) - margin(copy), per copy
    weights = b.const("margin_weights", [[1.0], [-1.0]], np.float32)
    margin = b.op("Expand", [b.op("MatMul", ["scaled_logits", weights], "margin"), b.const("per_block", [1, grid * grid])], "margin_nk")
    count = b.op("Mul", [explained, b.const("blocks", [grid * grid])], "count")
    margin = b.op("Slice", [b.op("Reshape", [margin, b.const("column", [-1, 1])], "all_margins"), zero, count, zero], "margins")
    drop = b.op("Sub", [margin, b.op("MatMul", [copy_logits, weights], "copy_margin")], "drop")
    b.nodes.append(helper.make_node("Reshape", [drop, b.const("grid_shape", [-1, grid, grid])], ["occlusion"], name="occlusion"))
    b.nodes.append(helper.make_node("Identity", ["scaled_logits"], ["logits"], name="logits"))

    del g.node[:]
    g.node.extend(nodes + b.nodes)
    g.initializer.extend(head.initializers + tail.initializers + b.initializers)
    g.input.append(helper.make_tensor_value_info("explain", TensorProto.BOOL, ["N"]))
    g.output.extend([helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 2]),
                     helper.make_tensor_value_info("occlusion", TensorProto.FLOAT, ["N", grid, grid])])
    return {"grid": grid, "block": block, "nodes_through": len(path),
            "added_nodes": len(head.nodes) + len(tail.nodes) + len(b.nodes)}


def save(model, path):
    onnx.save(model, path)
    return {"opset": OPSET, "ops": sorted({n.op_type for n in model.graph.node}), "nodes": len(model.graph.node)}
