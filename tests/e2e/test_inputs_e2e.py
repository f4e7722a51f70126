"""Labelled data as users have it (issue 21), end to end on the committed tiny checkpoint: integer
class names, a class present in train but absent from the eval split, a pandas-written TSV, and
texts longer than one window read whole (`--long-text windows`, issue 24). One fine-tuning run;
its summary, its printed report and `lmpipe predict` on the pushed model."""

import json
import os

import numpy as np
import pytest

from tests.conftest import REPO, run_lmpipe

pytestmark = pytest.mark.e2e

CHECKPOINT = os.path.join(REPO, "tests", "data", "bert_parity", "checkpoint")
CLASSES = ["0", "1", "2", "10"]  # numeric order: class k is column k
CUES = {"0": "zero", "1": "one", "2": "two", "10": "ten"}
SENTENCES = ["The museum guard measured the long winter.", "The council forgot an empty warehouse.",
             "A quiet farmer announced a box of letters.", "Our neighbour painted the old bridge."]


# Windows of 30 pieces (--seq-length 32) overlapping by 7, at most 3 (76 pieces): copy 1 of
# every six is 3 sentences long (41 to 47 pieces: 2 windows), copy 2 is 16 (over 200: past the
# 3 windows).
LONG_FLAGS = ["--long-text", "windows", "--max-windows", "3"]
SENTENCES_IN_COPY = {1: 3, 2: 16}


def _text(label, i):
    count = SENTENCES_IN_COPY.get(i % 6, 1)
    return " ".join([CUES[label], CUES[label]]
                    + [SENTENCES[(i + k) % len(SENTENCES)] for k in range(count)])


def _rows(classes, copies, quoted=False):
    rows = []
    for i in range(copies):
        for label in classes:
            text = _text(label, i)
            if quoted and i == 0:  # a field as pandas' to_csv(sep="\t") writes one with quotes
                text = '"' + text.replace("The", '""The""', 1) + '"'
            rows.append(f"{label}\t{text}\n")
    return rows


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    data = root / "data"
    data.mkdir()
    (data / "train.tsv").write_text("label\ttext\n" + "".join(_rows(CLASSES, 12, quoted=True)))
    (data / "eval.tsv").write_text("label\ttext\n" + "".join(_rows(["0", "1", "10"], 4)))
    (data / "test.tsv").write_text("label\ttext\n" + "".join(_rows(CLASSES, 2)))
    (data / "NOTES.md").write_text("where the data came from\n")
    run_dir = str(root / "run")
    result = run_lmpipe("finetune", "--data", str(data), "--pretrained", CHECKPOINT,
                        "--run-dir", run_dir, "--train-steps", "20", "--seq-length", "32",
                        "--batch-size", "8", "--min-accuracy", "0", "--eval-steps", "2",
                        *LONG_FLAGS)
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)["finetune"]
    return {"result": result, "summary": summary, "data": str(data), "root": root}


def test_summary_is_printed_with_the_absent_class_named(run):
    result, summary = run["result"], run["summary"]
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert "== lmpipe finetune: summary ==" in result.stdout
    assert summary["labels"] == CLASSES and summary["pushed"]
    assert summary["eval_absent_classes"] == ["2"]
    assert "absent from eval  2: no eval example" in result.stdout
    assert summary["confusion_matrix"]["2"] == {c: 0 for c in CLASSES}
    assert sum(sum(row.values()) for row in summary["confusion_matrix"].values()) == 12
    metrics, matrix = summary["eval_metrics"], summary["confusion_matrix"]
    assert metrics["recall/2"] is None and metrics["f1_score/2"] is None  # not 0: nothing to recall
    by_class = summary["eval_class_metrics"]
    assert by_class["absent_classes"] == ["2"] and by_class["f1"]["2"] is None
    assert by_class["macro_f1"] == pytest.approx(np.mean([by_class["f1"][c] for c in "0 1 10".split()]))
    assert f"eval macro F1     {by_class['macro_f1']:.4f} over the 3 classes present" in result.stdout
    # Per-class metrics are the arg-max decision's, as the confusion matrix is.
    assert sum(matrix[c][c] for c in CLASSES) / 12 == pytest.approx(metrics["accuracy"])
    for c in ("0", "1", "10"):
        assert metrics[f"recall/{c}"] == pytest.approx(matrix[c][c] / sum(matrix[c].values()))
        predicted = sum(matrix[a][c] for a in CLASSES)
        assert metrics[f"precision/{c}"] == (pytest.approx(matrix[c][c] / predicted)
                                              if predicted else None)
    assert summary["test_metrics"]["absent_classes"] == []
    assert set(summary["test_metrics"]["f1"]) == set(CLASSES)


def test_what_was_read_and_skipped(run):
    given, stdout = run["summary"]["input"], run["result"].stdout
    assert given["per_split_files"] == {
        "train": {"files": 1, "rows": 48, "bytes": os.path.getsize(os.path.join(run["data"], "train.tsv"))},
        "eval": {"files": 1, "rows": 12, "bytes": os.path.getsize(os.path.join(run["data"], "eval.tsv"))},
        "test": {"files": 1, "rows": 8, "bytes": os.path.getsize(os.path.join(run["data"], "test.tsv"))}}
    assert {s: c["examples"] for s, c in run["summary"]["input_splits"].items()} == {
        "train": 48, "eval": 12, "test": 8}
    assert given["skipped"] == [os.path.join(run["data"], "NOTES.md") + " (not .csv/.tsv/.jsonl)"]
    assert "skipped 1 entry (not read)" in stdout
    note, = given["notes"]
    assert "train.tsv: 4 field(s) in CSV-style quoting" in note and f"lmpipe: note: {note}" in stdout


def test_long_texts_are_read_as_windows_and_counted(run):
    # train: 12 copies of 4 classes, eval 4 of 3, test 2 of 4; copies 1 and 2 of six are long.
    assert run["summary"]["long_texts"] == {
        "train": {"texts": 48, "longer_than_one_window": 16, "truncated": 8,
                  "windows": 32 + 8 * 2 + 8 * 3},
        "eval": {"texts": 12, "longer_than_one_window": 6, "truncated": 3,
                 "windows": 6 + 3 * 2 + 3 * 3},
        "test": {"texts": 8, "longer_than_one_window": 4, "truncated": 0, "windows": 4 + 4 * 2}}
    stdout = run["result"].stdout
    assert ("long texts        windows (every window of 30 pieces overlapping by 7, at most 3; "
            "the mean of their logits)") in stdout
    assert "past max windows  eval 3, test 0, train 8 texts" in stdout
    served = os.path.dirname(run["summary"]["pushed_model"])
    texts = run["root"] / "long.txt"
    texts.write_text("".join(_text("10", i) + "\n" for i in range(3)))
    result = run_lmpipe("predict", "--model-dir", served, "--input", str(texts))
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["windows"], r["truncated"]) for r in rows] == [(1, False), (2, False), (3, True)]


def test_predict_names_the_columns_of_probabilities(run):
    model_dir = os.path.dirname(run["summary"]["pushed_model"])
    texts = run["root"] / "texts.txt"
    texts.write_text("ten ten A quiet farmer.\u2028Still the same text.\nzero zero The guard.\n")
    result = run_lmpipe("predict", "--model-dir", model_dir, "--input", str(texts))
    assert result.returncode == 0, result.stderr[-3000:]
    # One JSON object per "\n" line; its strings may hold U+2028 (str.splitlines would cut them).
    rows = [json.loads(line) for line in result.stdout.split("\n") if line]
    assert [r["text"] for r in rows] == ["ten ten A quiet farmer.\u2028Still the same text.",
                                         "zero zero The guard."]
    for row in rows:
        assert row["classes"] == CLASSES
        assert row["label"] == row["classes"][int(np.argmax(row["probabilities"]))]


def test_an_error_after_the_push_says_what_was_pushed(run):
    """The same run again (cached, blessed and pushed again), with a summary path that cannot
    be written: the CLI exits 1 and says which version it pushed, not "nothing was pushed"."""
    serving = os.path.dirname(run["summary"]["pushed_model"])
    before = set(os.listdir(serving))
    summary_path = os.path.join(run["data"], "train.tsv", "summary.json")  # under a file
    result = run_lmpipe("finetune", "--data", run["data"], "--pretrained", CHECKPOINT,
                        "--run-dir", os.path.dirname(os.path.dirname(serving)),
                        "--train-steps", "20", "--seq-length", "32", "--batch-size", "8",
                        "--min-accuracy", "0", "--eval-steps", "2", "--summary", summary_path,
                        *LONG_FLAGS)
    assert result.returncode == 1
    new, = set(os.listdir(serving)) - before
    assert f"the model WAS pushed to {os.path.join(serving, new)}" in result.stderr
    assert "its summary failed: FileExistsError" in result.stderr
    assert "nothing was pushed" not in result.stderr
