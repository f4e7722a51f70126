"""The fine-tuning pipeline definition's pieces: classes from the schema, the TFMA config."""

from pipeline import text_classification as finetune
from pipeline.config import FinetuneConfig


def test_schema_labels_come_from_the_label_domain():
    assert finetune.schema_labels(finetune.LABELLED_SCHEMA) == ["negative", "positive"]


def test_eval_config_has_auc_only_for_two_classes():
    cfg = FinetuneConfig(data="x.tsv", pretrained="runs/p")
    names = lambda c: {m.class_name for s in c.metrics_specs for m in s.metrics}  # noqa: E731
    assert "AUC" in names(finetune.eval_config(cfg, ["a", "b"]))
    assert "AUC" not in names(finetune.eval_config(cfg, ["a", "b", "c"]))
