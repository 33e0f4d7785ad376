"""The state of the services besides S3's objects, saved as it changes.

`Snapshots.changed()` is called after every request that may change something; a thread saves
the state at most once a second while changes come: S3 (buckets and their settings; objects have
records of their own, see `objects`), SQS (queues and messages) and EventBridge (the bus, its
rules and targets). DynamoDB's tables are saved only at a clean stop: the read model is rebuilt
from the event store by every `./dev up` anyway, and pickling every item each second would cost
more than rebuilding it after a crash.

Snapshots are taken while requests are served, without stopping them: a change in the middle
of one makes the pickler fail ("changed size during iteration"), and it is taken again. The
file is written to a temporary name and renamed, so a crash while saving leaves the previous
snapshot whole. A snapshot that does not load (another moto version) is set aside with a
warning, and moto starts empty.
"""

import copyreg
import io
import os
import pickle
import sys
import threading
import time

from moto.backends import get_backend
from moto.s3.models import MultipartDict
from moto.s3.utils import _VersionedKeyStore

SERVICES = ("s3", "sqs", "events", "dynamodb")
WHILE_RUNNING = ("s3", "sqs", "events")

# Locks cannot be pickled; a loaded model gets fresh ones (nothing holds them at a save).
copyreg.pickle(type(threading.RLock()), lambda _: (threading.RLock, ()))
copyreg.pickle(type(threading.Lock()), lambda _: (threading.Lock, ()))

# In a snapshot a bucket's objects and unfinished multipart uploads are left out (the objects
# are in their records; an unfinished upload is started again by its client).
_TABLE = copyreg.dispatch_table.copy()
_TABLE[_VersionedKeyStore] = lambda _: (_VersionedKeyStore, ())
_TABLE[MultipartDict] = lambda _: (MultipartDict, ())


def load(path):
    """Puts the saved state in place of moto's empty one, in the same objects its request
    handlers already refer to; returns what it says about the snapshot (or None)."""
    if not os.path.exists(path):
        return None
    try:
        with open(path, "rb") as saved:
            state = pickle.load(saved)
        for name, backends in state["services"].items():
            live = get_backend(name)
            live.clear()
            live.update(backends)
        clean = "a clean stop" if state["clean"] else "a running moto (it did not stop cleanly)"
        saved_at = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(state["saved_at"]))
        print(f"moto: state loaded from {path}, saved at {saved_at} by {clean}", file=sys.stderr)
        return state
    except Exception as error:  # noqa: BLE001 - any unreadable state is set aside, not fatal
        aside = f"{path}.unreadable"
        os.replace(path, aside)
        print(f"moto: the saved state does not load ({error!r}); kept as {aside}, starting empty",
              file=sys.stderr)
        return None


def save(path, services, clean):
    for attempt in range(20):
        try:
            data = _dump(services, clean)
            break
        except RuntimeError:  # a request changed a dict while it was pickled: again
            if attempt == 19:
                raise
            time.sleep(0.05)
    temporary = f"{path}.{threading.get_ident()}.tmp"
    with open(temporary, "wb") as file:
        file.write(data)
    os.replace(temporary, path)


def _dump(services, clean):
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _TABLE
    state = {
        "saved_at": time.time(),
        "clean": clean,
        "services": {name: dict(get_backend(name)) for name in services},
    }
    pickler.dump(state)
    return buffer.getvalue()


class Snapshots:
    """Saves the running state a second after it changes, and all of it at `stop()`."""

    def __init__(self, path, interval=1.0):
        self.path = path
        self.interval = interval
        self.dirty = threading.Event()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="snapshots")

    def start(self):
        self.thread.start()

    def changed(self):
        self.dirty.set()

    def _run(self):
        while not self.stopping.is_set():
            self.dirty.wait(timeout=self.interval)
            if self.stopping.is_set() or not self.dirty.is_set():
                continue
            self.dirty.clear()
            try:
                save(self.path, WHILE_RUNNING, clean=False)
            except Exception as error:  # noqa: BLE001 - the next change tries again
                print(f"moto: the state could not be saved: {error!r}", file=sys.stderr)
                self.dirty.set()
            self.stopping.wait(self.interval)

    def stop(self):
        self.stopping.set()
        self.thread.join()
        save(self.path, SERVICES, clean=True)
        print(f"moto: state saved to {self.path}", file=sys.stderr)
