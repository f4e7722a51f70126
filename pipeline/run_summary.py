"""A run's summary, read back out of its ML Metadata: vocabulary, metrics, why a model was not
blessed, what was pushed, the training summary; and the summary file the CLI writes."""

import glob
import json
import math
import os
import re
from typing import Optional

import ml_metadata as mlmd
from absl import logging
from tfx import v1 as tfx

from components import split_counts
from components.types import ByteLevelBPEVocab, WordPieceVocab
from models.core import features


def _latest(store: mlmd.MetadataStore, type_name: str):
    artifacts = store.get_artifacts_by_type(type_name)
    return max(artifacts, key=lambda a: a.id) if artifacts else None


def _custom(artifact, name: str):
    if artifact is None or name not in artifact.custom_properties:
        return None
    value = artifact.custom_properties[name]
    return value.WhichOneof("value") and getattr(value, value.WhichOneof("value"))


CANDIDATE, BASELINE = "candidate", "baseline"


def eval_result(uri: str, model: str = CANDIDATE):
    """TFMA's EvalResult of `model` (CANDIDATE: the model being evaluated; BASELINE: the model
    it was compared with) in the Evaluator output at `uri`.

    The model is always asked for by its name in the run's EvalConfig: TFX's Evaluator names
    the models "candidate" and "baseline" only when there is a baseline, and TFMA, asked for no
    name, then mixes both models' metrics and finds no plots ("Fail to find plots for model
    name: None"). Raises ValueError for BASELINE when the run had none."""
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis.writers import eval_config_writer

    eval_config = eval_config_writer.load_eval_run(uri)[0]
    specs = [spec for spec in eval_config.model_specs
             if spec.is_baseline == (model == BASELINE)] if eval_config else []
    if not specs:
        if model == BASELINE:
            raise ValueError(f"the evaluation at {uri} had no baseline model")
        return tfma.load_eval_result(uri)
    return tfma.load_eval_result(uri, model_name=specs[0].name or None)


def _eval_metrics(uri: str, labels=None, model: str = CANDIDATE) -> dict:
    """Overall-slice metrics by name; per-class ones as `name/<class>` (TFMA's `classId:N`).
    `model`: CANDIDATE, or BASELINE for the model the candidate was compared with. A metric
    TFMA could not compute (NaN: e.g. recall of a class absent from the split) is None."""
    result = eval_result(uri, model)
    metrics = {}
    for slice_key, slice_metrics in result.slicing_metrics:
        if slice_key:  # overall slice only
            continue
        for per_output in slice_metrics.values():
            for sub_key, per_sub_key in per_output.items():
                suffix = ""
                if sub_key:  # "classId:3", or "classId:3 topK:1" for arg-max metrics
                    match = re.match(r"classId:(\d+)", sub_key)
                    class_id = int(match.group(1)) if match else None
                    suffix = "/" + (labels[class_id] if labels and class_id is not None else sub_key)
                for name, value in per_sub_key.items():
                    if "doubleValue" in value:
                        # TFMA prefixes aggregates with their options' text proto.
                        name = name.replace("macro_average: true\n_", "macro_")
                        number = float(value["doubleValue"])  # may be the string "NaN"
                        metrics[name + suffix] = None if math.isnan(number) else number
    return metrics


def _confusion_matrix(uri: str, labels) -> dict:
    """{actual class: {predicted class: count}} of the candidate model on the overall slice,
    from TFMA's plot."""
    matrix = {actual: {predicted: 0 for predicted in labels} for actual in labels}
    for slice_key, plots in eval_result(uri).plots:
        if slice_key:
            continue
        for per_output in plots.values():
            for per_sub_key in per_output.values():
                plot = per_sub_key.get("multiClassConfusionMatrixAtThresholds", {})
                for table in plot.get("matrices", [])[:1]:
                    for entry in table.get("entries", []):
                        actual = labels[int(entry.get("actualClassId", 0))]
                        predicted = labels[int(entry.get("predictedClassId", 0))]
                        matrix[actual][predicted] += int(entry.get("numWeightedExamples", 0))
    return matrix


def _slice_accuracy(uri: str) -> dict:
    """Accuracy and example count of the candidate model per text-length bucket slice."""
    slices = {}
    for slice_key, slice_metrics in eval_result(uri).slicing_metrics:
        if not slice_key:
            continue
        name = ",".join(f"{k}={v}" for k, v in slice_key)
        overall = slice_metrics.get("", {}).get("", {})
        slices[name] = {k: overall[k]["doubleValue"] for k in ("accuracy", "example_count")
                        if k in overall and "doubleValue" in overall[k]}
    return dict(sorted(slices.items()))


def blessing_failures(uri: str, baseline: str = "the latest blessed model") -> list:
    """Why TFMA did not bless: one line per failed threshold (empty when blessed).
    `baseline`: what the candidate was compared with, in words."""
    import tensorflow_model_analysis as tfma

    result = tfma.load_validation_result(uri)
    reasons = []
    for per_slice in result.metric_validations_per_slice:
        for failure in per_slice.failures:
            key, threshold = failure.metric_key, failure.metric_threshold
            value = failure.metric_value.double_value.value
            if threshold.HasField("value_threshold"):
                floor = threshold.value_threshold.lower_bound.value
                reasons.append(f"{key.name} {value:.4f} is below the required {floor:.4f}")
            else:
                allowed = threshold.change_threshold.absolute.value
                if allowed > 0:  # continued pretraining: the baseline is its starting point
                    reasons.append(f"{key.name} changed by {value:+.4f} against the starting "
                                   "checkpoint; it must improve on it")
                else:
                    reasons.append(f"{key.name} changed by {value:+.4f} against {baseline} "
                                   f"(at most {allowed:+.4f} allowed)")
    if not result.validation_ok and not reasons:
        reasons.append(str(result.missing_thresholds or result.validation_details).strip())
    return reasons


def _store(cfg) -> mlmd.MetadataStore:
    return mlmd.MetadataStore(tfx.orchestration.metadata.sqlite_metadata_connection_config(
        os.path.abspath(cfg.metadata_path)))


def pushed_model(cfg) -> Optional[str]:
    """Where the run's latest push went (None if it pushed nothing), straight from ML Metadata,
    for an error message after a push."""
    try:
        pushed = _latest(_store(cfg), "PushedModel")
    except Exception:  # noqa: BLE001  (no store yet)
        return None
    return _custom(pushed, "pushed_destination") if _custom(pushed, "pushed") else None


def _common_summary(store, cfg, labels=None) -> dict:
    """Run layout, metrics, blessing and push, from ML Metadata."""
    evaluation = _latest(store, "ModelEvaluation")
    blessing = _latest(store, "ModelBlessing")
    pushed = _latest(store, "PushedModel")
    is_pushed = bool(_custom(pushed, "pushed"))
    summary = {
        "pipeline_root": os.path.abspath(cfg.pipeline_root),
        "metadata_path": os.path.abspath(cfg.metadata_path),
        "eval_metrics": _eval_metrics(evaluation.uri, labels) if evaluation else {},
        "blessed": bool(_custom(blessing, "blessed")),
        "not_blessed_because": blessing_failures(
            evaluation.uri, "its teacher" if getattr(cfg, "distill_from", None)
            else "the latest blessed model") if evaluation else [],
        "pushed": is_pushed,
        "pushed_model": _custom(pushed, "pushed_destination") if is_pushed else None,
        "config": json.loads(cfg.to_json()),
    }
    training = _train_summary(store)
    if training:
        summary["training"] = training
    tuning = tuning_summary(store, cfg)
    if tuning:
        summary["tuning"] = tuning
    return summary


def tuning_summary(store, cfg) -> Optional[dict]:
    """`--tune`: the Tuner's search (search.json), every trial (tuner_results.json), the plot
    and TensorBoard directory, and whether the search was cached (the same data and space
    searched before, so not run again); `--hyperparameters-from`: where the settings came
    from. None for a run with neither."""
    from components.tuner import results

    if getattr(cfg, "hyperparameters_from", None):
        train = _train_summary(store) or {}
        return {"hyperparameters_from": cfg.hyperparameters_from,
                "hyperparameters": train.get("hyperparameters", {})}
    if not getattr(cfg, "tune", None):
        return None
    artifact = latest_output(store, "Tuner", "TunerResults")
    if artifact is None:
        return None
    with open(os.path.join(artifact.uri, results.SEARCH_FILE)) as f:
        search = json.load(f)
    with open(os.path.join(artifact.uri, results.RESULTS_FILE)) as f:
        trials = json.load(f)
    executions = [e for e in store.get_executions()
                  if store.get_execution_types_by_id([e.type_id])[0].name.endswith("Tuner")]
    latest = max(executions, key=lambda e: e.id) if executions else None
    return {"search": search, "trials": trials,
            "cached": bool(latest and latest.last_known_state == mlmd.proto.Execution.CACHED),
            "plot": os.path.join(artifact.uri, results.PLOT_FILE),
            "tensorboard": os.path.join(artifact.uri, "tensorboard"),
            "tuner_results": artifact.uri}


def finetune_summary(cfg, labels, pretrained) -> dict:
    store = _store(cfg)
    summary = _common_summary(store, cfg, labels)
    summary.update(labels=list(labels), pretrained_model=pretrained.model_uri)
    evaluation = _latest(store, "ModelEvaluation")
    if evaluation:
        summary["confusion_matrix"] = _confusion_matrix(evaluation.uri, labels)
        summary["slices"] = _slice_accuracy(evaluation.uri)
        # Accuracy and F1 by class from the confusion matrix, as test_metrics computes them: a
        # class with no eval example is absent (F1 None, not 0; macro-F1 over the classes
        # present), where TFMA's macro average is undefined (None) as soon as one is absent.
        by_class = confusion_matrix_metrics(summary["confusion_matrix"], labels)
        summary["eval_class_metrics"] = by_class
        summary["eval_absent_classes"] = by_class["absent_classes"]
        # Per class and macro-averaged over the classes present, from the confusion matrix
        # (finetune.eval_config says why not TFMA's).
        metrics = summary["eval_metrics"]
        metrics.update(macro_precision=by_class["macro_precision"],
                       macro_recall=by_class["macro_recall"], macro_f1_score=by_class["macro_f1"])
        for label in labels:
            metrics[f"precision/{label}"] = by_class["precision"][label]
            metrics[f"recall/{label}"] = by_class["recall"][label]
            metrics[f"f1_score/{label}"] = by_class["f1"][label]
    examples = latest_output(store, "FileBasedExampleGen", "Examples")
    summary["input_splits"] = split_counts.read_split_counts(examples.uri) if examples else {}
    transformed = latest_output(store, "Tokenize", "Examples")
    if transformed:
        summary["long_texts"] = long_text_counts(
            transformed.uri, cfg.seq_length - (3 if cfg.text_pair_column else 2))
    test_files = glob.glob(os.path.join(examples.uri, "Split-test", "*")) if examples else []
    if summary["pushed"] and test_files:
        summary["test_metrics"] = test_metrics(summary["pushed_model"], test_files, labels)
    teacher = latest_output(store, "TeacherScores", "Model") if cfg.distill_from else None
    if teacher:
        summary["teacher"] = _teacher_summary(teacher, evaluation, test_files, labels)
    return summary


def long_text_counts(transformed_uri: str, window_pieces: int) -> dict:
    """Per split of the Tokenize step's examples: `texts`, `longer_than_one_window` (more than
    `window_pieces`: seq_length - 2, for a pair seq_length - 3), `truncated` (some of the text
    was not read: cut under "first"/"head-tail", past max_windows under "windows") and
    `windows` (read, in all). {} for examples transformed before these features existed."""
    import tensorflow as tf

    spec = {name: tf.io.FixedLenFeature([], tf.int64, default_value=-1)
            for name in (features.TEXT_LENGTH, features.WINDOWS, features.TRUNCATED)}
    counts = {}
    for directory in sorted(glob.glob(os.path.join(transformed_uri, "Split-*"))):
        files = glob.glob(os.path.join(directory, "*"))
        totals = {"texts": 0, "longer_than_one_window": 0, "truncated": 0, "windows": 0}
        for batch in tf.data.TFRecordDataset(files, compression_type="GZIP").batch(1024):
            parsed = tf.io.parse_example(batch, spec)
            length = parsed[features.TEXT_LENGTH].numpy()
            if (length < 0).any():
                return {}
            totals["texts"] += len(length)
            totals["longer_than_one_window"] += int((length > window_pieces).sum())
            totals["truncated"] += int(parsed[features.TRUNCATED].numpy().sum())
            totals["windows"] += int(parsed[features.WINDOWS].numpy().sum())
        counts[os.path.basename(directory)[len("Split-"):]] = totals
    return counts


def _teacher_summary(teacher, evaluation, test_files, labels) -> dict:
    """The teacher of a distillation: its eval metrics (the Evaluator's baseline), test metrics
    and size beside the student's."""
    from tfx.utils import path_utils

    saved_model = path_utils.serving_model_path(teacher.uri)
    out = {"model": saved_model, "size_mb": size_mb(saved_model)}
    if evaluation:
        out["eval_metrics"] = _eval_metrics(evaluation.uri, labels, model=BASELINE)
    if test_files:
        out["test_metrics"] = test_metrics(saved_model, test_files, labels)
    return out


def size_mb(directory: str) -> float:
    """Bytes on disk of everything under `directory`, in MB."""
    return sum(os.path.getsize(os.path.join(root, name))
               for root, _, files in os.walk(directory) for name in files) / 1e6


def latest_output(store, producer: str, type_name: str):
    """The newest `type_name` artifact output by an execution of a `producer` component."""
    candidates = []
    for artifact in store.get_artifacts_by_type(type_name):
        for event in store.get_events_by_artifact_ids([artifact.id]):
            if event.type != mlmd.proto.Event.OUTPUT:
                continue
            execution, = store.get_executions_by_id([event.execution_id])
            kind, = store.get_execution_types_by_id([execution.type_id])
            if kind.name.endswith(producer):
                candidates.append(artifact)
    return max(candidates, key=lambda a: a.id) if candidates else None


def test_metrics(model_dir: str, files, labels) -> dict:
    """The pushed classifier on the test split, once, after the run (never used for blessing):
    accuracy, macro-F1, per-class F1 and the example count."""
    import numpy as np
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the serving graph's tokenizer ops)

    from models.core import features

    predict = tf.saved_model.load(model_dir).signatures[features.PREDICT_EXAMPLES_SIGNATURE]
    index = {label: i for i, label in enumerate(labels)}
    actual, predicted = [], []
    for batch in tf.data.TFRecordDataset(files, compression_type="GZIP").batch(256):
        parsed = tf.io.parse_example(batch, {features.LABEL: tf.io.FixedLenFeature([], tf.string)})
        actual += [index[label.decode()] for label in parsed[features.LABEL].numpy()]
        predicted += np.argmax(predict(examples=batch)["probabilities"].numpy(), axis=1).tolist()
    return classification_metrics(actual, predicted, labels)


def confusion_matrix_metrics(matrix: dict, labels) -> dict:
    """`classification_metrics` of a confusion matrix `{actual: {predicted: count}}`.

    >>> confusion_matrix_metrics({"a": {"a": 2, "b": 1}, "b": {"a": 0, "b": 0}}, ["a", "b"])["f1"]
    {'a': 0.8, 'b': None}
    """
    actual, predicted = [], []
    for i, truth in enumerate(labels):
        for j, guess in enumerate(labels):
            count = int(matrix.get(truth, {}).get(guess, 0))
            actual += [i] * count
            predicted += [j] * count
    return classification_metrics(actual, predicted, labels)


def classification_metrics(actual, predicted, labels) -> dict:
    """Accuracy, precision, recall and F1 per class and macro-averaged, and the example count of
    class ids `predicted` against `actual` (`precision`, `recall`, `f1`: {class: value}).

    A class with no example in `actual` is absent: its recall and F1 are None (not 0), it is
    listed in `absent_classes`, and the macro averages are over the classes present (None if
    none is). Precision is None for a class never predicted, except that a present class never
    predicted counts 0 in the macro average (scikit-learn's zero_division=0).

    >>> m = classification_metrics([0, 0, 1], [0, 2, 1], ["a", "b", "c"])
    >>> {k: v if v is None else round(v, 4) for k, v in m["f1"].items()}
    {'a': 0.6667, 'b': 1.0, 'c': None}
    >>> m["absent_classes"], round(m["macro_f1"], 4), m["macro_precision"], m["macro_recall"]
    (['c'], 0.8333, 1.0, 0.75)
    >>> m["precision"], m["recall"]
    ({'a': 1.0, 'b': 1.0, 'c': 0.0}, {'a': 0.5, 'b': 1.0, 'c': None})
    """
    import numpy as np

    actual, predicted = np.array(actual), np.array(predicted)
    f1, precision, recall, macro_precision = {}, {}, {}, []
    for i, label in enumerate(labels):
        true_pos = float(np.sum((predicted == i) & (actual == i)))
        guessed, present = int(np.sum(predicted == i)), int(np.sum(actual == i))
        precision[label] = true_pos / guessed if guessed else None
        recall[label] = true_pos / present if present else None
        f1[label] = 2 * true_pos / (guessed + present) if present else None
        if present:
            macro_precision.append(precision[label] or 0.0)
    present = [label for label in labels if recall[label] is not None]

    def mean(values):
        return float(np.mean(values)) if values else None

    return {"accuracy": float(np.mean(actual == predicted)) if len(actual) else None,
            "macro_f1": mean([f1[c] for c in present]), "macro_precision": mean(macro_precision),
            "macro_recall": mean([recall[c] for c in present]), "f1": f1,
            "precision": precision, "recall": recall,
            "absent_classes": [label for label in labels if recall[label] is None],
            "example_count": int(len(actual))}


def pretrain_summary(cfg) -> dict:
    """The latest run's vocabulary, metrics, blessing and pushed model, from ML Metadata."""
    store = _store(cfg)
    vocab = _latest(store, WordPieceVocab.TYPE_NAME)
    masked = _latest(store, "Examples")  # the masker's output is the newest Examples
    stats_path = os.path.join(masked.uri, "mlm_stats.json") if masked else None
    mlm_stats = {}
    if stats_path and os.path.exists(stats_path):
        with open(stats_path) as f:
            mlm_stats = json.load(f)
    summary = _common_summary(store, cfg)
    examples = latest_output(store, "FileBasedExampleGen", "Examples")
    summary.update(
        input_splits=split_counts.read_split_counts(examples.uri) if examples else {},
        vocab_size=_custom(vocab, "vocab_size"),
        majority_token_accuracy=mlm_stats.get("eval", {}).get("majority_accuracy"))
    evaluation = _latest(store, "ModelEvaluation")
    if cfg.init_from and evaluation:
        # The Evaluator scored the starting checkpoint on the same masked eval data.
        summary["start_eval_metrics"] = _eval_metrics(evaluation.uri, model=BASELINE)
        summary["init_from"] = os.path.abspath(cfg.init_from)
    return summary


def causal_pretrain_summary(cfg) -> dict:
    """The latest causal run's vocabulary, blocks, metrics, blessing and push, from ML
    Metadata."""
    store = _store(cfg)
    vocab = _latest(store, ByteLevelBPEVocab.TYPE_NAME)
    summary = _common_summary(store, cfg)
    examples = latest_output(store, "FileBasedExampleGen", "Examples")
    blocks = latest_output(store, "Tokenize", "Examples")
    summary.update(
        input_splits=split_counts.read_split_counts(examples.uri) if examples else {},
        vocab_size=_custom(vocab, "vocab_size"),
        blocks=_count_records(os.path.join(blocks.uri, "Split-train", "*")) if blocks else None)
    evaluation = _latest(store, "ModelEvaluation")
    if cfg.init_from and evaluation:
        summary["start_eval_metrics"] = _eval_metrics(evaluation.uri, model=BASELINE)
        summary["init_from"] = os.path.abspath(cfg.init_from)
    return summary


def _count_records(pattern: str) -> int:
    import tensorflow as tf

    files = glob.glob(pattern)
    return int(sum(1 for _ in tf.data.TFRecordDataset(files, "GZIP"))) if files else 0


def import_summary(cfg) -> dict:
    """What `lmpipe import` made and pushed, from ML Metadata."""
    store = _store(cfg)
    model = _latest(store, "Model")
    pushed = _latest(store, "PushedModel")
    is_pushed = bool(_custom(pushed, "pushed"))
    return {
        "checkpoint": os.path.abspath(cfg.checkpoint),
        "checkpoint_format": _custom(model, "checkpoint_format"),
        "pretrained_mlm_head": bool(_custom(model, "pretrained_mlm_head")),
        "model": model.uri if model else None,
        "metadata_path": os.path.abspath(cfg.metadata_path),
        "pushed": is_pushed,
        "pushed_model": _custom(pushed, "pushed_destination") if is_pushed else None,
        "config": json.loads(cfg.to_json()),
    }


def _train_summary(store) -> Optional[dict]:
    run = _latest(store, "ModelRun")
    path = os.path.join(run.uri, "train_summary.json") if run else None
    if path and os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return None


def write_summary(path: str, key: str, summary: dict) -> None:
    """Merges `{key: summary}` into the JSON file at `path` (other jobs' keys are kept)."""
    existing = {}
    if os.path.exists(path):
        with open(path) as f:
            existing = json.load(f)
    existing[key] = summary
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(existing, f, indent=2, sort_keys=True)
    logging.info("Wrote %s", path)


