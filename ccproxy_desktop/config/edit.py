"""Edits of config.yaml and ccproxy.yaml that respect the user's file.

Every command and tray action that changes a config file goes through `edit_config`: the file is read with a
round-trip YAML parser (ruamel.yaml), so comments, key order, quoting and indentation stay as written; only the
nodes a change touches are re-emitted. Before anything is written the result is validated with the loader
(the same checks as `ccproxy validate` and the proxy's reload); an invalid result raises `ConfigInvalid` naming
the real file, line and key, and nothing changes. A valid one is written atomically (same permissions) after
the previous version is copied to `<file>.bak`. The running proxy watches both files and reloads.

The change functions (`add_models`, `remove_models`, `set_route`, `add_user`, `remove_user`, `set_budget`,
`remove_budget`) operate on the parsed document and are pure.
"""

from __future__ import annotations

import difflib
import io
import itertools
import shutil
import stat
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.util import load_yaml_guess_indent

from .loader import ConfigInvalid, load_settings
from .paths import ConfigPaths, atomic_write
from .yamlsrc import ConfigIssue

__all__ = [
    "ConfigEditError",
    "EditResult",
    "Which",
    "add_models",
    "add_user",
    "apply_change",
    "edit_config",
    "remove_budget",
    "remove_models",
    "remove_user",
    "set_budget",
    "set_route",
]

Which = Literal["config.yaml", "ccproxy.yaml"]
Change = Callable[[Any], None]


class ConfigEditError(ValueError):
    """The change can't be made (a missing rule, a name already taken...): the message says why."""


@dataclass(frozen=True)
class EditResult:
    path: Path
    diff: str  # unified diff, empty when nothing changed
    backup: Path | None

    @property
    def changed(self) -> bool:
        return bool(self.diff)


def _mapping_indent(text: str) -> int:
    """The indent of a nested mapping key as the file writes it (2 when the file shows none)."""
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    for line, following in itertools.pairwise(lines):
        stripped = line.strip()
        if stripped.startswith("-") or not stripped.endswith(":"):
            continue
        outer = len(line) - len(line.lstrip())
        inner = len(following) - len(following.lstrip())
        if inner > outer and not following.lstrip().startswith("-"):
            return inner - outer
    return 2


def _yaml_for(text: str) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long lines
    sequence, offset = 4, 2
    if text.strip():
        _, guessed, block_seq_indent = load_yaml_guess_indent(text)
        if guessed is not None:
            offset = block_seq_indent or 0
            sequence = guessed if guessed > offset else offset + 2
    yaml.indent(mapping=_mapping_indent(text), sequence=sequence, offset=offset)
    return yaml


def _last_value_comment(node: Any) -> tuple[Any, Any] | None:
    """The (mapping, key) whose comment slot holds what follows `node` in the file (blank lines, comments)."""
    while isinstance(node, CommentedMap) and node:
        key = list(node)[-1]
        child = node[key]
        if isinstance(child, (CommentedMap, CommentedSeq)) and child and not child.fa.flow_style():
            node = child
            continue
        return node, key
    return None


def _append(items: Any, item: Any) -> None:
    """Append `item` to a block sequence, keeping what followed the old last item (a blank line before the
    next section, a comment) after the new one."""
    before = _last_value_comment(items[-1]) if len(items) else None
    items.append(item)
    after = _last_value_comment(item)
    if before is None or after is None:
        return
    owner, key = before
    slot = owner.ca.items.get(key)
    if slot and len(slot) > 2 and slot[2] is not None and slot[2].value.strip("\n") == "":
        target_owner, target_key = after
        target_owner.ca.items[target_key] = [None, None, slot[2], None]
        slot[2] = None


def apply_change(text: str, change: Change) -> str:
    """`text` with `change` applied to its parsed document, everything else as it was. Pure."""
    yaml = _yaml_for(text)
    document = yaml.load(text) if text.strip() else None
    if document is None:
        document = CommentedMap()
    change(document)
    out = io.StringIO()
    yaml.dump(document, out)
    return out.getvalue()


def _diff(old: str, new: str, path: Path) -> str:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), f"{path} (before)", f"{path}"
    )
    return "".join(lines)


def _validate(paths: ConfigPaths, target: Path, new_text: str) -> None:
    """Raise ConfigInvalid if the config folder with `target` replaced by `new_text` doesn't load."""
    with tempfile.TemporaryDirectory(prefix="ccproxy-edit-") as tmp:
        trial = ConfigPaths(Path(tmp))
        for source, copy in (
            (paths.ccproxy_yaml, trial.ccproxy_yaml),
            (paths.litellm_yaml, trial.litellm_yaml),
        ):
            if source == target:
                copy.write_text(new_text, encoding="utf-8")
            elif source.exists():
                shutil.copyfile(source, copy)
        try:
            load_settings(trial)
        except ConfigInvalid as exc:
            real = {trial.ccproxy_yaml: paths.ccproxy_yaml, trial.litellm_yaml: paths.litellm_yaml}
            issues = [
                ConfigIssue(real.get(i.file, i.file), i.line, i.key, i.message, i.severity)
                for i in exc.issues
            ]
            raise ConfigInvalid(issues) from None


def edit_config(paths: ConfigPaths, which: Which, change: Change, *, dry_run: bool = False) -> EditResult:
    """Apply `change` to one config file in place (see the module docstring). Raises ConfigInvalid or
    ConfigEditError and writes nothing when the result would be invalid or the change can't be made."""
    path = paths.ccproxy_yaml if which == "ccproxy.yaml" else paths.litellm_yaml
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    new = apply_change(old, change)
    diff = _diff(old, new, path)
    if not diff or dry_run:
        return EditResult(path, diff, None)
    _validate(paths, path, new)
    backup: Path | None = None
    mode = 0o600
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        backup = path.with_name(path.name + ".bak")
        atomic_write(backup, old.encode("utf-8"), 0o600)
    atomic_write(path, new.encode("utf-8"), mode)
    return EditResult(path, diff, backup)


def _delete(items: Any, index: int) -> None:
    """Delete item `index`; what followed a deleted last item (a blank line...) now follows the new last."""
    tail = _last_value_comment(items[index]) if index == len(items) - 1 and index > 0 else None
    slot = tail[0].ca.items.get(tail[1]) if tail else None
    del items[index]
    after = _last_value_comment(items[-1]) if slot and len(slot) > 2 and slot[2] is not None else None
    if after is not None and slot is not None:
        owner, key = after
        if not owner.ca.items.get(key):
            owner.ca.items[key] = [None, None, slot[2], None]


# -- changes ------------------------------------------------------------------------------------------


def _section(document: Any, key: str, factory: type = CommentedMap) -> Any:
    if not isinstance(document, dict):
        raise ConfigEditError("the file must be a mapping")
    value = document.get(key)
    if value is None:
        value = factory()
        document[key] = value
    if not isinstance(value, factory.__mro__[1]):
        raise ConfigEditError(f"`{key}` must be a {'list' if factory is CommentedSeq else 'mapping'}")
    return value


def _model_list(document: Any) -> Any:
    return _section(document, "model_list", CommentedSeq)


def add_models(entries: Sequence[Mapping[str, Any]], *, replace: bool = False) -> Change:
    """Append `entries` (config.yaml model_list items); an existing model_name is an error unless `replace`."""

    def change(document: Any) -> None:
        models = _model_list(document)
        for entry in entries:
            name = entry["model_name"]
            existing = [
                i for i, m in enumerate(models) if isinstance(m, dict) and m.get("model_name") == name
            ]
            if existing and not replace:
                raise ConfigEditError(f"config.yaml already has a model named {name!r}")
            item = CommentedMap()
            for key, value in entry.items():
                item[key] = _commented(value)
            if existing:
                models[existing[0]] = item
            else:
                _append(models, item)

    return change


def _commented(value: Any) -> Any:
    if isinstance(value, Mapping):
        result = CommentedMap()
        for key, inner in value.items():
            result[key] = _commented(inner)
        return result
    if isinstance(value, (list, tuple)):
        return CommentedSeq(_commented(v) for v in value)
    return value


def remove_models(matches: Callable[[Mapping[str, Any]], bool]) -> Change:
    """Remove the model_list items for which `matches(item)` is true (at least one, or ConfigEditError)."""

    def change(document: Any) -> None:
        models = _model_list(document)
        doomed = [i for i, m in enumerate(models) if isinstance(m, dict) and matches(m)]
        if not doomed:
            raise ConfigEditError("no such model in config.yaml")
        for index in reversed(doomed):
            _delete(models, index)

    return change


def set_route(rule: str, model: str) -> Change:
    """Make the model_name `rule` (what a rule's requests are served by) an alias of `model`, another
    model_name, so requests labelled `rule` go there; a new entry when `rule` has none."""

    def change(document: Any) -> None:
        models = _model_list(document)
        names = [m.get("model_name") for m in models if isinstance(m, dict)]
        if model == rule:
            raise ConfigEditError("a rule can't be routed to itself")
        if model not in names:
            raise ConfigEditError(f"no model named {model!r} in config.yaml (see `ccproxy model list`)")
        for entry in models:
            if isinstance(entry, dict) and entry.get("model_name") == rule:
                params = entry.get("litellm_params")
                if not isinstance(params, dict):
                    entry["litellm_params"] = CommentedMap(model=model)
                    return
                for key in [k for k in params if k != "model"]:
                    del params[key]
                params["model"] = model
                return
        _append(models, CommentedMap(model_name=rule, litellm_params=CommentedMap(model=model)))

    return change


def add_user(name: str, entry: Mapping[str, Any]) -> Change:
    """Add user `name` under `ccproxy.users` of ccproxy.yaml (an existing name is an error)."""

    def change(document: Any) -> None:
        users = _section(_section(document, "ccproxy"), "users")
        if name in users:
            raise ConfigEditError(f"user {name!r} already exists in ccproxy.yaml")
        users[name] = _commented(entry)

    return change


def remove_user(name: str) -> Change:
    """Remove user `name` from `ccproxy.users` (a missing name is an error)."""

    def change(document: Any) -> None:
        section = _section(document, "ccproxy")
        users = _section(section, "users")
        if name not in users:
            raise ConfigEditError(f"ccproxy.yaml has no user {name!r}")
        del users[name]
        if not users:
            del section["users"]

    return change


def remove_budget(name: str) -> Change:
    """Remove the budget called `name` from `ccproxy.budgets` (a missing name is an error)."""

    def change(document: Any) -> None:
        section = _section(document, "ccproxy")
        budgets = _section(section, "budgets", CommentedSeq)
        for index, existing in enumerate(budgets):
            if isinstance(existing, dict) and existing.get("name") == name:
                del budgets[index]
                if not budgets:
                    del section["budgets"]
                return
        raise ConfigEditError(f"ccproxy.yaml has no budget {name!r}")

    return change


def set_budget(entry: Mapping[str, Any]) -> Change:
    """Add the budget `entry` under `ccproxy.budgets`, or replace the one with the same `name`."""

    def change(document: Any) -> None:
        budgets = _section(_section(document, "ccproxy"), "budgets", CommentedSeq)
        item = _commented(entry)
        for index, existing in enumerate(budgets):
            if isinstance(existing, dict) and existing.get("name") == entry["name"]:
                budgets[index] = item
                return
        _append(budgets, item)

    return change
