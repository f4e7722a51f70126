"""Hugging Face's causal-LM pretraining recipe (examples/pytorch/language-modeling/run_clm.py and
its Trainer) on the documents lmpipe trained on: the peer of `lmpipe pretrain --objective causal`.
Runs in .venv-peer (Python 3.11, `make bench` builds it); bench/causal_lm.py calls it:

    .venv-peer/bin/python bench/peer_causal_lm.py --train-docs train.jsonl --vocab-dir VOCAB \
        --out runs/causal_bench/hf --seq-length 128 --layers 2 --hidden 128 --heads 2 \
        --batch-size 32 --train-steps 1250 --learning-rate 1e-3 --warmup-ratio 0.1 --seed 0

Recipe: the byte-level BPE of --vocab-dir (vocab.json + merges.txt, the vocabulary lmpipe
learned) as `GPT2TokenizerFast`; each document tokenized and followed by <|endoftext|>, documents
joined 1000 at a time and cut into --seq-length blocks, each batch's last partial block dropped
(run_clm.py's `group_texts` with `map(batched=True)`); `GPT2LMHeadModel(GPT2Config(n_layer,
n_embd, n_head, n_positions=--seq-length, dropouts 0.1))` with `labels=input_ids`; batches drawn
at random (seeded), epochs repeated until --train-steps optimizer steps; torch AdamW (betas
0.9/0.999, eps 1e-6 as lmpipe's, weight decay 0.01 except biases and LayerNorm weights, as the
Trainer groups them), get_linear_schedule_with_warmup(warmup_ratio x steps, steps), gradient norm
clipped to 1.0.

Output: the model in --out (save_pretrained, safetensors, with vocab.json + merges.txt) and one
JSON line on stdout: train_blocks, tokens_per_second (blocks x seq_length per second of the
training loop), train_seconds, final_loss, the settings.
"""

import argparse
import json
import math
import os
import shutil
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-docs", required=True, help="JSONL, one {'text': ...} per line")
    parser.add_argument("--vocab-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seq-length", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--heads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--train-steps", type=int, default=1250)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--warmup-ratio", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch
    from transformers import (GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast,
                              get_linear_schedule_with_warmup)

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    # transformers 5 ignores vocab_file=/merges_file= (an empty tokenizer): vocab=/merges=.
    tokenizer = GPT2TokenizerFast(vocab=os.path.join(args.vocab_dir, "vocab.json"),
                                  merges=os.path.join(args.vocab_dir, "merges.txt"))
    if len(tokenizer) < 257:
        sys.exit(f"peer: the tokenizer of {args.vocab_dir} has {len(tokenizer)} tokens")
    eot = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    with open(args.train_docs, encoding="utf-8") as f:
        docs = [json.loads(line)["text"] for line in f]
    blocks = []
    for start in range(0, len(docs), 1000):  # run_clm: map(batched=True), 1000 per batch
        stream = []
        for ids in tokenizer(docs[start:start + 1000])["input_ids"]:
            stream.extend(ids + [eot])
        usable = len(stream) // args.seq_length * args.seq_length
        blocks.extend(stream[i:i + args.seq_length] for i in range(0, usable, args.seq_length))
    data = torch.tensor(blocks, dtype=torch.long)
    print(f"peer: {len(docs)} documents, {len(blocks)} blocks of {args.seq_length}",
          file=sys.stderr)

    config = GPT2Config(vocab_size=len(tokenizer), n_positions=args.seq_length,
                        n_embd=args.hidden, n_layer=args.layers, n_head=args.heads,
                        bos_token_id=eot, eos_token_id=eot)
    model = GPT2LMHeadModel(config)
    no_decay = ("bias", "ln_", "LayerNorm")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not any(k in n for k in no_decay)],
         "weight_decay": 0.01},
        {"params": [p for n, p in model.named_parameters() if any(k in n for k in no_decay)],
         "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=args.learning_rate, betas=(0.9, 0.999), eps=1e-6)
    scheduler = get_linear_schedule_with_warmup(
        optimizer, int(args.train_steps * args.warmup_ratio), args.train_steps)
    generator = torch.Generator().manual_seed(args.seed)
    model.train()
    order, cursor, loss = torch.randperm(len(data), generator=generator), 0, None
    start = time.perf_counter()
    for step in range(args.train_steps):
        if cursor + args.batch_size > len(data):  # a new epoch
            order, cursor = torch.randperm(len(data), generator=generator), 0
        batch = data[order[cursor:cursor + args.batch_size]]
        cursor += args.batch_size
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        if step % 100 == 0:
            print(f"peer: step {step} loss {loss.item():.4f}", file=sys.stderr)
    train_seconds = time.perf_counter() - start
    model.save_pretrained(args.out, safe_serialization=True)
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(args.vocab_dir, name), os.path.join(args.out, name))
    tokens = args.train_steps * args.batch_size * args.seq_length
    print(json.dumps({
        "train_blocks": len(blocks), "train_documents": len(docs), "tokens_seen": tokens,
        "tokens_per_second": tokens / train_seconds, "train_seconds": train_seconds,
        "final_loss": float(loss.item()) if loss is not None else math.nan,
        "settings": vars(args)}))


if __name__ == "__main__":
    main()
