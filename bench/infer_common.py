"""Shared by the inference benchmarks (no TensorFlow or torch imports here)."""

import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.join(REPO, "data", "sentiment", "rotten_tomatoes_sample.tsv")


def review_texts(n):
    """The first n review snippets of the bundled sample (real lengths, not synthetic)."""
    with open(SAMPLE, encoding="utf-8") as f:
        rows = f.read().splitlines()[1:]
    texts = [row.split("\t", 1)[1] for row in rows]
    return (texts * (n // len(texts) + 1))[:n]


def summarize(latencies):
    ordered = sorted(latencies)

    def pct(p):
        return 1000 * ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    return {"batch1_p50_ms": pct(50), "batch1_p99_ms": pct(99), "calls": len(ordered)}


def time_model(predict, calls, batches):
    """p50/p99 of `predict([text])` over `calls` review snippets, after 20 warm-up calls, and
    sequences/second of `predict(32 texts)` over `batches` batches."""
    import time

    texts = review_texts(calls + 32 * batches)
    for text in texts[:20]:
        predict([text])
    latencies = []
    for text in texts[:calls]:
        start = time.perf_counter()
        predict([text])
        latencies.append(time.perf_counter() - start)
    start = time.perf_counter()
    for i in range(batches):
        predict(texts[i * 32:(i + 1) * 32])
    timing = summarize(latencies)
    return {"p50_ms": timing["batch1_p50_ms"], "p99_ms": timing["batch1_p99_ms"],
            "throughput": 32 * batches / (time.perf_counter() - start)}
