"""TeacherScores' executor: checks the teacher's classes, copies its SavedModel into the
`teacher_model` artifact, adds `teacher_probabilities` to the schema, and scores every split
(plus the unlabelled texts, into train) in one Beam pipeline."""

import json
import os
from typing import Iterator, List

import apache_beam as beam
import tensorflow as tf
from absl import logging
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils

from models.core import features, text_files

EXAMPLES_KEY, TEACHER_KEY, SCHEMA_KEY = "examples", "teacher", "schema"
LABELS_KEY, UNLABELLED_TEXT_KEY, UNLABELLED_SHA256_KEY = ("labels", "unlabelled_text",
                                                          "unlabelled_sha256")
BATCH = 64  # examples per call of the teacher
OUTPUT_PREFIX = "scored"


class TeacherError(ValueError):
    """The teacher cannot teach this data; the message says why."""


def teacher_saved_model(uri: str) -> str:
    """The SavedModel of a Model artifact: a pushed version directory is one, a Trainer's
    output holds one in Format-Serving/."""
    for candidate in (uri, path_utils.serving_model_path(uri)):
        if tf.io.gfile.exists(os.path.join(candidate, "saved_model.pb")):
            return candidate
    raise TeacherError(f"the teacher {uri} holds no SavedModel (saved_model.pb, or "
                       "Format-Serving/saved_model.pb)")


def check_teacher(saved_model_dir: str, labels: List[str]):
    """The teacher's ModelInfo; refuses a teacher whose classes are not the data's."""
    from models.core.export import ModelInfo, ModelInfoError

    try:
        info = ModelInfo.read(saved_model_dir)
    except ModelInfoError as e:
        raise TeacherError(f"the teacher: {e}") from None
    if list(info.labels) != list(labels):
        raise TeacherError(
            f"the teacher {saved_model_dir} classifies into {info.labels}, the data into "
            f"{list(labels)}: a student learns the teacher's probabilities class by class, so "
            "both need the same classes in the same order (give --labels in the teacher's order)")
    return info


def scored_schema(schema: schema_pb2.Schema, num_classes: int) -> schema_pb2.Schema:
    """`schema` with `teacher_probabilities`: `num_classes` floats in every example."""
    out = schema_pb2.Schema()
    out.CopyFrom(schema)
    feature = out.feature.add(name=features.TEACHER_PROBABILITIES, type=schema_pb2.FLOAT)
    feature.shape.dim.add(size=num_classes)
    feature.presence.min_fraction = 1.0
    return out


def unlabelled_examples(path: str) -> List[bytes]:
    """One raw example per non-empty line of `path` (UTF-8, lines end at `\\n` only:
    models/core/text_files.py), its label empty (the Trainer gives such examples the teacher's loss
    only). Raises TeacherError for a file that is unreadable, not UTF-8 or has no texts."""
    text = text_files.read_utf8(path, TeacherError, "give --unlabelled-text as UTF-8 text, "
                                "one text per line")
    examples = []
    for line in text_files.split_lines(text):
        if line.strip():
            examples.append(tf.train.Example(features=tf.train.Features(feature={
                features.TEXT: tf.train.Feature(bytes_list=tf.train.BytesList(
                    value=[line.encode("utf-8")])),
                features.LABEL: tf.train.Feature(bytes_list=tf.train.BytesList(value=[b""])),
            })).SerializeToString())
    if not examples:
        raise TeacherError(f"--unlabelled-text {path} has no texts (one per line)")
    return examples


class _Score(beam.DoFn):
    """A batch of serialized raw examples → the same examples with the teacher's probabilities."""

    def __init__(self, saved_model_dir: str):
        self._dir = saved_model_dir

    def setup(self):
        import tensorflow_text  # noqa: F401  (the teacher's tokenizer ops)

        self._loaded = tf.saved_model.load(self._dir)
        self._predict = self._loaded.signatures[features.PREDICT_EXAMPLES_SIGNATURE]

    def process(self, batch: List[bytes]) -> Iterator[bytes]:
        probabilities = self._predict(examples=tf.constant(batch))["probabilities"].numpy()
        for serialized, row in zip(batch, probabilities):
            example = tf.train.Example.FromString(serialized)
            example.features.feature[features.TEACHER_PROBABILITIES].float_list.value.extend(
                row.tolist())
            yield example.SerializeToString()


class Executor(base_beam_executor.BaseBeamExecutor):

    def Do(self, input_dict, output_dict, exec_properties) -> None:
        examples = artifact_utils.get_single_instance(input_dict[EXAMPLES_KEY])
        teacher = artifact_utils.get_single_instance(input_dict[TEACHER_KEY])
        schema_in = artifact_utils.get_single_instance(input_dict[SCHEMA_KEY])
        scored = artifact_utils.get_single_instance(output_dict["scored_examples"])
        schema_out = artifact_utils.get_single_instance(output_dict["scored_schema"])
        teacher_out = artifact_utils.get_single_instance(output_dict["teacher_model"])
        labels = json.loads(exec_properties[LABELS_KEY])

        source = teacher_saved_model(teacher.uri)
        info = check_teacher(source, labels)
        extra = []
        if exec_properties.get(UNLABELLED_TEXT_KEY):
            extra = unlabelled_examples(exec_properties[UNLABELLED_TEXT_KEY])
        # The Evaluator finds a model in Format-Serving/; a copy also outlives the teacher's
        # version being pruned from its serving directory.
        io_utils.copy_dir(source, path_utils.serving_model_path(teacher_out.uri))
        schema = io_utils.SchemaReader().read(io_utils.get_only_uri_in_dir(schema_in.uri))
        io_utils.write_pbtxt_file(os.path.join(schema_out.uri, "schema.pbtxt"),
                                  scored_schema(schema, len(info.labels)))

        splits = artifact_utils.decode_split_names(examples.split_names)
        with self._make_beam_pipeline() as pipeline:
            for split in splits:
                records = pipeline | f"Read[{split}]" >> beam.io.ReadFromTFRecord(
                    os.path.join(examples.uri, f"Split-{split}", "*"),
                    coder=beam.coders.BytesCoder())
                if split == "train" and extra:
                    records = ((records, pipeline | "Unlabelled" >> beam.Create(extra))
                               | "WithUnlabelled" >> beam.Flatten())
                _ = (records
                     | f"Batch[{split}]" >> beam.BatchElements(min_batch_size=BATCH,
                                                              max_batch_size=BATCH)
                     | f"Score[{split}]" >> beam.ParDo(_Score(source))
                     | f"Write[{split}]" >> beam.io.WriteToTFRecord(
                         os.path.join(scored.uri, f"Split-{split}", OUTPUT_PREFIX),
                         file_name_suffix=".gz"))
        scored.split_names = artifact_utils.encode_split_names(splits)
        scored.set_int_custom_property("unlabelled_examples", len(extra))
        logging.info("TeacherScores: %s scored %s (+%d unlabelled texts in train)", source,
                     splits, len(extra))
