"""The peer's fine-tuning loop, shared by the Hugging Face side of the fine-tuning benchmarks
(bench/peer_finetune_checkpoint.py, bench/peer_ner.py): what transformers' `Trainer` does for
these settings, written out so that its time is the training loop's alone. Runs in the peer's
Python 3.11 environment (.venv-peer); imports torch and transformers only when called."""

import sys
import time


def add_finetuning_arguments(parser, batch_size: int, train_steps: int) -> None:
    """The flags both fine-tuning peers take, after their own: the three splits, lengths and
    batch sizes, the optimizer's settings, the seed and torch's threads."""
    for split in ("--train", "--eval", "--test"):
        parser.add_argument(split, required=True)
    parser.add_argument("--seq-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--eval-batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--warmup-steps", type=int, default=0)
    parser.add_argument("--train-steps", type=int, default=train_steps)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)


def start_torch(threads: int, seed: int) -> None:
    """torch on `threads` threads (intra- and inter-op), everything seeded (transformers'
    `set_seed`: Python, NumPy, torch)."""
    import torch
    import transformers

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # already set in this process
        pass
    transformers.set_seed(seed)


def trainer_optimizer(model, learning_rate: float, weight_decay: float, warmup_steps: int,
                      train_steps: int):
    """torch AdamW (betas 0.9/0.999, eps 1e-8) with the Trainer's grouping: no weight decay on
    biases and LayerNorm weights; transformers' `get_linear_schedule_with_warmup`. Returns
    (optimizer, scheduler)."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    no_decay = set()
    for module_name, module in model.named_modules():
        for param_name, _ in module.named_parameters(recurse=False):
            if isinstance(module, torch.nn.LayerNorm) or param_name == "bias":
                no_decay.add(f"{module_name}.{param_name}" if module_name else param_name)
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [{"params": [p for n, p in params if n not in no_decay], "weight_decay": weight_decay},
         {"params": [p for n, p in params if n in no_decay], "weight_decay": 0.0}],
        lr=learning_rate, betas=(0.9, 0.999), eps=1e-8)
    return optimizer, get_linear_schedule_with_warmup(optimizer, warmup_steps, train_steps)


def train(model, loader, optimizer, scheduler, train_steps: int, log_every: int):
    """`train_steps` optimizer steps over `loader` (passes repeated as needed), gradient norm
    clipped at 1.0, the loss logged every `log_every` steps to stderr. Returns (examples seen,
    the last batch's loss, the loop's wall seconds)."""
    import torch

    model.train()
    step = seen = 0
    loss_value = None
    train_start = time.perf_counter()
    while step < train_steps:
        for batch in loader:
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            seen += len(batch["labels"])
            loss_value = loss.item()
            if step % log_every == 0:
                print(f"step {step}/{train_steps} loss {loss_value:.4f}", file=sys.stderr)
            if step >= train_steps:
                break
    return seen, loss_value, time.perf_counter() - train_start
