"""Question answering's windows, labels and answer search (models/question_answering/model.py)
on the committed cased vocabulary: a context of many windows whose answer sits across a window
boundary, a question longer than --max-query-length, answers at the very start and end of a
context, and answers read back from raw text with their character offsets."""

import numpy as np
import pytest
import tensorflow as tf

from components.question_answer_example_gen.executor import to_example
from components.question_answer_example_gen.reader import Question
from models.core import features
from models.core.backbone import build_backbone
from models.question_answering import model as qa
from models.tokenizers.wordpiece import load_tokenizer
from tests.conftest import REPO

VOCAB = f"{REPO}/tests/data/bert_parity/checkpoint/vocab.txt"
SEQ, STRIDE, MAX_QUERY = 32, 8, 10
LONG = ("The river rises in the northern hills and flows south through the old town . "
        "Its water was used by mills for centuries , and the first bridge was built in 1820 "
        "by the engineer Thomas Telford , who also built roads and canals across the country . "
        "Today the river is known for its fish and the long path along its banks .")


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(VOCAB)


def transform(tokenizer, questions):
    serialized = tf.constant([to_example(q).SerializeToString() for q in questions])
    spec = {features.QUESTION: tf.io.FixedLenFeature([1], tf.string),
            features.CONTEXT: tf.io.FixedLenFeature([1], tf.string),
            features.ANSWER_TEXT: tf.io.VarLenFeature(tf.string),
            features.ANSWER_START: tf.io.VarLenFeature(tf.int64)}
    inputs = tf.io.parse_example(serialized, spec)
    out = qa.preprocessing_fn(inputs, {"tokenizer": tokenizer, "seq_length": SEQ,
                                       "doc_stride": STRIDE, "max_query_length": MAX_QUERY})
    return {k: tf.sparse.to_dense(v).numpy() for k, v in out.items()}


def question(text, context, answer, start=None):
    start = context.index(answer) if start is None else start
    return Question("q", text, context, [answer], [start])


def decode(tokenizer, ids):
    return [tokenizer.vocab[i] for i in ids]


def test_a_long_context_is_windows_with_the_answer_labelled_where_it_is_whole(tokenizer):
    answer = "the engineer Thomas Telford"
    out = transform(tokenizer, [question("Who built the first bridge?", LONG, answer)])
    windows = out[features.TOKEN_IDS][0].reshape(-1, SEQ)
    segments = out[features.SEGMENT_IDS][0].reshape(-1, SEQ)
    starts, ends = out[features.START_POSITIONS][0], out[features.END_POSITIONS][0]
    context_pieces = tokenizer.tokenize(tf.constant([LONG])).to_list()[0]
    assert len(windows) == len(starts) >= 4
    # Every window: [CLS] question [SEP] context... [SEP]; the context pieces of consecutive
    # windows overlap by STRIDE and together are the whole context, in order.
    bodies = []
    for ids, seg in zip(windows, segments):
        tokens = decode(tokenizer, ids)
        assert tokens[0] == "[CLS]" and tokens.count("[SEP]") == 2
        first_sep = tokens.index("[SEP]")
        body = [int(i) for i, s in zip(ids, seg) if s == 1][:-1]  # without the last [SEP]
        assert all(s == 0 for s in seg[:first_sep + 1])
        bodies.append(body)
    covered = bodies[0] + [p for body in bodies[1:] for p in body[STRIDE:]]
    assert covered == context_pieces
    # The answer is labelled in the windows that hold it whole, [CLS] (0, 0) elsewhere; one
    # window holds it only in part (it sits across that window's edge).
    answer_pieces = tokenizer.tokenize(tf.constant([answer])).to_list()[0]
    whole = [w for w, body in enumerate(bodies)
             if any(body[i:i + len(answer_pieces)] == answer_pieces for i in range(len(body)))]
    assert whole and all(starts[w] > 0 for w in whole)
    assert [w for w in range(len(bodies)) if w not in whole] == \
        [w for w in range(len(bodies)) if starts[w] == 0 and ends[w] == 0]
    cut = [w for w in range(len(bodies)) if w not in whole
           and any(p in bodies[w] for p in answer_pieces[:1]) ^ any(p in bodies[w] for p in
                                                                     answer_pieces[-1:])]
    assert cut, "no window cuts the answer: make the context or windows other"
    for w in whole:
        assert list(windows[w][starts[w]:ends[w] + 1]) == answer_pieces


def test_a_long_question_is_cut_to_max_query_length(tokenizer):
    long_question = "Which " + " ".join(["old"] * 30) + " engineer built the bridge?"
    out = transform(tokenizer, [question(long_question, LONG, "Thomas Telford")])
    first = decode(tokenizer, out[features.TOKEN_IDS][0][:SEQ])
    assert first.index("[SEP]") == 1 + MAX_QUERY
    assert first[1:1 + MAX_QUERY] == decode(tokenizer, tokenizer.tokenize(
        tf.constant([long_question])).to_list()[0][:MAX_QUERY])
    assert (out[features.START_POSITIONS][0] > 0).any()


@pytest.mark.parametrize("answer, at", [("The river", "start"), ("banks .", "end"),
                                        ("Telford", "middle")])
def test_answers_at_the_very_start_and_end_of_a_context(tokenizer, answer, at):
    context = "The river flows past the mill and the bridge built by Telford to its banks ."
    out = transform(tokenizer, [question("Where?", context, answer)])
    ids = out[features.TOKEN_IDS][0].reshape(-1, SEQ)
    starts, ends = out[features.START_POSITIONS][0], out[features.END_POSITIONS][0]
    labelled = [w for w in range(len(ids)) if starts[w] > 0]
    assert labelled
    pieces = tokenizer.tokenize(tf.constant([answer])).to_list()[0]
    for w in labelled:
        assert list(ids[w][starts[w]:ends[w] + 1]) == pieces
        if at == "start":
            assert decode(tokenizer, [ids[w][starts[w] - 1]]) == ["[SEP]"]
        if at == "end":
            assert decode(tokenizer, [ids[w][ends[w] + 1]]) == ["[SEP]"]


def test_an_answer_inside_a_word_labels_the_whole_word(tokenizer):
    """`answer_start` inside a word (SQuAD has "1820" for "1820s"): the first and last pieces
    of the words it touches."""
    context = "Mills worked in the 1820s and later ."
    out = transform(tokenizer, [question("When?", context, "1820")])
    ids = out[features.TOKEN_IDS][0].reshape(-1, SEQ)[0]
    start, end = out[features.START_POSITIONS][0][0], out[features.END_POSITIONS][0][0]
    assert decode(tokenizer, ids[start:end + 1]) == decode(
        tokenizer, tokenizer.tokenize(tf.constant(["1820s"])).to_list()[0])


def test_unanswerable_questions_are_labelled_at_cls(tokenizer):
    out = transform(tokenizer, [Question("q", "Who?", LONG, [], [])])
    assert (out[features.START_POSITIONS][0] == 0).all()
    assert (out[features.END_POSITIONS][0] == 0).all()


def test_answers_are_read_off_the_raw_context(tokenizer):
    """A random model's top answers: spans of the raw context (accents, CJK, emoji), best
    first, at most max_answer_length pieces, from every window."""
    model = qa.build_span_model(build_backbone(tokenizer.vocab_size, SEQ))
    contexts = [LONG, "Zoë flew from Zürich to 東京 🙂 via Москва , said the café owner .", ""]
    answers = qa.answer(model, tokenizer, tf.constant(["Who?", "Where did Zoë go?", "What?"]),
                        tf.constant(contexts), SEQ, STRIDE, MAX_QUERY, top_k=4,
                        max_answer_length=5)
    text, start, end = answers.text.numpy(), answers.start.numpy(), answers.end.numpy()
    score, count = answers.score.numpy(), answers.count.numpy()
    assert count.tolist() == [4, 4, 0]
    for i, context in enumerate(contexts):
        for j in range(count[i]):
            assert text[i, j].decode() == context[start[i, j]:end[i, j]] != ""
            pieces = tokenizer.tokenize(tf.constant([text[i, j].decode()])).to_list()[0]
            assert len(pieces) <= 5 + 2  # whole words: a span widens to its words
        assert list(score[i]) == sorted(score[i], reverse=True)
    assert text[2].tolist() == [b""] * 4 and start[2].tolist() == [-1] * 4
    assert np.all(answers.null_score.numpy()[:2] > 0)
