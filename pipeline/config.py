"""One validated configuration object per job, flowing from the CLI to every component.

Example:

>>> cfg = PretrainConfig(corpus_dir="data/corpus", run_dir="runs/demo")
>>> cfg.model_size, cfg.seq_length
('tiny', 128)
>>> cfg.replace(seq_length=2)
Traceback (most recent call last):
...
pipeline.config.ConfigError: seq_length=2 is too short: a sequence needs [CLS], at least one token and [SEP] (3). Use --seq-length 3 or more (128 is the default).
"""

import dataclasses
import hashlib
import json
import os
from typing import Optional, Tuple

from models import features

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
# Beam runners whose pipeline options lmpipe knows how to pass; any other needs --beam-arg=--runner.
BEAM_RUNNERS = ("DirectRunner", "DataflowRunner", "FlinkRunner", "SparkRunner", "PortableRunner",
                "PrismRunner")


class ConfigError(ValueError):
    """A setting is invalid; the message names it and says what to do."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainingConfig:
    """What pretraining and fine-tuning share: run layout, model training, blessing, Beam."""

    run_dir: str = "runs/pretrain"
    pipeline_name: str = "lmpipe-pretrain"
    model_name: str = "mlm"
    serving_dir: Optional[str] = None  # default: <run_dir>/serving
    max_versions: int = 0  # after a push keep only the newest N versions (0: keep all)

    seq_length: int = 128
    model_size: str = "tiny"
    # Batching (see models/distribute.py: batch_plan): `batch_size` is the global batch of one
    # step, split over all replicas; `grad_accum_steps` steps make one optimizer update, so the
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
    worker_timeout: int = 300  # seconds `multi_worker` waits for its peers (and any collective)
    mixed_precision: Optional[str] = None  # mixed_float16 (GPU) or mixed_bfloat16 (TPU, CPU)
    # XLA for the train/eval steps: "auto" is Keras' choice (on for one GPU; off on CPUs, where
    # XLA was 10-20% slower in bench/, and under distribution strategies); "on" / "off" force it.
    jit_compile: str = "auto"
    checkpoint_every: int = 500
    resume: bool = True  # continue a killed run from its last checkpoint (`backup_dir`)
    profile_steps: Optional[str] = None  # "START,STOP": a TensorBoard profile of those steps
    seed: int = 42

    # Blessing: the most a retrain may fall below the last blessed model (absolute).
    max_regression: float = 0.01
    beam_runner: str = "DirectRunner"
    # Free Beam pipeline options for every Beam step (ExampleGen, StatisticsGen, vocabulary,
    # Transform, masking, Evaluator), e.g. --direct_num_workers=2 or Dataflow's --project.
    beam_args: Tuple[str, ...] = ("--direct_running_mode=in_memory", "--direct_num_workers=1")

    def __post_init__(self):
        object.__setattr__(self, "beam_args", tuple(self.beam_args))
        self.validate()

    # -- derived paths ------------------------------------------------------
    @property
    def pipeline_root(self) -> str:
        return os.path.join(self.run_dir, "pipeline")

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.run_dir, "metadata.sqlite")

    @property
    def serving_model_dir(self) -> str:
        return os.path.join(self.serving_dir or os.path.join(self.run_dir, "serving"), self.model_name)

    @property
    def backup_dir(self) -> str:
        """Where a killed training run's last checkpoint waits for the rerun: stable across
        pipeline runs (unlike the Trainer's per-execution directory) and keyed by the
        training settings, so a run with other settings never resumes from it."""
        settings = {k: v for k, v in dataclasses.asdict(self).items()
                    if k not in ("beam_args", "beam_runner", "resume", "serving_dir",
                                 "profile_steps", "worker_timeout", "jit_compile")}
        key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
        return os.path.join(self.pipeline_root, "train_backup", f"{self.model_name}-{key}")

    @property
    def pipeline_beam_args(self) -> list:
        """beam_args with `--runner` from beam_runner (unless beam_args name one)."""
        args = list(self.beam_args)
        if not any(a.startswith("--runner") for a in args):
            args.insert(0, f"--runner={self.beam_runner}")
        if self.beam_runner != "DirectRunner":
            args = [a for a in args if not a.startswith("--direct_")]
        return args

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

    @property
    def model_dims(self) -> dict:
        dims = dict(MODEL_SIZES[self.model_size])
        dims["intermediate_dim"] = 4 * dims["hidden_dim"]
        return dims

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str):
        return cls(**json.loads(text))

    # -- validation ---------------------------------------------------------
    def validate(self):
        if self.seq_length < 3:
            raise ConfigError(
                f"seq_length={self.seq_length} is too short: a sequence needs [CLS], at least one "
                f"token and [SEP] (3). Use --seq-length 3 or more (128 is the default).")
        if self.model_size not in MODEL_SIZES:
            raise ConfigError(f"model_size={self.model_size!r} is unknown; choose one of "
                              f"{', '.join(MODEL_SIZES)}.")
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"strategy={self.strategy!r} is unknown; choose one of "
                              f"{', '.join(STRATEGIES)}.")
        for name in ("batch_size", "train_steps", "eval_steps", "checkpoint_every",
                     "grad_accum_steps", "cpu_replicas", "worker_timeout"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)} must be a positive integer.")
        if self.learning_rate <= 0 or self.clip_norm <= 0:
            raise ConfigError("learning_rate and clip_norm must be positive.")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError(f"warmup_ratio={self.warmup_ratio} must be in [0, 1).")
        if self.mixed_precision not in (None, "mixed_float16", "mixed_bfloat16"):
            raise ConfigError(f"mixed_precision={self.mixed_precision!r}: use mixed_float16, "
                              "mixed_bfloat16 or leave it unset.")
        if self.jit_compile not in JIT_COMPILE:
            raise ConfigError(f"jit_compile={self.jit_compile!r}: use one of {', '.join(JIT_COMPILE)}.")
        if self.lr_scaling not in LR_SCALINGS:
            raise ConfigError(f"lr_scaling={self.lr_scaling!r}: use one of {', '.join(LR_SCALINGS)}.")
        if self.base_batch_size is not None and self.base_batch_size < 1:
            raise ConfigError(f"base_batch_size={self.base_batch_size} must be a positive integer.")
        if self.beam_runner not in BEAM_RUNNERS:
            raise ConfigError(f"beam_runner={self.beam_runner!r} is unknown; choose one of "
                              f"{', '.join(BEAM_RUNNERS)} (or pass --beam-arg=--runner=NAME).")
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
        if self.max_versions < 0:
            raise ConfigError(f"max_versions={self.max_versions} must be >= 0 (0 keeps all).")
        if self.max_regression < 0:
            raise ConfigError(f"max_regression={self.max_regression} must be >= 0.")


@dataclasses.dataclass(frozen=True, kw_only=True)
class PretrainConfig(TrainingConfig):
    """Everything the MLM pretraining pipeline needs to know."""

    corpus_dir: str
    eval_buckets: int = 1  # hash buckets for eval, out of 10 (the rest is train)

    # Vocabulary.
    vocab_size: int = 8000
    lower_thresh: int = 2  # minimum word count the WordPiece learner considers

    # Masking (BERT paper defaults).
    mask_rate: float = 0.15
    max_predictions: int = 20
    dupe_factor: int = 2

    min_masked_accuracy: float = 0.1  # blessing floor
    top_k: int = 5  # fills returned per [MASK] by the served model

    def validate(self):
        super().validate()
        reserved = len(features.RESERVED_TOKENS)
        if self.vocab_size <= reserved:
            raise ConfigError(
                f"vocab_size={self.vocab_size} leaves no room for word pieces: {reserved} entries "
                f"are reserved for {' '.join(features.RESERVED_TOKENS)}. "
                f"Use --vocab-size {reserved + 100} or more (8000 is the default).")
        if not 0.0 < self.mask_rate < 1.0:
            raise ConfigError(f"mask_rate={self.mask_rate} must be between 0 and 1 (0.15 is BERT's).")
        if not 1 <= self.max_predictions <= self.seq_length - 2:
            raise ConfigError(
                f"max_predictions={self.max_predictions} must be between 1 and seq_length - 2 "
                f"({self.seq_length - 2}).")
        if not 1 <= self.eval_buckets <= 9:
            raise ConfigError(f"eval_buckets={self.eval_buckets} must be 1..9 (out of 10 hash buckets).")
        for name in ("dupe_factor", "top_k", "lower_thresh"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)} must be a positive integer.")


@dataclasses.dataclass(frozen=True, kw_only=True)
class FinetuneConfig(TrainingConfig):
    """Everything the fine-tuning (text classification) pipeline needs to know."""

    data: str  # a CSV/TSV/JSONL file, or a directory of them (train.*/eval.*/test.* = given splits)
    pretrained: Optional[str] = None  # a pretraining run dir, or a pretrained model/encoder dir
    from_scratch: bool = False  # same architecture and vocabulary, random weights (a baseline)

    run_dir: str = "runs/finetune"
    pipeline_name: str = "lmpipe-finetune"
    model_name: str = "classifier"
    text_column: str = "text"
    label_column: str = "label"
    schema_file: Optional[str] = None  # default: schemas/labelled.pbtxt; its label domain = classes
    split_buckets: Tuple[int, int, int] = (8, 1, 1)  # train/eval/test hash buckets

    seq_length: int = 128
    learning_rate: float = 1e-4
    train_steps: int = 500
    eval_steps: int = 20
    checkpoint_every: int = 100
    pooling: str = "mean"  # "mean" over token outputs, or "cls" (keras-hub BertTextClassifier)
    freeze_embeddings: bool = False
    freeze_layers: int = 0  # the lowest N transformer layers keep their pretrained weights
    class_weights: str = "none"  # or "balanced"
    early_stopping_patience: int = 0  # in checkpoints (epochs); 0 = off

    min_accuracy: float = 0.6  # blessing floor on eval accuracy

    def __post_init__(self):
        object.__setattr__(self, "split_buckets", tuple(self.split_buckets))
        super().__post_init__()

    def validate(self):
        super().validate()
        if not self.pretrained:
            raise ConfigError("say which pretraining to start from: --pretrained RUN_DIR (a "
                              "pretraining run) or a pretrained model directory. Its vocabulary "
                              "is used even with --from-scratch (random encoder weights).")
        if self.pooling not in ("mean", "cls"):
            raise ConfigError(f"pooling={self.pooling!r}: use mean or cls.")
        if self.class_weights not in ("none", "balanced"):
            raise ConfigError(f"class_weights={self.class_weights!r}: use none or balanced.")
        if self.freeze_layers < 0 or self.early_stopping_patience < 0:
            raise ConfigError("freeze_layers and early_stopping_patience must be >= 0.")
        if len(self.split_buckets) != 3 or min(self.split_buckets) < 1:
            raise ConfigError(f"split_buckets={self.split_buckets}: three positive bucket counts "
                              "for train, eval and test (e.g. 8,1,1).")
        if not 0.0 <= self.min_accuracy <= 1.0:
            raise ConfigError(f"min_accuracy={self.min_accuracy} must be in [0, 1].")
