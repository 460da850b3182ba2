"""Tern's binary helper: runs the function's executable once per call, CGI style, inside the
instance's sandbox. The node builds the CGI environment and parses the output; this helper only
runs the program: body to stdin, stdout back in one frame, stderr lines out as log frames.

argv: FUNCTION_DIR EXECUTABLE FUNCTION_NAME INSTANCE_ID CONCURRENCY"""
import os
import sys


def main():
    fn_dir, executable, _name, _instance, concurrency = sys.argv[1:6]
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python"))
    from tern._wire import MAX_BODY, Wire
    import selectors
    import subprocess
    import threading

    wire = Wire(3)
    program = os.path.join(fn_dir, executable)
    base_env = dict(os.environ)

    def feed(pipe, body):
        try:
            if body:
                pipe.write(body)
        except (BrokenPipeError, OSError):
            pass
        finally:
            try:
                pipe.close()
            except OSError:
                pass

    def run(header, body):
        wid = header.get("id")
        env = dict(base_env)
        env.update(header.get("env") or {})
        try:
            proc = subprocess.Popen([program], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=fn_dir, env=env, close_fds=True)
        except OSError as e:
            wire.write({"t": "error", "id": wid, "message": "cannot run %s: %s" % (executable, e.strerror or e)})
            return
        feeder = threading.Thread(target=feed, args=(proc.stdin, body), daemon=True)
        feeder.start()
        out = []
        size = 0
        too_big = False
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ, "stdout")
        sel.register(proc.stderr, selectors.EVENT_READ, "stderr")
        open_streams = 2
        while open_streams:
            for key, _ in sel.select():
                chunk = os.read(key.fileobj.fileno(), 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    open_streams -= 1
                elif key.data == "stderr":
                    wire.write({"t": "log", "s": "stderr", "id": wid}, chunk)
                elif not too_big:
                    size += len(chunk)
                    if size > MAX_BODY:
                        too_big = True
                        out = []
                        proc.kill()
                    else:
                        out.append(chunk)
        sel.close()
        code = proc.wait()
        feeder.join()
        proc.stdout.close()
        proc.stderr.close()
        if too_big:
            wire.write({"t": "error", "id": wid, "message": "output is more than %d bytes" % MAX_BODY})
            return
        status = {"t": "cgi", "id": wid}
        if code < 0:
            status["signal"] = -code
        else:
            status["exit"] = code
        wire.write(status, b"".join(out))

    if not os.access(program, os.X_OK):
        wire.write({"t": "init-error", "message": "%s is not an executable file" % executable})
        return 1
    wire.write({"t": "ready", "pid": os.getpid(), "version": "binary"})
    threaded = int(concurrency) > 1
    while True:
        frame = wire.read()
        if frame is None:
            return 0
        header, body = frame
        if header.get("t") == "instance":
            # A sandbox started ahead of need learns the id of the instance it becomes.
            base_env["TERN_INSTANCE"] = str(header.get("id"))
            continue
        if header.get("t") != "call":
            continue
        if threaded:
            threading.Thread(target=run, args=(header, body), daemon=True).start()
        else:
            run(header, body)


if __name__ == "__main__":
    sys.exit(main())
