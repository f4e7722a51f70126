"""The learning-curve plot of bench/pretrain_quality.json: test accuracy against training labels,
one line per arm (mean of the seeds, bars from the lowest to the highest seed).

Runs in the Hugging Face env (matplotlib is pinned there, not in lmpipe's):
    .venv-peer/bin/python bench/plot_curve.py bench/pretrain_quality.json bench/pretrain_quality_curve.png
"""
import json
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ARMS = {"scratch": "from scratch", "ours": "lmpipe-pretrained",
        "adapted": "lmpipe-pretrained + task-adaptive", "tfidf": "TF-IDF + logistic regression"}


def main(results_path, png_path):
    with open(results_path) as f:
        result = json.load(f)
    points = defaultdict(lambda: defaultdict(list))
    for row in result["curve"]:
        points[row["arm"]][row["labels"]].append(row["accuracy"])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for arm, label in ARMS.items():
        if arm not in points:
            continue
        xs = sorted(points[arm])
        means = [100 * sum(points[arm][x]) / len(points[arm][x]) for x in xs]
        low = [m - 100 * min(points[arm][x]) for m, x in zip(means, xs)]
        high = [100 * max(points[arm][x]) - m for m, x in zip(means, xs)]
        ax.errorbar(xs, means, yerr=[low, high], marker="o", capsize=3, label=label)
    ax.set_xscale("log")
    ticks = sorted({x for arm in points.values() for x in arm})
    ax.set_xticks(ticks, [f"{x:,}" for x in ticks])
    ax.minorticks_off()
    ax.set_xlabel("training labels (Rotten Tomatoes)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"BERT-{result['size']}: mean of seeds, bars span min-max")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)


if __name__ == "__main__":
    main(*sys.argv[1:3])
