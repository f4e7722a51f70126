"""Bad fine-tuning input fails before any pipeline work: clear message, non-zero exit, nothing
pushed (and so no earlier pushed model touched)."""

import json
import os

import pytest

from pipeline import cli

HEADER = "label\ttext\n"
GOOD_ROWS = "positive\tA fine film.\nnegative\tA dull film.\npositive\tLovely.\n"


@pytest.fixture()
def pretrained(tmp_path):
    """A pretrained-model directory as lmpipe pretrain writes it (config and vocabulary only;
    these checks fail before any weights are read)."""
    encoder = tmp_path / "pretrained" / "encoder"
    encoder.mkdir(parents=True)
    (encoder / "vocab.txt").write_text("".join(f"t{i}\n" for i in range(20)))
    (encoder / "config.json").write_text(json.dumps({"config": {"vocabulary_size": 20}}))
    return str(tmp_path / "pretrained")


def run_cli(tmp_path, data, pretrained, *extra):
    run_dir = tmp_path / "run"
    code = cli.main(["finetune", "--data", str(data), "--pretrained", pretrained,
                     "--run-dir", str(run_dir), *extra])
    return code, run_dir


def write(tmp_path, name, content, mode="w"):
    path = tmp_path / name
    if mode == "wb":
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def assert_failed_cleanly(code, run_dir, capsys, *expected):
    err = capsys.readouterr().err
    assert code == cli.EXIT_BAD_INPUT, err
    for text in expected:
        assert text in err, err
    assert "nothing was pushed" in err
    assert not os.path.exists(run_dir)


def test_non_utf8_bytes(tmp_path, pretrained, capsys):
    data = write(tmp_path, "reviews.tsv", (HEADER + GOOD_ROWS).encode() + b"negative\tna\xefve\n",
                 mode="wb")
    code, run_dir = run_cli(tmp_path, data, pretrained)
    assert_failed_cleanly(code, run_dir, capsys, "reviews.tsv", "UTF-8")


def test_label_column_with_one_class(tmp_path, pretrained, capsys):
    data = write(tmp_path, "reviews.tsv", HEADER + "positive\tGood.\npositive\tGreat.\n")
    code, run_dir = run_cli(tmp_path, data, pretrained)
    assert_failed_cleanly(code, run_dir, capsys, "one class", "positive")


def test_labels_that_miss_a_class_of_the_data(tmp_path, pretrained, capsys):
    data = write(tmp_path, "reviews.tsv", HEADER + GOOD_ROWS + "neutral\tMeh.\n")
    code, run_dir = run_cli(tmp_path, data, pretrained, "--labels", "negative,positive")
    assert_failed_cleanly(code, run_dir, capsys, "reviews.tsv", "line 5", "'neutral'",
                          "not one of negative, positive (--labels)")


def test_label_not_in_a_schema_file(tmp_path, pretrained, capsys):
    data = write(tmp_path, "reviews.tsv", HEADER + GOOD_ROWS + "neutral\tMeh.\n")
    code, run_dir = run_cli(tmp_path, data, pretrained, "--schema-file", "schemas/labelled.pbtxt")
    assert_failed_cleanly(code, run_dir, capsys, "reviews.tsv", "line 5", "'neutral'",
                          "labelled.pbtxt")


def test_a_class_new_to_the_run_directory_is_refused(tmp_path, pretrained, capsys):
    """The first run wrote the classes of its train split into the run directory; a retrain
    whose data has another class is stopped before any work."""
    from pipeline.jobs import text_classification as finetune
    from pipeline.config import FinetuneConfig

    cfg = FinetuneConfig(data="x", pretrained=pretrained, run_dir=str(tmp_path / "run"))
    schema = finetune.write_run_schema(cfg, ["negative", "positive"])
    assert finetune.schema_labels(schema) == ["negative", "positive"]
    data = write(tmp_path, "reviews.tsv", HEADER + GOOD_ROWS + "neutral\tMeh.\n")
    code, run_dir = run_cli(tmp_path, data, pretrained)
    err = capsys.readouterr().err
    assert code == cli.EXIT_BAD_INPUT and "'neutral'" in err and schema in err
    assert os.listdir(run_dir) == [finetune.RUN_SCHEMA]


def test_labels_with_a_schema_file_or_one_class(tmp_path, pretrained, capsys):
    data = write(tmp_path, "reviews.tsv", HEADER + GOOD_ROWS)
    code, run_dir = run_cli(tmp_path, data, pretrained, "--labels", "a,b", "--schema-file", "s")
    assert_failed_cleanly(code, run_dir, capsys, "--labels or --schema-file")
    code, run_dir = run_cli(tmp_path, data, pretrained, "--labels", "positive")
    assert_failed_cleanly(code, run_dir, capsys, "two or more distinct")


def test_missing_column(tmp_path, pretrained, capsys):
    data = write(tmp_path, "reviews.tsv", HEADER + GOOD_ROWS)
    code, run_dir = run_cli(tmp_path, data, pretrained, "--text-column", "review")
    assert_failed_cleanly(code, run_dir, capsys, "reviews.tsv", "review", "--text-column")


def test_empty_text(tmp_path, pretrained, capsys):
    data = write(tmp_path, "reviews.tsv", HEADER + GOOD_ROWS + "negative\t   \n")
    code, run_dir = run_cli(tmp_path, data, pretrained)
    assert_failed_cleanly(code, run_dir, capsys, "reviews.tsv", "line 5")


def test_pretrained_run_that_does_not_exist(tmp_path, capsys):
    data = write(tmp_path, "reviews.tsv", HEADER + GOOD_ROWS)
    code, run_dir = run_cli(tmp_path, data, str(tmp_path / "no-such-run"))
    assert_failed_cleanly(code, run_dir, capsys, "no-such-run", "does not exist")


def test_pretrained_vocabulary_that_does_not_match(tmp_path, pretrained, capsys):
    with open(os.path.join(pretrained, "encoder", "vocab.txt"), "a") as f:
        f.write("extra\n")
    data = write(tmp_path, "reviews.tsv", HEADER + GOOD_ROWS)
    code, run_dir = run_cli(tmp_path, data, pretrained)
    assert_failed_cleanly(code, run_dir, capsys, "vocabulary mismatch", "21 tokens",
                          "20 token embeddings")


def test_eval_split_with_no_examples(tmp_path, pretrained, capsys):
    splits = tmp_path / "splits"
    splits.mkdir()
    write(splits, "train.tsv", HEADER + GOOD_ROWS)
    write(splits, "eval.tsv", HEADER)
    code, run_dir = run_cli(tmp_path, splits, pretrained)
    assert_failed_cleanly(code, run_dir, capsys, "eval.tsv")


def test_pretraining_run_without_a_blessed_model(tmp_path, capsys):
    """A run directory whose ML Metadata has no blessed model (here: an empty store)."""
    import ml_metadata as mlmd
    from tfx import v1 as tfx

    run = tmp_path / "pretrain-run"
    run.mkdir()
    mlmd.MetadataStore(tfx.orchestration.metadata.sqlite_metadata_connection_config(
        str(run / "metadata.sqlite")))
    data = write(tmp_path, "reviews.tsv", HEADER + GOOD_ROWS)
    code, run_dir = run_cli(tmp_path, data, str(run))
    assert_failed_cleanly(code, run_dir, capsys, "no blessed model")
