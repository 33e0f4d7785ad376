"""moto's server, keeping what it holds across restarts (what `./dev` runs as the local AWS).

moto keeps everything in memory: on its own, a restart of the local stack would leave the event
store with photos whose originals, variants, read-model items and queued jobs are gone. This
launcher saves the state of the services the catalog uses (S3, SQS, DynamoDB, EventBridge)
into one file when it is stopped (SIGTERM or Ctrl-C), and loads it back before it serves again,
so `./dev up` after Ctrl-C finds every photo, file, item and message where it was.

moto's models are plain Python objects: they pickle, but for their locks, which are made anew
when loaded. The file is written to a temporary name and renamed, so a crash while saving
leaves the previous state whole. A state that does not load (another moto version) is set
aside with a warning, and moto starts empty.

    python moto_with_state.py --port 4566 --state .local/state/moto.pickle
"""

import argparse
import copyreg
import os
import pickle
import signal
import sys
import threading

from moto.backends import get_backend
from moto.server import ThreadedMotoServer

SERVICES = ("s3", "sqs", "dynamodb", "events")

# Locks cannot be pickled; a loaded model gets fresh ones (nothing holds them at a save).
copyreg.pickle(type(threading.RLock()), lambda _: (threading.RLock, ()))
copyreg.pickle(type(threading.Lock()), lambda _: (threading.Lock, ()))


def load(path):
    """Puts the saved state in place of moto's empty one, in the same objects its request
    handlers already refer to."""
    if not os.path.exists(path):
        return
    try:
        with open(path, "rb") as saved:
            state = pickle.load(saved)
        for name, backends in state.items():
            live = get_backend(name)
            live.clear()
            live.update(backends)
        print(f"moto: state loaded from {path}", file=sys.stderr)
    except Exception as error:  # noqa: BLE001 - any unreadable state is set aside, not fatal
        aside = f"{path}.unreadable"
        os.replace(path, aside)
        print(f"moto: the saved state does not load ({error!r}); kept as {aside}, starting empty",
              file=sys.stderr)


def save(path):
    state = {name: dict(get_backend(name)) for name in SERVICES}
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "wb") as file:
        pickle.dump(state, file, protocol=pickle.HIGHEST_PROTOCOL)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    print(f"moto: state saved to {path}", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    parser.add_argument("--state", required=True, help="the file the state is kept in")
    arguments = parser.parse_args()
    os.makedirs(os.path.dirname(os.path.abspath(arguments.state)), exist_ok=True)
    load(arguments.state)
    server = ThreadedMotoServer(ip_address=arguments.host, port=arguments.port, verbose=False)
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    server.start()
    stopped.wait()
    server.stop()
    save(arguments.state)


if __name__ == "__main__":
    main()
