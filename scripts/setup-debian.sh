#!/bin/sh
# Installs what cgibench's reference apps, tests and benchmark scripts use on Debian/Ubuntu:
# compilers and libraries for the C apps, the interpreters, FastCGI libraries, and the servers
# and load generators the comparison scripts start. Safe to run again.
set -eu
SUDO=
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
	ca-certificates gcc libc6-dev libfcgi-dev libfcgi-bin libfcgi-perl \
	python3 perl lua5.4 php-cgi ruby dash \
	lighttpd spawn-fcgi wrk curl procps >/dev/null
echo "setup-debian: installed compilers, interpreters, libfcgi, lighttpd, spawn-fcgi and wrk"
