"""Beam options for a cluster, assembled and checked before any work (pipeline/beam_options.py):
each runner's options as lmpipe passes them, and each combination that would download a jar at
run time, lose data or leave workers without lmpipe refused with the flag that fixes it."""

import pytest

from pipeline import beam_options, cli
from pipeline.config import ConfigError, FinetuneConfig, PretrainConfig

IMAGE = "--sdk_container_image=europe-docker.pkg.dev/p/r/lmpipe:1"


def _config(runner, *args, cls=PretrainConfig, **kwargs):
    return cls(corpus_dir="c", beam_runner=runner, beam_args=list(args), **kwargs) \
        if cls is PretrainConfig else cls(data="d", beam_runner=runner, beam_args=list(args),
                                          **kwargs)


@pytest.fixture
def jar(tmp_path):
    path = tmp_path / "beam-runners-flink-1.19-job-server-2.74.0.jar"
    path.write_bytes(b"PK")
    return str(path)


def test_flink_with_a_local_jar_of_the_clusters_version(jar):
    cfg = _config("FlinkRunner", "--flink_master=flink:8081", "--flink_version=1.19",
                  f"--flink_job_server_jar={jar}", IMAGE, "--direct_num_workers=2")
    assert cfg.pipeline_beam_args == ["--runner=FlinkRunner", "--flink_master=flink:8081",
                                      "--flink_version=1.19", f"--flink_job_server_jar={jar}",
                                      IMAGE]
    assert cfg.beam_notes == []
    assert beam_options.environment_type(cfg.pipeline_beam_args) == "DOCKER"
    assert not beam_options.stages_tfx_sdist(cfg.pipeline_beam_args)


def test_flink_and_spark_through_a_job_server_you_run():
    flink = _config("FlinkRunner", "--job_endpoint=flink-jobserver:8099",
                    "--environment_type=EXTERNAL", "--environment_config=localhost:50000")
    assert "--job_endpoint=flink-jobserver:8099" in flink.pipeline_beam_args
    spark = _config("SparkRunner", "--job_endpoint=spark-jobserver:8099", IMAGE)
    assert spark.pipeline_beam_args[-1] == "--experiments=pre_optimize=all"
    assert spark.beam_notes == ["SparkRunner: added --experiments=pre_optimize=all (the SDK "
                                "optimises the whole pipeline; give --beam-arg=--experiments="
                                "pre_optimize=... to choose otherwise)"]
    own = _config("SparkRunner", "--job_endpoint=s:8099", IMAGE, "--experiments=pre_optimize=default")
    assert own.pipeline_beam_args.count("--experiments=pre_optimize=default") == 1
    assert not own.beam_notes and "--experiments=pre_optimize=all" not in own.pipeline_beam_args


def test_dataflow_with_the_image_and_portable_with_a_worker_pool():
    dataflow = _config("DataflowRunner", "--project=p", "--region=europe-west4", IMAGE,
                       cls=FinetuneConfig, labels=("neg", "pos"), pretrained="gs://b/enc")
    assert dataflow.pipeline_beam_args == ["--runner=DataflowRunner", "--project=p",
                                           "--region=europe-west4", IMAGE]
    _config("DataflowRunner", "--project=p", "--extra_packages=dist/lmpipe.tar.gz")
    portable = _config("PortableRunner", "--job_endpoint=embed", "--environment_type=EXTERNAL",
                       "--environment_config=localhost:50000")
    assert beam_options.environment_type(portable.pipeline_beam_args) == "EXTERNAL"


@pytest.mark.parametrize("runner, args, message", [
    ("DataflowRunner", ["--beam-arg=--runner=apache_beam.runners.dask.dask_runner.DaskRunner"],
     "--runner DaskRunner: Beam's DaskRunner loses data in apache-beam 2.74"),
    ("FlinkRunner", ["--flink_master=flink:8081", IMAGE],
     "FlinkRunner with neither --beam-arg=--job_endpoint=HOST:8099 (a job server you run) nor "
     "--beam-arg=--flink_job_server_jar=/path/to/job-server.jar: Beam would download "
     "https://repo.maven.apache.org/maven2/org/apache/beam/beam-runners-flink-2.0-job-server/"),
    ("FlinkRunner", ["--flink_version=1.18", IMAGE], "beam-runners-flink-1.18-job-server-2.74.0.jar"
                                                      " at run time"),
    ("SparkRunner", ["--spark_master_url=spark://m:7077", IMAGE],
     "beam-runners-spark-3-job-server-2.74.0.jar at run time"),
    ("SparkRunner", ["--spark_job_server_jar=https://repo.example/x.jar", IMAGE],
     "--spark_job_server_jar=https://repo.example/x.jar: a URL is downloaded at run time"),
    ("SparkRunner", ["--spark_job_server_jar=/no/such.jar", IMAGE],
     "--spark_job_server_jar=/no/such.jar: no such file"),
    ("PortableRunner", [IMAGE], "PortableRunner needs --beam-arg=--job_endpoint=HOST:PORT"),
    ("PortableRunner", ["--job_endpoint=embed", "--environment_type=EXTERNAL"],
     "--environment_type=EXTERNAL needs --beam-arg=--environment_config=VALUE: HOST:PORT of the "
     "worker pool"),
    ("PortableRunner", ["--job_endpoint=embed"],
     "PortableRunner workers would not have lmpipe: give --beam-arg=--sdk_container_image="),
    ("DataflowRunner", ["--project=p"], "tensorflow/tfx issues 3435, 4948"),
    ("PrismRunner", [], "PrismRunner downloads the Prism binary from GitHub at run time unless"),
])
def test_options_that_would_fail_on_the_cluster_are_refused(runner, args, message):
    args = [a.replace("--beam-arg=", "") for a in args]
    with pytest.raises(ConfigError) as error:
        _config(runner, *args)
    assert message in str(error.value)


def test_a_flink_jar_of_another_version_or_no_version(jar):
    with pytest.raises(ConfigError, match=r"job server for Flink 1\.19, --flink_version is 1\.20"):
        _config("FlinkRunner", f"--flink_job_server_jar={jar}", "--flink_version=1.20", IMAGE)
    with pytest.raises(ConfigError, match="give --beam-arg=--flink_version=X.Y too"):
        _config("FlinkRunner", f"--flink_job_server_jar={jar}", IMAGE)


def test_the_cli_refuses_before_any_work(tmp_path, capsys):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.txt").write_text("One document.\n\nAnother one.\n")
    code = cli.main(["pretrain", "--corpus", str(tmp_path / "corpus"), "--run-dir",
                     str(tmp_path / "run"), "--beam-runner", "SparkRunner"])
    assert code == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "beam-runners-spark-3-job-server-2.74.0.jar at run time" in err
    assert "nothing was pushed" in err and not (tmp_path / "run").exists()
