#!/bin/sh
# busybox httpd runs /cgi-bin/index.cgi for a directory without index.html: "/" says hello too.
exec /www/cgi-bin/hello
