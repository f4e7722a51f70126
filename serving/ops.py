"""Which ops a SavedModel's graphs use, and whether TF Serving can run them: TensorFlow core
ops and tensorflow-text's, nothing that calls back into Python.

Example:

    problems = unservable_ops("runs/demo/finetune/serving/classifier/1700000000")
    assert not problems, problems
"""

import os
from typing import Dict, Set

# Ops that run Python code: TF Serving has no Python.
PYTHON_OPS = {"PyFunc", "PyFuncStateless", "EagerPyFunc"}


def saved_model_ops(saved_model_dir: str) -> Set[str]:
    """Every op type in the SavedModel's graphs, including inside functions."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(saved_model_dir, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    ops = set()
    for meta_graph in proto.meta_graphs:
        ops.update(node.op for node in meta_graph.graph_def.node)
        for function in meta_graph.graph_def.library.function:
            ops.update(node.op for node in function.node_def)
    # Calls of library functions appear as op names equal to function names.
    functions = {f.signature.name for mg in proto.meta_graphs for f in mg.graph_def.library.function}
    return ops - functions


def tensorflow_text_ops() -> Set[str]:
    """The ops tensorflow-text's op libraries register (TF Serving's standard build has them)."""
    import glob

    import tensorflow as tf
    import tensorflow_text
    from tensorflow.python.framework import op_def_registry

    ops = set()
    libraries = os.path.join(os.path.dirname(tensorflow_text.__file__), "python", "ops", "*.so")
    for library in glob.glob(libraries):
        module = tf.load_op_library(library)  # already loaded: returns its op wrappers
        ops.update(name for name in dir(module)
                   if name[:1].isupper() and op_def_registry.get(name) is not None)
    return ops


def op_sources(ops) -> Dict[str, str]:
    """{op: "tensorflow_text", "core" or "unknown"}."""
    from tensorflow.python.framework import op_def_registry

    text_ops = tensorflow_text_ops()
    return {op: "tensorflow_text" if op in text_ops else
            "core" if op_def_registry.get(op) is not None else "unknown" for op in ops}


def unservable_ops(saved_model_dir: str) -> Dict[str, str]:
    """{op: why} for ops TF Serving could not run; empty when the model is servable."""
    sources = op_sources(saved_model_ops(saved_model_dir))
    problems = {}
    for op, source in sorted(sources.items()):
        if op in PYTHON_OPS:
            problems[op] = "runs Python code"
        elif source == "unknown":
            problems[op] = "neither a TensorFlow core op nor a tensorflow-text op"
    return problems
