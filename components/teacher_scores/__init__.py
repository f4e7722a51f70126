"""TeacherScores: the teacher classifier's probabilities on every example, for distillation."""

from components.teacher_scores.component import TeacherScores  # noqa: F401
