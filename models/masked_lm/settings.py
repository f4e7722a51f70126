"""Training settings of masked-LM pretraining (on models/core/settings.py's TrainSettings)."""

import dataclasses
from typing import ClassVar

from models.core.settings import ConfigError, TrainSettings, check_choice, check_positive

MASKINGS = ("static", "dynamic")


@dataclasses.dataclass(frozen=True, kw_only=True)
class MaskedLMSettings(TrainSettings):
    """Training settings of masked-LM pretraining."""

    # A search's objectives (`--tune`: the eval split's Keras metrics, their direction) and the
    # default; settings the data steps read (not searchable).
    TUNING_OBJECTIVES: ClassVar[dict] = {"masked_accuracy": "max", "loss": "min"}
    DEFAULT_OBJECTIVE: ClassVar[str] = "masked_accuracy"
    TOKENIZE_SETTINGS: ClassVar[tuple] = ("max_predictions", "masking")

    max_predictions: int = 20  # masked positions per window (the masker's and the model's)
    top_k: int = 5  # fills returned per [MASK] by the served model
    # "static": MlmMasker's maskings (dupe_factor per window, fixed); "dynamic": a new masking
    # of every window each time the trainer reads it (RoBERTa, Hugging Face's collator).
    masking: str = "static"
    mask_rate: float = 0.15

    def validate(self):
        super().validate()
        check_choice(self, "masking", MASKINGS)
        if not 1 <= self.max_predictions <= self.seq_length - 2:
            raise ConfigError(
                f"max_predictions={self.max_predictions} must be between 1 and seq_length - 2 "
                f"({self.seq_length - 2}).")
        check_positive(self, "top_k")
