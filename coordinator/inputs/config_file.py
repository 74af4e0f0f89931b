"""Load a YAML configuration file into a pydantic model, with errors a person can act on.

Every config file (routes, rulebook, security rules, refund policy) goes through
`load_yaml_model`, so each reports problems the same way: one `ConfigError` naming the
file, the line and the field. Parsing uses libyaml when available (the pure-Python parser
took ~1 s for our files at start-up); the node tree for line numbers is only built when
there is an error to report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from coordinator.errors import ConfigError, UsageError
from coordinator.inputs.input_files import decode_text, read_bounded

__all__ = ["load_yaml_model", "read_yaml"]

M = TypeVar("M", bound=BaseModel)

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


MAX_CONFIG_BYTES = 8_000_000  # our largest config file is ~33 kB


def _read_text(path: Path) -> str:
    """Bounded, regular files only (see `coordinator.inputs.input_files`); errors name the file."""
    try:
        data = read_bounded(path, MAX_CONFIG_BYTES, missing="file not found")
        return decode_text(data, str(path))
    except UsageError as exc:  # already "path: problem"; keep the ConfigError type
        raise ConfigError(str(exc)) from None


def read_yaml(path: str | Path) -> tuple[Any, str]:
    """Parsed YAML data and its source text; malformed YAML names the line."""
    path = Path(path)
    text = _read_text(path)
    try:
        return yaml.load(text, Loader=_Loader), text
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"malformed YAML: {problem}", path=str(path), where=where) from None


def _line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the YAML node at a pydantic error location, best effort."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        return None
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
            if nxt is None:  # an unknown field: point at its key
                nxt = next((k for k, _ in node.value if getattr(k, "value", None) == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            nxt = node.value[key]
        else:
            nxt = None
        if nxt is None:
            break
        node = nxt
        line = node.start_mark.line + 1
    return line


def load_yaml_model(path: str | Path, model: type[M], *, expect: str) -> M:
    """Validate the YAML file at `path` as `model`.

    `expect` describes the top level for the error when the file is not a mapping
    (e.g. "a mapping with `routes:`"). Model validators may raise `ValueError("field.path:
    message")` to point at a field the error location cannot express.
    """
    path = Path(path)
    data, text = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"expected {expect}", path=str(path), where="line 1")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        head = msg.split(": ", 1)[0]
        if not loc and ": " in msg and head.split("[")[0].split(".")[0] in data:
            field, msg = msg.split(": ", 1)
            loc = tuple(
                int(p) if p.isdigit() else p
                for p in field.replace("[", ".").replace("]", "").split(".")
                if p
            )
        if err["type"] == "extra_forbidden" and loc:
            msg = f"unknown field {loc[-1]!r}"
        field = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")
        line = _line_of(text, loc)
        where = f"line {line}" if line else None
        raise ConfigError(f"{field or 'file'}: {msg}", path=str(path), where=where) from None
