"""The text-classification job (`lmpipe finetune`, `--task text-classification`): its
classes and schema, pre-flight checks, pipeline and summary (pipeline/jobs/__init__.py runs
it). The task's other files: components/labelled_example_gen (reader, ExampleGen) and
models/text_classification/ (`preprocessing.py`: classifier_preprocessing_fn, `model.py`: head,
`trainer.py`, `export.py`: signatures).

labelled file(s) → LabelledExampleGen → StatisticsGen → ExampleValidator (schemas/labelled.pbtxt)
    → Tokenize (Transform with the pretraining run's vocabulary; refuses anomalous data)
      (a checkpoint from elsewhere: Importer → CheckpointImport give the vocabulary and model)
    (--adapt-steps: AdaptTokenize → AdaptTrainer, MLM on the train texts, starting from it)
    (--distill-from: Importer(teacher) → TeacherScores adds the teacher's probabilities to the
     examples the Trainer reads; the Evaluator compares with the teacher)
    → Trainer (pretrained or adapted encoder as base_model + classification head)
    → Evaluator (TFMA; thresholds and no regression vs the latest blessed model) → Pusher
"""

import dataclasses
import hashlib
import os
import sys
from typing import List, Optional, Sequence, Tuple

import tensorflow_model_analysis as tfma
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx import v1 as tfx

from components.labelled_example_gen import LabelledDataError, LabelledExampleGen
from components.teacher_scores import TeacherScores
from components.tokenize import Tokenize
from models.core import features
from models.text_classification.settings import head_length
from pipeline import jobs
from pipeline.blessing import evaluate_and_push, overall_threshold
from pipeline.config import ConfigError, FinetuneConfig
from pipeline.jobs.import_checkpoint import fine_tuning_start
from pipeline.resolve_pretrained import Pretrained, PretrainedError
from pipeline.tfx_pipeline import (absolute, make_pipeline, pipeline_schema_file, repo_file,
                                   tuning_steps, validation_steps, write_text)
from pipeline.tfx_pipeline import trainer as build_trainer

LABELLED_SCHEMA = repo_file("schemas", "labelled.pbtxt")
RUN_SCHEMA = "labelled_schema.pbtxt"  # in the run directory: the classes of its runs


def run_schema_path(cfg: FinetuneConfig) -> str:
    return absolute(os.path.join(cfg.run_dir, RUN_SCHEMA))


def choose_classes(cfg: FinetuneConfig) -> Tuple[str, List[str], str]:
    """(schema file, class names, where they came from): `--schema-file`'s label domain;
    `--labels`; the run directory's schema (written by an earlier run, so a class that appears
    only in a retrain is refused); or the train split's classes (sorted; numerically if all are
    integers). In the last two cases the schema is the run directory's (write_run_schema
    writes it)."""
    from components.labelled_example_gen.reader import train_labels

    if cfg.schema_file:
        path = os.path.abspath(cfg.schema_file)
        if cfg.text_pair_column and not _has_feature(path, features.TEXT_PAIR):
            raise ValueError(f"{path} has no '{features.TEXT_PAIR}' feature, but "
                             f"--text-pair-column {cfg.text_pair_column} gives pairs: add the "
                             f"feature (as the '{features.TEXT}' one) or leave out --schema-file")
        return path, schema_labels(path), f"the label domain of {path}"
    if cfg.labels:
        return run_schema_path(cfg), list(cfg.labels), "--labels"
    if os.path.isfile(run_schema_path(cfg)):
        path = run_schema_path(cfg)
        if bool(cfg.text_pair_column) != _has_feature(path, features.TEXT_PAIR):
            raise ValueError(
                f"{path} (the schema of earlier runs here) is for "
                f"{'text pairs' if not cfg.text_pair_column else 'single texts'}, this run for "
                f"{'text pairs' if cfg.text_pair_column else 'single texts'}: use another --run-dir")
        return path, schema_labels(path), f"the classes of earlier runs, {path}"
    return (run_schema_path(cfg), train_labels(cfg.data, cfg.text_column, cfg.label_column,
                                               cfg.text_pair_column, cfg.tsv_quoting),
            "the train split")


def _has_feature(path: str, name: str) -> bool:
    with open(path) as f:
        schema = text_format.Parse(f.read(), schema_pb2.Schema())
    return any(feature.name == name for feature in schema.feature)


def write_run_schema(cfg: FinetuneConfig, labels: Sequence[str]) -> str:
    """lmpipe's curated labelled-data schema with `labels` as the label domain (and a
    `text_pair` feature for pairs), into the run directory."""
    with open(LABELLED_SCHEMA) as f:
        schema = text_format.Parse(f.read(), schema_pb2.Schema())
    domain, = [d for d in schema.string_domain if d.name == features.LABEL]
    del domain.value[:]
    domain.value.extend(labels)
    if cfg.text_pair_column:  # the second text: required, as the first
        text, = [f for f in schema.feature if f.name == features.TEXT]
        pair = schema.feature.add()
        pair.CopyFrom(text)
        pair.name = features.TEXT_PAIR
    path = run_schema_path(cfg)
    header = ("# The classes of the fine-tuning runs in this directory (lmpipe finetune wrote it;\n"
              "# later runs here validate against it). The i-th label value is class id i.\n")
    write_text(path, header + text_format.MessageToString(schema))
    return path


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
    """Accuracy (gates the blessing), a confusion matrix, AUC (and its macro average) for two
    classes; overall and by text-length bucket. The baseline is the latest blessed model, or the
    teacher of a distillation (then at most `max_drop_vs_teacher` below).

    Precision, recall and F1 per class (and their macro averages) are computed from the
    confusion matrix (pipeline/run_summary.py), at the model's decision (the arg-max class, as
    accuracy and the served `label`). TFMA 0.47's binarized Precision/Recall/F1Score are at a
    0.5 threshold on each class's probability, which with three or more classes may call no
    class at all; with `top_k: 1` they disagreed with its own confusion matrix on a 4-class
    model, and its macro average cannot aggregate `top_k` metrics (a KeyError).
    """
    accuracy_thresholds = overall_threshold(
        cfg.min_accuracy, cfg.max_drop_vs_teacher if cfg.distill_from else cfg.max_regression)
    specs = [
        tfma.MetricsSpec(metrics=[
            tfma.MetricConfig(class_name="ExampleCount"),
            tfma.MetricConfig(class_name="SparseCategoricalAccuracy",
                              config='{"name": "accuracy"}',
                              per_slice_thresholds=accuracy_thresholds),
            tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
        ]),
    ]
    if len(labels) == 2:
        specs.append(tfma.MetricsSpec(
            metrics=[tfma.MetricConfig(class_name="AUC")],
            binarize=tfma.BinarizationOptions(class_ids={"values": [0, 1]}),
            aggregate=tfma.AggregationOptions(macro_average=True,
                                              class_weights={0: 1.0, 1: 1.0})))
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(
            # Keras 3 models load in TFMA only as generic SavedModels with named signatures.
            model_type="tf_generic", signature_name=features.PREDICT_EXAMPLES_SIGNATURE,
            preprocessing_function_names=[features.TRANSFORM_SIGNATURE],
            label_key=features.LABEL_ID, prediction_key="probabilities")],
        slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=[features.LENGTH_BUCKET])],
        metrics_specs=specs)


def long_text_config(cfg: FinetuneConfig) -> dict:
    """The Tokenize step's settings of how a text longer than one window is read (none for
    "first", so that runs from before these settings keep their cached Transform)."""
    if cfg.long_text == "first":
        return {}
    config = {"long_text": cfg.long_text}
    if cfg.long_text == "windows":
        config.update(window_stride=cfg.stride, max_windows=cfg.max_windows)
    return config


def file_sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def create_pipeline(cfg: FinetuneConfig, labels: Sequence[str], pretrained: Pretrained,
                    schema_file: str, teacher: Optional[str] = None,
                    local: bool = True) -> tfx.dsl.Pipeline:
    """`schema_file`: the curated schema whose label domain is `labels` (choose_classes);
    `teacher`: the Model directory to distil from (resolve_pretrained.resolve_teacher);
    `local`: run here (SQLite ML Metadata) rather than compiled for a cluster."""
    example_gen = LabelledExampleGen(absolute(cfg.data), cfg.text_column, cfg.label_column,
                                     cfg.split_buckets, cfg.text_pair_column, cfg.tsv_quoting)
    statistics_gen, schema_gen, example_validator = validation_steps(
        example_gen, pipeline_schema_file(cfg, schema_file))
    start, vocabulary, base_model = fine_tuning_start(pretrained, cfg.seq_length)
    adapt = []
    if cfg.adapt_steps:  # task-adaptive pretraining: MLM on the train split's texts first
        adapt_tokenize = Tokenize(
            examples=example_gen.outputs["examples"], schema=schema_gen.outputs["schema"],
            vocabulary=vocabulary, anomalies=example_validator.outputs["anomalies"],
            preprocessing_fn="models.masked_lm.preprocessing.preprocessing_fn",
            custom_config={"seq_length": cfg.seq_length}).with_id("AdaptTokenize")
        adapt_trainer = build_trainer(
            cfg, "models.masked_lm.trainer.run_fn", adapt_tokenize, base_model=base_model,
            settings=cfg.adapt_settings(), train_steps=cfg.adapt_steps).with_id("AdaptTrainer")
        adapt = [adapt_tokenize, adapt_trainer]
        base_model = adapt_trainer.outputs["model"]
    examples, schema, distill, baseline = (example_gen.outputs["examples"],
                                           schema_gen.outputs["schema"], [], None)
    if teacher:  # distillation: the teacher's probabilities join the examples
        teacher_model = tfx.dsl.Importer(
            source_uri=teacher, artifact_type=tfx.types.standard_artifacts.Model,
        ).with_id("teacher")
        unlabelled = absolute(cfg.unlabelled_text) if cfg.unlabelled_text else None
        scores = TeacherScores(examples, teacher_model.outputs["result"], schema, labels,
                               unlabelled, file_sha256(unlabelled) if unlabelled else None)
        distill = [teacher_model, scores]
        examples, schema = scores.outputs["scored_examples"], scores.outputs["scored_schema"]
        baseline = scores.outputs["teacher_model"]
    tokenize = Tokenize(
        examples=examples, schema=schema,
        vocabulary=vocabulary, anomalies=example_validator.outputs["anomalies"],
        preprocessing_fn="models.text_classification.preprocessing.classifier_preprocessing_fn",
        custom_config={"seq_length": cfg.seq_length, "labels": list(labels),
                       **long_text_config(cfg)})
    extras = {"labels": list(labels),
              **({"distill": {"temperature": cfg.distill_temperature,
                              "alpha": cfg.distill_alpha}} if teacher else {})}
    tuning, hyperparameters = tuning_steps(
        cfg, "models.text_classification.trainer.tuner_fn", tokenize, base_model=base_model,
        **extras)
    trainer = build_trainer(cfg, "models.text_classification.trainer.run_fn", tokenize,
                            base_model=base_model, hyperparameters=hyperparameters, **extras)
    gate_and_push = evaluate_and_push(example_gen.outputs["examples"], trainer.outputs["model"],
                                      eval_config(cfg, labels), cfg.serving_model_dir,
                                      cfg.max_versions, baseline_model=baseline)
    return make_pipeline(cfg, [example_gen, statistics_gen, schema_gen, example_validator,
                                *start, *adapt, *distill, tokenize, *tuning, trainer,
                                *gate_and_push],
                         local=local)


# -- the job: pre-flight, summary ---------------------------------------------------------------

JOB = "finetune"  # the summary file's key
INPUT_ERRORS = (ConfigError, LabelledDataError, PretrainedError)


@dataclasses.dataclass
class Plan:
    """What the pre-flight checks found and chose."""

    cfg: FinetuneConfig  # with the pooling chosen from the checkpoint where not given
    labels: List[str]
    labels_from: str
    schema_file: str
    pretrained: Pretrained
    pooling_from: str
    head: str  # the classifier head: new, or the checkpoint's (and why)
    data: dict  # what the data check read: the summary's `input`
    teacher: Optional[str]
    tuning: dict = dataclasses.field(default_factory=dict)  # jobs.check_tuning's


def preflight(cfg: FinetuneConfig, given=frozenset()) -> Plan:
    """Every check that can be made before any pipeline work: the classes, the checkpoint (and
    the pooling a sentence-transformers or fine-tuned one implies, unless `pooling` is in
    `given`), every data file read, the distribution settings, the teacher. Raises
    ConfigError, LabelledDataError or PretrainedError; prints what was read and chosen, and
    writes the run's schema."""
    from components.labelled_example_gen.reader import inspect_labelled_data
    from pipeline import resolve_pretrained as pretrained_lib

    schema_file, labels, labels_from = choose_classes(cfg)
    pretrained = pretrained_lib.resolve(cfg.pretrained)
    pretrained_lib.check_vocabulary_matches(pretrained)
    pooling_from = "--pooling" if "pooling" in given else "lmpipe's default"
    start_classes = ()
    if pretrained.needs_import:
        start = jobs.check_checkpoint(pretrained.model_uri, "--pretrained", cfg.seq_length)
        start_classes = start.classes
        if start.pooling and "pooling" not in given:  # a sentence-transformers checkpoint's own
            cfg = dataclasses.replace(cfg, pooling=start.pooling)
            pooling_from = "the sentence-transformers checkpoint's Pooling module"
        elif start.classes and "pooling" not in given:  # a fine-tuned classifier: its pooler
            cfg = dataclasses.replace(cfg, pooling="cls")
            pooling_from = "the fine-tuned classifier checkpoint (its pooler)"
    report = inspect_labelled_data(cfg.data, cfg.text_column, cfg.label_column, labels,
                                   labels_from=labels_from, pair_column=cfg.text_pair_column,
                                   tsv_quoting=cfg.tsv_quoting)
    jobs.check_distribution(cfg)
    tuning = jobs.check_tuning(cfg, given)
    teacher = check_teacher(cfg, labels, pretrained) if cfg.distill_from else None

    info = report.to_json()
    per_file = ", ".join(f"{os.path.basename(f.path)} {jobs.count(f.rows, 'row')}"
                         for f in report.files[:6])
    print(f"lmpipe: data {cfg.data}: {jobs.count(info['files'], 'file')}, "
          f"{jobs.count(info['rows'], 'row')}, {jobs.count(info['bytes'], 'byte')}"
          + (f" ({per_file})" if len(report.files) > 1 else ""))
    for note in report.notes:
        print(f"lmpipe: note: {note}")
    jobs.print_skipped(report.skipped)
    if pooling_from.startswith("the "):
        print(f"lmpipe: --pooling {cfg.pooling}, from {pooling_from} (give --pooling to choose).")
    head = "new"
    if start_classes:
        keeps = (list(start_classes) == list(labels) and cfg.pooling == "cls"
                 and not cfg.from_scratch)
        head = ("the checkpoint's (its id2label is the data's classes)" if keeps else
                f"new (the checkpoint's classifier has {', '.join(start_classes)}"
                + (", not the data's classes in this order" if list(start_classes) != list(labels)
                   else f"; --pooling {cfg.pooling} or --from-scratch") + ")")
        print(f"lmpipe: classifier head: {head}.")
    counts = report.label_counts
    print(f"lmpipe: {sum(counts.values())} labelled examples: "
          + ", ".join(f"{label} {counts.get(label, 0)}" for label in labels))
    if schema_file == run_schema_path(cfg):
        print(f"lmpipe: classes {', '.join(labels)} (from {labels_from}); the schema is "
              f"{schema_file}: later runs in {cfg.run_dir} validate against it.")
    return Plan(cfg, labels, labels_from, schema_file, pretrained, pooling_from, head, info,
                teacher, tuning)


def cluster_plan(cfg: FinetuneConfig, given=frozenset()) -> Plan:
    """`lmpipe compile --job finetune`: the checks a compiled pipeline allows here. Its data and
    ML Metadata are the cluster's, so the classes come from --labels or --schema-file (not the
    train split), `--pretrained` is a cluster path whose layout is read with tf.io.gfile
    (resolve_pretrained.resolve_on_cluster), and the data is checked on the cluster, by the
    ExampleValidator, before anything is tokenized. Writes the run's schema to the run
    directory (tf.io.gfile). Raises ConfigError or PretrainedError."""
    from pipeline import resolve_pretrained as pretrained_lib

    if cfg.distill_from or cfg.unlabelled_text:
        raise ConfigError("--distill-from / --unlabelled-text: distillation is not compiled for "
                          "a cluster (its teacher is checked by loading it here); run it with "
                          "lmpipe finetune")
    if not (cfg.schema_file or cfg.labels):
        raise ConfigError("give --labels A,B,... (the classes in order) or --schema-file: a "
                          "compiled pipeline cannot read the train split's classes here")
    pretrained = pretrained_lib.resolve_on_cluster(cfg.pretrained)
    schema_file, labels, labels_from = choose_classes(cfg)
    if schema_file == run_schema_path(cfg):
        write_run_schema(cfg, labels)
    return Plan(cfg, labels, labels_from, schema_file, pretrained, "--pooling or lmpipe's default",
                "new" if not pretrained.needs_import else "chosen when the checkpoint is imported",
                {}, None)


def check_teacher(cfg: FinetuneConfig, labels, pretrained: Pretrained) -> str:
    """The teacher's Model artifact directory; refuses one with other classes than the data,
    warns when the student is not smaller (at least 90% of the teacher's parameters)."""
    from components.teacher_scores.executor import TeacherError
    from components.teacher_scores.executor import check_teacher as classes_match
    from pipeline import resolve_pretrained as pretrained_lib

    teacher = pretrained_lib.resolve_teacher(cfg.distill_from)
    saved_model = pretrained_lib.teacher_saved_model(teacher)
    try:
        classes_match(saved_model, labels)
    except TeacherError as e:
        raise ConfigError(f"--distill-from: {e}") from None
    teacher_size = pretrained_lib.saved_model_parameters(saved_model)
    student_size = pretrained_lib.encoder_parameters(pretrained)
    print(f"lmpipe: teacher {saved_model} ({teacher_size / 1e6:.2f}M parameters)"
          + (f", student encoder {student_size / 1e6:.2f}M" if student_size else ""))
    if student_size and student_size >= 0.9 * teacher_size:
        print(f"lmpipe: warning: the student ({student_size / 1e6:.2f}M parameters) is not "
              f"smaller than its teacher ({teacher_size / 1e6:.2f}M): distillation is for "
              "training a smaller model (give --pretrained a smaller encoder)", file=sys.stderr)
    return teacher


def build(plan: Plan, local: bool = True) -> tfx.dsl.Pipeline:
    if plan.schema_file == run_schema_path(plan.cfg):
        # The run's schema is written when the run starts (a --dry-run writes nothing).
        write_run_schema(plan.cfg, plan.labels)
    return create_pipeline(plan.cfg, plan.labels, plan.pretrained, plan.schema_file,
                           plan.teacher, local=local)


def summarize(plan: Plan) -> dict:
    """Eval metrics (the Evaluator's), test metrics (the pushed model on the test split;
    never used for blessing), the teacher's, blessing and push, from ML Metadata."""
    from pipeline import run_summary

    return {"input": plan.data, "pooling_from": plan.pooling_from,
            "classifier_head": plan.head,
            **run_summary.finetune_summary(plan.cfg, plan.labels, plan.pretrained)}


def _macro(metrics: dict, name: str) -> Optional[float]:
    """TFMA names macro-averaged metrics with a `macro_` prefix (None: not computed)."""
    for key, value in metrics.items():
        if key.startswith("macro_") and key.endswith(name) and "/" not in key:
            return value
    return None


def _teacher_lines(summary: dict, cfg: FinetuneConfig) -> list:
    teacher, number = summary.get("teacher"), jobs.number
    if not teacher:
        return []
    lines = [f"teacher           {teacher['model']} ({teacher['size_mb']:.1f} MB)",
             f"teacher eval acc. {number(teacher.get('eval_metrics', {}).get('accuracy'))}"
             f" (the student may be at most {cfg.max_drop_vs_teacher:.4f} below)"]
    if "test_metrics" in teacher:
        lines.append(f"teacher test acc. {number(teacher['test_metrics']['accuracy'])}")
    return lines


LONG_TEXT_WARNING = 0.05  # warn under "first" when more of a split's texts are longer


def long_text_lines(summary: dict, cfg: FinetuneConfig) -> list:
    """How long texts were read, with each split's count of texts longer than one window and
    of those not read whole; a WARNING when over LONG_TEXT_WARNING of a split's texts lose
    their end under "first"."""
    counts = summary.get("long_texts") or {}
    pieces = cfg.seq_length - (3 if cfg.text_pair_column else 2)
    mode = {"first": f"first (the first {pieces} pieces of each text)",
            "head-tail": f"head-tail (the first {head_length(cfg.seq_length - 2)} "
                         "and the last pieces of each text, one window)",
            "windows": f"windows (every window of {cfg.seq_length - 2} pieces overlapping by "
                       f"{cfg.stride}, at most {cfg.max_windows}; the {cfg.window_pooling} of "
                       "their logits)"}[cfg.long_text]
    lines = [f"long texts        {mode}"]
    if not counts:
        return lines
    lines.append("longer than one   " + ", ".join(
        f"{split} {c['longer_than_one_window']:,} of {c['texts']:,}"
        for split, c in counts.items()) + f" texts (over {pieces} pieces)")
    if cfg.long_text == "windows":
        lines.append("past max windows  " + ", ".join(
            f"{split} {c['truncated']:,}" for split, c in counts.items())
            + f" texts (their windows after the first {cfg.max_windows} are not read)")
    elif cfg.long_text == "first":
        over = [f"{split} {c['longer_than_one_window'] / c['texts']:.1%}"
                for split, c in counts.items()
                if c["texts"] and c["longer_than_one_window"] / c["texts"] > LONG_TEXT_WARNING]
        if over:
            lines.append(f"WARNING           texts longer than one window ({', '.join(over)}) "
                         f"are classified from their first {pieces} pieces only: try "
                         "--long-text windows (or head-tail), or a longer --seq-length")
    return lines


def print_summary(plan: Plan, summary: dict, path: str) -> None:
    cfg, labels, number = plan.cfg, plan.labels, jobs.number
    metrics = summary["eval_metrics"]
    absent = summary.get("eval_absent_classes") or []
    test = summary.get("test_metrics")
    print("\n".join([
        *jobs.heading_lines("lmpipe finetune", summary),
        *jobs.input_lines(summary, "row"),
        f"pretrained        {summary['pretrained_model']}"
        + (" (architecture only: --from-scratch)" if cfg.from_scratch else "")
        + (f", adapted to the train texts ({cfg.adapt_steps} MLM steps)"
           if cfg.adapt_steps else ""),
        f"classes           {', '.join(labels)}",
        f"pooling           {cfg.pooling} (from {plan.pooling_from})",
        f"classifier head   {plan.head}",
        "batching          " + ("length-aware (batches of similar lengths, each padded to its "
                                 f"longest rounded up to {cfg.pad_to_multiple_of})"
                                 if cfg.batching == "bucketed"
                                 else f"fixed (every example padded to {cfg.seq_length})"),
        f"eval accuracy     {number(metrics.get('accuracy'))}",
        f"eval macro F1     {number(_macro(metrics, 'f1_score'))}" if not absent else
        f"eval macro F1     {number(summary['eval_class_metrics']['macro_f1'])} over the "
        f"{len(labels) - len(absent)} classes present",
        *([f"absent from eval  {', '.join(absent)}: no eval example, so no recall or F1 "
           "(null in the summary)"] if absent else []),
        *([f"test accuracy     {number(test['accuracy'])}, macro F1 "
           f"{number(test['macro_f1'])} ({test['example_count']} examples; reported, never "
           "used for blessing)"
           + (f"; absent from test: {', '.join(test['absent_classes'])}"
              if test.get("absent_classes") else "")] if test else []),
        *long_text_lines(summary, cfg),
        *_teacher_lines(summary, cfg),
        *jobs.tuning_lines(summary),
        f"blessed           {summary['blessed']}",
        f"pushed model      {summary['pushed_model']}",
        f"wall time         {summary['wall_seconds']} s",
        f"summary           {path}",
    ]))
