"""The tray's model discovery (what each added provider lists, for the pickers) and the terminal window a
provider's key is typed in."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

from ccproxy_desktop.desktop.discovery import ModelDiscoverer, Offered, parse_offered
from ccproxy_desktop.desktop.terminal import terminal_command


def listing(source: str, **models: bool) -> str:
    rows = [{"name": name.replace("_", ":"), "added": added} for name, added in models.items()]
    return json.dumps({"provider": "x", "source": source, "models": rows})


def test_only_models_the_provider_itself_lists_and_config_yaml_lacks_are_offered() -> None:
    assert parse_offered(listing("provider", llama3_1=True, qwen3_30b=False)) == ("qwen3:30b",)
    assert parse_offered(listing("preset", qwen3_30b=False)) is None  # `provider add` offers those already
    assert parse_offered("not json") is None
    assert parse_offered(json.dumps({"source": "provider"})) is None


def test_discovery_asks_the_added_providers_that_list_models_and_keeps_the_last_answer() -> None:
    answers: dict[str, str | None] = {
        "ollama": listing("provider", llama3_1=False),
        "openrouter": listing("provider", a=False, b=True),
    }
    asked: list[str] = []
    updates: list[Offered] = []

    def list_models(name: str) -> str | None:
        asked.append(name)
        return answers[name]

    discoverer = ModelDiscoverer(list_models, updates.append)
    discoverer.want(("deepseek", "ollama", "openrouter"))  # deepseek lists nothing: not asked
    assert discoverer.discover_once() == (("ollama", ("llama3:1",)), ("openrouter", ("a",)))
    assert asked == ["ollama", "openrouter"]
    answers["ollama"] = None  # unreachable now: the picker keeps what it listed
    answers["openrouter"] = listing("provider", a=True, b=True)  # all added: nothing more to offer
    assert discoverer.discover_once() == (("ollama", ("llama3:1",)),)
    assert updates[-1] == (("ollama", ("llama3:1",)),)


def test_the_discovery_thread_asks_when_the_providers_change() -> None:
    asked = threading.Event()
    discoverer = ModelDiscoverer(lambda name: asked.set() or None, lambda offered: None, interval=3600)
    discoverer.start()
    try:
        assert not asked.wait(0.3)  # nothing added yet
        discoverer.want(("ollama",))
        assert asked.wait(5)
    finally:
        discoverer.stop()


def test_the_terminal_is_the_users_choice_else_the_first_emulator_found() -> None:
    command = ["ccproxy", "provider", "add", "deepseek"]
    chosen = terminal_command(command, "Adding DeepSeek", {"CCPROXY_TERMINAL": "myterm --hold -e"})
    assert chosen is not None and chosen[:3] == ["myterm", "--hold", "-e"]
    assert chosen[3:5] == ["sh", "-c"] and "ccproxy provider add deepseek" in chosen[5]

    def only(program: str) -> object:
        return lambda name: f"/usr/bin/{name}" if name == program else None

    assert terminal_command(command, "t", {}, which=only("gnome-terminal"))[:2] == ["gnome-terminal", "--"]  # type: ignore[index]
    assert terminal_command(command, "t", {}, which=only("xterm"))[:2] == ["xterm", "-e"]  # type: ignore[index]
    assert terminal_command(command, "t", {}, which=only("kitty"))[:2] == ["kitty", "sh"]  # type: ignore[index]
    assert terminal_command(command, "t", {}, which=lambda name: None) is None
    mac = terminal_command(command, "t", {}, platform="darwin")
    assert mac is not None and mac[0] == "osascript" and "provider add deepseek" in mac[2]


def test_the_terminal_window_runs_the_command_and_waits_for_enter(tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = terminal_command(
        ["sh", "-c", f"echo ran > {out}"], "Title: it's quoted", {"CCPROXY_TERMINAL": "env"}
    )
    assert argv is not None
    done = subprocess.run(argv, input="\n", capture_output=True, text=True, timeout=10)
    assert done.returncode == 0
    assert out.read_text() == "ran\n"
    assert done.stdout.startswith("Title: it's quoted\n") and "Press Enter to close" in done.stdout
