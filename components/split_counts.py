"""What an ExampleGen read, per split: examples and UTF-8 bytes of their text, counted by Beam
as the examples are written, so that a run's summary says how much of the input reached each
split (a corpus read only in part is visible there, not only in a log line).

`SplitCountsMixin` goes before `BaseExampleGenExecutor` in an executor's bases. After the run,
the Examples artifact holds `split_counts.json` at its root (beside the `Split-*` directories,
which downstream components glob) and the same JSON as its `split_counts` custom property:
`{"train": {"examples": 9012, "bytes": 4411234}, "eval": {...}}`.

The input transform also says how many examples its files hold (`expect`, from the reader's own
check of every file); if the splits hold another number, the ExampleGen fails, so that nothing
downstream (and nothing pushed) is made from input that was read only in part (a runner that
loses elements, a file that changed while it was read).
"""

import json
import os
from typing import Any, Dict, List

import apache_beam as beam
import tensorflow as tf
from tfx import types
from tfx.types import artifact_utils, standard_component_specs

from models.core import features

COUNTS_FILE = "split_counts.json"
COUNTS_PROPERTY = "split_counts"
_EXPECTED_KEY = "_lmpipe_expected_examples"  # in exec_properties, the executor's own dict


class IncompleteReadError(RuntimeError):
    """The splits an ExampleGen wrote hold fewer or more examples than its input files."""


def expect(exec_properties: Dict[str, Any], examples: int) -> None:
    """Called by an input transform: its files hold `examples` examples (added up over the
    input splits)."""
    exec_properties[_EXPECTED_KEY] = exec_properties.get(_EXPECTED_KEY, 0) + examples
_TEXT_FEATURES = (features.TEXT, features.TEXT_PAIR, features.TOKENS, features.QUESTION,
                  features.CONTEXT)


def _example_counts(example: tf.train.Example):
    size = sum(len(value) for name in _TEXT_FEATURES if name in example.features.feature
               for value in example.features.feature[name].bytes_list.value)
    return 1, size


class _SumPairs(beam.CombineFn):
    """(examples, bytes) summed; (0, 0) for an empty split."""

    def create_accumulator(self):
        return 0, 0

    def add_input(self, accumulator, element):
        return accumulator[0] + element[0], accumulator[1] + element[1]

    def merge_accumulators(self, accumulators):
        accumulators = list(accumulators)
        return sum(a[0] for a in accumulators), sum(a[1] for a in accumulators)

    def extract_output(self, accumulator):
        return accumulator


def _write(counts, path: str) -> None:
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump({"examples": int(counts[0]), "bytes": int(counts[1])}, f)


def _split_file(directory: str, split: str) -> str:
    return os.path.join(directory, f".split_counts-{split}.json")


def read_split_counts(examples_uri: str) -> Dict[str, dict]:
    """`{split: {"examples", "bytes"}}` of an Examples artifact written with the mixin ({} for
    one written without)."""
    path = os.path.join(examples_uri, COUNTS_FILE)
    if not tf.io.gfile.exists(path):
        return {}
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


class SplitCountsMixin:
    """Counts each output split of a BaseExampleGenExecutor subclass (see the module doc)."""

    _counts_dir = None

    def GenerateExamplesByBeam(self, pipeline: beam.Pipeline, exec_properties: Dict[str, Any]
                               ) -> Dict[str, beam.pvalue.PCollection]:
        splits = super().GenerateExamplesByBeam(pipeline, exec_properties)
        if self._counts_dir:
            for split, examples in splits.items():
                _ = (examples
                     | f"CountExamples[{split}]" >> beam.Map(_example_counts)
                     | f"SumCounts[{split}]" >> beam.CombineGlobally(_SumPairs())
                     | f"WriteCounts[{split}]" >> beam.Map(
                         _write, _split_file(self._counts_dir, split)))
        return splits

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]) -> None:
        examples = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EXAMPLES_KEY])
        self._counts_dir = examples.uri
        exec_properties.pop(_EXPECTED_KEY, None)
        super().Do(input_dict, output_dict, exec_properties)
        counts = {}
        for split in artifact_utils.decode_split_names(examples.split_names):
            path = _split_file(examples.uri, split)
            with tf.io.gfile.GFile(path) as f:
                counts[split] = json.load(f)
            tf.io.gfile.remove(path)
        with tf.io.gfile.GFile(os.path.join(examples.uri, COUNTS_FILE), "w") as f:
            json.dump(counts, f, indent=2, sort_keys=True)
        examples.set_string_custom_property(COUNTS_PROPERTY, json.dumps(counts, sort_keys=True))
        expected = exec_properties.pop(_EXPECTED_KEY, None)
        written = sum(c["examples"] for c in counts.values())
        if expected is not None and written != expected:
            raise IncompleteReadError(
                f"the input files hold {expected:,} examples, but the splits written to "
                f"{examples.uri} hold {written:,} ({json.dumps(counts, sort_keys=True)}): the "
                "input was not read whole (did the files change during the run, or does the "
                "Beam runner lose elements?); nothing downstream was run from it")
