// The tinyFaaS sieve benchmark: primes up to N by the sieve of Eratosthenes.
// N comes from the request body, else from ?n=, else 10000; at most 10,000,000.
// Replies {"n":N,"count":C,"last":P}: how many primes are <= N and the largest of them.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_N 10000L
#define MAX_N 10000000L

static void fail(const char *why) {
  printf("Status: 400 Bad Request\nContent-Type: application/json\n\n{\"error\":\"%s\"}\n", why);
  exit(0);
}

// A decimal number alone (surrounding spaces allowed); -1 when it is not one.
static long parse_n(const char *s, size_t len) {
  long n = 0;
  size_t i = 0;
  while (i < len && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) i++;
  size_t digits = 0;
  for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
    if (n > MAX_N) return MAX_N + 1;
    n = n * 10 + (s[i] - '0');
  }
  while (i < len && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) i++;
  return digits > 0 && i == len ? n : -1;
}

static long n_from_query(void) {
  const char *q = getenv("QUERY_STRING");
  for (const char *p = q; p && *p;) {
    const char *end = strchr(p, '&');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len > 2 && strncmp(p, "n=", 2) == 0) return parse_n(p + 2, len - 2);
    p = end ? end + 1 : NULL;
  }
  return DEFAULT_N;
}

int main(void) {
  char body[64];
  size_t len = fread(body, 1, sizeof body, stdin);
  long n = len > 0 ? parse_n(body, len) : n_from_query();
  if (n < 0) fail("N must be a whole number");
  if (n > MAX_N) fail("N must be at most 10000000");

  long count = 0, last = 0;
  if (n >= 2) {
    unsigned char *composite = calloc((size_t)n + 1, 1);
    if (!composite) fail("out of memory");
    for (long i = 2; i * i <= n; i++)
      if (!composite[i])
        for (long j = i * i; j <= n; j += i) composite[j] = 1;
    for (long i = 2; i <= n; i++)
      if (!composite[i]) {
        count++;
        last = i;
      }
  }
  printf("Content-Type: application/json\n\n{\"n\":%ld,\"count\":%ld,\"last\":%ld}\n", n, count, last);
  return 0;
}
