"""What a Tern python function may import: `from tern import Response`.

The shim builds a Request per call and passes it (and a Context when the handler takes two
arguments) to the handler named in function.toml."""

__all__ = ["Request", "Response", "Context", "HostError", "State", "PendingCall"]


class Request:
    """One call: method, path, query (raw string), params (parsed query, first value wins),
    headers (names lower-case), body (bytes)."""

    __slots__ = ("method", "path", "query", "headers", "body", "_params")

    def __init__(self, method, path, query, headers, body):
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self._params = None

    @property
    def params(self):
        if self._params is None:
            from urllib.parse import parse_qsl

            params = {}
            for key, value in parse_qsl(self.query, keep_blank_values=True):
                params.setdefault(key, value)
            self._params = params
        return self._params

    def text(self):
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        import json

        return json.loads(self.body) if self.body else None

    def __repr__(self):
        return "Request(%s %s%s, %d bytes)" % (self.method, self.path, "?" + self.query if self.query else "", len(self.body))


class Response:
    """A full response: status, headers and a body (str, bytes, or anything JSON-serialisable)."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, body=b"", status=200, headers=None):
        self.body = body
        self.status = status
        self.headers = dict(headers or {})

    def __repr__(self):
        return "Response(%d)" % self.status


class HostError(Exception):
    """A request to the node (ctx.invoke, ctx.state..., ...) failed or is not available.
    `code` is the node's error code when it gave one: "bad_request" (a bad key or offset),
    "too_large", "no_capacity" (state store full), "conflict" (a lock not acquired in time),
    "unavailable" (no state here, or the global tier is down)."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


def _bytes(value):
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError("a state value is bytes or str, not %s" % type(value).__name__)


class State:
    """The node's shared state (docs/state.md): named byte values shared by every instance on the
    node; push/pull move them to and from the global tier (Redis) when the node has one. Each
    operation is a request to the node over the sandbox's pipe."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx):
        self._ctx = ctx

    def _op(self, op, key, body=b"", **args):
        args["key"] = key
        return self._ctx.host("state." + op, args, body)

    def get(self, key, offset=0, length=None):
        """The value (bytes), or None when there is none; offset/length read part of it."""
        args = {"offset": offset} if offset else {}
        if length is not None:
            args["length"] = length
        header, data = self._op("get", key, **args)
        return data if header.get("found") else None

    def size(self, key):
        """The value's length, or None."""
        header, _ = self._op("size", key)
        return header.get("length") if header.get("found") else None

    def set(self, key, value):
        """Replace the value; returns its length."""
        return self._op("set", key, _bytes(value))[0]["length"]

    def write(self, key, offset, value):
        """Overwrite bytes at offset (at most the current length); returns the new length."""
        return self._op("write", key, _bytes(value), offset=offset)[0]["length"]

    def append(self, key, value):
        """Add to the end (creates the key); returns the new length."""
        return self._op("append", key, _bytes(value))[0]["length"]

    def delete(self, key):
        """True when there was a value."""
        return bool(self._op("delete", key)[0].get("deleted"))

    def lock(self, key, global_=False):
        """Wait for the lock of key (this node's, or the cluster-wide one with global_=True).
        Held by this call until unlock() or the call's end; HostError(code="conflict") past the wait."""
        self._op("lock", key, **{"global": bool(global_)})

    def unlock(self, key, global_=False):
        self._op("unlock", key, **{"global": bool(global_)})

    def locked(self, key, global_=False):
        """`with ctx.state.locked(key): ...` holds the lock for the block."""
        state = self

        class _Held:
            def __enter__(self):
                state.lock(key, global_)
                return state

            def __exit__(self, *exc):
                state.unlock(key, global_)
                return False

        return _Held()

    def push(self, key):
        """This node's value to the global tier (an absent value deletes the global one)."""
        self._op("push", key)

    def pull(self, key):
        """The global value into this node; False (and the local value deleted) when there is none."""
        return bool(self._op("pull", key)[0].get("found"))


class PendingCall:
    """A chained call started by ctx.call_async: result() waits for its Response (once)."""

    __slots__ = ("_ctx", "_handle", "_response")

    def __init__(self, ctx, handle):
        self._ctx = ctx
        self._handle = handle
        self._response = None

    def result(self):
        if self._response is None:
            header, data = self._ctx.host("await", {"handle": self._handle})
            self._response = Response(data, header.get("status", 200), header.get("headers") or {})
        return self._response


class Context:
    """Per call: the call id, the function name, requests to the node (host calls): chained calls
    (call, call_async) and shared state (ctx.state)."""

    __slots__ = ("call_id", "function", "instance", "_host", "state")

    def __init__(self, call_id, function, instance, host):
        self.call_id = call_id
        self.function = function
        self.instance = instance
        self._host = host
        self.state = State(self)

    def host(self, op, args=None, body=b""):
        """Low-level host request: returns (header dict, body bytes); raises HostError."""
        return self._host(self.call_id, op, args or {}, body)

    def invoke(self, function, body=b"", method="POST", path="/", headers=None):
        """Call another function through the node (chaining). Returns a Response."""
        if isinstance(body, str):
            body = body.encode()
        header, data = self.host("invoke", {"function": function, "method": method, "path": path, "headers": dict(headers or {})}, body)
        return Response(data, header.get("status", 200), header.get("headers") or {})

    def call(self, function, body=b"", method="POST", path="/", headers=None):
        """Call another function and wait for it (same as invoke)."""
        return self.invoke(function, body, method, path, headers)

    def call_async(self, function, body=b"", method="POST", path="/", headers=None):
        """Start a chained call; returns a PendingCall whose result() waits for it. Start several,
        then collect them: they run in parallel on the node."""
        if isinstance(body, str):
            body = body.encode()
        header, _ = self.host("call-async", {"function": function, "method": method, "path": path, "headers": dict(headers or {})}, body)
        return PendingCall(self, header["handle"])

    def await_(self, pending):
        """The Response of a PendingCall (pending.result())."""
        return pending.result()
