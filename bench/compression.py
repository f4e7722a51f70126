"""Compression, measured: a teacher, a student distilled from it, the student in TensorFlow Lite
(float, dynamic-range and int8), and Hugging Face's pipeline on a fine-tuned model of the
student's size; accuracy on the Rotten Tomatoes test split, size on disk, batch-1 p50/p99
latency from raw text and batch-32 throughput, all in one run on this machine.

    .venv/bin/python bench/compression.py        (after bench/pretrain_quality.py, whose
                                                  tiny pretrainings and data split it reuses)

Steps, each skipped when a rerun finds its result under --root (a killed run resumes):
 1. teacher: `lmpipe pretrain --model-size mini` on the corpus (--teacher-tokens), then
    `lmpipe finetune` on the RT train split (the split bench/pretrain_quality.py cuts: 80/10/10);
 2. student: `lmpipe finetune --pretrained <lmpipe's tiny pretraining> --distill-from <teacher>`;
 3. `lmpipe export-tflite` of the student, --quantize none / dynamic / int8 (int8 calibrated on
    the train split), each scored on the eval split beside the SavedModel;
 4. Hugging Face: bench/peer_compression.py fine-tunes the HF-pretrained tiny checkpoint
    (same size, vocabulary and pretraining budget as lmpipe's) and times its pipeline;
 5. every lmpipe row timed here: the SavedModel's serving_default in process (as TF Serving
    runs the graph), the TFLite models through the interpreter with tensorflow-text's kernels.
Writes bench/compression.json (rows {name, accuracy, size_mb, p50_ms, p99_ms, throughput}) and
bench/compression.md.
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
from bench.infer_common import time_model  # noqa: E402
from bench.pretrain_quality import curve_data  # noqa: E402

LMPIPE = os.path.join(os.path.dirname(sys.executable), "lmpipe")
PEER_PYTHON = os.path.join(REPO, ".venv-peer", "bin", "python")
RESULTS = os.path.join(HERE, "compression")  # + _runs.jsonl, .json, .md
FINETUNE = ["--seq-length", "64", "--batch-size", "32", "--eval-steps", "20",
            "--checkpoint-every", "300", "--early-stopping-patience", "2", "--min-accuracy", "0.0"]


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(command, log_file):
    log(" ".join(command) + f"  (log: {log_file})")
    os.makedirs(os.path.dirname(log_file), exist_ok=True)
    with open(log_file, "w") as f:
        result = subprocess.run(command, stdout=f, stderr=subprocess.STDOUT, cwd=REPO)
    if result.returncode:
        raise SystemExit(f"failed ({result.returncode}): {' '.join(command)}; see {log_file}")


def summary(run_dir):
    with open(os.path.join(run_dir, "summary.json")) as f:
        return json.load(f)["finetune"]


def read_split(data, split):
    with open(os.path.join(data, f"{split}.tsv"), encoding="utf-8") as f:
        header, *rows = f.read().splitlines()
    label_at = header.split("\t").index("label")
    pairs = [row.split("\t") for row in rows if row.strip()]
    return [p[1 - label_at] for p in pairs], [p[label_at] for p in pairs]


def size_mb(path):
    if os.path.isfile(path):
        return os.path.getsize(path) / 1e6
    return sum(os.path.getsize(os.path.join(root, name))
               for root, _, files in os.walk(path) for name in files) / 1e6


def saved_model_predictor(model_dir):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    serve = tf.saved_model.load(model_dir).signatures["serving_default"]
    return lambda texts: serve(text=tf.constant(texts))["probabilities"].numpy()


def measure(row, predict, data, labels, calls, batches):
    """Test accuracy (unless the run measured it), then the timings."""
    import numpy as np

    if row.get("accuracy") is None:
        texts, truth = read_split(data, "test")
        predicted = np.concatenate([np.argmax(predict(texts[i:i + 256]), axis=1)
                                    for i in range(0, len(texts), 256)])
        row["accuracy"] = float(np.mean([labels[p] == t for p, t in zip(predicted, truth)]))
    row.update(time_model(predict, calls, batches))
    log(f"{row['name']}: {json.dumps(row)}")
    return row


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", default=os.path.join(REPO, "..", "shared", "datasets", "corpus"))
    parser.add_argument("--labelled", default=os.path.join(REPO, "..", "shared", "datasets",
                                                           "sentiment", "rotten_tomatoes.tsv"))
    parser.add_argument("--root", default=os.path.join(REPO, "runs", "compression"))
    parser.add_argument("--student-pretrained", default=os.path.join(REPO, "runs", "pq", "ours-tiny"),
                        help="lmpipe's tiny pretraining (bench/pretrain_quality.py makes it)")
    parser.add_argument("--peer-checkpoint", default=os.path.join(REPO, "runs", "pq", "hf-tiny"),
                        help="the HF-pretrained tiny checkpoint of the same budget (idem)")
    parser.add_argument("--teacher-size", default="mini")
    parser.add_argument("--teacher-tokens", type=float, default=5e6)
    parser.add_argument("--ft-steps", type=int, default=1500)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--distill-temperature", type=float, default=2.0)
    parser.add_argument("--distill-alpha", type=float, default=0.5)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--peer-python", default=PEER_PYTHON)
    args = parser.parse_args()
    root = os.path.abspath(args.root)
    logs = os.path.join(root, "logs")
    data = curve_data(os.path.abspath(args.labelled), root, 0, 1)
    command = " ".join(["bench/compression.py", *sys.argv[1:]])

    teacher_pretrain = os.path.join(root, f"pretrain-{args.teacher_size}")
    steps = int(args.teacher_tokens // (32 * 128))
    if not os.path.isfile(os.path.join(teacher_pretrain, "summary.json")):
        run([LMPIPE, "pretrain", "--corpus", os.path.abspath(args.corpus),
             "--run-dir", teacher_pretrain, "--model-size", args.teacher_size,
             "--vocab-size", "8000", "--seq-length", "128", "--batch-size", "32",
             "--train-steps", str(steps), "--checkpoint-every", str(max(1, steps // 5)),
             "--learning-rate", "1e-3", "--dupe-factor", "5", "--min-masked-accuracy", "0.0"],
            os.path.join(logs, "teacher-pretrain.log"))
    finetune = [LMPIPE, "finetune", "--data", data, "--train-steps", str(args.ft_steps),
                "--learning-rate", str(args.learning_rate), "--seed", "1", *FINETUNE]
    teacher_run = os.path.join(root, "teacher")
    if not os.path.isfile(os.path.join(teacher_run, "summary.json")):
        run([*finetune, "--pretrained", teacher_pretrain, "--run-dir", teacher_run],
            os.path.join(logs, "teacher.log"))
    teacher = summary(teacher_run)
    student_run = os.path.join(root, "student")
    if not os.path.isfile(os.path.join(student_run, "summary.json")):
        run([*finetune, "--pretrained", os.path.abspath(args.student_pretrained),
             "--run-dir", student_run, "--distill-from", teacher["pushed_model"],
             "--distill-temperature", str(args.distill_temperature),
             "--distill-alpha", str(args.distill_alpha), "--max-drop-vs-teacher", "1.0"],
            os.path.join(logs, "student.log"))
    student = summary(student_run)
    tflite = {}
    for mode in ("none", "dynamic", "int8"):
        out = os.path.join(root, f"student-tflite-{mode}")
        if not os.path.isfile(os.path.join(out, "report.json")):
            run([LMPIPE, "export-tflite", "--model-dir", student["pushed_model"], "--out", out,
                 "--quantize", mode, "--run-dir", student_run],
                os.path.join(logs, f"tflite-{mode}.log"))
        with open(os.path.join(out, "report.json")) as f:
            tflite[mode] = json.load(f)
    peer_out = os.path.join(root, "hf-tiny-rt")
    log("Hugging Face: fine-tune and time (bench/peer_compression.py)")
    peer = subprocess.run([args.peer_python, os.path.join(HERE, "peer_compression.py"),
                           "--checkpoint", os.path.abspath(args.peer_checkpoint), "--data", data,
                           "--out", peer_out, "--calls", str(args.calls),
                           "--batches", str(args.batches)],
                          capture_output=True, text=True, cwd=REPO)
    if peer.returncode:
        raise SystemExit(f"peer failed:\n{peer.stderr[-4000:]}")
    peer_row = json.loads(peer.stdout.strip().splitlines()[-1])

    from models.text_classification.tflite import TFLiteClassifier

    labels = student["labels"]
    rows = [
        measure({"name": "teacher_savedmodel", "model": teacher["pushed_model"],
                 "accuracy": teacher["test_metrics"]["accuracy"],
                 "size_mb": size_mb(teacher["pushed_model"])},
                saved_model_predictor(teacher["pushed_model"]), data, labels, args.calls,
                args.batches),
        measure({"name": "student_savedmodel", "model": student["pushed_model"],
                 "accuracy": student["test_metrics"]["accuracy"],
                 "size_mb": size_mb(student["pushed_model"])},
                saved_model_predictor(student["pushed_model"]), data, labels, args.calls,
                args.batches),
    ]
    for mode, name in (("none", "student_tflite_float"), ("dynamic", "student_tflite_dynamic"),
                       ("int8", "student_tflite_int8")):
        model = TFLiteClassifier(tflite[mode]["tflite_model"])
        rows.append(measure({"name": name, "model": tflite[mode]["tflite_model"],
                             "size_mb": tflite[mode]["size_mb"],
                             "eval_label_agreement": tflite[mode]["eval_split"]["label_agreement"]},
                            lambda texts, m=model: m.predict(texts, batch_size=32), data,
                            labels, args.calls, args.batches))
    rows.append(peer_row)
    write(rows, teacher, student, command, args)


def write(rows, teacher, student, command, args):
    by_name = {row["name"]: row for row in rows}
    teacher_row, peer = by_name["teacher_savedmodel"], by_name["hf_pipeline"]
    ours = [row for row in rows if row["name"] != "hf_pipeline"]
    fastest = min(ours, key=lambda row: row["p50_ms"])
    students = [row for row in ours if row["name"].startswith("student")]
    result = {
        "command": command,
        "machine": f"{os.cpu_count()} CPUs",
        "rows": rows,
        "teacher_eval_accuracy": teacher["eval_metrics"].get("accuracy"),
        "student_eval_accuracy": student["eval_metrics"].get("accuracy"),
        "student_blessed": student["blessed"],
        "checks": {
            "student_within_1_point_and_3x_smaller": any(
                row["accuracy"] >= teacher_row["accuracy"] - 0.01
                and teacher_row["size_mb"] >= 3 * row["size_mb"] for row in students),
            "fastest": fastest["name"],
            "fastest_p50_vs_hf": fastest["p50_ms"] / peer["p50_ms"],
            "fastest_accuracy_vs_teacher": fastest["accuracy"] - teacher_row["accuracy"],
        },
    }
    with open(RESULTS + ".json", "w") as f:
        json.dump(result, f, indent=2)
    lines = ["# Compression: size, speed and accuracy", "",
             f"Command: `{command}` ({result['machine']}; every row measured in the same run). "
             "Accuracy: the Rotten Tomatoes test split (the 80/10/10 cut of "
             "bench/pretrain_quality.py). Latency: one raw review snippet per call, 500 calls "
             "after 20 warm-up calls; throughput: batches of 32.", "",
             "| model | test accuracy | size on disk (MB) | batch-1 p50 (ms) | p99 (ms) | "
             "batch-32 throughput (seq/s) |", "|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['name']} | {100 * row['accuracy']:.2f}% | {row['size_mb']:.1f} | "
                     f"{row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {row['throughput']:.0f} |")
    checks = result["checks"]
    lines += ["", f"- Teacher: BERT-{args.teacher_size}, lmpipe-pretrained on "
              f"{args.teacher_tokens / 1e6:.0f}M tokens of the corpus, fine-tuned; student: "
              f"BERT-tiny (lmpipe's pretraining), distilled at temperature "
              f"{args.distill_temperature}, alpha {args.distill_alpha}.",
              f"- Fastest lmpipe row: {checks['fastest']}, p50 {checks['fastest_p50_vs_hf']:.2f}x "
              f"Hugging Face's pipeline, {100 * checks['fastest_accuracy_vs_teacher']:+.2f} "
              "points of accuracy against the teacher."]
    with open(RESULTS + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
