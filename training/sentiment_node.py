"""The sentiment graph in onnxruntime-node (train_sentiment.py): session memory and latency of one
review (NODE_MEMORY, measure_session) and every validation review's probability and logit through
the exported graph (NODE_CHECK, node_check), each in a fresh node process."""

import json
import os
import subprocess
import tempfile

import common
import numpy as np
import onnx


LATENCY_CHARS = 2000


# Session memory, as the issue asks: RSS of a process holding one session minus the same process
# before it (after require('onnxruntime-node'), with the app's session options), after one review
# has run (lazy allocations counted). The difference includes onnxruntime's one-time set-up
# (~26 MB, paid by the first session of any process). Then the latency of one review.
NODE_MEMORY = r"""
const path = require('path');
const fs = require('fs');
const [, , root, modelPath, reviewPath, runs] = process.argv;
const ort = require(path.join(root, 'node_modules', 'onnxruntime-node'));
const mb = (b) => b / (1024 * 1024);
(async () => {
  const opts = { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
                 enableCpuMemArena: false, enableMemPattern: false };
  const text = fs.readFileSync(reviewPath, 'utf8');
  const one = new ort.Tensor('string', [text], [1]);
  const before = process.memoryUsage().rss;
  const session = await ort.InferenceSession.create(modelPath, opts);
  // The explanation switch off, as the app predicts (graphs from before it have no such input).
  const feeds = session.inputNames.includes('explain') ? { review: one, explain: new ort.Tensor('bool', Uint8Array.of(0), [1]) } : { review: one };
  await session.run(feeds);
  const out = { sessionRss: mb(process.memoryUsage().rss - before), rssBefore: mb(before) };
  for (let j = 0; j < 20; j++) await session.run(feeds);
  const times = [];
  for (let j = 0; j < Number(runs); j++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  out.latency = { median: times[Math.floor(times.length / 2)], p90: times[Math.floor(times.length * 0.9)] };
  console.log(JSON.stringify(out));
})().catch((err) => { console.error(err); process.exit(1); });
"""


def latency_review(val_rows):
    """The LATENCY_CHARS first characters of the first validation review at least that long."""
    row = next(r for r in val_rows if len(r["text"]) >= LATENCY_CHARS)
    return row, row["text"][:LATENCY_CHARS]


def measure_session(path, review_text, repeats=5, runs=300):
    """Medians over `repeats` fresh node processes."""
    with tempfile.TemporaryDirectory(prefix="sentiment-memory-") as tmp:
        script = os.path.join(tmp, "memory.js")
        with open(script, "w") as f:
            f.write(NODE_MEMORY)
        review = os.path.join(tmp, "review.txt")
        with open(review, "w", encoding="utf-8") as f:
            f.write(review_text)
        res = [json.loads(subprocess.run(["node", script, common.ROOT, path, review, str(runs)], check=True, cwd=common.ROOT,
                                         capture_output=True, text=True).stdout) for _ in range(repeats)]
    med = lambda xs: float(np.median(xs))  # noqa: E731
    return {
        "session_rss_mb": round(med([r["sessionRss"] for r in res]), 1),
        "ms_per_review_median": round(med([r["latency"]["median"] for r in res]), 3),
        "ms_per_review_p90": round(med([r["latency"]["p90"] for r in res]), 3),
        "ort": json.load(open(os.path.join(common.ROOT, "node_modules", "onnxruntime-node", "package.json")))["version"],
    }


NODE_CHECK = r"""
const path = require('path');
const fs = require('fs');
const ort = require(path.join(process.argv[2], 'node_modules', 'onnxruntime-node'));
const [, , root, modelPath, debugPath, valPath, outPath] = process.argv;
(async () => {
  const rows = fs.readFileSync(valPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const model = await ort.InferenceSession.create(modelPath);
  const debug = await ort.InferenceSession.create(debugPath);
  // Reviews `t` as a session's feeds: with the explanation switch off where the graph has one.
  const feeds = (session, t) =>
    session.inputNames.includes('explain') ? { review: t, explain: new ort.Tensor('bool', new Uint8Array(t.dims[0]), [t.dims[0]]) } : { review: t };
  const B = 50;
  const probs = [], logits = [];
  for (let i = 0; i < rows.length; i += B) {
    const batch = rows.slice(i, i + B);
    const t = new ort.Tensor('string', batch.map((r) => r.text), [batch.length]);
    const r = await model.run(feeds(model, t));
    const d = await debug.run(feeds(debug, t));
    batch.forEach((row, j) => { probs.push(r.probabilities.data[2 * j + 1]); logits.push(d.logit.data[j]); });
  }
  // batching: the first 20 reviews one at a time give the same as in the batch
  let batchDiff = 0;
  for (let j = 0; j < 20; j++) {
    const r = await model.run(feeds(model, new ort.Tensor('string', [rows[j].text], [1])));
    batchDiff = Math.max(batchDiff, Math.abs(r.probabilities.data[1] - probs[j]));
  }
  const edge = ['', '!!! ... ???', '<br /><br />', 'Café déjà vu, naïve İstanbul: très bien 😀👍 日本語の映画 最高',
                'GREAT MOVIE!!! Loved it.', 'Terrible. Worst film ever, don\'t watch.'];
  const e = await debug.run(feeds(debug, new ort.Tensor('string', edge, [edge.length])));
  const edgeOut = edge.map((text, j) => ({ text, logit: e.logit.data[j] }));
  fs.writeFileSync(outPath, JSON.stringify({ probs, logits, batchDiff, edge: edgeOut }));
})().catch((err) => { console.error(err); process.exit(1); });
"""


def node_check(model, debug_model, val_rows):
    """The graph's P(positive) and logit for every validation review, in order."""
    with tempfile.TemporaryDirectory(prefix="sentiment-check-") as tmp:
        debug_path = os.path.join(tmp, "debug.onnx")
        onnx.save(debug_model, debug_path)
        val_path = os.path.join(tmp, "val.jsonl")
        with open(val_path, "w", encoding="utf-8") as f:
            for r in val_rows:
                f.write(json.dumps({"id": r["id"], "text": r["text"]}) + "\n")
        script = os.path.join(tmp, "check.js")
        with open(script, "w") as f:
            f.write(NODE_CHECK)
        out = os.path.join(tmp, "out.json")
        subprocess.run(["node", script, common.ROOT, model, debug_path, val_path, out], check=True, cwd=common.ROOT)
        with open(out) as f:
            return json.load(f)


def node_version():
    return subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip().lstrip("v")
