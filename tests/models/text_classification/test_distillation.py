"""Distillation's loss and model (models/text_classification/distillation.py)."""

import numpy as np
import tensorflow as tf

from models.core import features
from models.core.backbone import build_backbone
from models.text_classification.distillation import Distiller, distillation_loss, soften
from models.text_classification.model import build_classifier


def test_softening_probabilities_is_softmax_of_the_logits_over_the_temperature():
    logits = tf.constant([[2.0, -1.0, 0.5], [0.0, 0.0, 3.0]])
    probabilities = tf.nn.softmax(logits)
    np.testing.assert_allclose(soften(probabilities, 1.0), probabilities, atol=1e-6)
    np.testing.assert_allclose(soften(probabilities, 3.0), tf.nn.softmax(logits / 3.0), atol=1e-6)


def test_the_loss_mixes_the_teacher_and_the_labels_and_skips_missing_labels():
    logits = tf.constant([[1.0, -1.0], [0.2, 0.3], [-2.0, 2.0]])
    teacher = tf.constant([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8]])
    labels = tf.constant([0, 1, -1])  # the third is unlabelled
    t = 2.0
    soft_t, log_student = soften(teacher, t), tf.nn.log_softmax(logits / t)
    kl = tf.reduce_mean(tf.reduce_sum(soft_t * (tf.math.log(soft_t) - log_student), -1)) * t * t
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=[0, 1], logits=logits[:2])
    np.testing.assert_allclose(distillation_loss(labels, logits, teacher, t, 1.0), kl, rtol=1e-5)
    np.testing.assert_allclose(distillation_loss(labels, logits, teacher, t, 0.0),
                               tf.reduce_mean(ce), rtol=1e-5)
    np.testing.assert_allclose(distillation_loss(labels, logits, teacher, t, 0.3),
                               0.3 * kl + 0.7 * tf.reduce_mean(ce), rtol=1e-5)
    # Another teacher, another loss: the loss reads the teacher's probabilities.
    assert not np.isclose(distillation_loss(labels, logits, 1.0 - teacher, t, 0.5),
                          distillation_loss(labels, logits, teacher, t, 0.5))


def test_a_student_learns_the_teachers_answers_from_unlabelled_examples():
    """No labels at all (-1): whatever the student learns comes from the teacher, which says
    class 1 when token 6 is in the text and class 0 otherwise."""
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    ids = np.zeros([256, 8], np.int32)
    ids[:, 0], ids[:, 3] = 2, 3
    ids[:, 1:3] = rng.integers(5, 9, size=[256, 2])
    teacher_says_1 = (ids == 6).any(axis=1)
    x = {"token_ids": ids, "segment_ids": np.zeros_like(ids),
         "padding_mask": (ids > 0).astype(np.int32),
         features.TEACHER_PROBABILITIES: np.where(teacher_says_1[:, None], [0.1, 0.9],
                                                  [0.9, 0.1]).astype(np.float32)}
    student = build_classifier(build_backbone(vocab_size=10, seq_length=8), num_classes=2,
                               dropout=0.0)
    model = Distiller(student, temperature=2.0, alpha=1.0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(x, np.full([256], -1), batch_size=32, epochs=15, verbose=0)
    predicted = np.argmax(student.predict({k: v for k, v in x.items()
                                           if k != features.TEACHER_PROBABILITIES}, verbose=0), 1)
    assert np.mean(predicted == teacher_says_1) > 0.95
