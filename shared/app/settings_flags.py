"""Command-line flags made from a settings model: each setting is declared once, in its model.

Every field of a pydantic settings model becomes ``--field-name`` (``dest`` the field's name, help
its description, the default named when it is a plain value), so a new kiosk or server setting is
one line in its settings class: its flag and its ``SIGNSTREAM_*`` variable follow. A flag not given
is None and leaves the environment's value (``overrides`` drops it). A few historical flag names
live on as aliases (``--replay`` for ``--source``); a constant alias sets a value (``--headless``
is ``--display none``).
"""

from __future__ import annotations

import argparse
import inspect
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo


def _plain(annotation: Any) -> Any:
    """``X | None`` -> X; ``Annotated[X, ...]`` -> X."""
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _plain(args[0])
    return annotation


def _title(cls: type) -> str:
    """An argument group's title: the first line of the settings class that declares its fields."""
    doc = (cls.__doc__ or "").strip().splitlines()
    return doc[0].rstrip(".") if doc else cls.__name__


def _help(field: FieldInfo) -> str:
    text = (field.description or "").rstrip(".")
    default = field.default
    if isinstance(default, bool) or default is None or field.default_factory is not None:
        return text
    if isinstance(default, (int, float, str, Path)) and "default" not in text:
        return f"{text} (default {default})"
    return text


def _kwargs(field: FieldInfo) -> dict[str, Any]:
    kind = _plain(field.annotation)
    if kind is bool:
        return {"action": "store_true", "default": None}
    if typing.get_origin(kind) is Literal:
        return {"choices": typing.get_args(kind), "default": None}
    if kind in (int, float, Path):
        return {"type": kind, "default": None}
    if kind in (str, SecretStr) or typing.get_origin(kind) is list:
        return {"default": None}  # the model parses it (a list from "a,b")
    raise TypeError(f"no flag for a setting of type {kind!r}")


def add_setting_flags(
    parser: argparse.ArgumentParser, model: type[BaseModel], *, skip: tuple[str, ...] = (),
    aliases: Mapping[str, str] = {}, constants: Mapping[str, tuple[str, Any, str]] = {},
) -> None:  # fmt: skip
    """One flag per field of ``model`` but ``skip``.

    Args:
        aliases: {flag name: field} for historical names (``{"replay": "source"}``).
        constants: {flag name: (field, value, help)} for a flag that sets a value (``--headless``).
    """
    own = inspect.get_annotations(model)  # declared in the class itself: listed first
    names = [n for n in model.model_fields if n not in skip]
    names.sort(key=lambda n: n not in own)
    inherited = [n for n in names if n not in own]  # from a shared base (FollowSettings): its own group
    if inherited:
        group = parser.add_argument_group(_title(model.__mro__[1]))
    for name in names:
        field = model.model_fields[name]
        target = group if name in inherited else parser
        target.add_argument("--" + name.replace("_", "-"), dest=name, help=_help(field), **_kwargs(field))
    for flag, name in aliases.items():
        field = model.model_fields[name]
        parser.add_argument(f"--{flag}", dest=name, help=f"the same as --{name.replace('_', '-')}", **_kwargs(field))
    for flag, (name, value, text) in constants.items():
        parser.add_argument(f"--{flag}", dest=name, action="store_const", const=value, help=text)


def overrides(args: argparse.Namespace, model: type[BaseModel]) -> dict[str, Any]:
    """The settings given as flags: {field: value} for each flag given (None means not given)."""
    return {name: value for name in model.model_fields if (value := getattr(args, name, None)) is not None}
