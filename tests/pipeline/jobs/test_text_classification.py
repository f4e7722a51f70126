"""The fine-tuning pipeline definition's pieces: classes from the schema, the TFMA config."""

from pipeline.jobs import text_classification as finetune
from pipeline.config import FinetuneConfig


def test_schema_labels_come_from_the_label_domain():
    assert finetune.schema_labels(finetune.LABELLED_SCHEMA) == ["negative", "positive"]


def test_eval_config_has_auc_only_for_two_classes():
    cfg = FinetuneConfig(data="x.tsv", pretrained="runs/p")
    names = lambda c: {m.class_name for s in c.metrics_specs for m in s.metrics}  # noqa: E731
    assert "AUC" in names(finetune.eval_config(cfg, ["a", "b"]))
    assert "AUC" not in names(finetune.eval_config(cfg, ["a", "b", "c"]))


def test_the_summary_warns_when_first_cuts_many_texts():
    from pipeline.config import FinetuneConfig

    counts = {"eval": {"texts": 100, "longer_than_one_window": 4, "truncated": 4, "windows": 100},
              "train": {"texts": 800, "longer_than_one_window": 80, "truncated": 80,
                        "windows": 800}}
    first = FinetuneConfig(data="d", pretrained="p", seq_length=64)
    lines = finetune.long_text_lines({"long_texts": counts}, first)
    assert lines[0] == "long texts        first (the first 62 pieces of each text)"
    assert lines[1] == ("longer than one   eval 4 of 100, train 80 of 800 texts (over 62 "
                        "pieces)")
    warning, = [line for line in lines if line.startswith("WARNING")]
    assert "(train 10.0%)" in warning and "--long-text windows" in warning  # eval's 4% is not
    windows = FinetuneConfig(data="d", pretrained="p", seq_length=64, long_text="windows")
    lines = finetune.long_text_lines({"long_texts": counts}, windows)
    assert not [line for line in lines if line.startswith("WARNING")]
    assert lines[-1] == ("past max windows  eval 4, train 80 texts (their windows after the "
                         "first 8 are not read)")
