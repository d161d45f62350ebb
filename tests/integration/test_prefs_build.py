"""`avem prefs build` against a real OpenAI-compatible HTTP server started on loopback.

The server (``http.server`` in a thread) implements ``POST /v1/chat/completions``: it reads the
clip's lines from the rendered user template and answers deterministically with a JSON object
derived from them, reporting ``usage`` tokens. Switches on the server make it fail
(HTTP 500 for chosen requests, or for everything after K replies), refuse (400/404) or answer
badly for chosen clips, so retries, aborts, resumes and rejects run through the real client.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avem_plugins.cli.main import app
from avem_plugins.prefs.build import (
    GenerationRejected,
    PrefsBuildError,
    build_preferences,
    load_templates,
    parse_generation,
    plan_jobs,
    read_clips,
    sidecar_paths,
)
from avem_plugins.prefs.llm_client import (
    LLMConfigError,
    LLMRequestError,
    OpenAIChatClient,
    TransientLLMError,
    chat_completions_url,
)
from avem_plugins.prefs.schema import load_preferences
from avem_plugins.prefs.validate import validate_file
from avem_plugins.testing.synth import make_clips

N_CLIPS = 7  # one per emotion of synth.EMOTION_CUES


class FakeLLM:
    """State and behaviour of the loopback server (set the switches between builds)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.fail_requests: set[int] = set()  # 1-based request numbers answered with 500
        self.down_after: int | None = None  # after this many good replies, always 500
        self.status_for: dict[str, int] = {}  # clip id -> HTTP status to answer
        self.bad: dict[str, str] = {}  # clip id -> kind of bad answer
        self.good = 0
        self.delay = 0.0  # seconds before each answer
        self.prompt_tokens = 0
        self.completion_tokens = 0

    def answer(self, body: dict) -> tuple[int, dict | str]:
        with self.lock:
            self.requests.append(body)
            number = len(self.requests)
            user = body["messages"][-1]["content"]
            fields = dict(re.findall(r"^(Clip id|Emotion label|Asked modality|Visual description \(present cues\)|"
                                     r"Audio description \(present cues\)): (.*)$", user, re.MULTILINE))  # fmt: skip
            clip = fields.get("Clip id", "?")
            if number in self.fail_requests or (
                self.down_after is not None and self.good >= self.down_after
            ):
                return 500, {"error": {"message": "server exploded"}}
            if clip in self.status_for:
                return self.status_for[clip], {
                    "error": {"message": f"status {self.status_for[clip]}"}
                }
            self.good += 1
        emotion = fields["Emotion label"]
        modality = fields["Asked modality"]
        cue = (
            fields["Audio description (present cues)"]
            if modality == "audio"
            else fields["Visual description (present cues)"]
        )
        what = {"audio": "voice", "visual": "face", "audiovisual": "clip"}[modality]
        answer = {
            "prompt": f"What emotion does the {what} convey, and why?",
            "chosen": f"The person shows {emotion}: {cue}.",
            "rejected": f"The person shows {emotion}: tears run down the cheeks.",
            "rejected_2": f"The person shows {emotion}: the background is dark.",
        }
        kind = self.bad.get(clip)
        if kind == "prose":
            text = "Sure! Here are some ideas about this clip, no JSON though."
        elif kind == "same":
            answer["rejected"] = answer["chosen"].upper()
            text = json.dumps(answer)
        elif kind == "missing":
            del answer["rejected_2"]
            text = json.dumps(answer)
        else:
            text = (
                "```json\n" + json.dumps(answer) + "\n```"
                if clip == "clip_0004_surprise"
                else json.dumps(answer)
            )
        usage = {"prompt_tokens": len(user.split()), "completion_tokens": len(text.split())}
        with self.lock:
            self.prompt_tokens += usage["prompt_tokens"]
            self.completion_tokens += usage["completion_tokens"]
        reply = {
            "id": f"cmpl-{number}",
            "object": "chat.completion",
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {**usage, "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"]},
        }
        return 200, reply


@pytest.fixture
def llm():
    state = FakeLLM()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            if self.path != "/v1/chat/completions":
                self._send(404, {"error": "no such route"})
                return
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            time.sleep(state.delay)
            with state.lock:
                state.headers.append(dict(self.headers))
            self._send(*state.answer(body))

        def _send(self, status, payload):
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def clips_csv(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("clips")
    make_clips(root, N_CLIPS, seed=0, num_frames=8)
    return root / "clips.csv"


def client(llm, **kw) -> OpenAIChatClient:
    kw = {"max_retries": 3, "backoff": 0.001, "timeout": 10, **kw}
    return OpenAIChatClient(llm.url, "fake-model", **kw)


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# ------------------------------------------------------------------------------- building


def test_build_writes_rows_that_validate_and_load(llm, clips_csv, tmp_path):
    out = tmp_path / "prefs.jsonl"
    result = build_preferences(clips_csv, out, client(llm), concurrency=3, progress=False)
    assert result.ok and result.written == N_CLIPS and not result.rejected
    got = rows(out)
    assert len(got) == N_CLIPS and len({r["id"] for r in got}) == N_CLIPS
    # the questions cycle over the modalities; the answers come from the LLM, grounded cues
    assert Counter(r["modality"] for r in got) == Counter(
        {"audio": 3, "visual": 2, "audiovisual": 2}
    )
    by_id = {r["id"]: r for r in got}
    row = by_id["clip_0000_happiness-audio"]
    assert row["chosen"] == "The person shows happiness: a steady high-pitched tone."
    assert row["prompt"] == "What emotion does the voice convey, and why?"
    assert row["video"] == "clip_0000_happiness.mp4" and row["emotion"] == "happiness"
    # the fenced reply of clip 4 was parsed too
    assert "clip_0004_surprise-visual" in by_id
    # a mismatched clip with another emotion for every row
    for r in got:
        assert r["video_l"] != r["video"]
        assert r["video_l"].split("_")[2].removesuffix(".mp4") != r["emotion"]
    # the output validates and loads with the media root (the CSV's folder)
    report = validate_file(out, clips_csv.parent)
    assert report.ok and report.warnings == 0, report.format_summary()
    assert {s.modality_inferred for s in load_preferences(out, clips_csv.parent)} == {False}
    # token accounting matches what the server counted
    assert result.usage.prompt_tokens == llm.prompt_tokens > 0
    assert result.usage.completion_tokens == llm.completion_tokens > 0
    tokens = json.loads(sidecar_paths(out)[1].read_text())
    assert tokens["total"]["prompt_tokens"] == llm.prompt_tokens
    assert tokens["total"]["requests"] == N_CLIPS == len(llm.requests)
    assert tokens["runs"][0]["client"].endswith("model=fake-model")
    # the shipped templates were sent
    system = llm.requests[0]["messages"][0]
    assert system["role"] == "system" and "HALLUCINATION" in system["content"]


def test_server_error_mid_run_is_retried(llm, clips_csv, tmp_path):
    llm.fail_requests = {2, 3, 5}
    out = tmp_path / "prefs.jsonl"
    result = build_preferences(clips_csv, out, client(llm), concurrency=1, progress=False)
    assert result.ok and result.written == N_CLIPS
    assert len(llm.requests) == N_CLIPS + 3  # three 500s, each retried
    assert len({r["id"] for r in rows(out)}) == N_CLIPS
    assert result.usage.requests == N_CLIPS  # tokens of answered requests only


def test_interrupted_build_resumes_without_duplicates_or_losses(llm, clips_csv, tmp_path):
    out = tmp_path / "prefs.jsonl"
    llm.down_after = 3  # the server dies after 3 good replies
    first = build_preferences(
        clips_csv, out, client(llm, max_retries=2), concurrency=2, progress=False
    )
    assert first.aborted is not None and "gave up after 3 attempts" in first.aborted
    assert not first.ok
    assert first.written == 3
    before = out.read_bytes()
    rejects = rows(sidecar_paths(out)[0])
    assert rejects and {r["kind"] for r in rejects} == {"failed"}  # recorded, not dropped
    assert first.rejected["failed"] + first.not_attempted + first.written == N_CLIPS

    llm.down_after = None
    second = build_preferences(clips_csv, out, client(llm), concurrency=2, progress=False)
    assert second.ok and second.skipped == 3 and second.written == N_CLIPS - 3
    assert out.read_bytes().startswith(before)  # appended, never rewritten
    ids = [r["id"] for r in rows(out)]
    expected = {j.id for j in plan_jobs(read_clips(clips_csv), seed=0)}
    assert len(ids) == len(set(ids)) == N_CLIPS and set(ids) == expected
    tokens = json.loads(sidecar_paths(out)[1].read_text())
    assert len(tokens["runs"]) == 2 and tokens["total"]["written"] == N_CLIPS

    third = build_preferences(clips_csv, out, client(llm), progress=False)
    assert third.written == 0 and third.skipped == N_CLIPS  # nothing left: no request sent
    assert len(rows(out)) == N_CLIPS


def test_killed_build_resumes_without_duplicates_or_losses(llm, clips_csv, tmp_path):
    """SIGKILL the real `avem prefs build` process mid-run, then resume it."""
    import os
    import signal
    import subprocess
    import sys

    llm.delay = 0.3
    out = tmp_path / "prefs.jsonl"
    avem = Path(sys.executable).with_name("avem")
    argv = [str(avem), "prefs", "build", str(clips_csv), "--out", str(out), "--endpoint", llm.url,
            "--model", "fake-model", "--concurrency", "1", "--no-progress"]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and (not out.exists() or out.read_text().count("\n") < 2):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    written = [r["id"] for r in rows(out)]
    assert 2 <= len(written) < N_CLIPS

    llm.delay = 0.0
    result = build_preferences(clips_csv, out, client(llm), progress=False)
    assert result.skipped == len(written) and result.written == N_CLIPS - len(written)
    ids = [r["id"] for r in rows(out)]
    assert ids[: len(written)] == written
    assert len(ids) == len(set(ids)) == N_CLIPS


def test_existing_output_is_never_overwritten(llm, clips_csv, tmp_path):
    out = tmp_path / "prefs.jsonl"
    mine = {"id": "hand-made", "prompt": "How does she feel?", "chosen": "a", "rejected": "b",
            "video": "clip_0000_happiness.mp4"}  # fmt: skip
    torn = b'{"id": "clip_0001_sadness-visual", "prompt": "Wha'
    out.write_bytes((json.dumps(mine) + "\n").encode() + torn)  # a run killed mid-write
    result = build_preferences(clips_csv, out, client(llm), limit=2, progress=False)
    assert result.written == 2
    got = rows(out)
    assert got[0] == mine and len(got) == 3
    assert out.with_name("prefs.jsonl.torn").read_bytes() == torn + b"\n"
    # an unreadable line in the middle stops the build instead of guessing
    out.write_text(out.read_text() + "not json\n")
    with pytest.raises(PrefsBuildError, match=r"prefs.jsonl line 4: .*never overwritten"):
        build_preferences(clips_csv, out, client(llm), progress=False)


def test_bad_llm_output_goes_to_rejects_with_reason(llm, clips_csv, tmp_path):
    llm.bad = {
        "clip_0000_happiness": "prose",
        "clip_0001_sadness": "same",
        "clip_0002_anger": "missing",
    }
    llm.status_for = {"clip_0003_neutral": 400}
    out = tmp_path / "prefs.jsonl"
    result = build_preferences(clips_csv, out, client(llm), concurrency=2, progress=False)
    assert result.aborted is None and result.written == N_CLIPS - 4
    assert result.rejected == {"invalid_output": 3, "request": 1}
    rejects = {r["id"].split("-")[0]: r for r in rows(sidecar_paths(out)[0])}
    assert "not a JSON object" in rejects["clip_0000_happiness"]["reason"]
    assert rejects["clip_0000_happiness"]["raw"].startswith("Sure!")
    assert "'rejected' is the same text as 'chosen'" in rejects["clip_0001_sadness"]["reason"]
    assert "lacks field(s) ['rejected_2']" in rejects["clip_0002_anger"]["reason"]
    assert (
        rejects["clip_0003_neutral"]["kind"] == "request"
        and "HTTP 400" in rejects["clip_0003_neutral"]["reason"]
    )
    assert {r["id"].split("-")[0] for r in rows(out)}.isdisjoint(rejects)
    # a resume does not pay for them again ...
    n = len(llm.requests)
    assert build_preferences(clips_csv, out, client(llm), progress=False).written == 0
    assert len(llm.requests) == n
    # ... unless asked to
    llm.bad, llm.status_for = {}, {}
    again = build_preferences(clips_csv, out, client(llm), retry_rejected=True, progress=False)
    assert again.written == 4 and len(rows(out)) == N_CLIPS


def test_missing_clip_is_rejected_not_dropped(llm, clips_csv, tmp_path):
    table = tmp_path / "clips.csv"
    text = clips_csv.read_text().replace("clip_0002_anger.mp4", "gone.mp4")
    table.write_text(text)
    out = tmp_path / "prefs.jsonl"
    result = build_preferences(table, out, client(llm), media_root=clips_csv.parent, progress=False)
    assert result.rejected == {"input": 1} and result.written == N_CLIPS - 1
    (reject,) = rows(sidecar_paths(out)[0])
    assert reject["id"].startswith("gone") and "clip not found" in reject["reason"]
    assert all(r["video_l"] != "gone.mp4" for r in rows(out))  # never a missing mismatch clip


def test_config_errors_stop_the_build(llm, clips_csv, tmp_path):
    llm.status_for = {"clip_0000_happiness": 404}
    result = build_preferences(
        clips_csv, tmp_path / "p.jsonl", client(llm), concurrency=1, progress=False
    )
    assert result.aborted is not None and "HTTP 404" in result.aborted and result.written == 0
    assert len(llm.requests) == 1  # not retried, nothing more sent


def test_custom_templates_override_the_shipped_ones(llm, clips_csv, tmp_path):
    templates = tmp_path / "tpl"
    templates.mkdir()
    shipped_user = load_templates().user.template
    (templates / "user.txt").write_text("STYLE: terse, costs $$0.\n" + shipped_user)
    build_preferences(clips_csv, tmp_path / "p.jsonl", client(llm), templates_dir=templates, limit=1,
                      progress=False)  # fmt: skip
    (request,) = llm.requests
    assert request["messages"][1]["content"].startswith("STYLE: terse, costs $0.\nClip id: ")
    assert "HALLUCINATION" in request["messages"][0]["content"]  # system.txt still shipped
    (templates / "system.txt").write_text("Answer about $nonsense.")
    with pytest.raises(PrefsBuildError, match=r"system.txt: unknown placeholder \$nonsense"):
        load_templates(templates)


# ------------------------------------------------------------------------------ the client


def test_client_retries_then_gives_up_with_backoff(llm):
    llm.down_after = 0
    slept: list[float] = []
    c = OpenAIChatClient(
        llm.url, "m", max_retries=3, backoff=0.5, max_backoff=1.0, sleep=slept.append
    )
    with pytest.raises(TransientLLMError, match=r"gave up after 4 attempts.*HTTP 500"):
        c.complete([{"role": "user", "content": "Clip id: x"}])
    assert slept == [0.5, 1.0, 1.0] and len(llm.requests) == 4


def test_client_connection_errors_are_retried(tmp_path):
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    slept: list[float] = []
    c = OpenAIChatClient(
        f"http://127.0.0.1:{port}/v1", "m", max_retries=2, backoff=0.01, sleep=slept.append
    )
    with pytest.raises(TransientLLMError, match="connection error"):
        c.complete([{"role": "user", "content": "hi"}])
    assert len(slept) == 2


def test_client_does_not_retry_client_errors(llm):
    llm.status_for = {"a": 400, "b": 401}
    c = client(llm)
    with pytest.raises(LLMRequestError, match="HTTP 400"):
        c.complete([{"role": "user", "content": "Clip id: a"}])
    with pytest.raises(LLMConfigError, match=r"HTTP 401.*--api-key-env"):
        c.complete([{"role": "user", "content": "Clip id: b"}])
    assert len(llm.requests) == 2


def test_endpoint_urls():
    assert chat_completions_url("http://h:1/v1") == "http://h:1/v1/chat/completions"
    assert chat_completions_url("http://h:1/v1/") == "http://h:1/v1/chat/completions"
    assert chat_completions_url("http://h:1") == "http://h:1/v1/chat/completions"
    assert chat_completions_url("https://h/x/chat/completions") == "https://h/x/chat/completions"
    with pytest.raises(LLMConfigError, match="--endpoint"):
        chat_completions_url("h:1/v1")


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ('{"prompt": "q", "chosen": "a", "rejected": "b"}', "lacks field"),
        (
            '{"prompt": "q", "chosen": "a", "rejected": "b", "rejected_2": "B."}',
            "'rejected_2' is the same text as 'rejected'",
        ),
        ('{"prompt": "q", "chosen": " ", "rejected": "b", "rejected_2": "c"}', "'chosen' is empty"),
        ('{"prompt": "q", "chosen": 3, "rejected": "b", "rejected_2": "c"}', "not a string"),
        ("[1, 2]", "not a JSON object"),
        ('{"prompt": "q", "chosen": "a"', "not a JSON object"),
    ],
)
def test_parse_generation_rejects(reply, reason):
    with pytest.raises(GenerationRejected, match=re.escape(reason)):
        parse_generation(reply)


def test_parse_generation_finds_the_object_in_prose():
    text = (
        'Here you go: {"prompt": "q", "chosen": "a", "rejected": "b", "rejected_2": "c"} Enjoy {x}'
    )
    assert parse_generation(text) == {
        "prompt": "q",
        "chosen": "a",
        "rejected": "b",
        "rejected_2": "c",
    }


# ------------------------------------------------------------ the local transformers backend


@pytest.fixture(scope="module")
def tiny_chat_lm(tmp_path_factory) -> Path:
    """A random-weight 1-layer Qwen2 causal LM with the tiny byte-level tokenizer (offline)."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from avem_plugins.testing.tiny import build_tokenizer

    folder = tmp_path_factory.mktemp("tiny-chat-lm")
    tokenizer = build_tokenizer("qwen2_5_omni")
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=4096,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)  # fmt: skip
    torch.manual_seed(0)
    Qwen2ForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_local_model_backend_runs_and_its_bad_output_is_rejected(tiny_chat_lm, clips_csv, tmp_path):
    from avem_plugins.prefs.llm_client import LocalChatClient

    local = LocalChatClient(str(tiny_chat_lm), max_new_tokens=6, temperature=0.0)
    reply = local.complete([{"role": "user", "content": "Clip id: x"}])
    assert reply.usage.prompt_tokens > 3 and 0 < reply.usage.completion_tokens <= 6
    out = tmp_path / "prefs.jsonl"
    result = build_preferences(clips_csv, out, local, limit=2, concurrency=2, progress=False)
    # a random model writes no JSON: both rows rejected with the reason and the raw reply
    assert result.written == 0 and result.rejected == {"invalid_output": 2}
    rejects = rows(sidecar_paths(out)[0])
    assert all("not a JSON object" in r["reason"] and "raw" in r for r in rejects)
    assert result.usage.requests == 2 and result.usage.completion_tokens > 0
    assert out.read_text() == ""


# ---------------------------------------------------------------------------------- CLI


def test_cli_build_sends_the_key_and_prints_tokens(llm, clips_csv, tmp_path, monkeypatch):
    monkeypatch.setenv("MY_LLM_KEY", "sk-test-123")
    out = tmp_path / "prefs.jsonl"
    args = ["prefs", "build", str(clips_csv), "--out", str(out), "--endpoint", llm.url, "--model", "fake-model",
            "--api-key-env", "MY_LLM_KEY", "--concurrency", "2", "--limit", "3", "--no-progress",
            "--backoff", "0.001"]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert len(rows(out)) == 3
    assert {h.get("Authorization") for h in llm.headers} == {"Bearer sk-test-123"}
    assert f"prompt {llm.prompt_tokens}, completion {llm.completion_tokens}" in res.output
    assert f"--media_root {clips_csv.parent}" in res.output

    monkeypatch.delenv("MY_LLM_KEY")
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 1 and "MY_LLM_KEY is not set" in res.output

    res = CliRunner().invoke(app, ["prefs", "build", str(clips_csv), "--out", str(out)])
    assert res.exit_code == 2 and "--endpoint" in res.output

    monkeypatch.setenv("MY_LLM_KEY", "sk-test-123")
    llm.down_after = 0
    res = CliRunner().invoke(app, [*args, "--max-retries", "1", "--limit", "5"])
    assert res.exit_code == 1 and "STOPPED" in res.output and "Rerun the same command" in res.output


# ------------------------------------------------------------------- end to end: training


def test_built_file_trains_with_avem_tiny(llm, clips_csv, tiny_qwen2_5_omni_dir, tmp_path):
    """Build on synthetic clips through the loopback server, then `avem dpo --recipe avem-tiny`."""
    import math
    import os
    import subprocess
    import sys

    out = tmp_path / "prefs.jsonl"
    result = build_preferences(clips_csv, out, client(llm), concurrency=2, progress=False)
    assert result.ok and result.written == N_CLIPS
    assert validate_file(out, clips_csv.parent).ok

    run = tmp_path / "run"
    avem = Path(sys.executable).with_name("avem")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "CUDA_VISIBLE_DEVICES": "", "TOKENIZERS_PARALLELISM": "false"}  # fmt: skip
    argv = [avem, "dpo", "--recipe", "avem-tiny", "--model_name_or_path", tiny_qwen2_5_omni_dir,
            "--dataset_name", out, "--media_root", clips_csv.parent, "--output_dir", run,
            "--max_steps", "2", "--num_processes", "1", "--adapter_kwargs", '{"video_max_pixels": 4096}']  # fmt: skip
    res = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, env=env, timeout=600
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert (run / "adapter_model.safetensors").is_file()
    state = json.loads((run / "trainer_state.json").read_text())
    logs = [h for h in state["log_history"] if "loss" in h]
    assert len(logs) == 2 and all(math.isfinite(h["loss"]) for h in logs)
    # both negatives and the built mismatched clips (video_l) were used
    assert all("logps/rejected_2" in h for h in logs)
    assert sum(h.get("mismatch/data", 0) for h in logs) > 0
