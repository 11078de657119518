"""The `bedrock` and `vertex` presets end to end, offline, with the clouds' real auth code paths: each is added
with `ccproxy provider add --api-base` pointing at the fake provider, a rule is routed to it, and a
Claude-Code-shaped streamed tool loop (thinking, two tool calls in one turn, tool results with an image, the
answer) runs through the real proxy subprocess with the `anthropic` SDK.

What LiteLLM (the translated path) sends, and what the fake checks:
- Bedrock: `POST /model/ID/invoke-with-response-stream`, Anthropic's body with
  `anthropic_version: bedrock-2023-05-31`, signed with SigV4 by botocore from the AWS_* variables of the
  proxy's environment (the test recomputes the signature with the secret); answered as an AWS event stream
  (binary frames, CRC32s) that botocore decodes. `provider test` asks the Converse API (`/converse`).
- Vertex: a service-account JSON (`GOOGLE_APPLICATION_CREDENTIALS`, an RSA key made here) whose `token_uri`
  is the fake's `/token`: google-auth signs a JWT, trades it for an access token, and every Vertex request
  must carry that token. Claude: `:streamRawPredict` with `anthropic_version: vertex-2023-10-16`; Gemini:
  `:streamGenerateContent?alt=sse` (with Gemini 3's thought signatures checked).
No secret is in config.yaml, the logs or the commands' output.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import anthropic
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.providers.presets import preset
from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import Behaviour, FakeProvider, RecordedRequest
from ccproxy_desktop.testing.fake_provider.bedrock_format import (
    CONTENT_TYPE,
    decode_event_stream,
    sigv4_signature_matches,
)
from ccproxy_desktop.testing.fake_provider.scenario import GOOGLE_TOKEN_PATH
from ccproxy_desktop.testing.helpers import run_ccproxy as ccproxy
from ccproxy_desktop.testing.proxy_runner import RunningProxy, running_proxy
from ccproxy_desktop.testing.tool_loop import (
    ANSWER,
    CALLS,
    QUESTION,
    THINKING,
    check_answer,
    check_tool_calls,
    tool_results,
    turn,
    wait_until_thinking_reaches,
)

pytestmark = pytest.mark.proxy

AWS_KEY_ID = "AKIAFAKECCPROXYE2E01"
AWS_SECRET = "fake-aws-secret-ccproxy-e2e-do-not-leak"
AWS_REGION = "us-east-1"
PROJECT = "ccproxy-fake-project"
LOCATION = "us-east5"

BEDROCK_MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
VERTEX_PUBLISHERS = f"/v1/projects/{PROJECT}/locations/{LOCATION}/publishers"


@dataclass(frozen=True)
class Case:
    """One cloud model under test: its preset, its model and the path the fake sees for a streamed turn."""

    name: str
    model: str
    wire_path: str

    @property
    def model_name(self) -> str:
        return f"{self.name}/{self.model}"


BEDROCK = Case("bedrock", BEDROCK_MODEL, f"/model/{BEDROCK_MODEL}/invoke-with-response-stream")
VERTEX_CLAUDE = Case(
    "vertex",
    "claude-sonnet-4-5",
    f"{VERTEX_PUBLISHERS}/anthropic/models/claude-sonnet-4-5:streamRawPredict",
)
VERTEX_GEMINI = Case(
    "vertex",
    "gemini-3-pro-preview",
    f"{VERTEX_PUBLISHERS}/google/models/gemini-3-pro-preview:streamGenerateContent",
)
CASES = [BEDROCK, VERTEX_CLAUDE, VERTEX_GEMINI]


@dataclass
class World:
    paths: ConfigPaths
    cloud: FakeProvider
    private_key_pem: str
    outputs: list[str]  # everything the commands printed


@pytest.fixture(scope="module")
def cloud() -> Iterator[FakeProvider]:
    """This module's own fake provider: the session's is reset before every test, which would revoke the
    Google access token the proxy's LiteLLM keeps for an hour."""
    with FakeProvider() as fake:
        yield fake


def _service_account(path: Path, token_uri: str) -> str:
    """Write a service-account key file (a fresh RSA key) whose token endpoint is `token_uri`; its PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": "0123456789abcdef",
        "private_key": pem,
        "client_email": f"ccproxy@{PROJECT}.iam.gserviceaccount.com",
        "client_id": "100000000000000000001",
        "token_uri": token_uri,
    }
    path.write_text(json.dumps(info))
    path.chmod(0o600)
    return pem


@pytest.fixture(scope="module")
def world(cloud: FakeProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A config folder with bedrock and vertex (both models) added through the CLI, and the clouds'
    credentials in the environment (the proxy and the CLI inherit it), never in config.yaml."""
    folder = tmp_path_factory.mktemp("cloud")
    pem = _service_account(folder / "service-account.json", cloud.base_url + GOOGLE_TOKEN_PATH)
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK", "VERTEX_CREDENTIALS"):
            env.delenv(name, raising=False)
        env.setenv("AWS_ACCESS_KEY_ID", AWS_KEY_ID)
        env.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
        env.setenv("AWS_REGION_NAME", AWS_REGION)
        env.setenv("AWS_CONFIG_FILE", str(folder / "no-aws-config"))
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(folder / "no-aws-credentials"))
        env.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(folder / "service-account.json"))
        env.setenv("VERTEXAI_PROJECT", PROJECT)
        env.setenv("VERTEXAI_LOCATION", LOCATION)
        paths = write_fake_config(folder / "cfg", cloud.base_url, free_port())
        outputs = []
        for name, models in (
            ("bedrock", [BEDROCK.model]),
            ("vertex", [VERTEX_CLAUDE.model, VERTEX_GEMINI.model]),
        ):
            flags = [arg for model in models for arg in ("--model", model)]
            added = ccproxy(paths, "provider", "add", name, "--api-base", cloud.base_url, *flags, stdin="")
            assert added.returncode == 0, f"{name}: {added.stderr}"
            assert all(f"+- model_name: {name}/{model}\n" in added.stdout for model in models)
            outputs.append(added.stdout + added.stderr)
        yield World(paths, cloud, pem, outputs)


@pytest.fixture(scope="module")
def cloud_proxy(world: World) -> Iterator[RunningProxy]:
    with running_proxy(world.paths) as running:
        yield running


@pytest.fixture(autouse=True)
def _clean_cloud(cloud: FakeProvider) -> Iterator[None]:
    """Every test starts with an empty request record and the default behaviour (each test consumes what it
    queues). Not `scenario.reset()`: it would revoke the access tokens issued so far."""
    cloud.clear()
    cloud.scenario.set_default(Behaviour())
    yield


def test_the_cloud_presets_are_added_without_any_credential_in_config_yaml(world: World) -> None:
    models = {m["model_name"]: m for m in yaml.safe_load(world.paths.litellm_yaml.read_text())["model_list"]}
    for case in CASES:
        params = models[case.model_name]["litellm_params"]
        assert params == {
            "model": preset(case.name).litellm_model(case.model),
            "api_base": world.cloud.base_url,
        }
        assert models[case.model_name]["model_info"]["ccproxy_provider"] == case.name
    assert "AWS credentials" in world.outputs[0] and "VERTEXAI_PROJECT" in world.outputs[1]


def _wire_requests(cloud: FakeProvider, case: Case) -> list[RecordedRequest]:
    return [r for r in cloud.requests if r.path == case.wire_path]


def _check_auth(world: World, case: Case, request: RecordedRequest) -> None:
    """SigV4 made with the environment's key (the signature recomputed with its secret); for Vertex the
    access token that the fake's token endpoint gave google-auth for the service account's signed JWT."""
    if case.name == "bedrock":
        authorization = request.headers["authorization"]
        assert authorization.startswith(
            f"AWS4-HMAC-SHA256 Credential={AWS_KEY_ID}/{request.headers['x-amz-date'][:8]}/{AWS_REGION}/"
            "bedrock/aws4_request, SignedHeaders="
        )
        base = world.cloud.base_url
        assert sigv4_signature_matches(request, base, AWS_KEY_ID, AWS_SECRET, AWS_REGION)
        tampered = replace(request, raw=request.raw + b" ")
        assert not sigv4_signature_matches(tampered, base, AWS_KEY_ID, AWS_SECRET, AWS_REGION)
        assert not sigv4_signature_matches(request, base, AWS_KEY_ID, "another-secret", AWS_REGION)
        return
    scheme, _, token = request.headers["authorization"].partition(" ")
    assert scheme == "Bearer" and world.cloud.scenario.issued(token)
    assert token.startswith("fake-access-token-")


def _check_body(case: Case, request: RecordedRequest) -> None:
    body = request.json
    assert isinstance(body, dict)
    if case is BEDROCK:
        assert body["anthropic_version"] == "bedrock-2023-05-31"
        assert "model" not in body and "stream" not in body
    elif case is VERTEX_CLAUDE:
        assert body["anthropic_version"] == "vertex-2023-10-16"
        assert "model" not in body and body["stream"] is True
        assert request.query == "alt=sse"
    else:
        assert "contents" in body and request.query == "alt=sse"


def _tool_loop(world: World, proxy: RunningProxy, case: Case, model: str, thinking: bool) -> None:
    """tool_use -> tool_result -> answer, streamed, as Claude Code does it; checked on both sides."""
    cloud = world.cloud
    client = anthropic.Anthropic(base_url=proxy.url, api_key=proxy.key, max_retries=0, timeout=120)
    cloud.scenario.push(Behaviour(thinking=THINKING, text="Let me look.", tool_calls=CALLS), model=case.model)
    messages: list[dict[str, Any]] = [{"role": "user", "content": QUESTION}]
    first = turn(client, model, messages, thinking)
    uses = check_tool_calls(first, thinking)
    (sent,) = _wire_requests(cloud, case)
    assert sent.model == case.model
    _check_auth(world, case, sent)
    _check_body(case, sent)
    assert sent.response is not None and sent.response.status == 200
    if case is BEDROCK:  # an AWS event stream, every frame's CRCs right, each an Anthropic event
        assert sent.response.headers["content-type"] == CONTENT_TYPE
        frames = decode_event_stream(sent.response.body)
        assert {headers[":event-type"] for headers, _ in frames} == {"chunk"}
        events = [json.loads(base64.b64decode(json.loads(payload)["bytes"])) for _, payload in frames]
        assert events[0]["type"] == "message_start" and events[-1]["type"] == "message_stop"

    messages += tool_results(first, uses)
    cloud.scenario.push(Behaviour(text=ANSWER), model=case.model)
    second = turn(client, model, messages, thinking)
    _, answered = _wire_requests(cloud, case)
    _check_auth(world, case, answered)
    # Gemini signs its function calls even without thinking.
    check_answer(second, answered.raw.decode(), "signature" if thinking or case is VERTEX_GEMINI else None)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.model_name)
def test_each_cloud_model_serves_a_tool_loop_by_its_own_model_name(
    world: World, cloud_proxy: RunningProxy, case: Case
) -> None:
    _tool_loop(world, cloud_proxy, case, case.model_name, thinking=False)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.model_name)
def test_a_rule_routed_to_each_cloud_model_runs_a_streamed_tool_loop_with_thinking(
    world: World, cloud_proxy: RunningProxy, case: Case
) -> None:
    routed = ccproxy(world.paths, "route", "think", case.model_name)
    assert routed.returncode == 0, routed.stderr
    assert f"+    model: {case.model_name}\n" in routed.stdout
    wait_until_thinking_reaches(cloud_proxy.url, cloud_proxy.key, world.cloud, case.model)
    _tool_loop(world, cloud_proxy, case, "claude-sonnet-5", thinking=True)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.model_name)
def test_provider_test_asks_each_cloud_model_with_its_credentials(world: World, case: Case) -> None:
    tested = ccproxy(world.paths, "provider", "test", case.name, "--model", case.model)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    title = preset(case.name).title
    assert tested.stdout.startswith(f"{case.name}: ok: {title} answered with {case.model}"), tested.stdout
    asked = [r for r in world.cloud.requests if r.model == case.model]
    assert len(asked) == 1
    if case is BEDROCK:  # LiteLLM's completion() asks Bedrock's Converse API
        assert asked[0].path == f"/model/{BEDROCK_MODEL}/converse"
    _check_auth(world, case, asked[0])
    world.outputs.append(tested.stdout + tested.stderr)


def test_provider_test_says_when_the_cloud_refuses_the_credentials(world: World) -> None:
    wrong_key = {**os.environ, "AWS_ACCESS_KEY_ID": "AKIAWRONGKEY00000000"}
    world.cloud.scenario.expected_token = AWS_KEY_ID  # the fake now knows which access key is right
    try:
        refused = ccproxy(world.paths, "provider", "test", "bedrock", env=wrong_key)
    finally:
        world.cloud.scenario.expected_token = None
    assert refused.returncode == 1 and "refused (HTTP 403)" in refused.stdout, refused.stdout
    assert "The security token included in the request is invalid" in refused.stdout
    (asked,) = world.cloud.requests
    assert asked.response is not None and asked.response.status == 403
    assert asked.response.headers["x-amzn-errortype"].startswith("UnrecognizedClientException:")
    world.outputs.append(refused.stdout + refused.stderr)


def test_no_cloud_secret_is_in_any_file_log_or_output(world: World, cloud_proxy: RunningProxy) -> None:
    files = [path for path in world.paths.config_dir.rglob("*") if path.is_file()]
    assert world.paths.proxy_log in files
    key_body = "".join(world.private_key_pem.splitlines()[1:-1])[:64]
    # The fake's access tokens are `fake-access-token-N`; the proxy and the CLI got some (LiteLLM keeps them).
    for secret in [AWS_SECRET, key_body, "fake-access-token-"]:
        for path in files:
            assert secret.encode() not in path.read_bytes(), path
        assert all(secret not in output for output in world.outputs)
    text = world.paths.litellm_yaml.read_text()
    assert "AWS_SECRET" not in text and "private_key" not in text
