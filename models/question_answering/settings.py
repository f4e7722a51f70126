"""Training and serving settings of extractive question answering (SQuAD): how a question and
its context become windows, and how an answer is searched for.

The defaults are Hugging Face's question-answering pipeline's (transformers 4.57,
`QuestionAnsweringPipeline`): windows of 384 pieces, overlapping by 128 (`doc_stride`), the
question cut to 64 pieces (`max_question_len`, as Google's `run_squad.py` and Model Garden's
`squad_lib` cut it), answers of at most 15 pieces (`max_answer_len`).

>>> s = QuestionAnsweringSettings()
>>> s.seq_length, s.doc_stride, s.max_query_length, s.max_answer_length, s.top_k
(384, 128, 64, 15, 3)
>>> QuestionAnsweringSettings(seq_length=128, doc_stride=64)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
models.core.settings.ConfigError: doc_stride=64: ... --doc-stride below 61
"""

import dataclasses
from typing import ClassVar, Optional

from models.core.settings import ConfigError, FineTuningSettings, check_positive


@dataclasses.dataclass(frozen=True, kw_only=True)
class QuestionAnsweringSettings(FineTuningSettings):
    """`seq_length` is a window: `[CLS] question [SEP] context piece... [SEP]`."""

    # A search's objectives (`--tune`: the eval split's Keras metrics, their direction) and the
    # default; settings the Tokenize step reads (not searchable).
    TUNING_OBJECTIVES: ClassVar[dict] = {"span_accuracy": "max", "loss": "min"}
    DEFAULT_OBJECTIVE: ClassVar[str] = "span_accuracy"
    TOKENIZE_SETTINGS: ClassVar[tuple] = ("doc_stride", "max_query_length", "window_stride")

    model_name: str = "question_answering"
    seq_length: int = 384
    learning_rate: float = 3e-5  # run_qa.py's README recipe (BERT base on SQuAD v1.1)
    doc_stride: int = 128  # pieces two windows of one context share (Hugging Face's `stride`)
    max_query_length: int = 64  # a question's pieces beyond this are cut
    max_answer_length: int = 15  # pieces of the longest answer the answer search returns
    top_k: int = 3  # answers returned per question, best first
    # Trained on data with unanswerable questions (SQuAD v2.0): the served model answers ""
    # (has_answer false) when the no-answer score (p([CLS]) x p([CLS])) beats the best
    # answer's by more than `null_score_threshold` (run_qa.py's `null_score_diff_threshold`,
    # on the scale of the answers' scores); None: the threshold with the best exact match on
    # the eval split, as the official v2.0 script's `best_exact_thresh` (training.py:
    # `best_null_threshold`).
    with_no_answer: bool = False
    null_score_threshold: Optional[float] = None

    def validate(self):
        super().validate()
        check_positive(self, "max_query_length", "max_answer_length", "top_k")
        if self.window_stride is not None:
            raise ConfigError("--window-stride is for tagging and long texts; question answering "
                              "windows overlap by --doc-stride (default 128)")
        body = self.min_context_pieces
        if body < 1:
            raise ConfigError(
                f"seq_length={self.seq_length} leaves no room for the context after a question "
                f"of max_query_length={self.max_query_length} pieces and [CLS] [SEP] [SEP]: use "
                f"--seq-length {self.max_query_length + 4} or more, or a smaller "
                "--max-query-length")
        if not 0 <= self.doc_stride < body:
            raise ConfigError(
                f"doc_stride={self.doc_stride}: windows of {self.seq_length} pieces hold at "
                f"least {body} context pieces (after a question of up to {self.max_query_length}"
                f" pieces and [CLS] [SEP] [SEP]), and two windows must share fewer: use "
                f"--doc-stride below {body}")

    @classmethod
    def for_window(cls, seq_length: int, **given) -> "QuestionAnsweringSettings":
        """Settings for windows of `seq_length` with the defaults cut to fit where they do not
        (a question of at most half the window, an overlap of at most half the context's
        room), and `given` as given. Raises ConfigError if `given` does not fit.

        >>> s = QuestionAnsweringSettings.for_window(128)
        >>> s.max_query_length, s.doc_stride
        (62, 31)
        """
        query = given.pop("max_query_length", min(64, (seq_length - 3) // 2))
        stride = given.pop("doc_stride", min(128, (seq_length - 3 - query) // 2))
        return cls(seq_length=seq_length, max_query_length=query, doc_stride=stride, **given)

    @property
    def threshold(self) -> float:
        """The no-answer threshold the served model applies (0.0 until one is learned)."""
        return 0.0 if self.null_score_threshold is None else self.null_score_threshold

    @property
    def min_context_pieces(self) -> int:
        """The fewest context pieces a window holds (after the longest question)."""
        return self.seq_length - 3 - self.max_query_length

    @property
    def stride(self) -> int:
        return self.doc_stride
