"""Serving kit without a model server: version directories (atomic pushes, rollback, caps),
models.config, and the REST/gRPC clients' wire behaviour against small in-test servers
(which only check what the clients send and how they map errors; they are not servers for
users)."""

import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent import futures

import pytest

from pipeline import cli
from serving import model_config, predict, versions
from tests.conftest import REPO


def fake_model(path, files=3):
    os.makedirs(os.path.join(path, "variables"), exist_ok=True)
    with open(os.path.join(path, "saved_model.pb"), "wb") as f:
        f.write(b"\0" * 100)
    for i in range(files):
        with open(os.path.join(path, "variables", f"variables.data-{i:05d}"), "wb") as f:
            f.write(os.urandom(1000))
    return str(path)


def serving_dir(tmp_path, models=(("classifier", (100, 200, 300)), ("mlm", (5,)))):
    root = tmp_path / "serving"
    for name, model_versions in models:
        for v in model_versions:
            fake_model(root / name / str(v))
    return str(root)


# -- version directories ----------------------------------------------------------------

def test_publish_is_a_rename_of_a_complete_copy(tmp_path):
    source = fake_model(tmp_path / "export")
    model_dir = str(tmp_path / "serving" / "clf")
    target = versions.publish(source, model_dir, 7)
    assert target.endswith("/7") and versions.versions(model_dir) == [7]
    assert sorted(os.listdir(os.path.join(target, "variables"))) == \
        sorted(os.listdir(os.path.join(source, "variables")))
    with pytest.raises(versions.ServingDirError, match="never overwritten"):
        versions.publish(source, model_dir, 7)


PUSH = """
import sys
sys.path.insert(0, {repo!r})
from serving import versions
versions.publish({source!r}, {model_dir!r}, 9)
"""


def test_an_interrupted_push_leaves_no_partial_version(tmp_path):
    """The copy blocks on a FIFO inside the model (reading it never ends), so the push is
    killed mid-copy for certain; a polling server must not see version 9."""
    source = fake_model(tmp_path / "export", files=20)
    os.mkfifo(os.path.join(source, "variables", "variables.zz-blocks"))
    model_dir = tmp_path / "serving" / "clf"
    fake_model(model_dir / "3")
    process = subprocess.Popen([sys.executable, "-c", PUSH.format(
        repo=REPO, source=source, model_dir=str(model_dir))])
    incoming = model_dir / ".incoming-9"
    deadline = time.time() + 120
    while not (incoming / "variables").exists():
        assert process.poll() is None and time.time() < deadline
        time.sleep(0.05)
    time.sleep(1.0)
    assert process.poll() is None, "the push should be stuck on the FIFO, mid-copy"
    assert (incoming / "variables").exists()
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert versions.versions(str(model_dir)) == [3]  # what TF Serving's poller sees
    assert not (model_dir / "9").exists()
    # The next push clears the leftover and lands complete.
    os.remove(os.path.join(source, "variables", "variables.zz-blocks"))
    versions.publish(source, str(model_dir), 10)
    assert versions.versions(str(model_dir)) == [3, 10] and not incoming.exists()


def test_rollback_retires_newer_versions_and_can_restore_them(tmp_path, capsys):
    root = serving_dir(tmp_path)
    code = cli.main(["rollback", "--serving-dir", root, "--model", "classifier", "--to", "100"])
    assert code == 0 and "now serves version 100" in capsys.readouterr().out
    model_dir = os.path.join(root, "classifier")
    assert versions.versions(model_dir) == [100] and versions.retired(model_dir) == [200, 300]
    versions.rollback(model_dir, 300)  # forward again: 300 comes back from .retired
    assert versions.versions(model_dir) == [100, 300]
    code = cli.main(["rollback", "--serving-dir", root, "--model", "classifier", "--to", "42"])
    assert code == cli.EXIT_BAD_INPUT and "no version 42" in capsys.readouterr().err


def test_keep_caps_the_versions(tmp_path):
    root = serving_dir(tmp_path)
    assert cli.main(["rollback", "--serving-dir", root, "--model", "classifier", "--keep", "2"]) == 0
    assert versions.versions(os.path.join(root, "classifier")) == [200, 300]


# -- models.config ----------------------------------------------------------------------

def test_serve_config_parses_as_model_server_config(tmp_path, capsys):
    root = serving_dir(tmp_path)
    output = tmp_path / "models.config"
    code = cli.main(["serve-config", "--serving-dir", root, "--output", str(output),
                     "--base-path", "/models", "--latest", "2"])
    assert code == 0
    config = model_config.parse(output.read_text())
    entries = {c.name: c for c in config.model_config_list.config}
    assert set(entries) == {"classifier", "mlm"}
    assert entries["classifier"].base_path == "/models/classifier"
    assert entries["classifier"].model_platform == "tensorflow"
    assert entries["classifier"].model_version_policy.latest.num_versions == 2


def test_serve_config_with_labels_serves_the_labelled_versions(tmp_path):
    root = serving_dir(tmp_path)
    output = tmp_path / "models.config"
    assert cli.main(["serve-config", "--serving-dir", root, "--output", str(output),
                     "--model", "classifier", "--label", "stable=200",
                     "--label", "canary=300"]) == 0
    (entry,) = model_config.parse(output.read_text()).model_config_list.config
    assert dict(entry.version_labels) == {"stable": 200, "canary": 300}
    assert list(entry.model_version_policy.specific.versions) == [200, 300]


@pytest.mark.parametrize("extra, message", [
    (["--label", "stable=999"], "no version 999"),
    (["--label", "stable"], "NAME=VERSION"),
    (["--versions", "1,2"], "no version(s) [1, 2]"),
    (["--model", "nope"], "no model 'nope'"),
])
def test_serve_config_bad_input(tmp_path, capsys, extra, message):
    root = serving_dir(tmp_path)
    code = cli.main(["serve-config", "--serving-dir", root, "--output",
                     str(tmp_path / "m.config"), *extra])
    assert code == cli.EXIT_BAD_INPUT and message in capsys.readouterr().err


def test_a_serving_dir_without_versions_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "empty" / "classifier").mkdir(parents=True)
    code = cli.main(["serve-config", "--serving-dir", str(tmp_path / "empty"),
                     "--output", str(tmp_path / "m.config")])
    assert code == cli.EXIT_BAD_INPUT and "no model versions" in capsys.readouterr().err
    code = cli.main(["predict", "--model-dir", str(tmp_path / "empty" / "classifier"), "hi"])
    assert code == cli.EXIT_BAD_INPUT and "no numeric version" in capsys.readouterr().err


# -- REST client ------------------------------------------------------------------------

class RecordingHandler(http.server.BaseHTTPRequestHandler):
    """Answers like TF Serving's REST API and records what it was sent."""
    requests = []
    mode = "ok"

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        RecordingHandler.requests.append((self.path, body))
        if self.mode == "slow":
            time.sleep(3)
        if "/models/nope" in self.path:
            self._send(404, {"error": "Servable not found for request: Latest(nope)"})
        elif self.mode == "malformed":
            self._send(200, {"outputs": []})
        elif self.mode == "entities":  # a token classifier: rows padded to the batch's most
            self._send(200, {"predictions": [
                {"entity_type": ["PER", "LOC"], "start": [0, 17], "end": [12, 23],
                 "entity_text": ["Ada Lovelace", "London"], "score": [0.98, 0.91],
                 "entity_count": 2},
                {"entity_type": ["LOC", ""], "start": [3, -1], "end": [9, -1],
                 "entity_text": ["Zürich", ""], "score": [0.7, 0.0], "entity_count": 1}]})
        elif self.mode == "answers":  # question answering: the best answer and the top-k
            self._send(200, {"predictions": [
                {"answer": "London", "start": 27, "end": 33, "score": 0.8, "has_answer": True,
                 "answers": ["London", "in London"], "starts": [27, 24], "ends": [33, 33],
                 "scores": [0.8, 0.1]},
                {"answer": "", "start": 0, "end": 0, "score": 0.0, "has_answer": False,
                 "answers": ["", ""], "starts": [-1, -1], "ends": [-1, -1],
                 "scores": [0.0, 0.0]}]})
        else:
            self._send(200, {"predictions": [
                {"label": "positive", "score": 0.9, "probabilities": [0.1, 0.9]}
                for _ in body["instances"]]})

    def _send(self, code, payload):
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def rest_server():
    RecordingHandler.requests, RecordingHandler.mode = [], "ok"
    server = http.server.ThreadingHTTPServer(("localhost", 0), RecordingHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://localhost:{server.server_address[1]}"
    server.shutdown()


def test_rest_client_sends_tf_serving_json_and_batches(rest_server):
    client = predict.RestPredictor(rest_server, "classifier", label="stable", batch_size=2)
    results = client.predict(["good", "bad", b"caf\xe9"])  # not UTF-8: replaced, not fatal
    assert [r["label"] for r in results] == ["positive"] * 3
    paths = [path for path, _ in RecordingHandler.requests]
    assert paths == ["/v1/models/classifier/labels/stable:predict"] * 2
    bodies = [body for _, body in RecordingHandler.requests]
    assert bodies[0] == {"signature_name": "serving_default", "instances": ["good", "bad"]}
    assert bodies[1]["instances"] == ["caf\ufffd"]
    versioned = predict.RestPredictor(rest_server, "classifier", version=3)
    versioned.predict(["x"])
    assert RecordingHandler.requests[-1][0] == "/v1/models/classifier/versions/3:predict"


def test_rest_client_unpads_entities(rest_server):
    """A token classifier's padded columns become one list of entities per text."""
    RecordingHandler.mode = "entities"
    results = predict.RestPredictor(rest_server, "token_classifier").predict(
        ["Ada Lovelace in London", "In Zürich"])
    assert results == [
        {"entities": [{"entity_type": "PER", "start": 0, "end": 12,
                       "entity_text": "Ada Lovelace", "score": 0.98},
                      {"entity_type": "LOC", "start": 17, "end": 23, "entity_text": "London",
                       "score": 0.91}], "entity_count": 2},
        {"entities": [{"entity_type": "LOC", "start": 3, "end": 9, "entity_text": "Zürich",
                       "score": 0.7}], "entity_count": 1}]


def test_rest_client_asks_questions_and_lists_the_alternatives(rest_server):
    """A question-answering model: instances of {question, context}; the top-k padding goes."""
    RecordingHandler.mode = "answers"
    items = [{"question": "Where?", "context": "Ada Lovelace was born in London."},
             {"question": "Why?", "context": ""}]
    results = predict.RestPredictor(rest_server, "question_answering").predict(items)
    assert RecordingHandler.requests[-1][1]["instances"] == items
    assert results[0]["answer"] == "London" and results[0]["alternatives"] == [
        {"answer": "London", "start": 27, "end": 33, "score": 0.8},
        {"answer": "in London", "start": 24, "end": 33, "score": 0.1}]
    assert results[1]["has_answer"] is False and results[1]["alternatives"] == []


def test_rest_client_errors(rest_server):
    with pytest.raises(predict.PredictError, match="does not know this model"):
        predict.RestPredictor(rest_server, "nope").predict(["x"])
    RecordingHandler.mode = "malformed"
    with pytest.raises(predict.PredictError, match="malformed response"):
        predict.RestPredictor(rest_server, "classifier").predict(["x"])
    RecordingHandler.mode = "slow"
    with pytest.raises(predict.PredictError, match="unreachable or too slow"):
        predict.RestPredictor(rest_server, "classifier", timeout=0.5).predict(["x"])
    with pytest.raises(predict.PredictError, match="unreachable"):
        predict.RestPredictor(f"http://localhost:{free_port()}", "classifier").predict(["x"])


def free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_cli_predict_rest_prints_jsonl(rest_server, capsys):
    code = cli.main(["predict", "--rest", rest_server, "--model", "classifier", "fine film"])
    assert code == 0
    line = json.loads(capsys.readouterr().out.strip())
    assert line["text"] == "fine film" and line["label"] == "positive"
    code = cli.main(["predict", "--rest", f"http://localhost:{free_port()}", "--model", "c", "x"])
    assert code == cli.EXIT_PIPELINE_FAILED and "unreachable" in capsys.readouterr().err


# -- gRPC client ------------------------------------------------------------------------

@pytest.fixture
def grpc_server():
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    received = []

    class Service(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):
            received.append(request)
            if request.model_spec.name == "nope":
                context.abort(grpc.StatusCode.NOT_FOUND, "Servable not found")
            texts = tf.make_ndarray(request.inputs["text"])
            response = predict_pb2.PredictResponse()
            response.outputs["label"].CopyFrom(
                tf.make_tensor_proto([b"negative"] * len(texts)))
            response.outputs["score"].CopyFrom(tf.make_tensor_proto([0.75] * len(texts)))
            return response

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Service(), server)
    port = server.add_insecure_port("localhost:0")
    server.start()
    yield f"localhost:{port}", received
    server.stop(0)


def test_grpc_client_request_and_error_mapping(grpc_server):
    target, received = grpc_server
    results = predict.GrpcPredictor(target, "classifier", version=7).predict(["dull", "bright"])
    assert results == [{"label": "negative", "score": 0.75}] * 2
    request = received[-1]
    assert request.model_spec.name == "classifier" and request.model_spec.version.value == 7
    assert request.model_spec.signature_name == "serving_default"
    assert list(request.inputs["text"].string_val) == [b"dull", b"bright"]
    with pytest.raises(predict.PredictError, match="does not know model 'nope'"):
        predict.GrpcPredictor(target, "nope").predict(["x"])
    with pytest.raises(predict.PredictError, match="unreachable"):
        predict.GrpcPredictor(f"localhost:{free_port()}", "classifier", timeout=2).predict(["x"])
