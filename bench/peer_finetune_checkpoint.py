"""Hugging Face's standard fine-tuning recipe (as examples/pytorch/text-classification/run_glue.py
and its Trainer run it) on a BERT checkpoint directory: the peer of `lmpipe finetune
--pretrained <checkpoint>`. Runs in .venv-peer (Python 3.11, `make bench` builds it):

    .venv-peer/bin/python bench/peer_finetune_checkpoint.py --checkpoint ~/ckpt/all-MiniLM-L6-v2 \
        --train train.tsv --eval eval.tsv --test test.tsv --seq-length 128 --batch-size 32 \
        --learning-rate 5e-5 --warmup-steps 100 --train-steps 1000 --seed 0 --threads 2

--checkpoint is a Hugging Face model directory (config.json, model.safetensors, a tokenizer), e.g.
a plain BertModel such as all-MiniLM-L6-v2 (the sentence-transformers files beside it are
ignored); its tokenizer is used as it is.

Recipe: AutoModelForSequenceClassification.from_pretrained(checkpoint, num_labels, id2label,
label2id) (a new classification head, seeded), inputs truncated to --seq-length and padded per
batch by DataCollatorWithPadding, batches drawn at random (seeded) and epochs repeated until
--train-steps optimizer steps, torch AdamW (lr --learning-rate, betas 0.9/0.999, eps 1e-8,
weight decay 0.01 except on biases and LayerNorm weights, as the Trainer groups them),
get_linear_schedule_with_warmup(--warmup-steps, --train-steps), gradient norm clipped to 1.0.
The final model is scored (no checkpoint selection).

Inputs: TSV files with a header naming `label` and `text` columns (in any order), no quoting:
fields split at tabs (the last column keeps any further tabs), records at \\n (a \\r before it is
dropped). Classes: --labels a,b,c (their order is the class ids), or else those of the train
split, sorted (numerically when every one is an integer), as lmpipe does; a label of eval or
test that is not a class stops the run.

Output: one JSON line on stdout (progress and transformers' messages go to stderr):
eval_accuracy, eval_macro_f1, test_accuracy, test_macro_f1 (fractions in [0, 1]; macro-F1 as
scikit-learn's f1_score(average="macro"): the mean over the classes present in the truth or the
predictions, 0 where undefined), train_examples_per_second (examples seen by the training loop /
its wall time: tokenization, model loading and evaluation excluded), train_seconds, wall_seconds
(the whole script from its start), final_loss, the counts, the classes and the settings.
"""

import argparse
import json
import sys
import time

from peer_training import add_finetuning_arguments, start_torch, train, trainer_optimizer

START = time.perf_counter()


def read_tsv(path):
    with open(path, encoding="utf-8", newline="") as f:
        data = f.read()
    if data.startswith("\ufeff"):
        data = data[1:]
    lines = data.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    if not lines:
        sys.exit(f"{path}: empty")
    header = lines[0].split("\t")
    if "label" not in header or "text" not in header:
        sys.exit(f"{path}: the header must name the columns label and text, not {header}")
    label_col, text_col = header.index("label"), header.index("text")
    labels, texts = [], []
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split("\t", len(header) - 1)
        if len(fields) != len(header):
            sys.exit(f"{path}:{number}: {len(fields)} fields, the header has {len(header)}")
        labels.append(fields[label_col])
        texts.append(fields[text_col])
    return labels, texts


def read_splits(args):
    """({split: (labels, texts)}, the class names, {name: class id}) of --train, --eval and
    --test; a label of any split that is not a class stops the run."""
    splits = {name: read_tsv(path) for name, path in
              (("train", args.train), ("eval", args.eval), ("test", args.test))}
    names = class_names(splits["train"][0], args.labels)
    label2id = {n: i for i, n in enumerate(names)}
    for split, (labels, _) in splits.items():
        unknown = sorted(set(labels) - set(label2id))
        if unknown:
            sys.exit(f"{split}: labels {unknown[:10]} are not classes {names}")
    return splits, names, label2id


def class_names(train_labels, given):
    if given:
        return given.split(",")
    names = sorted(set(train_labels))
    try:
        return sorted(names, key=int)
    except ValueError:
        return names


def macro_f1(truth, predicted):
    """scikit-learn's f1_score(average="macro") over the classes in truth or predictions."""
    scores = []
    for c in sorted(set(truth) | set(predicted)):
        tp = sum(1 for t, p in zip(truth, predicted) if t == c and p == c)
        fp = sum(1 for t, p in zip(truth, predicted) if t != c and p == c)
        fn = sum(1 for t, p in zip(truth, predicted) if t == c and p != c)
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores) if scores else 0.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="Hugging Face model directory")
    parser.add_argument("--labels", default="", help="class names in id order, comma-separated")
    add_finetuning_arguments(parser, batch_size=32, train_steps=1000)
    args = parser.parse_args()

    import torch
    import transformers
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer,
                              DataCollatorWithPadding)

    start_torch(args.threads, args.seed)

    splits, names, label2id = read_splits(args)

    tokenizer = AutoTokenizer.from_pretrained(args.checkpoint)
    model = AutoModelForSequenceClassification.from_pretrained(
        args.checkpoint, num_labels=len(names), id2label=dict(enumerate(names)),
        label2id=label2id)

    def encode(split):
        labels, texts = splits[split]
        enc = tokenizer(texts, truncation=True, max_length=args.seq_length)
        return [{**{k: v[i] for k, v in enc.items()}, "labels": label2id[labels[i]]}
                for i in range(len(texts))]

    data = {split: encode(split) for split in splits}
    collator = DataCollatorWithPadding(tokenizer)
    generator = torch.Generator().manual_seed(args.seed)
    loader = torch.utils.data.DataLoader(data["train"], batch_size=args.batch_size, shuffle=True,
                                         generator=generator, collate_fn=collator)

    optimizer, scheduler = trainer_optimizer(model, args.learning_rate, args.weight_decay,
                                             args.warmup_steps, args.train_steps)
    seen, loss_value, train_seconds = train(model, loader, optimizer, scheduler, args.train_steps,
                                            log_every=100)

    def predict(split):
        model.eval()
        predicted = []
        with torch.no_grad():
            for i in range(0, len(data[split]), args.eval_batch_size):
                batch = collator([{k: v for k, v in f.items() if k != "labels"}
                                  for f in data[split][i:i + args.eval_batch_size]])
                predicted += model(**batch).logits.argmax(-1).tolist()
        truth = [f["labels"] for f in data[split]]
        accuracy = sum(t == p for t, p in zip(truth, predicted)) / max(len(truth), 1)
        return accuracy, macro_f1(truth, predicted)

    eval_accuracy, eval_f1 = predict("eval")
    test_accuracy, test_f1 = predict("test")
    print(json.dumps({
        "checkpoint": args.checkpoint,
        "eval_accuracy": eval_accuracy, "eval_macro_f1": eval_f1,
        "test_accuracy": test_accuracy, "test_macro_f1": test_f1,
        "train_examples_per_second": seen / train_seconds if train_seconds else None,
        "train_seconds": train_seconds, "wall_seconds": time.perf_counter() - START,
        "final_loss": loss_value, "train_examples_seen": seen,
        "examples": {split: len(data[split]) for split in data}, "labels": names,
        "settings": {"seq_length": args.seq_length, "batch_size": args.batch_size,
                     "eval_batch_size": args.eval_batch_size,
                     "learning_rate": args.learning_rate, "warmup_steps": args.warmup_steps,
                     "train_steps": args.train_steps, "weight_decay": args.weight_decay,
                     "seed": args.seed, "threads": args.threads, "max_grad_norm": 1.0,
                     "optimizer": "torch.optim.AdamW", "schedule": "linear with warmup"},
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
    }))


if __name__ == "__main__":
    main()
