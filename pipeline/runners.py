"""Runs a pipeline locally (LocalDagRunner, SQLite ML Metadata, Beam DirectRunner) and reads
what it produced back out of ML Metadata."""

import json
import os
from typing import Optional

import ml_metadata as mlmd
from absl import logging
from tfx import v1 as tfx



def run_local(pipeline) -> None:
    tfx.orchestration.LocalDagRunner().run(pipeline)


def _latest(store: mlmd.MetadataStore, type_name: str):
    artifacts = store.get_artifacts_by_type(type_name)
    return max(artifacts, key=lambda a: a.id) if artifacts else None


def _custom(artifact, name: str):
    if artifact is None or name not in artifact.custom_properties:
        return None
    value = artifact.custom_properties[name]
    return value.WhichOneof("value") and getattr(value, value.WhichOneof("value"))


def _eval_metrics(uri: str, labels=None) -> dict:
    """Overall-slice metrics by name; per-class ones as `name/<class>` (TFMA's `classId:N`)."""
    import tensorflow_model_analysis as tfma

    result = tfma.load_eval_result(uri)
    metrics = {}
    for slice_key, slice_metrics in result.slicing_metrics:
        if slice_key:  # overall slice only
            continue
        for per_output in slice_metrics.values():
            for sub_key, per_sub_key in per_output.items():
                suffix = ""
                if sub_key:
                    class_id = int(sub_key.split(":")[-1]) if sub_key.startswith("classId") else None
                    suffix = "/" + (labels[class_id] if labels and class_id is not None else sub_key)
                for name, value in per_sub_key.items():
                    if "doubleValue" in value:
                        metrics[name + suffix] = value["doubleValue"]
    return metrics


def _store(cfg) -> mlmd.MetadataStore:
    return mlmd.MetadataStore(tfx.orchestration.metadata.sqlite_metadata_connection_config(
        os.path.abspath(cfg.metadata_path)))


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
        "pushed": is_pushed,
        "pushed_model": _custom(pushed, "pushed_destination") if is_pushed else None,
        "config": json.loads(cfg.to_json()),
    }
    training = _train_summary(store)
    if training:
        summary["training"] = training
    return summary


def finetune_summary(cfg, labels, pretrained) -> dict:
    summary = _common_summary(_store(cfg), cfg, labels)
    summary.update(labels=list(labels), pretrained_model=pretrained.model_uri)
    return summary


def pretrain_summary(cfg) -> dict:
    """The latest run's vocabulary, metrics, blessing and pushed model, from ML Metadata."""
    store = _store(cfg)
    vocab = _latest(store, "WordPieceVocab")
    masked = _latest(store, "Examples")  # the masker's output is the newest Examples
    stats_path = os.path.join(masked.uri, "mlm_stats.json") if masked else None
    mlm_stats = {}
    if stats_path and os.path.exists(stats_path):
        with open(stats_path) as f:
            mlm_stats = json.load(f)
    summary = _common_summary(store, cfg)
    summary.update(
        vocab_size=vocab.properties["vocab_size"].int_value if vocab else None,
        majority_token_accuracy=mlm_stats.get("eval", {}).get("majority_accuracy"))
    return summary


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
