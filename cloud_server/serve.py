"""``signstream serve``: the server under gunicorn, owned by this process.

This process becomes gunicorn's arbiter, so SIGTERM or SIGINT to it stops every worker.
"""

from __future__ import annotations

import argparse
import os
import runpy
from pathlib import Path

from pydantic import ValidationError

from cloud_server.settings import ServerSettings
from shared.errors import SignstreamError

CONF_PATH = Path(__file__).with_name("gunicorn.conf.py")


class SettingsError(SignstreamError):
    """A bad setting: the server does not start."""


def load_settings(**overrides: object) -> ServerSettings:
    """Settings from the environment with ``overrides`` on top; one clear line on any error."""
    try:
        return ServerSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(map(str, first["loc"]))
        msg = first["msg"].removeprefix("Value error, ")
        raise SettingsError(f"bad setting{' ' + where if where else ''}: {msg}") from err


def gunicorn_app(settings: ServerSettings):
    """A gunicorn application serving create_app(settings) in each worker."""
    from gunicorn.app.base import BaseApplication

    class SignstreamServer(BaseApplication):
        def load_config(self) -> None:
            for key, value in runpy.run_path(str(CONF_PATH)).items():
                if key in self.cfg.settings:
                    self.cfg.set(key, value)
            self.cfg.set("bind", [f"{settings.host}:{settings.port}"])
            self.cfg.set("workers", settings.workers)
            self.cfg.set("threads", settings.threads)
            self.cfg.set("timeout", settings.timeout)
            self.cfg.set("proc_name", "signstream-server")

        def load(self):
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
            from cloud_server.app import create_app

            return create_app(settings)

    return SignstreamServer()


def run_serve(args: argparse.Namespace) -> None:
    """Validate settings, then run gunicorn in this process until a signal stops it."""
    settings = load_settings(
        model_dir=args.model,
        host=args.host,
        port=args.port,
        workers=args.workers,
        threads=args.threads,
        no_auth=args.no_auth or None,
        keys_file=getattr(args, "keys_file", None),
    )
    gunicorn_app(settings).run()
