"""What every side's commands share: a one-line-error parser and the argument types.

A side declares its own commands in its ``cli`` module (``register(sub)``) with these types, so a bad
value ends the command with one line and exit status 2 before any work starts.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from shared.app.errors import SignstreamError

EXIT_USAGE = 2


class CliError(SignstreamError):
    """A command-line problem reported as one line."""


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``signstream CMD: error: ...``) and exit 2.

    argparse prints the whole usage block before its error; an operator or a unit's journal needs
    only the line that says what is wrong (``--help`` still shows the usage).
    """

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def existing_file(value: str) -> Path:
    p = Path(value)
    if not p.is_file():
        raise argparse.ArgumentTypeError(f"{value}: no such file")
    return p


def existing_dir(value: str) -> Path:
    p = Path(value)
    if not p.is_dir():
        raise argparse.ArgumentTypeError(f"{value}: no such folder")
    return p


def positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from err
    if n < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return n


def number(value: str) -> float:
    try:
        n = float(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from err
    if n != n or n in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"{value!r} is not a finite number")
    return n


def above_0(value: str) -> float:
    n = number(value)
    if n <= 0:
        raise argparse.ArgumentTypeError(f"{value} must be greater than 0")
    return n


def at_least_0(value: str) -> float:
    n = number(value)
    if n < 0:
        raise argparse.ArgumentTypeError(f"{value} must not be negative")
    return n


def above_0_up_to(limit: float, unit: str) -> Callable[[str], float]:
    """A number above 0 and at most ``limit`` ``unit`` (a frame rate the feature spec accepts, say)."""

    def parse(value: str) -> float:
        n = above_0(value)
        if n > limit:
            raise argparse.ArgumentTypeError(f"{value} is above {limit:g} {unit}")
        return n

    return parse


def checked(check: Callable[[str, str], str], what: str) -> Callable[[str], str]:
    """An argument type from ``check(value, what)``, which returns the value or raises a SignstreamError."""

    def parse(value: str) -> str:
        try:
            return check(value, what)
        except SignstreamError as err:
            raise argparse.ArgumentTypeError(str(err)) from err

    parse.__name__ = what
    return parse


def classes(value: str) -> list[str]:
    names = [c.strip() for c in value.split(",") if c.strip()]
    if len(names) < 2:
        raise argparse.ArgumentTypeError("give at least two comma-separated class names")
    return names


def lazy(module: str, function: str) -> Callable[[argparse.Namespace], None]:
    """A subcommand whose implementation (and its heavy imports) loads only when it runs."""

    def run(args: argparse.Namespace) -> None:
        getattr(importlib.import_module(module), function)(args)

    return run
