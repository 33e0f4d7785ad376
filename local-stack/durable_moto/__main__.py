"""Runs moto's server with object bodies on disk, object records written as they change, and
snapshots of the rest (see the package's documentation)."""

import argparse
import logging
import os
import signal
import sys
import threading
import time

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from . import bodies, lean, objects, snapshots

# Requests that change nothing need no snapshot.
READS = ("GET", "HEAD", "OPTIONS")


class Recorded:
    """The WSGI application: moto's, with each request's changes recorded before its answer."""

    def __init__(self, app, snapshots_):
        self.app = app
        self.snapshots = snapshots_

    def __call__(self, environ, start_response):
        try:
            return self.app(environ, start_response)
        finally:
            if environ.get("REQUEST_METHOD") not in READS:
                objects.save()
                self.snapshots.changed()


def note_lost(state, loaded):
    """Notes, for `./dev up`, the moment since which what the bus delivered may be lost: the
    snapshot's (less two seconds, for events published while it was taken), or the beginning
    when moto had held objects but no snapshot. An earlier note not yet acted on is kept."""
    note = os.path.join(state, "republish-since")
    if loaded is None and not os.listdir(os.path.join(state, "objects")):
        return
    if os.path.exists(note):
        return
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(loaded["saved_at"] - 2 if loaded else 0))
    with open(note, "w") as file:
        file.write(since)
    print(f"moto: it had not stopped cleanly; what the bus delivered since {since} is to be "
          "published again (./dev up does it)", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(prog="durable_moto", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    parser.add_argument("--state", required=True, help="the folder the state is kept in")
    parser.add_argument("--log", help="append what moto says to this file")
    arguments = parser.parse_args()
    if arguments.log:
        log = os.open(arguments.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
    # One line a request would fill the disk over a large import; failures still show.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    state = os.path.abspath(arguments.state)
    os.makedirs(state, exist_ok=True)
    lean.install()
    bodies.install(os.path.join(state, "bodies"))
    objects.install(os.path.join(state, "objects"))
    snapshot = os.path.join(state, "snapshot.pickle")
    loaded = snapshots.load(snapshot)
    objects.load()
    if loaded is None or not loaded["clean"]:
        note_lost(state, loaded)
    saver = snapshots.Snapshots(snapshot)
    app = Recorded(DomainDispatcherApplication(create_backend_app), saver)
    server = make_server(arguments.host, arguments.port, app, threaded=True,
                         request_handler=MotoRequestHandler)
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    serving = threading.Thread(target=server.serve_forever, daemon=True, name="server")
    serving.start()
    saver.start()
    print(f"moto: serving on {arguments.host}:{arguments.port}", file=sys.stderr)
    stopped.wait()
    server.shutdown()
    saver.stop()


if __name__ == "__main__":
    main()
