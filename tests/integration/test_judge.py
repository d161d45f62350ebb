"""The EMER judge through lmms-eval's real judge client and an OpenAI-compatible server.

The server is a local stand-in (a thread on 127.0.0.1 speaking the chat-completions
protocol), so the request goes through lmms-eval's ``openai`` provider for real.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest

pytest.importorskip("lmms_eval")

from avem_plugins.tasks.emer import utils

from avem_plugins.scoring import judge

GOOD = {
    "cue_overlap": 7,
    "emotion_consistency": 9,
    "emotion_cue_association": 6,
    "hallucinated_cues": 8,
}


class _Handler(BaseHTTPRequestHandler):
    requests: ClassVar[list[dict]] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "body": body})
        prompt = body["messages"][-1]["content"]
        reply = (
            "I would rather not grade this."
            if "Model description:\nGIBBERISH" in prompt
            else json.dumps(GOOD)
        )
        payload = json.dumps(
            {
                "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        ).encode()  # fmt: skip
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def judge_server(monkeypatch):
    server = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Handler.requests = []
    monkeypatch.setenv("AVEM_JUDGE_MODEL", "local-judge")
    monkeypatch.setenv("API_TYPE", "openai")
    monkeypatch.setenv("OPENAI_API_KEY", "not-needed-locally")
    monkeypatch.setenv("OPENAI_API_URL", f"http://127.0.0.1:{server.server_port}/v1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("AVEM_JUDGE_RETRIES", "1")
    judge.reset()
    yield _Handler.requests
    server.shutdown()
    judge.reset()


def _doc(i, reference="She smiles and laughs; she is happy."):
    return {"id": f"s{i}", "reference": reference, "missing_media_count": 0}


def test_judged_through_lmms_eval_client_and_unparsed_replies_counted(judge_server):
    answers = ["She looks happy and relaxed.", "GIBBERISH", "   "]
    items = [utils.process_results(_doc(i), [a])["cue_overlap"] for i, a in enumerate(answers)]
    assert [r["judge_status"] for r in items] == ["ok", "unparsed", "empty"]
    assert len(judge_server) == 2  # the blank answer is not sent
    sent = judge_server[0]
    assert sent["path"] == "/v1/chat/completions" and sent["body"]["model"] == "local-judge"
    assert (
        "Reference description:\nShe smiles and laughs; she is happy."
        in sent["body"]["messages"][0]["content"]
    )
    assert utils.aggregate_cue_overlap(items) == 7.0
    assert utils.aggregate_hallucinated_cues(items) == 8.0
    assert utils.aggregate_judge_average(items) == pytest.approx(30 / 4)
    assert utils.aggregate_judge_unparsed_count(items) == 1
    assert utils.aggregate_judge_error_count(items) == 0
    assert utils.aggregate_judge_status(items) == "judged 1 of 3 answers with local-judge"


def test_an_unreachable_judge_is_counted_as_errors(monkeypatch):
    monkeypatch.setenv("AVEM_JUDGE_MODEL", "local-judge")
    monkeypatch.setenv("API_TYPE", "openai")
    monkeypatch.setenv("OPENAI_API_KEY", "x")
    monkeypatch.setenv("OPENAI_API_URL", "http://127.0.0.1:9/v1")  # nothing listens on port 9
    monkeypatch.setenv("AVEM_JUDGE_RETRIES", "1")
    judge.reset()
    items = [utils.process_results(_doc(0), ["happy"])["cue_overlap"]]
    judge.reset()
    assert items[0]["judge_status"] == "error"
    assert utils.aggregate_judge_error_count(items) == 1
    assert utils.aggregate_cue_overlap(items) is None
