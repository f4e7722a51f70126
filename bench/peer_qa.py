"""The Hugging Face side of bench/qa.py: Hugging Face's `run_qa.py` recipe for SQuAD v1.1, in the
peer's environment (.venv-peer):

    .venv-peer/bin/python bench/peer_qa.py --checkpoint DIR --train TRAIN.json --eval DEV.json \
        --out predictions.json

Preprocessing and post-processing are `run_qa.py`'s and `utils_qa.py`'s as transformers 4.57
shipped them (examples/pytorch/question-answering), written out here with the same defaults:
`prepare_train_features` (question first, `truncation="only_second"`, `max_length`,
`stride=doc_stride`, overflowing windows, offsets; a window without the whole answer labelled
at [CLS]), `prepare_validation_features` (offsets outside the context set to None) and
`postprocess_qa_predictions` (per window the `n_best_size` best start and end logits, spans
inside the context of at most `max_answer_length` tokens and not ending before they start,
scored by start + end logit; the best over every window of a question). The model is
`AutoModelForQuestionAnswering`; training is the Trainer's loop (bench/peer_training.py: AdamW
without decay on biases and LayerNorm, linear warmup and decay, clipping at 1.0), batches padded
to their longest (DataCollatorWithPadding; run_qa.py's `--pad_to_max_length false`).

Prints one JSON line: settings, training windows, windows/s of the training loop, and writes the
predictions (question id → answer text) to `--out` for bench/qa.py to score with the one scorer.
"""

import argparse
import collections
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_training import start_torch, train, trainer_optimizer  # noqa: E402

START = time.perf_counter()


def squad_examples(path):
    """[(id, question, context, answer texts, answer starts)] of a SQuAD JSON file."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)["data"]
    return [(qa["id"], qa["question"], p["context"], [a["text"] for a in qa["answers"]],
             [a["answer_start"] for a in qa["answers"]])
            for article in data for p in article["paragraphs"] for qa in p["qas"]]


def prepare_train_features(tokenizer, examples, max_length, doc_stride):
    """run_qa.py's `prepare_train_features` (question first; the first answer)."""
    questions = [e[1].lstrip() for e in examples]
    enc = tokenizer(questions, [e[2] for e in examples], truncation="only_second",
                    max_length=max_length, stride=doc_stride, return_overflowing_tokens=True,
                    return_offsets_mapping=True, padding=False)
    features = []
    for i, offsets in enumerate(enc["offset_mapping"]):
        input_ids = enc["input_ids"][i]
        cls_index = input_ids.index(tokenizer.cls_token_id)
        sequence_ids = enc.sequence_ids(i)
        example = examples[enc["overflow_to_sample_mapping"][i]]
        start_char = example[4][0]
        end_char = start_char + len(example[3][0])
        token_start = 0
        while sequence_ids[token_start] != 1:
            token_start += 1
        token_end = len(input_ids) - 1
        while sequence_ids[token_end] != 1:
            token_end -= 1
        if not (offsets[token_start][0] <= start_char and offsets[token_end][1] >= end_char):
            start_position = end_position = cls_index
        else:
            while token_start < len(offsets) and offsets[token_start][0] <= start_char:
                token_start += 1
            start_position = token_start - 1
            while offsets[token_end][1] >= end_char:
                token_end -= 1
            end_position = token_end + 1
        feature = {k: enc[k][i] for k in ("input_ids", "attention_mask", "token_type_ids")
                   if k in enc}
        feature.update(start_positions=start_position, end_positions=end_position)
        features.append(feature)
    return features


def prepare_validation_features(tokenizer, examples, max_length, doc_stride):
    """run_qa.py's `prepare_validation_features`: windows, the example each comes from, and
    offsets with None outside the context."""
    questions = [e[1].lstrip() for e in examples]
    enc = tokenizer(questions, [e[2] for e in examples], truncation="only_second",
                    max_length=max_length, stride=doc_stride, return_overflowing_tokens=True,
                    return_offsets_mapping=True, padding=False)
    features = []
    for i, offsets in enumerate(enc["offset_mapping"]):
        sequence_ids = enc.sequence_ids(i)
        features.append({
            "model": {k: enc[k][i] for k in ("input_ids", "attention_mask", "token_type_ids")
                      if k in enc},
            "example": enc["overflow_to_sample_mapping"][i],
            "offsets": [o if sequence_ids[k] == 1 else None for k, o in enumerate(offsets)]})
    return features


def postprocess_qa_predictions(examples, features, starts, ends, n_best_size,
                               max_answer_length):
    """utils_qa.py's `postprocess_qa_predictions` (version_2_with_negative false): the best
    span by start + end logit over every window of each question."""
    import numpy as np

    by_example = collections.defaultdict(list)
    for i, feature in enumerate(features):
        by_example[feature["example"]].append(i)
    predictions = {}
    for index, example in enumerate(examples):
        candidates = []
        for i in by_example[index]:
            start_logits, end_logits = starts[i], ends[i]
            offsets = features[i]["offsets"]
            start_indexes = np.argsort(start_logits)[-1:-n_best_size - 1:-1].tolist()
            end_indexes = np.argsort(end_logits)[-1:-n_best_size - 1:-1].tolist()
            for s in start_indexes:
                for e in end_indexes:
                    if (s >= len(offsets) or e >= len(offsets) or offsets[s] is None
                            or len(offsets[s]) < 2 or offsets[e] is None or len(offsets[e]) < 2):
                        continue
                    if e < s or e - s + 1 > max_answer_length:
                        continue
                    candidates.append((start_logits[s] + end_logits[e],
                                       example[2][offsets[s][0]:offsets[e][1]]))
        predictions[example[0]] = max(candidates)[1] if candidates else ""
    return predictions


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--train", required=True)
    parser.add_argument("--eval", required=True)
    parser.add_argument("--out", required=True, help="predictions JSON (id -> answer)")
    parser.add_argument("--seq-length", type=int, default=384)
    parser.add_argument("--doc-stride", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--eval-batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--warmup-steps", type=int, default=0)
    parser.add_argument("--train-steps", type=int, default=160)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--n-best-size", type=int, default=20)
    parser.add_argument("--max-answer-length", type=int, default=30)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import numpy as np
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer, DataCollatorWithPadding

    start_torch(args.threads, args.seed)
    tokenizer = AutoTokenizer.from_pretrained(args.checkpoint)
    model = AutoModelForQuestionAnswering.from_pretrained(args.checkpoint)
    train_examples, eval_examples = squad_examples(args.train), squad_examples(args.eval)
    train_features = prepare_train_features(tokenizer, train_examples, args.seq_length,
                                            args.doc_stride)
    collator = DataCollatorWithPadding(tokenizer)

    def collate(features):
        batch = collator([{k: v for k, v in f.items() if k not in ("start_positions",
                                                                     "end_positions")}
                          for f in features])
        for key in ("start_positions", "end_positions"):
            batch[key] = torch.tensor([f[key] for f in features])
        batch["labels"] = batch["start_positions"]  # counted by the shared loop
        return batch

    class Model(torch.nn.Module):  # the shared loop's `labels` is not a QA model argument
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, labels=None, **batch):
            return self.inner(**batch)

    generator = torch.Generator().manual_seed(args.seed)
    loader = torch.utils.data.DataLoader(train_features, batch_size=args.batch_size,
                                         shuffle=True, generator=generator, collate_fn=collate)
    optimizer, scheduler = trainer_optimizer(model, args.learning_rate, args.weight_decay,
                                             args.warmup_steps, args.train_steps)
    seen, loss_value, train_seconds = train(Model(model), loader, optimizer, scheduler,
                                            args.train_steps, log_every=20)

    model.eval()
    features = prepare_validation_features(tokenizer, eval_examples, args.seq_length,
                                           args.doc_stride)
    starts, ends = [], []
    eval_start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(features), args.eval_batch_size):
            chunk = features[i:i + args.eval_batch_size]
            out = model(**collator([f["model"] for f in chunk]))
            for j, f in enumerate(chunk):
                n = len(f["model"]["input_ids"])
                starts.append(out.start_logits[j, :n].numpy().astype(np.float64))
                ends.append(out.end_logits[j, :n].numpy().astype(np.float64))
    predictions = postprocess_qa_predictions(eval_examples, features, starts, ends,
                                             args.n_best_size, args.max_answer_length)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(predictions, f, ensure_ascii=False)
    print(json.dumps({
        "checkpoint": args.checkpoint, "settings": vars(args),
        "train_windows": len(train_features), "eval_windows": len(features),
        "train_examples_seen": seen, "last_loss": loss_value,
        "train_examples_per_second": seen / train_seconds if train_seconds else None,
        "train_seconds": train_seconds, "eval_seconds": time.perf_counter() - eval_start,
        "wall_seconds": time.perf_counter() - START}))


if __name__ == "__main__":
    main()
