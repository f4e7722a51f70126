"""A worker process of a parallel search (components/tuner/executor.py: parallel_search):
`python -m components.tuner.worker SPEC.json`, with KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP
and KERASTUNER_ORACLE_PORT set. It builds the family's tuner from the same Tuner inputs and runs
trials the chief's oracle hands out until it says stop."""

import json
import sys


def main(spec_path: str) -> int:
    from absl import logging
    from tfx.components.tuner import executor as tfx_tuner
    from tfx.types import artifact_utils

    logging.set_verbosity(logging.INFO)
    with open(spec_path) as f:
        spec = json.load(f)
    input_dict = artifact_utils.parse_artifact_dict(spec["input_dict"])
    tfx_tuner.search(input_dict, spec["exec_properties"], spec["working_dir"],
                     print_tuning_summary=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
