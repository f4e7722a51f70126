"""Pretraining side by side with Hugging Face on the same budget (issue 13), run by hand:

    .venv/bin/python bench/pretrain_quality.py > runs/pq/log.txt 2>&1 &

Every step is resumable: it is skipped when its result exists, so the same command continues
an interrupted run. Results go to bench/pretrain_quality_runs.jsonl (one line per finished
step) and bench/pretrain_quality.json (the figures, rebuilt after every step).

The long runs are best started from a clone of the repository at a fixed commit, so that work on
the checkout does not change the code mid-run (`--root` and `--results` can point back):
`git clone -q . /work/pq && cd /work/pq && nohup nice /work/main/.venv/bin/python
bench/pretrain_quality.py --root /work/main/runs/pq --results /work/main/bench/pretrain_quality
--peer-python /work/main/.venv-peer/bin/python &`

Smoke test (seconds, not figures): `--tokens 40960 --seeds 1 --ft-steps 10 --root /tmp/pq
--results /tmp/pq/pq --corpus data/corpus --labelled data/sentiment/rotten_tomatoes_sample.tsv`.

1. lmpipe pretrains BERT-`--size` on the corpus (`lmpipe pretrain`: its vocabulary, static
   masking with `--dupe-factor`, `--steps` x `--batch-size` x `--seq-length` tokens);
2. Hugging Face pretrains the same architecture on the same train-split documents with the
   same vocabulary, token budget and optimizer settings (bench/peer_pretrain.py, .venv-peer);
3. both encoders are scored by the same code (models/masked_lm/checkpoint.py loads either; the Hugging
   Face one through keras-hub's converter, as `lmpipe import` does) on one fixed masked eval set:
   the lmpipe run's MlmMasker eval split (documents neither side trained on);
4. both are fine-tuned by `lmpipe finetune` on Rotten Tomatoes with `--seeds` seeds; the test
   split accuracy comes from the run summary's `test_metrics`;
5. a learning curve on Rotten Tomatoes (`--curve-labels` training labels, one fixed eval and
   test part): from scratch, lmpipe-pretrained, lmpipe-pretrained + task-adaptive pretraining
   (`--adapt-steps`), and TF-IDF + logistic regression, `--seeds` seeds per point; after its
   first two points, the masking levers (`--levers`: lmpipe pretrain with `--masking dynamic`,
   with `--whole-word-masking`), each a pretraining of its own scored as in 3.

The plot (PATH_curve.png) is drawn by bench/plot_curve.py in the peer env (matplotlib).
"""

import argparse
import glob
import json
import math
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
LMPIPE = os.path.join(os.path.dirname(sys.executable), "lmpipe")
PEER_PYTHON = os.path.join(REPO, ".venv-peer", "bin", "python")
RESULTS = os.path.join(REPO, "bench", "pretrain_quality")  # + _runs.jsonl, .json (--results)


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def done_runs(results):
    if not os.path.exists(results + "_runs.jsonl"):
        return {}
    with open(results + "_runs.jsonl") as f:
        return {r["key"]: r for r in map(json.loads, f)}


def record(results, entry):
    with open(results + "_runs.jsonl", "a") as f:
        f.write(json.dumps(entry, sort_keys=True) + "\n")


def run_plan(results, runs, plan, write_result):
    """The resume loop of every side-by-side bench: runs each `(key, run)` of `plan` whose key
    is not in `runs` yet (so a rerun goes on where a killed one stopped), appends its entry to
    `<results>_runs.jsonl` as soon as it ends, and rewrites the summary (`write_result(runs)`)
    after each; returns the final summary, logged without its runs."""
    for key, run_one in plan:
        if key in runs:
            continue
        entry = {"key": key, **run_one()}
        record(results, entry)
        runs[key] = entry
        log(json.dumps(entry))
        write_result(runs)
    result = write_result(runs)
    log(json.dumps({k: v for k, v in result.items() if k != "runs"}))
    return result


def run(command, log_file, not_blessed_ok=False):
    """Runs a command, its output to `log_file`; lmpipe's exit 1 (ran, but the model was not
    blessed) is accepted with `not_blessed_ok`."""
    log(" ".join(command) + f"  (log: {log_file})")
    os.makedirs(os.path.dirname(log_file), exist_ok=True)
    # This checkout's code, even when the virtualenv was installed from another one.
    env = {**os.environ, "PYTHONPATH": REPO}
    with open(log_file, "w") as f:
        result = subprocess.run(command, stdout=f, stderr=subprocess.STDOUT, cwd=REPO, env=env)
    if result.returncode != 0 and not (not_blessed_ok and result.returncode == 1):
        raise RuntimeError(f"{command[:2]} failed ({result.returncode}); see {log_file}")
    return result.returncode


# Masking levers: lmpipe pretrain's options, each a run of its own beside the static baseline.
MASKING = {"": [], "dynamic": ["--masking", "dynamic"], "wwm": ["--whole-word-masking"]}


def pretrain_ours(args, root, masking=""):
    name = f"ours-{args.size}" + (f"-{masking}" if masking else "")
    run_dir = os.path.join(root, name)
    command = [LMPIPE, "pretrain", "--corpus", args.corpus, "--run-dir", run_dir,
               "--vocab-size", str(args.vocab_size), "--model-size", args.size,
               "--seq-length", str(args.seq_length), "--batch-size", str(args.batch_size),
               "--train-steps", str(args.steps), "--checkpoint-every", str(args.steps // 5),
               "--learning-rate", str(args.learning_rate), "--dupe-factor", str(args.dupe_factor),
               "--max-predictions", str(args.max_predictions), "--min-masked-accuracy", "0.0",
               "--seed", str(args.seed)] + MASKING[masking]
    started = time.time()
    run(command, os.path.join(root, "logs", f"{name}.log"))
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)["pretrain"]
    return {"run_dir": run_dir, "command": " ".join(command[1:]),
            "seconds": round(time.time() - started), "evaluator_masked_accuracy":
            summary["eval_metrics"].get("masked_accuracy"), "vocab_size": summary["vocab_size"]}


def _artifact(run_dir, component, output):
    paths = sorted(glob.glob(os.path.join(run_dir, "pipeline", component, output, "*")),
                   key=lambda p: int(os.path.basename(p)))
    return paths[-1]


def train_texts(ours_run, path):
    """The documents of the lmpipe run's train split (TextExampleGen), for the peer."""
    import tensorflow as tf

    examples = _artifact(ours_run, "FileBasedExampleGen", "examples")
    files = glob.glob(os.path.join(examples, "Split-train", "*"))
    count = 0
    with open(path, "w", encoding="utf-8") as out:
        for record_bytes in tf.data.TFRecordDataset(files, compression_type="GZIP"):
            example = tf.train.Example.FromString(record_bytes.numpy())
            text = example.features.feature["text"].bytes_list.value[0].decode("utf-8")
            out.write(json.dumps(text, ensure_ascii=False) + "\n")
            count += 1
    return count


def pretrain_peer(args, root, ours_run):
    out = os.path.join(root, f"hf-{args.size}")
    texts = os.path.join(root, "train_texts.jsonl")
    documents = train_texts(ours_run, texts)
    vocab = os.path.join(_artifact(ours_run, "WordPieceVocabGen", "vocabulary"), "vocab.txt")
    command = [args.peer_python, "bench/peer_pretrain.py", "--texts", texts, "--vocab", vocab,
               "--out", out, "--size", args.size, "--steps", str(args.steps),
               "--batch-size", str(args.batch_size), "--seq-length", str(args.seq_length),
               "--learning-rate", str(args.learning_rate), "--seed", str(args.seed)]
    started = time.time()
    run(command, os.path.join(root, "logs", f"hf-{args.size}.log"))
    return {"checkpoint": out, "documents": documents, "command": " ".join(command[1:]),
            "seconds": round(time.time() - started)}


def _masked_lm_tokens(model_dir, eval_files, seq_length, max_predictions):
    """Per masked token of the fixed eval set, in file order: hit (top-1 right) and loss."""
    import numpy as np
    import tensorflow as tf

    from models import checkpoints
    from models.masked_lm.checkpoint import load_masked_lm
    from models.masked_lm.inputs import parse_masked_lm

    model = load_masked_lm(checkpoints.inspect(model_dir), dropout=0.0)
    hits, nlls = [], []
    dataset = tf.data.TFRecordDataset(sorted(eval_files), compression_type="GZIP").batch(256)
    for batch in dataset:
        x, labels, weights = parse_masked_lm(batch, seq_length, max_predictions)
        logits = tf.cast(model(x, training=False), tf.float32)
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        real = weights.numpy() > 0
        hits.append(np.equal(tf.argmax(logits, -1).numpy(), labels.numpy())[real])
        nlls.append(losses.numpy()[real])
    return np.concatenate(hits), np.concatenate(nlls)


def masked_lm_scores(model_dir, eval_files, seq_length, max_predictions):
    """Masked-token accuracy and mean loss on the fixed masked eval set, same code for both."""
    import numpy as np

    hits, nlls = _masked_lm_tokens(model_dir, eval_files, seq_length, max_predictions)
    return {"masked_accuracy": float(hits.mean()), "masked_loss": float(nlls.mean()),
            "perplexity": float(np.exp(nlls.mean())), "masked_tokens": int(hits.size)}


def paired_mlm(a_dir, b_dir, eval_files, seq_length, max_predictions):
    """Masked accuracy of a minus b on the same tokens: a 95% bootstrap interval (tokens
    resampled, 2,000 draws) and McNemar's exact test on the tokens where they disagree."""
    import numpy as np
    from scipy.stats import binomtest

    a, _ = _masked_lm_tokens(a_dir, eval_files, seq_length, max_predictions)
    b, _ = _masked_lm_tokens(b_dir, eval_files, seq_length, max_predictions)
    diff = a.astype(float) - b.astype(float)
    rng = np.random.default_rng(0)
    means = [diff[rng.integers(0, diff.size, diff.size)].mean() for _ in range(2000)]
    low, high = np.percentile(means, [2.5, 97.5])
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    return {"difference": float(diff.mean()), "ci95": [float(low), float(high)],
            "only_a_right": only_a, "only_b_right": only_b,
            "mcnemar_p": float(binomtest(only_a, only_a + only_b).pvalue)}


def finetune(args, root, arm, pretrained, seed):
    run_dir = os.path.join(root, f"ft-{arm}-s{seed}")
    command = [LMPIPE, "finetune", "--data", args.labelled, "--pretrained", pretrained,
               "--run-dir", run_dir, "--seq-length", "64", "--train-steps", str(args.ft_steps),
               "--checkpoint-every", "300", "--batch-size", "32",
               "--learning-rate", str(args.ft_learning_rate), "--eval-steps", "20",
               "--min-accuracy", "0.0", "--early-stopping-patience", "2", "--seed", str(seed)]
    run(command, os.path.join(root, "logs", f"ft-{arm}-s{seed}.log"), not_blessed_ok=True)
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)["finetune"]
    return {"arm": arm, "seed": seed, "command": " ".join(command[1:]),
            "test_accuracy": summary["test_metrics"]["accuracy"],
            "test_macro_f1": summary["test_metrics"]["macro_f1"],
            "eval_accuracy": summary["eval_metrics"].get("accuracy")}


def _cut(rows):
    """The curve's fixed 80/10/10 cut of the (shuffled) labelled rows: eval, test, train."""
    n = len(rows) // 10
    return rows[:n], rows[n:2 * n], rows[2 * n:]


def curve_data(labelled, root, labels, seed):
    """A directory of train.tsv (`labels` rows drawn with `seed` from the fixed train part; all
    of it when `labels` is 0), eval.tsv and test.tsv (the same for every point): the labelled
    file shuffled once (seed 0) and cut 80/10/10."""
    import random

    with open(labelled, encoding="utf-8") as f:
        header, *rows = [line for line in f.read().splitlines() if line.strip()]
    random.Random(0).shuffle(rows)
    evals, tests, train = _cut(rows)
    if labels:
        train = random.Random(seed).sample(train, labels)
    directory = os.path.join(root, "curve-data", f"{labels or 'all'}-s{seed}")
    os.makedirs(directory, exist_ok=True)
    for name, part in (("train", train), ("eval", evals), ("test", tests)):
        with open(os.path.join(directory, f"{name}.tsv"), "w", encoding="utf-8") as f:
            f.write("\n".join([header, *part]) + "\n")
    return directory


def tfidf_accuracy(data_dir):
    """TF-IDF (1-2 grams) + logistic regression on train.tsv, accuracy on test.tsv."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    def read(name):
        with open(os.path.join(data_dir, f"{name}.tsv"), encoding="utf-8") as f:
            header, *rows = f.read().splitlines()
        columns = header.split("\t")
        parts = [row.split("\t") for row in rows]
        return ([p[columns.index("text")] for p in parts], [p[columns.index("label")] for p in parts])

    (train_x, train_y), (test_x, test_y) = read("train"), read("test")
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)
    model = LogisticRegression(max_iter=2000, C=4.0).fit(vectorizer.fit_transform(train_x), train_y)
    predicted = model.predict(vectorizer.transform(test_x))
    return sum(p == y for p, y in zip(predicted, test_y)) / len(test_y)


def curve_point(args, root, arm, labels, seed, ours_run):
    data = curve_data(args.labelled, root, labels, seed)
    if arm == "tfidf":
        return {"labels": labels, "arm": arm, "seed": seed, "accuracy": tfidf_accuracy(data)}
    run_dir = os.path.join(root, f"curve-{arm}-{labels or 'all'}-s{seed}")
    # Fewer labels, fewer steps (about 8 passes over them), at most the full run's.
    steps = min(args.ft_steps, max(200, 8 * (labels or 10_000) // 32))
    command = [LMPIPE, "finetune", "--data", data, "--pretrained", ours_run, "--run-dir", run_dir,
               "--seq-length", "64", "--train-steps", str(steps),
               "--checkpoint-every", str(max(50, steps // 5)), "--batch-size", "32",
               "--learning-rate", str(args.ft_learning_rate), "--eval-steps", "20",
               "--min-accuracy", "0.0", "--early-stopping-patience", "2", "--seed", str(seed)]
    if arm == "scratch":
        command.append("--from-scratch")
    if arm == "adapted":
        command += ["--adapt-steps", str(args.adapt_steps)]
    run(command, os.path.join(root, "logs", f"curve-{arm}-{labels or 'all'}-s{seed}.log"),
        not_blessed_ok=True)
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)["finetune"]
    return {"labels": labels, "arm": arm, "seed": seed, "steps": steps,
            "accuracy": summary["test_metrics"]["accuracy"], "command": " ".join(command[1:])}


def _mean(values):
    return sum(values) / len(values) if values else None


def _train_rows(labelled):
    """How many training labels "all" is: the train part of curve_data's cut."""
    with open(labelled, encoding="utf-8") as f:
        rows = sum(1 for line in f if line.strip()) - 1
    return len(_cut(range(rows))[2])


def curve_summary(curve):
    """Mean, lowest and highest test accuracy per (labels, arm) over the seeds."""
    groups = {}
    for row in curve:
        groups.setdefault((row["labels"], row["arm"]), []).append(row["accuracy"])
    return [{"labels": labels, "arm": arm, "seeds": len(values), "mean": _mean(values),
             "min": min(values), "max": max(values)}
            for (labels, arm), values in sorted(groups.items())]


def write_result(args, runs):
    mlm = {k.split(":")[1]: r for k, r in runs.items() if k.startswith("mlm:")}
    paired = mlm.pop("paired", None)
    fine = [r for k, r in runs.items() if k.startswith("finetune:")]
    all_labels = _train_rows(args.labelled)
    curve = sorted(({"labels": r["labels"] or all_labels, "arm": r["arm"], "seed": r["seed"],
                     "accuracy": r["accuracy"]}
                    for key, r in runs.items() if key.startswith("curve:")),
                   key=lambda r: (r["labels"], r["arm"], r["seed"]))
    command = "bench/pretrain_quality.py " + " ".join(sys.argv[1:])
    if args.report_only and os.path.exists(args.results + ".json"):
        with open(args.results + ".json") as f:  # the command that ran the steps
            command = json.load(f)["command"]
    result = {
        "command": command,
        "size": args.size, "training_tokens": args.steps * args.batch_size * args.seq_length,
        "mlm_accuracy_ours": mlm.get("ours", {}).get("masked_accuracy"),
        "mlm_accuracy_hf": mlm.get("hf", {}).get("masked_accuracy"),
        "mlm_loss_ours": mlm.get("ours", {}).get("masked_loss"),
        "mlm_loss_hf": mlm.get("hf", {}).get("masked_loss"),
        # lmpipe minus Hugging Face on the same masked tokens, with its uncertainty.
        "mlm_accuracy_difference": paired,
        "mlm_tokens": mlm.get("ours", {}).get("masked_tokens"),
        # Masking levers (lmpipe pretrain options), scored on the same eval set as the baseline.
        "masking_levers": {name: mlm[f"ours-{name}"] for name in MASKING
                           if name and f"ours-{name}" in mlm},
        "finetune_accuracy_ours_pretrained": _mean([r["test_accuracy"] for r in fine
                                                    if r["arm"] == "ours"]),
        "finetune_accuracy_hf_pretrained": _mean([r["test_accuracy"] for r in fine
                                                  if r["arm"] == "hf"]),
        "finetune_runs": sorted(fine, key=lambda r: (r["arm"], r["seed"])),
        "pretraining": {k: v for k, v in runs.items() if k.startswith("pretrain:")},
        "curve": curve,
        "curve_all_labels": all_labels,
        "curve_summary": curve_summary(curve),
        "curve_commands": {key: r["command"] for key, r in runs.items()
                           if key.startswith("curve:") and "command" in r},
    }
    with open(args.results + ".json", "w") as f:
        json.dump(result, f, indent=2, sort_keys=True)
    png = args.results + "_curve.png"
    if curve and os.path.exists(args.peer_python):
        subprocess.run([args.peer_python, os.path.join(REPO, "bench", "plot_curve.py"),
                        args.results + ".json", png], check=True)
    with open(args.results + ".md", "w") as f:
        f.write(report(result, os.path.basename(png)))


def report(result, png) -> str:
    """bench/pretrain_quality.md: the figures so far, from the JSON."""
    def pct(value):
        return "not measured yet" if value is None else f"{100 * value:.2f}"

    def loss(value):
        return "not measured yet" if value is None else f"{value:.3f}"

    lines = [
        "# Pretraining quality: lmpipe and Hugging Face on the same budget",
        "",
        f"Command: `{result['command']}` (resumable; every finished step is a line of "
        "`bench/pretrain_quality_runs.jsonl`, with the command it ran).",
        "",
        f"BERT-{result['size']}, {result['training_tokens']:,} training tokens per side, the same "
        "documents (the lmpipe run's train split), vocabulary and optimizer settings. Masked-token "
        "accuracy and loss: one scorer for both encoders on the lmpipe run's fixed masked eval "
        "split. Fine-tuning: `lmpipe finetune` on Rotten Tomatoes, test split, mean of the seeds "
        "run so far.",
        "",
        "| | lmpipe | Hugging Face (run_mlm recipe) |",
        "|---|---|---|",
        f"| masked-token accuracy (%) | {pct(result['mlm_accuracy_ours'])} | "
        f"{pct(result['mlm_accuracy_hf'])} |",
        f"| masked-token loss | {loss(result['mlm_loss_ours'])} | {loss(result['mlm_loss_hf'])} |",
        f"| fine-tuned test accuracy (%) | {pct(result['finetune_accuracy_ours_pretrained'])} | "
        f"{pct(result['finetune_accuracy_hf_pretrained'])} |",
    ]
    paired = result.get("mlm_accuracy_difference")
    if paired:
        lines += ["", f"lmpipe minus Hugging Face on the same {result.get('mlm_tokens', 0):,} "
                  f"masked tokens: {100 * paired['difference']:+.2f} points of masked-token "
                  f"accuracy, 95% bootstrap interval [{100 * paired['ci95'][0]:+.2f}, "
                  f"{100 * paired['ci95'][1]:+.2f}]; the tokens only one of them gets right: "
                  f"{paired['only_a_right']:,} lmpipe, {paired['only_b_right']:,} Hugging Face "
                  f"(McNemar exact p = {paired['mcnemar_p']:.2f})."]
    if result["finetune_runs"]:
        lines += ["", "Fine-tuning runs (test accuracy, %): " + ", ".join(
            f"{r['arm']} seed {r['seed']} {100 * r['test_accuracy']:.2f}"
            for r in result["finetune_runs"]) + "."]
    if result.get("masking_levers"):
        lines += ["", "## Masking levers (lmpipe pretrain options, same budget and eval set)", "",
                  "| masking | masked-token accuracy (%) | loss |", "|---|---|---|",
                  f"| static, `--dupe-factor` (baseline) | {pct(result['mlm_accuracy_ours'])} | "
                  f"{loss(result['mlm_loss_ours'])} |"]
        lines += [f"| {name} | {pct(r['masked_accuracy'])} | {loss(r['masked_loss'])} |"
                  for name, r in sorted(result["masking_levers"].items())]
    if result.get("curve_summary"):
        lines += ["", "## Learning curve (test accuracy, %)", "",
                  f"![learning curve]({png})", "",
                  "Fixed 80/10/10 cut of the labelled file (seed 0); each point draws its training "
                  f"labels with the seed from the train part (\"all\" = "
                  f"{result['curve_all_labels']:,}). Mean over seeds, [lowest, highest].", "",
                  "| labels | arm | seeds | mean | range |", "|---|---|---|---|---|"]
        lines += [f"| {r['labels']:,} | {r['arm']} | {r['seeds']} | {100 * r['mean']:.2f} | "
                  f"[{100 * r['min']:.2f}, {100 * r['max']:.2f}] |"
                  for r in result["curve_summary"]]
    pilot_path = os.path.join(REPO, "bench", "pretrain_quality_pilot.json")
    if os.path.exists(pilot_path):
        with open(pilot_path) as f:
            pilot = json.load(f)
        lines += ["", "## Fine-tuning settings at 1,000 labels (eval split only)", "",
                  pilot["what"], "", f"Command: `{pilot['command']}`", "",
                  "| arm | learning rate | steps run | eval accuracy (%) |", "|---|---|---|---|"]
        lines += [f"| {r['arm']} | {r['learning_rate']:g} | {r['steps']} | "
                  f"{100 * r['eval_accuracy']:.2f} |" for r in pilot["runs"]]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", default=os.path.join(REPO, "..", "shared", "datasets", "corpus"))
    parser.add_argument("--labelled", default=os.path.join(REPO, "..", "shared", "datasets",
                                                           "sentiment", "rotten_tomatoes.tsv"))
    parser.add_argument("--root", default=os.path.join(REPO, "runs", "pq"))
    parser.add_argument("--size", default="tiny")
    parser.add_argument("--tokens", type=float, default=10e6, help="training tokens per side")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-length", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--dupe-factor", type=int, default=5)
    parser.add_argument("--max-predictions", type=int, default=20)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--seeds", default="1,2,3", help="fine-tuning seeds")
    parser.add_argument("--ft-steps", type=int, default=1500)
    parser.add_argument("--ft-learning-rate", type=float, default=1e-4)
    parser.add_argument("--results", default=RESULTS, help="results files: PATH_runs.jsonl, PATH.json")
    parser.add_argument("--curve-labels", default="1000,0,500,2000",
                        help="learning-curve points in training labels (0: all)")
    parser.add_argument("--curve-arms", default="scratch,ours,adapted,tfidf")
    parser.add_argument("--adapt-steps", type=int, default=500)
    parser.add_argument("--skip-curve", action="store_true")
    parser.add_argument("--levers", default="dynamic,wwm",
                        help="masking levers to pretrain and score beside the baseline")
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite the JSON, Markdown and plot from the recorded steps")
    parser.add_argument("--peer-python", default=PEER_PYTHON,
                        help="the Hugging Face side's Python (make bench builds .venv-peer/)")
    args = parser.parse_args()
    args.steps = math.ceil(args.tokens / (args.batch_size * args.seq_length))
    args.corpus, args.labelled = os.path.abspath(args.corpus), os.path.abspath(args.labelled)
    root = os.path.abspath(args.root)

    runs = done_runs(args.results)
    if args.report_only:
        return write_result(args, runs)

    def step(key, fn):
        if key not in runs:
            entry = {"key": key, **fn()}
            record(args.results, entry)
            runs[key] = entry
            write_result(args, runs)
            log(f"{key}: {json.dumps({k: v for k, v in entry.items() if k != 'command'})}")
        return runs[key]

    ours = step(f"pretrain:ours-{args.size}", lambda: pretrain_ours(args, root))
    peer = step(f"pretrain:hf-{args.size}", lambda: pretrain_peer(args, root, ours["run_dir"]))
    eval_files = glob.glob(os.path.join(_artifact(ours["run_dir"], "MlmMasker", "masked_examples"),
                                        "Split-eval", "*"))
    from pipeline.resolve_pretrained import resolve

    ours_model = resolve(ours["run_dir"]).model_uri
    step("mlm:ours", lambda: masked_lm_scores(ours_model, eval_files, args.seq_length,
                                              args.max_predictions))
    step("mlm:hf", lambda: masked_lm_scores(peer["checkpoint"], eval_files, args.seq_length,
                                            args.max_predictions))
    step("mlm:paired", lambda: paired_mlm(ours_model, peer["checkpoint"], eval_files,
                                          args.seq_length, args.max_predictions))
    for seed in [int(s) for s in args.seeds.split(",")]:
        for arm, pretrained in (("ours", ours["run_dir"]), ("hf", peer["checkpoint"])):
            step(f"finetune:{arm}:{seed}",
                 lambda arm=arm, pretrained=pretrained, seed=seed:
                 finetune(args, root, arm, pretrained, seed))
    def curve(labels):
        for seed in [int(s) for s in args.seeds.split(",")]:
            for arm in args.curve_arms.split(","):
                step(f"curve:{arm}:{labels}:{seed}",
                     lambda arm=arm, labels=labels, seed=seed:
                     curve_point(args, root, arm, labels, seed, ours["run_dir"]))

    def lever(masking):
        run_dir = step(f"pretrain:ours-{args.size}-{masking}",
                       lambda: pretrain_ours(args, root, masking))["run_dir"]
        # The eval set is in the baseline's token ids: the lever must have learned the same
        # vocabulary (same corpus, same learner: run every step from one commit).
        vocabs = [_artifact(r, "WordPieceVocabGen", "vocabulary") for r in (ours["run_dir"], run_dir)]
        same = [open(os.path.join(v, "vocab.txt"), encoding="utf-8").read() for v in vocabs]
        if same[0] != same[1]:
            raise RuntimeError(f"{vocabs[1]} differs from the baseline's {vocabs[0]}: the lever "
                               "cannot be scored on the baseline's masked eval set")
        step(f"mlm:ours-{masking}", lambda: masked_lm_scores(
            resolve(run_dir).model_uri, eval_files, args.seq_length, args.max_predictions))

    # The curve's first two points (the targets: 1,000 and all labels), then the masking
    # levers, then the rest of the curve.
    points = [] if args.skip_curve else [int(n) for n in args.curve_labels.split(",")]
    for labels in points[:2]:
        curve(labels)
    for masking in filter(None, args.levers.split(",")):
        lever(masking)
    for labels in points[2:]:
        curve(labels)
    write_result(args, runs)
    log(f"done: {args.results}.json")


if __name__ == "__main__":
    main()
