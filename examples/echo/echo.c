// Echoes the request back as JSON: method, path, query, body, the X-Test header and the whole
// CGI environment, so a caller can see exactly what a wasm function receives.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

static void json_string(const char *s, size_t len) {
  putchar('"');
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') printf("\\%c", c);
    else if (c == '\n') fputs("\\n", stdout);
    else if (c == '\r') fputs("\\r", stdout);
    else if (c == '\t') fputs("\\t", stdout);
    else if (c < 0x20) printf("\\u%04x", c);
    else putchar(c);
  }
  putchar('"');
}

static void json_env(const char *name) {
  const char *v = getenv(name);
  if (v) json_string(v, strlen(v));
  else fputs("null", stdout);
}

int main(void) {
  size_t cap = 4096, len = 0;
  char *body = malloc(cap);
  size_t n;
  while (body && (n = fread(body + len, 1, cap - len, stdin)) > 0) {
    len += n;
    if (len == cap) body = realloc(body, cap *= 2);
  }
  if (!body) return 1;

  fputs("Content-Type: application/json\n\n{\"method\":", stdout);
  json_env("REQUEST_METHOD");
  fputs(",\"path\":", stdout);
  json_env("PATH_INFO");
  fputs(",\"query\":", stdout);
  json_env("QUERY_STRING");
  fputs(",\"xTest\":", stdout);
  json_env("HTTP_X_TEST");
  fputs(",\"body\":", stdout);
  json_string(body, len);
  fputs(",\"env\":{", stdout);
  for (char **e = environ; *e; e++) {
    const char *eq = strchr(*e, '=');
    if (!eq) continue;
    if (e != environ) putchar(',');
    json_string(*e, (size_t)(eq - *e));
    putchar(':');
    json_string(eq + 1, strlen(eq + 1));
  }
  fputs("}}\n", stdout);
  return 0;
}
