"""Hugging Face's MLM training step, same configuration as bench/ours_train.py:
BertForMaskedLM + torch AdamW + clip_grad_norm_, batches masked like
DataCollatorForLanguageModeling (15%, labels -100 elsewhere). Runs in .venv-peer (Python 3.11).

    .venv-peer/bin/python bench/peer_train.py --size mini --steps 30
"""

import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.train_common import SIZES, train_arguments  # noqa: E402


def main():
    parser = train_arguments("mixed_bfloat16: torch.autocast to bfloat16 (weights stay float32)")
    args = parser.parse_args()

    import torch
    import transformers

    torch.manual_seed(0)
    layers, hidden, heads = SIZES[args.size]
    config = transformers.BertConfig(
        vocab_size=args.vocab_size, hidden_size=hidden, num_hidden_layers=layers,
        num_attention_heads=heads, intermediate_size=4 * hidden,
        max_position_embeddings=args.seq_length)
    model = transformers.BertForMaskedLM(config)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01, eps=1e-6)

    def batch():
        ids = torch.randint(5, args.vocab_size, (args.batch_size, args.seq_length))
        masked = torch.rand(ids.shape) < args.mask_rate
        masked[:, 0] = masked[:, -1] = False
        labels = torch.where(masked, ids, torch.full_like(ids, -100))
        ids = torch.where(masked, torch.full_like(ids, 4), ids)
        return ids, labels

    batches = [batch() for _ in range(4)]

    def step(i):
        ids, labels = batches[i % len(batches)]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(args.mixed_precision)):
            loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for i in range(args.warmup_steps):
        step(i)
    start = time.perf_counter()
    for i in range(args.steps):
        step(i)
    seconds = time.perf_counter() - start
    print(json.dumps({
        "impl": "peer", "size": args.size, "seq_length": args.seq_length,
        "batch_size": args.batch_size, "steps": args.steps,
        "mixed_precision": args.mixed_precision,
        "tokens_per_second": args.steps * args.batch_size * args.seq_length / seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "params": sum(p.numel() for p in model.parameters()),
        "torch": torch.__version__, "transformers": transformers.__version__,
        "torch_threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
