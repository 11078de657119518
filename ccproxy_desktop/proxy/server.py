"""The proxy process: `python -m ccproxy_desktop.proxy.server`.

Takes the config folder's proxy lock (exit 5 if another proxy of the folder holds it), validates the config
(exit 2 with `file:line: key: message` lines if it is invalid), checks the port (exit 3 if taken), writes the
state file, then serves our own ASGI service (`asgi.py`) with uvicorn until SIGTERM/SIGINT. LiteLLM is not
imported here: the translated path loads it on its first request.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import sys
import time

from ..config.loader import ConfigInvalid, Settings, install_defaults, load_settings
from ..config.paths import ConfigPaths, create_private_file
from ..instance import AlreadyRunning, SingleInstance
from ..pipeline.pipeline import build_pipeline, provider_of
from ..pipeline.tokens import TokenCounter
from .access import access_environment
from .control import EXIT_CONFIG, EXIT_PORT, EXIT_RUNNING
from .keys import ensure_master_key, master_key
from .logs import set_debug, setup_logging

__all__ = ["main"]

log = logging.getLogger("ccproxy_desktop.proxy")

LOCK_FILE = "proxy.lock"


def port_problem(host: str, port: int) -> str | None:
    """Why `host:port` can't be bound, or None if it can."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"port {port} on {host} is already in use by another program"
            return f"can't listen on {host}:{port}: {exc.strerror}"
    return None


def proxy_environment(settings: Settings, key: str) -> dict[str, str]:
    """Environment variables the proxy's workers read, set in this process before uvicorn starts them."""
    env = {
        "CCPROXY_CONFIG_DIR": str(settings.paths.config_dir),
        "CCPROXY_MASTER_KEY": key,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "DEBUG"
        if settings.server.detailed_debug
        else ("INFO" if settings.server.debug else "WARNING"),
    }
    env.update(access_environment(settings.server))
    env.update(settings.server.environment)
    return env


def write_state(paths: ConfigPaths, settings: Settings) -> None:
    state = {
        "pid": os.getpid(),
        "url": f"http://{settings.server.host}:{settings.server.port}",
        "host": settings.server.host,
        "port": settings.server.port,
        "started_at": time.time(),
        "config_dir": str(paths.config_dir),
    }
    create_private_file(paths.state_file, json.dumps(state))


def clear_state(paths: ConfigPaths) -> None:
    try:
        state = json.loads(paths.state_file.read_text())
    except (OSError, ValueError):
        return
    if state.get("pid") == os.getpid():
        paths.state_file.unlink(missing_ok=True)


def prepare(paths: ConfigPaths) -> Settings:
    """Everything before serving. Raises ConfigInvalid or SystemExit with a reason."""
    if not paths.ccproxy_yaml.exists() and not paths.litellm_yaml.exists():
        install_defaults(paths)
        print(f"ccproxy: wrote default config to {paths.config_dir}", file=sys.stderr)
    settings = load_settings(paths)
    _, warnings = build_pipeline(settings, TokenCounter())
    for warning in warnings:
        print(f"ccproxy: {warning}", file=sys.stderr)
    for message in credential_warnings(settings):
        print(f"ccproxy: warning: {message}", file=sys.stderr)
    problem = port_problem(settings.server.host, settings.server.port)
    if problem:
        print(f"ccproxy: {problem}", file=sys.stderr)
        print(
            f"  stop that program, or set another `port:` under `litellm:` in {paths.ccproxy_yaml}",
            file=sys.stderr,
        )
        raise SystemExit(EXIT_PORT)
    return settings


def credential_warnings(settings: Settings) -> list[str]:
    """Providers in config.yaml with no credentials we can see (the proxy still starts)."""
    env_names = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY", "gemini": "GEMINI_API_KEY"}
    missing: set[str] = set()
    for entry in settings.litellm.model_list:
        if "api_key" in entry.litellm_params:
            continue
        provider = provider_of(settings, entry.model_name)
        name = env_names.get(provider)
        if name and not os.environ.get(name) and provider not in settings.ccproxy.oat_sources:
            missing.add(provider)
    return [
        f"no credentials for {p}: set {env_names[p]} in the proxy's environment or add an oat_sources entry "
        f"(requests routed to {p} will fail until then)"
        for p in sorted(missing)
    ]


def main(argv: list[str] | None = None) -> int:
    paths = ConfigPaths.from_env()
    paths.config_dir.mkdir(parents=True, exist_ok=True)
    if not paths.proxy_log.exists():
        create_private_file(paths.proxy_log, "")
    setup_logging(paths.proxy_log, debug=False)
    lock = SingleInstance(paths.run_dir / LOCK_FILE)  # held until this process ends, however it ends
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        owner = f" (pid {exc.pid})" if exc.pid else ""
        print(
            f"ccproxy: another proxy of {paths.config_dir} is already running or starting{owner}; "
            "`ccproxy status` shows it, `ccproxy stop` stops it",
            file=sys.stderr,
        )
        return EXIT_RUNNING
    try:
        settings = prepare(paths)
    except ConfigInvalid as exc:
        print("ccproxy: the configuration is invalid:", file=sys.stderr)
        for issue in exc.issues:
            print(f"  {issue}", file=sys.stderr)
        return EXIT_CONFIG
    except SystemExit as exc:
        return int(exc.code or 1)
    set_debug(settings.ccproxy.debug)
    ensure_master_key(paths)
    key = master_key(settings) or ensure_master_key(paths)
    os.environ.update(proxy_environment(settings, key))
    write_state(paths, settings)  # now, not once serving: the CLI and the tray see a proxy that is starting
    import uvicorn

    print(
        f"ccproxy: proxy listening on http://{settings.server.host}:{settings.server.port}",
        file=sys.stderr,
        flush=True,
    )
    try:
        uvicorn.run(
            "ccproxy_desktop.proxy.asgi:app",
            host=settings.server.host,
            port=settings.server.port,
            workers=settings.server.num_workers if settings.server.num_workers > 1 else None,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=10,
            lifespan="on",
            server_header=False,  # the provider's own headers pass through
            date_header=False,
        )
    finally:
        clear_state(paths)
    return 0


if __name__ == "__main__":
    sys.exit(main())
