"""Distribution settings checked by the config and the CLI before any pipeline work."""

import json
import subprocess

import pytest

from pipeline import cli
from pipeline.config import ConfigError, PretrainConfig
from tests.conftest import LMPIPE


def test_unknown_strategy_and_runner_fail_in_config():
    with pytest.raises(ConfigError, match="strategy='horovod' is unknown"):
        PretrainConfig(corpus_dir="c", strategy="horovod")
    with pytest.raises(ConfigError, match="beam_runner='MapReduceRunner' is unknown"):
        PretrainConfig(corpus_dir="c", beam_runner="MapReduceRunner")


def test_beam_runner_reaches_the_pipeline_args():
    cfg = PretrainConfig(corpus_dir="c", beam_runner="DataflowRunner",
                         beam_args=["--project=p", "--direct_num_workers=2",
                                    "--sdk_container_image=r/lmpipe:1"])
    assert cfg.pipeline_beam_args == ["--runner=DataflowRunner", "--project=p",
                                      "--sdk_container_image=r/lmpipe:1"]
    default = PretrainConfig(corpus_dir="c")
    assert default.pipeline_beam_args[0] == "--runner=DirectRunner"


def corpus(tmp_path):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.txt").write_text("One document.\n\nAnother one.\n")
    return str(tmp_path / "corpus")


def test_cli_bad_tf_config_fails_before_any_work(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"ps": ["localhost:1"]},
                                                "task": {"type": "ps", "index": 0}}))
    run_dir = tmp_path / "run"
    code = cli.main(["pretrain", "--corpus", corpus(tmp_path), "--run-dir", str(run_dir),
                     "--strategy", "multi_worker"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_BAD_INPUT
    assert "TF_CONFIG names no chief" in err and "nothing was pushed" in err
    assert not run_dir.exists()


def test_cli_batch_not_divisible_over_logical_cpus_fails_before_any_work(tmp_path):
    # A fresh process: the CPU can be split into logical devices only before TF starts.
    run_dir = tmp_path / "run"
    result = subprocess.run(
        [LMPIPE, "pretrain", "--corpus", corpus(tmp_path), "--run-dir", str(run_dir),
         "--strategy", "mirrored", "--cpu-replicas", "3", "--batch-size", "32"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == cli.EXIT_BAD_INPUT, result.stderr[-2000:]
    assert "batch_size=32" in result.stderr and "3 replicas" in result.stderr
    assert not run_dir.exists()
