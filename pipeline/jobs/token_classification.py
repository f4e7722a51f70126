"""The token-classification job (`lmpipe finetune --task token-classification`): its config,
pre-flight checks, pipeline and summary. The task's other files: components/tagged_example_gen
(reader, ExampleGen), models/token_classification/model.py (preprocessing_fn, head, entity grouping),
models/token_classification/trainer.py, models/token_classification/export.py (signatures),
models/token_classification/metrics.py (TFMA metrics).

tagged file(s) → TaggedExampleGen → StatisticsGen → ExampleValidator (the run's schema: the
    IOB2 classes as the `tags` domain)
    → Tokenize (Transform: word pieces, first-piece labels, windows)
      (a checkpoint from elsewhere: Importer → CheckpointImport give the vocabulary and model)
    → Trainer (pretrained encoder + per-token head)
    → Evaluator (TFMA: entity F1 at least --min-f1 and no regression vs the latest blessed
      model) → Pusher
"""

import dataclasses
import glob
import os
from typing import List, Sequence, Tuple

import tensorflow_model_analysis as tfma
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx import v1 as tfx

from components.tagged_example_gen import TaggedExampleGen
from components.tagged_example_gen import reader as tagged
from components.tokenize import Tokenize
from models.core import features
from models.core.settings import ConfigError
from models.token_classification import metrics as entity_metrics
from models.token_classification.export import TAGGING_EVAL_SIGNATURE
from models.token_classification.model import entity_type_names
from pipeline import jobs
from pipeline.blessing import evaluate_and_push, overall_threshold
from pipeline.config import TokenClassificationConfig
from pipeline.jobs.import_checkpoint import fine_tuning_start
from pipeline.resolve_pretrained import Pretrained, PretrainedError
from pipeline.tfx_pipeline import (absolute, make_pipeline, pipeline_schema_file, tuning_steps,
                                   validation_steps, write_text)
from pipeline.tfx_pipeline import trainer as build_trainer

TASK = "token_classification"  # the summary's `task`
RUN_SCHEMA = "tagged_schema.pbtxt"  # in the run directory: the IOB2 classes of its runs


def iob2_classes(types: Sequence[str]) -> List[str]:
    """The model's classes (`id2label`): O, then B-T and I-T per entity type."""
    return tagged.iob2_labels(list(types))


def run_schema_path(cfg: TokenClassificationConfig) -> str:
    return absolute(os.path.join(cfg.run_dir, RUN_SCHEMA))


def schema_classes(path: str) -> List[str]:
    with open(path) as f:
        schema = text_format.Parse(f.read(), schema_pb2.Schema())
    domain, = [d for d in schema.string_domain if d.name == features.TAGS]
    return list(domain.value)


def choose_types(cfg: TokenClassificationConfig) -> Tuple[List[str], str]:
    """(entity types, where they came from): --labels, the run directory's schema (an
    earlier run's), or the train split."""
    if cfg.labels:
        return list(cfg.labels), "--labels"
    if os.path.isfile(run_schema_path(cfg)):
        classes = schema_classes(run_schema_path(cfg))
        return entity_type_names(classes), f"the schema of earlier runs, {run_schema_path(cfg)}"
    return (tagged.train_entity_types(cfg.data, cfg.tag_scheme, cfg.token_column,
                                      cfg.tag_column), "the train split")


def write_run_schema(cfg: TokenClassificationConfig, classes: Sequence[str]) -> str:
    """The curated tagged-data schema: `tokens` and `tags` present in every example (one or
    more values) and every tag one of `classes`; into the run directory."""
    schema = schema_pb2.Schema()
    domain = schema.string_domain.add(name=features.TAGS)
    domain.value.extend(classes)
    for name in (features.TOKENS, features.TAGS):
        feature = schema.feature.add(name=name, type=schema_pb2.BYTES)
        feature.presence.min_fraction = 1.0
        feature.presence.min_count = 1
        feature.value_count.min = 1
        if name == features.TAGS:
            feature.domain = features.TAGS
    path = run_schema_path(cfg)
    header = ("# The IOB2 classes of the token-classification runs in this directory (lmpipe\n"
              "# finetune wrote it; later runs here validate against it). The i-th tag value is\n"
              "# class id i.\n")
    write_text(path, header + text_format.MessageToString(schema))
    return path


def eval_config(cfg: TokenClassificationConfig, classes: Sequence[str]) -> tfma.EvalConfig:
    """Entity F1 (gates the blessing), precision and recall (micro and per type) and word
    accuracy, on the eval split, from the model's `tagging_eval` signature."""
    types = entity_type_names(classes)
    config = '{"entity_types": %s}' % str(list(types)).replace("'", '"')

    def metric(class_name, thresholds=()):
        return tfma.MetricConfig(class_name=class_name, module=entity_metrics.__name__,
                                 config=config, per_slice_thresholds=list(thresholds))

    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(signature_name=TAGGING_EVAL_SIGNATURE,
                                    model_type="tf_generic")],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[tfma.MetricsSpec(metrics=[
            metric("EntityF1", overall_threshold(cfg.min_f1, cfg.max_regression)),
            metric("EntityPrecision"), metric("EntityRecall"), metric("TokenAccuracy")])])


def create_pipeline(cfg: TokenClassificationConfig, classes: Sequence[str],
                    pretrained: Pretrained, schema_file: str,
                    local: bool = True) -> tfx.dsl.Pipeline:
    example_gen = TaggedExampleGen(absolute(cfg.data), cfg.tag_scheme, cfg.token_column,
                                   cfg.tag_column, cfg.split_buckets)
    statistics_gen, schema_gen, example_validator = validation_steps(
        example_gen, pipeline_schema_file(cfg, schema_file, "tagged"))
    start, vocabulary, base_model = fine_tuning_start(pretrained, cfg.seq_length)
    tokenize = Tokenize(
        examples=example_gen.outputs["examples"], schema=schema_gen.outputs["schema"],
        vocabulary=vocabulary, anomalies=example_validator.outputs["anomalies"],
        preprocessing_fn="models.token_classification.model.preprocessing_fn",
        custom_config={"seq_length": cfg.seq_length, "stride": cfg.stride,
                       "labels": list(classes)})
    tuning, hyperparameters = tuning_steps(cfg, "models.token_classification.trainer.tuner_fn",
                                           tokenize, base_model=base_model, labels=list(classes))
    trainer = build_trainer(cfg, "models.token_classification.trainer.run_fn", tokenize,
                            base_model=base_model, hyperparameters=hyperparameters,
                            labels=list(classes))
    gate_and_push = evaluate_and_push(example_gen.outputs["examples"], trainer.outputs["model"],
                                      eval_config(cfg, classes), cfg.serving_model_dir,
                                      cfg.max_versions)
    return make_pipeline(cfg, [example_gen, statistics_gen, schema_gen, example_validator,
                                *start, tokenize, *tuning, trainer, *gate_and_push],
                         local=local)


# -- the job: pre-flight, summary ---------------------------------------------------------------

@dataclasses.dataclass
class Plan:
    """What the pre-flight checks found: the classes, where the types came from, the data."""

    cfg: TokenClassificationConfig
    classes: List[str]
    types_from: str
    data: dict
    schema_file: str
    pretrained: Pretrained
    head: str
    tuning: dict = dataclasses.field(default_factory=dict)  # jobs.check_tuning's


JOB = "token_classification"  # the summary file's key
INPUT_ERRORS = (ConfigError, tagged.TaggedDataError, PretrainedError)


def preflight(cfg: TokenClassificationConfig, given=frozenset()) -> Plan:
    """Every check that can be made before any pipeline work: the entity types, every file
    read (all problems reported at once), an entity type outside the run's, the checkpoint,
    the distribution settings. Raises ConfigError, TaggedDataError or PretrainedError; prints
    what was read and writes the run's schema."""
    from pipeline import resolve_pretrained as pretrained_lib

    types, types_from = choose_types(cfg)
    classes = iob2_classes(types)
    pretrained = pretrained_lib.resolve(cfg.pretrained)
    pretrained_lib.check_vocabulary_matches(pretrained)
    head = "new"
    if pretrained.needs_import:
        start = jobs.check_checkpoint(pretrained.model_uri, "--pretrained", cfg.seq_length)
        if start.classes and start.task == "token-classification":
            keeps = sorted(start.classes) == sorted(classes) and not cfg.from_scratch
            head = ("the checkpoint's (its id2label holds the data's classes)" if keeps else
                    f"new (the checkpoint's head has {', '.join(start.classes)}"
                    + ("; --from-scratch" if cfg.from_scratch else "") + ")")
    report = tagged.check_tagged_data(cfg.data, cfg.tag_scheme, cfg.token_column,
                                      cfg.tag_column, labels=types)
    schema_file = run_schema_path(cfg)
    if os.path.isfile(schema_file) and schema_classes(schema_file) != classes:
        raise ConfigError(f"{schema_file} (the schema of earlier runs here) has the classes "
                          f"{', '.join(schema_classes(schema_file))}, this run "
                          f"{', '.join(classes)}: use another --run-dir")
    jobs.check_distribution(cfg)
    tuning = jobs.check_tuning(cfg, given)
    data = report.to_json()
    print(f"lmpipe: {data['sentences']:,} tagged sentences ({data['tokens']:,} tokens) in "
          f"{jobs.count(data['files'], 'file')}; entities: "
          + "; ".join(f"{split} " + ", ".join(f"{t} {n}" for t, n in sorted(counts.items()))
                      for split, counts in data["entities"].items()))
    print(f"lmpipe: entity types {', '.join(entity_type_names(classes))} (from {types_from}); "
          f"the schema is {schema_file}: later runs in {cfg.run_dir} validate against it.")
    return Plan(cfg, classes, types_from, data, schema_file, pretrained, head, tuning)


def cluster_plan(cfg: TokenClassificationConfig, given=frozenset()) -> Plan:
    """`lmpipe compile --job finetune --task token-classification`: as text classification's
    (pipeline/jobs/text_classification.py: `cluster_plan`), the entity types from --labels."""
    from pipeline import resolve_pretrained as pretrained_lib

    if not cfg.labels:
        raise ConfigError("give --labels with the entity types (e.g. LOC,ORG,PER): a compiled "
                          "pipeline cannot read the train split's types here")
    pretrained = pretrained_lib.resolve_on_cluster(cfg.pretrained)
    classes = iob2_classes(cfg.labels)
    schema_file = write_run_schema(cfg, classes)
    return Plan(cfg, classes, "--labels", {}, schema_file, pretrained, "new")


def build(plan: Plan, local: bool = True) -> tfx.dsl.Pipeline:
    # The run's schema is written when the run starts (a --dry-run writes nothing).
    write_run_schema(plan.cfg, plan.classes)
    return create_pipeline(plan.cfg, plan.classes, plan.pretrained, plan.schema_file,
                           local=local)


def summarize(plan: Plan) -> dict:
    """The run's eval metrics (the Evaluator's), its test metrics (the pushed model on the
    test split, once; never used for blessing), blessing and push, from ML Metadata."""
    from pipeline import run_summary

    cfg = plan.cfg
    store = run_summary._store(cfg)
    summary = run_summary._common_summary(store, cfg)
    summary.update(task=TASK, labels=plan.classes, entity_types=entity_type_names(plan.classes),
                   entity_types_from=plan.types_from, pretrained_model=plan.pretrained.model_uri,
                   token_classifier_head=plan.head, input=plan.data)
    examples = run_summary.latest_output(store, "FileBasedExampleGen", "Examples")
    test_files = glob.glob(os.path.join(examples.uri, "Split-test", "*")) if examples else []
    if summary["pushed"] and test_files:
        summary["test_metrics"] = test_metrics(summary["pushed_model"], test_files)
    return summary


def test_metrics(model_dir: str, files: Sequence[str]) -> dict:
    """Entity precision, recall and F1 (micro and per type) and word accuracy of a served
    token classifier on serialized tagged examples (its `tagging_eval` signature)."""
    import numpy as np
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the serving graph's tokenizer ops)

    from models.core.export import ModelInfo

    classes = ModelInfo.read(model_dir).labels
    types = entity_type_names(classes)
    evaluate = tf.saved_model.load(model_dir).signatures[TAGGING_EVAL_SIGNATURE]
    totals = {k: 0.0 for k in ("entity_matched", "entity_predicted", "entity_gold",
                               "words_correct", "words")}
    per_type = {k: np.zeros(len(types)) for k in ("entity_matched", "entity_predicted",
                                                  "entity_gold")}
    sentences = 0
    for batch in tf.data.TFRecordDataset(list(files), compression_type="GZIP").batch(64):
        out = {k: v.numpy() for k, v in evaluate(examples=batch).items()}
        sentences += len(out["words"])
        for k in totals:
            totals[k] += float(out[k].sum())
        for k in per_type:
            per_type[k] += out[k].sum(axis=0)
    scores = entity_metrics.entity_scores(per_type["entity_matched"],
                                          per_type["entity_predicted"], per_type["entity_gold"])
    result = {f"entity_{k}": v for k, v in scores.items()}
    result["token_accuracy"] = totals["words_correct"] / totals["words"] if totals["words"] else None
    for i, t in enumerate(types):
        s = entity_metrics.entity_scores(per_type["entity_matched"][i],
                                         per_type["entity_predicted"][i],
                                         per_type["entity_gold"][i])
        result[f"entity_f1/{t}"] = s["f1"]
        result[f"entity_support/{t}"] = int(per_type["entity_gold"][i])
    result["sentences"] = sentences
    return result


def print_summary(plan: Plan, summary: dict, path: str) -> None:
    cfg, number = plan.cfg, jobs.number
    metrics, test = summary["eval_metrics"], summary.get("test_metrics")

    def per_type(source, key):
        return ", ".join(f"{t} {number(source.get(f'{key}/{t}'), 3)}"
                         for t in summary["entity_types"])

    splits = summary.get("input", {})
    print("\n".join([
        *jobs.heading_lines("lmpipe finetune --task token-classification", summary),
        f"input             {splits.get('sentences', 0):,} sentences, {splits.get('tokens', 0):,} "
        f"tokens in {splits.get('files', 0)} file(s) ({cfg.tag_scheme.upper()} tags)",
        f"pretrained        {summary['pretrained_model']}",
        f"entity types      {', '.join(summary['entity_types'])} (from "
        f"{summary['entity_types_from']}); classes {', '.join(summary['labels'])}",
        f"head              {summary['token_classifier_head']}",
        f"windows           {cfg.seq_length} pieces, overlapping by {cfg.stride}; labels on "
        "each word's first piece",
        f"eval entity F1    {number(metrics.get('entity_f1'))} (P {number(metrics.get('entity_precision'))}"
        f", R {number(metrics.get('entity_recall'))}); by type: {per_type(metrics, 'entity_f1')}",
        f"eval token acc.   {number(metrics.get('token_accuracy'))}",
        *([f"test entity F1    {number(test['entity_f1'])} (P {number(test['entity_precision'])}, "
           f"R {number(test['entity_recall'])}; {test['sentences']} sentences; reported, never "
           f"used for blessing); by type: {per_type(test, 'entity_f1')}"] if test else []),
        *jobs.tuning_lines(summary),
        f"blessed           {summary['blessed']}",
        f"pushed model      {summary['pushed_model']}",
        f"wall time         {summary['wall_seconds']} s",
        f"summary           {path}",
    ]))
