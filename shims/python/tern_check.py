"""Tern's deploy-time load check: imports the handler as an instance would, then exits.

argv: FUNCTION_DIR HANDLER
Exit 0 when the handler loads. Otherwise exit 1 with one last line on stderr:
"tern-check: FILE:LINE: Type: message" (FILE relative to the function folder; ":LINE" only
when known), so the node can refuse the deploy naming where the problem is."""
import os
import sys
import traceback


def _where(error, fn_dir):
    """The file and line in the function's own code where loading failed."""
    if isinstance(error, SyntaxError) and error.filename:
        return error.filename, error.lineno
    inside = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.startswith(fn_dir + os.sep)]
    if inside:
        return inside[-1].filename, inside[-1].lineno
    return None, None


def main():
    fn_dir, handler_spec = sys.argv[1:3]
    shim_dir = os.path.dirname(os.path.abspath(__file__))
    sys.path[:0] = [shim_dir, fn_dir, os.path.join(fn_dir, ".deps")]
    os.chdir(fn_dir)
    from tern_shim import _load

    try:
        _load(handler_spec)
    except BaseException as error:  # noqa: B036 - SystemExit at import time is a load failure too
        path, line = _where(error, fn_dir)
        where = ""
        if path:
            where = os.path.relpath(path, fn_dir) + (":%d" % line if line else "") + ": "
        message = error.msg if isinstance(error, SyntaxError) else str(error)
        sys.stderr.write("\ntern-check: %s%s: %s\n" % (where, type(error).__name__, message))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
