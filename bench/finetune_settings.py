"""Fine-tuning settings tried for the pretrained and the from-scratch arm, compared on the
eval split (never the test split): which settings to use for bench/finetune_quality.py.

Reads the summary.json of finished `lmpipe finetune` runs and writes
bench/finetune_settings.jsonl (one row per run) and bench/finetune_settings.md:

    .venv/bin/python bench/finetune_settings.py runs/grid/* runs/bench-finetune/*
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FLAGS = ("learning_rate", "pooling", "freeze_embeddings", "early_stopping_patience",
         "train_steps", "checkpoint_every", "eval_steps", "batch_size", "seq_length",
         "min_accuracy")


def row(run_dir: str) -> dict:
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)["finetune"]
    config = summary["config"]
    command = [".venv/bin/lmpipe finetune", f"--data {config['data']}",
               f"--pretrained {config['pretrained']}", f"--run-dir {config['run_dir']}"]
    command += [f"--{k.replace('_', '-')} {config[k]}" for k in FLAGS
                if not isinstance(config[k], bool)]
    command += [f"--{k.replace('_', '-')}" for k in ("freeze_embeddings", "from_scratch")
                if config[k]]
    return {"arm": "scratch" if config["from_scratch"] else "pretrained",
            **{k: config[k] for k in FLAGS},
            "pretrained": config["pretrained"],
            "eval_accuracy": round(100 * summary["eval_metrics"]["accuracy"], 2),
            "eval_examples": summary["eval_metrics"].get("example_count"),
            "steps_run": summary["training"]["steps"],
            "command": " ".join(command)}


def main(run_dirs):
    rows = [row(d) for d in run_dirs]
    rows.sort(key=lambda r: (r["arm"], -r["eval_accuracy"]))
    with open(os.path.join(HERE, "finetune_settings.jsonl"), "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    lines = ["# Fine-tuning settings, compared on the eval split", "",
             "Each row is one `lmpipe finetune` run on the full `rotten_tomatoes.tsv` (same 8/1/1 "
             "split as bench/finetune_quality.md); accuracy is TFMA's on the eval split, so the "
             "test split stays untouched by this choice. Pretraining for the pretrained arm: "
             "`runs/bench-pretrain` (BERT-tiny, 5000 x 32 x 128 tokens on the 1.5M-word corpus).",
             "", f"Made by: `.venv/bin/python bench/finetune_settings.py {' '.join(run_dirs)}`", "",
             "| arm | lr | pooling | frozen embeddings | early stopping | eval accuracy (%) |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['arm']} | {r['learning_rate']} | {r['pooling']} | "
              f"{'yes' if r['freeze_embeddings'] else 'no'} | {r['early_stopping_patience'] or 'off'} | "
              f"{r['eval_accuracy']} |" for r in rows]
    best = {arm: max((r for r in rows if r["arm"] == arm), key=lambda r: r["eval_accuracy"])
            for arm in ("pretrained", "scratch") if any(r["arm"] == arm for r in rows)}
    lines += ["", "Best per arm: " + "; ".join(
        f"{arm} {r['eval_accuracy']}% (lr {r['learning_rate']}, {r['pooling']} pooling)"
        for arm, r in best.items()) + ".", "", "Commands:", "", "```bash",
              *[r["command"] for r in rows], "```", ""]
    with open(os.path.join(HERE, "finetune_settings.md"), "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:])
