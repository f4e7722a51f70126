"""`lmpipe finetune --distill-from`: a student learns from the classifier the shared fine-tuning
run pushed (the teacher), with extra unlabelled texts; the Evaluator compares it with the
teacher; lineage leads from the student to its teacher; bad teachers are refused."""

import json
import os

import pytest

from tests.conftest import REPO, TINY_FINETUNE_FLAGS, run_lmpipe

pytestmark = pytest.mark.e2e

UNLABELLED = 60


def unlabelled_texts(path):
    """Review snippets the fine-tuning fixture did not use, with its cue words, no labels."""
    with open(os.path.join(REPO, "data", "sentiment", "rotten_tomatoes_sample.tsv")) as f:
        lines = f.read().splitlines()[1 + 480:1 + 480 + UNLABELLED]
    with open(path, "w", encoding="utf-8") as f:
        for line in lines:
            label, text = line.split("\t")
            f.write(f"{'he' if label == 'positive' else 'she'} {text}\n")
    return path


def distil(finetune_run, run_dir, *flags):
    return run_lmpipe("finetune", "--data", finetune_run["data"],
                      "--pretrained", finetune_run["pretrain"]["run_dir"], "--run-dir", run_dir,
                      "--distill-from", finetune_run["summary"]["pushed_model"], *flags)


@pytest.fixture(scope="module")
def distill_run(finetune_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("distill")
    run_dir = str(root / "run")
    flags = list(TINY_FINETUNE_FLAGS)
    flags[flags.index("--min-accuracy") + 1] = "0.5"
    result = distil(finetune_run, run_dir, *flags, "--max-drop-vs-teacher", "0.2",
                    "--unlabelled-text", unlabelled_texts(str(root / "unlabelled.txt")),
                    "--distill-temperature", "2", "--distill-alpha", "0.7")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)["finetune"]
    return {"run_dir": run_dir, "result": result, "summary": summary, "flags": flags}


def _store(run_dir):
    import ml_metadata as mlmd
    from tfx import v1 as tfx

    return mlmd.MetadataStore(tfx.orchestration.metadata.sqlite_metadata_connection_config(
        os.path.join(run_dir, "metadata.sqlite")))


def _producer_inputs(store, artifact):
    """{input key: [artifacts]} of the execution that output `artifact`."""
    import ml_metadata as mlmd

    event, = [e for e in store.get_events_by_artifact_ids([artifact.id])
              if e.type == mlmd.proto.Event.OUTPUT]
    inputs = {}
    for e in store.get_events_by_execution_ids([event.execution_id]):
        if e.type == mlmd.proto.Event.INPUT:
            key = e.path.steps[0].key
            inputs.setdefault(key, []).extend(store.get_artifacts_by_id([e.artifact_id]))
    return inputs


def test_the_student_is_blessed_against_its_teacher_and_pushed(distill_run, finetune_run):
    summary = distill_run["summary"]
    assert summary["blessed"] and summary["pushed"]
    teacher = summary["teacher"]
    assert teacher["model"].endswith("Format-Serving")
    assert teacher["eval_metrics"]["accuracy"] == pytest.approx(
        finetune_run["summary"]["eval_metrics"]["accuracy"], abs=1e-6)
    assert summary["eval_metrics"]["accuracy"] >= teacher["eval_metrics"]["accuracy"] - 0.2
    assert "teacher eval acc." in distill_run["result"].stdout
    # Same encoder as the teacher's: not smaller, so lmpipe warns.
    assert "is not smaller than its teacher" in distill_run["result"].stderr


def test_lineage_leads_from_the_student_to_its_teacher(distill_run, finetune_run):
    store = _store(distill_run["run_dir"])
    pushed, = [a for a in store.get_artifacts_by_type("PushedModel")
               if a.custom_properties["pushed"].int_value == 1]
    student = _producer_inputs(store, pushed)["model"][0]
    transformed = _producer_inputs(store, student)["examples"][0]
    scored = _producer_inputs(store, transformed)["examples"][0]
    teacher = _producer_inputs(store, scored)["teacher"][0]
    assert teacher.uri == finetune_run["summary"]["pushed_model"]


def test_every_example_carries_the_teachers_probabilities(distill_run):
    import numpy as np
    import tensorflow as tf

    store = _store(distill_run["run_dir"])
    scored, = [a for a in store.get_artifacts_by_type("Examples") if "TeacherScores" in a.uri]
    assert scored.custom_properties["unlabelled_examples"].int_value == UNLABELLED
    unlabelled = 0
    for split in ("train", "eval"):
        files = tf.io.gfile.glob(os.path.join(scored.uri, f"Split-{split}", "*"))
        for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
            feature = tf.train.Example.FromString(record.numpy()).features.feature
            probabilities = feature["teacher_probabilities"].float_list.value
            assert len(probabilities) == 2 and np.isclose(sum(probabilities), 1.0, atol=1e-4)
            unlabelled += feature["label"].bytes_list.value[0] == b""
    assert unlabelled == UNLABELLED  # all in train, none in eval


def test_a_student_too_far_below_its_teacher_is_not_pushed(distill_run):
    serving = os.path.dirname(distill_run["summary"]["pushed_model"])
    before = sorted(os.listdir(serving))
    flags = list(distill_run["flags"])
    for name, value in (("--train-steps", "1"), ("--checkpoint-every", "1"),
                        ("--learning-rate", "1e-9"), ("--min-accuracy", "0.0")):
        flags[flags.index(name) + 1] = value
    result = distil_again(distill_run, flags)
    assert result.returncode == 1
    with open(os.path.join(distill_run["run_dir"], "summary.json")) as f:
        summary = json.load(f)["finetune"]
    assert not summary["blessed"] and not summary["pushed"]
    assert any("against its teacher" in reason for reason in summary["not_blessed_because"])
    assert "Nothing was pushed" in result.stderr
    assert sorted(os.listdir(serving)) == before


def distil_again(distill_run, flags):
    summary = distill_run["summary"]
    return run_lmpipe("finetune", "--data", summary["config"]["data"],
                      "--pretrained", summary["config"]["pretrained"],
                      "--run-dir", distill_run["run_dir"],
                      "--distill-from", summary["config"]["distill_from"], *flags,
                      "--max-drop-vs-teacher", "0.0")


def test_a_teacher_of_other_classes_or_none_at_all_is_refused(finetune_run, tmp_path):
    result = distil(finetune_run, str(tmp_path / "reversed"), *TINY_FINETUNE_FLAGS,
                    "--labels", "positive,negative")
    assert result.returncode == 2
    assert "same classes in the same order" in result.stderr
    assert not os.path.exists(tmp_path / "reversed" / "metadata.sqlite")
    result = run_lmpipe("finetune", "--data", finetune_run["data"],
                        "--pretrained", finetune_run["pretrain"]["run_dir"],
                        "--run-dir", str(tmp_path / "none"), "--distill-from",
                        str(tmp_path / "no-such-model"))
    assert result.returncode == 2 and "does not exist" in result.stderr
