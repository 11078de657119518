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


def _walk(node: yaml.Node, path: KeyPath, lines: LineMap) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            child = (*path, key)
            lines.lines[child] = key_node.start_mark.line + 1
            _walk(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            lines.lines[child] = item.start_mark.line + 1
            _walk(item, child, lines)


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
    lines = LineMap()
    if node is not None:
        _walk(node, (), lines)
    return YamlSource(path, data, lines)
