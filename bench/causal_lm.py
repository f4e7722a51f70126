"""Causal-LM pretraining side by side with Hugging Face: the same small GPT-2 architecture, the
same byte-level BPE vocabulary, the same documents, the same token budget and optimizer
settings, both scored by one scorer on one fixed eval set; then served generation latency.

    .venv/bin/python bench/causal_lm.py                      # writes bench/causal_lm.json and .md
    .venv/bin/python bench/causal_lm.py --corpus ../shared/datasets/corpus --train-steps 1250

Resumable: each finished step leaves its output under --work (runs/causal_bench); a rerun skips
it. Steps:

1. lmpipe: `lmpipe pretrain --objective causal` on --corpus (its ByteLevelBPEVocabGen learns the
   vocabulary, its Tokenize cuts blocks of --seq-length), --model-size tiny (2 layers, hidden 128,
   2 heads), --batch-size 32 x --seq-length 128 x --train-steps 1250 = 5.12M block tokens,
   AdamW lr 1e-3, 10% warmup then linear decay, weight decay 0.01, clipping 1.0, dropout 0.1.
2. The run's train documents (its ExampleGen train split), its vocabulary and its eval blocks
   (its Tokenize eval split: the fixed eval set) are written out.
3. Hugging Face (bench/peer_causal_lm.py in .venv-peer): run_clm.py's recipe on those documents
   with that vocabulary, `GPT2LMHeadModel` of the same sizes, the same steps and settings.
4. One scorer (keras-hub's GPT2CausalLM, here): each model's mean next-token cross-entropy over
   every eval block (the Hugging Face model read through keras-hub's converter, whose logits
   equal transformers' within 1e-4: tests/models/causal_lm/test_parity.py).
5. Served generation latency at batch 1 of lmpipe's pushed model (bench/causal_lm_latency.py).
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
PEER_PYTHON = os.path.join(REPO, ".venv-peer", "bin", "python")


def _records(pattern):
    import tensorflow as tf

    return [r.numpy() for r in tf.data.TFRecordDataset(sorted(glob.glob(pattern)), "GZIP")]


def _latest(directory):
    ids = [d for d in os.listdir(directory) if d.isdigit()]
    return os.path.join(directory, max(ids, key=int))


def run_ours(args, run_dir):
    summary_file = os.path.join(run_dir, "summary.json")
    if not os.path.exists(summary_file):
        command = [os.path.join(REPO, ".venv", "bin", "lmpipe"), "pretrain", "--objective",
                   "causal", "--corpus", args.corpus, "--run-dir", run_dir,
                   "--vocab-size", str(args.vocab_size), "--seq-length", str(args.seq_length),
                   "--model-size", "tiny", "--batch-size", str(args.batch_size),
                   "--train-steps", str(args.train_steps), "--checkpoint-every",
                   str(args.train_steps // 5), "--eval-steps", "20",
                   "--learning-rate", str(args.learning_rate), "--seed", str(args.seed),
                   "--max-perplexity", "100000"]
        print("bench:", " ".join(command), flush=True)
        subprocess.run(command, check=True)
    with open(summary_file) as f:
        return json.load(f)["pretrain"]


def export_inputs(run_dir, out):
    """Train documents (JSONL), the vocabulary and the eval blocks (.npy) of lmpipe's run."""
    import numpy as np
    import tensorflow as tf

    from models.tokenizers import bpe

    os.makedirs(out, exist_ok=True)
    pipeline = os.path.join(run_dir, "pipeline")
    examples = _latest(os.path.join(pipeline, "FileBasedExampleGen", "examples"))
    docs = os.path.join(out, "train.jsonl")
    with open(docs, "w", encoding="utf-8") as f:
        for record in _records(os.path.join(examples, "Split-train", "*")):
            text = tf.train.Example.FromString(record).features.feature["text"].bytes_list.value
            f.write(json.dumps({"text": text[0].decode("utf-8")}, ensure_ascii=False) + "\n")
    graph = _latest(os.path.join(pipeline, "Tokenize", "transform_graph"))
    bpe.copy_bpe(graph, os.path.join(out, "vocab"))
    blocks = _latest(os.path.join(pipeline, "Tokenize", "transformed_examples"))
    eval_blocks = np.array([tf.train.Example.FromString(r).features.feature["token_ids"]
                            .int64_list.value for r in _records(
                                os.path.join(blocks, "Split-eval", "*"))], dtype=np.int64)
    np.save(os.path.join(out, "eval_blocks.npy"), eval_blocks)
    return docs, os.path.join(out, "vocab"), eval_blocks


def score(model, blocks, batch=32):
    """Mean next-token cross-entropy (nats) over every block's T - 1 predictions."""
    import tensorflow as tf

    from models.causal_lm.model import next_token_pairs

    total, count = 0.0, 0
    for start in range(0, len(blocks), batch):
        inputs, targets = next_token_pairs(tf.constant(blocks[start:start + batch]))
        logits = tf.cast(model(inputs, training=False), tf.float32)
        nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits)
        total += float(tf.reduce_sum(nll))
        count += int(tf.size(nll))
    return total / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default=os.path.join(REPO, "..", "shared", "datasets",
                                                         "corpus"))
    parser.add_argument("--work", default=os.path.join(REPO, "runs", "causal_bench"))
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--seq-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--train-steps", type=int, default=1250)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join(REPO, "bench", "causal_lm"))
    args = parser.parse_args()
    args.corpus = os.path.abspath(args.corpus)

    ours_dir = os.path.join(args.work, "ours")
    ours = run_ours(args, ours_dir)
    docs, vocab_dir, eval_blocks = export_inputs(ours_dir, os.path.join(args.work, "inputs"))
    hf_dir = os.path.join(args.work, "hf")
    hf_report = os.path.join(args.work, "hf_report.json")
    if not os.path.exists(hf_report):
        command = [PEER_PYTHON, os.path.join(REPO, "bench", "peer_causal_lm.py"),
                   "--train-docs", docs, "--vocab-dir", vocab_dir, "--out", hf_dir,
                   "--seq-length", str(args.seq_length), "--layers", "2", "--hidden", "128",
                   "--heads", "2", "--batch-size", str(args.batch_size),
                   "--train-steps", str(args.train_steps),
                   "--learning-rate", str(args.learning_rate), "--seed", str(args.seed)]
        print("bench:", " ".join(command), flush=True)
        result = subprocess.run(command, check=True, capture_output=True, text=True)
        with open(hf_report, "w") as f:
            f.write(result.stdout.strip().splitlines()[-1])
    with open(hf_report) as f:
        hf = json.load(f)

    from models.checkpoints import gpt2 as gpt2_checkpoint
    from models.causal_lm.checkpoint import load_causal_lm

    model_dir = _latest(os.path.join(ours_dir, "pipeline", "Trainer", "model"))
    ours_model = load_causal_lm(gpt2_checkpoint.inspect_gpt2(model_dir),
                                dropout=0.0)
    hf_model = load_causal_lm(gpt2_checkpoint.inspect_gpt2(hf_dir), dropout=0.0)
    eval_loss_ours, eval_loss_hf = score(ours_model, eval_blocks), score(hf_model, eval_blocks)

    latency_file = os.path.join(args.work, "latency.json")
    if not os.path.exists(latency_file):
        subprocess.run([sys.executable, os.path.join(REPO, "bench", "causal_lm_latency.py"),
                        "--model-dir", os.path.join(ours_dir, "serving", "clm"),
                        "--budgets", "1,16,32,64", "--out", latency_file], check=True)
    with open(latency_file) as f:
        latency = json.load(f)

    training = ours.get("training", {})
    report = {
        "command": "python bench/causal_lm.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} CPU cores, no GPU",
        "architecture": {"layers": 2, "hidden": 128, "heads": 2, "positions": args.seq_length,
                         "vocab_size": ours["vocab_size"]},
        "token_budget": args.train_steps * args.batch_size * args.seq_length,
        "eval_blocks": int(len(eval_blocks)),
        "eval_loss_ours": eval_loss_ours,
        "eval_loss_hf": eval_loss_hf,
        "target_met": eval_loss_ours <= eval_loss_hf + 0.02,
        "tokens_per_second_ours": training.get("tokens_per_second"),
        "tokens_per_second_hf": hf["tokens_per_second"],
        "train_blocks_ours": ours.get("blocks"),
        "train_blocks_hf": hf["train_blocks"],
        "evaluator_perplexity_ours": ours["eval_metrics"].get("perplexity"),
        "served_seconds_per_new_token_batch1": latency["seconds_per_new_token"],
        "served_prompt_seconds_batch1": latency["prompt_seconds"],
        "latency": latency["by_budget"],
        "settings": vars(args),
    }
    speed = (report["tokens_per_second_ours"] or 0) / report["tokens_per_second_hf"]
    report["speed_ratio_ours_over_hf"] = speed
    with open(args.out + ".json", "w") as f:
        json.dump(report, f, indent=2)
    with open(args.out + ".md", "w") as f:
        f.write(f"""# Causal LM pretraining: lmpipe vs Hugging Face run_clm.py

Command: `{report['command']}` ({report['date']}, {report['machine']}).
GPT-2 of 2 layers, hidden 128, 2 heads, {args.seq_length} positions, byte-level BPE of
{ours['vocab_size']} learned by lmpipe; {report['token_budget']:,} block tokens each
({args.train_steps} steps of {args.batch_size} x {args.seq_length}), AdamW lr {args.learning_rate},
10% warmup, linear decay, weight decay 0.01, clipping 1.0, dropout 0.1.

| | lmpipe | Hugging Face |
|---|---|---|
| eval loss (one scorer, {len(eval_blocks)} blocks) | {eval_loss_ours:.4f} | {eval_loss_hf:.4f} |
| training tokens/s | {report['tokens_per_second_ours'] or float('nan'):,.0f} | \
{hf['tokens_per_second']:,.0f} |
| train blocks | {ours.get('blocks')} | {hf['train_blocks']} |

Target eval_loss_ours <= eval_loss_hf + 0.02: {'met' if report['target_met'] else 'NOT met'}.
Speed ratio lmpipe / Hugging Face: {speed:.2f}x.
Served generation (lmpipe's pushed SavedModel, `generate`, greedy, batch 1):
{1000 * latency['seconds_per_new_token']:.2f} ms per new token, {1000 * latency['prompt_seconds']:.1f} ms
fixed cost per request.
""")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
