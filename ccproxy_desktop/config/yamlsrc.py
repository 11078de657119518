"""YAML loading that remembers where every key came from, so errors can say `file:line: key: message`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ConfigIssue", "LineMap", "YamlSource", "load_yaml"]

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class ConfigIssue:
    """One problem found in a config file. `severity` is "error" (the config is refused) or "warning"."""

    file: Path
    line: int
    key: str
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        prefix = "" if self.severity == "error" else "warning: "
        return f"{self.file}:{self.line}: {self.key or '(top level)'}: {prefix}{self.message}"


@dataclass
class LineMap:
    """Line numbers (1-based) of each key path in one YAML document."""

    lines: dict[KeyPath, int] = field(default_factory=dict)
    moved: dict[KeyPath, KeyPath] = field(default_factory=dict)
    """Key paths the loader rewrote (as loaded -> as written), so issues name what the user wrote."""

    def as_written(self, path: KeyPath) -> KeyPath:
        """`path` with its longest rewritten prefix replaced by the path the user wrote."""
        for end in range(len(path), 0, -1):
            origin = self.moved.get(tuple(path[:end]))
            if origin is not None:
                return (*origin, *path[end:])
        return path

    def line_of(self, path: KeyPath) -> int:
        """The line of `path`, or of its nearest ancestor that has one (1 if none)."""
        for end in range(len(path), -1, -1):
            found = self.lines.get(tuple(path[:end]))
            if found is not None:
                return found
        return 1


@dataclass(frozen=True)
class YamlSource:
    path: Path
    data: Any
    lines: LineMap

    def issue(self, key_path: KeyPath, message: str, severity: str = "error") -> ConfigIssue:
        written = self.lines.as_written(key_path)
        return ConfigIssue(self.path, self.lines.line_of(written), dotted(written), message, severity)


def dotted(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _walk(root: yaml.Node, lines: LineMap) -> None:
    """Record the line of every key path. A node reached again through an alias is not walked again: its
    keys are reported at the alias, and a recursive alias or a "billion laughs" file can't make this loop."""
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, KeyPath]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        children: list[tuple[KeyPath, yaml.Node, int]] = []
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
                children.append(((*path, key), value_node, key_node.start_mark.line + 1))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                children.append(((*path, index), item, item.start_mark.line + 1))
        for child, value, line in children:
            lines.lines[child] = line
            stack.append((value, child))


def _is_recursive(data: Any) -> bool:
    """True if `data` (from safe_load) contains itself: YAML allows it with an alias (`a: &x [*x]`)."""
    on_path: set[int] = set()
    done: set[int] = set()
    stack: list[tuple[Any, bool]] = [(data, False)]
    while stack:
        value, leaving = stack.pop()
        if leaving:
            on_path.discard(id(value))
            done.add(id(value))
            continue
        if not isinstance(value, (dict, list)) or id(value) in done:
            continue
        if id(value) in on_path:
            return True
        on_path.add(id(value))
        stack.append((value, True))
        stack.extend((v, False) for v in (value.values() if isinstance(value, dict) else value))
    return False


class YamlError(Exception):
    """The file is not valid YAML; carries the issue with the line the parser stopped at."""

    def __init__(self, issue: ConfigIssue) -> None:
        super().__init__(str(issue))
        self.issue = issue


def load_yaml(path: Path) -> YamlSource:
    """Parse `path` with safe_load semantics and record line numbers. Raises YamlError, OSError."""
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise YamlError(ConfigIssue(path, line, "", f"invalid YAML: {problem}")) from exc
    except RecursionError as exc:  # PyYAML composes nested collections recursively
        raise YamlError(ConfigIssue(path, 1, "", "invalid YAML: nested too deeply")) from exc
    if _is_recursive(data):
        raise YamlError(
            ConfigIssue(path, 1, "", "invalid YAML: an alias refers to its own anchor (recursive)")
        )
    lines = LineMap()
    if node is not None:
        _walk(node, lines)
    return YamlSource(path, data, lines)
