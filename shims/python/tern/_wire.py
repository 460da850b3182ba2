"""Tern's wire format on fd 3: 8-byte prefix (header length, body length; both big-endian u32),
a JSON header, then the body bytes. The same framing runs in both directions.

JSON goes through the C accelerator directly: importing the json package pulls in `re` and
`enum`, a few milliseconds of every cold start."""
import _thread
import os
import struct

PREFIX = struct.Struct(">II")
MAX_HEADER = 1 << 20
MAX_BODY = 64 << 20


class WireError(Exception):
    pass


def _constant(name):
    return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]


def _no_default(value):
    raise TypeError("Object of type %s is not JSON serializable" % type(value).__name__)


try:
    import _json

    class _ScanContext:
        strict = True
        object_hook = None
        object_pairs_hook = None
        parse_float = float
        parse_int = int
        parse_constant = staticmethod(_constant)
        memo = {}

    _scan = _json.make_scanner(_ScanContext())
    _encode = _json.make_encoder(None, _no_default, _json.encode_basestring, None, ":", ",", False, False, True)

    def loads(text):
        value, end = _scan(text, 0)
        if text[end:].strip():
            raise ValueError("extra data after JSON value")
        return value

    def dumps(value):
        return "".join(_encode(value, 0))

    dumps({"probe": [1, "x", None]})
except Exception:  # another Python's accelerator: the package it is
    import json as _std_json

    loads = _std_json.loads

    def dumps(value):
        return _std_json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class Wire:
    def __init__(self, fd=3):
        self._reader = os.fdopen(fd, "rb", buffering=1 << 16, closefd=False)
        self._fd = fd
        # One lock per frame: threads of the function (printing) and of the binary helper share fd 3.
        self._lock = _thread.allocate_lock()

    def read(self):
        """The next (header, body), or None when the host closed the channel."""
        prefix = self._reader.read(8)
        if not prefix:
            return None
        if len(prefix) < 8:
            raise WireError("truncated frame prefix")
        hlen, blen = PREFIX.unpack(prefix)
        if hlen > MAX_HEADER or blen > MAX_BODY:
            raise WireError("frame too large")
        raw = self._reader.read(hlen)
        body = self._reader.read(blen) if blen else b""
        if len(raw) < hlen or len(body) < blen:
            raise WireError("truncated frame")
        return loads(raw.decode("utf-8")), body

    def write(self, header, body=b""):
        raw = dumps(header).encode("utf-8", "surrogatepass")
        data = b"".join((PREFIX.pack(len(raw), len(body)), raw, body))
        view = memoryview(data)
        with self._lock:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
