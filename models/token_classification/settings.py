"""Training settings of fine-tuning a token classifier (named entities)."""

import dataclasses

from models.core.settings import WindowSettings


@dataclasses.dataclass(frozen=True, kw_only=True)
class TokenClassifierSettings(WindowSettings):
    """Training settings of fine-tuning a token classifier (named entities)."""

    model_name: str = "token_classifier"
    learning_rate: float = 5e-5
    train_steps: int = 500
    eval_steps: int = 20
    checkpoint_every: int = 100
    from_scratch: bool = False  # same architecture and vocabulary, random weights (a baseline)
