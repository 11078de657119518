"""Google Vertex AI's wire formats (`REGION-aiplatform.googleapis.com`): Claude on Vertex
(`/v1/projects/P/locations/L/publishers/anthropic/models/MODEL:rawPredict` / `:streamRawPredict`, and
`.../models/count-tokens:rawPredict`) and Gemini on Vertex (`.../publishers/google/models/MODEL:
generateContent` / `:streamGenerateContent` / `:countTokens`), and Google's OAuth token endpoint.

Claude on Vertex takes Anthropic Messages bodies without `model` (the path names it) and with
`anthropic_version: vertex-2023-10-16`, and answers as Anthropic does (JSON, SSE); a body that names `model`
or lacks the version is refused with 400, as Vertex does. Gemini on Vertex speaks the Gemini API format
(`gemini_format`). Every Vertex request must carry `Authorization: Bearer TOKEN` with a token the fake's
token endpoint issued (`/token`, Google's `oauth2.googleapis.com/token`: a service account's signed JWT
assertion, or an authorized user's refresh token), else Google's 401.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from dataclasses import replace

from . import anthropic_format, gemini_format
from .replies import BadRequest, ParsedRequest
from .scenario import VERTEX_PATH

__all__ = [
    "ANTHROPIC_VERSION",
    "CLOUD_PLATFORM_SCOPE",
    "JWT_BEARER_GRANT",
    "UNAUTHENTICATED_MESSAGE",
    "check_assertion",
    "parse_anthropic_request",
    "parse_gemini_request",
]

ANTHROPIC_VERSION = "vertex-2023-10-16"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
UNAUTHENTICATED_MESSAGE = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
    "valid authentication credential."
)
"""Google's 401 message for a request without a valid OAuth access token."""


def _match(path: str, publisher: str) -> tuple[str, str]:
    match = VERTEX_PATH.match(path)
    if match is None or match.group("publisher") != publisher:
        raise BadRequest(f"not a Vertex {publisher} model path: {path}")
    return match.group("model"), match.group("action")


def parse_anthropic_request(body: Mapping[str, object], path: str) -> ParsedRequest:
    """A Claude-on-Vertex body for the model of `path` (for `count-tokens:rawPredict`, the body's `model`)."""
    model, _action = _match(path, "anthropic")
    if model == "count-tokens":
        return replace(anthropic_format.parse_messages_request(body), stream=False)
    if "model" in body:
        raise BadRequest("model: Extra inputs are not permitted (Vertex AI names the model in the URL)")
    if body.get("anthropic_version") != ANTHROPIC_VERSION:
        raise BadRequest(f"anthropic_version: Input should be {ANTHROPIC_VERSION!r}")
    # Streamed when the body says `stream: true` (as with Anthropic's API), on either action.
    return anthropic_format.parse_messages_request({**body, "model": model})


def parse_gemini_request(body: Mapping[str, object], path: str) -> ParsedRequest:
    """A Gemini-on-Vertex body: the Gemini API's, for the model of `path`."""
    model, action = _match(path, "google")
    # gemini_format reads the model and the action from a Gemini API path: hand it the equivalent one.
    return gemini_format.parse_generate_request(body, f"/v1/models/{model}:{action}")


def _segment(value: str) -> dict[str, object]:
    decoded = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    if not isinstance(decoded, dict):
        raise ValueError("not a JSON object")
    return decoded


def check_assertion(assertion: str, now: float | None = None) -> str | None:
    """None when `assertion` is a service account's JWT as Google's token endpoint takes it (RS256, an
    issuer, this endpoint's audience, the cloud-platform scope, not expired), else what is wrong with it.
    The signature is not verified (the fake doesn't know the account's public key)."""
    parts = assertion.split(".")
    if len(parts) != 3 or not parts[2]:
        return "Invalid JWT: the assertion is not a signed JWT"
    try:
        header, claims = _segment(parts[0]), _segment(parts[1])
    except ValueError:
        return "Invalid JWT: the header or the claims are not JSON"
    now = time.time() if now is None else now
    if header.get("alg") != "RS256":
        return f"Invalid JWT: unsupported algorithm {header.get('alg')!r}"
    if not isinstance(claims.get("iss"), str) or not claims["iss"]:
        return "Invalid JWT: no issuer (iss)"
    if claims.get("aud") != "https://oauth2.googleapis.com/token":
        return f"Invalid JWT Signature: wrong audience {claims.get('aud')!r}"
    if CLOUD_PLATFORM_SCOPE not in str(claims.get("scope", "")).split():
        return "Invalid JWT: the cloud-platform scope is missing"
    expires = claims.get("exp")
    if not isinstance(expires, int | float) or expires < now:
        return "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe"
    return None
