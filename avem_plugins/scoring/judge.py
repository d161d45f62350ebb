"""The EMER judge: four 1-10 scores of a description against a reference, via lmms-eval.

The judge goes through lmms-eval's own judge client (``lmms_eval.llm_judge``), so any
OpenAI-compatible endpoint works, a local one too. Nothing is built at import: the
client is created on first use, once per process, and only when a judge is configured:

- ``AVEM_JUDGE_MODEL``: the judge model name (e.g. ``gpt-4o``, or a local model's
  name). Unset: no judge; the task reports its judge metrics as not computed.
- ``API_TYPE`` (lmms-eval's variable, default ``openai``): the provider. ``openai``
  reads ``OPENAI_API_KEY`` and ``OPENAI_API_URL`` (point it at any OpenAI-compatible
  server; a local server still needs some non-empty key), ``local`` reads
  ``LLM_JUDGE_URL``, ``azure`` the Azure variables; see lmms-eval's docs.
- ``AVEM_JUDGE_RETRIES`` (default 3): attempts per request.

A reply that is not a JSON object with the four integer scores in 1..10 is *unparsed*;
a request that fails after its retries is an *error*. Both are counted by the task.
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import dataclass
from typing import Any

MODEL_ENV = "AVEM_JUDGE_MODEL"
API_TYPE_ENV = "API_TYPE"
RETRIES_ENV = "AVEM_JUDGE_RETRIES"

#: The four criteria, as the paper names them.
CRITERIA: tuple[str, ...] = (
    "cue_overlap",
    "emotion_consistency",
    "emotion_cue_association",
    "hallucinated_cues",
)

PROMPT = """\
You grade a model's description of the emotional state of a person in a video against \
a reference description written by a human annotator.

Score the model description from 1 (worst) to 10 (best) on each criterion:
- cue_overlap: how well the audio and visual cues it mentions match the cues in the \
reference.
- emotion_consistency: how well the emotion it states agrees with the emotion in the \
reference.
- emotion_cue_association: judging the model description alone, how well the cues it \
mentions support the emotion it states; mentioning cues unrelated to that emotion \
lowers the score.
- hallucinated_cues: how free it is of audio or visual cues that the reference does not \
support (10 = nothing invented, 1 = mostly invented).

Reply with only a JSON object of four integers, for example:
{{"cue_overlap": 5, "emotion_consistency": 5, "emotion_cue_association": 5, \
"hallucinated_cues": 5}}

Reference description:
{reference}

Model description:
{prediction}
"""

_lock = threading.Lock()
_server: Any = None
_server_key: tuple[str, str] | None = None


@dataclass(frozen=True)
class JudgeResult:
    """``status``: ``"ok"`` (``scores`` set), ``"unparsed"``, ``"error"``, ``"not_configured"``
    (or, set by the task for blank answers, ``"empty"``)."""

    status: str
    scores: dict[str, int] | None = None
    detail: str = ""


def judge_model() -> str | None:
    """The configured judge model, or ``None`` (no judge)."""
    return os.environ.get(MODEL_ENV, "").strip() or None


def _server_for(model: str) -> Any:
    """lmms-eval's judge client for ``model``, built on first use (thread-safe)."""
    global _server, _server_key
    api_type = os.environ.get(API_TYPE_ENV, "openai").strip().lower() or "openai"
    with _lock:
        if _server is None or _server_key != (api_type, model):
            from lmms_eval.llm_judge import ServerConfig, get_server

            retries = int(os.environ.get(RETRIES_ENV, "3") or 3)
            config = ServerConfig(
                model_name=model,
                temperature=0.0,
                max_tokens=256,
                num_retries=max(1, retries),
                retry_delay=2.0,
            )
            _server = get_server(server_name=api_type, config=config)
            _server_key = (api_type, model)
        return _server


def parse_scores(reply: str | None) -> dict[str, int] | None:
    """The four scores from a judge reply, or ``None`` when they are not all there.

    Accepts a bare JSON object or one inside a code fence or other text; each score must
    be an integer (or an integral number or numeric string) in 1..10.
    """
    if not reply:
        return None
    match = re.search(r"\{.*\}", reply, re.DOTALL)
    if not match:
        return None
    try:
        data = json.loads(match.group(0))
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    scores = {}
    for key in CRITERIA:
        value = data.get(key)
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
        if not number.is_integer() or not 1 <= number <= 10:
            return None
        scores[key] = int(number)
    return scores


def judge(reference: str, prediction: str) -> JudgeResult:
    """Score ``prediction`` against ``reference`` with the configured judge."""
    model = judge_model()
    if model is None:
        return JudgeResult("not_configured", detail=f"{MODEL_ENV} is not set")
    try:
        from lmms_eval.llm_judge import Request

        server = _server_for(model)
        prompt = PROMPT.format(reference=reference.strip(), prediction=(prediction or "").strip())
        response = server.evaluate(Request(messages=[{"role": "user", "content": prompt}]))
    except Exception as err:  # network, auth, provider: counted, never fatal
        return JudgeResult("error", detail=f"{type(err).__name__}: {err}")
    content = getattr(response, "content", None)
    scores = parse_scores(content)
    if scores is None:
        return JudgeResult("unparsed", detail=str(content)[:200])
    return JudgeResult("ok", scores=scores)


def reset() -> None:
    """Forget the judge client (tests; a changed configuration is also picked up)."""
    global _server, _server_key
    with _lock:
        _server, _server_key = None, None
