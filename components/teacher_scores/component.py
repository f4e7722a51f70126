"""TeacherScores: labelled examples + a teacher classifier → the same examples with the
teacher's class probabilities (`teacher_probabilities`), for a student to learn from.

    labelled examples ─┐
    teacher (Model) ───┼─ TeacherScores ─→ examples (+ teacher_probabilities, every split;
    schema ────────────┘                    `unlabelled_text` lines join the train split with
                                            an empty label)
                                         ─→ schema (+ teacher_probabilities) for Tokenize
                                         ─→ teacher (Model: its SavedModel in Format-Serving/,
                                            the Evaluator's baseline)

The teacher is a classifier SavedModel that lmpipe exported (a pushed version directory or a
fine-tuning Trainer's Model artifact); it reads raw text, so its vocabulary and size are its
own. Its probabilities are stored at temperature 1: the Trainer softens them
(p^(1/T), renormalised, is softmax(logits / T)), so a new temperature does not rescore.
"""

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.teacher_scores.executor import (EXAMPLES_KEY, LABELS_KEY, SCHEMA_KEY,
                                                TEACHER_KEY, UNLABELLED_SHA256_KEY,
                                                UNLABELLED_TEXT_KEY, Executor)


class TeacherScoresSpec(ComponentSpec):
    PARAMETERS = {
        LABELS_KEY: ExecutionParameter(type=str),  # JSON list: the data's classes, in order
        UNLABELLED_TEXT_KEY: ExecutionParameter(type=str, optional=True),
        # The file's content, so that an edited file rescores (the cache key holds the path).
        UNLABELLED_SHA256_KEY: ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {
        EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        TEACHER_KEY: ChannelParameter(type=standard_artifacts.Model),
        SCHEMA_KEY: ChannelParameter(type=standard_artifacts.Schema),
    }
    OUTPUTS = {
        "scored_examples": ChannelParameter(type=standard_artifacts.Examples),
        "scored_schema": ChannelParameter(type=standard_artifacts.Schema),
        "teacher_model": ChannelParameter(type=standard_artifacts.Model),
    }


class TeacherScores(base_beam_component.BaseBeamComponent):
    """Example (inside a pipeline definition):

        teacher = tfx.dsl.Importer(source_uri="serving/classifier/1700000000",
                                   artifact_type=tfx.types.standard_artifacts.Model)
        scores = TeacherScores(example_gen.outputs["examples"], teacher.outputs["result"],
                               schema_gen.outputs["schema"], labels=["negative", "positive"])
        # scores.outputs["scored_examples"], ["scored_schema"], ["teacher_model"]
    """

    SPEC_CLASS = TeacherScoresSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(self, examples: types.BaseChannel, teacher: types.BaseChannel,
                 schema: types.BaseChannel, labels, unlabelled_text: str = None,
                 unlabelled_sha256: str = None):
        import json

        super().__init__(spec=TeacherScoresSpec(
            examples=examples, teacher=teacher, schema=schema, labels=json.dumps(list(labels)),
            unlabelled_text=unlabelled_text, unlabelled_sha256=unlabelled_sha256,
            scored_examples=types.Channel(type=standard_artifacts.Examples),
            scored_schema=types.Channel(type=standard_artifacts.Schema),
            teacher_model=types.Channel(type=standard_artifacts.Model)))
