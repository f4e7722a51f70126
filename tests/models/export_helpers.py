"""Helpers of the export tests: a real tf.Transform output built in process, and the TF1
session TF Serving loads a SavedModel in."""

import os

import tensorflow as tf

from models.core import features

VOCAB = list(features.RESERVED_TOKENS) + ["good", "bad", "film", "very", "."]
SEQ = 16


def transform_output(tmp_path, preprocessing_fn, custom_config, raw_features):
    """Runs tf.Transform's analysis (Beam, in process) and returns its TFTransformOutput."""
    import apache_beam as beam
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

    spec = {name: tf.io.FixedLenFeature([1], tf.string) for name in raw_features}
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
    rows = [{name: [b"good film"] for name in raw_features}]
    out = str(tmp_path / "transform_output")
    with beam.Pipeline() as pipeline, tft_beam.Context(temp_dir=str(tmp_path / "tmp")):
        transform_fn = ((pipeline | beam.Create(rows), metadata)
                        | tft_beam.AnalyzeDataset(lambda x: preprocessing_fn(x, custom_config)))
        _ = transform_fn | tft_beam.WriteTransformFn(out)
    # The raw schema beside it, as TFX's Transform writes it (the signatures parse with it).
    metadata_io.write_metadata(metadata, os.path.join(out, tft.TFTransformOutput.RAW_METADATA_DIR))
    return tft.TFTransformOutput(out)


def load_tf1(path):
    import tensorflow_text  # noqa: F401  (the serving graph's tokenizer ops)

    session = tf.compat.v1.Session(graph=tf.Graph())
    meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], path)
    return session, meta.signature_def


def run(session, signature, **feeds):
    return session.run({k: v.name for k, v in signature.outputs.items()},
                       {signature.inputs[k].name: v for k, v in feeds.items()})
