// The state key a request names: PATH_INFO ("/KEY") or QUERY_STRING ("key=KEY"), for the put/get examples.
#ifndef TERN_REQUEST_KEY_H
#define TERN_REQUEST_KEY_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Copies the key into out (cap bytes); returns 0 when the request names none or it does not fit.
static int key_of_request(char *out, size_t cap) {
  const char *path = getenv("PATH_INFO");
  if (path && path[0] == '/' && path[1]) {
    snprintf(out, cap, "%s", path + 1);
    return 1;
  }
  const char *q = getenv("QUERY_STRING");
  for (const char *p = q; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
    if (strncmp(p, "key=", 4) == 0) {
      size_t n = strcspn(p + 4, "&");
      if (n == 0 || n >= cap) return 0;
      memcpy(out, p + 4, n);
      out[n] = 0;
      return 1;
    }
  }
  return 0;
}

#endif
