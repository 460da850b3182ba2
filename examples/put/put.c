// put: stores the request body under a state key, as in Faasm's demo.
// The key is the path after the function name (/fn/put/KEY) or ?key=KEY; with ?push=1 the value
// is then pushed to the global tier (Redis, when the node has one), for other nodes to pull.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "request-key.h"
#include "tern.h"

int main(void) {
  char key[256];
  if (!key_of_request(key, sizeof key)) {
    printf("Status: 400 Bad Request\nContent-Type: text/plain\n\nname a key: /fn/put/KEY or ?key=KEY\n");
    return 0;
  }
  size_t cap = 64 * 1024, len = 0;
  char *body = malloc(cap);
  for (size_t n; body && (n = fread(body + len, 1, cap - len, stdin)) > 0;) {
    len += n;
    if (len == cap) body = realloc(body, cap *= 2);
  }
  if (!body) return 1;
  int32_t r = tern_set(key, body, (uint32_t)len);
  if (r < 0) {
    printf("Status: %s\nContent-Type: text/plain\n\n%s\n", r == TERN_EINVAL ? "400 Bad Request" : r == TERN_ETOOBIG ? "413 Payload Too Large" : "503 Service Unavailable", tern_strerror());
    return 0;
  }
  const char *q = getenv("QUERY_STRING");
  int push = q && (strstr(q, "push=1") != NULL);
  if (push && tern_push(key) < 0) {
    printf("Status: 503 Service Unavailable\nContent-Type: text/plain\n\npush failed: %s\n", tern_strerror());
    return 0;
  }
  printf("Content-Type: text/plain\n\nstored %d bytes under %s%s\n", (int)r, key, push ? " and pushed it" : "");
  return 0;
}
