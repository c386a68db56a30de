"""The server's commands: ``signstream serve`` and ``signstream keys``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from cloud_server.settings import ServerSettings
from shared.app import cli_args as a
from shared.app.settings_flags import add_setting_flags


def cmd_keys(args: argparse.Namespace) -> None:
    from cloud_server.keys import add_key, read_keys, revoke_key

    if not args.file:
        raise a.CliError("give --file or set SIGNSTREAM_SERVER_KEYS_FILE")
    if args.keys_command != "add" and not args.file.is_file():  # only add may create the file
        raise a.CliError(f"{args.file}: no such key file (create one with 'signstream keys add NAME --file FILE')")
    if args.keys_command == "add":
        key = add_key(args.file, args.name, args.admin)
        print(f"created key {args.name!r}{' (admin)' if args.admin else ''}; it is shown only this once:")
        print(key)
    elif args.keys_command == "revoke":
        revoke_key(args.file, args.name)
        print(f"revoked key {args.name!r}; servers refuse it within a second")
    else:
        keys = read_keys(args.file).keys
        if not keys:
            print(f"{args.file}: no keys")
        for k in keys:
            state = f"revoked {k.revoked}" if k.revoked else "active"
            print(f"{k.name:<24} {'admin' if k.admin else 'client':<6} created {k.created}  {state}")


def register(sub: argparse._SubParsersAction) -> None:
    """Add serve and keys to ``signstream``."""
    p = sub.add_parser("serve", help="serve a bundle, or a registry's promoted model, over HTTP under gunicorn",
                       description="Every flag is also a SIGNSTREAM_SERVER_* setting (docs/server.md).")  # fmt: skip
    add_setting_flags(p, ServerSettings, aliases={"model": "model_dir"})
    p.add_argument("--env-file", type=Path, help="settings file of SIGNSTREAM_SERVER_*=value lines (systemd style)")
    p.set_defaults(func=a.lazy("cloud_server.serve", "run_serve"))

    p = sub.add_parser("keys", help="maintain the server's API key file")
    keys = p.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    for action, text in (("add", "create a key and print it once"), ("list", "list keys (never the keys themselves)"),
                         ("revoke", "revoke a key (its requests get 403)")):  # fmt: skip
        k = keys.add_parser(action, help=text)
        if action != "list":
            k.add_argument("name", help="who or what the key is for, e.g. kiosk-lobby")
        if action == "add":
            k.add_argument("--admin", action="store_true", help="may call the admin endpoints")
        k.add_argument("--file", type=Path, default=os.environ.get("SIGNSTREAM_SERVER_KEYS_FILE"),
                       help="key file (default $SIGNSTREAM_SERVER_KEYS_FILE)")  # fmt: skip
    p.set_defaults(func=cmd_keys)
