"""The Tuner on Vertex AI (`lmpipe compile ... --vertex-training FILE`): TFX's Vertex Tuner
extension (tfx/extensions/google_cloud_ai_platform/tuner/executor.py) starts a CustomJob whose
primary replica serves KerasTuner's oracle and whose replicas run trials (`--tuner-workers N`:
N replicas), with lmpipe's outputs in place of TFX's: the chief oracle writes them with
components/tuner/executor.py: write_search_outputs (every trial, the plot, HParams; no
tfx#7778 failure under Hyperband), and each trial's record and logs go to the Tuner's output
artifact, a cluster path every replica writes."""

import os
import time
from typing import Any, Dict, List

from tfx import types
from tfx.components.tuner import executor as tfx_tuner
from tfx.extensions.google_cloud_ai_platform.tuner import executor as vertex_tuner

from components.tuner.executor import search_settings, with_trials_log_dir, write_search_outputs


class VertexWorkerExecutor(vertex_tuner._WorkerExecutor):
    """A replica of the Vertex AI tuning job (TFX's worker executor); the oracle's process
    writes lmpipe's outputs when the search ends."""

    def _run_chief_oracle(self, input_dict, output_dict, exec_properties) -> None:
        # As TFX's: KerasTuner reads the chief's address from the environment.
        os.environ["KERASTUNER_ORACLE_IP"] = "0.0.0.0"
        os.environ["KERASTUNER_ORACLE_PORT"] = self._master_port
        os.environ["KERASTUNER_TUNER_ID"] = "chief"
        started = time.time()
        tuner = tfx_tuner.search(input_dict, exec_properties, vertex_tuner._WORKING_DIRECTORY)
        space, log_root, workers = search_settings(exec_properties)
        write_search_outputs(tuner, output_dict, space, log_root,
                             round(time.time() - started, 1), workers)

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        started = time.time()
        tuner = self._search(input_dict, output_dict, exec_properties)
        if self._tuner_id is not None:  # distributed: the chief oracle wrote the outputs
            return
        space, log_root, workers = search_settings(exec_properties)
        write_search_outputs(tuner, output_dict, space, log_root,
                             round(time.time() - started, 1), workers)


class VertexExecutor(vertex_tuner.Executor):
    """Starts the Vertex AI tuning job (TFX's), its replicas running VertexWorkerExecutor, the
    trials' logs and records under the Tuner's `tuner_results` artifact."""

    def Do(self, input_dict, output_dict, exec_properties) -> None:
        exec_properties = with_trials_log_dir(output_dict, exec_properties)
        original = vertex_tuner._WorkerExecutor
        vertex_tuner._WorkerExecutor = VertexWorkerExecutor  # the class the job's replicas run
        try:
            return super().Do(input_dict, output_dict, exec_properties)
        finally:
            vertex_tuner._WorkerExecutor = original
