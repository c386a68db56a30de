"""The sync loop: updates, unchanged polls, outages with backoff, bad and refused versions, restarts."""

from __future__ import annotations

import json
import logging
import random
import subprocess
import threading
import time

import pytest

from shared.model.bundle import load_manifest
from shared.registry.registry import Registry, RegistryError
from shared.registry.store import StoreError, open_store
from shared.registry.sync import ModelSync
from tests.shared.registry.conftest import CountingStore


class OutageStore(CountingStore):
    """A real store that can be switched off, as when the network or S3 is down."""

    down = False

    def _check(self):
        if self.down:
            raise StoreError(f"{self.url}: simulated outage")

    def get_bytes(self, key):
        self._check()
        return super().get_bytes(key)

    def get_with_etag(self, key):
        self._check()
        return super().get_with_etag(key)

    def get_file(self, key, path, progress=None):
        self._check()
        return super().get_file(key, path, progress)

    def stat(self, key):
        self._check()
        return super().stat(key)


class Loader:
    """Stands in for ModelHolder.load: records what it was given, refuses versions it is told to."""

    def __init__(self, refuse=()):
        self.loaded = []
        self.refuse = set(refuse)

    def __call__(self, path):
        if path.name in self.refuse:
            raise ValueError(f"cannot load {path.name}")
        load_manifest(path)
        self.loaded.append(path.name)


@pytest.fixture
def published(registry, make_bundle):
    """A registry with tiny 1 and 2 pushed and 1 promoted."""
    for version in ("1", "2"):
        registry.push_bundle(make_bundle("tiny", version))
    registry.promote("tiny", "1", by="ann")
    return registry


def _sync(registry, cache, loader, **kwargs):
    kwargs.setdefault("rng", random.Random(0))
    return ModelSync(registry, "tiny", cache, loader, interval=10, max_backoff=60, **kwargs)


def test_update_then_unchanged_then_the_next_promotion(published, tmp_path):
    loader = Loader()
    sync = _sync(published, tmp_path / "cache", loader)
    assert sync.last_good is None
    assert sync.check_once() == "updated"
    assert sync.last_good == tmp_path / "cache" / "tiny" / "1" and loader.loaded == ["1"]
    assert sync.check_once() == "unchanged"
    published.promote("tiny", "2", by="bob")
    assert sync.check_once() == "updated"
    assert loader.loaded == ["1", "2"]
    assert sync.counters["updated"] == 2 and sync.counters["unchanged"] == 1
    assert sync.status()["applied_version"] == "2"


def test_on_check_is_told_every_outcome(published, tmp_path):
    outcomes = []
    sync = _sync(published, tmp_path / "cache", Loader(), on_check=outcomes.append)
    sync.check_once()
    sync.check_once()
    published.promote("tiny", "2", by="bob")
    sync.check_once()
    assert outcomes == ["updated", "unchanged", "updated"]


def test_processes_sharing_a_cache_reuse_a_verified_pull(published, tmp_path):
    first = _sync(published, tmp_path / "cache", Loader())
    assert first.check_once() == "updated"
    counting = CountingStore(published.store)
    second_loader = Loader()
    second = _sync(Registry(counting), tmp_path / "cache", second_loader)
    assert second.check_once() == "updated"
    assert counting.fetched == [] and second_loader.loaded == ["1"]


def test_concurrent_pulls_of_one_version_into_one_cache(published, tmp_path):
    loaders = [Loader() for _ in range(3)]
    syncs = [_sync(Registry(published.store), tmp_path / "cache", loader) for loader in loaders]
    outcomes = []
    threads = [threading.Thread(target=lambda s=s: outcomes.append(s.check_once())) for s in syncs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert outcomes == ["updated"] * 3
    assert sorted(p.name for p in (tmp_path / "cache" / "tiny").iterdir() if not p.name.startswith(".")) == ["1"]
    load_manifest(tmp_path / "cache" / "tiny" / "1")


def test_an_outage_keeps_the_last_good_model_and_backs_off(published, tmp_path):
    store = OutageStore(published.store)
    loader = Loader()
    sync = _sync(Registry(store), tmp_path / "cache", loader, jitter=0.0)
    assert sync.check_once() == "updated"
    assert sync.next_delay() == 10
    store.down = True
    published.promote("tiny", "2", by="bob")  # promoted, but this host cannot see it
    delays = []
    for _ in range(5):
        assert sync.check_once() == "store_error"
        delays.append(sync.next_delay())
    assert delays == [10, 20, 40, 60, 60]  # doubling, capped at max_backoff
    assert sync.last_good.name == "1" and loader.loaded == ["1"]
    assert sync.counters["store_error"] == 5

    # A restart while the store is still down finds the last good model in the cache.
    restarted_loader = Loader()
    restarted = _sync(Registry(store), tmp_path / "cache", restarted_loader)
    assert restarted.latest_cached() == tmp_path / "cache" / "tiny" / "1"
    assert restarted.apply_cached() and restarted_loader.loaded == ["1"]
    assert restarted.check_once() == "store_error"

    store.down = False
    assert sync.check_once() == "updated" and sync.last_good.name == "2"
    assert sync.failures == 0 and sync.next_delay() == 10


def test_jitter_spreads_polls_within_bounds(published, tmp_path):
    sync = _sync(published, tmp_path / "cache", Loader(), rng=random.Random(1), jitter=0.2)
    delays = {round(sync.next_delay(), 6) for _ in range(20)}
    assert len(delays) > 10 and all(8 <= d <= 12 for d in delays)


def test_a_bad_version_is_refused_and_the_last_good_kept(published, make_bundle, tmp_path):
    loader = Loader()
    sync = _sync(published, tmp_path / "cache", loader)
    assert sync.check_once() == "updated"
    published.push_bundle(make_bundle("tiny", "3"))
    published.promote("tiny", "3", by="bob")
    published.store.put_bytes("models/tiny/3/model.tflite", b"corrupted after promotion")
    assert sync.check_once() == "bad_version"
    assert sync.last_good.name == "1" and loader.loaded == ["1"]
    assert not (tmp_path / "cache" / "tiny" / "3").exists()
    assert sync.failures == 1 and sync.counters["bad_version"] == 1


def test_a_pointer_to_nothing_or_garbage_is_a_bad_version(published, tmp_path):
    sync = _sync(published, tmp_path / "cache", Loader())
    assert sync.check_once() == "updated"
    published.store.put_bytes("models/tiny/current", b'{"version": "9", "promoted_at": "x", "promoted_by": "y"}')
    assert sync.check_once() == "bad_version"
    published.store.put_bytes("models/tiny/current", b"not json")
    assert sync.check_once() == "bad_version"
    assert sync.last_good.name == "1" and sync.counters["bad_version"] == 2


def test_a_version_on_update_refuses_is_not_retried_until_the_pointer_changes(published, tmp_path):
    loader = Loader(refuse={"2"})
    sync = _sync(published, tmp_path / "cache", loader)
    assert sync.check_once() == "updated"
    published.promote("tiny", "2", by="bob")
    assert sync.check_once() == "rejected"
    assert sync.check_once() == "unchanged" and loader.loaded == ["1"]
    assert sync.last_good.name == "1" and sync.latest_cached().name == "1"
    published.rollback("tiny", by="bob")
    published.promote("tiny", "2", by="cat")  # a new promotion of the same version: try again
    loader.refuse.clear()
    assert sync.check_once() == "updated" and loader.loaded == ["1", "2"]


def test_unsigned_versions_are_refused_when_a_key_is_configured(published, make_bundle, keypair, tmp_path):
    loader = Loader()
    sync = _sync(published, tmp_path / "cache", loader, public_key=keypair[1])
    published.promote("tiny", "1", by="ann", signing_key=keypair[0])  # a signed pointer to an unsigned version
    assert sync.check_once() == "bad_version" and "tiny 1" not in loader.loaded
    published.push_bundle(make_bundle("tiny", "3"), private_key=keypair[0])
    published.promote("tiny", "3", by="ann", signing_key=keypair[0])
    assert sync.check_once() == "updated" and loader.loaded == ["3"]


def test_the_thread_polls_backs_off_and_stops(published, tmp_path):
    store = OutageStore(published.store)
    store.down = True
    delays, enough, release = [], threading.Event(), threading.Event()

    def fake_sleep(seconds):
        delays.append(seconds)
        if len(delays) >= 3:
            enough.set()
            release.wait(30)

    loader = Loader()
    sync = _sync(Registry(store), tmp_path / "cache", loader, sleep=fake_sleep, jitter=0.0)
    sync.start()
    assert enough.wait(60)
    sync.stop(timeout=0)
    release.set()
    sync.stop(timeout=30)
    assert delays[:3] == [10, 20, 40]
    assert sync.counters["store_error"] == 3 and loader.loaded == []


class GatedStore(OutageStore):
    """A real store whose reads wait for ``gate`` once ``slow`` is set, as a store that answers late."""

    slow = False

    def __init__(self, inner):
        super().__init__(inner)
        self.gate = threading.Event()

    def _check(self):
        super()._check()
        if self.slow:
            assert self.gate.wait(30), "the test never opened the gate"


def _cached_1_promoted_2(published, tmp_path):
    """A cache whose last good version is 1, and a store whose current version is now 2."""
    first = _sync(published, tmp_path / "cache", Loader())
    assert first.check_once() == "updated"
    published.promote("tiny", "2", by="bob")


def _until(predicate, timeout: float = 30) -> None:
    """Wait for ``predicate`` (a background check's effect) up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)


def _late_sync(published, tmp_path, loader):
    """A sync whose store answers only once the returned store's ``gate`` is set."""
    store = GatedStore(published.store)
    store.slow = True
    return store, _sync(Registry(store), tmp_path / "cache", loader)


def test_prime_takes_the_stores_version_when_it_answers_in_time(published, tmp_path):
    _cached_1_promoted_2(published, tmp_path)
    loader = Loader()
    sync = _sync(published, tmp_path / "cache", loader)
    assert sync.prime(deadline=30) == "updated"
    assert loader.loaded == ["2"]  # never the stale cached 1: every instance starts on the promoted version


def test_prime_serves_the_cache_when_the_store_is_late_then_swaps_in_its_answer(published, tmp_path):
    _cached_1_promoted_2(published, tmp_path)
    loader = Loader()
    store, sync = _late_sync(published, tmp_path, loader)
    assert sync.prime(deadline=0.2) is None  # the check is still waiting for the store
    assert loader.loaded == ["1"] and sync.applied_version == "1"
    store.gate.set()
    _until(lambda: sync.counters["updated"])  # counted once the whole check is over
    assert loader.loaded == ["1", "2"] and sync.applied_version == "2" and sync.counters["updated"] == 1


def test_a_late_answer_naming_the_cached_version_loads_nothing_twice(published, tmp_path):
    first = _sync(published, tmp_path / "cache", Loader())
    assert first.check_once() == "updated"  # cached and current: 1
    loader = Loader()
    store, sync = _late_sync(published, tmp_path, loader)
    assert sync.prime(deadline=0.2) is None
    store.gate.set()
    _until(lambda: sync.last_outcome)
    assert sync.last_outcome == "unchanged" and loader.loaded == ["1"]


def test_prime_with_the_store_down_serves_the_cache_at_once(published, tmp_path):
    _cached_1_promoted_2(published, tmp_path)
    store = OutageStore(published.store)
    store.down = True
    loader = Loader()
    sync = _sync(Registry(store), tmp_path / "cache", loader)
    assert sync.prime(deadline=30) == "store_error"
    assert loader.loaded == ["1"]


def test_prime_leaves_a_model_that_already_serves_when_the_store_is_late(published, tmp_path):
    _cached_1_promoted_2(published, tmp_path)
    loader = Loader()
    store, sync = _late_sync(published, tmp_path, loader)
    assert sync.prime(deadline=0.2, use_cache=False) is None  # the kiosk's --local-model serves meanwhile
    assert loader.loaded == []
    store.gate.set()
    _until(lambda: loader.loaded)
    assert loader.loaded == ["2"]


def test_after_prime_the_thread_waits_an_interval_before_its_first_poll(published, tmp_path):
    slept, release = [], threading.Event()

    def fake_sleep(seconds):
        slept.append((seconds, dict(sync.counters)))
        release.wait(30)

    sync = _sync(published, tmp_path / "cache", Loader(), sleep=fake_sleep, jitter=0.0)
    assert sync.prime(deadline=30) == "updated"
    sync.start(wait_first=True)
    _until(lambda: slept)
    sync.stop(timeout=0)
    release.set()
    sync.stop(timeout=30)
    assert slept[0][0] == 10 and slept[0][1]["updated"] == 1 and sum(slept[0][1].values()) == 1


_WORKER = """
import sys
from pathlib import Path
from shared.registry.registry import Registry
from shared.registry.store import open_store
from shared.registry.sync import ModelSync
loaded = []
sync = ModelSync(Registry(open_store(sys.argv[1])), "tiny", Path(sys.argv[2]), loaded.append)
print(sync.check_once(), loaded[0].name if loaded else "-")
"""


def test_worker_processes_sharing_a_cache_pull_safely(make_bundle, tmp_path):
    import subprocess
    import sys

    from tests.conftest import ROOT

    (tmp_path / "store").mkdir()
    url = (tmp_path / "store").as_uri()
    registry = Registry(open_store(url))
    registry.push_bundle(make_bundle("tiny", "1", files=20))
    registry.promote("tiny", "1", by="ann")
    cmd = [sys.executable, "-c", _WORKER, url, str(tmp_path / "cache")]
    procs = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=120)[0].split() for p in procs]
    assert outputs == [["updated", "1"]] * 3
    load_manifest(tmp_path / "cache" / "tiny" / "1")
    left = sorted(p.name for p in (tmp_path / "cache" / "tiny").iterdir() if not p.name.endswith(".lock"))
    assert left == [".last_good.json", "1"]  # no partial or broken folders


@pytest.mark.parametrize(
    "pointer",
    [
        {"version": ".."},
        {"version": ".hidden"},
        {"version": "1", "history": ["../../escape"]},
        {"version": "1", "previous": ".."},
    ],
)
def test_a_pointer_naming_no_valid_version_is_refused_before_any_path_is_made(published, tmp_path, pointer, caplog):
    cache = tmp_path / "cache"
    sync = _sync(published, cache, Loader())
    assert sync.check_once() == "updated"
    published.store.put_bytes(
        "models/tiny/current", json.dumps({"promoted_at": "x", "promoted_by": "y", **pointer}).encode()
    )
    assert sync.check_once() == "bad_version"
    assert "malformed pointer (invalid version" in caplog.text
    assert sorted(p.name for p in cache.iterdir()) == ["tiny"]  # nothing renamed, nothing moved aside
    kept = sorted(p.name for p in (cache / "tiny").iterdir() if not p.name.endswith(".lock"))
    assert kept == [".last_good.json", "1"]


def test_who_promoted_reaches_the_log_as_one_printable_line(published, tmp_path, caplog):
    sync = _sync(published, tmp_path / "cache", Loader())
    forged = "ann at now\nWARNING shared.registry.sync: tiny sync updated: \x1b[31mforged"
    published.store.put_bytes(
        "models/tiny/current", json.dumps({"version": "2", "promoted_at": "x", "promoted_by": forged}).encode()
    )
    with caplog.at_level(logging.INFO, logger="shared.registry.sync"):
        assert sync.check_once() == "updated"
    (line,) = [r.getMessage() for r in caplog.records if "sync updated" in r.getMessage()]
    assert "\n" not in line and "\x1b" not in line and "ann at now?WARNING" in line


@pytest.fixture
def signed(registry, make_bundle, keypair):
    """tiny 1 and 2 pushed signed, 1 promoted with a signed pointer."""
    for version in ("1", "2"):
        registry.push_bundle(make_bundle("tiny", version), private_key=keypair[0])
    registry.promote("tiny", "1", by="ann", signing_key=keypair[0])
    return registry


def test_a_follower_with_a_key_takes_only_a_pointer_signed_with_it(signed, keypair, other_keypair, tmp_path):
    private, public = keypair
    loader = Loader()
    sync = _sync(signed, tmp_path / "cache", loader, public_key=public)
    assert sync.check_once() == "updated" and loader.loaded == ["1"]
    good = json.loads(signed.store.get_bytes("models/tiny/current"))

    edited = {**good, "version": "2", "history": ["1"]}  # write access, no key: the signature no longer fits
    unsigned = {k: v for k, v in edited.items() if k != "signature"}
    impostor = Registry(signed.store)
    for forged in (edited, unsigned):
        signed.store.put_bytes("models/tiny/current", json.dumps(forged).encode())
        assert sync.check_once() == "bad_version"
    impostor.promote("tiny", "2", by="eve", signing_key=other_keypair[0])
    assert sync.check_once() == "bad_version"
    assert loader.loaded == ["1"] and sync.last_good.name == "1"  # the last good model keeps serving

    signed.promote("tiny", "2", by="ann", signing_key=private)
    assert sync.check_once() == "updated" and loader.loaded == ["1", "2"]
    signed.rollback("tiny", by="ann", signing_key=private)  # a rollback signs its pointer too
    assert sync.check_once() == "updated" and loader.loaded == ["1", "2", "1"]


def test_a_signed_pointer_is_bound_to_its_model(signed, make_bundle, keypair, tmp_path):
    signed.push_bundle(make_bundle("other", "1"), private_key=keypair[0])
    signed.push_bundle(make_bundle("other", "2"), private_key=keypair[0])
    signed.promote("other", "2", by="ann", signing_key=keypair[0])
    sync = _sync(signed, tmp_path / "cache", Loader(), public_key=keypair[1])
    assert sync.check_once() == "updated"
    signed.store.put_bytes("models/tiny/current", signed.store.get_bytes("models/other/current"))
    assert sync.check_once() == "bad_version" and sync.applied_version == "1"


def test_an_old_signed_pointer_written_again_is_refused(signed, keypair, tmp_path, caplog):
    private, public = keypair
    old = signed.store.get_bytes("models/tiny/current")  # anyone who could read the store kept it
    signed.promote("tiny", "2", by="ann", signing_key=private)
    loader = Loader()
    sync = _sync(signed, tmp_path / "cache", loader, public_key=public)
    assert sync.check_once() == "updated" and loader.loaded == ["2"]
    signed.store.put_bytes("models/tiny/current", old)
    assert sync.check_once() == "bad_version"
    assert "its serial 1 is below 2" in caplog.text
    restarted = _sync(signed, tmp_path / "cache", Loader(), public_key=public)  # the cache remembers the serial
    assert restarted.check_once() == "bad_version" and loader.loaded == ["2"]


def test_an_unsigned_pointer_of_an_older_store_keeps_the_cache_serving_until_it_is_signed(
    registry, make_bundle, keypair, tmp_path
):
    private, public = keypair
    registry.push_bundle(make_bundle("tiny", "1"), private_key=private)
    registry.promote("tiny", "1", by="ann")  # promoted before pointers were signed
    _sync(registry, tmp_path / "cache", Loader()).check_once()  # a follower without a key cached it
    loader = Loader()
    sync = _sync(registry, tmp_path / "cache", loader, public_key=public)
    assert sync.prime(deadline=30) == "bad_version"
    assert loader.loaded == ["1"]  # the cached last good model serves meanwhile
    with pytest.raises(RegistryError, match="already current"):
        registry.promote("tiny", "1", by="ann")  # nothing to change without a key
    pointer = registry.promote("tiny", "1", by="ann", signing_key=private)  # signs the pointer in place
    assert (pointer.version, pointer.history, pointer.serial) == ("1", [], 2)
    assert sync.check_once() == "unchanged" and sync.counters["bad_version"] == 1
    restarted = _sync(registry, tmp_path / "cache2", Loader(), public_key=public)
    assert restarted.check_once() == "updated"


def _mount_tmpfs(folder, size: str) -> None:
    folder.mkdir(parents=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here to fill: {proc.stderr.decode().strip()}")


def test_a_full_cache_disk_is_reported_as_the_local_disk_not_the_store(published, make_bundle, tmp_path, caplog):
    published.push_bundle(make_bundle("tiny", "3", files=8))
    published.promote("tiny", "3", by="bob")
    cache = tmp_path / "small"
    _mount_tmpfs(cache, "16k")  # 4 pages: fewer than the bundle's 11 files
    try:
        sync = _sync(published, cache, Loader())
        assert sync.check_once() == "cache_error"
        assert sync.counters["store_error"] == 0 and sync.failures == 1
        assert f"no space left on {cache / 'tiny'}" in caplog.text
        assert not (cache / "tiny" / "3").exists()
    finally:
        subprocess.run(["umount", str(cache)], check=True)
