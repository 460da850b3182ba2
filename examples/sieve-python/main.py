"""Sieve of Eratosthenes: the number of primes up to N and the largest of them."""
DEFAULT_N = 10_000
MAX_N = 10_000_000


def bad(message):
    return {"status": 400, "body": {"error": message}}


def handle(req):
    raw = req.params.get("n") or req.text().strip() or str(DEFAULT_N)
    try:
        n = int(raw)
    except ValueError:
        return bad("n must be an integer, not %r" % raw[:40])
    if not 0 <= n <= MAX_N:
        return bad("n must be from 0 to %d" % MAX_N)
    if n < 2:
        return {"n": n, "count": 0, "last": None}
    sieve = bytearray([1]) * (n + 1)
    sieve[0] = sieve[1] = 0
    i = 2
    while i * i <= n:
        if sieve[i]:
            sieve[i * i :: i] = bytes(len(range(i * i, n + 1, i)))
        i += 1
    return {"n": n, "count": sieve.count(1), "last": sieve.rindex(1)}
