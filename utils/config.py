"""Typed, validated configs: YAML files (with `base:` inheritance) and `key.sub=value` overrides.

Each config section is a dataclass whose fields are declared with :func:`param` (a default, the
help text that the README's config reference is generated from, and range limits) or
:func:`section` (a nested dataclass). :func:`from_dict` turns a plain YAML tree into those objects
and fails at the first unknown key, wrong type or out-of-range value with a :class:`ConfigError`
naming the dotted key. A section may define ``check(self) -> None`` for cross-field rules; it
raises ``ConfigError`` with a key relative to the section.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import operator
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal, Mapping, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from utils.atomic import atomic_write_bytes
from utils.errors import ChromaFillError, ConfigError

__all__ = ["ConfigError", "param", "section", "from_dict", "to_dict", "load", "dump", "reference"]

T = TypeVar("T")
BASE_KEY = "base"
_MISSING = dataclasses.MISSING
_BOUNDS = {"ge": (">=", operator.ge), "gt": (">", operator.gt), "le": ("<=", operator.le), "lt": ("<", operator.lt)}


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 scalars: `1e-3` is a float, and only true/false are booleans.

    YAML 1.1 reads `1e-3` as a string and `off`, `on`, `yes`, `no` as booleans, which would turn
    `train.amp=off` into `false`.
    """


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))

_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."),
)


def parse_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def param(
    default: Any,
    help: str,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
) -> Any:
    """A config field with its default, its documentation and optional numeric bounds.

    Bounds apply to numbers and to every number inside a list/tuple value or a mapping's values.
    """
    metadata = {"help": help, "ge": ge, "gt": gt, "le": le, "lt": lt}
    if isinstance(default, (list, dict, set)):
        frozen = copy.deepcopy(default)
        return dataclasses.field(default_factory=lambda: copy.deepcopy(frozen), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def section(cls: type, help: str = "") -> Any:
    """A nested config section, defaulting to the section's own defaults."""
    return dataclasses.field(default_factory=cls, metadata={"help": help})


# ---------------------------------------------------------------------------------------------
# Validation: plain tree -> dataclasses


def from_dict(cls: type[T], data: Any, prefix: str = "") -> T:
    """Build the dataclass `cls` from a plain mapping, validating every key and value."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(prefix or "config", f"got {_show(data)}, expected a mapping of keys")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            raise _unknown_key(str(key), prefix, list(fields))
    kwargs = {}
    for name, value in data.items():
        key = _join(prefix, name)
        kwargs[name] = _coerce(hints[name], value, key)
        _check_bounds(fields[name].metadata, kwargs[name], key)
    obj = cls(**kwargs)
    check = getattr(obj, "check", None)
    if callable(check):
        try:
            check()
        except ConfigError as err:
            raise err.under(prefix) if prefix else err
    return obj


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _unknown_key(name: str, prefix: str, valid: list[str]) -> ConfigError:
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.5)
    if close:
        hint = f"did you mean '{_join(prefix, close[0])}'?"
    else:
        hint = "valid keys here: " + ", ".join(sorted(valid))
    return ConfigError(_join(prefix, name), f"unknown key; {hint}")


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def _coerce(tp: Any, value: Any, key: str) -> Any:
    """Check `value` against the annotation `tp`; return it converted (int -> float, list -> tuple)."""
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, key)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        errors = []
        for arg in non_none:
            try:
                return _coerce(arg, value, key)
            except ConfigError as err:
                errors.append(err)
        raise ConfigError(key, f"got {_show(value)}, expected {describe_type(tp)}")
    if origin is Literal:
        choices = get_args(tp)
        if value in choices and type(value) is type(choices[choices.index(value)]):
            return value
        listed = ", ".join(_show(c) for c in choices)
        raise ConfigError(key, f"got {_show(value)}, expected one of {listed}")
    if origin in (list, tuple):
        return _coerce_sequence(tp, value, key)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(key, f"got {_show(value)}, expected {describe_type(tp)}")
        _, value_type = get_args(tp)
        return {str(k): _coerce(value_type, v, _join(key, str(k))) for k, v in value.items()}
    if tp is Any:
        return value
    return _coerce_scalar(tp, value, key)


def _coerce_scalar(tp: Any, value: Any, key: str) -> Any:
    ok = (
        (tp is bool and isinstance(value, bool))
        or (tp is int and isinstance(value, int) and not isinstance(value, bool))
        or (tp is float and isinstance(value, (int, float)) and not isinstance(value, bool))
        or (tp is str and isinstance(value, str))
    )
    if not ok:
        raise ConfigError(key, f"got {_show(value)}, expected {describe_type(tp)}")
    return float(value) if tp is float else value


def _coerce_sequence(tp: Any, value: Any, key: str) -> Any:
    if not isinstance(value, (list, tuple)):
        raise ConfigError(key, f"got {_show(value)}, expected {describe_type(tp)}")
    args = get_args(tp)
    if get_origin(tp) is tuple and not (len(args) == 2 and args[1] is Ellipsis):
        if len(value) != len(args):
            raise ConfigError(key, f"got {_show(value)}, expected {describe_type(tp)}")
        return tuple(_coerce(a, v, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    item_type = args[0]
    items = [_coerce(item_type, v, f"{key}[{i}]") for i, v in enumerate(value)]
    return tuple(items) if get_origin(tp) is tuple else items


def _check_bounds(meta: Mapping[str, Any], value: Any, key: str) -> None:
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_bounds(meta, item, key)
        return
    if isinstance(value, Mapping):  # a dict's values carry the bounds; the error names the entry
        for name, item in value.items():
            _check_bounds(meta, item, _join(key, str(name)))
        return
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    for name, (symbol, holds) in _BOUNDS.items():
        bound = meta.get(name)
        if bound is not None and not holds(value, bound):
            raise ConfigError(key, f"got {_show(value)}, expected a value {symbol} {_show(bound)}")


def describe_type(tp: Any) -> str:
    """A short English name for an annotation, used in error messages and the config reference."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        text = " or ".join(describe_type(a) for a in args)
        return text + " or null" if len(args) < len(get_args(tp)) else text
    if origin is Literal:
        return "one of " + ", ".join(_show(c) for c in get_args(tp))
    if origin in (list, tuple):
        args = get_args(tp)
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return f"a list of {len(args)} {_plural(args[0])}"
        return f"a list of {_plural(args[0])}"
    if origin is dict:
        return "a mapping"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(tp, str(tp))


def _plural(tp: Any) -> str:
    return {bool: "booleans", int: "integers", float: "numbers", str: "strings"}.get(tp, describe_type(tp))


def to_dict(obj: Any) -> Any:
    """A plain, YAML-safe tree (tuples become lists) of a config object."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def reference(cls: type, prefix: str = "") -> list[tuple[str, str, Any, str]]:
    """Every leaf key of a config class as (dotted key, type, default, help), in declaration order."""
    rows = []
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = _join(prefix, f.name)
        if dataclasses.is_dataclass(hints[f.name]):
            rows.extend(reference(hints[f.name], key))
            continue
        default = f.default if f.default is not _MISSING else f.default_factory()  # type: ignore[misc]
        rows.append((key, describe_type(hints[f.name]), to_dict(default), f.metadata.get("help", "")))
    return rows


# ---------------------------------------------------------------------------------------------
# Files and overrides -> plain tree


def read_yaml(path: str | Path) -> dict[str, Any]:
    """One YAML file as a mapping, with one-line errors for a missing, empty or malformed file."""
    path = Path(path)
    if not path.is_file():
        raise ChromaFillError(f"{path}: config file not found")
    try:
        data = parse_yaml(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise ChromaFillError(f"{path}: YAML syntax error at {where}: {err.problem}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ChromaFillError(f"{path}: cannot read YAML: {err}") from None
    if data is None:
        raise ChromaFillError(f"{path}: the file is empty; expected a mapping of config sections")
    if not isinstance(data, dict):
        raise ChromaFillError(f"{path}: expected a mapping of config sections at the top, got {type(data).__name__}")
    return data


def load_tree(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read `path` and the files its `base:` key names (relative to it), merged base-first."""
    path = Path(path).resolve()
    if path in _seen:
        raise ChromaFillError(f"{path}: 'base' includes itself in a cycle")
    tree = read_yaml(path)
    bases = tree.pop(BASE_KEY, None)
    if bases is None:
        return tree
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ChromaFillError(f"{path}: base: expected a file name or a list of file names, got {bases!r}")
    merged: dict[str, Any] = {}
    for base in bases:
        merged = deep_merge(merged, load_tree(path.parent / base, _seen + (path,)))
    return deep_merge(merged, tree)


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`; mappings merge key by key, anything else replaces."""
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def apply_overrides(tree: Mapping[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `key.sub=value` overrides; values are parsed as YAML scalars or lists."""
    out = copy.deepcopy(dict(tree))
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ChromaFillError(f"override {item!r}: expected key.sub=value")
        try:
            value = parse_yaml(text) if text.strip() else ""
        except yaml.YAMLError:
            raise ChromaFillError(f"override {item!r}: the value is not valid YAML") from None
        node = out
        parts = key.strip().split(".")
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ChromaFillError(f"override {item!r}: '{'.'.join(parts[:i + 1])}' is not a section")
            node = child
        node[parts[-1]] = value
    return out


def load(cls: type[T], path: str | Path, overrides: list[str] | None = None) -> T:
    """Load a config file plus command-line overrides into `cls`.

    The file is validated before the overrides are applied so that an error says whether the
    file or the command line is at fault.
    """
    tree = load_tree(path)
    try:
        from_dict(cls, tree)
    except ConfigError as err:
        raise ChromaFillError(f"{path}: {err}") from None
    if overrides:
        try:
            return from_dict(cls, apply_overrides(tree, overrides))
        except ConfigError as err:
            raise ChromaFillError(f"command-line override: {err}") from None
    return from_dict(cls, tree)


def dump(obj: Any, path: str | Path) -> None:
    """Write the resolved config as YAML; the file is itself a valid config (no `base:`)."""
    atomic_write_bytes(path, yaml.safe_dump(to_dict(obj), sort_keys=False).encode("utf-8"))
