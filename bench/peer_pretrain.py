"""Hugging Face's standard MLM pretraining recipe, as `run_mlm.py` does it, for
bench/pretrain_quality.py: the same texts, vocabulary, architecture, token budget and optimizer
settings as the lmpipe run it is compared with. Runs in .venv-peer (Python 3.11):

    .venv-peer/bin/python bench/peer_pretrain.py --texts train.txt --vocab vocab.txt \\
        --out runs/pq/hf-tiny --size tiny --steps 2442 --batch-size 32 --seq-length 128

- texts: `BertTokenizerFast` (uncased, the lmpipe run's vocabulary), each document with [CLS] and
  [SEP], concatenated and cut into blocks of `--seq-length` (run_mlm's `group_texts`);
- masking: `DataCollatorForLanguageModeling(mlm_probability=0.15)`, a new masking of every block
  each time it is drawn (dynamic, as run_mlm and RoBERTa);
- model: `BertForMaskedLM` of the size's layers/hidden/heads, intermediate 4 x hidden, positions
  = seq length;
- optimizer: torch AdamW (weight decay 0.01 except biases and LayerNorm, eps 1e-6), linear warmup
  over 10% then linear decay (`get_linear_schedule_with_warmup`), gradient norm clipped at 1.0:
  what `Trainer` does (it needs `accelerate`, which the bench environment does not install);
- the encoder is saved with `save_pretrained` (safetensors) and the tokenizer, for `lmpipe import`.
"""

import argparse
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.train_common import SIZES  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", required=True, help="documents, one JSON string per line")
    parser.add_argument("--vocab", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--size", default="tiny", choices=sorted(SIZES))
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-length", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--warmup-ratio", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    import torch
    import transformers

    transformers.set_seed(args.seed)
    tokenizer = transformers.BertTokenizerFast(vocab=args.vocab, do_lower_case=True)
    with open(args.vocab, encoding="utf-8") as f:
        vocab_size = sum(1 for _ in f)
    assert len(tokenizer) == vocab_size, "BertTokenizerFast did not take the vocabulary"
    with open(args.texts, encoding="utf-8") as f:
        documents = [json.loads(line) for line in f]
    ids = [i for doc in tokenizer(documents)["input_ids"] for i in doc]  # each with [CLS] [SEP]
    blocks = [ids[i:i + args.seq_length]
              for i in range(0, len(ids) - args.seq_length + 1, args.seq_length)]
    print(f"{len(documents)} documents, {len(ids)} tokens, {len(blocks)} blocks", flush=True)

    layers, hidden, heads = SIZES[args.size]
    model = transformers.BertForMaskedLM(transformers.BertConfig(
        vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers,
        num_attention_heads=heads, intermediate_size=4 * hidden,
        max_position_embeddings=args.seq_length, pad_token_id=tokenizer.pad_token_id))
    no_decay = [p for n, p in model.named_parameters() if "bias" in n or "LayerNorm" in n]
    decay = [p for n, p in model.named_parameters() if not ("bias" in n or "LayerNorm" in n)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=args.learning_rate, eps=1e-6)
    schedule = transformers.get_linear_schedule_with_warmup(
        optimizer, int(args.steps * args.warmup_ratio), args.steps)
    collator = transformers.DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15)
    generator = torch.Generator().manual_seed(args.seed)

    def batches():
        while True:  # epochs of shuffled blocks
            for chunk in torch.randperm(len(blocks), generator=generator).split(args.batch_size):
                if len(chunk) == args.batch_size:
                    yield collator([{"input_ids": blocks[i]} for i in chunk.tolist()])

    model.train()
    started, losses = time.time(), []
    for step, batch in zip(range(args.steps), batches()):
        loss = model(input_ids=batch["input_ids"], labels=batch["labels"]).loss
        if torch.isnan(loss):  # a batch with nothing masked (HF issue 16711): skip it
            optimizer.zero_grad(set_to_none=True)
            continue
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss))
        if (step + 1) % 100 == 0:
            print(f"step {step + 1}/{args.steps} loss {sum(losses[-100:]) / len(losses[-100:]):.3f} "
                  f"{time.time() - started:.0f} s", flush=True)
    model.save_pretrained(args.out)
    tokenizer.save_pretrained(args.out)
    # transformers 5 writes only tokenizer.json (and save_vocabulary fails on a tokenizer made
    # from a vocabulary file): the checkpoint gets its vocab.txt as released BERTs have it.
    shutil.copy(args.vocab, os.path.join(args.out, "vocab.txt"))
    last = losses[-100:]
    summary = {"steps": args.steps, "tokens": args.steps * args.batch_size * args.seq_length,
               "seconds": round(time.time() - started, 1), "final_loss": sum(last) / len(last),
               "blocks": len(blocks), "documents": len(documents)}
    with open(os.path.join(args.out, "train_summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
