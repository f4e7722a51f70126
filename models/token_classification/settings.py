"""Training settings of fine-tuning a token classifier (named entities)."""

import dataclasses

from models.core.settings import FineTuningSettings


@dataclasses.dataclass(frozen=True, kw_only=True)
class TokenClassifierSettings(FineTuningSettings):
    """Training settings of fine-tuning a token classifier (named entities)."""

    model_name: str = "token_classifier"
    learning_rate: float = 5e-5
