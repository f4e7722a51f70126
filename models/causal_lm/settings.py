"""Training settings of causal-LM (GPT-2) pretraining (on models/core/settings.py's TrainSettings)."""

import dataclasses
from typing import ClassVar

from models.core.settings import TrainSettings, check_positive


@dataclasses.dataclass(frozen=True, kw_only=True)
class CausalLMSettings(TrainSettings):
    """Training settings of causal-LM (GPT-2) pretraining; `seq_length` is the block size
    (tokens per example, the model's positions when it starts from random weights), and
    `max_new_tokens` what the served model generates by default (models/causal_lm/export.py)."""

    # A search's objectives (`--tune`: the eval split's Keras metrics, their direction) and the
    # default; settings the data steps read (not searchable).
    TUNING_OBJECTIVES: ClassVar[dict] = {"loss": "min", "next_token_accuracy": "max"}
    DEFAULT_OBJECTIVE: ClassVar[str] = "loss"
    TOKENIZE_SETTINGS: ClassVar[tuple] = ()

    model_name: str = "clm"
    max_new_tokens: int = 32

    def validate(self):
        super().validate()
        check_positive(self, "max_new_tokens")
