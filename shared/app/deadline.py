"""Wait for a call at most so long, and let it finish in the background if it takes longer.

For start-up steps that ask a network store (the registry's first check, ``serve``'s store
check): a store that hangs must delay a start by a bounded time, and the call itself cannot be
interrupted (boto's timeouts are per try and retried). The call runs in a daemon thread, so a
process may exit while one is still waiting.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def call_within(seconds: float, fn: Callable[[], T], name: str) -> tuple[bool, T | None]:
    """Run ``fn`` in a daemon thread named ``name``; wait for it up to ``seconds``.

    Returns (True, its result) when it finished in time (its exception is raised here, in the
    caller's thread), else (False, None) while it goes on.
    """
    result: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            result.append(fn())
        except BaseException as err:
            error.append(err)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        return False, None
    if error:
        raise error[0]
    return True, result[0]
