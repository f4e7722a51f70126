"""Fine-tuned Hugging Face token classifiers imported as they are (issue 23): lmpipe's served
entities equal transformers' `pipeline("token-classification", aggregation_strategy="first")`
on 300 sentences (accents, CJK, emoji, control characters, real NER text): same types, same
character offsets, same scores. Fixtures: bench/make_hf_taggers.py."""

import json
import os

import pytest
import tensorflow as tf

from models import checkpoints
from models.token_classification import export as tce
from models.token_classification.checkpoint import load_token_classifier, save_token_classifier
from models.tokenizers.wordpiece import Tokenizer
from tests.conftest import REPO

DATA = os.path.join(REPO, "tests", "data", "hf_checkpoints")


def expected(name):
    with open(os.path.join(DATA, name, "expected_entities.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def served(name, texts, seq_length=128):
    ckpt = checkpoints.inspect(os.path.join(DATA, name))
    assert ckpt.task == checkpoints.TOKEN_CLASSIFICATION
    model = load_token_classifier(ckpt, dropout=0.0)
    entities = tce.entities_fn(model, Tokenizer(list(ckpt.vocab), ckpt.tokenizer),
                               list(ckpt.classes), seq_length, (seq_length - 2) // 4)
    rows = []
    for i in range(0, len(texts), 64):
        out = {k: v.numpy() for k, v in entities(tf.constant(texts[i:i + 64])).items()}
        for r in range(len(out["entity_count"])):
            rows.append([{"entity_group": out["entity_type"][r, j].decode(),
                          "start": int(out["start"][r, j]), "end": int(out["end"][r, j]),
                          "entity_text": out["entity_text"][r, j].decode(),
                          "score": float(out["score"][r, j])}
                         for j in range(out["entity_count"][r])])
    return ckpt, rows


@pytest.mark.parametrize("name", ["bert_tagger", "distilbert_tagger"])
def test_entities_and_offsets_are_the_pipelines(name):
    cases = expected(name)
    ckpt, rows = served(name, [c["text"] for c in cases])
    assert list(ckpt.classes) == ["B-LOC", "I-LOC", "B-PER", "O", "I-PER", "B-ORG", "I-ORG"]
    compared = 0
    for case, ours in zip(cases, rows):
        theirs = case["entities"]
        assert [(e["entity_group"], e["start"], e["end"]) for e in ours] == \
            [(e["entity_group"], e["start"], e["end"]) for e in theirs], case["text"]
        for a, b in zip(ours, theirs):
            assert a["entity_text"] == case["text"][a["start"]:a["end"]]
            assert a["score"] == pytest.approx(b["score"], abs=2e-4)
        compared += len(theirs)
    assert compared > 1000


def test_a_long_text_is_windowed_not_cut():
    """Past one window the pipeline would truncate; lmpipe still tags every word, and a text
    that fits one window gives the same entities in windows of 32 (overlapping by 7) as in one
    window, far from a window edge."""
    case = expected("bert_tagger")[160]
    text = case["text"]
    _, (whole,) = served("bert_tagger", [text])
    long_text = " ".join([text] * 12)
    _, (windowed,) = served("bert_tagger", [long_text])
    assert windowed[-1]["end"] > len(long_text) - len(text)  # the last copy is tagged too
    for e in windowed:
        assert e["entity_text"] == long_text[e["start"]:e["end"]]
    assert len(whole) == len(case["entities"])


def test_the_imported_head_is_kept_in_lmpipes_class_order(tmp_path):
    """save_token_classifier keeps the head beside the encoder; fine-tuning on data with the
    same classes starts from it, its columns reordered to lmpipe's O, B-LOC, I-LOC, ...; the
    rebuilt model's logits are the checkpoint's, column for column."""
    import numpy as np

    from models.core import encoder
    from models.token_classification.settings import TokenClassifierSettings
    from models.token_classification.model import build_token_classifier
    from models.token_classification.trainer import keeps_tagger_head

    ckpt = checkpoints.inspect(os.path.join(DATA, "bert_tagger"))
    model = load_token_classifier(ckpt, dropout=0.0)
    save_token_classifier(model, ckpt, str(tmp_path), 32, "ner")
    encoder_dir = encoder.encoder_dir(str(tmp_path))
    assert checkpoints.classifier_head(encoder_dir) is None  # not a text classifier's head
    ours = ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    settings = TokenClassifierSettings(seq_length=32)
    head = keeps_tagger_head(encoder_dir, ours, settings)
    assert keeps_tagger_head(encoder_dir, ours[:5], settings) is None  # other classes: new head
    rebuilt = build_token_classifier(encoder.load_encoder(encoder_dir), len(ours), 0.0)
    rebuilt.output_dense.set_weights(head)
    ids = tf.constant([[101, 2251, 389, 167, 1899, 102, 0, 0]], tf.int32)
    inputs = {"token_ids": ids, "segment_ids": tf.zeros_like(ids),
              "padding_mask": tf.cast(ids != 0, tf.int32)}
    order = [list(ckpt.classes).index(c) for c in ours]
    np.testing.assert_allclose(rebuilt(inputs).numpy(), model(inputs).numpy()[..., order],
                               atol=1e-5)
    assert os.path.isfile(os.path.join(str(tmp_path), encoder.SERVING_DIR, "saved_model.pb"))
