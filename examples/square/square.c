// square: the square of the integer in the body (or ?x=), as text. The fan-out example's worker.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
  char buf[64] = {0};
  size_t n = fread(buf, 1, sizeof buf - 1, stdin);
  buf[n] = 0;
  const char *q = getenv("QUERY_STRING");
  const char *text = n > 0 ? buf : (q && strncmp(q, "x=", 2) == 0 ? q + 2 : "0");
  long long x = strtoll(text, NULL, 10);
  printf("Content-Type: text/plain\n\n%lld", x * x);
  return 0;
}
