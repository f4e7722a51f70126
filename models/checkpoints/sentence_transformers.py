"""sentence-transformers checkpoints: `modules.json` names a Transformer module (a Hugging Face
checkpoint, read by huggingface.py) and its Pooling module, whose mode becomes `--pooling`."""

import dataclasses
import os

from models.checkpoints.checks import MODULES_JSON, Checkpoint, CheckpointError, need, read_json
from models.checkpoints.huggingface import inspect_huggingface

# sentence-transformers' Pooling config keys -> lmpipe's --pooling.
_ST_POOLING = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}


def inspect_sentence_transformers(path: str) -> Checkpoint:
    """A sentence-transformers directory: `modules.json` names its Transformer module (at the
    root, path "", or in a subfolder such as `0_Transformer/`), a Hugging Face BERT checkpoint,
    and its Pooling module, whose mode (mean or cls) becomes `pooling`. Other modules
    (Normalize, Dense) act on sentence embeddings, which classification does not use."""
    modules_file = os.path.join(path, MODULES_JSON)
    modules = read_json(modules_file)
    if not isinstance(modules, list):
        raise CheckpointError(f"{modules_file}: expected a list of modules, as "
                              "sentence-transformers writes it.")
    kinds = {str(m.get("type", "")).rsplit(".", 1)[-1]: m for m in modules if isinstance(m, dict)}
    if "Transformer" not in kinds:
        raise CheckpointError(f"{modules_file} has no sentence_transformers.models.Transformer "
                              f"module (it has {', '.join(kinds) or 'none'}): there is no "
                              "encoder to import.")
    model_dir = os.path.normpath(os.path.join(path, kinds["Transformer"].get("path") or ""))
    config_file = need(os.path.join(model_dir, "config.json"),
                       f"the Transformer module's config ({modules_file} puts it in "
                       f"{kinds['Transformer'].get('path') or 'the root'})")
    config = read_json(config_file)
    if "model_type" not in config:
        raise CheckpointError(f"{config_file} has no model_type: not a Hugging Face config.")
    ckpt = inspect_huggingface(model_dir, config)
    pooling, warnings = None, list(ckpt.warnings)
    if "Pooling" in kinds:
        pooling_file = os.path.join(path, kinds["Pooling"].get("path") or "", "config.json")
        modes = [k for k, v in read_json(pooling_file).items()
                 if k.startswith("pooling_mode") and v is True] if os.path.isfile(pooling_file) else []
        chosen = [_ST_POOLING[m] for m in modes if m in _ST_POOLING]
        if len(chosen) == 1 and len(modes) == 1:
            pooling = chosen[0]
        else:
            warnings.append(f"{pooling_file}: pooling {', '.join(modes) or 'not given'} is not one "
                            "lmpipe has (mean tokens or cls token): fine-tuning uses --pooling "
                            "as given (default mean).")
    return dataclasses.replace(ckpt, path=path, pooling=pooling, warnings=tuple(warnings))
