"""The pretraining pipeline definition (pipeline/jobs/pretrain.py)."""

from pipeline.jobs import pretrain
from pipeline.config import PretrainConfig

CHECKPOINT = "tests/data/bert_parity/checkpoint"


def _accuracy_threshold(cfg):
    config = pretrain.eval_config(cfg)
    metric, = [m for spec in config.metrics_specs for m in spec.metrics
               if m.class_name == "MaskedLMAccuracy"]
    return metric.per_slice_thresholds[0].threshold.change_threshold


def test_continued_pretraining_must_beat_its_starting_point():
    learned = _accuracy_threshold(PretrainConfig(corpus_dir="data/corpus", max_regression=0.01))
    assert learned.absolute.value == -0.01  # at most 0.01 below the latest blessed model
    adapted = _accuracy_threshold(PretrainConfig(corpus_dir="data/corpus", init_from=CHECKPOINT))
    assert 0 < adapted.absolute.value < 1e-6  # TFMA passes diff >= value: strictly better
    assert adapted.direction == learned.direction  # higher is better


def test_continued_pretraining_imports_instead_of_learning_a_vocabulary():
    def ids(cfg):
        return [c.id for c in pretrain.create_pipeline(cfg).components]

    learned = ids(PretrainConfig(corpus_dir="data/corpus"))
    adapted = ids(PretrainConfig(corpus_dir="data/corpus", init_from=CHECKPOINT))
    assert "WordPieceVocabGen" in learned and "WordPieceVocabGen" not in adapted
    assert {"checkpoint", "CheckpointImport"} <= set(adapted)
    assert "latest_blessed_model_resolver" in learned
    assert "latest_blessed_model_resolver" not in adapted  # the baseline is the checkpoint
