# The lmpipe pipeline image: every step of a Kubeflow / Vertex AI pipeline runs in it.
# Based on the TFX image of the TFX version we pin (constraints.txt: tfx==1.16.0).
#
#   docker build -t REGION-docker.pkg.dev/PROJECT/REPO/lmpipe:1 .
#   docker push REGION-docker.pkg.dev/PROJECT/REPO/lmpipe:1
#
# The repository goes to /lmpipe (pipeline/tfx_pipeline.py: IMAGE_REPO_ROOT), where compiled
# pipelines look for schemas/ and the Python packages.
FROM gcr.io/tfx-oss-public/tfx:1.16.0

WORKDIR /lmpipe
COPY setup.py pyproject.toml constraints.txt README.md ./
COPY components/ components/
COPY models/ models/
COPY pipeline/ pipeline/
COPY schemas/ schemas/
COPY serving/ serving/
RUN pip install --no-cache-dir -c constraints.txt -e . \
    && python -c "import tensorflow_text, keras_hub, pipeline.jobs.pretrain"
