"""`lmpipe import` end to end on the committed Hugging Face checkpoint (tests/data/bert_parity),
then `lmpipe predict` on it; and the bad checkpoints, refused before any work."""

import json
import os
import shutil

import ml_metadata as mlmd
import numpy as np
import pytest
from tfx import v1 as tfx

from pipeline import cli, jobs

CHECKPOINT = os.path.abspath("tests/data/bert_parity/checkpoint")
SPECIAL = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("import") / "run"
    code = cli.main(["import", "--checkpoint", CHECKPOINT, "--run-dir", str(run_dir),
                     "--model-name", "bert"])
    return code, run_dir


def test_import_pushes_a_model_that_fills_masks_as_hugging_face_does(imported, tmp_path):
    code, run_dir = imported
    assert code == 0
    summary = json.load(open(run_dir / "summary.json"))["import"]
    assert summary["pushed"] and summary["pretrained_mlm_head"]
    assert summary["checkpoint_format"] == "huggingface" and summary["warnings"] == []
    expected = np.load("tests/data/bert_parity/expected.npz")
    vocab = open(os.path.join(CHECKPOINT, "vocab.txt"), encoding="utf-8").read().split("\n")
    texts = [str(t) for t in expected["fill_mask_texts"]]
    out = tmp_path / "predictions.jsonl"
    assert cli.main(["predict", "--model-dir", str(run_dir / "serving" / "bert"),
                     "--output", str(out), *texts]) == 0
    ours = [tokens for line in open(out, encoding="utf-8")
            for tokens in json.loads(line)["tokens"]]
    hf = [[vocab[i] for i in row if vocab[i] not in SPECIAL][:5] for row in expected["fill_ids"]]
    assert ours == hf


def test_lineage_goes_back_to_the_checkpoint_path(imported):
    _, run_dir = imported
    store = mlmd.MetadataStore(tfx.orchestration.metadata.sqlite_metadata_connection_config(
        str(run_dir / "metadata.sqlite")))
    source, = store.get_artifacts_by_type("lmpipe.BertCheckpoint")
    assert source.uri == CHECKPOINT
    # checkpoint → (CheckpointImport) → model → (Pusher) → pushed model
    consumers = {e.execution_id for e in store.get_events_by_artifact_ids([source.id])
                 if e.type == mlmd.proto.Event.INPUT}
    outputs = [e.artifact_id for e in store.get_events_by_execution_ids(list(consumers))
               if e.type == mlmd.proto.Event.OUTPUT]
    model, = [a for a in store.get_artifacts_by_id(outputs) if a.type == "Model"]
    pushed, = store.get_artifacts_by_type("PushedModel")
    pusher_inputs = [e.artifact_id for e in store.get_events_by_artifact_ids([pushed.id])]
    pusher, = {e.execution_id for e in store.get_events_by_artifact_ids([pushed.id])}
    assert model.id in [e.artifact_id for e in store.get_events_by_execution_ids([pusher])
                        if e.type == mlmd.proto.Event.INPUT]
    assert pusher_inputs == [pushed.id]
    assert os.path.isfile(os.path.join(model.uri, "encoder", "mlm_head.npz"))


def _refused(tmp_path, capsys, argv, *expected):
    run_dir = tmp_path / "run"
    code = cli.main([*argv, "--run-dir", str(run_dir)])
    err = capsys.readouterr().err
    assert code == cli.EXIT_BAD_INPUT
    for text in expected:
        assert text in err
    assert "nothing was pushed" in err and not run_dir.exists()


def test_a_directory_in_no_known_format(tmp_path, capsys):
    (tmp_path / "weights.bin").write_bytes(b"\0\1")
    _refused(tmp_path, capsys, ["import", "--checkpoint", str(tmp_path)],
             f"--checkpoint {tmp_path}", "not a checkpoint lmpipe knows", "weights.bin")


def test_a_checkpoint_of_another_architecture(tmp_path, capsys):
    ckpt = tmp_path / "t5"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(json.dumps({"model_type": "t5", "vocab_size": 32128}))
    _refused(tmp_path, capsys, ["import", "--checkpoint", str(ckpt)],
             "model_type 't5' (no architectures given) is not an architecture lmpipe "
             "imports; it imports bert (BertModel", "and GPT-2 (gpt2) for generation")


@pytest.mark.parametrize("config,message", [
    ({"vocab_size": 50257}, "no n_layer, n_head, n_embd, n_positions, resid_pdrop; lmpipe reads"),
    ({"vocab_size": 50257, "n_layer": 0, "n_head": 12, "n_embd": "768", "n_positions": 1024,
      "resid_pdrop": 0.1}, "n_layer = 0, n_embd = '768': each must be a positive integer"),
    ({"vocab_size": 50257, "n_layer": 2, "n_head": 5, "n_embd": 768, "n_positions": 1024,
      "resid_pdrop": 0.1}, "n_embd = 768 is not a multiple of n_head = 5"),
])
def test_a_gpt2_config_without_its_sizes(tmp_path, capsys, config, message):
    ckpt = tmp_path / "gpt2"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(json.dumps({"model_type": "gpt2", **config}))
    _refused(tmp_path, capsys, ["import", "--checkpoint", str(ckpt)],
             f"{ckpt}/config.json: ", message)


def test_a_vocabulary_that_does_not_fit_the_embeddings(tmp_path, capsys):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(CHECKPOINT, ckpt)
    with open(ckpt / "vocab.txt", "a") as f:
        f.write("extra\n")
    _refused(tmp_path, capsys, ["import", "--checkpoint", str(ckpt)],
             f"{ckpt}/vocab.txt has 2926 tokens but the model has 2925 token embeddings")


def test_a_sequence_longer_than_the_checkpoint_reads(tmp_path, capsys):
    _refused(tmp_path, capsys, ["import", "--checkpoint", CHECKPOINT, "--seq-length", "256"],
             "--seq-length 256 is longer than", "(128 positions)")


def test_init_from_with_a_vocabulary_size(tmp_path, capsys):
    _refused(tmp_path, capsys, ["pretrain", "--corpus", "data/corpus", "--init-from", CHECKPOINT,
                                "--vocab-size", "4000"],
             "--vocab-size 4000 with --init-from", "uses the checkpoint's vocabulary")


def test_init_from_a_missing_vocabulary(tmp_path, capsys):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(CHECKPOINT, ckpt)
    os.remove(ckpt / "vocab.txt")  # tokenizer.json alone would do: remove it too
    os.remove(ckpt / "tokenizer.json")
    _refused(tmp_path, capsys, ["pretrain", "--corpus", "data/corpus", "--init-from", str(ckpt)],
             f"--init-from {ckpt}", f"{ckpt}/tokenizer.json is missing: a BERT checkpoint's "
             "WordPiece vocabulary: vocab.txt")


def test_relative_position_embeddings_are_refused_before_any_work(tmp_path, capsys):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(CHECKPOINT, ckpt)
    config = json.loads((ckpt / "config.json").read_text())
    (ckpt / "config.json").write_text(json.dumps({**config,
                                                  "position_embedding_type": "relative_key"}))
    _refused(tmp_path, capsys, ["import", "--checkpoint", str(ckpt)],
             f"lmpipe: error: --checkpoint {ckpt}: {ckpt}/config.json: position_embedding_type "
             '"relative_key" is not supported: lmpipe supports only "absolute"')


def test_a_duplicate_vocabulary_token_is_refused_before_any_work(tmp_path, capsys):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(CHECKPOINT, ckpt)
    os.remove(ckpt / "tokenizer.json")
    with open(ckpt / "vocab.txt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    lines[2922] = "the"
    (ckpt / "vocab.txt").write_text("\n".join(lines), encoding="utf-8")
    _refused(tmp_path, capsys, ["pretrain", "--corpus", "data/corpus", "--init-from", str(ckpt)],
             f"{ckpt}/vocab.txt: 1 duplicate token: 'the' on lines {lines.index('the') + 1} and "
             "2923")


def test_checkpoint_warnings_are_printed(tmp_path, capsys):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(CHECKPOINT, ckpt)
    os.remove(ckpt / "tokenizer_config.json")
    os.remove(ckpt / "tokenizer.json")
    start = jobs.check_checkpoint(str(ckpt), "--checkpoint", 128)
    err = capsys.readouterr().err.splitlines()
    assert start.tokenizer.lowercase and len(start.warnings) == 2
    assert err == [f"lmpipe: warning: {w}" for w in start.warnings]
    assert err[0].startswith(f"lmpipe: warning: {ckpt} has no tokenizer settings")
    assert "363 capitalised word pieces of 2,925" in err[1]
