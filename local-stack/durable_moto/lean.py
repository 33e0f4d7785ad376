"""moto's memory per object, trimmed: what a catalog of a million S3 objects makes count.

- moto notes every model instance it ever made in a list on its class (`instances_tracked`,
  for its own test-reset), so no object, deleted version or copy made while listing versions
  is ever freed. The server never resets: nothing is noted here.
- Every key gets a new canned "private" ACL (an ACL, a grant and a grantee); keys share one
  here, since moto replaces a key's ACL when one is set rather than changing it.
- A key has some forty attributes, too many for CPython's shared-key instance dicts, and most
  are `None` (no lock, no checksum, no encryption...). Those are class attributes here and
  left out of each key's own dict, which halves it; setting one on a key works as before.
"""

from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.common_models import BaseModel
from moto.s3 import models


def _untracked(cls, *_args, **_kwargs):
    return object.__new__(cls)


# Attributes a key leaves out of its dict while they are None (class attributes of None).
_NONE_BY_DEFAULT = set()


def compact(key):
    """Rebuilds the key's dict without its None attributes."""
    state = key.__dict__
    for name, value in state.items():
        if value is None and name not in _NONE_BY_DEFAULT and not hasattr(type(key), name):
            setattr(type(key), name, None)
            _NONE_BY_DEFAULT.add(name)
    key.__dict__ = {
        name: value
        for name, value in state.items()
        if not (value is None and name in _NONE_BY_DEFAULT)
    }


def install():
    BaseModel.__new__ = _untracked
    original_init = models.FakeKey.__init__

    def init(key, *args, **kwargs):
        original_init(key, *args, **kwargs)
        compact(key)

    models.FakeKey.__init__ = init
    # A key loaded from its record has no None attributes of its own: learn them all first.
    models.FakeKey("probe", b"", DEFAULT_ACCOUNT_ID, "us-east-1").dispose()
    private = models.get_canned_acl("private")
    original = models.get_canned_acl

    def canned(acl):
        return private if acl == "private" else original(acl)

    models.get_canned_acl = canned
