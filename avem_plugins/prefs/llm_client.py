"""Chat-completion clients for generating preference data: an OpenAI-compatible HTTP endpoint
or a local ``transformers`` model.

Both implement :class:`ChatClient`: ``complete(messages) -> Completion`` (the reply text and
the prompt/completion token counts).

:class:`OpenAIChatClient` speaks the ``POST /v1/chat/completions`` subset every
OpenAI-compatible server implements (OpenAI, vLLM, llama.cpp's server, Ollama, LM Studio,
TGI ...). It is written on the standard library's ``urllib`` rather than the ``openai``
package, on purpose:

- ``openai`` is not a dependency of avem-plugins (it is only pulled in by lmms-eval, whose
  dependencies may change), and we need nothing of it but one JSON POST;
- the retry policy must be ours and visible: the SDK retries on its own schedule by
  default (which would multiply with ours), while here every attempt, its status and the
  back-off are under our control and tested (5xx, 408, 429, timeouts and connection
  errors are retried with exponential back-off; other 4xx are not);
- a ``urllib`` request per call is trivially thread-safe for the builder's thread pool.

:class:`LocalChatClient` runs a local causal LM through its tokenizer's chat template
(imported lazily; generation is serialised by a lock, so ``--concurrency`` does not help it).

Errors: :class:`TransientLLMError` (retries exhausted on a retryable failure: the endpoint is
down or overloaded), :class:`LLMConfigError` (401/403/404: wrong URL, model or key; retrying
cannot help), :class:`LLMRequestError` (another 4xx: this request was refused, e.g. too long).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

#: HTTP statuses that are retried (besides every 5xx).
RETRY_STATUSES: frozenset[int] = frozenset({408, 409, 425, 429})
#: HTTP statuses that mean the client is misconfigured (not retried, abort the run).
CONFIG_STATUSES: frozenset[int] = frozenset({401, 403, 404})

Message = dict[str, str]


class LLMError(RuntimeError):
    """A chat completion failed; the message says why and what to do."""


class TransientLLMError(LLMError):
    """A retryable failure (5xx, 408/429, timeout, connection) that outlived the retries."""


class LLMConfigError(LLMError):
    """The endpoint refused the client itself (401/403/404): fix URL, model or API key."""


class LLMRequestError(LLMError):
    """The endpoint refused this request (another 4xx, or an unreadable reply)."""


@dataclass
class Usage:
    """Token counts; ``reported`` is False when the server gave no ``usage`` object."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0
    reported: bool = True

    def add(self, other: Usage) -> None:
        """Add another usage into this one (in place)."""
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.requests += other.requests
        self.reported = self.reported and other.reported

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_dict(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "requests": self.requests,
            "usage_reported": self.reported,
        }


@dataclass(frozen=True)
class Completion:
    """One reply: its text, its token usage and how many HTTP attempts it took."""

    text: str
    usage: Usage
    attempts: int = 1


class ChatClient(Protocol):
    """What the preference builder needs from an LLM."""

    #: A short description for logs and the token sidecar (endpoint + model).
    name: str

    def complete(self, messages: Sequence[Message]) -> Completion: ...


def chat_completions_url(endpoint: str) -> str:
    """The full ``/chat/completions`` URL for an endpoint given as a base URL.

    ``http://host:8000/v1`` (the OpenAI ``base_url`` convention) and a full
    ``.../chat/completions`` URL are both accepted; a bare ``http://host:8000`` gets ``/v1``.
    """
    parsed = urllib.parse.urlparse(endpoint.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise LLMConfigError(
            f"endpoint {endpoint!r} is not an http(s) URL; pass --endpoint like "
            "http://127.0.0.1:8000/v1"
        )
    path = parsed.path.rstrip("/")
    if path.endswith("/chat/completions"):
        pass
    elif not path:
        path = "/v1/chat/completions"
    else:
        path = path + "/chat/completions"
    return urllib.parse.urlunparse(parsed._replace(path=path))


def backoff_delays(max_retries: int, base: float, cap: float) -> list[float]:
    """The sleep before each retry: ``base * 2**k`` capped at ``cap`` (k = 0 .. max_retries-1)."""
    return [min(cap, base * (2**k)) for k in range(max_retries)]


def _is_transient_exception(err: BaseException) -> bool:
    if isinstance(err, urllib.error.HTTPError):
        return err.code >= 500 or err.code in RETRY_STATUSES
    return isinstance(
        err,
        (
            urllib.error.URLError,  # connection refused/reset, DNS
            TimeoutError,
            socket.timeout,
            ConnectionError,
            http.client.RemoteDisconnected,
            http.client.IncompleteRead,
        ),
    )


class OpenAIChatClient:
    """``POST {endpoint}/chat/completions`` with retries and token accounting.

    :param endpoint: base URL (``http://127.0.0.1:8000/v1``) or the full completions URL.
    :param model: the ``model`` field of the request.
    :param api_key: sent as ``Authorization: Bearer``; ``None`` sends none (local servers).
    :param max_retries: retries after the first attempt on 5xx/408/429/timeouts/connection
        errors; waits ``backoff * 2**k`` seconds (capped at ``max_backoff``) before retry k.
    :param extra_body: more request fields (e.g. ``{"response_format": {"type":
        "json_object"}}`` for servers supporting it).
    """

    def __init__(
        self,
        endpoint: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        temperature: float = 0.7,
        max_tokens: int | None = 1024,
        extra_body: dict[str, Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self.url = chat_completions_url(endpoint)
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.max_retries = max_retries
        self.delays = backoff_delays(max_retries, backoff, max_backoff)
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.extra_body = dict(extra_body or {})
        self.sleep = sleep
        self.name = f"{self.url} model={model}"

    def _body(self, messages: Sequence[Message]) -> bytes:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(m) for m in messages],
            "temperature": self.temperature,
        }
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        body.update(self.extra_body)
        return json.dumps(body).encode("utf-8")

    def _post(self, data: bytes) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            raw = response.read()
        try:
            reply = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise LLMRequestError(
                f"{self.url}: the reply is not JSON ({e}); is --endpoint an OpenAI-compatible "
                f"server? First bytes: {raw[:200]!r}"
            ) from e
        if not isinstance(reply, dict):
            raise LLMRequestError(f"{self.url}: expected a JSON object, got {type(reply).__name__}")
        return reply

    def complete(self, messages: Sequence[Message]) -> Completion:
        """One chat completion, retried on transient failures."""
        data = self._body(messages)
        last: BaseException | None = None
        for attempt in range(self.max_retries + 1):
            if attempt:
                self.sleep(self.delays[attempt - 1])
            try:
                reply = self._post(data)
            except urllib.error.HTTPError as e:
                detail = _http_detail(e)
                if e.code in CONFIG_STATUSES:
                    raise LLMConfigError(
                        f"{self.url} answered HTTP {e.code} ({detail}); check --endpoint, "
                        f"--model ({self.model!r}) and the API key (--api-key-env)"
                    ) from e
                if not _is_transient_exception(e):
                    raise LLMRequestError(
                        f"{self.url} refused the request: HTTP {e.code} ({detail})"
                    ) from e
                last = e
                continue
            except LLMError:
                raise
            except Exception as e:
                if not _is_transient_exception(e):
                    raise
                last = e
                continue
            return _parse_reply(reply, self.url, attempts=attempt + 1)
        raise TransientLLMError(
            f"{self.url}: gave up after {self.max_retries + 1} attempts "
            f"(last error: {_describe(last)}); check the server, or raise --max-retries"
        )


def _http_detail(err: urllib.error.HTTPError) -> str:
    try:
        body = err.read().decode("utf-8", "replace").strip()
    except Exception:
        body = ""
    return f"{err.reason}: {body[:300]}" if body else str(err.reason)


def _describe(err: BaseException | None) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return f"connection error: {err.reason}"
    return f"{type(err).__name__}: {err}" if err is not None else "unknown"


def _parse_reply(reply: dict[str, Any], url: str, *, attempts: int) -> Completion:
    try:
        content = reply["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError) as e:
        raise LLMRequestError(
            f"{url}: the reply has no choices[0].message.content ({str(reply)[:300]})"
        ) from e
    if not isinstance(content, str):
        content = "" if content is None else json.dumps(content)
    usage_obj = reply.get("usage")
    if isinstance(usage_obj, dict):
        usage = Usage(
            int(usage_obj.get("prompt_tokens") or 0),
            int(usage_obj.get("completion_tokens") or 0),
            requests=1,
        )
    else:
        usage = Usage(requests=1, reported=False)
    return Completion(text=content, usage=usage, attempts=attempts)


def api_key_from_env(var: str | None, *, required: bool) -> str | None:
    """The API key in environment variable ``var``.

    A missing variable is an error only when ``required`` (the user named it explicitly);
    local servers need no key.
    """
    if not var:
        return None
    value = os.environ.get(var)
    if not value and required:
        raise LLMConfigError(
            f"the API key variable {var} is not set; export {var}=... or pass --api-key-env "
            "naming the variable that holds the key (local servers need none)"
        )
    return value or None


class LocalChatClient:
    """A local ``transformers`` causal LM answering through its chat template.

    :param model_path: a folder (or hub id, if the hub is reachable) with a model and a
        tokenizer that has a chat template.
    :param temperature: 0 decodes greedily.
    """

    def __init__(
        self,
        model_path: str,
        *,
        max_new_tokens: int = 1024,
        temperature: float = 0.7,
        device: str | None = None,
        dtype: str = "auto",
    ) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        if not getattr(self.tokenizer, "chat_template", None):
            raise LLMConfigError(
                f"{model_path}: the tokenizer has no chat template; use an instruction-tuned "
                "model (or an OpenAI-compatible server with --endpoint)"
            )
        model: Any = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype)
        if device:
            model = model.to(device)
        self.model: Any = model.eval()
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.name = f"local:{model_path}"
        self._lock = threading.Lock()

    def complete(self, messages: Sequence[Message]) -> Completion:
        """Generate one reply (serialised: one generation at a time)."""
        import torch

        ids: Any = self.tokenizer.apply_chat_template(
            [dict(m) for m in messages], add_generation_prompt=True, return_tensors="pt",
            return_dict=True,
        )  # fmt: skip
        ids = {k: v.to(self.model.device) for k, v in ids.items()}
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens}
        if self.temperature > 0:
            kwargs |= {"do_sample": True, "temperature": self.temperature}
        else:
            kwargs |= {"do_sample": False}
        if self.tokenizer.pad_token_id is not None:
            kwargs["pad_token_id"] = self.tokenizer.pad_token_id
        with self._lock, torch.no_grad():
            out = self.model.generate(**ids, **kwargs)
        n_in = int(ids["input_ids"].shape[1])
        new = out[0, n_in:]
        text = str(self.tokenizer.decode(new, skip_special_tokens=True))
        return Completion(text=text, usage=Usage(n_in, int(new.shape[0]), requests=1))
