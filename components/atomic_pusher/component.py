"""TFX's Pusher, with a push that a polling TF Serving never sees half-written.

TFX's own Pusher copies files straight into `<base>/<version>/` (saved_model.pb last), so a
server polling at the wrong moment can find a version directory with missing variables. This
one copies into `<base>/.incoming-<version>/` and renames it into place when complete
(serving/versions.py: publish); an interrupted push leaves only a hidden, non-numeric
directory, which TF Serving ignores and the next push removes.
"""

import os
import time
from typing import Any, Dict, List

from absl import logging
from tfx import types
from tfx.components.pusher import executor as tfx_pusher_executor
from tfx.dsl.components.base import executor_spec
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, json_utils, proto_utils
from tfx.v1.components import Pusher

from serving import versions


class AtomicPushExecutor(tfx_pusher_executor.Executor):

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return
        model_path = self.GetModelPath(input_dict)
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY],
                                  destination)
        if destination.WhichOneof("destination") != "filesystem":
            raise NotImplementedError("AtomicPusher pushes to a file system destination only")
        base = destination.filesystem.base_directory
        version = int(time.time())
        while os.path.exists(os.path.join(base, str(version))):  # two pushes in one second
            version += 1
        # The archived copy (as TFX's Pusher keeps one) first: a failure there publishes nothing.
        io_utils.copy_dir(model_path, model_push.uri)
        serving_path = versions.publish(model_path, base, version)
        logging.info("Model published atomically to %s.", serving_path)
        self._MarkPushed(model_push, pushed_destination=serving_path,
                         pushed_version=str(version))
        custom_config = json_utils.loads(
            exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY) or "null") or {}
        cap = custom_config.get("max_versions") or 0
        if cap:
            try:
                deleted = versions.prune(base, keep=int(cap))
            except Exception as e:  # noqa: BLE001  (name what was published)
                raise RuntimeError(f"the model was published to {serving_path} (TF Serving serves "
                                   f"it), but removing versions beyond --max-versions {cap} "
                                   f"failed: {type(e).__name__}: {e}") from e
            if deleted:
                logging.info("Kept the newest %d versions; deleted %s.", cap, deleted)


class AtomicPusher(Pusher):
    """`tfx.components.Pusher` with atomic version directories. `custom_config`
    `{"max_versions": N}` keeps only the newest N versions after a push (0 or absent: all)."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(AtomicPushExecutor)
