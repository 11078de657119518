"""Load and check `ccproxy.yaml` + `config.yaml` into one frozen `Settings`.

Loading never half-succeeds: it returns complete settings or raises `ConfigInvalid` with every issue found,
each naming file, line and key.
"""

from __future__ import annotations

import difflib
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .compat import normalize_ccproxy_section
from .paths import ConfigPaths, create_private_file
from .schema import UPSTREAM_IGNORED_KEYS, CCProxySection, LiteLLMConfig, ServerSection
from .yamlsrc import ConfigIssue, LineMap, YamlError, YamlSource, load_yaml

__all__ = ["ConfigInvalid", "Settings", "install_defaults", "load_settings"]


class ConfigInvalid(Exception):
    """The config can't be used. `issues` lists every problem; str() gives one `file:line: key: msg` per line."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


@dataclass(frozen=True)
class Settings:
    """Everything both config files say, validated. Built once per (re)load and never mutated."""

    paths: ConfigPaths
    server: ServerSection
    ccproxy: CCProxySection
    litellm: LiteLLMConfig
    warnings: tuple[ConfigIssue, ...] = ()
    ccproxy_lines: LineMap | None = None
    litellm_lines: LineMap | None = None

    def ccproxy_issue(
        self, key_path: tuple[str | int, ...], message: str, severity: str = "error"
    ) -> ConfigIssue:
        source = YamlSource(self.paths.ccproxy_yaml, None, self.ccproxy_lines or LineMap())
        return source.issue(key_path, message, severity)

    def litellm_issue(
        self, key_path: tuple[str | int, ...], message: str, severity: str = "error"
    ) -> ConfigIssue:
        source = YamlSource(self.paths.litellm_yaml, None, self.litellm_lines or LineMap())
        return source.issue(key_path, message, severity)

    def duplicate_names(self, section: str, names: Sequence[str], what: str) -> list[ConfigIssue]:
        """An error for each entry of the `ccproxy.<section>` list whose name an earlier entry has."""
        issues, seen = [], set()
        for index, name in enumerate(names):
            if name in seen:
                issues.append(
                    self.ccproxy_issue(
                        ("ccproxy", section, index, "name"), f"{what} name {name!r} is used more than once"
                    )
                )
            seen.add(name)
        return issues


def _template(name: str) -> str:
    return resources.files("ccproxy_desktop.config").joinpath("templates", name).read_text(encoding="utf-8")


def install_defaults(paths: ConfigPaths, force: bool = False) -> list[Path]:
    """Write the default ccproxy.yaml and config.yaml; existing files are kept unless `force`.

    With `force`, an existing file is first copied to `<name>.bak`. Returns the files written.
    """
    paths.config_dir.mkdir(parents=True, exist_ok=True)
    paths.config_dir.chmod(0o700)
    written = []
    for target, name in ((paths.ccproxy_yaml, "ccproxy.yaml"), (paths.litellm_yaml, "config.yaml")):
        if target.exists() and not force:
            continue
        if target.exists():
            shutil.copy2(target, target.with_name(target.name + ".bak"))
        create_private_file(target, _template(name))
        written.append(target)
    return written


def _pydantic_issues(
    exc: ValidationError, source: YamlSource, prefix: tuple[str | int, ...], model: type[BaseModel]
) -> list[ConfigIssue]:
    issues = []
    for error in exc.errors(include_url=False):
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        path = (*prefix, *loc)
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key" + _suggest(str(loc[-1]), _known_keys(model, loc[:-1]))
        elif error["type"] == "missing":
            message = "required key is missing"
        issues.append(source.issue(path, message))
    return issues


def _known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    current: Any = model
    for part in loc:
        if isinstance(part, int) or current is None:
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        current = _inner_model(field.annotation)
    return list(getattr(current, "model_fields", {})) if current is not None else []


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _suggest(word: str, known: list[str]) -> str:
    close = difflib.get_close_matches(word, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _read(path: Path) -> YamlSource:
    try:
        return load_yaml(path)
    except YamlError as exc:
        raise ConfigInvalid([exc.issue]) from exc
    except FileNotFoundError as exc:
        raise ConfigInvalid([ConfigIssue(path, 1, "", "file not found (run `ccproxy install`)")]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigInvalid([ConfigIssue(path, 1, "", f"can't read file: {exc}")]) from exc


def _mapping(source: YamlSource, key: tuple[str, ...], issues: list[ConfigIssue]) -> dict[str, Any]:
    value: Any = source.data
    for part in key:
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return {}
    if not isinstance(value, dict):
        issues.append(source.issue(key, f"must be a mapping, not {type(value).__name__}"))
        return {}
    return value


def load_settings(paths: ConfigPaths) -> Settings:
    """Read both config files of `paths`. Raises ConfigInvalid listing every issue."""
    ccproxy_src = _read(paths.ccproxy_yaml)
    litellm_src = _read(paths.litellm_yaml)
    issues: list[ConfigIssue] = []
    warnings: list[ConfigIssue] = []

    if ccproxy_src.data is not None and not isinstance(ccproxy_src.data, dict):
        issues.append(
            ccproxy_src.issue((), "the file must be a mapping with `ccproxy:` and `litellm:` sections")
        )
    unknown_top = sorted(set(ccproxy_src.data or {}) - {"ccproxy", "litellm"}, key=str) if not issues else []
    for key in unknown_top:
        issues.append(
            ccproxy_src.issue((key,), "unknown section" + _suggest(str(key), ["ccproxy", "litellm"]))
        )

    raw_section = _mapping(ccproxy_src, ("ccproxy",), issues)
    section_data, compat_warnings, moved = normalize_ccproxy_section(raw_section, UPSTREAM_IGNORED_KEYS)
    warnings.extend(ccproxy_src.issue(path, msg, "warning") for path, msg in compat_warnings)
    # Compat warnings name paths as written; issues found from here on name rewritten paths.
    ccproxy_src.lines.moved.update(moved)

    server = ServerSection()
    ccproxy = CCProxySection()
    litellm = LiteLLMConfig()
    try:
        server = ServerSection.model_validate(_mapping(ccproxy_src, ("litellm",), issues))
    except ValidationError as exc:
        issues.extend(_pydantic_issues(exc, ccproxy_src, ("litellm",), ServerSection))
    if server.host not in ("127.0.0.1", "localhost", "::1") and not server.allowed_clients:
        message = "not a loopback address, but only loopback clients are let in: list the networks that may connect in allowed_clients"
        warnings.append(ccproxy_src.issue(("litellm", "host"), message, "warning"))
    try:
        ccproxy = CCProxySection.model_validate(section_data)
    except ValidationError as exc:
        issues.extend(_pydantic_issues(exc, ccproxy_src, ("ccproxy",), CCProxySection))

    if litellm_src.data is not None and not isinstance(litellm_src.data, dict):
        issues.append(litellm_src.issue((), "the file must be a mapping with a `model_list:`"))
    else:
        try:
            litellm = LiteLLMConfig.model_validate(litellm_src.data or {})
        except ValidationError as exc:
            issues.extend(_pydantic_issues(exc, litellm_src, (), LiteLLMConfig))
    if not issues and not litellm.model_list:
        issues.append(litellm_src.issue(("model_list",), "no models: add at least one model_list entry"))

    if issues:
        raise ConfigInvalid(issues)
    return Settings(
        paths=paths,
        server=server,
        ccproxy=ccproxy,
        litellm=litellm,
        warnings=tuple(warnings),
        ccproxy_lines=ccproxy_src.lines,
        litellm_lines=litellm_src.lines,
    )
