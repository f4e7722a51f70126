"""Beam pipeline options that run on a cluster as given, checked before any work.

lmpipe's Beam steps (ExampleGen, StatisticsGen, the vocabulary, Transform, masking, the
Evaluator) take `--beam-runner` and `--beam-arg`s. Some combinations start and then fail, hang
or lose data far from the flag that caused them; `check` refuses those before any work, naming
the flag that fixes them (ConfigError), and `complete` adds what a runner needs and lmpipe can
know (returned with a note for each addition, which the job prints).

What is refused, and why (apache_beam 2.74):
- `DaskRunner`: loses data in this Beam version (nothing emitted from `finish_bundle`, file
  sinks written empty, only the last branch of a pipeline run); every lmpipe step would be wrong.
- `FlinkRunner` / `SparkRunner` with neither `--job_endpoint` (a job server you run) nor a local
  `--flink_job_server_jar` / `--spark_job_server_jar`: Beam would download its job-server jar
  from Maven Central at run time (apache_beam/utils/subprocess_server.py: `local_jar`), which
  fails or stalls where clusters have no Internet. A jar URL is refused for the same reason.
  A Flink jar whose name says another Flink version than `--flink_version` is refused (the
  job server and the cluster must be the same Flink release; Beam 2.74 publishes 1.17-2.0).
- `PortableRunner` without `--job_endpoint` (`embed` runs Beam's job service in this process).
- `PrismRunner` without a local `--prism_location`: Beam downloads the Prism binary from
  GitHub at run time.
- Workers that could not import lmpipe: on Dataflow, and on a portable runner whose
  environment is `DOCKER` (Beam's default), without `--sdk_container_image` (the image
  `Dockerfile` builds: lmpipe and its pinned stack) or `--extra_packages`. Without either, TFX
  stages an ephemeral sdist of itself that workers pip-install at start-up (tensorflow/tfx
  issues 3435 and 4948: harnesses hang or miss modules) and lmpipe's own modules are not on the
  workers at all. `EXTERNAL` and `PROCESS` environments need `--environment_config` (the
  worker pool's address; the command that starts a worker); their workers run in an
  environment you prepared, so TFX's sdist is not staged for them (pipeline/local_runner.py).

Added by `complete`: `--experiments=pre_optimize=all` for `SparkRunner`: the SDK optimises the
whole pipeline before submitting it (apache_beam/runners/portability/portable_runner.py:
`translations.standard_optimize_phases`: combiner lifting, splittable-DoFn expansion, fusion),
as TFX's own Spark examples run; by default it only packs and lifts combiners and leaves the
rest to the Spark job server.
"""

import os
import re
from typing import List, Sequence, Tuple

from models.core.settings import ConfigError

PORTABLE_RUNNERS = ("PortableRunner", "FlinkRunner", "SparkRunner")
# The job-server jar Beam would otherwise download, per runner: (jar option, gradle target).
_JOB_SERVER_JARS = {"FlinkRunner": ("flink_job_server_jar", ":runners:flink:{}:job-server:shadowJar"),
                    "SparkRunner": ("spark_job_server_jar", ":runners:spark:3:job-server:shadowJar")}
_LOSES_DATA = {"DaskRunner": "Beam's DaskRunner loses data in apache-beam 2.74 (nothing emitted "
                             "from finish_bundle, file sinks written empty, only the last branch "
                             "of a pipeline run)"}
_NO_SDIST_ENVIRONMENTS = ("LOOPBACK", "EXTERNAL", "PROCESS")


def _options(beam_args: Sequence[str]):
    from apache_beam.options import pipeline_options as po

    options = po.PipelineOptions(list(beam_args))
    return options, options.get_all_options(drop_default=True)


def with_runner(beam_args: Sequence[str], runner: str) -> List[str]:
    """`beam_args` with `--runner=runner` first, unless they name a runner themselves."""
    args = list(beam_args)
    if not any(a.startswith("--runner") for a in args):
        args.insert(0, f"--runner={runner}")
    return args


def runner_name(beam_args: Sequence[str]) -> str:
    """The runner `beam_args` name (`--runner=`), without a module path; DirectRunner if none."""
    runner = _options(beam_args)[1].get("runner") or "DirectRunner"
    return runner.rsplit(".", 1)[-1]


def environment_type(beam_args: Sequence[str]) -> str:
    """The SDK worker environment a portable runner would start (Beam's default: DOCKER; Flink
    and Spark on an in-process master: LOOPBACK)."""
    given = _options(beam_args)[1]
    if given.get("environment_type"):
        return given["environment_type"].upper()
    runner = runner_name(beam_args)
    if runner == "FlinkRunner" and given.get("flink_master", "[auto]") in ("[auto]", "[local]"):
        return "LOOPBACK"
    if runner == "SparkRunner" and given.get("spark_master_url", "local[4]").startswith("local"):
        return "LOOPBACK"
    return "DOCKER"


def stages_tfx_sdist(beam_args: Sequence[str]) -> bool:
    """Whether TFX would stage (and workers pip-install) its ephemeral sdist for these options:
    never for DirectRunner or workers in an environment you prepared (LOOPBACK, EXTERNAL,
    PROCESS); otherwise unless a dependency option is given (tfx/utils/dependency_utils.py)."""
    runner = runner_name(beam_args)
    if runner == "DirectRunner":
        return False
    if runner in PORTABLE_RUNNERS and environment_type(beam_args) in _NO_SDIST_ENVIRONMENTS:
        return False
    given = _options(beam_args)[1]
    return not any(given.get(name) for name in (
        "extra_packages", "setup_file", "requirements_file", "sdk_container_image",
        "worker_harness_container_image"))


def check(beam_args: Sequence[str]) -> None:
    """Raises ConfigError for options that would fail, hang, download at run time or lose
    data on their runner (the module docstring lists them), naming the flag that fixes it."""
    runner = runner_name(beam_args)
    given = _options(beam_args)[1]

    def flag(name, value="VALUE"):
        return f"--beam-arg=--{name}={value}"

    if runner in _LOSES_DATA:
        raise ConfigError(f"--runner {runner}: {_LOSES_DATA[runner]}; every lmpipe step would be "
                          "wrong on it. Use DirectRunner here, or FlinkRunner, SparkRunner, "
                          "DataflowRunner or PortableRunner on a cluster (README 'Beam runners').")
    if runner in _JOB_SERVER_JARS and not given.get("job_endpoint"):
        option, target = _JOB_SERVER_JARS[runner]
        jar = given.get(option)
        version = given.get("flink_version", "")
        if not jar:
            from apache_beam.options.pipeline_options import FlinkRunnerOptions
            from apache_beam.utils.subprocess_server import JavaJarServer

            url = JavaJarServer.path_to_beam_jar(target.format(
                version or FlinkRunnerOptions.PUBLISHED_FLINK_VERSIONS[-1]))
            raise ConfigError(
                f"{runner} with neither {flag('job_endpoint', 'HOST:8099')} (a job server you "
                f"run) nor {flag(option, '/path/to/job-server.jar')}: Beam would download "
                f"{url} at run time. Download it once and give its path, or point at a running "
                "job server.")
        if "://" in jar:
            raise ConfigError(f"--{option}={jar}: a URL is downloaded at run time; download it "
                              "once and give its local path.")
        if not os.path.isfile(jar):
            raise ConfigError(f"--{option}={jar}: no such file (give the job-server jar's path).")
        if runner == "FlinkRunner":
            if not version:
                raise ConfigError(f"FlinkRunner with --{option}: give {flag('flink_version', 'X.Y')}"
                                  " too, the Flink version of your cluster and of the jar.")
            found = re.search(r"beam-runners-flink-(\d+\.\d+)-job-server", os.path.basename(jar))
            if found and found.group(1) != version:
                raise ConfigError(f"--{option}={jar} is the job server for Flink {found.group(1)}"
                                  f", --flink_version is {version}: they must be the same, and "
                                  "the cluster's.")
    if runner == "PortableRunner" and not given.get("job_endpoint"):
        raise ConfigError(f"PortableRunner needs {flag('job_endpoint', 'HOST:PORT')} (a job "
                          f"server you run), or {flag('job_endpoint', 'embed')} for Beam's job "
                          "service in this process.")
    if runner == "PrismRunner":
        location = given.get("prism_location")
        if not location or "://" in location or not os.path.exists(location):
            raise ConfigError(f"PrismRunner downloads the Prism binary from GitHub at run time "
                              f"unless {flag('prism_location', '/path/to/prism')} names a local "
                              "copy" + (f" ({location} is not one)" if location else "") + ".")
    if runner in PORTABLE_RUNNERS:
        environment = environment_type(beam_args)
        if environment in ("EXTERNAL", "PROCESS") and not given.get("environment_config"):
            what = ("HOST:PORT of the worker pool (python -m "
                    "apache_beam.runners.worker.worker_pool_main)" if environment == "EXTERNAL"
                    else "the worker start command as JSON")
            raise ConfigError(f"--environment_type={environment} needs "
                              f"{flag('environment_config')}: {what}.")
    if stages_tfx_sdist(beam_args):
        raise ConfigError(
            f"{runner} workers would not have lmpipe: give "
            f"{flag('sdk_container_image', 'REGISTRY/lmpipe:TAG')} (the image `docker build .` "
            f"makes from Dockerfile: lmpipe and its pinned stack) or {flag('extra_packages')}. "
            "Otherwise TFX stages an ephemeral sdist of itself that workers pip-install at "
            "start-up (tensorflow/tfx issues 3435, 4948), and lmpipe's modules are missing.")


def complete(beam_args: Sequence[str]) -> Tuple[List[str], List[str]]:
    """(`beam_args` with what the runner needs added, a note per addition)."""
    args, notes = list(beam_args), []
    if runner_name(args) == "SparkRunner":
        experiments = _options(args)[1].get("experiments") or []
        if not any(e.startswith("pre_optimize") for e in experiments):
            args.append("--experiments=pre_optimize=all")
            notes.append("SparkRunner: added --experiments=pre_optimize=all (the SDK optimises "
                         "the whole pipeline; give --beam-arg=--experiments=pre_optimize=... to "
                         "choose otherwise)")
    return args, notes
