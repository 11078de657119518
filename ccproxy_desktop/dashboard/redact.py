"""Config text as the dashboard's Config page shows it: every line kept (so `file:line` still points at the
right one), the values of secret-looking fields hidden.

A field is secret-looking when its name contains key, token, secret, password, passwd, credential,
authorization, bearer or cookie, in block style (`api_key: sk-...`), flow style (`{api_key: sk-...}`) or
JSON (`"x-api-key": "..."`). Its value is shown only when it cannot be a secret: a number, true/false/null,
or a reference to an environment variable (`os.environ/NAME`, `${NAME}`). A secret field whose value
starts on the next lines (a block scalar `|`, a list, a nested mapping) has those lines hidden too. Passwords
in URLs (`https://user:pass@host`) and secret-looking query parameters (`?key=...`) are hidden everywhere.
Over-hiding is the safe failure: a hidden `max_tokens: 4096` is shown, an unknown field name is not.
"""

from __future__ import annotations

import re

__all__ = ["HIDDEN", "redact"]

HIDDEN = "\u2022\u2022\u2022 (hidden)"

_NAME = r"[\w.-]*(?:key|token|secret|password|passwd|credential|authorization|bearer|cookie)[\w.-]*"
# A secret field: at the start of the line (after indentation, a list dash or a comment's `#`) or after a
# flow collection's `{` / `,`. `value` stops at a flow separator only inside a flow collection.
_FIELD = re.compile(
    rf"(?P<lead>^[\s#-]*|[{{,]\s*)(?P<name>[\"']?{_NAME}[\"']?)\s*:(?:\s+|$|(?=[\"'{{\[]))(?P<value>.*)$",
    re.IGNORECASE,
)
_FLOW_VALUE = re.compile(r"""^(?P<value>(?:"[^"]*"|'[^']*'|[^,}\]])*)(?P<rest>.*)$""")
_SAFE_VALUE = re.compile(
    r"""^["']?(?:-?\d+(?:\.\d+)?|true|false|null|~|os\.environ/\w+|\$\{\w+\}|\$\w+)?["']?\s*(?:\#.*)?$""",
    re.IGNORECASE,
)
_NESTED_START = re.compile(r"^\s*(?:[|>][+-]?\d*|&\w+)?\s*(?:#.*)?$")
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/\s:@]*:[^/\s@]*@", re.IGNORECASE)
_QUERY_SECRET = re.compile(rf"(?P<name>[?&]{_NAME}=)[^&\s\"']+", re.IGNORECASE)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _hide_fields(line: str) -> tuple[str, bool]:
    """The line with its secret fields' values hidden, and whether a secret's value goes on over the
    following, more indented lines."""
    out: list[str] = []
    nested = False
    while (match := _FIELD.search(line)) is not None:
        in_flow = match.group("lead").lstrip().startswith(("{", ","))
        value, rest = match.group("value"), ""
        if in_flow:  # `{a: 1, api_key: x, b: 2}`: the value ends at the next separator outside quotes
            flow = _FLOW_VALUE.match(value)
            assert flow is not None  # the pattern matches any text
            value, rest = flow.group("value"), flow.group("rest")
        out.append(line[: match.start("value")])
        if not in_flow and _NESTED_START.match(value):
            nested = True
            out.append(value)
        elif _SAFE_VALUE.match(value.strip()):
            out.append(value)
        else:
            out.append(HIDDEN)
        line = rest
    out.append(line)
    return "".join(out), nested


def redact(text: str) -> str:
    """`text` with the same number of lines, secret values replaced by `HIDDEN` (see the module docstring)."""
    lines: list[str] = []
    hiding_deeper_than: int | None = None
    for line in text.splitlines():
        if hiding_deeper_than is not None:
            blank = not line.strip()
            deeper = _indent(line) > hiding_deeper_than
            same_level_item = _indent(line) == hiding_deeper_than and line.lstrip().startswith("- ")
            if blank or deeper or same_level_item:
                lines.append("" if blank else " " * _indent(line) + HIDDEN)
                continue
            hiding_deeper_than = None
        line = _URL_PASSWORD.sub(lambda m: m.group("scheme") + HIDDEN + "@", line)
        line = _QUERY_SECRET.sub(lambda m: m.group("name") + HIDDEN, line)
        shown, nested = _hide_fields(line)
        if nested:
            hiding_deeper_than = _indent(line)
        lines.append(shown)
    return "\n".join(lines)
