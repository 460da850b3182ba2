// The smallest Tern wasm function: a WASI command that writes a CGI response to stdout.
#include <stdio.h>

int main(void) {
  fputs("Content-Type: text/plain\n\nHello from wasm!\n", stdout);
  return 0;
}
