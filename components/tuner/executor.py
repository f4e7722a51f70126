"""The Tuner's executor: TFX's search (tfx/components/tuner/executor.py: `search`, which calls
the family's `tuner_fn` and KerasTuner's `search`), run in one process or, with
`TuneArgs(num_parallel_trials=N)` (`--tuner-workers N`), as KerasTuner's own chief/worker
protocol on this machine: this process serves the one oracle over gRPC (KERASTUNER_TUNER_ID
"chief", KERASTUNER_ORACLE_IP/PORT) and N worker processes (`python -m
components.tuner.worker`) ask it for trials, so no trial runs twice.

Outputs, in `tuner_results/`: `tuner_results.json` (every trial: TFX's records, `trial_id`,
`score` and the values, plus steps, seconds and how it ended), `search.json` (the search's
settings, its wall time, the best trial), `trials.png` (the objective against each searched
setting) and `tensorboard/` (a session per trial with TensorBoard's HParams plugin data); in
`best_hyperparameters/best_hyperparameters.txt` the best trial's KerasTuner config, which TFX's
Trainer reads as `fn_args.hyperparameters`.
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List

from absl import logging
from tfx import types
from tfx.components.tuner import executor as tfx_tuner
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, json_utils

from components.tuner import results

TRIALS_LOG_DIR = "tensorboard"
WORKER_MODULE = "components.tuner.worker"


class SearchError(RuntimeError):
    """No trial of the search finished, or a worker process failed."""


class Executor(base_executor.BaseExecutor):
    """TFX Tuner executor: one search, its results written (module docstring)."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        properties = with_trials_log_dir(output_dict, exec_properties)
        space, log_root, workers = search_settings(properties)
        properties.pop(standard_component_specs.TUNE_ARGS_KEY, None)
        working_dir = self._get_tmp_dir()
        started = time.time()
        if workers == 1:
            tuner = tfx_tuner.search(input_dict, properties, working_dir)
        else:
            tuner = parallel_search(input_dict, properties, working_dir, workers)
        write_search_outputs(tuner, output_dict, space, log_root,
                             round(time.time() - started, 1), workers)


def with_trials_log_dir(output_dict, exec_properties) -> dict:
    """The Tuner's execution properties with `trials_log_dir` (TRIALS_LOG_DIR in its
    `tuner_results` artifact: the trials' TensorBoard logs and records) in its custom_config."""
    results_dir = artifact_utils.get_single_uri(
        output_dict[standard_component_specs.TUNER_RESULTS_KEY])
    config = json_utils.loads(exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY)
                              or "null") or {}
    config["trials_log_dir"] = os.path.join(results_dir, TRIALS_LOG_DIR)
    return {**exec_properties,
            standard_component_specs.CUSTOM_CONFIG_KEY: json_utils.dumps(config)}


def search_settings(exec_properties):
    """(the SearchSpace, the trials' log directory, the worker processes) of a Tuner's
    execution properties (after with_trials_log_dir)."""
    from models.core import tuning

    config = json_utils.loads(exec_properties[standard_component_specs.CUSTOM_CONFIG_KEY])
    tune_args = tfx_tuner.get_tune_args(exec_properties)
    return (tuning.SearchSpace.from_dict(config["space"]), config["trials_log_dir"],
            max(1, tune_args.num_parallel_trials) if tune_args else 1)


def write_search_outputs(tuner, output_dict, space, log_root: str, seconds: float,
                         workers: int) -> None:
    """After a search (here, or on Vertex AI's chief: components/tuner/vertex.py): the best
    trial's settings as best_hyperparameters.txt, the trials table, search.json, the plot and
    the HParams config. Raises SearchError when no trial finished."""
    from models.core import tuning

    rows = tuning.trials_table(tuner.oracle, log_root, space.direction)
    best = list(tuner.oracle.get_best_trials(1))
    if not best:
        raise SearchError(
            f"no trial of the search finished ({len(rows)} started): "
            + "; ".join(f"trial {r['trial_id']}: {r['ended']}" for r in rows[:5]))
    for row in rows:
        row["best"] = row["trial_id"] == best[0].trial_id
    best_config = tuner.get_best_hyperparameters()[0].get_config()
    best_path = os.path.join(artifact_utils.get_single_uri(
        output_dict[standard_component_specs.BEST_HYPERPARAMETERS_KEY]),
        tfx_tuner._DEFAULT_BEST_HP_FILE_NAME)
    io_utils.write_string_file(best_path, json.dumps(best_config))
    search = {"algorithm": space.algorithm, "objective": space.objective,
              "direction": space.direction, "max_trials": space.max_trials,
              "trial_steps": space.trial_steps, "evaluations": space.rounds(),
              "workers": workers, "trials": len(rows), "search_seconds": seconds,
              "stopped_early": sum(r["stopped_early"] for r in rows),
              "best_trial": best[0].trial_id,
              "best_objective": next(r["objective"] for r in rows if r["best"]),
              "best_hyperparameters": tuning.searched_values(best_config),
              "space": space.to_dict()}
    results.write_results(artifact_utils.get_single_uri(
        output_dict[standard_component_specs.TUNER_RESULTS_KEY]), rows, search, space)
    logging.info("Search done in %.0f s: best trial %s, %s", seconds, best[0].trial_id,
                 search["best_hyperparameters"])


def parallel_search(input_dict, exec_properties, working_dir: str, workers: int):
    """KerasTuner's chief/worker search on this machine: the oracle here (in a thread), trials
    in `workers` processes. Returns the chief's tuner (its oracle holds every trial). Raises
    SearchError when a worker fails (the others are stopped)."""
    port = _free_port()
    spec = os.path.join(working_dir, "worker_spec.json")
    os.makedirs(working_dir, exist_ok=True)
    with open(spec, "w") as f:
        json.dump({"input_dict": artifact_utils.jsonify_artifact_dict(input_dict),
                   "exec_properties": exec_properties, "working_dir": working_dir}, f)
    oracle_env = {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(port)}
    saved = {k: os.environ.get(k) for k in [*oracle_env, "KERASTUNER_TUNER_ID"]}
    os.environ.update(oracle_env, KERASTUNER_TUNER_ID="chief")
    outcome = {}

    def chief():
        try:
            outcome["tuner"] = tfx_tuner.search(input_dict, exec_properties, working_dir)
        except BaseException as e:  # noqa: BLE001  (reported by the main thread)
            outcome["error"] = e

    thread = threading.Thread(target=chief, name="kerastuner-chief", daemon=True)
    processes = []
    try:
        thread.start()
        repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        for rank in range(workers):
            env = {**os.environ, **oracle_env, "KERASTUNER_TUNER_ID": f"tuner{rank}",
                   "PYTHONPATH": os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")]))}
            processes.append(subprocess.Popen([sys.executable, "-m", WORKER_MODULE, spec], env=env))
        logging.info("Search: oracle on port %d, %d worker processes", port, workers)
        while any(p.poll() is None for p in processes):
            failed = [p for p in processes if p.poll() not in (None, 0)]
            if failed or "error" in outcome:
                raise SearchError(
                    f"worker process {processes.index(failed[0])} of the search exited with "
                    f"{failed[0].returncode} (its log is above)" if failed else
                    f"the search's oracle failed: {outcome['error']}")
            time.sleep(1)
        codes = [p.returncode for p in processes]
        if any(codes):
            raise SearchError(f"worker processes of the search exited with {codes} (their logs "
                              "are above)")
        thread.join(timeout=120)  # the oracle ends once every worker has been told to stop
        if "error" in outcome:
            raise SearchError(f"the search's oracle failed: {outcome['error']}")
        if thread.is_alive() or "tuner" not in outcome:
            raise SearchError("the search's oracle did not end after its workers did")
        return outcome["tuner"]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
