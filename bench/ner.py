"""Named entities side by side with Hugging Face (issue 23), run by hand:

    .venv/bin/python bench/ner.py > runs/ner/log.txt 2>&1 &

Both sides fine-tune sentence-transformers' all-MiniLM-L6-v2 (`make demo` extracts it to
runs/checkpoints/) on Universal NER's English Web Treebank dev file and test on its test file
(../shared/datasets/ner/uner_en_ewt/; PER, LOC, ORG in IOB2). The dev file is cut once: every
10th sentence (from the 10th) is the eval split (it gates lmpipe's blessing; the floor here is 0),
the rest is train. Both sides see the same sentences (read by lmpipe's reader, written as JSONL),
with the same steps, batch size, learning rate, linear warmup and decay, weight decay, clipping
and maximum length, `--seeds` seeds each, alternating sides, in one run on one machine:

- ours: `lmpipe finetune --task token-classification --pretrained CHECKPOINT` (the whole
  pipeline: first-piece labels, windows, length-aware batching); test entity F1 from the
  summary's `test_metrics`; examples (windows, one per sentence here) per second as the
  Trainer measures them;
- Hugging Face: bench/peer_ner.py in .venv-peer (run_ner.py's recipe:
  AutoModelForTokenClassification, first-piece labels, DataCollatorForTokenClassification,
  AdamW, linear schedule; seqeval); examples per second over its training loop.

Every finished run is a line of RESULTS_runs.jsonl (with its command); the same command resumes
where it stopped. RESULTS.json holds `f1_ours`, `f1_hf` (entity-level micro F1 on test, mean of
the seeds, in points), `examples_per_second_ours`, `examples_per_second_hf`, every run and
`command`.

Smoke test (seconds, not figures): `--steps 4 --seeds 1 --root /tmp/ner --results /tmp/ner/ner`.
"""

import argparse
import json
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench.finetune_checkpoint import PEER_PYTHON, _run  # noqa: E402
from bench.pretrain_quality import done_runs, run_plan  # noqa: E402

LMPIPE = os.path.join(os.path.dirname(sys.executable), "lmpipe")
RESULTS = os.path.join(REPO, "bench", "ner")
UNER = os.path.join(REPO, "..", "shared", "datasets", "ner", "uner_en_ewt")


def write_splits(dev: str, test: str, root: str) -> str:
    """train/eval/test JSONL files of IOB2 sentences (lmpipe's reader), in `root/data`."""
    from components.tagged_example_gen.reader import read_tagged

    directory = os.path.join(root, "data")
    os.makedirs(directory, exist_ok=True)
    sentences = read_tagged(dev)
    splits = {"train": [s for i, s in enumerate(sentences) if i % 10 != 9],
              "eval": [s for i, s in enumerate(sentences) if i % 10 == 9],
              "test": read_tagged(test)}
    for name, rows in splits.items():
        with open(os.path.join(directory, f"{name}.jsonl"), "w", encoding="utf-8") as f:
            for s in rows:
                f.write(json.dumps({"tokens": list(s.tokens), "tags": list(s.tags)},
                                   ensure_ascii=False) + "\n")
    return directory


def ours(args, data, seed):
    run_dir = os.path.join(args.root, f"ours-s{seed}")
    command = [LMPIPE, "finetune", "--task", "token-classification", "--data", data,
               "--pretrained", args.checkpoint, "--run-dir", run_dir,
               "--seq-length", str(args.seq_length), "--batch-size", str(args.batch_size),
               "--learning-rate", str(args.learning_rate), "--warmup-ratio",
               str(args.warmup_ratio), "--train-steps", str(args.steps), "--checkpoint-every",
               str(args.steps), "--eval-steps", "10", "--min-f1", "0.0", "--seed", str(seed)]
    started = time.time()
    _run(command, os.path.join(args.root, "logs", os.path.basename(run_dir) + ".log"),
         env={"PYTHONPATH": REPO})
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)["token_classification"]
    test = summary["test_metrics"]
    return {"side": "ours", "seed": seed, "command": " ".join(command[1:]),
            "test_f1": test["entity_f1"], "test_precision": test["entity_precision"],
            "test_recall": test["entity_recall"],
            "test_f1_by_type": {k.split("/")[1]: v for k, v in test.items()
                                if k.startswith("entity_f1/")},
            "eval_f1": summary["eval_metrics"].get("entity_f1"),
            "examples_per_second": summary["training"]["examples_per_second"],
            "steps": summary["training"]["steps"], "wall_seconds": round(time.time() - started, 1)}


def peer(args, data, seed):
    log_file = os.path.join(args.root, "logs", f"hf-s{seed}.log")
    command = [args.peer_python, "bench/peer_ner.py", "--checkpoint", args.checkpoint,
               *[x for split in ("train", "eval", "test")
                 for x in (f"--{split}", os.path.join(data, f"{split}.jsonl"))],
               "--seq-length", str(args.seq_length), "--batch-size", str(args.batch_size),
               "--learning-rate", str(args.learning_rate),
               "--warmup-steps", str(int(args.warmup_ratio * args.steps)),
               "--train-steps", str(args.steps), "--seed", str(seed)]
    _run(command, log_file)
    with open(log_file) as f:
        result = json.loads([line for line in f if line.startswith("{")][-1])
    return {"side": "hf", "seed": seed, "command": " ".join(command),
            "test_f1": result["test_f1"], "test_precision": result["test_precision"],
            "test_recall": result["test_recall"], "test_f1_by_type": result["test_f1_by_type"],
            "eval_f1": result["eval_f1"],
            "examples_per_second": result["train_examples_per_second"],
            "steps": result["settings"]["train_steps"], "wall_seconds": result["wall_seconds"]}


def _mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def write_result(args, runs):
    by_side = {side: [r for r in runs.values() if r["side"] == side] for side in ("ours", "hf")}
    f1 = {side: _mean([100 * r["test_f1"] for r in rs]) for side, rs in by_side.items()}
    speed = {side: _mean([r["examples_per_second"] for r in rs]) for side, rs in by_side.items()}
    result = {
        "command": "bench/ner.py " + " ".join(sys.argv[1:]),
        "checkpoint": os.path.basename(os.path.normpath(args.checkpoint)),
        "data": "Universal NER en_ewt: train = dev less every 10th sentence, eval = every 10th, "
                "test = the test file",
        "settings": {k: getattr(args, k) for k in ("steps", "batch_size", "learning_rate",
                                                   "warmup_ratio", "seq_length", "seeds")},
        "f1_ours": f1["ours"], "f1_hf": f1["hf"],
        "f1_difference_points": (f1["ours"] - f1["hf"] if None not in f1.values() else None),
        "target": "f1_ours >= f1_hf - 1.0",
        "examples_per_second_ours": speed["ours"], "examples_per_second_hf": speed["hf"],
        "speed_ratio_ours_over_hf": (speed["ours"] / speed["hf"]
                                     if speed["ours"] and speed["hf"] else None),
        "runs": sorted(runs.values(), key=lambda r: (r["side"], r["seed"])),
    }
    with open(args.results + ".json", "w") as f:
        json.dump(result, f, indent=2, sort_keys=True)
    return result


def write_markdown(result: dict, path: str) -> str:
    """RESULTS.md: the table of bench/ner.json."""
    runs = result["runs"]
    lines = [
        "# Named entities side by side with Hugging Face (bench/ner.py)",
        "",
        f"Command: `.venv/bin/python {result['command']}` (2-core machine, one run, sides "
        "alternating by seed). Data: " + result["data"] + ". Settings: " + ", ".join(
            f"{k} {v}" for k, v in result["settings"].items()) + ".",
        "",
        "| side | seed | test entity F1 | P | R | F1 LOC | F1 ORG | F1 PER | eval F1 | "
        "examples/s (training) |",
        "|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        by_type = r["test_f1_by_type"]
        lines.append(f"| {'lmpipe' if r['side'] == 'ours' else 'Hugging Face'} | {r['seed']} | "
                     f"{100 * r['test_f1']:.1f} | {100 * r['test_precision']:.1f} | "
                     f"{100 * r['test_recall']:.1f} | " + " | ".join(
                         f"{100 * by_type.get(t, 0.0):.1f}" for t in ("LOC", "ORG", "PER"))
                     + f" | {100 * r['eval_f1']:.1f} | {r['examples_per_second']:.1f} |")
    lines += [
        "",
        f"Mean test entity F1: lmpipe **{result['f1_ours']:.2f}**, Hugging Face "
        f"**{result['f1_hf']:.2f}** ({result['f1_difference_points']:+.2f} points; target "
        f"{result['target']}). Training throughput: {result['examples_per_second_ours']:.1f} "
        f"vs {result['examples_per_second_hf']:.1f} sentences/s "
        f"({result['speed_ratio_ours_over_hf']:.2f}x).",
        "",
        "Entity F1 is exact span and type, micro-averaged (seqeval's default mode on the Hugging "
        "Face side; lmpipe's TFMA metric, checked equal to seqeval in the tests). Examples/s: "
        "lmpipe's Trainer measures training steps after the first (windows/s; one window per "
        "sentence here); the peer measures its training loop."]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=os.path.join(REPO, "runs", "checkpoints",
                                                             "all-MiniLM-L6-v2"))
    parser.add_argument("--dev", default=os.path.join(UNER, "en_ewt-ud-dev.iob2"))
    parser.add_argument("--test", default=os.path.join(UNER, "en_ewt-ud-test.iob2"))
    parser.add_argument("--root", default=os.path.join(REPO, "runs", "ner"))
    parser.add_argument("--results", default=RESULTS)
    parser.add_argument("--peer-python", default=PEER_PYTHON)
    parser.add_argument("--steps", type=int, default=340)  # 3 epochs of 1,801 at batch 16
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--warmup-ratio", type=float, default=0.1)
    parser.add_argument("--seq-length", type=int, default=128)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    args.checkpoint = os.path.abspath(args.checkpoint)
    data = write_splits(args.dev, args.test, args.root)
    runs = done_runs(args.results)
    plan = [(f"{side}:s{seed}", lambda run=run, seed=seed: run(args, data, seed))
            for seed in range(1, args.seeds + 1) for side, run in (("ours", ours), ("hf", peer))]
    result = run_plan(args.results, runs, plan, lambda runs: write_result(args, runs))
    write_markdown(result, args.results + ".md")


if __name__ == "__main__":
    main()
