"""A small registry so that `type: unet` in YAML picks a network class.

A config section holds the options of all its types: each field except `type` (and `enabled`)
that the named class takes is passed to it as a keyword. A field the class does not take must
keep its default (it is then not passed), so an option set for another type is a ConfigError
naming the key, raised when the config is loaded rather than mid-run. A class may also define a
static `check_options(**kwargs)` for rules across its options (raising ConfigError).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from typing import Any, Callable, TypeVar

from utils.errors import ConfigError

KINDS = ("generator", "discriminator", "mask_net")
# Fields of a config section that configure the build, not the class.
_NOT_KWARGS = frozenset({"type", "enabled"})
# Modules holding the built-in classes. Imported lazily: they import this module to register,
# and the config dataclasses validate against the registry before anyone has imported them.
_BUILTIN_MODULES = ("models.unet", "models.patchgan", "models.pretrained_unet")

_REGISTRY: dict[str, dict[str, type]] = {kind: {} for kind in KINDS}

C = TypeVar("C", bound=type)


def register(kind: str, name: str) -> Callable[[C], C]:
    """Class decorator: make `cls` selectable as `type: name` in the `kind` config section."""
    if kind not in _REGISTRY:
        raise ValueError(f"unknown network kind {kind!r}; expected one of {', '.join(KINDS)}")

    def add(cls: C) -> C:
        existing = _REGISTRY[kind].get(name)
        if existing is not None and existing is not cls:
            raise ValueError(f"{kind} type {name!r} is already registered to {existing.__qualname__}")
        _REGISTRY[kind][name] = cls
        return cls

    return add


def names(kind: str) -> list[str]:
    """The registered type names of `kind`, sorted."""
    _load_builtins()
    return sorted(_REGISTRY[kind])


def kwargs_of(cfg: Any, cls: type | None = None) -> dict[str, Any]:
    """The keyword arguments a config section passes to `cls` (every option when cls is None):
    the fields it takes, and any other field set away from its default (which validate refuses)."""
    params = inspect.signature(cls).parameters if cls is not None else None
    takes_any = params is None or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    given = {}
    for f in dataclasses.fields(cfg):
        if f.name in _NOT_KWARGS:
            continue
        value = getattr(cfg, f.name)
        if takes_any or f.name in params or value != _default(f):
            given[f.name] = value
    return given


def _default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[misc]


def validate(kind: str, cfg: Any) -> type:
    """The class `cfg.type` names; ConfigError (key relative to the section) if it cannot take `cfg`."""
    _load_builtins()
    cls = _REGISTRY[kind].get(cfg.type)
    if cls is None:
        known = ", ".join(names(kind))
        raise ConfigError("type", f"got {cfg.type!r}, expected a registered {kind} type: {known}")
    params = inspect.signature(cls).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    given = kwargs_of(cfg, cls)
    for key in given:
        if not takes_any and key not in params:
            raise ConfigError(key, f"is not an option of {kind} type {cfg.type!r} (it applies to another type; leave it at its default)")
    for key, p in params.items():
        required = p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        if required and key not in given:
            raise ConfigError(key, f"{kind} type {cfg.type!r} needs this option but the config has no such key")
    check_options = getattr(cls, "check_options", None)
    if callable(check_options):
        check_options(**given)
    return cls


def create(kind: str, cfg: Any, prefix: str) -> Any:
    """Instantiate the class `cfg.type` names with the section's fields; errors name `prefix.key`."""
    try:
        cls = validate(kind, cfg)
    except ConfigError as err:
        raise err.under(prefix) from None
    return cls(**kwargs_of(cfg, cls))


def _load_builtins() -> None:
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)
