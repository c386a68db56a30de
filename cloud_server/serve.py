"""``signstream serve``: the server under gunicorn, owned by this process.

This process becomes gunicorn's arbiter, so SIGTERM or SIGINT to it stops every worker.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import runpy
import shutil
import socket
import tempfile
import time
from pathlib import Path

from cloud_server.settings import ServerSettings
from shared.app.settings_flags import overrides
from shared.app.settings_load import SettingsError
from shared.app.settings_load import load_settings as load_shared_settings

CONF_PATH = Path(__file__).with_name("gunicorn.conf.py")
# prometheus_client chooses file-backed values at import when this is set: the arbiter sets it and
# must not import prometheus_client before (cloud_server.metrics is imported only in the workers).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
log = logging.getLogger(__name__)


def worker_exited(pid: int) -> None:
    """gunicorn ``child_exit`` hook: drop a dead worker's live gauges (its counters stay summed) and its
    row in the connection table, so the live workers accept at once."""
    from cloud_server.balance import TABLE

    TABLE.forget(pid)
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def load_settings(env_file: Path | None = None, **overrides: object) -> ServerSettings:
    """The server's settings: the environment, then ``env_file``, then ``overrides``; one clear line on any error."""
    return load_shared_settings(ServerSettings, env_file, **overrides)


def owned_arbiter():
    """gunicorn's Arbiter, except that stopping always waits for (or kills) every worker, and a reload
    (SIGHUP) stops the old workers only once the new ones serve.

    gunicorn's ``stop`` reaps workers in a loop, and its ``reap_workers`` raises HaltServer when a
    worker exits with the boot-error code. A worker still booting when SIGTERM arrives can exit that
    way, and the raise then ended the arbiter with the other worker not yet reaped. While stopping,
    that exit is logged by gunicorn and the loop goes on: the workers are waited for up to the graceful
    timeout, then killed and reaped, so no worker outlives ``signstream serve``.

    gunicorn's reload spawns the new workers and stops the old ones at once; loading a model takes a
    worker seconds, and in between nothing answered (4.5 s measured). Here the surplus old workers are
    stopped only when every worker that stays has published in the connection table (``balance.py``:
    its app is loaded and its loop runs), waiting up to the worker timeout during a reload; if the new
    ones are not serving by then, the old ones go on serving and the main loop checks again each second.
    """
    from gunicorn.arbiter import Arbiter
    from gunicorn.errors import HaltServer

    from cloud_server.balance import TABLE

    class OwnedArbiter(Arbiter):
        stopping = False
        reloading = False

        def reload(self) -> None:
            self.reloading = True
            try:
                super().reload()
            finally:
                self.reloading = False

        def manage_workers(self) -> None:
            if len(self.WORKERS) > self.num_workers and not self.stopping and not self._new_workers_serve():
                return  # the old workers go on serving; the main loop asks again within a second
            super().manage_workers()

        def _new_workers_serve(self) -> bool:
            """Wait (during a reload, up to the worker timeout) until the workers that stay serve."""
            deadline = time.monotonic() + (self.timeout if self.reloading else 0)
            while len(self.WORKERS) > self.num_workers and not self._staying_serve():
                if time.monotonic() >= deadline:
                    if self.reloading:
                        self.log.warning("the new workers do not serve yet: the old ones go on serving")
                    return False
                time.sleep(0.1)
                self.reap_workers()
            return True

        def _staying_serve(self) -> bool:
            """Every worker that a cut to ``num_workers`` keeps (the newest) serves."""
            staying = sorted(self.WORKERS.items(), key=lambda w: w[1].age)[-self.num_workers :]
            return {pid for pid, _ in staying} <= TABLE.live_pids(time.monotonic())

        def stop(self, graceful: bool = True) -> None:
            self.stopping = True
            super().stop(graceful)

        def reap_workers(self) -> None:
            try:
                super().reap_workers()
            except HaltServer:
                if not self.stopping:
                    raise
                self.reap_workers()  # the others that exited meanwhile

    return OwnedArbiter


def bind_listener(settings: ServerSettings) -> socket.socket:
    """The listening socket, bound here so a taken port or a foreign address is one line, exit 2.

    gunicorn would log about ten lines over five seconds of retries, then exit 1; it is handed this
    socket instead (``fd://N``) and binds nothing itself.
    """
    host, port = settings.host, settings.port
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as err:
        raise SettingsError(f"cannot listen on {host}:{port}: {err.strerror or err}") from err
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does
        sock.bind((host, port))
        # gunicorn (27) does not call listen() again on a socket that listens: give it the backlog here.
        # listen() without one queued 128, and a burst of 1024 connects waited on 1 s SYN retries.
        sock.listen(runpy.run_path(str(CONF_PATH))["backlog"])
    except OSError as err:
        sock.close()
        hint = " (another server is running there?)" if err.errno == errno.EADDRINUSE else ""
        raise SettingsError(f"cannot listen on {host}:{port}: {err.strerror or err}{hint}") from err
    sock.set_inheritable(True)
    return sock


def gunicorn_app(settings: ServerSettings, listener_fd: int | None = None, verbose: bool = False):
    """A gunicorn application serving create_app(settings) in each worker."""
    from gunicorn.app.base import BaseApplication

    class SignstreamServer(BaseApplication):
        def run(self) -> None:
            try:
                owned_arbiter()(self).run()
            except RuntimeError as err:  # as gunicorn's own run(): one line, exit 1
                raise SystemExit(f"Error: {err}") from err

        def load_config(self) -> None:
            for key, value in runpy.run_path(str(CONF_PATH)).items():
                if key in self.cfg.settings:
                    self.cfg.set(key, value)
            bind = f"fd://{listener_fd}" if listener_fd is not None else f"{settings.host}:{settings.port}"
            self.cfg.set("bind", [bind])
            self.cfg.set("workers", settings.workers)
            self.cfg.set("threads", settings.threads)
            self.cfg.set("timeout", settings.timeout)
            self.cfg.set("worker_connections", settings.max_connections)
            self.cfg.set("proc_name", "signstream-server")
            # starting, workers booting or exiting, signals, stopping: logged by default (journald)
            self.cfg.set("loglevel", "debug" if verbose else "info")
            self.cfg.set("child_exit", lambda arbiter, worker: worker_exited(worker.pid))

        def load(self):
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
            from cloud_server.wsgi import build_app

            return build_app(settings)

    return SignstreamServer()


def configure_front(settings: ServerSettings) -> None:
    """The request reader's bounds (cloud_server/front.py), set in the arbiter before the workers fork."""
    from cloud_server.front import FrontLimits, configure

    configure(FrontLimits(header_timeout=settings.header_timeout, body_timeout=settings.body_timeout,
                          send_timeout=settings.send_timeout, max_body_bytes=settings.max_body_bytes))  # fmt: skip


def raise_fd_limit(settings: ServerSettings) -> int:
    """Raise this process's open-file limit (inherited by the workers) to fit every worker's connections.

    systemd's default soft limit is 1024: two workers at 1000 connections each would run out of
    descriptors and fail ``accept`` instead of closing an idle connection to make room. Returns the
    soft limit now in force.
    """
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = settings.workers * settings.max_connections + 1024  # model files, logs, metrics, pipes
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        soft = new
        if new < wanted:
            log.warning("open-file limit %s is under the %s connections the workers may hold (+1024): "
                        "raise LimitNOFILE", new, settings.workers * settings.max_connections)  # fmt: skip
    return soft


def preflight(settings: ServerSettings) -> None:
    """Check the model folder (or the store URL) in the arbiter, so a bad one stops the start with one line.

    The store is given ``startup_wait`` seconds, as each worker's first check is: one that does not
    answer in that time is logged and not waited for (the workers start from their cache).
    """
    if settings.store is not None:
        from shared.registry.preflight import check_store
        from shared.registry.registry import Registry
        from shared.registry.store import open_store

        registry = Registry(open_store(settings.store))  # a malformed URL fails here, not in every worker
        check_store(registry, settings.model_name, settings.startup_wait)
        return
    from shared.model.open_bundle import open_bundle

    open_bundle(settings.model_dir, settings.public_key)


def prepare_runtime_dir(settings: ServerSettings) -> tuple[ServerSettings, bool]:
    """The folder the workers share (metrics files, device tables, reload requests), emptied of old metrics.

    Returns the settings naming it and whether it is a temporary folder this run must remove.
    """
    created = settings.runtime_dir is None
    runtime = Path(tempfile.mkdtemp(prefix="signstream-server-")) if created else settings.runtime_dir
    metrics_dir = runtime / "metrics"
    metrics_dir.mkdir(parents=True, exist_ok=True)
    for stale in metrics_dir.glob("*.db"):  # counters of a previous run must not be added to this one's
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(metrics_dir)  # read by prometheus_client in every worker
    return settings.model_copy(update={"runtime_dir": runtime}), created


def run_serve(args: argparse.Namespace) -> None:
    """Validate settings, then run gunicorn in this process until a signal stops it."""
    settings = load_settings(env_file=getattr(args, "env_file", None), **overrides(args, ServerSettings))
    verbose = bool(getattr(args, "verbose", False))
    configure_logging(verbose)
    preflight(settings)
    raise_fd_limit(settings)
    configure_front(settings)
    listener = bind_listener(settings)
    settings, temporary = prepare_runtime_dir(settings)
    served = f"model {settings.model_dir}" if settings.store is None else f"{settings.model_name} from {settings.store}"
    log.info("starting on %s:%s, %s workers x %s threads, serving %s", settings.host, listener.getsockname()[1],
             settings.workers, settings.threads, served)  # fmt: skip
    arbiter = os.getpid()
    try:
        gunicorn_app(settings, listener.detach(), verbose).run()  # gunicorn owns (and closes) the socket
    finally:
        # A worker is a fork of this process and leaves through SystemExit, so it runs this clause too:
        # only the arbiter may remove the folder every worker shares, and say the server stopped.
        if os.getpid() == arbiter:
            if temporary:
                shutil.rmtree(settings.runtime_dir, ignore_errors=True)
            log.info("stopped")


def configure_logging(verbose: bool) -> None:
    """Our lifecycle lines (start, model loads, promotions, rollbacks, refusals, stop) at INFO by default.

    The CLI sets the root logger to WARNING for every command; the server's own loggers log at INFO
    (DEBUG with ``-v``), so a unit without ``-v`` still tells the journal what it serves. The
    workers inherit this after the fork.
    """
    for name in ("cloud_server", "shared", "signstream"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.INFO)
    if not logging.getLogger().handlers:  # run without signstream.cli's logging setup
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
