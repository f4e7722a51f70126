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
    # Dataflow's workers run the pipeline image (without it TFX would stage an sdist of itself)
    assert "--sdk_container_image=europe-docker.pkg.dev/p/r/lmpipe:1" in trainer
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


@pytest.fixture
def bucket():
    """A cluster file system for `lmpipe compile` to read and write: TensorFlow's in-memory
    `ram://` file system, reached through TFX's own tf.io.gfile plugin exactly as gs:// is (only
    the scheme differs; no bucket is reachable from the test machines)."""
    import shutil
    import uuid

    import tensorflow as tf
    from tfx.dsl.io import filesystem_registry
    from tfx.dsl.io.plugins.tensorflow_gfile import TensorflowFilesystem

    class RamFilesystem(TensorflowFilesystem):
        SUPPORTED_SCHEMES = ["ram://"]

    filesystem_registry.DEFAULT_FILESYSTEM_REGISTRY.register(RamFilesystem, priority=20)
    root = f"ram://bucket-{uuid.uuid4().hex[:8]}"

    def put(local, remote):
        tf.io.gfile.makedirs(os.path.dirname(f"{root}/{remote}"))
        tf.io.gfile.copy(local, f"{root}/{remote}", overwrite=True)

    put(os.path.join(REPO, "data", "sentiment", "rotten_tomatoes_sample.tsv"), "reviews/all.tsv")
    ner = os.path.join(REPO, "data", "ner", "uner_en_ewt_sample")
    for name in os.listdir(ner):
        put(os.path.join(ner, name), f"ner/{name}")
    qa = os.path.join(REPO, "data", "qa", "squad_sample")
    for name in ("train.json", "eval.json"):
        put(os.path.join(qa, name), f"qa/{name}")
    put(os.path.join(REPO, "tests", "data", "bert_parity", "checkpoint", "config.json"),
        "bert/config.json")
    put(os.path.join(REPO, "tests", "data", "gpt2_parity", "checkpoint", "config.json"),
        "gpt2/config.json")
    tf.io.gfile.makedirs(f"{root}/pretrain/mlm/encoder")
    with tf.io.gfile.GFile(f"{root}/pretrain/mlm/encoder/config.json", "w") as f:
        f.write("{}")
    yield root
    tf.io.gfile.rmtree(root)
    shutil.rmtree("ram:", ignore_errors=True)  # nothing may have been written locally


def _compile(tmp_path, capsys, job, *argv, target="vertex"):
    output = tmp_path / f"{job}.{'json' if target == 'vertex' else 'yaml'}"
    code = cli.main(["compile", "--job", job, "--target", target, "--output", str(output),
                     "--image", "europe-docker.pkg.dev/p/r/lmpipe:1", *argv])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert not os.path.exists("ram:")
    return read_compiled(str(output)), output.read_text(), out.out


def _executors(spec):
    return spec.deployment_spec["executors"]


def test_finetune_compiles_for_vertex_with_its_tasks_and_the_image_on_the_workers(
        tmp_path, capsys, bucket):
    import tensorflow as tf

    (spec, runtime), text, out = _compile(
        tmp_path, capsys, "finetune", "--data", f"{bucket}/reviews",
        "--labels", "negative,positive", "--pretrained", f"{bucket}/pretrain/mlm",
        "--run-dir", f"{bucket}/runs/finetune", "--train-steps", "700",
        "--beam-runner", "DataflowRunner", "--beam-arg=--project=p",
        "--beam-arg=--region=europe-west4")
    tasks = set(spec.root.dag.tasks.keys())
    assert len(tasks) >= 8
    assert {"FileBasedExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator",
            "pretrained_vocabulary", "pretrained_model", "Tokenize", "Trainer", "Evaluator",
            "Pusher"} <= tasks
    for name, task in spec.root.dag.tasks.items():
        assert task.component_ref.name in spec.components, name
    for name, executor in _executors(spec).items():
        if "container" in executor:
            assert executor["container"]["image"] == "europe-docker.pkg.dev/p/r/lmpipe:1", name
    trainer = _executors(spec)["Trainer_executor"]["container"]["args"]
    assert "--runner=DataflowRunner" in trainer
    assert "--sdk_container_image=europe-docker.pkg.dev/p/r/lmpipe:1" in trainer
    assert "added --sdk_container_image=europe-docker.pkg.dev/p/r/lmpipe:1" in out
    assert runtime["gcsOutputDirectory"] == f"{bucket}/runs/finetune/pipeline"
    assert f"{bucket}/pretrain/mlm/encoder" in text and "700" in text
    # The run's schema, written to the cluster: the classes in order, as local runs write it.
    schema = tf.io.gfile.glob(f"{bucket}/runs/finetune/pipeline/schemas/labelled-*.pbtxt")
    assert len(schema) == 1 and schema[0] in text
    assert 'value: "negative"\n  value: "positive"' in tf.io.gfile.GFile(schema[0]).read()


def test_finetune_from_a_checkpoint_and_token_classification_compile(tmp_path, capsys, bucket):
    (spec, _), text, _ = _compile(
        tmp_path, capsys, "finetune", "--data", f"{bucket}/reviews/all.tsv",
        "--labels", "negative,positive", "--pretrained", f"{bucket}/bert",
        "--run-dir", f"{bucket}/runs/ft2", target="kubeflow")
    assert {"checkpoint", "CheckpointImport", "Trainer", "Pusher"} <= set(spec.root.dag.tasks)
    (spec, _), text, _ = _compile(
        tmp_path, capsys, "finetune", "--task", "token-classification",
        "--data", f"{bucket}/ner", "--labels", "LOC,ORG,PER",
        "--pretrained", f"{bucket}/pretrain/mlm", "--run-dir", f"{bucket}/runs/ner")
    assert {"FileBasedExampleGen", "Tokenize", "Trainer", "Evaluator", "Pusher"} <= set(
        spec.root.dag.tasks)
    assert "B-LOC" in text and "models.token_classification.trainer.run_fn" in text
    (spec, _), text, _ = _compile(
        tmp_path, capsys, "finetune", "--task", "question-answering",
        "--data", f"{bucket}/qa", "--pretrained", f"{bucket}/bert",
        "--run-dir", f"{bucket}/runs/qa", "--doc-stride", "64")
    assert {"FileBasedExampleGen", "CheckpointImport", "Tokenize", "Trainer", "Evaluator",
            "Pusher"} <= set(spec.root.dag.tasks)
    assert "models.question_answering.trainer.run_fn" in text and "qa_eval" in text
    assert f"{bucket}/runs/qa/pipeline/schemas/qa-" in text  # the curated schema, copied
    code = cli.main(["compile", "--job", "finetune", "--task", "question-answering",
                     "--target", "vertex", "--output", str(tmp_path / "bad.json"),
                     "--data", f"{bucket}/ner", "--pretrained", f"{bucket}/bert",
                     "--run-dir", f"{bucket}/runs/qa-bad"])
    assert code == cli.EXIT_BAD_INPUT
    assert "holds no question-answering files" in capsys.readouterr().err


def test_import_compiles_for_bert_and_gpt2(tmp_path, capsys, bucket):
    (spec, _), text, _ = _compile(tmp_path, capsys, "import", "--checkpoint", f"{bucket}/bert",
                                  "--run-dir", f"{bucket}/runs/import")
    assert set(spec.root.dag.tasks) == {"checkpoint", "CheckpointImport", "Pusher"}
    (spec, _), text, _ = _compile(tmp_path, capsys, "import", "--checkpoint", f"{bucket}/gpt2",
                                  "--run-dir", f"{bucket}/runs/import-gpt2")
    assert set(spec.root.dag.tasks) == {"checkpoint", "CausalCheckpointImport", "Pusher"}
    assert f"{bucket}/runs/import-gpt2/serving/clm" in text


@pytest.mark.parametrize("argv, message", [
    (["--job", "finetune", "--data", "DATA/reviews", "--pretrained", "DATA/pretrain/mlm"],
     "give --labels A,B,... (the classes in order) or --schema-file"),
    (["--job", "finetune", "--data", "DATA/reviews", "--labels", "a,b", "--pretrained",
      "DATA/gpt2"], "is a GPT-2 (causal LM) checkpoint: fine-tuning takes a BERT-style"),
    (["--job", "finetune", "--data", "DATA/reviews", "--labels", "a,b", "--pretrained",
      "DATA/nothing"], "neither a model lmpipe pretrained (encoder/config.json) nor a checkpoint"),
    (["--job", "finetune", "--data", "data/sentiment", "--labels", "a,b", "--pretrained",
      "DATA/bert"], "--data must be a location the cluster reads"),
    (["--job", "finetune", "--task", "token-classification", "--data", "DATA/ner",
      "--pretrained", "DATA/bert"], "give --labels with the entity types"),
    (["--job", "finetune", "--data", "DATA/reviews", "--labels", "a,b", "--pretrained",
      "DATA/bert", "--tag-scheme", "iob1"], "--tag-scheme: not a setting of --task text-classification"),
    (["--job", "pretrain", "--corpus", "DATA/c", "--beam-runner", "SparkRunner"],
     "SparkRunner with neither --beam-arg=--job_endpoint=HOST:8099"),
])
def test_compile_refuses_what_would_fail_on_the_cluster(tmp_path, capsys, bucket, argv, message):
    argv = [a.replace("DATA", bucket) for a in argv]
    code = cli.main(["compile", "--target", "vertex", "--output", str(tmp_path / "p.json"),
                     "--run-dir", f"{bucket}/run", *argv])
    assert code == cli.EXIT_BAD_INPUT
    assert message in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "p.json")


def test_the_trainer_runs_as_a_vertex_custom_job_of_several_workers(tmp_path, capsys, bucket):
    import json

    spec_file = tmp_path / "training.json"
    spec_file.write_text(json.dumps({"project": "p", "worker_pool_specs": [
        {"machine_spec": {"machine_type": "n1-standard-16"}, "replica_count": 1},
        {"machine_spec": {"machine_type": "n1-standard-16"}, "replica_count": 3}]}))
    argv = ["--data", f"{bucket}/reviews", "--labels", "negative,positive",
            "--pretrained", f"{bucket}/pretrain/mlm", "--run-dir", f"{bucket}/runs/mw",
            "--vertex-training", str(spec_file), "--vertex-region", "europe-west4"]
    code = cli.main(["compile", "--job", "finetune", "--target", "vertex", "--output",
                     str(tmp_path / "x.json"), *argv])
    assert code == cli.EXIT_BAD_INPUT
    assert "starts 4 replicas: train with --strategy multi_worker" in capsys.readouterr().err
    (spec, _), text, _ = _compile(tmp_path, capsys, "finetune", *argv,
                                  "--strategy", "multi_worker", "--batch-size", "64")
    trainer = spec.deployment_spec["executors"]["Trainer_executor"]["container"]["args"]
    assert any("google_cloud_ai_platform.trainer.executor.GenericExecutor" in a for a in trainer)
    config = json.loads(spec.root.dag.tasks["Trainer"].inputs.parameters[
        "custom_config"].runtime_value.constant_value.string_value)
    assert config["ai_platform_enable_vertex"] is True
    assert config["ai_platform_vertex_region"] == "europe-west4"
    pools = config["ai_platform_training_args"]["worker_pool_specs"]
    assert [p["replica_count"] for p in pools] == [1, 3]
    assert {p["container_spec"]["image_uri"] for p in pools} == {"europe-docker.pkg.dev/p/r/lmpipe:1"}
    assert config["settings"]["strategy"] == "multi_worker"


def test_a_search_compiles_as_the_tuner_and_on_vertex_as_its_tuner_extension(
        tmp_path, capsys, bucket):
    import json

    space = tmp_path / "space.yaml"
    space.write_text("algorithm: bayesian\nmax_trials: 12\ntrial_steps: 200\nhyperparameters:\n"
                     "  learning_rate: {min: 1.0e-5, max: 1.0e-4, sampling: log}\n")
    argv = ["--data", f"{bucket}/reviews", "--labels", "negative,positive",
            "--pretrained", f"{bucket}/pretrain/mlm", "--run-dir", f"{bucket}/runs/tuned",
            "--tune", str(space), "--tuner-workers", "4"]
    (spec, _), _, _ = _compile(tmp_path, capsys, "finetune", *argv)
    assert {"Tokenize", "Tuner", "Trainer", "Evaluator", "Pusher"} <= set(spec.root.dag.tasks)
    tuner = spec.deployment_spec["executors"]["Tuner_executor"]["container"]["args"]
    assert any("components.tuner.executor.Executor" in a for a in tuner)
    trainer_inputs = spec.root.dag.tasks["Trainer"].inputs.artifacts
    assert trainer_inputs["hyperparameters"].task_output_artifact.producer_task == "Tuner"
    parameters = spec.root.dag.tasks["Tuner"].inputs.parameters
    config = json.loads(parameters["custom_config"].runtime_value.constant_value.string_value)
    assert config["space"]["algorithm"] == "bayesian" and config["space"]["max_trials"] == 12
    assert config["settings"]["train_steps"] == 200  # a trial's budget, not the final one's
    assert '"num_parallel_trials": 4' in parameters["tune_args"].runtime_value.constant_value \
        .string_value.replace("numParallelTrials", "num_parallel_trials")

    spec_file = tmp_path / "training.json"
    spec_file.write_text(json.dumps({"project": "p", "worker_pool_specs": [
        {"machine_spec": {"machine_type": "n1-standard-16"}, "replica_count": 1}]}))
    (spec, _), _, _ = _compile(tmp_path, capsys, "finetune", *argv, "--vertex-training",
                               str(spec_file), "--vertex-region", "europe-west4")
    tuner = spec.deployment_spec["executors"]["Tuner_executor"]["container"]["args"]
    assert any("components.tuner.vertex.VertexExecutor" in a for a in tuner)
    config = json.loads(spec.root.dag.tasks["Tuner"].inputs.parameters[
        "custom_config"].runtime_value.constant_value.string_value)
    assert config["ai_platform_enable_vertex"] is True
    assert config["ai_platform_tuning_args"]["project"] == "p"
    pools = config["ai_platform_tuning_args"]["job_spec"]["worker_pool_specs"]
    assert pools[0]["container_spec"]["image_uri"] == "europe-docker.pkg.dev/p/r/lmpipe:1"
