"""Fixes from newer Keras releases that lmpipe's pinned Keras (constraints.txt: 3.12.4) lacks,
applied once when models/core/backbone.py is imported (before any model is built or traced).

`matmul_rank3_by_matrix` (keras-team/keras#22832, merged for keras#22823): on the TensorFlow
backend Keras 3's `ops.matmul` of a `[..., k]` tensor of rank > 2 by a `[k, n]` kernel (every
`Dense` layer on token outputs: a transformer's feed-forward layers) is one broadcasting
`BatchMatMulV2`, whose kernel gradient computes one `[k, n]` product per batch row and sums
them (`tensorflow/python/ops/math_grad.py`). Keras 2 used `tf.tensordot`, a reshape to one 2-D
matmul, whose kernel gradient is one matmul. Same products, same results (up to float
summation order); on 2 CPU cores it makes all-MiniLM-L6-v2's training step at batch 32 x 16
tokens 2.7x faster (1.94 s -> 0.72 s) and at 64 tokens 1.4x (bench/finetune_checkpoint.md).
"""

import tensorflow as tf

_APPLIED = []


def _backport_matmul(original):
    def matmul(x1, x2):
        if (not isinstance(x1, tf.SparseTensor) and not isinstance(x2, tf.SparseTensor)
                and len(getattr(x2, "shape", ())) == 2 and len(getattr(x1, "shape", ())) > 2):
            x1, x2 = tf.convert_to_tensor(x1), tf.convert_to_tensor(x2)
            # keras#22832's condition: not the int8 x int8 -> int32 path (output_type set).
            if x1.dtype == x2.dtype and x1.dtype != tf.int8:
                return tf.tensordot(x1, x2, axes=[[x1.shape.rank - 1], [0]])
        return original(x1, x2)

    matmul.__wrapped__ = original
    return matmul


def apply() -> None:
    """Installs the backports (once); a Keras that has them is left as it is."""
    import keras

    if _APPLIED or keras.backend.backend() != "tensorflow":
        return
    from keras.src.backend.tensorflow import numpy as tf_numpy

    major, minor = (int(x) for x in keras.__version__.split(".")[:2])
    if (major, minor) <= (3, 12):  # keras#22832 landed after 3.12
        tf_numpy.matmul = _backport_matmul(tf_numpy.matmul)
    _APPLIED.append(True)
