"""End to end: one real pipeline run (LocalDagRunner, SQLite ML Metadata, DirectRunner) shared by
all assertions, then the pushed SavedModel queried the way TF Serving loads it."""

import glob
import json
import os
import subprocess

import ml_metadata as mlmd
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tokenizer's ops before loading the model)
from tfx import v1 as tfx

from components.types import WordPieceVocab
from models.core import features
from tests.conftest import SAVED_MODEL_CLI, TINY_PRETRAIN_FLAGS, run_lmpipe

pytestmark = pytest.mark.e2e


def pushed_model(pretrain_run):
    return pretrain_run["summary"]["pushed_model"]


def test_summary_records_run_metrics_blessing_and_push(pretrain_run):
    summary = pretrain_run["summary"]
    assert os.path.isdir(summary["pipeline_root"])
    assert os.path.isfile(summary["metadata_path"])
    assert 400 <= summary["vocab_size"] <= 800
    metrics = summary["eval_metrics"]
    assert set(metrics) >= {"masked_accuracy", "masked_loss", "perplexity"}
    assert metrics["perplexity"] == pytest.approx(np.exp(metrics["masked_loss"]), rel=1e-4)
    assert summary["blessed"] and summary["pushed"]
    # TF Serving layout: <serving_dir>/<model_name>/<numeric version>/saved_model.pb
    version_dir = summary["pushed_model"]
    assert os.path.dirname(version_dir) == os.path.join(pretrain_run["run_dir"], "serving", "mlm")
    assert os.path.basename(version_dir).isdigit()
    assert os.path.isfile(os.path.join(version_dir, "saved_model.pb"))
    assert "== lmpipe pretrain: summary ==" in pretrain_run["stdout"]


def test_the_whole_corpus_was_read_and_counted(pretrain_run):
    """The fixture's corpus has a gzipped file in a subdirectory and a hidden directory: every
    document of every file reaches the splits, and the summary says so."""
    from components.text_example_gen.reader import read_documents

    corpus, summary = pretrain_run["corpus"], pretrain_run["summary"]
    files = ["brown.txt", "more/news.txt.gz", "wikipedia.txt"]
    documents = {name: read_documents(os.path.join(corpus, name)) for name in files}
    given = summary["input"]
    assert [os.path.relpath(f["path"], corpus) for f in given["per_file"]] == files
    assert [f["documents"] for f in given["per_file"]] == [len(documents[n]) for n in files]
    assert given["documents"] == sum(len(d) for d in documents.values())
    assert given["skipped"] == [os.path.join(corpus, ".cache") + "/"]
    splits = summary["input_splits"]
    assert sum(s["examples"] for s in splits.values()) == given["documents"]
    assert sum(s["bytes"] for s in splits.values()) == sum(
        len(d.encode()) for docs in documents.values() for d in docs)
    examples = glob.glob(os.path.join(summary["pipeline_root"], "FileBasedExampleGen",
                                      "examples", "*", "Split-*", "*.gz"))
    sources = {tf.train.Example.FromString(r.numpy()).features.feature["source"].bytes_list.value[0]
               for r in tf.data.TFRecordDataset(examples, compression_type="GZIP")}
    assert sources == {name.encode() for name in files}
    assert f"corpus {corpus}: 3 files (1 in subdirectories)" in pretrain_run["stdout"]
    assert "skipped 1 entry" in pretrain_run["stdout"]


def test_model_beats_always_predicting_the_most_frequent_token(pretrain_run):
    summary = pretrain_run["summary"]
    assert 0 < summary["majority_token_accuracy"] < summary["eval_metrics"]["masked_accuracy"]


def _load_tf1(path):
    graph = tf.Graph()
    session = tf.compat.v1.Session(graph=graph)
    meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], path)
    return session, meta.signature_def


def test_pushed_model_fills_masks_in_a_tf1_session(pretrain_run):
    session, signatures = _load_tf1(pushed_model(pretrain_run))
    assert {"serving_default", "transform_features", "mlm_eval"} <= set(signatures)
    sig = signatures["serving_default"]
    assert list(sig.inputs) == ["text"]
    assert sig.inputs["text"].dtype == tf.string.as_datatype_enum
    assert [d.size for d in sig.inputs["text"].tensor_shape.dim] == [-1]
    texts = ["The [MASK] of the city said that the government would [MASK] the plan.",
             "A sentence without any mask.",
             "He went to the [MASK] ."]
    fetches = {name: info.name for name, info in sig.outputs.items()}
    out = session.run(fetches, {sig.inputs["text"].name: texts})
    k = 3
    assert out["mask_count"].tolist() == [2, 0, 1]
    assert out["tokens"].shape == (3, 2, k) and out["scores"].shape == (3, 2, k)
    filled = out["tokens"][0].tolist() + out["tokens"][2][:1].tolist()
    reserved = {t.encode() for t in features.RESERVED_TOKENS}
    for candidates, scores in zip(filled, [out["scores"][0][0], out["scores"][0][1], out["scores"][2][0]]):
        assert all(token and token not in reserved for token in candidates)  # never [PAD] etc.
        assert np.all(np.diff(scores) <= 0) and 0 < scores.sum() <= 1.0 + 1e-5
    assert (out["tokens"][1] == b"").all() and (out["scores"][1] == 0).all()
    assert (out["tokens"][2][1] == b"").all()


def test_transform_features_signature_tokenizes_raw_examples(pretrain_run):
    session, signatures = _load_tf1(pushed_model(pretrain_run))
    sig = signatures["transform_features"]
    example = tf.train.Example(features=tf.train.Features(feature={
        "text": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"the [MASK] sat ."])),
        "source": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"x.txt"]))}))
    out = session.run(sig.outputs["packed_ids"].name,
                      {sig.inputs["examples"].name: [example.SerializeToString()]})
    assert out.shape == (1, 64)
    assert out[0, 0] == 2 and out[0, 2] == 4  # [CLS] the [MASK] ...
    assert 3 in out[0].tolist()  # [SEP]


# saved_model_cli with the tensorflow-text ops registered first (TF Serving links them in).


def test_saved_model_cli_runs_serving_default(pretrain_run):
    show = subprocess.run([*SAVED_MODEL_CLI, "show", "--dir", pushed_model(pretrain_run), "--all"],
                          capture_output=True, text=True, check=True)
    assert "signature_def['serving_default']" in show.stdout
    run = subprocess.run(
        [*SAVED_MODEL_CLI, "run", "--dir", pushed_model(pretrain_run), "--tag_set", "serve",
         "--signature_def", "serving_default", "--input_exprs", "text=['the [MASK] was good .']"],
        capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "mask_count" in run.stdout and "[1]" in run.stdout


def test_every_component_ran_and_lineage_is_recorded(pretrain_run):
    summary = pretrain_run["summary"]
    store = mlmd.MetadataStore(
        tfx.orchestration.metadata.sqlite_metadata_connection_config(summary["metadata_path"]))
    ran = {store.get_execution_types_by_id([e.type_id])[0].name.rsplit(".", 1)[-1]
           for e in store.get_executions()}
    assert {"FileBasedExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator",
            "WordPieceVocabGen", "Tokenize", "MlmMasker", "Trainer", "Evaluator",
            "AtomicPusher"} <= ran
    # The pushed model traces back to the vocabulary through the Trainer's transform graph.
    vocab, = store.get_artifacts_by_type(WordPieceVocab.TYPE_NAME)
    graph, = store.get_artifacts_by_type("TransformGraph")
    with open(os.path.join(vocab.uri, "vocab.txt")) as a, open(os.path.join(graph.uri, "vocab.txt")) as b:
        assert a.read() == b.read()


def test_tensorboard_logs_and_checkpoints(pretrain_run):
    run_dirs = glob.glob(os.path.join(pretrain_run["summary"]["pipeline_root"], "Trainer",
                                      "model_run", "*"))
    assert len(run_dirs) == 1
    tags = set()
    for event_file in glob.glob(os.path.join(run_dirs[0], "**", "events.out.tfevents.*"),
                                recursive=True):
        for event in tf.compat.v1.train.summary_iterator(event_file):
            tags.update(v.tag for v in event.summary.value)
    assert {"epoch_loss", "epoch_masked_accuracy", "learning_rate", "tokens_per_second",
            "_hparams_/session_start_info"} <= tags
    assert len(glob.glob(os.path.join(run_dirs[0], "checkpoints", "*.weights.h5"))) == 2
    training = pretrain_run["summary"]["training"]
    steps = int(TINY_PRETRAIN_FLAGS[TINY_PRETRAIN_FLAGS.index("--train-steps") + 1])
    assert training["steps"] == steps and training["tokens_per_second"] > 0
    assert training["resumed_from_step"] == 0 and training["effective_batch"] == 16


def test_beam_steps_ran_in_multi_process_mode(pretrain_run):
    config = pretrain_run["summary"]["config"]
    assert config["beam_runner"] == "DirectRunner"
    assert {"--direct_running_mode=multi_processing", "--direct_num_workers=2"} <= \
        set(config["beam_args"])


def test_a_regressing_retrain_is_not_pushed(pretrain_run):
    """Same run directory, far fewer steps: the Evaluator compares against the blessed model."""
    serving = os.path.dirname(pushed_model(pretrain_run))
    before = sorted(os.listdir(serving))
    flags = list(TINY_PRETRAIN_FLAGS)
    flags[flags.index("--train-steps") + 1] = "4"
    flags[flags.index("--checkpoint-every") + 1] = "4"
    result = run_lmpipe("pretrain", "--corpus", pretrain_run["corpus"],
                        "--run-dir", pretrain_run["run_dir"], *flags, "--max-regression", "0.0")
    assert result.returncode != 0
    assert "not blessed" in result.stderr
    assert sorted(os.listdir(serving)) == before
    with open(os.path.join(pretrain_run["run_dir"], "summary.json")) as f:
        retrain = json.load(f)["pretrain"]
    assert not retrain["blessed"] and not retrain["pushed"]
    assert retrain["eval_metrics"]["masked_accuracy"] < \
        pretrain_run["summary"]["eval_metrics"]["masked_accuracy"]


def test_encoder_is_saved_as_a_keras_hub_preset_for_fine_tuning(pretrain_run):
    import keras_hub

    from models.core import backbone as _  # noqa: F401  (registers lmpipe>BertEncoder with Keras)

    store = mlmd.MetadataStore(tfx.orchestration.metadata.sqlite_metadata_connection_config(
        pretrain_run["summary"]["metadata_path"]))
    model_artifact = min(store.get_artifacts_by_type("Model"), key=lambda a: a.id)
    backbone = keras_hub.models.BertBackbone.from_preset(os.path.join(model_artifact.uri, "encoder"))
    assert backbone.vocabulary_size == pretrain_run["summary"]["vocab_size"]
    assert backbone.num_layers == 2 and backbone.hidden_dim == 128


def test_dynamic_masking_trains_on_transform_windows(pretrain_run, tmp_path):
    """`--masking dynamic`: the Trainer reads Tokenize's windows and masks them as it reads;
    the Evaluator still scores the masker's fixed eval split."""
    run_dir = str(tmp_path / "run")
    result = run_lmpipe("pretrain", "--corpus", pretrain_run["corpus"], "--run-dir", run_dir,
                        "--masking", "dynamic", "--vocab-size", "800", "--lower-thresh", "1",
                        "--seq-length", "64", "--max-predictions", "8", "--batch-size", "16",
                        "--train-steps", "40", "--checkpoint-every", "20", "--eval-steps", "5",
                        "--min-masked-accuracy", "0.0")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    store = mlmd.MetadataStore(tfx.orchestration.metadata.sqlite_metadata_connection_config(
        os.path.join(run_dir, "metadata.sqlite")))
    inputs_of = {}
    for execution in store.get_executions():
        kind, = store.get_execution_types_by_id([execution.type_id])
        for event in store.get_events_by_execution_ids([execution.id]):
            if event.type == mlmd.proto.Event.INPUT and event.path.steps[0].key == "examples":
                artifact, = store.get_artifacts_by_id([event.artifact_id])
                inputs_of[kind.name.rsplit(".", 1)[-1]] = artifact.uri
    assert "/Tokenize/" in inputs_of["Trainer"] and "/MlmMasker/" in inputs_of["Evaluator"]
    with open(os.path.join(run_dir, "summary.json")) as f:
        assert json.load(f)["pretrain"]["pushed"]
