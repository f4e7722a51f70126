"""The fill-mask SavedModel's signatures (models/masked_lm/export.py), on an untrained tiny
model and a real tf.Transform graph, loaded as TF Serving loads it: a TF1 session."""

import os

import tensorflow as tf

from models.core import features
from models.masked_lm import preprocessing
from models.masked_lm.export import export_masked_lm
from models.masked_lm.model import build_masked_lm
from tests.models.export_helpers import SEQ, VOCAB, load_tf1, run, transform_output


def test_fill_mask_model_signatures(tmp_path, vocab_file):
    tft_output = transform_output(tmp_path, preprocessing.preprocessing_fn,
                                  {"vocab_file": vocab_file, "seq_length": SEQ},
                                  [features.TEXT, features.SOURCE])
    model = build_masked_lm(len(VOCAB), SEQ, "tiny")
    path = export_masked_lm(model, tft_output, str(tmp_path / "mlm"), VOCAB, SEQ,
                            max_predictions=4, top_k=2, model_name="mlm")
    session, signatures = load_tf1(path)
    assert set(signatures) >= {features.SERVING_SIGNATURE, features.TRANSFORM_SIGNATURE,
                               features.EVAL_SIGNATURE}
    out = run(session, signatures[features.SERVING_SIGNATURE],
              text=["very [MASK] film [MASK]", "no mask"])
    assert out["mask_count"].tolist() == [2, 0]
    assert out["tokens"].shape == (2, 2, 2) and out["scores"].shape == (2, 2, 2)
    reserved = {t.encode() for t in features.RESERVED_TOKENS}
    assert not set(out["tokens"][0].ravel()) & reserved  # never suggests [PAD], [MASK], ...
    assert (out["tokens"][1] == b"").all() and (out["scores"][1] == 0).all()

    example = tf.train.Example(features=tf.train.Features(feature={
        name: tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"good film"]))
        for name in (features.TEXT, features.SOURCE)}))
    out = run(session, signatures[features.TRANSFORM_SIGNATURE],
              examples=[example.SerializeToString()])
    assert out[features.PACKED_IDS][0][:4].tolist() == [2, 5, 7, 3]

    masked = {features.TOKEN_IDS: [2, 4, 7, 3] + [0] * 12, features.PADDING_MASK: [1] * 4 + [0] * 12,
              features.MASK_POSITIONS: [1, 0, 0, 0], features.MASK_IDS: [5, 0, 0, 0]}
    feature = {k: tf.train.Feature(int64_list=tf.train.Int64List(value=v)) for k, v in masked.items()}
    feature[features.MASK_WEIGHTS] = tf.train.Feature(float_list=tf.train.FloatList(value=[1, 0, 0, 0]))
    out = run(session, signatures[features.EVAL_SIGNATURE], examples=[tf.train.Example(
        features=tf.train.Features(feature=feature)).SerializeToString()])
    assert out["masked_count"].tolist() == [1.0] and out["masked_nll"][0] > 0
    assert out["masked_correct"][0] in (0.0, 1.0)
    assert os.path.isfile(os.path.join(path, "assets.extra", "tf_serving_warmup_requests"))
