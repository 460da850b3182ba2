"""Tern's python zygote: loads the handler once, then forks a fresh instance per request of the node.

argv: FUNCTION_DIR HANDLER FUNCTION_NAME ZYGOTE_ID TMP_BYTES PIDS_MAX NAME_SLOT
fd 3 is node's IPC channel (JSON lines): the node asks {"t": "fork", "id"} (a spare's id) and {"t": "kill", "pid"};
the zygote answers {"t": "ready"} once, {"t": "forked", "id", "pid"} with the child's end of a new
socket pair passed along (SCM_RIGHTS, node's NODE_HANDLE form) and {"t": "exit", "pid", "code"}.

Each child gets a private user and mount namespace with fresh tmpfs on /tmp and /dev/shm, drops
the capabilities that namespace gave it, enters a Landlock domain of its own and becomes
undumpable (siblings and the zygote are out of its reach through /proc and signals), loads the plain seccomp filter over the zygote's looser one, and waits as a
spare until the node sends {"t": "instance", "id"} on its channel; then it serves calls on fd 3
exactly as tern_shim does. The zygote never reads request data: a later
fork cannot inherit any."""
import array
import ctypes
import os
import resource
import select
import signal
import socket
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_NOSUID = 2
MS_NODEV = 4
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
CAP_VERSION_3 = 0x20080522
# The plain filter, on the stage beside tern-init (kit.ts); read before the function's code runs.
STRICT_FILTER = "/tern/bin/seccomp.bpf"
# The zygote's last argument, overwritten in each child with its instance id (ps, tests, operators).
NAME_SLOT = 96


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class Zygote:
    def __init__(self, ipc, libc, strict_filter, tmp_bytes, pids_max):
        self.pids_max = pids_max
        self.ipc = ipc
        self.libc = libc
        self.strict_filter = strict_filter
        self.tmp_bytes = tmp_bytes
        self.children = set()
        self.handles = []  # (line, fd) waiting for node's acknowledgement of the previous handle
        self.awaiting_ack = False
        self.inbox = b""
        self.forks = []  # instance ids the node asked for
        self.early_exits = {}  # pid -> exit code of children whose channel is still queued

    def send(self, message):
        self.ipc.sendall(_dumps(message).encode() + b"\n")

    def send_handle(self, message, sock, pid):
        line = _dumps({"cmd": "NODE_HANDLE", "type": "net.Socket", "msg": message}).encode() + b"\n"
        self.handles.append((line, sock, pid))
        self.flush_handles()

    def flush_handles(self):
        # node takes one handle at a time and acknowledges it (lib/internal/child_process.js).
        if self.awaiting_ack or not self.handles:
            return
        line, sock, pid = self.handles.pop(0)
        self.ipc.sendmsg([line], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [sock.fileno()]))])
        sock.close()
        self.awaiting_ack = True
        if pid in self.early_exits and not any(queued == pid for _, _, queued in self.handles):
            self.send({"t": "exit", "pid": pid, "code": self.early_exits.pop(pid)})

    def receive(self):
        data = self.ipc.recv(65536)
        if not data:
            return False
        self.inbox += data
        while b"\n" in self.inbox:
            line, self.inbox = self.inbox.split(b"\n", 1)
            message = _loads(line.decode())
            if isinstance(message, dict):
                self.on_message(message)
        return True

    def on_message(self, message):
        cmd = message.get("cmd")
        if cmd == "NODE_HANDLE_ACK" or cmd == "NODE_HANDLE_NACK":
            self.awaiting_ack = False
            self.flush_handles()
        elif message.get("t") == "fork" and isinstance(message.get("id"), str):
            self.forks.append(message["id"])
        elif message.get("t") == "kill" and message.get("pid") in self.children:
            # The child leads a process group of its own: what it started goes with it.
            for kill in (os.killpg, os.kill):
                try:
                    kill(message["pid"], signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def reap(self):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in self.children:
                self.children.discard(pid)
                code = os.waitstatus_to_exitcode(status)
                if any(queued == pid for _, _, queued in self.handles):
                    self.early_exits[pid] = code
                else:
                    self.send({"t": "exit", "pid": pid, "code": code})


def _dumps(value):
    from tern._wire import dumps

    return dumps(value)


def _loads(text):
    from tern._wire import loads

    return loads(text)


def _check(rc, what):
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, "%s: %s" % (what, os.strerror(err)))


def _write(path, text):
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _private_tmp(libc, tmp_bytes):
    """A user and mount namespace of the child's own, with a fresh /tmp and /dev/shm."""
    uid, gid = os.getuid(), os.getgid()
    _check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS), "unshare")
    _write("/proc/self/uid_map", "%d %d 1" % (uid, uid))
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/gid_map", "%d %d 1" % (gid, gid))
    options = ("size=%d,mode=1777" % tmp_bytes).encode()
    for target in (b"/tmp", b"/dev/shm"):
        _check(libc.mount(b"tmpfs", target, b"tmpfs", MS_NOSUID | MS_NODEV, options), "mount " + target.decode())


def _rename(instance_id):
    """Write the instance id over the zygote's placeholder argument, in the argv memory itself."""
    with open("/proc/self/stat", "rb") as f:
        after_comm = f.read().rsplit(b")", 1)[1].split()
    arg_start = int(after_comm[48 - 3])  # field 48 of proc(5), counting from field 3
    with open("/proc/self/cmdline", "rb") as f:
        cmdline = f.read()
    offset = cmdline.rfind(b"\0" + b"_" * NAME_SLOT) + 1
    if offset <= 0:
        return
    name = instance_id.encode()[:NAME_SLOT].ljust(NAME_SLOT, b"\0")
    ctypes.memmove(arg_start + offset, name, NAME_SLOT)


class _LandlockAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


def _landlock_domain(libc):
    """A Landlock domain of the child's own. The user namespace already keeps /proc/PID/mem,
    environ, root and cwd of siblings and the zygote out of reach (the kernel's capability check
    for ptrace access fails across namespaces); the domain repeats that (Landlock's ptrace rule)
    and, since ABI 6, keeps the child from signalling them or using their abstract sockets.
    Only the making of block devices is handled, which nothing in a sandbox may do anyway."""
    make_block = 1 << 11
    for size, scoped in ((24, 0b11), (8, 0)):  # ABI >= 6 with scopes, else the first form
        attr = _LandlockAttr(make_block, 0, scoped)
        fd = libc.syscall(444, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
        if fd >= 0:
            break
    else:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset: %s" % os.strerror(ctypes.get_errno()))
    try:
        _check(libc.syscall(446, fd, ctypes.c_uint32(0)), "landlock_restrict_self")
    finally:
        os.close(fd)


def _lock_down(libc, strict_filter):
    """No capabilities (bounding set included), a Landlock domain, not dumpable, the plain seccomp filter."""
    cap = 0
    while libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0:
        cap += 1
    _check(libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "prctl(PR_CAP_AMBIENT)")
    header = _CapHeader(CAP_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()
    _check(libc.capset(ctypes.byref(header), ctypes.byref(data)), "capset")
    _landlock_domain(libc)
    _check(libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "prctl(PR_SET_DUMPABLE)")
    program = ctypes.create_string_buffer(strict_filter, len(strict_filter))
    fprog = _SockFprog(len(strict_filter) // 8, ctypes.cast(program, ctypes.c_void_p))
    _check(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0), "prctl(PR_SET_SECCOMP)")


def _become_instance(zygote, wake, channel, loaded, function_name):
    """In the forked child: never returns."""
    code = 70
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in wake:
            os.close(fd)
        # Siblings' channels still waiting to go to the node: they carry the siblings' requests.
        for _, sock, _ in zygote.handles:
            sock.close()
        zygote.ipc.detach()
        os.dup2(channel.fileno(), 3)
        channel.close()
        os.setsid()
        # The OOM killer of the shared cgroup (zygote.ts) takes a child before the zygote.
        _write("/proc/self/oom_score_adj", "500")
        # The child's processes count in its own user namespace: the instance's pids limit.
        resource.setrlimit(resource.RLIMIT_NPROC, (zygote.pids_max, zygote.pids_max))
        _private_tmp(zygote.libc, zygote.tmp_bytes)
        _lock_down(zygote.libc, zygote.strict_filter)
        import tern_shim
        from tern._wire import Wire

        wire = Wire(3)
        # A spare until the node claims it for an instance (zygote.ts): then it learns its name.
        frame = wire.read()
        if frame is None or frame[0].get("t") != "instance" or not isinstance(frame[0].get("id"), str):
            code = 0
            return
        instance_id = frame[0]["id"]
        _rename(instance_id)
        os.environ["TERN_INSTANCE"] = instance_id
        sys.stdout = tern_shim._log_stream(wire, "stdout")
        sys.stderr = tern_shim._log_stream(wire, "stderr")
        handler, takes_ctx = loaded
        code = tern_shim.serve(wire, handler, takes_ctx, function_name, instance_id)
        tern_shim._flush_logs()
    except BaseException as e:
        try:
            os.write(2, ("tern zygote child: %s: %s\n" % (type(e).__name__, e)).encode())
        except Exception:
            pass
    finally:
        os._exit(code)


def _fork(zygote, wake, spare_id, loaded, function_name):
    # The shim protocol, and the child's own stdout and stderr (C code and subprocesses write there).
    pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(3)]
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        for ours, theirs in pairs:
            ours.close()
        (channel, out, err) = (theirs for _, theirs in pairs)
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        out.close()
        err.close()
        _become_instance(zygote, wake, channel, loaded, function_name)
    zygote.children.add(pid)
    for (ours, theirs), what in zip(pairs, ("channel", "stdout", "stderr")):
        theirs.close()
        zygote.send_handle({"t": "forked", "id": spare_id, "pid": pid, "fd": what}, ours, pid)


def main():
    fn_dir, handler_spec, function_name, zygote_id, tmp_bytes, pids_max = sys.argv[1:7]
    with open(STRICT_FILTER, "rb") as f:
        strict_filter = f.read()
    libc = ctypes.CDLL(None, use_errno=True)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import tern_shim

    tern_shim.enter(fn_dir)
    import tern  # noqa: F401  (children find it loaded)

    zygote = Zygote(socket.socket(fileno=3), libc, strict_filter, int(tmp_bytes), int(pids_max))
    try:
        loaded = tern_shim.load(handler_spec)
    except Exception as e:
        import traceback

        traceback.print_exc()
        zygote.send({"t": "init-error", "message": "%s: %s" % (type(e).__name__, e)})
        return 1
    wake = os.pipe()
    for fd in wake:
        os.set_blocking(fd, False)
    signal.set_wakeup_fd(wake[1])
    signal.signal(signal.SIGCHLD, lambda *_: None)
    zygote.send({"t": "ready", "pid": os.getpid(), "id": zygote_id})
    while True:
        readable, _, _ = select.select([zygote.ipc, wake[0]], [], [])
        if wake[0] in readable:
            while True:
                try:
                    if not os.read(wake[0], 512):
                        break
                except BlockingIOError:
                    break
            zygote.reap()
        if zygote.ipc in readable:
            if not zygote.receive():
                return 0
        while zygote.forks:
            _fork(zygote, wake, zygote.forks.pop(0), loaded, function_name)


if __name__ == "__main__":
    sys.exit(main())
