"""Served generation latency at batch 1: seconds per new token of a pushed causal LM's
`generate` signature (greedy), loaded as a SavedModel in this process.

    .venv/bin/python bench/causal_lm_latency.py --model-dir runs/gpt2/serving/clm \
        --out bench/causal_lm_latency.json

For new-token budgets N (default 1, 8, 16, 32, up to the positions left after the prompt) it
times `--repeats` calls with a fixed prompt and reports the median; the cost of one new token is
the slope of time against N (least squares), the prompt's cost the intercept. A cost linear in
N (the key/value cache) shows as a straight line: the report gives each N's time per token too.
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--prompt", default="The history of the city begins")
    parser.add_argument("--budgets", default="1,8,16,32")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    from serving import versions

    path = versions.resolve_version_dir(args.model_dir, None)
    generate = tf.saved_model.load(path).signatures["generate"]
    times = {}
    for budget in [int(b) for b in args.budgets.split(",")]:
        def call(budget=budget):
            return generate(prompt=tf.constant([args.prompt]),
                            max_new_tokens=tf.constant([budget]),
                            temperature=tf.constant([0.0]), top_k=tf.constant([0]),
                            top_p=tf.constant([1.0]), seed=tf.constant([0], tf.int64))
        # The model may stop early at <|endoftext|>: time what it generated.
        generated = int(call()["token_count"][0])
        samples = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            call()
            samples.append(time.perf_counter() - start)
        times[budget] = {"generated": generated, "median_seconds": statistics.median(samples)}
    n = np.array([v["generated"] for v in times.values()], float)
    t = np.array([v["median_seconds"] for v in times.values()])
    slope, intercept = np.polyfit(n, t, 1)
    report = {"model": path, "prompt": args.prompt, "batch": 1, "by_budget": times,
              "seconds_per_new_token": float(slope), "prompt_seconds": float(intercept),
              "command": " ".join(sys.argv)}
    print(json.dumps(report, indent=2))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
