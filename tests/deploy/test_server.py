"""`graft serve` through FastAPI's test client: predictions, health, info, limits and bad requests."""
from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from graft.deploy.export import export
from graft.deploy.server import Limits, MicroBatcher, create_app, is_loopback, serve
from graft.errors import GraftError


@pytest.fixture(scope="module")
def image_client(image_bundle):
    return TestClient(create_app(image_bundle, Limits(max_body=600_000, max_pixels=500_000, max_batch=4)))


def _png(path) -> bytes:
    return path.read_bytes()


def test_predict_an_uploaded_cell(image_client, elpv_slice):
    cell = next((elpv_slice / "test" / "defective").glob("*.png"))
    r = image_client.post("/predict", files={"file": ("my cell.png", _png(cell), "image/png")}, data={"top_k": "2"})
    assert r.status_code == 200, r.text
    prediction = r.json()["predictions"][0]
    assert prediction["input"] == "my cell.png"  # the upload's name, not a server path
    assert [t["label"] for t in prediction["top_k"]] and abs(sum(t["score"] for t in prediction["top_k"]) - 1) < 1e-4


def test_health_and_info(image_client):
    assert image_client.get("/health").json()["status"] == "ok"
    info = image_client.get("/info").json()
    assert info["task"] == "image-classification" and info["labels"] == ["defective", "functional"]
    assert info["licence"] and info["backbone"]["name"] == "mobilenet_v2" and "accuracy" in info["metrics"]
    assert "/predict" in image_client.get("/openapi.json").json()["paths"]
    assert "graft" in image_client.get("/").text


@pytest.mark.parametrize("body, status, reason", [
    ({"files": {"file": ("x.png", b"not an image", "image/png")}}, 415, "not a readable image"),
    ({"files": {"file": ("x.png", b"0" * 700_000, "image/png")}}, 413, "request body over the limit"),
    ({"json": {"text": "an image model"}}, 415, "multipart"),
    ({"data": {"top_k": "3"}, "files": {"other": ("a.txt", b"x", "text/plain")}}, 422, "no image"),
])
def test_bad_uploads_get_a_4xx_with_one_line(image_client, body, status, reason):
    r = image_client.post("/predict", **body)
    assert r.status_code == status and reason in r.json()["error"]


def test_too_many_pixels_and_path_options_are_refused(image_client, elpv_slice):
    big = io.BytesIO()
    Image.new("L", (1000, 1000)).save(big, "PNG")  # small file, a million pixels
    r = image_client.post("/predict", files={"file": ("big.png", big.getvalue(), "image/png")})
    assert r.status_code == 413 and "pixels" in r.json()["error"]
    cell = next((elpv_slice / "test" / "functional").glob("*.png"))
    r = image_client.post("/predict", files={"file": ("c.png", _png(cell), "image/png")}, data={"draw": "/tmp/x"})
    assert r.status_code == 422 and "unknown option 'draw'" in r.json()["error"]
    r = image_client.post("/predict", files={"file": ("c.png", _png(cell), "image/png")}, data={"top_k": "many"})
    assert r.status_code == 422


def test_text_model_over_an_int8_export(text_bundle, tmp_path):
    out = tmp_path / "reviews.onnx"
    export(text_bundle, out, quantize="int8", check_inputs=8)
    client = TestClient(create_app(out, Limits(max_text_chars=200, max_batch=3)))
    r = client.post("/predict", json={"texts": ["a joy from start to finish", "a chore"], "top_k": 2})
    assert r.status_code == 200 and len(r.json()["predictions"]) == 2
    assert client.get("/info").json()["export"]["quantize"] == "int8"
    assert client.post("/predict", content=b"{oops", headers={"content-type": "application/json"}).status_code == 400
    assert client.post("/predict", json={"text": "x" * 201}).status_code == 413
    assert client.post("/predict", json={"texts": ["a"] * 4}).status_code == 413
    assert client.post("/predict", json={"texts": [""]}).status_code == 422
    assert client.post("/predict", json=["not", "an", "object"]).status_code == 422


def test_bearer_token(image_bundle):
    client = TestClient(create_app(image_bundle, token="s3cret"))
    assert client.get("/info").status_code == 401
    assert client.get("/info", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert client.get("/health").status_code == 200


def test_listening_beyond_loopback_needs_a_token(image_bundle, monkeypatch):
    monkeypatch.delenv("GRAFT_TOKEN", raising=False)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and not is_loopback("0.0.0.0")
    with pytest.raises(GraftError, match="--token"):
        serve(str(image_bundle), host="0.0.0.0")


def test_concurrent_requests_share_batches():
    """Requests that arrive together reach the model as one call, each gets its own results back."""
    import asyncio

    class Echo:
        calls: list = []

        def predict(self, inputs, top_k=1):
            self.calls.append(list(inputs))
            return [{"input": x} for x in inputs]

    model = Echo()
    batcher = MicroBatcher(model, max_batch=8)

    async def many():
        return await asyncio.gather(*(batcher.predict([f"t{i}", f"u{i}"], {}) for i in range(3)))

    results = asyncio.run(many())
    assert [[r["input"] for r in rs] for rs in results] == [["t0", "u0"], ["t1", "u1"], ["t2", "u2"]]
    assert len(model.calls) == 1 and len(model.calls[0]) == 6


def test_question_answering_is_served_from_json_texts_only(qa_bundle, tmp_path):
    client = TestClient(create_app(qa_bundle, Limits(max_text_chars=2_000, max_batch=4)))
    context = "The new stadium in Leeds will cost 45 million pounds and open in 2008."
    r = client.post("/predict", json={"questions": ["How much will it cost?", "Where is it?"], "context": context,
                                      "top_k": 2})
    assert r.status_code == 200, r.text
    predictions = r.json()["predictions"]
    assert [p["question"] for p in predictions] == ["How much will it cost?", "Where is it?"]
    for p in predictions:
        assert all(context[a["start"]:a["end"]] == a["answer"] for a in p["answers"])
    # a context naming a file on the server is answered as the text it is, never read from disk
    secret = tmp_path / "secret.txt"
    secret.write_text("The password is swordfish.")
    r = client.post("/predict", json={"question": "What is the password?", "context": str(secret)})
    assert r.status_code == 200 and "swordfish" not in r.text
    assert client.post("/predict", json={"question": "Where?"}).status_code == 422
    assert client.post("/predict", json={"question": "Where?", "context": "x" * 3000}).status_code == 413
    assert client.get("/info").json()["task"] == "qa"
