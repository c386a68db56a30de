"""The worker's one loop that keeps its model current checks when its source says, and on requests."""

import time

from cloud_server.reloader import ModelWatcher


class Source:
    """A model source whose next delay the test sets (as a registry sync backs off after failures)."""

    def __init__(self, delay: float) -> None:
        self.delay, self.checks = delay, 0

    def prime(self) -> None:
        pass

    def check(self) -> str:
        self.checks += 1
        return "unchanged"

    def next_delay(self) -> float:
        return self.delay

    def describe(self) -> str:
        return "test source"


def _run(watcher: ModelWatcher, seconds: float) -> None:
    watcher.start()
    time.sleep(seconds)
    watcher.stop()


def test_the_watcher_polls_as_often_as_the_source_says():
    often, seldom = Source(0.1), Source(60.0)
    for source in (often, seldom):
        _run(ModelWatcher(source, tick=0.02), 1.0)
    assert often.checks >= 4  # every 0.1 s, on a busy machine at least a few
    assert seldom.checks == 0


def test_a_reload_request_is_seen_by_every_worker(tmp_path):
    asking, other = Source(60.0), Source(60.0)
    asking_watcher = ModelWatcher(asking, state_dir=tmp_path, tick=0.02)
    other_watcher = ModelWatcher(other, state_dir=tmp_path, tick=0.02)
    other_watcher.start()
    try:
        assert asking_watcher.request_reload() == "unchanged"
        deadline = time.monotonic() + 5
        while other.checks == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        other_watcher.stop()
    assert asking.checks == 1 and other.checks == 1


def test_a_storm_of_reload_checks_is_logged_once_a_minute(caplog):
    """Each admin reload logs its check: a script calling it in a loop must not fill the journal."""
    import logging

    from cloud_server.wsgi import configure_logging

    configure_logging()
    checks = logging.getLogger("cloud_server.reloader")
    try:
        with caplog.at_level(logging.INFO, logger="cloud_server.reloader"):
            for _ in range(200):
                checks.info("model check (%s): %s", "folder /srv/models/current", "unchanged")
            checks.info("model check (%s): %s", "folder /srv/models/current", "updated")
    finally:
        for flt in list(checks.filters):
            checks.removeFilter(flt)
    lines = [r.getMessage() for r in caplog.records if r.name == "cloud_server.reloader"]
    assert lines == ["model check (folder /srv/models/current): unchanged",
                     "model check (folder /srv/models/current): updated"]  # fmt: skip
