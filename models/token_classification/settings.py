"""Training settings of fine-tuning a token classifier (named entities)."""

import dataclasses
from typing import ClassVar

from models.core.settings import FineTuningSettings


@dataclasses.dataclass(frozen=True, kw_only=True)
class TokenClassifierSettings(FineTuningSettings):
    """Training settings of fine-tuning a token classifier (named entities)."""

    # A search's objectives (`--tune`: the eval split's Keras metrics, their direction) and the
    # default; settings the Tokenize step reads (not searchable).
    TUNING_OBJECTIVES: ClassVar[dict] = {"entity_f1": "max", "token_accuracy": "max",
                                         "loss": "min"}
    DEFAULT_OBJECTIVE: ClassVar[str] = "entity_f1"  # per window (model.py: EntityF1)
    TOKENIZE_SETTINGS: ClassVar[tuple] = ("window_stride",)

    model_name: str = "token_classifier"
    learning_rate: float = 5e-5
