"""A record on disk of every S3 object, written before the request that changed it is answered.

Each object key has one record, `objects/<bucket>/<hash>.pickle`: the key's name, every version
moto keeps of it (metadata; the bytes are in the body files these name) and each version's
tags. moto's key stores and its tagging calls are hooked to note, per request thread, which keys
a request changed; when the request is done (and before its answer leaves), `save` writes those
keys' records, or removes them where the key is gone. A record is written to a temporary name
and renamed, so a crash leaves the previous record or the new one, never half of one.

At start, `load` puts every record's versions back into its bucket, dropping a version whose
body file is gone (its deletion was under way when moto died).
"""

import hashlib
import os
import pickle
import sys
import threading

from moto.backends import get_backend
from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3 import models
from moto.s3.utils import _VersionedKeyStore

from . import bodies

_CHANGED = threading.local()
_WRITING = threading.Lock()


def _note(store, key):
    bucket = getattr(store, "bucket_name", None)
    if bucket is not None:
        _changed().add((bucket, key))


def _changed():
    if not hasattr(_CHANGED, "keys"):
        _CHANGED.keys = set()
    return _CHANGED.keys


def _hook(cls, name, noted):
    original = getattr(cls, name)

    def hooked(self, *args, **kwargs):
        noted(self, *args, **kwargs)
        return original(self, *args, **kwargs)

    setattr(cls, name, hooked)


def install(folder):
    """Hooks moto so that every change to an object is noted for `save`."""
    global FOLDER
    FOLDER = folder
    os.makedirs(folder, exist_ok=True)
    for name in ("__setitem__", "setlist", "pop", "__delitem__"):
        _hook(_VersionedKeyStore, name, lambda store, key, *_, **__: _note(store, key))
    _hook(
        models.S3Backend,
        "put_object_tagging",
        lambda _backend, key, *_, **__: _changed().add((key.bucket_name, key.name)),
    )
    _hook(
        models.S3Backend,
        "delete_object_tagging",
        lambda _backend, bucket, key, *_, **__: _changed().add((bucket, key)),
    )
    # Each bucket's key store knows its bucket, so that a change to it can be recorded.
    original_init = models.FakeBucket.__init__

    def init(bucket, *args, **kwargs):
        original_init(bucket, *args, **kwargs)
        bucket.keys.bucket_name = bucket.name

    models.FakeBucket.__init__ = init


def _record_path(bucket, key):
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return os.path.join(FOLDER, bucket, digest[:2], f"{digest}.pickle")


def buckets():
    """Every bucket moto holds, by name."""
    found = {}
    for by_region in get_backend("s3").values():
        for backend in by_region.values():
            found.update((name, (backend, bucket)) for name, bucket in backend.buckets.items())
    return found


def save():
    """Writes the records of the keys this thread's request changed."""
    changed = _changed()
    if not changed:
        return
    known = buckets()
    with _WRITING, bodies.saving():
        for bucket_name, key in changed:
            if bucket_name not in known:
                continue
            backend, bucket = known[bucket_name]
            path = _record_path(bucket_name, key)
            versions = list(bucket.keys.getlist(key, []))
            if not versions:
                try:
                    os.remove(path)
                except FileNotFoundError:
                    pass
                continue
            tags = {
                version.arn: backend.tagger.list_tags_for_resource(version.arn)["Tags"]
                for version in versions
                if isinstance(version, models.FakeKey)
            }
            record = {"key": key, "versions": versions, "tags": tags}
            os.makedirs(os.path.dirname(path), exist_ok=True)
            temporary = f"{path}.{threading.get_ident()}.tmp"
            with open(temporary, "wb") as file:
                pickle.dump(record, file, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, path)
    changed.clear()


def load():
    """Puts every recorded object back into its bucket (a bucket that the snapshot does not
    have yet is made, its settings left to `local-stack bootstrap`); deletes the body files no
    object names. Returns (objects, versions dropped, body files deleted)."""
    known = buckets()
    objects = dropped = 0
    referenced = set()
    for bucket_name in sorted(os.listdir(FOLDER)) if os.path.isdir(FOLDER) else []:
        if bucket_name not in known:
            get_backend("s3")[DEFAULT_ACCOUNT_ID]["aws"].create_bucket(bucket_name, "us-east-1")
            known = buckets()
        backend, bucket = known[bucket_name]
        bucket.keys = _VersionedKeyStore()
        bucket.keys.bucket_name = bucket_name
        for directory, _, files in os.walk(os.path.join(FOLDER, bucket_name)):
            for file in files:
                path = os.path.join(directory, file)
                if file.endswith(".tmp"):
                    os.remove(path)
                    continue
                with open(path, "rb") as saved:
                    record = pickle.load(saved)
                versions = []
                for version in record["versions"]:
                    body = getattr(version, "_value_buffer", None)
                    if body is not None and not body.exists():
                        dropped += 1
                        continue
                    if body is not None:
                        referenced.add(body.name)
                        tags = record["tags"].get(version.arn)
                        if tags:
                            backend.tagger.tag_resource(version.arn, tags)
                    versions.append(version)
                if versions:
                    dict.__setitem__(bucket.keys, record["key"], versions)
                    objects += 1
                else:
                    os.remove(path)
    removed = bodies.sweep(referenced)
    print(
        f"moto: {objects} S3 object(s) loaded from their records"
        + (f", {dropped} version(s) whose deletion a crash interrupted dropped" if dropped else "")
        + (f", {removed} unreferenced body file(s) deleted" if removed else ""),
        file=sys.stderr,
    )
