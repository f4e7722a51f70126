"""Shared by the training benchmarks (no TensorFlow or torch imports here): one set of flags,
so that ours and the peer always train the same configuration."""

import argparse

SIZES = {"tiny": (2, 128, 2), "mini": (4, 256, 4), "small": (4, 512, 8), "medium": (8, 512, 8),
         "base": (12, 768, 12)}  # layers, hidden, heads (as pipeline/config.py:MODEL_SIZES)


def train_arguments(mixed_precision_help: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="mini", choices=sorted(SIZES))
    parser.add_argument("--seq-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--mask-rate", type=float, default=0.15)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup-steps", type=int, default=5)
    parser.add_argument("--mixed-precision", default=None, help=mixed_precision_help)
    return parser
