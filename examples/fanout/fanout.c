// fanout: calls `square` for i = 0..n-1 as chained calls, all started before any is awaited
// (tern_chain_async + tern_await), and sums the results: {"n": N, "sum": S}.
// ?n=N (default 10, at most 100: the default queue of square bounds how many wait at once); ?sync=1 calls them one after another instead.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tern.h"

static long query_long(const char *name, long fallback) {
  const char *q = getenv("QUERY_STRING");
  size_t len = strlen(name);
  for (const char *p = q; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
    if (strncmp(p, name, len) == 0 && p[len] == '=') return strtol(p + len + 1, NULL, 10);
  }
  return fallback;
}

static int fail(int32_t status, const char *body) {
  printf("Status: 502 Bad Gateway\nContent-Type: text/plain\n\nsquare failed (%d): %s\n", (int)status, status < 0 ? tern_strerror() : body);
  return 0;
}

int main(void) {
  long n = query_long("n", 10);
  int sync = query_long("sync", 0) != 0;
  if (n < 0 || n > 100) {
    printf("Status: 400 Bad Request\nContent-Type: text/plain\n\nn must be 0..100\n");
    return 0;
  }
  int32_t *handles = malloc(sizeof(int32_t) * (size_t)(n > 0 ? n : 1));
  char in[32], out[64];
  long long sum = 0;
  for (long i = 0; i < n && !sync; i++) {
    int len = snprintf(in, sizeof in, "%ld", i);
    handles[i] = tern_chain_async("square", in, (uint32_t)len);
    if (handles[i] < 0) return fail(handles[i], "");
  }
  for (long i = 0; i < n; i++) {
    uint32_t out_len = 0;
    int32_t status;
    if (sync) {
      int len = snprintf(in, sizeof in, "%ld", i);
      status = tern_chain("square", in, (uint32_t)len, out, sizeof out - 1, &out_len);
    } else {
      status = tern_await(handles[i], out, sizeof out - 1, &out_len);
    }
    out[out_len < sizeof out ? out_len : sizeof out - 1] = 0;
    if (status != 200) return fail(status, out);
    sum += strtoll(out, NULL, 10);
  }
  free(handles);
  printf("Content-Type: application/json\n\n{\"n\": %ld, \"sum\": %lld}\n", n, sum);
  return 0;
}
