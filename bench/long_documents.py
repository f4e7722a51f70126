"""Long texts and length-aware batching (issue 24), run by hand:

    .venv/bin/python bench/long_documents.py > runs/long/log.txt 2>&1 &

(the same command resumes where it stopped: every finished run is a line of
bench/long_documents_runs.jsonl). It writes bench/long_documents.json and .md.

1. Accuracy by `--long-text` mode, from the real all-MiniLM-L6-v2 checkpoint (`make demo`
   extracts it to runs/checkpoints/), with `lmpipe finetune` (the whole pipeline; test
   accuracy from the summary's `test_metrics`, the pushed model on the test split), and
   TF-IDF (1-2 grams) + logistic regression on the same splits:
   - Brown genres (../shared/datasets/long_documents/brown_genres.tsv, 500 texts of about
     2,070 words, 15 genres): a fixed stratified 80/10/10 cut (each genre's texts shuffled
     with seed 0; at least one eval and one test text per genre), `--brown-seq-length` 128,
     `--brown-steps` steps of `--brown-batch-size` texts, windows: stride (seq_length - 2) // 4,
     at most `--max-windows`, mean of the windows' logits;
   - the bundled reviews (data/sentiment/rotten_tomatoes.tsv) with bench/pretrain_quality.py's
     fixed 80/10/10 cut, at `--seq-length` 64.
2. Fine-tuning throughput on the reviews, same steps, batch and length, one run: lmpipe with
   length-aware batching (`--batching bucketed`, the default) and with fixed padding, and
   Hugging Face's run_glue.py recipe (dynamic padding, bench/peer_finetune_checkpoint.py in
   .venv-peer): examples/second over the training steps (lmpipe: the Trainer's measure,
   after the first step; Hugging Face: its training loop).

Smoke test (seconds, not figures): `--brown-steps 2 --steps 2 --root /tmp/long
--results /tmp/long/long`.
"""

import argparse
import collections
import json
import os
import random
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench.finetune_checkpoint import LMPIPE, PEER_PYTHON, _run, peer  # noqa: E402
from bench.pretrain_quality import curve_data, done_runs, run_plan, tfidf_accuracy  # noqa: E402

RESULTS = os.path.join(REPO, "bench", "long_documents")
BROWN = os.path.join(os.path.dirname(REPO), "shared", "datasets", "long_documents",
                     "brown_genres.tsv")
MODES = ("first", "head-tail", "windows")


def stratified_cut(labelled: str, root: str) -> str:
    """train/eval/test.tsv: each class's rows shuffled (seed 0), 10% (at least one) to eval,
    10% (at least one) to test, the rest to train."""
    with open(labelled, encoding="utf-8") as f:
        header, *rows = [line for line in f.read().splitlines() if line.strip()]
    label_at = header.split("\t").index("label")
    by_class = collections.defaultdict(list)
    for row in rows:
        by_class[row.split("\t")[label_at]].append(row)
    parts = {"train": [], "eval": [], "test": []}
    for label in sorted(by_class):
        members = by_class[label]
        random.Random(0).shuffle(members)
        n = max(1, round(0.1 * len(members)))
        parts["eval"] += members[:n]
        parts["test"] += members[n:2 * n]
        parts["train"] += members[2 * n:]
    directory = os.path.join(root, "brown-data")
    os.makedirs(directory, exist_ok=True)
    for name, part in parts.items():
        random.Random(1).shuffle(part)
        with open(os.path.join(directory, f"{name}.tsv"), "w", encoding="utf-8") as f:
            f.write("\n".join([header, *part]) + "\n")
    return directory


def ours(args, data, name, mode, seq_length, steps, batch_size, learning_rate,
         batching="bucketed", extra=()):
    run_dir = os.path.join(args.root, name)
    command = [LMPIPE, "finetune", "--data", data, "--pretrained", args.checkpoint,
               "--run-dir", run_dir, "--seq-length", str(seq_length),
               "--batch-size", str(batch_size), "--learning-rate", str(learning_rate),
               "--warmup-ratio", "0.1", "--train-steps", str(steps),
               "--checkpoint-every", str(steps), "--eval-steps", "20",
               "--min-accuracy", "0.0", "--seed", "1", "--batching", batching,
               "--long-text", mode]
    if mode == "windows":
        command += ["--max-windows", str(args.max_windows)]
    command += list(extra)
    started = time.time()
    _run(command, os.path.join(args.root, "logs", name + ".log"), env={"PYTHONPATH": REPO})
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)["finetune"]
    return {"command": " ".join(command[1:]), "mode": mode, "batching": batching,
            "pad_to_multiple_of": (None if batching == "fixed" else int(
                dict(zip(extra[::2], extra[1::2])).get("--pad-to-multiple-of", 16))),
            "test_accuracy": summary["test_metrics"]["accuracy"],
            "test_macro_f1": summary["test_metrics"]["macro_f1"],
            "eval_accuracy": summary["eval_metrics"].get("accuracy"),
            "examples_per_second": summary["training"]["examples_per_second"],
            "long_texts": summary.get("long_texts"),
            "steps": summary["training"]["steps"], "wall_seconds": round(time.time() - started, 1)}


def write_result(args, runs):
    def accuracy(key):
        return 100 * runs[key]["test_accuracy"] if key in runs else None

    speed = {side: runs[key]["examples_per_second"] if key in runs else None
             for side, key in (("ours_fixed", "speed:ours-fixed"),
                               ("ours_bucketed", "reviews:first"), ("hf", "speed:hf"),
                               ("ours_bucketed_16", "speed:ours-bucketed-16"))}
    result = {
        "command": "bench/long_documents.py " + " ".join(sys.argv[1:]),
        "checkpoint": os.path.basename(os.path.normpath(args.checkpoint)),
        "settings": {k: getattr(args, k) for k in (
            "brown_seq_length", "brown_steps", "brown_batch_size", "brown_learning_rate",
            "max_windows", "seq_length", "steps", "batch_size", "learning_rate")},
        "splits": {"brown_genres": "stratified 80/10/10 (each genre's texts shuffled with seed "
                                   "0; at least one eval and one test text per genre): "
                                   + _split_sizes(os.path.join(args.root, "brown-data")),
                   "reviews": "bench/pretrain_quality.py's fixed 80/10/10 cut: "
                              + _split_sizes(os.path.join(args.root, "curve-data", "all-s0"))},
        "brown_genres": {**{f"accuracy_{m.replace('-', '_')}": accuracy(f"brown:{m}")
                            for m in MODES},
                         "accuracy_tfidf": runs.get("brown:tfidf", {}).get("test_accuracy")},
        "reviews": {**{f"accuracy_{m.replace('-', '_')}": accuracy(f"reviews:{m}")
                       for m in MODES},
                    "accuracy_tfidf": runs.get("reviews:tfidf", {}).get("test_accuracy")},
        "examples_per_second_ours_fixed": speed["ours_fixed"],
        "examples_per_second_ours_bucketed": speed["ours_bucketed"],
        "examples_per_second_hf": speed["hf"],
        "examples_per_second_ours_bucketed_multiple_16": speed["ours_bucketed_16"],
        "speed_ratio_bucketed_over_hf": (speed["ours_bucketed"] / speed["hf"]
                                         if speed["ours_bucketed"] and speed["hf"] else None),
        "speed_ratio_bucketed_over_fixed": (speed["ours_bucketed"] / speed["ours_fixed"]
                                            if speed["ours_bucketed"] and speed["ours_fixed"]
                                            else None),
        "runs": [runs[k] for k in sorted(runs)],
    }
    with open(args.results + ".json", "w") as f:
        json.dump(result, f, indent=2, sort_keys=True)
    write_markdown(args, result)
    return result


def _split_sizes(directory):
    sizes = []
    for name in ("train", "eval", "test"):
        with open(os.path.join(directory, f"{name}.tsv"), encoding="utf-8") as f:
            sizes.append(f"{name} {sum(1 for line in f if line.strip()) - 1}")
    return ", ".join(sizes) + " texts"


def _fmt(value, digits=1):
    return "n/a" if value is None else f"{value:.{digits}f}"


def write_markdown(args, result):
    brown, reviews = result["brown_genres"], result["reviews"]
    lines = [
        "# Long texts and length-aware batching (bench/long_documents.py)",
        "",
        f"Command: `.venv/bin/python {result['command']}`; checkpoint {result['checkpoint']}; "
        "test accuracy (%), one seed.",
        "",
        "| data | first | head-tail | windows | TF-IDF + LR |",
        "|---|---|---|---|---|",
        f"| Brown genres (15 classes, ~2,070 words; seq {args.brown_seq_length}, "
        f"{args.brown_steps} steps of {args.brown_batch_size}, max {args.max_windows} windows) | "
        + " | ".join(_fmt(brown[f"accuracy_{m.replace('-', '_')}"]) for m in MODES)
        + f" | {_fmt(brown['accuracy_tfidf'])} |",
        f"| reviews (2 classes, ~18.5 words; seq {args.seq_length}, {args.steps} steps of "
        f"{args.batch_size}) | "
        + " | ".join(_fmt(reviews[f"accuracy_{m.replace('-', '_')}"]) for m in MODES)
        + f" | {_fmt(reviews['accuracy_tfidf'])} |",
        "",
        f"Fine-tuning throughput on the reviews ({args.steps} steps of {args.batch_size}, "
        f"seq {args.seq_length}), examples/second: lmpipe length-aware "
        f"{_fmt(result['examples_per_second_ours_bucketed'])} (multiples of 8, the default; "
        f"{_fmt(result['examples_per_second_ours_bucketed_multiple_16'])} at multiples of 16), "
        "lmpipe fixed padding "
        f"{_fmt(result['examples_per_second_ours_fixed'])}, Hugging Face (dynamic padding) "
        f"{_fmt(result['examples_per_second_hf'])}; bucketed / Hugging Face "
        f"{_fmt(result['speed_ratio_bucketed_over_hf'], 2)}x, bucketed / fixed "
        f"{_fmt(result['speed_ratio_bucketed_over_fixed'], 2)}x.",
        "",
    ]
    with open(args.results + ".md", "w") as f:
        f.write("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=os.path.join(REPO, "runs", "checkpoints",
                                                             "all-MiniLM-L6-v2"))
    parser.add_argument("--brown", default=BROWN)
    parser.add_argument("--labelled", default=os.path.join(REPO, "data", "sentiment",
                                                           "rotten_tomatoes.tsv"))
    parser.add_argument("--root", default=os.path.join(REPO, "runs", "long"))
    parser.add_argument("--results", default=RESULTS)
    parser.add_argument("--peer-python", default=PEER_PYTHON)
    parser.add_argument("--brown-seq-length", type=int, default=128)
    parser.add_argument("--brown-steps", type=int, default=150)  # 3 epochs of 400 at batch 8
    parser.add_argument("--brown-batch-size", type=int, default=8)
    parser.add_argument("--brown-learning-rate", type=float, default=1e-4)
    parser.add_argument("--max-windows", type=int, default=8)
    parser.add_argument("--seq-length", type=int, default=64)
    parser.add_argument("--steps", type=int, default=160)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    args = parser.parse_args()
    args.checkpoint = os.path.abspath(args.checkpoint)
    brown = stratified_cut(args.brown, args.root)
    reviews = curve_data(args.labelled, args.root, 0, 0)
    runs = {r["key"]: r for r in done_runs(args.results).values()}

    def brown_run(mode):
        return ours(args, brown, f"brown-{mode}", mode, args.brown_seq_length, args.brown_steps,
                    args.brown_batch_size, args.brown_learning_rate)

    def reviews_run(mode, batching="bucketed", extra=(), suffix=""):
        return ours(args, reviews, f"reviews-{mode}" + ("-fixed" if batching == "fixed" else "")
                    + suffix, mode, args.seq_length, args.steps, args.batch_size,
                    args.learning_rate, batching, extra)

    speed_args = argparse.Namespace(**{**vars(args), "warmup_ratio": 0.1})
    # The throughput runs first (run nothing else heavy on the machine meanwhile). The
    # length-aware run is reviews' `first` run at lmpipe's defaults (multiples of 8); one at
    # multiples of 16 (the default before this measure) beside it.
    plan = {
        "speed:ours-bucketed-16": lambda: reviews_run("first"),
        "speed:ours-fixed": lambda: reviews_run("first", "fixed"),
        "speed:hf": lambda: peer(speed_args, reviews, 1),
        "reviews:first": lambda: reviews_run("first", extra=("--pad-to-multiple-of", "8"),
                                             suffix="-8"),
        "brown:tfidf": lambda: {"test_accuracy": 100 * tfidf_accuracy(brown)},
        "reviews:tfidf": lambda: {"test_accuracy": 100 * tfidf_accuracy(reviews)},
        **{f"brown:{m}": (lambda m=m: brown_run(m)) for m in MODES},
        **{f"reviews:{m}": (lambda m=m: reviews_run(m)) for m in MODES[1:]},
    }
    run_plan(args.results, runs, plan.items(), lambda runs: write_result(args, runs))


if __name__ == "__main__":
    main()
