"""{{name}}: a Tern python function.

handle(req) runs once per call. req has method, path, query (the raw string), params (the
parsed query), headers, body (bytes), text() and json(). Return a str or bytes (the body), a
dict or list (sent as JSON), or tern.Response(body, status, headers). print() goes to the logs.
Ship dependencies in requirements.txt with their wheels in wheels/ (installed at deploy).
"""
import os


def handle(req, ctx):
    name = req.params.get("name") or req.text().strip() or "world"
    print("greeting", name, "in call", ctx.call_id)
    return {"message": "%s, %s!" % (os.environ.get("GREETING", "Hello"), name), "function": ctx.function}
