"""Tern's python shim: loads the handler once, then serves calls framed on fd 3.

argv: FUNCTION_DIR HANDLER FUNCTION_NAME INSTANCE_ID
The function's print() output travels as log frames tagged with the call id; fds 1 and 2 stay
the process's own pipes (child processes and C code write there)."""
import io
import os
import sys

MAX_LOG_FRAME = 1 << 16


class _State:
    call = None  # wire id of the call being served (one at a time)
    call_id = None  # the invocation id the node knows the call by


class _LogRaw(io.RawIOBase):
    def __init__(self, wire, stream):
        self._wire = wire
        self._stream = stream

    def writable(self):
        return True

    def write(self, data):
        chunk = bytes(data[:MAX_LOG_FRAME])
        header = {"t": "log", "s": self._stream}
        if _State.call is not None:
            header["id"] = _State.call
        self._wire.write(header, chunk)
        return len(chunk)


def _log_stream(wire, stream):
    raw = io.BufferedWriter(_LogRaw(wire, stream), 8192)
    return io.TextIOWrapper(raw, encoding="utf-8", errors="backslashreplace", line_buffering=True)


def _load(handler_spec):
    import importlib

    module_name, _, attr = handler_spec.partition(":")
    module = importlib.import_module(module_name)
    handler = getattr(module, attr or "handle", None)
    if not callable(handler):
        raise TypeError("%s.py has no function %r" % (module_name.replace(".", "/"), attr or "handle"))
    return handler


def _arity(fn):
    """1 or 2: whether the handler takes (req) or (req, ctx)."""
    code = getattr(fn, "__code__", None)
    bound = hasattr(fn, "__self__")
    if code is None:
        call = getattr(type(fn), "__call__", None)
        code = getattr(call, "__code__", None)
        bound = True
    if code is None:
        return 1
    if code.co_flags & 0x04:  # *args
        return 2
    return 2 if code.co_argcount - (1 if bound else 0) >= 2 else 1


_loop = None


def _settle(value):
    global _loop
    if hasattr(value, "__await__"):
        if _loop is None:
            import asyncio

            _loop = asyncio.new_event_loop()
        value = _loop.run_until_complete(value)
    return value


def _encode_body(body, headers):
    if body is None:
        return b""
    if isinstance(body, str):
        headers.setdefault("content-type", "text/plain; charset=utf-8")
        return body.encode("utf-8")
    if isinstance(body, (bytes, bytearray, memoryview)):
        headers.setdefault("content-type", "application/octet-stream")
        return bytes(body)
    from tern._wire import dumps

    headers.setdefault("content-type", "application/json")
    return dumps(body).encode("utf-8")


def _to_response(value, tern):
    status, headers, body = 200, {}, value
    if isinstance(value, tern.Response):
        status, headers, body = value.status, value.headers, value.body
    elif isinstance(value, tuple) and 1 <= len(value) <= 3:
        body = value[0]
        status = value[1] if len(value) > 1 else 200
        headers = value[2] if len(value) > 2 else {}
    elif isinstance(value, dict) and "status" in value and type(value["status"]) is int and set(value) <= {"status", "headers", "body"}:
        status, headers, body = value["status"], value.get("headers") or {}, value.get("body")
    if type(status) is not int or not 100 <= status <= 599:
        raise TypeError("status must be an integer from 100 to 599, not %r" % (status,))
    if not isinstance(headers, dict):
        raise TypeError("headers must be a dict, not %s" % type(headers).__name__)
    headers = {str(k).lower(): str(v) for k, v in headers.items()}
    return status, headers, _encode_body(body, headers)


def enter(fn_dir):
    """Put the shim's package and the function on sys.path and move into the function folder."""
    shim_dir = os.path.dirname(os.path.abspath(__file__))
    # The shim's own `tern` package first: a function's tern.py must not replace it.
    sys.path[:0] = [shim_dir, fn_dir, os.path.join(fn_dir, ".deps")]
    os.chdir(fn_dir)


def load(handler_spec):
    """(handler, takes_ctx), or raises what the handler's import raised."""
    handler = _load(handler_spec)
    return handler, _arity(handler) == 2


def main():
    fn_dir, handler_spec, function_name, instance_id = sys.argv[1:5]
    enter(fn_dir)
    from tern._wire import Wire

    wire = Wire(3)
    sys.stdout = _log_stream(wire, "stdout")
    sys.stderr = _log_stream(wire, "stderr")
    try:
        handler, takes_ctx = load(handler_spec)
    except Exception as e:
        import traceback

        traceback.print_exc()
        _flush_logs()
        wire.write({"t": "init-error", "message": "%s: %s" % (type(e).__name__, e)})
        return 1
    return serve(wire, handler, takes_ctx, function_name, instance_id)


def _flush_logs():
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        pass


def serve(wire, handler, takes_ctx, function_name, instance_id):
    """Say ready, then answer calls until the node closes the channel."""
    import tern
    from tern._wire import MAX_BODY

    pending = []
    host_seq = [0]
    flush_logs = _flush_logs

    def host_request(call_id, op, args, body):
        host_seq[0] += 1
        hid = "h%d" % host_seq[0]
        flush_logs()
        wire.write({"t": "host", "id": hid, "call": call_id, "op": op, "args": args}, body)
        while True:
            frame = wire.read()
            if frame is None:
                raise tern.HostError("the node closed the channel")
            header, data = frame
            if header.get("t") == "host-result" and header.get("id") == hid:
                if header.get("error"):
                    raise tern.HostError(str(header["error"]), header.get("code"))
                return header, data
            pending.append(frame)

    wire.write({"t": "ready", "pid": os.getpid(), "version": "python " + sys.version.split()[0]})
    while True:
        frame = pending.pop(0) if pending else wire.read()
        if frame is None:
            return 0
        header, body = frame
        if header.get("t") == "instance":
            # A sandbox started ahead of need learns the id of the instance it becomes.
            instance_id = str(header.get("id"))
            os.environ["TERN_INSTANCE"] = instance_id
            continue
        if header.get("t") != "call":
            continue
        wid = header.get("id")
        _State.call, _State.call_id = wid, header.get("call")
        try:
            req = tern.Request(header.get("method", "GET"), header.get("path", "/"), header.get("query", ""), header.get("headers") or {}, body)
            if takes_ctx:
                result = handler(req, tern.Context(_State.call_id, function_name, instance_id, host_request))
            else:
                result = handler(req)
            status, headers, data = _to_response(_settle(result), tern)
            if len(data) > MAX_BODY:
                raise ValueError("response body is %d bytes, more than %d" % (len(data), MAX_BODY))
        except Exception as e:
            import traceback

            traceback.print_exc()
            flush_logs()
            wire.write({"t": "error", "id": wid, "message": ("%s: %s" % (type(e).__name__, e))[:4000]})
        else:
            flush_logs()
            wire.write({"t": "result", "id": wid, "status": status, "headers": headers}, data)
        _State.call = _State.call_id = None


if __name__ == "__main__":
    sys.exit(main())
