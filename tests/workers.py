"""What each gunicorn worker of a live server is serving, found through ``/ready`` (which names its worker).

Sequential requests can all land on one worker (the kernel hands a new connection to whichever worker
is waiting in ``accept``), so "8 answers said version 2" does not prove both workers moved. These
helpers open several connections at once until every worker has answered.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor


def _ready(url: str, headers: dict) -> tuple[int, str]:
    req = urllib.request.Request(url, headers={"Connection": "close", **headers})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = json.loads(resp.read())
            return int(body["worker"]), str(body["version"])
    except urllib.error.HTTPError as err:
        return -err.code, f"HTTP {err.code}"  # not ready: the worker is unknown
    except (urllib.error.URLError, OSError) as err:
        return 0, f"unreachable: {err}"


def worker_versions(
    base: str, workers: int = 2, headers: dict | None = None, max_requests: int = 400
) -> dict[int, str]:
    """{worker pid: version it serves} once ``workers`` workers answered (or ``max_requests`` were sent)."""
    seen: dict[int, str] = {}
    sent = 0
    with ThreadPoolExecutor(8) as pool:
        while sent < max_requests and sum(pid > 0 for pid in seen) < workers:
            for pid, version in pool.map(lambda _: _ready(base + "/ready", headers or {}), range(16)):
                seen[pid] = version
            sent += 16
    return seen


def all_workers_serve(base: str, version: str, workers: int = 2, headers: dict | None = None) -> bool:
    """True when ``workers`` distinct workers answered ``/ready`` and every one of them serves ``version``."""
    seen = worker_versions(base, workers, headers)
    return sum(pid > 0 for pid in seen) == workers and set(seen.values()) == {version}
