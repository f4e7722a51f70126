"""`lmpipe compile`: the pretraining pipeline as a Vertex AI / Kubeflow Pipelines v2 spec,
parsed back with the KFP pipeline-spec protobuf."""

import os

import pytest

from pipeline import cli
from pipeline.tfx_pipeline import IMAGE_REPO_ROOT
from tests.conftest import REPO

COMPONENTS = {"FileBasedExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator",
              "WordPieceVocabGen", "Tokenize", "MlmMasker", "Trainer", "Evaluator", "Pusher"}


def read_compiled(path: str):
    """(PipelineSpec protobuf, runtime config dict) of a compiled file, either format; raises
    if it does not parse as KFP's pipeline spec."""
    import yaml
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    with open(path) as f:
        document = yaml.safe_load(f)  # JSON is YAML
    runtime_config = {}
    if "pipelineSpec" in document:  # a PipelineJob
        job = json_format.ParseDict(document, pipeline_spec_pb2.PipelineJob())
        document = json_format.MessageToDict(job.pipeline_spec)
        runtime_config = json_format.MessageToDict(job.runtime_config)
    return json_format.ParseDict(document, pipeline_spec_pb2.PipelineSpec()), runtime_config


@pytest.mark.parametrize("target, filename", [("vertex", "pretrain.json"),
                                              ("kubeflow", "pretrain.yaml")])
def test_compiled_spec_parses_and_has_every_component(tmp_path, target, filename):
    output = tmp_path / filename
    code = cli.main(["compile", "--target", target, "--output", str(output),
                     "--image", "europe-docker.pkg.dev/p/r/lmpipe:1",
                     "--corpus", "gs://bucket/corpus", "--run-dir", "gs://bucket/runs/pretrain",
                     "--beam-runner", "DataflowRunner", "--beam-arg=--project=p",
                     "--beam-arg=--region=europe-west4", "--train-steps", "5000"])
    assert code == 0
    spec, runtime_config = read_compiled(str(output))
    tasks = set(spec.root.dag.tasks.keys())
    assert COMPONENTS <= tasks
    assert any("resolver" in t for t in tasks)  # the latest-blessed-model baseline
    for name, task in spec.root.dag.tasks.items():  # every task refers to a defined component
        assert task.component_ref.name in spec.components, name
    executors = spec.deployment_spec["executors"]
    for name, executor in executors.items():
        if "container" in executor:
            assert executor["container"]["image"] == "europe-docker.pkg.dev/p/r/lmpipe:1", name
    trainer = executors["Trainer_executor"]["container"]["args"]
    assert "--runner=DataflowRunner" in trainer and "--project=p" in trainer
    if target == "vertex":
        assert runtime_config["gcsOutputDirectory"] == "gs://bucket/runs/pretrain/pipeline"
    text = output.read_text()
    assert "/lmpipe/schemas/corpus.pbtxt" in text  # the schema inside the image
    assert "5000" in text  # the config travels with the Trainer


def test_compile_refuses_local_paths(tmp_path, capsys):
    code = cli.main(["compile", "--target", "vertex", "--output", str(tmp_path / "p.json"),
                     "--corpus", str(tmp_path), "--run-dir", "gs://bucket/run"])
    assert code == cli.EXIT_BAD_INPUT
    assert "--corpus must be a location the cluster reads" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "p.json")


def test_dockerfile_builds_on_the_tfx_image_we_pin():
    import tfx

    repo = REPO
    with open(os.path.join(repo, "Dockerfile")) as f:
        dockerfile = f.read()
    assert f"FROM gcr.io/tfx-oss-public/tfx:{tfx.__version__}" in dockerfile
    assert f"WORKDIR {IMAGE_REPO_ROOT}" in dockerfile
