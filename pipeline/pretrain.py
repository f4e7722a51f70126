"""The MLM pretraining pipeline definition: config in, `tfx.dsl.Pipeline` out, nothing else.

corpus → TextExampleGen → StatisticsGen → ExampleValidator (schemas/corpus.pbtxt)
       → WordPieceVocabGen (refuses data with anomalies) → Tokenize (Transform)
       → MlmMasker → Trainer → Evaluator (vs latest blessed) → Pusher
"""

import dataclasses
import os

import tensorflow_model_analysis as tfma
from tfx import v1 as tfx

from components.mlm_masker import MlmMasker
from components.text_example_gen import TextExampleGen
from components.tokenize import Tokenize
from components.vocab_gen import WordPieceVocabGen
from models import mlm_metrics
from pipeline.config import PretrainConfig

SCHEMA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "schemas")
CORPUS_SCHEMA = os.path.join(SCHEMA_DIR, "corpus.pbtxt")


def eval_config(cfg: PretrainConfig) -> tfma.EvalConfig:
    """Masked-token accuracy, loss and perplexity on eval; accuracy gates the blessing."""
    accuracy_threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": cfg.min_masked_accuracy}),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
            absolute={"value": -cfg.max_regression}))

    def metric(class_name, threshold=None):
        return tfma.MetricConfig(class_name=class_name, module=mlm_metrics.__name__,
                                 threshold=threshold)

    return tfma.EvalConfig(
        # Keras 3 models load in TFMA only as generic SavedModels with a named signature.
        model_specs=[tfma.ModelSpec(signature_name="mlm_eval", model_type="tf_generic")],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[tfma.MetricsSpec(metrics=[
            metric("MaskedLMAccuracy", accuracy_threshold),
            metric("MaskedLMLoss"),
            metric("MaskedLMPerplexity"),
        ])])


def create_pipeline(cfg: PretrainConfig) -> tfx.dsl.Pipeline:
    example_gen = TextExampleGen(corpus_dir=os.path.abspath(cfg.corpus_dir),
                                 eval_buckets=cfg.eval_buckets)
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.ImportSchemaGen(schema_file=CORPUS_SCHEMA)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"])
    vocab_gen = WordPieceVocabGen(
        examples=example_gen.outputs["examples"], anomalies=example_validator.outputs["anomalies"],
        vocab_size=cfg.vocab_size, lower_thresh=cfg.lower_thresh)
    tokenize = Tokenize(
        examples=example_gen.outputs["examples"], schema=schema_gen.outputs["schema"],
        vocabulary=vocab_gen.outputs["vocabulary"],
        preprocessing_fn="models.preprocessing.preprocessing_fn",
        custom_config={"seq_length": cfg.seq_length})
    masker = MlmMasker(
        examples=tokenize.outputs["transformed_examples"], vocabulary=vocab_gen.outputs["vocabulary"],
        seq_length=cfg.seq_length, mask_rate=cfg.mask_rate, max_predictions=cfg.max_predictions,
        dupe_factor=cfg.dupe_factor, seed=cfg.seed)
    trainer = tfx.components.Trainer(
        run_fn="models.trainer.run_fn",
        examples=masker.outputs["masked_examples"],
        transform_graph=tokenize.outputs["transform_graph"],
        train_args=tfx.proto.TrainArgs(num_steps=cfg.train_steps),
        eval_args=tfx.proto.EvalArgs(num_steps=cfg.eval_steps),
        custom_config={"config": dataclasses.asdict(cfg)})
    latest_blessed = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")
    evaluator = tfx.components.Evaluator(
        examples=masker.outputs["masked_examples"], model=trainer.outputs["model"],
        baseline_model=latest_blessed.outputs["model"], eval_config=eval_config(cfg),
        example_splits=["eval"])
    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(
                base_directory=os.path.abspath(cfg.serving_model_dir))))

    return tfx.dsl.Pipeline(
        pipeline_name=cfg.pipeline_name,
        pipeline_root=os.path.abspath(cfg.pipeline_root),
        components=[example_gen, statistics_gen, schema_gen, example_validator, vocab_gen,
                    tokenize, masker, trainer, latest_blessed, evaluator, pusher],
        enable_cache=True,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            os.path.abspath(cfg.metadata_path)),
        beam_pipeline_args=list(cfg.beam_args))
