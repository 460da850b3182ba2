// A Tern wasm function. It is a WASI command: main() runs once per request, in a fresh instance.
//   request:  the body on stdin; REQUEST_METHOD, PATH_INFO, QUERY_STRING, CONTENT_TYPE and
//             HTTP_<HEADER> (e.g. HTTP_X_TEST) in the environment, plus `env` from function.toml
//   response: CGI headers ("Content-Type: ...", optionally "Status: 404 Not Found"), a blank
//             line, then the body, all on stdout. Exit non-zero (or crash) and the caller gets 502;
//             stderr goes to the function's logs (tern logs NAME).
#include <stdio.h>
#include <stdlib.h>

static const char *env(const char *name, const char *fallback) {
  const char *v = getenv(name);
  return v ? v : fallback;
}

int main(void) {
  printf("Content-Type: text/plain\n\n");
  printf("Hello from %s! You sent %s %s\n", env("TERN_FUNCTION", "wasm"), env("REQUEST_METHOD", "?"), env("PATH_INFO", "/"));
  return 0;
}
