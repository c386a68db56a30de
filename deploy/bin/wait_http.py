"""Wait until a URL answers HTTP (any status below 500), for the kiosk browser's ExecStartPre.

Usage: python wait_http.py URL [TIMEOUT_SECONDS]. Exits 0 once the page answers, 1 after the timeout,
2 on bad arguments; one line on stderr either way.
"""

import sys
import time
import urllib.error
import urllib.request


def answers(url: str) -> bool:
    """True if ``url`` gives an HTTP answer below 500."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status < 500
    except urllib.error.HTTPError as err:
        return err.code < 500
    except (OSError, ValueError):
        return False


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2) or not argv[0].startswith(("http://", "https://")):
        print("usage: wait_http.py http(s)://HOST:PORT/PATH [TIMEOUT_SECONDS]", file=sys.stderr)
        return 2
    try:
        timeout = float(argv[1]) if len(argv) == 2 else 120.0
    except ValueError:
        print(f"wait-http: timeout must be a number of seconds, not {argv[1]!r}", file=sys.stderr)
        return 2
    deadline = time.monotonic() + timeout
    while True:
        if answers(argv[0]):
            return 0
        if time.monotonic() >= deadline:
            print(f"wait-http: {argv[0]} did not answer within {timeout:g} s", file=sys.stderr)
            return 1
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
