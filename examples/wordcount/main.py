"""wordcount: counts the words of a text stored in state (put it there with the `put` example or
PUT /v1/state/KEY) and answers {word: count}. The key is the path (/fn/wordcount/KEY) or ?key=KEY;
?pull=1 first pulls the text from the global tier (Redis) when the node has one."""
import re
from collections import Counter

from tern import Response

WORD = re.compile(r"[\w']+")


def handle(req, ctx):
    key = req.path.lstrip("/") or req.params.get("key", "")
    if not key:
        return Response("name a key: /fn/wordcount/KEY or ?key=KEY\n", status=400)
    if req.params.get("pull") == "1":
        ctx.state.pull(key)
    text = ctx.state.get(key)
    if text is None:
        return Response('no state "%s"\n' % key, status=404)
    return dict(Counter(w.lower() for w in WORD.findall(text.decode("utf-8", errors="replace"))))
