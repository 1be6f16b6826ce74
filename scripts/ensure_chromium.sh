#!/usr/bin/env bash
# The report is tested in a real browser: install Debian's Chromium when it is missing.
# Without root or network the browser test skips with a clear message instead.
set -u
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "warning: could not install chromium; the browser test will be skipped"
else
  echo "warning: chromium not found and cannot be installed here; the browser test will be skipped"
fi
exit 0
