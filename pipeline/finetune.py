"""The fine-tuning pipeline definition: config in, `tfx.dsl.Pipeline` out, nothing else.

labelled file(s) → LabelledExampleGen → StatisticsGen → ExampleValidator (schemas/labelled.pbtxt)
    → Tokenize (Transform with the pretraining run's vocabulary; refuses anomalous data)
    → Trainer (pretrained encoder as base_model + classification head)
    → Evaluator (TFMA; thresholds and no regression vs the latest blessed model) → Pusher
"""

import os
from typing import Sequence

import tensorflow_model_analysis as tfma
from tensorflow_metadata.proto.v0 import schema_pb2
from google.protobuf import text_format
from tfx import v1 as tfx

from components.labelled_example_gen import LabelledExampleGen
from components.tokenize import Tokenize
from components.types import WordPieceVocab
from models import features
from pipeline.blessing import evaluate_and_push, overall_threshold
from pipeline.config import FinetuneConfig
from pipeline.resolve_pretrained import Pretrained
from pipeline.tfx_pipeline import absolute, make_pipeline, repo_file, trainer_config

LABELLED_SCHEMA = repo_file("schemas", "labelled.pbtxt")


def schema_path(cfg: FinetuneConfig) -> str:
    return os.path.abspath(cfg.schema_file or LABELLED_SCHEMA)


def schema_labels(path: str) -> list:
    """The class names: the string domain of the schema's `label` feature, in order."""
    with open(path) as f:
        schema = text_format.Parse(f.read(), schema_pb2.Schema())
    label, = [f for f in schema.feature if f.name == features.LABEL] or [None]
    if label is None:
        raise ValueError(f"{path} has no '{features.LABEL}' feature")
    if label.HasField("string_domain"):
        return list(label.string_domain.value)
    domains = {d.name: list(d.value) for d in schema.string_domain}
    if label.domain not in domains:
        raise ValueError(f"{path}: the '{features.LABEL}' feature has no string domain; list the "
                         "class names in one")
    return domains[label.domain]


def eval_config(cfg: FinetuneConfig, labels: Sequence[str]) -> tfma.EvalConfig:
    """Accuracy (gates the blessing), per-class and macro precision/recall/F1, AUC for two
    classes, a confusion matrix; overall and by text-length bucket."""
    accuracy_thresholds = overall_threshold(cfg.min_accuracy, cfg.max_regression)
    per_class = [tfma.MetricConfig(class_name=name) for name in ("Precision", "Recall", "F1Score")]
    if len(labels) == 2:
        per_class.append(tfma.MetricConfig(class_name="AUC"))
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(
            # Keras 3 models load in TFMA only as generic SavedModels with named signatures.
            model_type="tf_generic", signature_name=features.PREDICT_EXAMPLES_SIGNATURE,
            preprocessing_function_names=[features.TRANSFORM_SIGNATURE],
            label_key=features.LABEL_ID, prediction_key="probabilities")],
        slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=[features.LENGTH_BUCKET])],
        metrics_specs=[
            tfma.MetricsSpec(metrics=[
                tfma.MetricConfig(class_name="ExampleCount"),
                tfma.MetricConfig(class_name="SparseCategoricalAccuracy",
                                  config='{"name": "accuracy"}',
                                  per_slice_thresholds=accuracy_thresholds),
                tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
            ]),
            tfma.MetricsSpec(
                metrics=per_class,
                binarize=tfma.BinarizationOptions(class_ids={"values": list(range(len(labels)))}),
                aggregate=tfma.AggregationOptions(
                    macro_average=True, class_weights={i: 1.0 for i in range(len(labels))})),
        ])


def create_pipeline(cfg: FinetuneConfig, labels: Sequence[str],
                    pretrained: Pretrained) -> tfx.dsl.Pipeline:
    example_gen = LabelledExampleGen(absolute(cfg.data), cfg.text_column, cfg.label_column,
                                     cfg.split_buckets)
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.ImportSchemaGen(schema_file=schema_path(cfg))
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"])
    vocabulary = tfx.dsl.Importer(
        source_uri=pretrained.encoder_dir, artifact_type=WordPieceVocab,
    ).with_id("pretrained_vocabulary")
    pretrained_model = tfx.dsl.Importer(
        source_uri=pretrained.model_uri, artifact_type=tfx.types.standard_artifacts.Model,
    ).with_id("pretrained_model")
    tokenize = Tokenize(
        examples=example_gen.outputs["examples"], schema=schema_gen.outputs["schema"],
        vocabulary=vocabulary.outputs["result"], anomalies=example_validator.outputs["anomalies"],
        preprocessing_fn="models.preprocessing.classifier_preprocessing_fn",
        custom_config={"seq_length": cfg.seq_length, "labels": list(labels)})
    trainer = tfx.components.Trainer(
        run_fn="models.text_classifier_trainer.run_fn",
        examples=tokenize.outputs["transformed_examples"],
        transform_graph=tokenize.outputs["transform_graph"],
        base_model=pretrained_model.outputs["result"],
        train_args=tfx.proto.TrainArgs(num_steps=cfg.train_steps),
        eval_args=tfx.proto.EvalArgs(num_steps=cfg.eval_steps),
        custom_config=trainer_config(cfg, labels=list(labels)))
    gate_and_push = evaluate_and_push(example_gen.outputs["examples"], trainer.outputs["model"],
                                      eval_config(cfg, labels), cfg.serving_model_dir,
                                      cfg.max_versions)
    return make_pipeline(cfg, [example_gen, statistics_gen, schema_gen, example_validator,
                                vocabulary, pretrained_model, tokenize, trainer, *gate_and_push])
