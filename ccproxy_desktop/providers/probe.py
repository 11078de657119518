"""`ccproxy provider test`: one tiny request straight to the provider, and what happened, in words.

Anthropic-format, OpenAI-format and Ollama providers are asked with httpx (at most 1 output token; 16 for
OpenAI's own API, whose reasoning models take `max_completion_tokens`, not `max_tokens`); the cloud formats
(Gemini, Bedrock, Vertex) through LiteLLM, imported here only (never on the proxy's start path). The key is
sent in a header and never appears in the verdict.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import httpx

from .presets import Preset

__all__ = ["ProbeResult", "probe"]

PROBE_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    verdict: str  # one sentence for a person
    status: int | None = None
    latency_ms: float | None = None


def _explain(status: int, body: str, model: str, url: str) -> str:
    snippet = " ".join(body.split())[:200]
    if status in (401, 403):
        return (
            f"the key was refused (HTTP {status}): store the right one with `ccproxy provider add`. {snippet}"
        )
    if status == 404:
        return f"not found (HTTP 404): the model {model!r} or the URL {url} is wrong. {snippet}"
    if status == 429:
        return f"rate limited or out of credit (HTTP 429). {snippet}"
    if status >= 500:
        return f"the provider failed (HTTP {status}). {snippet}"
    lowered = body.lower()
    if "model" in lowered and ("not" in lowered or "invalid" in lowered or "unknown" in lowered):
        return f"the provider doesn't know the model {model!r} (HTTP {status}). {snippet}"
    return f"the provider refused the request (HTTP {status}). {snippet}"


def _request(preset: Preset, api_base: str, model: str, key: str | None) -> tuple[str, dict[str, str], Any]:
    base = api_base.rstrip("/")
    prompt = [{"role": "user", "content": "Say ok."}]
    if preset.wire_format == "anthropic":
        headers = {"anthropic-version": "2023-06-01", "content-type": "application/json"}
        if key and preset.auth_header == "bearer":
            headers["authorization"] = f"Bearer {key}"  # as the proxy sends it (Moonshot, Zhipu, OpenRouter)
        elif key:
            headers["x-api-key"] = key
        url = f"{base.removesuffix('/v1')}/v1/messages"
        return url, headers, {"model": model, "max_tokens": 1, "messages": prompt}
    if preset.wire_format == "ollama":
        body = {"model": model, "messages": prompt, "stream": False, "options": {"num_predict": 1}}
        return f"{base}/api/chat", {}, body
    headers = {"authorization": f"Bearer {key}"} if key else {}
    url = f"{base}/chat/completions" if base.endswith("/v1") else f"{base}/v1/chat/completions"
    # OpenAI's own API refuses `max_tokens` for its reasoning models (gpt-5, o-series); compatible servers
    # (Groq, LM Studio...) know `max_tokens` best.
    limit = {"max_completion_tokens": 16} if preset.litellm_prefix == "openai" else {"max_tokens": 1}
    return url, headers, {"model": model, **limit, "messages": prompt}


def _probe_litellm(preset: Preset, api_base: str, model: str, key: str | None) -> ProbeResult:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm  # the cloud formats: LiteLLM knows their auth (AWS SigV4, Google ADC)

    # Not its "Provider List: https://docs.litellm.ai/..." lines on stdout (printed when it looks up a model
    # name without its provider prefix, as it does for a Vertex Gemini answer): the verdict is the only output.
    litellm.suppress_debug_info = True
    kwargs: dict[str, Any] = {"max_tokens": 1, "timeout": PROBE_TIMEOUT_S}
    if api_base and api_base != preset.api_base:
        kwargs["api_base"] = api_base
    if key:
        kwargs["api_key"] = key
    started = time.perf_counter()
    try:
        litellm.completion(
            model=preset.litellm_model(model), messages=[{"role": "user", "content": "ok"}], **kwargs
        )
    except Exception as exc:  # LiteLLM's errors carry a status code; anything else is reported as is
        status = getattr(exc, "status_code", None)
        message = str(exc).replace(key, "***") if key else str(exc)
        if isinstance(status, int):
            return ProbeResult(False, _explain(status, message, model, api_base or preset.title), status)
        return ProbeResult(False, f"could not ask {preset.title}: {type(exc).__name__}: {message[:300]}")
    latency = (time.perf_counter() - started) * 1000
    return ProbeResult(True, f"ok: {preset.title} answered with {model} in {latency:.0f} ms", 200, latency)


def probe(
    preset: Preset,
    api_base: str,
    model: str,
    key: str | None,
    timeout: float = PROBE_TIMEOUT_S,
    transport: httpx.BaseTransport | None = None,
) -> ProbeResult:
    """Send one tiny request for `model` and say what happened."""
    if preset.wire_format in ("gemini", "bedrock", "vertex"):
        return _probe_litellm(preset, api_base, model, key)
    url, headers, body = _request(preset, api_base, model, key)
    started = time.perf_counter()
    try:
        with httpx.Client(timeout=timeout, transport=transport) as client:
            response = client.post(url, headers=headers, json=body)
    except httpx.TimeoutException:
        return ProbeResult(False, f"no answer from {url} within {timeout:g} s")
    except httpx.HTTPError as exc:
        return ProbeResult(False, f"unreachable: {url}: {type(exc).__name__}: {exc}")
    latency = (time.perf_counter() - started) * 1000
    if response.status_code == 200:
        return ProbeResult(
            True, f"ok: {preset.title} answered with {model} in {latency:.0f} ms", 200, latency
        )
    return ProbeResult(
        False, _explain(response.status_code, response.text, model, url), response.status_code, latency
    )
