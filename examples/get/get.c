// get: returns the value stored under a state key (404 when there is none).
// The key is the path after the function name (/fn/get/KEY) or ?key=KEY; with ?pull=1 the value
// is first pulled from the global tier (Redis, when the node has one).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "request-key.h"
#include "tern.h"

int main(void) {
  char key[256];
  if (!key_of_request(key, sizeof key)) {
    printf("Status: 400 Bad Request\nContent-Type: text/plain\n\nname a key: /fn/get/KEY or ?key=KEY\n");
    return 0;
  }
  const char *q = getenv("QUERY_STRING");
  if (q && strstr(q, "pull=1") != NULL) {
    int32_t pulled = tern_pull(key);
    if (pulled < 0 && pulled != TERN_ENOTFOUND) {
      printf("Status: 503 Service Unavailable\nContent-Type: text/plain\n\npull failed: %s\n", tern_strerror());
      return 0;
    }
  }
  int32_t len = 0;
  char *value = tern_get_alloc(key, &len);
  if (!value) {
    if (len == TERN_ENOTFOUND) printf("Status: 404 Not Found\nContent-Type: text/plain\n\nno state \"%s\"\n", key);
    else printf("Status: 400 Bad Request\nContent-Type: text/plain\n\n%s\n", tern_strerror());
    return 0;
  }
  printf("Content-Type: application/octet-stream\n\n");
  fwrite(value, 1, (size_t)len, stdout);
  free(value);
  return 0;
}
