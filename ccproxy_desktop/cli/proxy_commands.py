"""Commands that manage the proxy: install, start, stop, restart, status, logs, run, validate."""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..auth.claude_import import claude_credentials_path
from ..config.loader import ConfigInvalid, Settings, install_defaults, load_settings
from ..config.override import OverrideFile
from ..config.paths import ConfigPaths
from ..pipeline.pipeline import build_pipeline, serving_entry
from ..pipeline.tokens import TokenCounter
from ..proxy.control import ProxyControl, StartFailed
from ..proxy.keys import ensure_master_key, master_key, read_master_key
from ..proxy.subscription import describe_window, latest_report
from .usage_commands import health_report

__all__ = ["install", "logs", "restart", "run", "start", "status", "stop", "validate"]


def _err(message: str) -> None:
    print(f"ccproxy: {message}", file=sys.stderr)


def install(paths: ConfigPaths, args: argparse.Namespace) -> int:
    written = install_defaults(paths, force=args.force)
    ensure_master_key(paths)
    for path in written:
        print(f"wrote {path}")
    if not written:
        print(f"config already in {paths.config_dir} (use --force to overwrite)")
    return 0


def start(paths: ConfigPaths, args: argparse.Namespace) -> int:
    control = ProxyControl(paths)
    running = control.state()
    if running is not None:
        _err(f"already running at {running.url} (pid {running.pid})")
        return 1
    if not args.detach:
        control.exec_foreground()
    return _start_in_background(control)


def _start_in_background(control: ProxyControl) -> int:
    try:
        state = control.start_detached()
    except StartFailed as exc:
        _err(f"could not start the proxy: {exc}")
        return 1
    print(f"proxy running at {state.url} (pid {state.pid})")
    return 0


def stop(paths: ConfigPaths, args: argparse.Namespace) -> int:
    stopped = ProxyControl(paths).stop()
    if stopped is None:
        print("proxy is not running")
        return 0
    print(f"stopped the proxy (pid {stopped.pid})")
    return 0


def restart(paths: ConfigPaths, args: argparse.Namespace) -> int:
    control = ProxyControl(paths)
    control.stop()
    return _start_in_background(control)


def _override(paths: ConfigPaths) -> str | None:
    choice = OverrideFile(paths.model_override_file).read()
    return choice.model if choice is not None else None


def status(paths: ConfigPaths, args: argparse.Namespace) -> int:
    control = ProxyControl(paths)
    state = control.state()
    report: dict[str, Any] = {
        "running": state is not None,
        "url": state.url if state else _configured_url(paths),
        "pid": state.pid if state else None,
        "uptime_seconds": round(state.uptime_seconds, 1) if state else None,
        "config_dir": str(paths.config_dir),
        "model_override": _override(paths),
        "subscription": latest_report(paths.subscription_file),
    }
    if args.health:
        report["health"] = health_report(paths, state.started_at if state else None)
        if state is not None:
            _add_writer_state(report["health"], control, state.url, paths)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    if state is None:
        print(f"proxy: stopped ({report['url']} when running)")
    else:
        healthy = "" if control.healthy(state.url) else " (not answering health checks)"
        print(
            f"proxy: running at {state.url}, pid {state.pid}, up {_duration(state.uptime_seconds)}{healthy}"
        )
    print(f"config: {paths.config_dir}")
    print(f"model: {report['model_override'] or 'auto (rules)'}")
    _print_subscription(report["subscription"])
    if args.health:
        _print_health(report["health"], since_start=state is not None)
    return 0


def _print_subscription(subscription: dict[str, Any] | None) -> None:
    """The Claude subscription's windows as the provider last reported them ("5-hour window: 62% used...")."""
    if not subscription:
        return
    for name, window in sorted(subscription["windows"].items(), key=lambda item: (len(item[0]), item[0])):
        print(describe_window(name, window))
    if subscription.get("overage_in_use"):
        print(f"subscription: using extra usage (overage), status {subscription.get('status') or 'unknown'}")


def _add_writer_state(health: dict[str, Any], control: ProxyControl, url: str, paths: ConfigPaths) -> None:
    """The proxy's ledger writer, as the proxy reports it: a full or read-only disk shows only there."""
    key = _client_key(paths)
    live = control.live_status(url, key) if key else None
    writer = live.get("ledger") if live else None
    if not isinstance(writer, dict):
        return
    health["ledger"] = {"pending": writer.get("pending"), "last_error": writer.get("last_error")}
    if writer.get("last_error"):
        health["warnings"].append(
            f"the proxy cannot write to the ledger ({writer.get('pending')} requests waiting, kept in memory "
            f"until it can; lost if the proxy stops first): {writer['last_error']}"
        )


def _client_key(paths: ConfigPaths) -> str | None:
    try:
        return master_key(load_settings(paths)) or read_master_key(paths)
    except ConfigInvalid:
        return read_master_key(paths)


def _print_health(health: dict[str, Any], since_start: bool) -> None:
    window = "since the proxy started" if since_start else "all time"
    print(f"health: {health['state']}" + (f": {health['state_reason']}" if health["state_reason"] else ""))
    print(
        f"requests ({window}): {health['requests_total']} total, {health['requests_succeeded']} ok, "
        f"{health['requests_failed']} failed"
    )
    latency = health["latency_ms"]
    if latency["p50"] is not None:
        print(f"latency: p50 {latency['p50']:.0f} ms, p95 {latency['p95']:.0f} ms")
    for title, counts in (("by model", health["by_model"]), ("by rule", health["by_rule"])):
        if counts:
            print(
                f"{title}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
            )
    print(f"spend: ${health['cost_usd']['today']:.4f} today, ${health['cost_usd']['month']:.4f} this month")
    cache = health["cache"]
    if cache["hits"]:
        print(f"response cache: {cache['hits']} hits ({cache['hit_rate']:.0%} of successful requests)")
    for warning in health["warnings"]:
        print(f"warning: {warning}")


def _configured_url(paths: ConfigPaths) -> str:
    try:
        server = load_settings(paths).server
    except ConfigInvalid:
        return "http://127.0.0.1:4000"
    return f"http://{server.host}:{server.port}"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else (f"{minutes}m{secs:02d}s" if minutes else f"{secs}s")


def logs(paths: ConfigPaths, args: argparse.Namespace) -> int:
    log = paths.proxy_log
    if not log.exists():
        _err(f"no log yet at {log}")
        return 1
    with open(log, "rb") as handle:
        lines = handle.read().decode("utf-8", "replace").splitlines()
        for line in lines[-args.lines :] if args.lines > 0 else []:
            print(line)
        sys.stdout.flush()
        while args.follow:
            chunk = handle.read()
            if chunk:
                sys.stdout.write(chunk.decode("utf-8", "replace"))
                sys.stdout.flush()
            else:
                time.sleep(0.25)
    return 0


# Claude Code sends its background requests (titles, summaries) to its "haiku" model only when it talks to
# api.anthropic.com or is told which model that is; through a proxy it would use the main model instead.
BACKGROUND_MODEL = "claude-haiku-4-5-20251001"


def claude_logged_in(home: Path, env: Mapping[str, str]) -> bool:
    """Whether Claude Code would use a Claude login (Pro/Max) rather than an API key: no key in the
    environment, and a login it keeps (`CLAUDE_CODE_OAUTH_TOKEN`, its credentials file, or the account its
    settings name). Nothing secret is read: only whether these exist."""
    if env.get("ANTHROPIC_API_KEY") or env.get("ANTHROPIC_AUTH_TOKEN"):
        return False
    if env.get("CLAUDE_CODE_OAUTH_TOKEN"):
        return True
    if claude_credentials_path(home, env).exists():
        return True
    config_dir = env.get("CLAUDE_CONFIG_DIR")
    settings = Path(config_dir) / ".claude.json" if config_dir else home / ".claude.json"
    try:
        return "oauthAccount" in json.loads(settings.read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return False


def project_of(folder: Path) -> str:
    """The project a working folder belongs to: its git top-level folder's name, else the folder's own."""
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate.name
    return folder.name


CLAUDE_CONTEXT_WINDOW = 200_000  # what Claude Code assumes for a Claude model it doesn't know better


def compact_window(settings: Settings) -> int | None:
    """The context window of the model serving the main conversation (`default`, aliases followed), when
    config.yaml gives one (`model_info.max_input_tokens`, written by `ccproxy provider add`) smaller than
    Claude's: Claude Code then has to compact before that model's limit, not Claude's."""
    entry = serving_entry(settings, "default")
    window = entry.model_info.get("max_input_tokens") if entry is not None else None
    if isinstance(window, int) and 0 < window < CLAUDE_CONTEXT_WINDOW:
        return window
    return None


# How Claude Code 2.1.332 picks the moment to compact (read from its bundle): the window is
# CLAUDE_CODE_AUTO_COMPACT_WINDOW (below 100,000 read as 100,000), at most the model's own; less the model's
# output limit, at most 20,000; it compacts when the context passes that less 13,000 or, with
# CLAUDE_AUTOCOMPACT_PCT_OVERRIDE=P (0 < P <= 100), P% of it, whichever is lower.
CLAUDE_MIN_COMPACT_WINDOW = 100_000
CLAUDE_OUTPUT_RESERVE = 20_000
SMALL_WINDOW_SHARE = 0.75  # below 100,000 ccproxy has Claude Code compact at this share of the model's window
CLAUDE_CODE_PROMPT_TOKENS = 16_000  # Claude Code's system prompt and tools, about (12,327 as the fake counts)
CLAUDE_CODE_ROOM = 8_000  # room for a conversation's summary and one turn, beyond those


def compaction_environment(window: int, env: Mapping[str, str]) -> dict[str, str]:
    """What makes Claude Code compact before the `window`-token limit of the main conversation's model, for
    the environment `env` (what the user set is theirs: nothing is returned if they set the window).

    From 100,000 up, `CLAUDE_CODE_AUTO_COMPACT_WINDOW` is the window itself. Below, Claude Code would read it
    as 100,000, so it is 100,000 and `CLAUDE_AUTOCOMPACT_PCT_OVERRIDE` brings the threshold down to three
    quarters of the real window (the share of 100,000 less the output reserve: that of the user's
    `CLAUDE_CODE_MAX_OUTPUT_TOKENS` if lower than 20,000)."""
    if env.get("CLAUDE_CODE_AUTO_COMPACT_WINDOW", "").strip():
        return {}
    if window >= CLAUDE_MIN_COMPACT_WINDOW:
        return {"CLAUDE_CODE_AUTO_COMPACT_WINDOW": str(window)}
    reserve = CLAUDE_OUTPUT_RESERVE
    output = env.get("CLAUDE_CODE_MAX_OUTPUT_TOKENS", "").strip()
    if output.isdigit() and int(output) > 0:
        reserve = min(reserve, int(output))
    threshold = int(window * SMALL_WINDOW_SHARE)
    percent = math.floor(threshold * 100 * 10_000 / (CLAUDE_MIN_COMPACT_WINDOW - reserve)) / 10_000
    return {
        "CLAUDE_CODE_AUTO_COMPACT_WINDOW": str(CLAUDE_MIN_COMPACT_WINDOW),
        "CLAUDE_AUTOCOMPACT_PCT_OVERRIDE": f"{max(percent, 0.0001):g}",
    }


def compaction_warning(window: int) -> str | None:
    """What `ccproxy run` says when the main conversation's model has too small a window for Claude Code."""
    if window <= CLAUDE_CODE_PROMPT_TOKENS:
        return (
            f"the model `default` is routed to has a {window:,}-token context window: too small for Claude Code, "
            f"whose system prompt and tools alone take about {CLAUDE_CODE_PROMPT_TOKENS:,} tokens; its requests "
            "will be refused or cut by the provider. Route `default` to a larger model (`ccproxy route default`)"
        )
    if window * SMALL_WINDOW_SHARE < CLAUDE_CODE_PROMPT_TOKENS + CLAUDE_CODE_ROOM:
        return (
            f"the model `default` is routed to has a {window:,}-token context window; Claude Code's system prompt "
            f"and tools take about {CLAUDE_CODE_PROMPT_TOKENS:,} of them, so it will compact the conversation "
            "after nearly every turn"
        )
    return None


def child_environment(
    url: str,
    key: str,
    base: dict[str, str],
    login: bool = False,
    project: str | None = None,
    context_window: int | None = None,
) -> dict[str, str]:
    """The environment `ccproxy run` gives its child: every SDK pointed at the proxy with the proxy key.

    With `login` (Claude Code is logged in to a Claude subscription) `ANTHROPIC_API_KEY` is not set: Claude
    Code keeps its own login, which the proxy passes through to Anthropic untouched. Either way Claude Code
    proves it may use the proxy with our `x-ccproxy-key` header, sent through `ANTHROPIC_CUSTOM_HEADERS`,
    with `x-ccproxy-project: <project>` (unless the shell integration already set one) for the ledger.
    `context_window` (see `compact_window`) becomes the variables that make Claude Code compact before it
    (see `compaction_environment`); a variable the user set stays theirs."""
    env = dict(base)
    if context_window is not None:
        for name, value in compaction_environment(context_window, base).items():
            env.setdefault(name, value)
    env.pop("ANTHROPIC_AUTH_TOKEN", None)
    env.setdefault("ANTHROPIC_DEFAULT_HAIKU_MODEL", BACKGROUND_MODEL)
    env.setdefault("CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY", "1")  # /model lists the proxy's routes
    custom = [h for h in env.get("ANTHROPIC_CUSTOM_HEADERS", "").splitlines() if h.strip()]
    custom = [h for h in custom if not h.lower().startswith("x-ccproxy-key:")] + [f"x-ccproxy-key: {key}"]
    if project and not any(h.lower().startswith("x-ccproxy-project:") for h in custom):
        custom.append(f"x-ccproxy-project: {project}")
    env.update(
        {
            "ANTHROPIC_BASE_URL": url,
            "ANTHROPIC_CUSTOM_HEADERS": "\n".join(custom),
            "OPENAI_BASE_URL": f"{url}/v1",
            "OPENAI_API_BASE": f"{url}/v1",
            "OPENAI_API_KEY": key,
            "LITELLM_PROXY_BASE_URL": url,
            "LITELLM_PROXY_API_BASE": url,
            "LITELLM_PROXY_API_KEY": key,
        }
    )
    if login:
        env.pop("ANTHROPIC_API_KEY", None)
    else:
        env["ANTHROPIC_API_KEY"] = key
    return env


def run(paths: ConfigPaths, args: argparse.Namespace) -> int:
    command = list(args.cmd)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        _err("usage: ccproxy run COMMAND [ARGS...]")
        return 2
    control = ProxyControl(paths)
    state = control.state()
    if state is None:
        _err("the proxy is not running; starting it in the background (`ccproxy stop` stops it)")
        try:
            state = control.start_detached()
        except StartFailed as exc:
            _err(f"could not start the proxy: {exc}")
            return 1
    window = None
    try:
        settings = load_settings(paths)
        key = master_key(settings) or ensure_master_key(paths)
        window = compact_window(settings)
    except ConfigInvalid:
        key = ensure_master_key(paths)
    executable = shutil.which(command[0])
    if executable is None:
        _err(f"command not found: {command[0]}")
        return 127
    warning = compaction_warning(window) if window is not None else None
    if warning:
        _err(warning)
    login = claude_logged_in(Path.home(), os.environ)
    env = child_environment(
        state.url, key, dict(os.environ), login=login, project=project_of(Path.cwd()), context_window=window
    )
    try:
        return subprocess.call([executable, *command[1:]], env=env)
    except KeyboardInterrupt:
        return 130


def validate(paths: ConfigPaths, args: argparse.Namespace) -> int:
    try:
        settings = load_settings(paths)
        _, warnings = build_pipeline(settings, TokenCounter())
    except ConfigInvalid as exc:
        for issue in exc.issues:
            print(issue)
        return 1
    for warning in warnings:
        print(warning)
    print(f"ok: {paths.ccproxy_yaml} and {paths.litellm_yaml} are valid")
    return 0
