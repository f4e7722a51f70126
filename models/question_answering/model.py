"""Extractive question answering (SQuAD): a question and its context as windows of word pieces,
the span head and its loss, and the answer search from the model's start and end logits back to
text and character offsets in the raw context.

Windows (Hugging Face's `run_qa.py` and question-answering pipeline; Model Garden's
`squad_lib` has the same windows, its `doc_stride` being the step between windows, where
Hugging Face's and lmpipe's is the overlap): each is
`[CLS] question [SEP] context pieces [SEP] [PAD]...` of `seq_length`, the question cut to
`max_query_length` pieces, segment ids 0 up to the first `[SEP]` and 1 after. A
context longer than one window is cut into windows that overlap by `doc_stride` pieces (as
Hugging Face's tokenizers cut overflowing tokens with `stride`); nothing of it is dropped.
The window plan is token classification's (models/tokenizers/wordpiece.py: `window_plan`),
with a window's room for the context depending on its question's length.

Labels: a window that holds the whole gold answer gets its first and last piece's positions;
any other window (and an unanswerable question's) gets 0, its `[CLS]`, as `run_qa.py` labels
them. Words and their raw-text offsets are token classification's (models/tokenizers/words.py:
`split_words`): the answer's first piece is the first piece of the word its first character is
in, its last piece the last piece of the word its last character is in.

Answer search (`answer_spans`): Hugging Face's question-answering pipeline (transformers 4.57,
`pipelines/question_answering.py`: `select_starts_ends`, `decode_spans`, `postprocess` with
`align_to_words`), in TF ops. Per window, start and end probabilities are softmaxes over the
context pieces and `[CLS]`; a span's score is p(start) x p(end), its end at most
`max_answer_length - 1` pieces after its start; the window's 2k + 10 best spans (k = top_k)
are kept, widened to whole words (a word cut by the window's edge only as far as the window
reaches, as `word_to_chars` on the window's encoding gives it) and read off the raw context;
spans of the same text (case aside) across windows add their scores; the k best are returned.
The no-answer score is the least over windows of p([CLS]) x p([CLS]). Every span is scored in
every window that holds it, as the pipeline does (not only in the window where it has the most
context, as Google's `run_squad.py` does), so that the answers are the pipeline's.
"""

import dataclasses

import keras
import tensorflow as tf

from models.core import features
from models.core.backbone import encoder_inputs, sequence_output
from models.tokenizers.wordpiece import Tokenizer, window_plan
from models.tokenizers.words import byte_offsets, code_points, split_words, word_pieces

MASKED_LOGIT = -10000.0  # Hugging Face's pipeline value for positions outside the context


# -- words, pieces and windows ----------------------------------------------------------------

@dataclasses.dataclass
class Context:
    """A batch of contexts as words and pieces: `word_starts`, `word_ends` `[batch, (words)]`
    int64 byte offsets into the raw context, `pieces` `[batch, (words), (pieces)]` int64 ids."""

    texts: tf.Tensor
    word_starts: tf.RaggedTensor
    word_ends: tf.RaggedTensor
    pieces: tf.RaggedTensor
    vocab_chars: tf.Tensor  # `[vocab]` int64: the characters of each piece (`##` not counted)

    @classmethod
    def of(cls, tokenizer: Tokenizer, texts: tf.Tensor) -> "Context":
        words, starts, ends = split_words(texts, tokenizer)
        pieces = tf.RaggedTensor.from_row_splits(word_pieces(tokenizer, words.flat_values),
                                                 words.row_splits, validate=False)
        chars = [len(t) - 2 if t.startswith("##") else len(t) for t in tokenizer.vocab]
        return cls(texts, starts, ends, pieces, tf.constant(chars, tf.int64))

    @property
    def piece_ids(self) -> tf.RaggedTensor:
        """`[batch, (pieces)]` int64."""
        return self.pieces.merge_dims(1, 2)


@dataclasses.dataclass
class Windows:
    """Every window of a batch of questions, flat (`[windows]` each unless said): `row` (its
    question), `start` (its first context piece, an index into the context's pieces),
    `length` (its context pieces), `offset` (the position of its first context piece),
    `token_ids` and `segment_ids` `[windows, seq_length]` int64, and `counts` `[batch]`
    (windows per question)."""

    row: tf.Tensor
    start: tf.Tensor
    length: tf.Tensor
    offset: tf.Tensor
    token_ids: tf.Tensor
    segment_ids: tf.Tensor
    counts: tf.Tensor


def question_pieces(tokenizer: Tokenizer, questions: tf.Tensor,
                    max_query_length: int) -> tf.RaggedTensor:
    """`[batch]` questions to `[batch, (pieces)]` ids, cut to `max_query_length`."""
    return tokenizer.tokenize(questions)[:, :max_query_length]


def make_windows(tokenizer: Tokenizer, question_ids: tf.RaggedTensor,
                 context_ids: tf.RaggedTensor, seq_length: int, doc_stride: int) -> Windows:
    """Questions `[batch, (q)]` and contexts `[batch, (c)]` (piece ids) to their windows.
    A window holds `seq_length - 3 - q` context pieces; `doc_stride` must be below that
    (models/question_answering/settings.py checks it for the longest question)."""
    special = tokenizer.special
    q_length = question_ids.row_lengths()
    starts, lengths, _ = window_plan(context_ids.row_lengths(), seq_length - 3 - q_length,
                                     doc_stride)
    row = starts.value_rowids()
    start, length = starts.flat_values, lengths.flat_values
    first = start + tf.gather(context_ids.row_starts(), row)
    body = tf.gather(context_ids.flat_values, tf.ragged.range(first, first + length))
    question = tf.gather(question_ids, row)
    n = tf.size(row)
    cls = tf.fill([n, 1], tf.constant(special.cls, tf.int64))
    sep = tf.fill([n, 1], tf.constant(special.sep, tf.int64))
    ids = tf.concat([cls, question, sep, body, sep], axis=1)
    segments = tf.concat([tf.zeros_like(cls), tf.zeros_like(question), tf.zeros_like(sep),
                          tf.ones_like(body), tf.ones_like(sep)], axis=1)
    shape = [None, seq_length]
    return Windows(row, start, length, tf.gather(q_length, row) + 2,
                   ids.to_tensor(default_value=special.pad, shape=shape),
                   segments.to_tensor(default_value=0, shape=shape), starts.row_lengths())


def answer_pieces(context: Context, answer_start: tf.Tensor, answer_text: tf.Tensor):
    """Each question's gold answer (`answer_start` `[batch]` int64 code points into the raw
    context, -1 for none; `answer_text` `[batch]`) as its first and last context piece,
    `[batch]` int64 each, -1 where there is no answer or no piece of the context holds it."""
    has = answer_start >= 0
    start_byte = byte_offsets(context.texts, tf.maximum(answer_start, 0))
    end_byte = start_byte + tf.cast(tf.strings.length(answer_text), tf.int64)
    big = tf.int64.max
    ends = context.word_ends.to_tensor(default_value=big)
    starts = context.word_starts.to_tensor(default_value=big)
    first_word = tf.searchsorted(ends, start_byte[:, None], side="right", out_type=tf.int64)[:, 0]
    last_word = tf.searchsorted(starts, end_byte[:, None], side="left", out_type=tf.int64)[:, 0] - 1
    per_word = context.pieces.row_lengths(axis=2).to_tensor(default_value=0)
    before = tf.concat([tf.math.cumsum(per_word, axis=1, exclusive=True),
                        tf.reduce_sum(per_word, axis=1, keepdims=True)], axis=1)
    total = before[:, -1]
    first = tf.gather(before, tf.minimum(first_word, tf.shape(before, tf.int64)[1] - 1),
                      batch_dims=1)
    last = tf.gather(before, tf.maximum(last_word + 1, 0), batch_dims=1) - 1
    valid = has & (first <= last) & (first < total) & (last >= 0)
    return tf.where(valid, first, -1), tf.where(valid, last, -1)


def window_labels(windows: Windows, first: tf.Tensor, last: tf.Tensor):
    """Per window `[windows]` int64: the answer's start and end positions in it, or 0 (the
    `[CLS]`) where it does not hold the whole answer."""
    first, last = tf.gather(first, windows.row), tf.gather(last, windows.row)
    inside = (first >= 0) & (first >= windows.start) & (last < windows.start + windows.length)
    to_position = windows.offset - windows.start
    return (tf.where(inside, first + to_position, 0), tf.where(inside, last + to_position, 0))


# -- Transform --------------------------------------------------------------------------------

def _dense_strings(tensor) -> tf.Tensor:
    if isinstance(tensor, tf.SparseTensor):
        tensor = tf.sparse.to_dense(tensor, default_value="")
    return tf.reshape(tensor, [-1])


def first_answers(inputs: dict):
    """The first gold answer of each question (`run_qa.py` trains on it): its start (code
    points, -1 for none) and text, `[batch]` each."""
    texts = tf.RaggedTensor.from_sparse(inputs[features.ANSWER_TEXT])
    starts = tf.RaggedTensor.from_sparse(inputs[features.ANSWER_START])
    return (tf.reshape(starts[:, :1].to_tensor(default_value=-1, shape=[None, 1]), [-1]),
            tf.reshape(texts[:, :1].to_tensor(default_value="", shape=[None, 1]), [-1]))


def preprocessing_fn(inputs, custom_config):
    """Transform: `question`, `context` (strings) and the gold answers (`answer_text`,
    `answer_start`) to every window of the question, `token_ids` and `segment_ids`
    `[batch, (windows * seq_length)]` int64, and per window `start_positions`,
    `end_positions` `[batch, (windows)]` int64 (0 where the window does not hold the answer).

    `custom_config`: `vocab_file` (set by Tokenize), `seq_length`, `doc_stride`,
    `max_query_length`."""
    from models.tokenizers.wordpiece import load_tokenizer
    tokenizer = custom_config.get("tokenizer") or load_tokenizer(custom_config["vocab_file"])
    seq_length = int(custom_config["seq_length"])
    questions = _dense_strings(inputs[features.QUESTION])
    context = Context.of(tokenizer, _dense_strings(inputs[features.CONTEXT]))
    windows = make_windows(tokenizer, question_pieces(tokenizer, questions,
                                                      int(custom_config["max_query_length"])),
                           context.piece_ids, seq_length, int(custom_config["doc_stride"]))

    def per_question(values, width=1):
        return tf.RaggedTensor.from_row_lengths(tf.reshape(values, [-1]),
                                                windows.counts * width, validate=False).to_sparse()

    outputs = {features.TOKEN_IDS: per_question(windows.token_ids, seq_length),
               features.SEGMENT_IDS: per_question(windows.segment_ids, seq_length)}
    if features.ANSWER_START in inputs:
        first, last = answer_pieces(context, *first_answers(inputs))
        start, end = window_labels(windows, first, last)
        outputs[features.START_POSITIONS] = per_question(start)
        outputs[features.END_POSITIONS] = per_question(end)
    return outputs


# -- the model ----------------------------------------------------------------------------------

def build_span_model(backbone, dropout: float = 0.1) -> keras.Model:
    """Encoder → dense `[hidden, 2]` → start and end logits per position, `[batch, seq, 2]`
    float32 (`[..., 0]` start, `[..., 1]` end): Hugging Face's `BertForQuestionAnswering`
    (`qa_outputs`, no dropout before it; `dropout` is the encoder's, kept for the shared
    signature)."""
    del dropout
    inputs = encoder_inputs()
    sequence = sequence_output(backbone, inputs)
    output_dense = keras.layers.Dense(2, name="qa_outputs", dtype="float32")
    model = keras.Model(inputs, output_dense(sequence), name="question_answering")
    model.backbone, model.output_dense = backbone, output_dense
    return model


@keras.saving.register_keras_serializable(package="lmpipe")
def span_loss(y_true, y_pred):
    """The mean of the start and end cross-entropies per window (Hugging Face's
    `BertForQuestionAnswering`: `(start_loss + end_loss) / 2`). `y_true` `[batch, 2]` int
    positions, `y_pred` `[batch, seq, 2]` logits."""
    y_true = tf.cast(y_true, tf.int32)
    start = keras.losses.sparse_categorical_crossentropy(y_true[:, 0], y_pred[..., 0],
                                                         from_logits=True)
    end = keras.losses.sparse_categorical_crossentropy(y_true[:, 1], y_pred[..., 1],
                                                       from_logits=True)
    return (start + end) / 2


@keras.saving.register_keras_serializable(package="lmpipe")
class SpanAccuracy(keras.metrics.Mean):
    """The fraction of windows whose arg-max start and arg-max end are both the label's."""

    def __init__(self, name="span_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = tf.cast(y_true, tf.int64)
        best = tf.argmax(y_pred, axis=1)  # [batch, 2]
        return super().update_state(tf.cast(tf.reduce_all(tf.equal(best, y_true), axis=-1),
                                            tf.float32))


# -- the answer search -------------------------------------------------------------------------

def window_logits(model, windows: Windows, seq_length: int) -> tf.Tensor:
    """The model's logits on every window, `[windows, L, 2]` float32, the windows cut to the
    longest one rounded up to 16 (at most seq_length)."""
    from models.core.inputs import bert_inputs
    real = windows.offset + windows.length + 1
    longest = tf.minimum((tf.reduce_max(tf.concat([real, [1]], 0)) + 15) // 16 * 16,
                         seq_length)
    mask = tf.sequence_mask(real, longest)
    logits = model(bert_inputs(windows.token_ids[:, :longest], padding_mask=mask,
                               segment_ids=windows.segment_ids[:, :longest]), training=False)
    return tf.cast(logits, tf.float32)


def span_scores(logits: tf.Tensor, in_context: tf.Tensor, max_answer_length: int):
    """Per window (logits `[windows, L, 2]`, `in_context` `[windows, L]` bool: the context's
    positions) its no-answer score p([CLS]) x p([CLS]) `[windows]` and every span's score
    p(start) x p(end) `[windows, L * max_answer_length]` (span `i`: start `i // m`, end
    start + `i % m`; 0 outside the context), the probabilities softmaxes over the context and
    `[CLS]` (Hugging Face's pipeline: `select_starts_ends`, `decode_spans`)."""
    length = tf.shape(logits)[1]
    allowed = in_context | tf.equal(tf.range(length), 0)[None, :]
    masked = tf.where(allowed[:, :, None], logits, MASKED_LOGIT)
    probabilities = tf.nn.softmax(masked, axis=1)
    p_start, p_end = probabilities[..., 0], probabilities[..., 1]
    null = p_start[:, 0] * p_end[:, 0]
    keep = tf.cast(in_context, tf.float32)  # no span starts or ends at [CLS]
    p_start, p_end = p_start * keep, p_end * keep
    # Spans by start and length: [windows, L, max_answer_length].
    padded_end = tf.pad(p_end, [[0, 0], [0, max_answer_length]])
    band = tf.stack([padded_end[:, d:d + length] for d in range(max_answer_length)], axis=2)
    return null, tf.reshape(p_start[:, :, None] * band, [tf.shape(logits)[0], -1])


@dataclasses.dataclass
class Answers:
    """The answer search's result, `[batch, top_k]` each, best first (padding: "", -1, 0):
    `text`, `start`, `end` (code points into the raw context, `context[start:end] == text`),
    `score` (float32), and `[batch]` `count` (answers found) and `null_score` (the no-answer
    score)."""

    text: tf.Tensor
    start: tf.Tensor
    end: tf.Tensor
    score: tf.Tensor
    count: tf.Tensor
    null_score: tf.Tensor


def answer_spans(logits: tf.Tensor, windows: Windows, context: Context, top_k: int,
                 max_answer_length: int) -> Answers:
    """The `top_k` best answers of each question from its windows' logits (module
    docstring: Hugging Face's pipeline search)."""
    length = tf.shape(logits)[1]
    position = tf.range(length, dtype=tf.int64)[None, :]
    in_context = ((position >= windows.offset[:, None])
                  & (position < (windows.offset + windows.length)[:, None]))
    null, scores = span_scores(logits, in_context, max_answer_length)
    k = tf.minimum(2 * top_k + 10, tf.shape(scores)[1])
    best, index = tf.math.top_k(scores, k=k)
    index = tf.cast(index, tf.int64)
    s = index // max_answer_length
    e = s + index % max_answer_length
    in_window = tf.gather(in_context, s, batch_dims=1) & tf.gather(in_context, e, batch_dims=1)
    # Window positions to context pieces, pieces to words, words to raw-text offsets.
    to_piece = (windows.start - windows.offset)[:, None]
    row = tf.broadcast_to(windows.row[:, None], tf.shape(s))
    piece_base = tf.gather(context.piece_ids.row_starts(), row)
    piece_word = context.pieces.values.value_rowids()  # the global word of each global piece
    last_piece = tf.maximum(tf.size(piece_word, tf.int64) - 1, 0)
    piece_word = tf.concat([piece_word, [0]], 0)  # room for an empty batch

    def piece_of(positions):  # the global piece (an index into the batch's pieces)
        return tf.minimum(positions + to_piece + piece_base, last_piece)

    # A span widens to whole words, as far as the window reaches: a word cut by the window's
    # edge ends (or starts) where the window does, as Hugging Face's `word_to_chars` on the
    # window's encoding gives it. Offsets in code points: a piece's characters from the
    # vocabulary, counted from its word's start.
    words = context.pieces.values  # [words, (pieces)]
    word_first = tf.concat([words.row_starts(), [0]], 0)
    word_limit = tf.concat([words.row_limits(), [0]], 0)
    piece_chars = tf.gather(context.vocab_chars, context.pieces.flat_values)
    before = tf.concat([[0], tf.cumsum(piece_chars)], 0)  # characters before each piece
    word_start_cp = code_points(tf.gather(context.texts, context.word_starts.value_rowids()),
                                context.word_starts.flat_values)
    word_end_cp = code_points(tf.gather(context.texts, context.word_ends.value_rowids()),
                              context.word_ends.flat_values)
    word_start_cp, word_end_cp = (tf.concat([x, [0]], 0) for x in (word_start_cp, word_end_cp))
    window_first = piece_base + to_piece + windows.offset[:, None]  # its first context piece
    window_limit = window_first + windows.length[:, None]
    start_word = tf.gather(piece_word, piece_of(s))
    end_word = tf.gather(piece_word, piece_of(e))
    start_first = tf.gather(word_first, start_word)
    end_first, end_limit = tf.gather(word_first, end_word), tf.gather(word_limit, end_word)
    start_cp = tf.gather(word_start_cp, start_word) + tf.where(
        start_first < window_first,
        tf.gather(before, tf.minimum(window_first, tf.size(before, tf.int64) - 1))
        - tf.gather(before, start_first), 0)
    end_cp = tf.where(end_limit > window_limit,
                      tf.gather(word_start_cp, end_word)
                      + tf.gather(before, tf.minimum(window_limit, tf.size(before, tf.int64) - 1))
                      - tf.gather(before, end_first),
                      tf.gather(word_end_cp, end_word))
    start_byte = byte_offsets(tf.gather(context.texts, row), start_cp)
    end_byte = byte_offsets(tf.gather(context.texts, row), end_cp)
    valid = tf.reshape(in_window, [-1])
    row, start_byte, end_byte, best = (tf.boolean_mask(tf.reshape(x, [-1]), valid)
                                       for x in (row, start_byte, end_byte, best))
    owner = tf.gather(context.texts, row)
    text = tf.strings.substr(owner, tf.cast(start_byte, tf.int32),
                             tf.cast(end_byte - start_byte, tf.int32))
    # The same text (case aside) found again adds its score to the first one's.
    # (tf.strings.lower with utf-8 stops at a NUL: a code point no text holds stands in.)
    lower = tf.strings.regex_replace(tf.strings.lower(
        tf.strings.regex_replace(text, "\x00", "\U0010FFFF"), encoding="utf-8"),
        "\U0010FFFF", "\x00")
    key = tf.strings.join([tf.strings.as_string(row), lower], separator="\x00")
    _, group = tf.unique(key, out_idx=tf.int64)
    groups = tf.reduce_max(tf.concat([group, [-1]], 0)) + 1
    first = tf.math.unsorted_segment_min(tf.range(tf.size(group, tf.int64)), group, groups)
    total = tf.math.unsorted_segment_sum(best, group, groups)
    g_row, g_text = tf.gather(row, first), tf.gather(text, first)
    g_start = code_points(tf.gather(owner, first), tf.gather(start_byte, first))
    g_end = code_points(tf.gather(owner, first), tf.gather(end_byte, first))
    # Best first within each question; the first found first among equal scores.
    order = tf.argsort(total, direction="DESCENDING", stable=True)
    order = tf.gather(order, tf.argsort(tf.gather(g_row, order), stable=True))
    nrows = tf.shape(windows.counts, out_type=tf.int64)[0]

    def top(values, default):
        ragged = tf.RaggedTensor.from_value_rowids(tf.gather(values, order),
                                                   tf.gather(g_row, order), nrows=nrows,
                                                   validate=False)
        return ragged[:, :top_k].to_tensor(default_value=default, shape=[None, top_k])

    counts = tf.math.bincount(tf.cast(g_row, tf.int32), minlength=tf.cast(nrows, tf.int32),
                              maxlength=tf.cast(nrows, tf.int32))
    null_score = tf.math.unsorted_segment_min(null, windows.row, nrows)
    return Answers(top(g_text, ""), top(g_start, tf.constant(-1, tf.int64)),
                   top(g_end, tf.constant(-1, tf.int64)), top(total, 0.0),
                   tf.minimum(counts, top_k), null_score)


def answer(model, tokenizer: Tokenizer, questions: tf.Tensor, contexts: tf.Tensor,
           seq_length: int, doc_stride: int, max_query_length: int, top_k: int,
           max_answer_length: int) -> Answers:
    """Raw questions and contexts `[batch]` to their `top_k` answers (`answer_spans`)."""
    context = Context.of(tokenizer, contexts)
    windows = make_windows(tokenizer, question_pieces(tokenizer, questions, max_query_length),
                           context.piece_ids, seq_length, doc_stride)
    return answer_spans(window_logits(model, windows, seq_length), windows, context, top_k,
                        max_answer_length)
