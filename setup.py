"""lmpipe: raw text corpus to a served language model, on TFX, Beam, Keras 3 and TF Serving."""

from setuptools import find_packages, setup

# Exact versions live in constraints.txt (install with `pip install -c constraints.txt -e .`).
REQUIRES = [
    "tfx==1.16.0",
    "tensorflow==2.16.2",
    "keras==3.12.4",
    "keras-hub==0.25.1",
    "tensorflow-text==2.16.1",
    "tensorflow-transform==1.16.0",
    "tensorflow-model-analysis==0.47.1",
    "tensorflow-serving-api==2.16.1",
    "apache-beam==2.74.0",
    "dill==0.3.1.1",  # Beam made dill optional; tf.Transform and tfx-bsl import it.
    "protobuf==3.20.3",
    "numpy==1.26.4",
    # KubeflowV2DagRunner (`lmpipe compile`); 0.2.2 is the last release on protobuf 3.
    "kfp-pipeline-spec==0.2.2",
    # keras-hub's Hugging Face converters (`lmpipe import`): safetensors reads the weights;
    # its converter module imports sentencepiece for other model families.
    "safetensors==0.8.0",
    "sentencepiece==0.2.3",
    # WordPieceVocabGen learns its vocabulary with Hugging Face's Rust WordPiece trainer.
    "tokenizers==0.23.3",
    # Hyper-parameter search (`--tune`): KerasTuner's oracles (TFX's Tuner wraps it), the space
    # file in YAML, and the trials' plot.
    "keras-tuner==1.4.8",
    "PyYAML==6.0.3",
    "matplotlib==3.10.9",
]

setup(
    name="lmpipe",
    version="0.1.0",
    description=__doc__,
    python_requires=">=3.10,<3.11",
    packages=find_packages(include=["pipeline*", "components*", "models*", "serving*"]),
    package_data={"": ["*.pbtxt"]},
    install_requires=REQUIRES,
    # `make test` also checks the import layers (import-linter) and lints (ruff): pyproject.toml.
    # seqeval: the reference the entity metrics are checked against (tests only).
    extras_require={"test": ["pytest==8.3.3", "import-linter==2.15", "ruff==0.17.6",
                             "seqeval==1.2.2", "pytest-xdist==3.6.1"]},
    entry_points={"console_scripts": ["lmpipe=pipeline.cli:main"]},
)
