"""Causal LM (GPT-2) inputs refused before any pipeline work: the wrong kind of checkpoint for a
job, a sequence longer than the checkpoint's positions, a vocabulary and merges that do not
belong together, flags of the other objective."""

import os
import shutil

import pytest

from pipeline import cli
from tests.pipeline.test_cli_bad_input import assert_failed_cleanly, good_corpus

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
GPT2 = os.path.join(REPO, "tests", "data", "gpt2_parity", "checkpoint")
BERT = os.path.join(REPO, "tests", "data", "bert_parity", "checkpoint")


def pretrain(tmp_path, *flags):
    run_dir = tmp_path / "run"
    return cli.main(["pretrain", "--corpus", str(good_corpus(tmp_path)), "--run-dir",
                     str(run_dir), *flags]), run_dir


def test_a_bert_checkpoint_for_causal_pretraining(tmp_path, capsys):
    code, run_dir = pretrain(tmp_path, "--objective", "causal", "--init-from", BERT)
    assert_failed_cleanly(code, run_dir, capsys, "model_type 'bert' is not 'gpt2'",
                          "--objective masked")


def test_a_gpt2_checkpoint_for_masked_pretraining(tmp_path, capsys):
    code, run_dir = pretrain(tmp_path, "--init-from", GPT2)
    assert_failed_cleanly(code, run_dir, capsys, "GPT-2 (causal LM) checkpoint",
                          "--objective causal --init-from")


def test_a_gpt2_checkpoint_for_finetuning(tmp_path, capsys):
    data = tmp_path / "data.tsv"
    data.write_text("label\ttext\n" + "".join(f"{'pos' if i % 2 else 'neg'}\ttext {i}\n"
                                              for i in range(40)))
    run_dir = tmp_path / "run"
    code = cli.main(["finetune", "--data", str(data), "--pretrained", GPT2,
                     "--run-dir", str(run_dir)])
    assert_failed_cleanly(code, run_dir, capsys, "GPT-2 (causal LM) checkpoint",
                          "BERT-style encoder")


def test_a_sequence_longer_than_the_checkpoints_positions(tmp_path, capsys):
    code, run_dir = pretrain(tmp_path, "--objective", "causal", "--init-from", GPT2,
                             "--seq-length", "65")
    assert_failed_cleanly(code, run_dir, capsys, "--seq-length 65 is longer than the 64 "
                          "positions", "--seq-length 64 or less")


@pytest.mark.parametrize("damage,message", [
    ("foreign_merges", "from different tokenizers"),
    ("more_tokens", "the vocabulary and the weights do not belong together"),
    ("no_merges", "vocab.json without merges.txt"),
])
def test_a_vocabulary_that_does_not_match(tmp_path, capsys, damage, message):
    import json

    checkpoint = tmp_path / "ckpt"
    shutil.copytree(GPT2, checkpoint)
    if damage == "foreign_merges":
        with open(checkpoint / "merges.txt", "a") as f:
            f.write("zq xv\n")
    elif damage == "more_tokens":
        vocab = json.loads((checkpoint / "vocab.json").read_text())
        vocab.update({f"extra{i}": len(vocab) + i for i in range(3)})
        (checkpoint / "vocab.json").write_text(json.dumps(vocab))
    else:
        os.remove(checkpoint / "merges.txt")
    code, run_dir = pretrain(tmp_path, "--objective", "causal", "--init-from", str(checkpoint))
    assert_failed_cleanly(code, run_dir, capsys, message)


def test_flags_of_the_other_objective(tmp_path, capsys):
    code, run_dir = pretrain(tmp_path, "--objective", "causal", "--max-predictions", "5")
    assert_failed_cleanly(code, run_dir, capsys, "--max-predictions: not a setting of "
                          "--objective causal")
    (tmp_path / "b").mkdir()
    code, run_dir = pretrain(tmp_path / "b", "--max-perplexity", "50")
    assert_failed_cleanly(code, run_dir, capsys, "--max-perplexity: not a setting of "
                          "--objective masked")


def test_a_vocabulary_too_small_for_byte_level_bpe(tmp_path, capsys):
    code, run_dir = pretrain(tmp_path, "--objective", "causal", "--vocab-size", "200")
    assert_failed_cleanly(code, run_dir, capsys, "too small for byte-level BPE")
