#!/bin/sh
# A CGI program: the request arrives in environment variables and on stdin;
# a header block, a blank line, then the body go to stdout.
printf 'Content-Type: text/plain\r\n'
printf 'X-Echo-Method: %s\r\n' "$REQUEST_METHOD"
printf '\r\n'
printf 'method: %s\n' "$REQUEST_METHOD"
printf 'path: %s\n' "$PATH_INFO"
printf 'query: %s\n' "$QUERY_STRING"
printf 'body: '
cat
printf '\n'
