"""Runs our side and the Hugging Face side of each benchmark on this machine, alternating
(ours, peer, ours, peer, ...), and writes bench/results.json and bench/RESULTS.md.

    make bench        # sets up .venv (ours) and .venv-peer (HF), then runs this

Each measurement is a fresh process; the median of `--repeats` runs is reported. `ratio` is
above 1 when we are better (higher throughput, lower latency or memory).
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
OURS = os.path.join(REPO, ".venv", "bin", "python")
PEER = os.path.join(REPO, ".venv-peer", "bin", "python")
BEFORE = os.path.join(HERE, "results_before.json")
TARGETS = {"train": 2.0, "preprocess": 1.0, "inference_latency": 2.0}


REPLAY = []  # results read back from a bench log (--replay), in the order they were made
LOG = os.path.join(HERE, "results.log")  # every command and result as it comes (for --replay)


def log(line):
    print(line, flush=True)
    with open(LOG, "a") as f:
        f.write(line + "\n")


def run(python, script, *args):
    command = [python, os.path.join(HERE, script), *args]
    if REPLAY:
        result = REPLAY.pop(0)
        assert result.get("impl", "").split(" ")[0] in ("ours", "peer", "ceiling"), result
        return result
    log("+ " + " ".join(os.path.relpath(c, REPO) if c.startswith(REPO) else c for c in command))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    out = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
    if out.returncode:
        raise SystemExit(f"{script} failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    log(f"   {result}")
    return result


def pair(repeats, ours_cmd, peer_cmd):
    ours, peer = [], []
    for _ in range(repeats):
        ours.append(run(OURS, *ours_cmd))
        peer.append(run(PEER, *peer_cmd))
    return ours, peer


def median(results, key):
    return statistics.median(r[key] for r in results)


def entry(name, ours, peer, unit, higher_is_better, target=None, note=""):
    ratio = ours / peer if higher_is_better else peer / ours
    return {"name": name, "ours": round(ours, 2), "peer": round(peer, 2), "unit": unit,
            "ratio": round(ratio, 3), "target": target,
            "met": None if target is None else ratio >= target, "note": note}


def demo_classifier():
    with open(os.path.join(REPO, "runs", "demo", "summary.json")) as f:
        finetune = json.load(f)["finetune"]
    model_dir = os.path.dirname(finetune["pushed_model"])
    vocab = os.path.join(finetune["pretrained_model"], "encoder", "vocab.txt")
    return model_dir, vocab, finetune["config"]["seq_length"], finetune["config"]["model_size"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--train-steps", type=int, default=30)
    parser.add_argument("--sizes", default="mini,small")
    parser.add_argument("--preprocess-repeats", type=int, default=1,
                        help="each of ours is a whole pipeline run (minutes on the full corpus)")
    shared = os.path.join(os.path.dirname(REPO), "shared", "datasets", "corpus")
    parser.add_argument("--corpus", default=shared if os.path.isdir(shared) else
                        os.path.join(REPO, "data", "corpus"))
    parser.add_argument("--only", choices=("train", "preprocess", "inference"),
                        help="run one part; the other entries of results.json are kept")
    parser.add_argument("--replay", metavar="LOG",
                        help="rebuild the report from a run's log (the result lines it printed)")
    args = parser.parse_args()
    global LOG
    if args.only:  # the full run's log stays as it is
        LOG = os.path.join(HERE, f"results_{args.only}.log")
    if not args.replay and os.path.exists(LOG):
        os.remove(LOG)
    if args.replay:
        import ast

        with open(args.replay) as f:
            REPLAY.extend(ast.literal_eval(line.strip()) for line in f
                          if line.startswith("   {"))

    results = []
    wanted = {args.only} if args.only else {"train", "preprocess", "inference"}
    for size in args.sizes.split(",") if "train" in wanted else []:
        for precision in ("float32", "mixed_bfloat16"):
            flags = ["--size", size, "--steps", str(args.train_steps)]
            if precision != "float32":  # ours: Keras' policy; peer: torch.autocast(bfloat16)
                flags += ["--mixed-precision", precision]
            ours, peer = pair(args.repeats, ["ours_train.py", *flags], ["peer_train.py", *flags])
            suffix = "" if precision == "float32" else "_bf16"
            results.append(entry(
                f"train_{size}{suffix}_tokens_per_second", median(ours, "tokens_per_second"),
                median(peer, "tokens_per_second"), "tokens/s", True, TARGETS["train"],
                f"MLM step, seq 128, batch 32, vocab 8000, 15% masked, {precision}"))
            results.append(entry(f"train_{size}{suffix}_peak_memory", median(ours, "peak_rss_mb"),
                                 median(peer, "peak_rss_mb"), "MB (peak RSS)", False))

    corpus = args.corpus
    pre, peer, ceiling, in_memory = [], [], [], []
    for _ in range(args.preprocess_repeats if "preprocess" in wanted else 0):
        pre.append(run(OURS, "ours_preprocess.py", "--corpus", corpus))
        peer.append(run(PEER, "peer_preprocess.py", "--corpus", corpus, "--vocab", pre[-1]["vocab"]))
        ceiling.append(run(OURS, "ours_preprocess.py", "--corpus", corpus,
                           "--ceiling", pre[-1]["vocab"]))
        in_memory.append(run(OURS, "ours_preprocess.py", "--corpus", corpus, "--mode", "in_memory"))
    if "preprocess" in wanted:
        results.extend(preprocess_entries(pre, peer, ceiling, in_memory))
    if "inference" in wanted:
        results.extend(inference_entries(args))
    write_report(args, results, pre, in_memory)


def preprocess_entries(pre, peer, ceiling, in_memory):
    results = []
    results.append(entry("preprocess_documents_per_second", median(pre, "documents_per_second"),
                         median(peer, "documents_per_second"), "documents/s", True,
                         TARGETS["preprocess"],
                         f"{pre[0]['documents']} documents, {pre[0]['mb']:.1f} MB; ours = "
                         "Tokenize + MlmMasker components (DirectRunner, 2 processes)"))
    results.append(entry("preprocess_one_process_documents_per_second",
                         median(in_memory, "documents_per_second"),
                         median(peer, "documents_per_second"), "documents/s", True,
                         note="the same components on DirectRunner in_memory (one process, no "
                              "worker start-up)"))
    results.append(entry("preprocess_ceiling_vs_peer_documents_per_second",
                         median(ceiling, "documents_per_second"),
                         median(peer, "documents_per_second"), "documents/s", True,
                         note="tensorflow-text FastWordpiece alone, in-process (tokenizing only)"))
    return results


def inference_entries(args):
    results = []
    model_dir, vocab, seq_length, size = demo_classifier()
    ours, peer = pair(args.repeats, ["ours_infer.py", "--model-dir", model_dir],
                      ["peer_infer.py", "--vocab", vocab, "--size", size,
                       "--seq-length", str(seq_length)])
    results.append(entry("inference_batch1_p50_latency", median(ours, "batch1_p50_ms"),
                         median(peer, "batch1_p50_ms"), "ms", False,
                         TARGETS["inference_latency"], f"BERT-{size} classifier, raw text in"))
    results.append(entry("inference_batch1_p99_latency", median(ours, "batch1_p99_ms"),
                         median(peer, "batch1_p99_ms"), "ms", False))
    results.append(entry("inference_batch32_throughput",
                         median(ours, "batch32_sequences_per_second"),
                         median(peer, "batch32_sequences_per_second"), "sequences/s", True))
    # Batch-1 latency of so small a model is mostly per-op thread hand-offs: both sides again
    # on one thread (TF Serving: --tensorflow_intra_op_parallelism=1; torch.set_num_threads(1)).
    ours, peer = pair(args.repeats, ["ours_infer.py", "--model-dir", model_dir, "--threads", "1"],
                      ["peer_infer.py", "--vocab", vocab, "--size", size,
                       "--seq-length", str(seq_length), "--threads", "1"])
    results.append(entry("inference_batch1_p50_latency_one_thread", median(ours, "batch1_p50_ms"),
                         median(peer, "batch1_p50_ms"), "ms", False, TARGETS["inference_latency"],
                         "both sides on one thread"))
    return results


def write_report(args, results, pre, in_memory):
    command = "make bench  (" + " ".join(["bench/run.py", *sys.argv[1:]]) + ")"
    if args.replay:
        command = (f"make bench; report rebuilt from that run's log {args.replay} with "
                   f"bench/run.py --replay (writing the report had failed)")
        if args.only:
            command = (f"make bench  (bench/run.py --only {args.only}); report rebuilt from its "
                       f"log {args.replay} with --replay")
    report = {"command": command,
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "processor": platform.processor() or platform.machine()},
              "benchmarks": results,
              "component_seconds": {"multi_processing": pre[0]["parts"],
                                    "in_memory": in_memory[0]["parts"]} if pre else None,
              "not_measured": [NO_GPU]}
    if args.only:  # one part again: the other entries stay, each new one names its command
        with open(os.path.join(HERE, "results.json")) as f:
            previous = json.load(f)
        for b in results:
            b["command"] = command
        names = {b["name"] for b in results}
        report = dict(previous, benchmarks=[b if b["name"] not in names else
                                            next(r for r in results if r["name"] == b["name"])
                                            for b in previous["benchmarks"]]
                      + [r for r in results if r["name"] not in
                         {b["name"] for b in previous["benchmarks"]}])
        if pre:
            report["component_seconds"] = {"multi_processing": pre[0]["parts"],
                                           "in_memory": in_memory[0]["parts"]}
    with open(os.path.join(HERE, "results.json"), "w") as f:
        json.dump(report, f, indent=2)
    write_markdown(report)


NO_GPU = ("Keras 3 on JAX on a GPU, and its model FLOPs utilisation: this task has no GPU "
          "machine (the device tool's status: can_start_another=false), so it was not run.")


def write_markdown(report):
    before, before_note = {}, ""
    if os.path.exists(BEFORE):  # the first run, before the speed work (bench/results_before.json)
        with open(BEFORE) as f:
            first = json.load(f)
        before = {b["name"]: b for b in first["benchmarks"]}
        before_note = first.get("note", "")
    lines = ["# lmpipe vs Hugging Face transformers, same machine, same sizes", "",
             f"Command: `{report['command']}`; machine: {report['machine']['cpus']} CPUs, "
             f"{report['machine']['platform']}.", "",
             "| benchmark | ours | HF (peer) | unit | ratio (>1: we are better) | target "
             "| before the speed work: ours / ratio |",
             "|---|---|---|---|---|---|---|"]
    for b in report["benchmarks"]:
        target = "" if b["target"] is None else f"{b['target']} ({'met' if b['met'] else 'missed'})"
        old = before.get(b["name"])
        was = f"{old['ours']} / {old['ratio']}" if old else "not measured"
        lines.append(f"| {b['name']} | {b['ours']} | {b['peer']} | {b['unit']} | {b['ratio']} "
                     f"| {target} | {was} |")
    lines += ["", *[f"- {b['name']}: {b['note']}" for b in report["benchmarks"] if b["note"]], ""]
    lines += [f"- {b['name']} was measured by `{b['command']}`" for b in report["benchmarks"]
              if b.get("command")] + [""]
    scaling = report.get("preprocess_scaling")
    if scaling:
        lines += ["## Preprocessing at three corpus sizes", "",
                  f"`{scaling['command']}`; {scaling['note']}", "", *scaling["table"], ""]
    if before_note:
        lines += [f"Before column: {before_note}", ""]
    if report.get("component_seconds"):
        lines += ["Seconds per pipeline component in the preprocessing runs (ML Metadata): "
                  f"`{json.dumps(report['component_seconds'])}`", ""]
    lines += [f"Not measured: {item}" for item in report["not_measured"]] + [""]
    with open(os.path.join(HERE, "gaps.md")) as f:  # the hand-written reading of the profiles
        lines += [f.read()]
    with open(os.path.join(HERE, "RESULTS.md"), "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main()
