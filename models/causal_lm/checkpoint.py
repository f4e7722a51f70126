"""A GPT-2 checkpoint (models/checkpoints/gpt2.py) as keras-hub's `GPT2CausalLM`, and a causal
LM written back in lmpipe's format (`causal_lm/`: a keras-hub preset plus its vocabulary)."""

import os
from typing import Optional

from models.checkpoints.gpt2 import CAUSAL_LM_DIR, GPT2Checkpoint
from models.tokenizers import bpe


def load_causal_lm(ckpt: GPT2Checkpoint, dropout: Optional[float] = None, dtype=None):
    """The checkpoint as keras-hub's `GPT2CausalLM` (no preprocessor)."""
    import keras_hub

    kwargs = {}
    if dropout is not None:
        kwargs["dropout"] = dropout
    if dtype:
        kwargs["dtype"] = dtype
    backbone = keras_hub.models.GPT2Backbone.from_preset(ckpt.preset, **kwargs)
    return keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)


def save_causal_lm(model, vocab: dict, merges, directory: str) -> str:
    """`directory/causal_lm/`: the backbone as a keras-hub preset and the vocabulary, what
    `--init-from` (more pretraining) and `lmpipe import` read back."""
    preset = os.path.join(directory, CAUSAL_LM_DIR)
    model.backbone.save_to_preset(preset)
    bpe.write_bpe(vocab, merges, preset)
    return preset
