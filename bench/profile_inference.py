"""Where the time of our classifier's `serving_default` goes, piece by piece (run by hand):
tokenization (the Transform layer), the Keras model at the padded length, the model at the
batch's longest real length, and the whole exported signature.

    .venv/bin/python bench/profile_inference.py            # the demo's classifier

Prints one JSON line of median milliseconds per call at batch 1 and batch 32.
"""

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.infer_common import REPO, review_texts  # noqa: E402


def timed(fn, arg, calls):
    for _ in range(5):
        fn(arg)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn(arg)
        times.append(time.perf_counter() - start)
    return round(1000 * statistics.median(times), 3)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--summary", default=os.path.join(REPO, "runs", "demo", "summary.json"))
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()

    import tensorflow as tf
    import tensorflow_text  # noqa: F401
    import tensorflow_transform as tft

    from models.core import encoder, features, inputs
    from models.text_classification import model as text_classifier
    from serving import versions

    with open(args.summary) as f:
        run = json.load(f)["finetune"]
    seq_length = run["config"]["seq_length"]
    root = run["pipeline_root"]
    graph = max((os.path.join(root, "Tokenize", "transform_graph", d)
                 for d in os.listdir(os.path.join(root, "Tokenize", "transform_graph"))),
                key=os.path.getmtime)
    tft_layer = tft.TFTransformOutput(graph).transform_features_layer()
    model = text_classifier.build_classifier(
        encoder.load_encoder(encoder.encoder_dir(run["pretrained_model"]),
                             pretrained=False), num_classes=len(run["labels"]),
        pooling=run["config"]["pooling"])
    serve = tf.saved_model.load(versions.resolve_version_dir(
        os.path.dirname(run["pushed_model"]))).signatures["serving_default"]

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def tokenize(text):
        ids = tft_layer({features.TEXT: tf.reshape(text, [-1, 1])})[features.TOKEN_IDS]
        return tf.reshape(ids, [-1, seq_length])

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int64)])
    def run_model(token_ids):
        return model(inputs.bert_inputs(token_ids), training=False)

    report = {"seq_length": seq_length}
    for batch in (1, 32):
        texts = tf.constant(review_texts(batch))
        ids = tokenize(texts)
        longest = int(tf.reduce_max(tf.reduce_sum(tf.cast(ids != features.PAD_ID, tf.int32), 1)))
        report[f"batch{batch}"] = {
            "longest_real_length": longest,
            "tokenize_ms": timed(tokenize, texts, args.calls),
            "model_padded_ms": timed(run_model, ids, args.calls),
            "model_trimmed_ms": timed(run_model, ids[:, :longest], args.calls),
            "serving_default_ms": timed(lambda t: serve(text=t), texts, args.calls),
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
