"""Every bad input fails before any pipeline work: clear message, non-zero exit, nothing pushed."""

import os

import pytest

from pipeline import cli


def run_cli(tmp_path, corpus, *extra):
    run_dir = tmp_path / "run"
    code = cli.main(["pretrain", "--corpus", str(corpus), "--run-dir", str(run_dir), *extra])
    return code, run_dir


def good_corpus(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("First document.\n\nSecond document, two lines.\nYes.\n")
    return corpus


def assert_failed_cleanly(code, run_dir, capsys, *expected):
    err = capsys.readouterr().err
    assert code == cli.EXIT_BAD_INPUT
    for text in expected:
        assert text in err
    assert "nothing was pushed" in err
    assert not os.path.exists(run_dir), "no pipeline work may start on bad input"


def test_missing_corpus_dir(tmp_path, capsys):
    code, run_dir = run_cli(tmp_path, tmp_path / "nope")
    assert_failed_cleanly(code, run_dir, capsys, str(tmp_path / "nope"))


def test_empty_corpus_dir(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, run_dir = run_cli(tmp_path, tmp_path / "empty")
    assert_failed_cleanly(code, run_dir, capsys, str(tmp_path / "empty"))


def test_binary_file(tmp_path, capsys):
    corpus = good_corpus(tmp_path)
    (corpus / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    code, run_dir = run_cli(tmp_path, corpus)
    assert_failed_cleanly(code, run_dir, capsys, "image.png", "binary")


def test_non_utf8_file(tmp_path, capsys):
    corpus = good_corpus(tmp_path)
    (corpus / "latin1.txt").write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    code, run_dir = run_cli(tmp_path, corpus)
    assert_failed_cleanly(code, run_dir, capsys, "latin1.txt", "UTF-8")


def test_file_with_only_empty_documents(tmp_path, capsys):
    corpus = good_corpus(tmp_path)
    (corpus / "blank.txt").write_text("\n   \n\n\t\n")
    code, run_dir = run_cli(tmp_path, corpus)
    assert_failed_cleanly(code, run_dir, capsys, "blank.txt")


def test_vocab_size_smaller_than_reserved_tokens(tmp_path, capsys):
    code, run_dir = run_cli(tmp_path, good_corpus(tmp_path), "--vocab-size", "4")
    assert_failed_cleanly(code, run_dir, capsys, "vocab_size=4", "--vocab-size")


def test_sequence_too_short_for_cls_token_sep(tmp_path, capsys):
    code, run_dir = run_cli(tmp_path, good_corpus(tmp_path), "--seq-length", "2")
    assert_failed_cleanly(code, run_dir, capsys, "seq_length=2", "[CLS]", "--seq-length")


def test_unknown_model_size(tmp_path, capsys):
    code, run_dir = run_cli(tmp_path, good_corpus(tmp_path), "--model-size", "giant")
    assert_failed_cleanly(code, run_dir, capsys, "model_size='giant'")


def test_bad_flag_value_is_an_argparse_error(tmp_path):
    with pytest.raises(SystemExit) as error:
        run_cli(tmp_path, good_corpus(tmp_path), "--vocab-size", "many")
    assert error.value.code == 2


def test_a_dry_run_checks_everything_and_starts_nothing(tmp_path, capsys):
    code, run_dir = run_cli(tmp_path, good_corpus(tmp_path), "--dry-run")
    out = capsys.readouterr().out
    assert code == 0
    assert "2 documents" in out and "nothing was started" in out and str(run_dir) in out
    assert not os.path.exists(run_dir), "a dry run starts no pipeline work"


def test_a_dry_run_refuses_bad_input_as_a_run_does(tmp_path, capsys):
    code, run_dir = run_cli(tmp_path, tmp_path / "nope", "--dry-run")
    assert_failed_cleanly(code, run_dir, capsys, str(tmp_path / "nope"))
