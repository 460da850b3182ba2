"""What a Tern python function may import: `from tern import Response`.

The shim builds a Request per call and passes it (and a Context when the handler takes two
arguments) to the handler named in function.toml."""

__all__ = ["Request", "Response", "Context", "HostError"]


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
    """A request to the node (ctx.invoke, ...) failed or is not available."""


class Context:
    """Per call: the call id, the function name, and requests to the node (host calls)."""

    __slots__ = ("call_id", "function", "instance", "_host")

    def __init__(self, call_id, function, instance, host):
        self.call_id = call_id
        self.function = function
        self.instance = instance
        self._host = host

    def host(self, op, args=None, body=b""):
        """Low-level host request: returns (header dict, body bytes); raises HostError."""
        return self._host(self.call_id, op, args or {}, body)

    def invoke(self, function, body=b"", method="POST", path="/", headers=None):
        """Call another function through the node (chaining). Returns a Response."""
        if isinstance(body, str):
            body = body.encode()
        header, data = self.host("invoke", {"function": function, "method": method, "path": path, "headers": dict(headers or {})}, body)
        return Response(data, header.get("status", 200), header.get("headers") or {})
