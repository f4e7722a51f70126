"""Training settings of fine-tuning a text classifier, and the choices of its flags (pooling, class
weights, how a long text is read)."""

import dataclasses
from typing import ClassVar

from models.core.settings import ConfigError, FineTuningSettings, check_choice, check_positive

POOLINGS = ("mean", "cls")
CLASS_WEIGHTS = ("none", "balanced")
# A text longer than one window (seq_length - 2 pieces): "first" reads its first window;
# "head-tail" its first and last pieces in one window (HEAD_FRACTION of it from the head:
# Sun et al. 2019, "How to Fine-Tune BERT for Text Classification?", head 128 + tail 382 of
# 510); "windows" all of it, as windows overlapping by window_stride, the text's logits the
# mean (or max) of its windows' (at most max_windows of them).
LONG_TEXTS = ("first", "head-tail", "windows")
WINDOW_POOLINGS = ("mean", "max")
HEAD_FRACTION = 128 / 510


def head_length(body: int) -> int:
    """"head-tail": the pieces a window of `body` pieces takes from a long text's start."""
    return round(body * HEAD_FRACTION)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClassifierSettings(FineTuningSettings):
    """Training settings of fine-tuning a text classifier."""

    # A search's objectives (`--tune`: the eval split's Keras metrics, their direction) and the
    # default, the Evaluator's gate metric; settings the Tokenize step reads (not searchable).
    TUNING_OBJECTIVES: ClassVar[dict] = {"accuracy": "max", "loss": "min"}
    DEFAULT_OBJECTIVE: ClassVar[str] = "accuracy"
    TOKENIZE_SETTINGS: ClassVar[tuple] = ("long_text", "window_stride", "max_windows")

    model_name: str = "classifier"
    learning_rate: float = 1e-4
    pooling: str = "mean"  # "mean" over token outputs, or "cls" (keras-hub BertTextClassifier)
    freeze_embeddings: bool = False
    freeze_layers: int = 0  # the lowest N transformer layers keep their pretrained weights
    class_weights: str = "none"  # or "balanced"
    early_stopping_patience: int = 0  # in checkpoints (epochs); 0 = off
    long_text: str = "first"  # see LONG_TEXTS
    window_pooling: str = "mean"  # "windows": a text's logits from its windows', WINDOW_POOLINGS
    max_windows: int = 8  # "windows": read at most this many windows of a text (its first ones)

    def validate(self):
        super().validate()
        check_choice(self, "pooling", POOLINGS)
        check_choice(self, "class_weights", CLASS_WEIGHTS)
        check_choice(self, "long_text", LONG_TEXTS)
        check_choice(self, "window_pooling", WINDOW_POOLINGS)
        check_positive(self, "max_windows")
        if self.freeze_layers < 0 or self.early_stopping_patience < 0:
            raise ConfigError("freeze_layers and early_stopping_patience must be >= 0.")
