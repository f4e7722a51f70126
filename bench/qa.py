"""Extractive question answering side by side with Hugging Face (issue 35), run by hand:

    .venv/bin/python bench/qa.py > runs/qa/log.txt 2>&1 &

Both sides fine-tune sentence-transformers' all-MiniLM-L6-v2 (`make demo` extracts it to
runs/checkpoints/) on SQuAD v1.1 `squad-v1.1-train-subset.json` (11,877 questions) and are scored
on `squad-v1.1-dev-part-a.json` (4,961 questions, several gold answers each), from
../shared/datasets/qa/, with the same window (`--seq-length`, `--doc-stride`), steps, batch,
learning rate, linear warmup and decay, weight decay, clipping, n-best and maximum answer
length, in one run on one machine:

- ours: `lmpipe finetune --task question-answering --pretrained CHECKPOINT` (the whole pipeline;
  the dev file is its eval split, which its Evaluator scores with the SavedModel's `qa_eval`
  signature: the answer search of `serving_default`, from raw text; `--serve-predictions`
  answers every question with `serving_default` again and scores them here); windows per
  second as the Trainer measures them (steps after the first);
- Hugging Face: bench/peer_qa.py in .venv-peer (run_qa.py's and utils_qa.py's
  preprocessing, AutoModelForQuestionAnswering, postprocess_qa_predictions); windows per
  second over its training loop.

One scorer for both: lmpipe's SQuAD metric (models/question_answering/metrics.py:
`question_scores`, checked equal to the official evaluation script's in
tests/models/question_answering/test_metrics.py), in the Evaluator for ours and on the
peer's prediction file here. Every finished run is a line of bench/qa_runs.jsonl; the same command
resumes where it stopped. bench/qa.json holds `f1_ours`, `f1_hf`, `exact_match_ours`,
`exact_match_hf` (points), `examples_per_second_ours`, `examples_per_second_hf` (training
windows per second) and `command`.

Smoke test (minutes, not figures): `--steps 4 --root /tmp/qa --results /tmp/qa/qa
--train data/qa/squad_sample/train.json --dev data/qa/squad_sample/eval.json`.
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
RESULTS = os.path.join(REPO, "bench", "qa")
SQUAD = os.path.join(REPO, "..", "shared", "datasets", "qa")


def data_dir(args) -> str:
    """`root/data` with train.json and eval.json (links to the two files): lmpipe's given
    splits."""
    directory = os.path.join(args.root, "data")
    os.makedirs(directory, exist_ok=True)
    for name, source in (("train.json", args.train), ("eval.json", args.dev)):
        path = os.path.join(directory, name)
        if not os.path.exists(path):
            os.symlink(os.path.abspath(source), path)
    return directory


def gold_answers(path: str):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)["data"]
    return {qa["id"]: (qa["question"], p["context"], [a["text"] for a in qa["answers"]])
            for article in data for p in article["paragraphs"] for qa in p["qas"]}


def served_predictions(model_dir: str, questions: dict, batch: int = 32) -> dict:
    """The pushed model's best answer to every question, from raw text."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    answer = tf.saved_model.load(model_dir).signatures["serving_default"]
    ids = list(questions)
    out = {}
    for i in range(0, len(ids), batch):
        chunk = ids[i:i + batch]
        result = answer(question=tf.constant([questions[q][0] for q in chunk]),
                        context=tf.constant([questions[q][1] for q in chunk]))
        for q, text in zip(chunk, result["answer"].numpy()):
            out[q] = text.decode("utf-8")
    return out


def score(predictions: dict, questions: dict) -> dict:
    from models.question_answering.metrics import squad_scores
    ids = list(questions)
    return squad_scores([predictions.get(q, "") for q in ids], [questions[q][2] for q in ids])


def ours(args, data, questions):
    run_dir = os.path.join(args.root, "ours")
    command = [LMPIPE, "finetune", "--task", "question-answering", "--data", data,
               "--pretrained", args.checkpoint, "--run-dir", run_dir,
               "--seq-length", str(args.seq_length), "--doc-stride", str(args.doc_stride),
               "--max-answer-length", str(args.max_answer_length),
               "--top-k", str((args.n_best_size - 10) // 2),
               "--batch-size", str(args.batch_size), "--learning-rate", str(args.learning_rate),
               "--warmup-ratio", str(args.warmup_ratio), "--train-steps", str(args.steps),
               "--checkpoint-every", str(args.steps), "--eval-steps", "5", "--min-f1", "0.0",
               "--seed", str(args.seed)]
    started = time.time()
    _run(command, os.path.join(args.root, "logs", "ours.log"), env={"PYTHONPATH": REPO})
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)["question_answering"]
    metrics = summary["eval_metrics"]
    scores = {"f1": 100 * metrics["f1"], "exact_match": 100 * metrics["exact_match"],
              "total": len(questions), "scored_by": "the Evaluator (TFMA, lmpipe's SQuAD metric)"}
    if args.serve_predictions:  # the pushed model again, from raw text, scored here
        predictions = served_predictions(summary["pushed_model"], questions)
        with open(os.path.join(args.root, "predictions_ours.json"), "w", encoding="utf-8") as f:
            json.dump(predictions, f, ensure_ascii=False)
        scores = {**score(predictions, questions), "scored_by": "bench/qa.py: score"}
    return {"side": "ours", "command": " ".join(command[1:]), **scores,
            "evaluator_f1": 100 * summary["eval_metrics"]["f1"],
            "evaluator_exact_match": 100 * summary["eval_metrics"]["exact_match"],
            "examples_per_second": summary["training"]["examples_per_second"],
            "steps": summary["training"]["steps"],
            "wall_seconds": round(time.time() - started, 1)}


def peer(args, questions):
    log_file = os.path.join(args.root, "logs", "hf.log")
    out = os.path.join(args.root, "predictions_hf.json")
    command = [args.peer_python, "bench/peer_qa.py", "--checkpoint", args.checkpoint,
               "--train", args.train, "--eval", args.dev, "--out", out,
               "--seq-length", str(args.seq_length), "--doc-stride", str(args.doc_stride),
               "--batch-size", str(args.batch_size), "--learning-rate", str(args.learning_rate),
               "--warmup-steps", str(int(args.warmup_ratio * args.steps)),
               "--train-steps", str(args.steps), "--n-best-size", str(args.n_best_size),
               "--max-answer-length", str(args.max_answer_length), "--seed", str(args.seed)]
    _run(command, log_file)
    with open(log_file) as f:
        result = json.loads([line for line in f if line.startswith("{")][-1])
    with open(out, encoding="utf-8") as f:
        scores = score(json.load(f), questions)
    return {"side": "hf", "command": " ".join(command), **scores,
            "train_windows": result["train_windows"],
            "examples_per_second": result["train_examples_per_second"],
            "steps": result["settings"]["train_steps"],
            "wall_seconds": round(result["wall_seconds"], 1)}


def write_result(args, runs):
    side = {r["side"]: r for r in runs.values()}
    o, h = side.get("ours", {}), side.get("hf", {})
    result = {
        "command": "bench/qa.py " + " ".join(sys.argv[1:]),
        "checkpoint": os.path.basename(os.path.normpath(args.checkpoint)),
        "data": f"train {os.path.basename(args.train)}, scored on {os.path.basename(args.dev)}",
        "settings": {k: getattr(args, k) for k in (
            "steps", "batch_size", "learning_rate", "warmup_ratio", "seq_length", "doc_stride",
            "n_best_size", "max_answer_length", "seed")},
        "training_windows_per_side": args.steps * args.batch_size,
        "f1_ours": o.get("f1"), "f1_hf": h.get("f1"),
        "exact_match_ours": o.get("exact_match"), "exact_match_hf": h.get("exact_match"),
        "f1_difference_points": (o["f1"] - h["f1"] if o and h else None),
        "target": "f1_ours >= f1_hf - 1.0; examples_per_second_ours >= examples_per_second_hf",
        "examples_per_second_ours": o.get("examples_per_second"),
        "examples_per_second_hf": h.get("examples_per_second"),
        "speed_ratio_ours_over_hf": (o["examples_per_second"] / h["examples_per_second"]
                                     if o.get("examples_per_second") and h.get("examples_per_second")
                                     else None),
        "runs": sorted(runs.values(), key=lambda r: r["side"]),
    }
    with open(args.results + ".json", "w") as f:
        json.dump(result, f, indent=2, sort_keys=True)
    return result


def write_markdown(result: dict, path: str) -> str:
    lines = [
        "# Question answering side by side with Hugging Face (bench/qa.py)",
        "",
        f"Command: `.venv/bin/python {result['command']}` (2-core machine, one run). Data: "
        f"{result['data']}. Settings: " + ", ".join(
            f"{k} {v}" for k, v in result["settings"].items())
        + f"; {result['training_windows_per_side']} training windows per side.",
        "",
        "| side | F1 | exact match | training windows/s | wall s |",
        "|---|---|---|---|---|"]
    for r in result["runs"]:
        lines.append(f"| {'lmpipe' if r['side'] == 'ours' else 'Hugging Face run_qa.py'} | "
                     f"{r['f1']:.2f} | {r['exact_match']:.2f} | {r['examples_per_second'] or 0:.2f} | "
                     f"{r['wall_seconds']} |")
    if result["speed_ratio_ours_over_hf"] is not None:
        lines += ["", f"F1 difference {result['f1_difference_points']:+.2f} points; speed ratio "
                  f"{result['speed_ratio_ours_over_hf']:.2f}x (target: {result['target']})."]
    lines += ["", "One scorer for both sides (lmpipe's SQuAD metric, equal to the official "
              "script's): lmpipe's answers are its SavedModel's, from raw text, scored by its "
              "Evaluator (`evaluator_f1` in bench/qa.json). "
              "Windows/s: lmpipe's Trainer measures the steps after the first; the peer its "
              "whole training loop."]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=os.path.join(REPO, "runs", "checkpoints",
                                                             "all-MiniLM-L6-v2"))
    parser.add_argument("--train", default=os.path.join(SQUAD, "squad-v1.1-train-subset.json"))
    parser.add_argument("--dev", default=os.path.join(SQUAD, "squad-v1.1-dev-part-a.json"))
    parser.add_argument("--root", default=os.path.join(REPO, "runs", "qa"))
    parser.add_argument("--results", default=RESULTS)
    parser.add_argument("--peer-python", default=PEER_PYTHON)
    parser.add_argument("--steps", type=int, default=160)  # 5,120 windows at batch 32
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--warmup-ratio", type=float, default=0.1)
    parser.add_argument("--seq-length", type=int, default=384)
    parser.add_argument("--doc-stride", type=int, default=128)
    parser.add_argument("--n-best-size", type=int, default=20)
    parser.add_argument("--max-answer-length", type=int, default=30)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--serve-predictions", action="store_true",
                        help="also answer every dev question with the pushed SavedModel and "
                             "score those answers here (the Evaluator's scores are the same "
                             "answers', by the same metric)")
    args = parser.parse_args()
    args.checkpoint = os.path.abspath(args.checkpoint)
    questions = gold_answers(args.dev)
    data = data_dir(args)
    runs = done_runs(args.results)
    plan = [("ours", lambda: ours(args, data, questions)), ("hf", lambda: peer(args, questions))]
    result = run_plan(args.results, runs, plan, lambda runs: write_result(args, runs))
    write_markdown(result, args.results + ".md")


if __name__ == "__main__":
    main()
