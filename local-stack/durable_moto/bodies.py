"""S3 object bodies as files on disk instead of bytes in moto's memory.

moto's `FakeKey` keeps its value in a `SpooledTemporaryFile` that holds objects under 5 MB in
memory (and every object's bytes again in a pickle). Here that buffer is a `DiskBody`: a file
under `bodies/`, opened only for the moment it is read or written, so that neither memory nor
open file descriptors grow with the number of objects.

A key pickles as the name of its body file, not its bytes. A key loaded from an object record
owns its file and deletes it when moto disposes of it (an object or version deleted or
overwritten); copies moto makes of keys (`copy.deepcopy` while listing versions) share the file
and never delete it.
"""

import os
import threading
import uuid

from moto.s3 import models

from . import lean

# Set while object records are written: keys pickled then are their files' owners.
_SAVING = threading.local()


class saving:
    """Context in which pickled keys are written as the owners of their body files."""

    def __enter__(self):
        _SAVING.active = True

    def __exit__(self, *_):
        _SAVING.active = False


class DiskBody:
    """The file-like buffer moto's `FakeKey` reads and writes its value through."""

    folder = None  # set by install()

    def __init__(self, name=None, owner=True):
        if name is None:
            name = uuid.uuid4().hex
            name = f"{name[:2]}/{name}"
        self.name = name
        self.owner = owner
        self.position = 0

    @property
    def path(self):
        return os.path.join(DiskBody.folder, self.name)

    def exists(self):
        return os.path.exists(self.path)

    def seek(self, offset, whence=0):
        self.position = offset if whence == 0 else self.position + offset

    def read(self, size=-1):
        try:
            with open(self.path, "rb") as file:
                file.seek(self.position)
                data = file.read() if size is None or size < 0 else file.read(size)
        except FileNotFoundError:
            data = b""
        self.position += len(data)
        return data

    def truncate(self, size=None):
        size = self.position if size is None else size
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        with open(self.path, "ab") as file:
            file.truncate(size)

    def write(self, data):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        mode = "r+b" if os.path.exists(self.path) else "wb"
        with open(self.path, mode) as file:
            file.seek(self.position)
            file.write(data)
        self.position += len(data)
        return len(data)

    def close(self):
        pass

    def remove(self):
        try:
            os.remove(self.path)
        except FileNotFoundError:
            pass


class _TempfileShim:
    """What `moto.s3.models` sees as `tempfile`: its buffers are body files."""

    @staticmethod
    def SpooledTemporaryFile(*_args, **_kwargs):  # noqa: N802 - the name moto calls
        return DiskBody()


def _getstate(key):
    state = key.__dict__.copy()
    state.pop("lock", None)
    body = state.pop("_value_buffer")
    state["_body"] = body.name
    state["_body_owner"] = getattr(_SAVING, "active", False)
    return state


def _setstate(key, state):
    name = state.pop("_body")
    owner = state.pop("_body_owner", False)
    key.__dict__.update(state)
    key._value_buffer = DiskBody(name, owner)
    key.lock = threading.Lock()
    lean.compact(key)


def _dispose(key, garbage=False):
    # Only moto's own disposal of a key it no longer keeps deletes the file, never a copy's or
    # the garbage collector's.
    body = key.__dict__.get("_value_buffer")
    if not garbage and not key.disposed and isinstance(body, DiskBody) and body.owner:
        body.remove()
    try:
        if key.multipart:
            key.multipart.dispose()
    except Exception:  # noqa: BLE001 - as moto's own dispose: a part already gone is no matter
        pass
    key.disposed = True


def install(folder):
    """Makes every S3 object moto stores from now on keep its bytes under `folder`."""
    DiskBody.folder = folder
    os.makedirs(folder, exist_ok=True)
    models.tempfile = _TempfileShim
    models.FakeKey.__getstate__ = _getstate
    models.FakeKey.__setstate__ = _setstate
    models.FakeKey.dispose = _dispose


def sweep(referenced):
    """Deletes the body files no loaded key refers to (left by a crash mid-request, by a
    multipart upload never completed, or by a key dropped without moto disposing of it);
    returns how many."""
    removed = 0
    for directory, _, files in os.walk(DiskBody.folder):
        for file in files:
            name = os.path.relpath(os.path.join(directory, file), DiskBody.folder)
            if name not in referenced:
                os.remove(os.path.join(directory, file))
                removed += 1
    return removed
