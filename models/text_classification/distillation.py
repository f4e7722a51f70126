"""Knowledge distillation (Hinton et al. 2015): a student classifier learns from a teacher's
softened class probabilities and, where an example has one, its label.

    loss = alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(label, student)

teacher_T is the teacher's probabilities softened at temperature T (p^(1/T) renormalised, which
is softmax(teacher logits / T)), student_T = softmax(student logits / T); T^2 keeps the soft
term's gradients on the scale of the hard term's. An example without a label (label id -1:
distillation's unlabelled texts) has the soft term only.

The teacher's probabilities come with the inputs (components/teacher_scores scores the data
once), so training runs only the student.

Example:

>>> import numpy as np
>>> from models.core.backbone import build_backbone
>>> from models.text_classification.model import build_classifier
>>> student = build_classifier(build_backbone(vocab_size=100, seq_length=8), num_classes=2)
>>> model = Distiller(student, temperature=2.0, alpha=0.5)
>>> ids = np.array([[2, 7, 9, 3, 0, 0, 0, 0]])
>>> x = {"token_ids": ids, "segment_ids": 0 * ids, "padding_mask": (ids > 0).astype("int32"),
...      "teacher_probabilities": np.array([[0.9, 0.1]])}
>>> model(x).shape
TensorShape([1, 2])
"""

import keras
import tensorflow as tf

from models.core import features


def soften(probabilities: tf.Tensor, temperature: float) -> tf.Tensor:
    """softmax(logits / T) from softmax(logits): p^(1/T), renormalised (in log space)."""
    logits = tf.math.log(tf.maximum(probabilities, 1e-12)) / temperature
    return tf.nn.softmax(logits, axis=-1)


def distillation_loss(labels: tf.Tensor, student_logits: tf.Tensor, teacher_probabilities,
                      temperature: float, alpha: float) -> tf.Tensor:
    """The loss above, averaged over the batch (the hard term over the labelled examples)."""
    student_logits = tf.cast(student_logits, tf.float32)
    teacher = soften(tf.cast(teacher_probabilities, tf.float32), temperature)
    log_student = tf.nn.log_softmax(student_logits / temperature, axis=-1)
    kl = tf.reduce_sum(teacher * (tf.math.log(tf.maximum(teacher, 1e-12)) - log_student), axis=-1)
    soft = tf.reduce_mean(kl) * temperature ** 2
    labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
    labelled = tf.cast(labels >= 0, tf.float32)
    hard = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.maximum(labels, 0),
                                                          logits=student_logits)
    hard = tf.reduce_sum(hard * labelled) / tf.maximum(tf.reduce_sum(labelled), 1.0)
    return alpha * soft + (1.0 - alpha) * hard


@keras.saving.register_keras_serializable(package="lmpipe")
class Distiller(keras.Model):
    """The student, trained with `distillation_loss`. Its inputs are the student's plus
    `teacher_probabilities`; `student` is what gets exported."""

    def __init__(self, student: keras.Model, temperature: float = 2.0, alpha: float = 0.5,
                 **kwargs):
        super().__init__(**kwargs)
        self.student = student
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        # No weights of its own: built when the student is (fit's BackupAndRestore needs it).
        self.built = student.built

    def call(self, inputs, training=False):
        return self.student({k: v for k, v in inputs.items()
                             if k != features.TEACHER_PROBABILITIES}, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = distillation_loss(y, y_pred, x[features.TEACHER_PROBABILITIES],
                                 self.temperature, self.alpha)
        if self.losses:  # the student's own (regularisation), as Keras adds them
            loss += tf.add_n([tf.cast(term, loss.dtype) for term in self.losses])
        return loss
