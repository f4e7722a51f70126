"""The Hugging Face row of bench/compression.py: a BERT checkpoint fine-tuned as
BertForSequenceClassification on the same train split (torch AdamW, linear warmup and decay,
the epoch with the best eval accuracy kept), then `pipeline("text-classification")` on raw
text: test accuracy, size on disk, batch-1 p50/p99 latency, batch-32 throughput. Runs in
.venv-peer (Python 3.11).

    .venv-peer/bin/python bench/peer_compression.py --checkpoint runs/pq/hf-tiny \
        --data runs/pq/curve-data/all-s1 --out runs/compression/hf-tiny-rt
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.infer_common import time_model  # noqa: E402


def read_split(path):
    with open(path, encoding="utf-8") as f:
        header, *rows = f.read().splitlines()
    label_at = header.split("\t").index("label")
    pairs = [row.split("\t") for row in rows if row.strip()]
    return [p[1 - label_at] for p in pairs], [p[label_at] for p in pairs]


def size_mb(directory):
    return sum(os.path.getsize(os.path.join(root, name))
               for root, _, files in os.walk(directory) for name in files) / 1e6


def train(args, model, tokenizer, texts, labels, classes, encode, accuracy):
    """Fine-tunes `model`; saves the epoch with the best eval accuracy to `args.out`."""
    import torch
    import transformers

    steps_per_epoch = len(texts) // args.batch_size
    total = steps_per_epoch * args.epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=0.01)
    schedule = transformers.get_linear_schedule_with_warmup(optimizer, int(0.1 * total), total)
    y = torch.tensor([classes.index(label) for label in labels])
    best, start = -1.0, time.time()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(texts))
        for step in range(steps_per_epoch):
            index = order[step * args.batch_size:(step + 1) * args.batch_size]
            loss = model(**encode([texts[i] for i in index]), labels=y[index]).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
        eval_accuracy = accuracy("eval")
        print(f"epoch {epoch + 1}: eval accuracy {eval_accuracy:.4f}", file=sys.stderr)
        if eval_accuracy > best:
            best = eval_accuracy
            model.save_pretrained(args.out)
            tokenizer.save_pretrained(args.out)
    return {"eval_accuracy": best, "train_seconds": round(time.time() - start, 1)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint", required=True, help="a Hugging Face BERT directory")
    parser.add_argument("--data", required=True, help="train.tsv, eval.tsv, test.tsv")
    parser.add_argument("--out", required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-length", type=int, default=64)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--batches", type=int, default=30)
    args = parser.parse_args()

    import torch
    import transformers

    torch.manual_seed(args.seed)
    texts, labels = read_split(os.path.join(args.data, "train.tsv"))
    classes = sorted(set(labels))  # as lmpipe orders classes read from the train split
    tokenizer = transformers.AutoTokenizer.from_pretrained(args.checkpoint)
    model = transformers.BertForSequenceClassification.from_pretrained(
        args.checkpoint, num_labels=len(classes),
        id2label=dict(enumerate(classes)), label2id={c: i for i, c in enumerate(classes)})

    def encode(batch_texts):
        return tokenizer(batch_texts, truncation=True, max_length=args.seq_length,
                         padding=True, return_tensors="pt")

    def accuracy(split):
        split_texts, split_labels = read_split(os.path.join(args.data, f"{split}.tsv"))
        model.eval()
        correct = 0
        with torch.inference_mode():
            for i in range(0, len(split_texts), 256):
                logits = model(**encode(split_texts[i:i + 256])).logits
                correct += sum(classes[j] == label for j, label in
                               zip(logits.argmax(-1).tolist(), split_labels[i:i + 256]))
        return correct / len(split_texts)

    done = os.path.join(args.out, "train_result.json")
    if os.path.isfile(done):  # trained by an earlier run: time it again only
        with open(done) as f:
            trained = json.load(f)
    else:
        trained = train(args, model, tokenizer, texts, labels, classes, encode, accuracy)
        with open(done, "w") as f:
            json.dump(trained, f)
    best, train_seconds = trained["eval_accuracy"], trained["train_seconds"]

    model = transformers.BertForSequenceClassification.from_pretrained(args.out).eval()
    test_accuracy = accuracy("test")
    classify = transformers.pipeline("text-classification", model=model, tokenizer=tokenizer,
                                     device="cpu", truncation=True, max_length=args.seq_length)
    def predict(texts):  # one text as a string: the pipeline's fastest path for one request
        return classify(texts[0]) if len(texts) == 1 else classify(texts, batch_size=32)

    with torch.inference_mode():
        timing = time_model(predict, args.calls, args.batches)
    print(json.dumps({
        "name": "hf_pipeline", "accuracy": test_accuracy, "eval_accuracy": best,
        "size_mb": size_mb(args.out), **timing,
        "train_seconds": train_seconds, "torch_threads": torch.get_num_threads(),
        "transformers": transformers.__version__}))


if __name__ == "__main__":
    main()
