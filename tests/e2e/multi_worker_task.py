"""One task of a multi-worker Trainer, as a cluster runs it: TF_CONFIG in the environment and
the TFX Trainer's `run_fn` called with the pipeline's artifacts (what Vertex AI Training does
for each replica). Used by tests/e2e/test_scale_out_e2e.py.

    TF_CONFIG=... python tests/e2e/multi_worker_task.py ARGS_JSON
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def main(args_path: str) -> None:
    from tfx.components.trainer.fn_args_utils import FnArgs

    from models.masked_lm import trainer as masked_lm_trainer

    with open(args_path) as f:
        args = json.load(f)
    masked_lm_trainer.run_fn(FnArgs(**args))


if __name__ == "__main__":
    main(sys.argv[1])
