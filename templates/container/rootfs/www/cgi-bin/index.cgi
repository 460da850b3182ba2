#!/bin/sh
# GET / lands here (busybox httpd runs cgi-bin/index.cgi for a folder without index.html); add more
# scripts in cgi-bin/ (reached as /fn/NAME/cgi-bin/SCRIPT). CRLF ends the CGI headers.
printf 'Content-Type: text/plain\r\n\r\n'
echo "Hello from a container! method=$REQUEST_METHOD path=$REQUEST_URI"
