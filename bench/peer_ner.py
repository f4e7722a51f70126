"""Hugging Face's token-classification recipe (examples/pytorch/token-classification/run_ner.py
with its Trainer) on a BERT checkpoint directory: the peer of `lmpipe finetune --task
token-classification --pretrained <checkpoint>`. Runs in .venv-peer (`make bench` builds it):

    .venv-peer/bin/python bench/peer_ner.py --checkpoint runs/checkpoints/all-MiniLM-L6-v2 \
        --train train.jsonl --eval eval.jsonl --test test.jsonl --seq-length 128 \
        --batch-size 16 --learning-rate 5e-5 --warmup-steps 34 --train-steps 340 --seed 1

Inputs: JSONL, one sentence per line, `{"tokens": [...], "tags": [...]}` with IOB2 tags (bench/ner.py
writes them from lmpipe's reader, so both sides see the same sentences). Classes: O, then B-T,
I-T per entity type of the train split (sorted), lmpipe's order.

Recipe, as run_ner.py's defaults: AutoModelForTokenClassification.from_pretrained(checkpoint,
num_labels, id2label, label2id) (a new head, seeded); the fast tokenizer with
`is_split_into_words=True`, truncation at --seq-length; each word's label on its first piece,
-100 on its other pieces and the special tokens (`label_all_tokens=False`);
DataCollatorForTokenClassification (padding per batch, labels padded with -100); batches drawn
at random (seeded), epochs repeated until --train-steps optimizer steps; torch AdamW (betas
0.9/0.999, eps 1e-8, weight decay 0.01 except biases and LayerNorm weights, as the Trainer
groups them), linear schedule with --warmup-steps, gradient norm clipped to 1.0. The final
model is scored (no checkpoint selection).

Metric: seqeval (default mode, as run_ner.py's `evaluate.load("seqeval")`) on word-level
tags, a word's tag being its first piece's prediction (a word cut off by truncation: O).

Output: one JSON line on stdout: eval_f1, test_f1 (entity-level micro F1 in [0, 1]), precision
and recall, test_f1 per type, train_examples_per_second (sentences seen by the training loop /
its wall time), train_seconds, wall_seconds, settings and versions.
"""

import argparse
import json
import time

from peer_training import add_finetuning_arguments, start_torch, train, trainer_optimizer

START = time.perf_counter()


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [r["tokens"] for r in rows], [r["tags"] for r in rows]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True)
    add_finetuning_arguments(parser, batch_size=16, train_steps=340)
    args = parser.parse_args()

    import torch
    import transformers
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
    from transformers import (AutoModelForTokenClassification, AutoTokenizer,
                              DataCollatorForTokenClassification)

    start_torch(args.threads, args.seed)
    splits = {name: read_jsonl(path) for name, path in
              (("train", args.train), ("eval", args.eval), ("test", args.test))}
    types = sorted({t[2:] for tags in splits["train"][1] for t in tags if t != "O"})
    names = ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]
    label2id = {n: i for i, n in enumerate(names)}
    tokenizer = AutoTokenizer.from_pretrained(args.checkpoint)
    model = AutoModelForTokenClassification.from_pretrained(
        args.checkpoint, num_labels=len(names), id2label=dict(enumerate(names)),
        label2id=label2id)

    def encode(split):
        words, tags = splits[split]
        enc = tokenizer(words, is_split_into_words=True, truncation=True,
                        max_length=args.seq_length)
        features = []
        for i in range(len(words)):
            word_ids = enc.word_ids(i)
            labels, previous = [], None
            for word in word_ids:
                labels.append(-100 if word is None or word == previous
                              else label2id[tags[i][word]])
                previous = word
            features.append({"input_ids": enc["input_ids"][i],
                             "attention_mask": enc["attention_mask"][i],
                             "token_type_ids": enc["token_type_ids"][i], "labels": labels,
                             "word_ids": word_ids})
        return features

    data = {split: encode(split) for split in splits}
    collator = DataCollatorForTokenClassification(tokenizer)

    def collate(features):
        return collator([{k: v for k, v in f.items() if k != "word_ids"} for f in features])

    generator = torch.Generator().manual_seed(args.seed)
    loader = torch.utils.data.DataLoader(data["train"], batch_size=args.batch_size, shuffle=True,
                                         generator=generator, collate_fn=collate)
    optimizer, scheduler = trainer_optimizer(model, args.learning_rate, args.weight_decay,
                                             args.warmup_steps, args.train_steps)
    seen, loss_value, train_seconds = train(model, loader, optimizer, scheduler, args.train_steps,
                                            log_every=50)

    def predict(split):
        model.eval()
        words, tags = splits[split]
        predicted = []
        with torch.no_grad():
            for i in range(0, len(words), args.eval_batch_size):
                chunk = data[split][i:i + args.eval_batch_size]
                logits = model(**collate(chunk)).logits.argmax(-1).tolist()
                for feature, row, sentence in zip(chunk, logits,
                                                  words[i:i + args.eval_batch_size]):
                    word_tags, previous = ["O"] * len(sentence), None
                    for position, word in enumerate(feature["word_ids"]):
                        if word is not None and word != previous:
                            word_tags[word] = names[row[position]]
                        previous = word
                    predicted.append(word_tags)
        return tags, predicted

    out = {}
    for split in ("eval", "test"):
        truth, predicted = predict(split)
        out[f"{split}_f1"] = f1_score(truth, predicted)
        out[f"{split}_precision"] = precision_score(truth, predicted)
        out[f"{split}_recall"] = recall_score(truth, predicted)
        if split == "test":
            report = classification_report(truth, predicted, output_dict=True)
            out["test_f1_by_type"] = {t: report[t]["f1-score"] for t in types if t in report}
    print(json.dumps({
        "checkpoint": args.checkpoint, **out,
        "train_examples_per_second": seen / train_seconds if train_seconds else None,
        "train_seconds": train_seconds, "wall_seconds": time.perf_counter() - START,
        "final_loss": loss_value, "train_examples_seen": seen,
        "sentences": {split: len(splits[split][0]) for split in splits}, "labels": names,
        "settings": {"seq_length": args.seq_length, "batch_size": args.batch_size,
                     "learning_rate": args.learning_rate, "warmup_steps": args.warmup_steps,
                     "train_steps": args.train_steps, "weight_decay": args.weight_decay,
                     "seed": args.seed, "threads": args.threads, "max_grad_norm": 1.0},
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
    }))


if __name__ == "__main__":
    main()
