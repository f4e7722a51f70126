"""One validated configuration object per job, flowing from the CLI to the components.

A job's config is its task's training settings (models/core/settings.py: what the Trainer gets, and
nothing more) plus the run's layout, blessing, push and Beam settings and the data steps'
settings, each of which goes only to the component that uses it. Every field is a flag.

Example:

>>> cfg = PretrainConfig(corpus_dir="data/corpus", run_dir="runs/demo")
>>> cfg.model_size, cfg.seq_length, cfg.vocab_size, cfg.serving_model_dir
('tiny', 128, 8000, 'runs/demo/serving/mlm')
>>> sorted(set(cfg.train_settings().to_dict()) & {"min_masked_accuracy", "max_versions", "seq_length"})
['seq_length']
>>> PretrainConfig(corpus_dir="data/corpus", vocab_size=5)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
models.core.settings.ConfigError: vocab_size=5 leaves no room for word pieces: ... 105 or more ...
"""

import dataclasses
import json
import os
from typing import Optional, Tuple

from models.core import features
from pipeline import beam_options
from models.core.settings import ConfigError, TrainSettings, check_positive, check_vocab_size
from models.causal_lm.settings import CausalLMSettings
from models.text_classification.settings import ClassifierSettings
from models.masked_lm.settings import MaskedLMSettings
from models.token_classification.settings import TokenClassifierSettings
from models.question_answering.settings import QuestionAnsweringSettings

# Beam runners whose pipeline options lmpipe knows how to pass; any other needs --beam-arg=--runner.
BEAM_RUNNERS = ("DirectRunner", "DataflowRunner", "FlinkRunner", "SparkRunner", "PortableRunner",
                "PrismRunner")


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunSettings:
    """Where a run lives, when its model is blessed and pushed, how its Beam steps run. Mixed
    into a job config together with the task's training settings."""

    run_dir: str = "runs/pretrain"
    pipeline_name: str = "lmpipe-pretrain"
    serving_dir: Optional[str] = None  # default: <run_dir>/serving
    max_versions: int = 0  # after a push keep only the newest N versions (0: keep all)
    # Blessing: the most a retrain may fall below the last blessed model (absolute).
    max_regression: float = 0.01
    # Seconds `multi_worker` waits for its peers; reaches the Trainer through its environment
    # (models/core/distribute.py: WORKER_TIMEOUT_ENV), not its settings.
    worker_timeout: int = 300
    beam_runner: str = "DirectRunner"
    # Free Beam pipeline options for every Beam step (ExampleGen, StatisticsGen, vocabulary,
    # Transform, masking, Evaluator), e.g. --direct_num_workers=2 or Dataflow's --project.
    beam_args: Tuple[str, ...] = ("--direct_running_mode=in_memory", "--direct_num_workers=1")

    def __post_init__(self):
        object.__setattr__(self, "beam_args", tuple(self.beam_args))
        super().__post_init__()

    def validate(self):
        super().validate()
        if self.max_versions < 0:
            raise ConfigError(f"max_versions={self.max_versions} must be >= 0 (0 keeps all).")
        if self.max_regression < 0:
            raise ConfigError(f"max_regression={self.max_regression} must be >= 0.")
        check_positive(self, "worker_timeout")
        if self.beam_runner not in BEAM_RUNNERS:
            raise ConfigError(f"beam_runner={self.beam_runner!r} is unknown; choose one of "
                              f"{', '.join(BEAM_RUNNERS)} (or pass --beam-arg=--runner=NAME).")
        beam_options.check(self.pipeline_beam_args)

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
        return self.backup_dir_for(self)

    def backup_dir_for(self, settings) -> str:
        """The backup directory of one of this run's Trainers (e.g. task-adaptive pretraining's
        MaskedLMSettings beside the classifier's)."""
        return os.path.join(self.pipeline_root, "train_backup", settings.backup_key())

    def _beam_args_and_notes(self):
        args = beam_options.with_runner(self.beam_args, self.beam_runner)
        if self.beam_runner != "DirectRunner":
            args = [a for a in args if not a.startswith("--direct_")]
        return beam_options.complete(args)

    @property
    def pipeline_beam_args(self) -> list:
        """beam_args with `--runner` from beam_runner (unless beam_args name one), and what
        the runner needs added (pipeline/beam_options.py: `complete`)."""
        return self._beam_args_and_notes()[0]

    @property
    def beam_notes(self) -> list:
        """What pipeline_beam_args added to the options given, and why."""
        return self._beam_args_and_notes()[1]

    def train_settings(self):
        """The training settings alone: all that reaches the Trainer."""
        settings_class = self.settings_class()
        return settings_class.from_dict(self.to_dict())

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


@dataclasses.dataclass(frozen=True, kw_only=True)
class TuningSettings:
    """Hyper-parameter search (models/core/tuning.py), mixed into the configs of jobs that
    train: `tune` a search space file (YAML/JSON) whose best settings the final Trainer uses;
    `hyperparameters_from` an earlier search's best settings (a run directory, its
    best_hyperparameters.txt or a {setting: value} file) used without searching;
    `tuner_workers` trial processes sharing one oracle (1: trials one after another here)."""

    tune: Optional[str] = None
    hyperparameters_from: Optional[str] = None
    tuner_workers: int = 1

    def validate(self):
        super().validate()
        check_positive(self, "tuner_workers")
        if self.tune and self.hyperparameters_from:
            raise ConfigError("--tune searches, --hyperparameters-from reuses an earlier "
                              "search's best settings without searching: give one of them")
        if self.tuner_workers > 1 and not self.tune:
            raise ConfigError(f"--tuner-workers {self.tuner_workers} runs a search's trials in "
                              "parallel: it needs --tune SPACE")
        self.search_space()

    def search_space(self):
        """The `tune` file checked against this job's training settings and its task's
        objectives (None without `tune`). Raises ConfigError naming every problem."""
        from models.core import tuning

        if not self.tune:
            return None
        settings = self.train_settings()
        return tuning.parse_space(tuning.read_space(self.tune), settings,
                                  type(settings).TUNING_OBJECTIVES,
                                  type(settings).DEFAULT_OBJECTIVE, self.tune)


DEFAULT_VOCAB_SIZE = 8000
# Continued pretraining is blessed only if masked accuracy beats the starting checkpoint's.
MIN_GAIN_OVER_START = 1e-9


def default_vocab_size(cfg) -> None:
    """Pretraining's vocabulary: learned from the corpus (`vocab_size`, default
    DEFAULT_VOCAB_SIZE) or the `init_from` checkpoint's; both given is a ConfigError."""
    if cfg.init_from and cfg.vocab_size is not None:
        raise ConfigError(
            f"--vocab-size {cfg.vocab_size} with --init-from {cfg.init_from}: continued "
            "pretraining uses the checkpoint's vocabulary (its embeddings are trained on it). "
            "Drop --vocab-size, or drop --init-from to learn a new vocabulary.")
    if not cfg.init_from and cfg.vocab_size is None:
        object.__setattr__(cfg, "vocab_size", DEFAULT_VOCAB_SIZE)


@dataclasses.dataclass(frozen=True, kw_only=True)
class PretrainConfig(RunSettings, TuningSettings, MaskedLMSettings):
    """Everything the MLM pretraining pipeline needs to know."""

    corpus_dir: str
    eval_buckets: int = 1  # hash buckets for eval, out of 10 (the rest is train)

    # Continued pretraining: a BERT checkpoint (models/checkpoints/) whose vocabulary,
    # tokenizer and weights the run starts from; its size replaces model_size.
    init_from: Optional[str] = None
    # Vocabulary learned from the corpus (default 8000), unless init_from gives one.
    vocab_size: Optional[int] = None
    lower_thresh: int = 2  # minimum word count the WordPiece learner considers

    # Static masking (BERT paper defaults; mask_rate and masking are training settings):
    # dupe_factor maskings of each train window; whole-word masking masks all pieces of a word.
    dupe_factor: int = 2
    whole_word_masking: bool = False

    min_masked_accuracy: float = 0.1  # blessing floor

    def validate(self):
        # The components define these rules; imported here so that `lmpipe --help` and the
        # serving commands do not load TFX.
        from components.mlm_masker import check_masking
        from components.text_example_gen import check_eval_buckets

        default_vocab_size(self)
        super().validate()
        if self.vocab_size is not None:
            check_vocab_size(self.vocab_size)
        check_masking(self.mask_rate, self.dupe_factor)
        if self.masking == "dynamic" and self.whole_word_masking:
            raise ConfigError("--whole-word-masking is static masking's (MlmMasker): use it "
                              "with --masking static, or dynamic masking without it.")
        check_eval_buckets(self.eval_buckets)
        check_positive(self, "lower_thresh")


BPE_MIN_VOCAB = 258  # 256 byte symbols, <|endoftext|> and one merge


@dataclasses.dataclass(frozen=True, kw_only=True)
class CausalPretrainConfig(RunSettings, TuningSettings, CausalLMSettings):
    """`lmpipe pretrain --objective causal`: GPT-2 pretraining on a corpus (from random weights
    and a byte-level BPE learned from it, or from a GPT-2 checkpoint: `init_from`)."""

    corpus_dir: str
    pipeline_name: str = "lmpipe-causal-pretrain"  # its own blessed-model history
    eval_buckets: int = 1
    init_from: Optional[str] = None  # a GPT-2 checkpoint (models/checkpoints/gpt2.py)
    vocab_size: Optional[int] = None  # byte-level BPE learned from the corpus (default 8000)
    lower_thresh: int = 2  # a pair seen fewer times is not merged
    # Blessed only at or below this eval perplexity (default: the vocabulary size, what a
    # uniform guess scores) and at most max_regression above the last blessed model's.
    max_perplexity: Optional[float] = None
    # Documents the Tokenize step joins before cutting blocks (run_clm.py: 1000); each batch
    # drops its last partial block.
    documents_per_batch: int = 1000

    def validate(self):
        from components.text_example_gen import check_eval_buckets

        default_vocab_size(self)
        super().validate()
        if self.vocab_size is not None and self.vocab_size < BPE_MIN_VOCAB:
            raise ConfigError(f"--vocab-size {self.vocab_size} is too small for byte-level BPE: "
                              f"its 256 byte symbols and <|endoftext|> come first; use "
                              f"{BPE_MIN_VOCAB} or more (8000 is the default).")
        if self.max_perplexity is not None and self.max_perplexity <= 1:
            raise ConfigError(f"--max-perplexity {self.max_perplexity} must be above 1.")
        check_eval_buckets(self.eval_buckets)
        check_positive(self, "lower_thresh", "documents_per_batch")


@dataclasses.dataclass(frozen=True, kw_only=True)
class _ImportSettings:
    # A Hugging Face BERT (or GPT-2) directory, a keras-hub preset or an lmpipe model.
    checkpoint: str
    model_name: str = "mlm"
    seq_length: int = 128  # longest input the served model reads (at most the checkpoint's)
    max_predictions: int = 20  # masked positions per example in its mlm_eval signature
    top_k: int = 5  # fills returned per [MASK]
    max_new_tokens: int = 32  # a GPT-2 checkpoint: tokens its served model generates by default
    # A question-answering checkpoint (BertForQuestionAnswering): its answer search, Hugging
    # Face's pipeline defaults (the window is 384 pieces unless --seq-length is given).
    doc_stride: int = 128
    max_query_length: int = 64
    max_answer_length: int = 15

    def __post_init__(self):
        self.validate()

    def validate(self):
        check_positive(self, "seq_length", "max_predictions", "top_k", "max_new_tokens")
        MaskedLMSettings(seq_length=self.seq_length, max_predictions=self.max_predictions,
                         model_name=self.model_name)  # the same rules as a pretraining run's


@dataclasses.dataclass(frozen=True, kw_only=True)
class ImportConfig(RunSettings, _ImportSettings):
    """`lmpipe import`: a checkpoint to a served fill-mask model and an encoder, no training."""

    run_dir: str = "runs/import"
    pipeline_name: str = "lmpipe-import"


@dataclasses.dataclass(frozen=True, kw_only=True)
class FinetuneConfig(RunSettings, TuningSettings, ClassifierSettings):
    """Everything the fine-tuning (text classification) pipeline needs to know."""

    data: str  # a CSV/TSV/JSONL file, or a directory of them (train.*/eval.*/test.* = given splits)
    pretrained: Optional[str] = None  # a pretraining run dir, or a pretrained model/encoder dir

    run_dir: str = "runs/finetune"
    pipeline_name: str = "lmpipe-finetune"
    text_column: str = "text"
    label_column: str = "label"
    # Pairs (entailment, paraphrase): the column of each row's second text; the model reads
    # `[CLS] text [SEP] text_pair [SEP]` and the served model takes two strings.
    text_pair_column: Optional[str] = None
    # TSV files: "auto" reads quote characters as text except in fields written with CSV-style
    # quoting (`"a ""b"" c"`, as pandas writes them), "none" keeps every quote, "csv" reads
    # the whole file with CSV quoting (components/labelled_example_gen/reader.py).
    tsv_quoting: str = "auto"
    # The classes: a schema file's label domain, or --labels (in this order), or the run
    # directory's schema from an earlier run, or else those of the train split (sorted;
    # numerically when every class name is an integer).
    schema_file: Optional[str] = None
    labels: Optional[Tuple[str, ...]] = None
    split_buckets: Tuple[int, int, int] = (8, 1, 1)  # train/eval/test hash buckets (test may be 0)

    min_accuracy: float = 0.6  # blessing floor on eval accuracy

    # Task-adaptive pretraining (Gururangan et al. 2020): this many MLM steps on the train
    # split's texts (labels unused) before the classifier is trained; 0: off.
    adapt_steps: int = 0
    adapt_learning_rate: float = 1e-4

    # Distillation (Hinton et al. 2015): a teacher classifier (a pushed model, a version dir or
    # a fine-tuning run dir) whose probabilities the new model learns from, softened at
    # `distill_temperature`; `distill_alpha` weighs them against the labels (1: teacher only).
    # `unlabelled_text` (one text per line) adds teacher-labelled training examples. Blessed
    # only within `max_drop_vs_teacher` of the teacher's eval accuracy.
    distill_from: Optional[str] = None
    distill_temperature: float = 2.0
    distill_alpha: float = 0.5
    unlabelled_text: Optional[str] = None
    max_drop_vs_teacher: float = 0.01

    def adapt_settings(self) -> MaskedLMSettings:
        """The adaptation Trainer's settings: this run's training settings, as an MLM with
        dynamic masking for `adapt_steps` steps."""
        shared = {f.name: getattr(self, f.name) for f in dataclasses.fields(TrainSettings)}
        return MaskedLMSettings(**{
            **shared, "model_name": "adapted", "train_steps": self.adapt_steps,
            "checkpoint_every": min(self.checkpoint_every, self.adapt_steps),
            "learning_rate": self.adapt_learning_rate, "masking": "dynamic",
            "max_predictions": max(1, min(20, self.seq_length - 2))})

    def __post_init__(self):
        object.__setattr__(self, "split_buckets", tuple(self.split_buckets))
        if self.labels is not None:
            object.__setattr__(self, "labels", tuple(self.labels))
        super().__post_init__()

    def validate(self):
        from components.labelled_example_gen import check_split_buckets

        super().validate()
        if not self.pretrained:
            raise ConfigError("say which pretraining to start from: --pretrained RUN_DIR (a "
                              "pretraining run) or a pretrained model directory. Its vocabulary "
                              "is used even with --from-scratch (random encoder weights).")
        check_split_buckets(self.split_buckets)
        if self.tsv_quoting not in ("auto", "none", "csv"):
            raise ConfigError(f"--tsv-quoting {self.tsv_quoting}: use auto (CSV-style quoted "
                              "fields are unquoted), none (quotes are text) or csv")
        if self.adapt_steps < 0 or self.adapt_learning_rate <= 0:
            raise ConfigError("adapt_steps must be >= 0 (0: no task-adaptive pretraining) and "
                              "adapt_learning_rate positive.")
        if self.adapt_steps and self.from_scratch:
            raise ConfigError("--adapt-steps continues pretraining of the pretrained weights; "
                              "--from-scratch throws them away: use one or the other.")
        if self.labels is not None:
            if self.schema_file:
                raise ConfigError("give the classes once: --labels or --schema-file, not both.")
            if len(set(self.labels)) != len(self.labels) or len(self.labels) < 2 or not all(self.labels):
                raise ConfigError(f"--labels {','.join(self.labels)}: give two or more distinct, "
                                  "non-empty class names, e.g. --labels negative,neutral,positive.")
        if not 0.0 <= self.min_accuracy <= 1.0:
            raise ConfigError(f"min_accuracy={self.min_accuracy} must be in [0, 1].")
        if self.text_pair_column and self.long_text != "first":
            raise ConfigError(f"--long-text {self.long_text} reads one long text; a pair is cut "
                              "to one window longest text first (as Hugging Face's tokenizers "
                              "do): leave --long-text out with --text-pair-column")
        self._validate_distillation()

    def _validate_distillation(self):
        if not self.distill_from:
            if self.unlabelled_text:
                raise ConfigError("--unlabelled-text gives a teacher texts to label: it needs "
                                  "--distill-from TEACHER")
            return
        if self.distill_temperature <= 0 or not 0.0 <= self.distill_alpha <= 1.0:
            raise ConfigError(f"distill_temperature={self.distill_temperature} must be positive "
                              f"and distill_alpha={self.distill_alpha} in [0, 1].")
        if self.max_drop_vs_teacher < 0:
            raise ConfigError(f"max_drop_vs_teacher={self.max_drop_vs_teacher} must be >= 0.")
        if self.class_weights != "none":
            raise ConfigError("--class-weights with --distill-from: the teacher's probabilities "
                              "set what each example teaches; leave class weights out")
        if self.unlabelled_text and not os.path.isfile(self.unlabelled_text):
            raise ConfigError(f"--unlabelled-text {self.unlabelled_text} is not a file (give "
                              "one text per line)")


@dataclasses.dataclass(frozen=True, kw_only=True)
class TokenClassificationConfig(RunSettings, TuningSettings, TokenClassifierSettings):
    """Everything the token-classification pipeline needs to know."""

    data: str  # a tagged file (CoNLL, CoNLL-U-like, JSONL) or a directory of them
    pretrained: Optional[str] = None  # a pretraining run dir, or a pretrained model/encoder dir
    run_dir: str = "runs/token_classification"
    pipeline_name: str = "lmpipe-token-classification"
    tag_scheme: str = "iob2"  # the data's: iob2, iob1, bioes or bilou (learned as IOB2)
    token_column: Optional[str] = None  # CoNLL: column number (1 = first); JSONL: key
    tag_column: Optional[str] = None
    # The entity types (e.g. LOC,ORG,PER): --labels, else the run directory's schema from an
    # earlier run, else those of the train split (sorted).
    labels: Optional[Tuple[str, ...]] = None
    split_buckets: Tuple[int, int, int] = (8, 1, 1)  # train/eval/test hash buckets
    min_f1: float = 0.5  # blessing floor on eval entity F1 (micro)

    def __post_init__(self):
        object.__setattr__(self, "split_buckets", tuple(self.split_buckets))
        if self.labels is not None:
            object.__setattr__(self, "labels", tuple(self.labels))
        super().__post_init__()

    def validate(self):
        from components.labelled_example_gen import check_split_buckets

        super().validate()
        if not self.pretrained:
            raise ConfigError("say which encoder to start from: --pretrained RUN_DIR (a "
                              "pretraining run) or a pretrained model or checkpoint directory")
        check_split_buckets(self.split_buckets)
        if self.tag_scheme not in features.TAG_SCHEMES:
            raise ConfigError(f"--tag-scheme {self.tag_scheme}: use one of "
                              f"{', '.join(features.TAG_SCHEMES)}")
        if self.labels is not None and (len(set(self.labels)) != len(self.labels)
                                        or not all(self.labels)
                                        or any(t == "O" or t[:2] in ("B-", "I-")
                                               for t in self.labels)):
            raise ConfigError(f"--labels {','.join(self.labels)}: give the entity types, "
                              "distinct and without B-/I- prefixes, e.g. --labels LOC,ORG,PER")
        if not 0.0 <= self.min_f1 <= 1.0:
            raise ConfigError(f"min_f1={self.min_f1} must be in [0, 1].")


@dataclasses.dataclass(frozen=True, kw_only=True)
class QuestionAnsweringConfig(RunSettings, TuningSettings, QuestionAnsweringSettings):
    """Everything the question-answering pipeline needs to know."""

    data: str  # SQuAD JSON / JSONL, or a directory of them (train.*/eval.*/test.* = the splits)
    pretrained: Optional[str] = None  # a pretraining run dir, or a pretrained model/encoder dir
    run_dir: str = "runs/question_answering"
    pipeline_name: str = "lmpipe-question-answering"
    split_buckets: Tuple[int, int, int] = (8, 1, 1)  # train/eval/test buckets, by context
    # A gold answer whose answer_start does not point at its text: "error" (reported with every
    # other problem, nothing run) or "drop" (left out, counted in the summary).
    misaligned_answers: str = "error"
    min_f1: float = 0.5  # blessing floor on eval F1 (SQuAD's, as a fraction in [0, 1])

    def __post_init__(self):
        object.__setattr__(self, "split_buckets", tuple(self.split_buckets))
        super().__post_init__()

    def validate(self):
        from components.labelled_example_gen import check_split_buckets
        from components.question_answer_example_gen.reader import MISALIGNED

        super().validate()
        if not self.pretrained:
            raise ConfigError("say which encoder to start from: --pretrained RUN_DIR (a "
                              "pretraining run) or a pretrained model or checkpoint directory")
        check_split_buckets(self.split_buckets)
        if self.misaligned_answers not in MISALIGNED:
            raise ConfigError(f"--misaligned-answers {self.misaligned_answers}: use error (stop "
                              "and list them) or drop (leave them out, counted)")
        if not 0.0 <= self.min_f1 <= 1.0:
            raise ConfigError(f"min_f1={self.min_f1} must be in [0, 1] (SQuAD F1 as a "
                              "fraction: 0.8 is 80).")
