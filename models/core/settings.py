"""Training settings: what the TFX Trainer is given, and nothing else, so that a rerun retrains
only when one of these changes (TFX's cache key includes a component's execution properties).
Each setting is checked once, where it is defined: here what every family shares (TrainSettings,
batching, windows), and each family's own in `models/<family>/settings.py`. Blessing, push and
Beam settings live with the pipeline (pipeline/config.py).

Example:

>>> settings = TrainSettings(seq_length=64)
>>> MODEL_SIZES[settings.model_size]["hidden_dim"], settings.keras_jit_compile
(128, 'auto')
>>> TrainSettings.from_dict(settings.to_dict()) == settings
True
>>> TrainSettings(seq_length=2)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
models.core.settings.ConfigError: seq_length=2 is too short: ... Use --seq-length 3 or more (128 ...
"""

import dataclasses
import hashlib
import json
from typing import Optional, Tuple

from models.core import features

# BERT sizes (Turc et al. 2019, "Well-Read Students Learn Better"): layers, hidden, heads.
MODEL_SIZES = {
    "tiny": dict(num_layers=2, hidden_dim=128, num_heads=2),
    "mini": dict(num_layers=4, hidden_dim=256, num_heads=4),
    "small": dict(num_layers=4, hidden_dim=512, num_heads=8),
    "medium": dict(num_layers=8, hidden_dim=512, num_heads=8),
    "base": dict(num_layers=12, hidden_dim=768, num_heads=12),
}
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
LR_SCALINGS = ("none", "linear", "sqrt")
JIT_COMPILE = ("auto", "on", "off")
MIXED_PRECISION = ("mixed_float16", "mixed_bfloat16")
# Fine-tuning batches: "bucketed" groups examples of similar length and pads each batch to its
# longest rounded up to BUCKET_MULTIPLE (models/core/inputs.py: length_bucketed); "fixed" pads every
# example to seq_length.
BATCHINGS = ("bucketed", "fixed")
# 8: on the reviews from all-MiniLM-L6-v2, 29.0 examples/s against 24.9 at 16 (fixed padding
# to 64: 12.7; bench/long_documents.json).
BUCKET_MULTIPLE = 8


class ConfigError(ValueError):
    """A setting is invalid; the message names it and says what to do."""


def check_vocab_size(vocab_size: int) -> None:
    """The one rule for a vocabulary's size: room for wordpieces beyond the reserved tokens."""
    reserved = len(features.RESERVED_TOKENS)
    if vocab_size <= reserved:
        raise ConfigError(
            f"vocab_size={vocab_size} leaves no room for word pieces: {reserved} reserved tokens "
            f"come first ({' '.join(features.RESERVED_TOKENS)}). "
            f"Use --vocab-size {reserved + 100} or more (8000 is the default).")


def check_positive(settings, *names: str) -> None:
    for name in names:
        if getattr(settings, name) < 1:
            raise ConfigError(f"{name}={getattr(settings, name)} must be a positive integer.")


def check_choice(settings, name: str, choices) -> None:
    value = getattr(settings, name)
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is unknown; choose one of {', '.join(choices)}.")


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainSettings:
    """What pretraining and fine-tuning share: model size, sequence length, batch plan,
    optimizer, schedule, strategy, precision, checkpointing, seed."""

    model_name: str = "mlm"  # the name TF Serving serves it under (its warmup requests say it)
    seq_length: int = 128
    model_size: str = "tiny"
    # Batching (models/core/distribute.py: batch_plan): `batch_size` is the global batch of one step,
    # split over all replicas; `grad_accum_steps` steps make one optimizer update, so the
    # effective batch is batch_size x grad_accum_steps. `train_steps` and `checkpoint_every`
    # count optimizer updates. `learning_rate` is the peak rate at `base_batch_size` (default:
    # the effective batch, i.e. taken as given) and scales by `lr_scaling` to the effective batch.
    batch_size: int = 32
    grad_accum_steps: int = 1
    base_batch_size: Optional[int] = None
    lr_scaling: str = "linear"
    train_steps: int = 1000
    eval_steps: int = 50
    learning_rate: float = 1e-3
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    clip_norm: float = 1.0
    dropout: float = 0.1
    strategy: str = "default"
    cpu_replicas: int = 1  # `mirrored` without GPUs: split the CPU into this many logical devices
    mixed_precision: Optional[str] = None  # mixed_float16 (GPU) or mixed_bfloat16 (TPU, CPU)
    # XLA for the train/eval steps: "auto" is Keras' choice (on for one GPU; off on CPUs, where
    # XLA trained slower, and under distribution strategies); "on" / "off" force it.
    jit_compile: str = "auto"
    checkpoint_every: int = 500
    resume: bool = True  # continue a killed run from its last checkpoint (a backup directory)
    profile_steps: Optional[str] = None  # "START,STOP": a TensorBoard profile of those steps
    seed: int = 42

    def __post_init__(self):
        self.validate()

    def validate(self):
        if self.seq_length < 3:
            raise ConfigError(
                f"seq_length={self.seq_length} is too short: a sequence needs [CLS], at least one "
                f"token and [SEP] (3). Use --seq-length 3 or more (128 is the default).")
        check_choice(self, "model_size", MODEL_SIZES)
        check_choice(self, "strategy", STRATEGIES)
        check_choice(self, "lr_scaling", LR_SCALINGS)
        check_choice(self, "jit_compile", JIT_COMPILE)
        if self.mixed_precision is not None:
            check_choice(self, "mixed_precision", MIXED_PRECISION)
        check_positive(self, "batch_size", "train_steps", "eval_steps", "checkpoint_every",
                       "grad_accum_steps", "cpu_replicas")
        if self.base_batch_size is not None:
            check_positive(self, "base_batch_size")
        if self.learning_rate <= 0 or self.clip_norm <= 0:
            raise ConfigError("learning_rate and clip_norm must be positive.")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError(f"warmup_ratio={self.warmup_ratio} must be in [0, 1).")
        if self.profile_steps:
            try:
                start, stop = self.profile_range
            except ValueError:
                start = stop = -1
            if not 1 <= start <= stop:
                raise ConfigError(f"profile_steps={self.profile_steps!r}: give START,STOP steps "
                                  "with 1 <= START <= STOP, e.g. --profile-steps 10,15.")
        if not self.model_name.replace("-", "").replace("_", "").isalnum():
            raise ConfigError(f"model_name={self.model_name!r}: use letters, digits, '-' and '_'.")

    # -- derived values -----------------------------------------------------------------------
    @property
    def keras_jit_compile(self):
        """`jit_compile` as `Model.compile` takes it: "auto", True or False."""
        return {"auto": "auto", "on": True, "off": False}[self.jit_compile]

    @property
    def profile_range(self) -> Optional[Tuple[int, int]]:
        if not self.profile_steps:
            return None
        start, stop = (int(x) for x in str(self.profile_steps).split(","))
        return start, stop

    def backup_key(self) -> str:
        """A short hash of the settings that decide what training computes, so that a killed
        run resumes only into a rerun with the same ones (not how it is run or profiled)."""
        decisive = {k: v for k, v in self.to_dict().items()
                    if k not in ("resume", "profile_steps", "jit_compile")}
        digest = hashlib.sha256(json.dumps(decisive, sort_keys=True).encode()).hexdigest()[:12]
        return f"{self.model_name}-{digest}"

    # -- (de)serialization: the Trainer's custom_config holds `to_dict()` ----------------------
    def to_dict(self) -> dict:
        names = [f.name for f in dataclasses.fields(self.settings_class())]
        return {name: getattr(self, name) for name in names}

    @classmethod
    def settings_class(cls):
        """The most derived settings class of models/ (this module's or a family's) among this
        class and its bases: a pipeline config subclasses one and adds settings the Trainer must
        not see."""
        return next(klass for klass in cls.__mro__ if klass.__module__.startswith("models."))

    @classmethod
    def from_dict(cls, values: dict):
        return cls(**values)


@dataclasses.dataclass(frozen=True, kw_only=True)
class BatchingSettings(TrainSettings):
    """How fine-tuning batches are padded (models/core/inputs.py: length_bucketed)."""

    batching: str = "bucketed"  # see BATCHINGS
    # "bucketed": each batch is padded to its longest member rounded up to a multiple of this
    # (Hugging Face's DataCollatorWithPadding `pad_to_multiple_of`).
    pad_to_multiple_of: int = BUCKET_MULTIPLE

    def validate(self):
        super().validate()
        check_choice(self, "batching", BATCHINGS)
        check_positive(self, "pad_to_multiple_of")

    @property
    def bucket_multiple(self) -> int:
        """What models/core/inputs.py's readers take: 0 for fixed padding."""
        return self.pad_to_multiple_of if self.batching == "bucketed" else 0


@dataclasses.dataclass(frozen=True, kw_only=True)
class WindowSettings(BatchingSettings):
    """Text longer than one window as overlapping windows (a sentence to tag, a document to
    classify): the overlap."""

    # Pieces two windows of a long text share (Hugging Face's pipeline `stride`); None:
    # a quarter of a window, (seq_length - 2) // 4.
    window_stride: Optional[int] = None

    def validate(self):
        super().validate()
        if not 0 <= self.stride < self.seq_length - 2:
            raise ConfigError(f"window_stride={self.window_stride}: windows of "
                              f"{self.seq_length - 2} pieces (seq_length - 2) can share 0 to "
                              f"{self.seq_length - 3} of them; use --window-stride in that range")

    @property
    def stride(self) -> int:
        """The window overlap in pieces."""
        return (self.seq_length - 2) // 4 if self.window_stride is None else self.window_stride


@dataclasses.dataclass(frozen=True, kw_only=True)
class FineTuningSettings(WindowSettings):
    """What fine-tuning an encoder for a task shares (text and token classification): its
    default length, and `from_scratch` (the encoder's architecture and vocabulary with random
    weights, a baseline; models/core/training.py: TrainerJob.encoder_to_fine_tune)."""

    train_steps: int = 500
    eval_steps: int = 20
    checkpoint_every: int = 100
    from_scratch: bool = False
