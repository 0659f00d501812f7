#!/usr/bin/env bash
# The annual administrative-litigation chart labels agencies in Chinese: install a CJK font
# (WenQuanYi Micro Hei, ~5 MB) when none is present and we may (root with apt). Without one
# the chart is still drawn, its Chinese labels as boxes. Never fails the build by itself.
set -u
if command -v fc-list >/dev/null 2>&1 && [ -n "$(fc-list :lang=zh 2>/dev/null)" ]; then exit 0; fi
if [ -n "$(find /usr/share/fonts -iname '*wqy*' -o -iname '*cjk*' 2>/dev/null | head -n1)" ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing fonts-wqy-microhei (Chinese labels in charts)"
  (apt-get install -y -qq --no-install-recommends fonts-wqy-microhei >/dev/null 2>&1 \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fonts-wqy-microhei >/dev/null; }) || true
else
  echo "note: no Chinese font found; charts will show boxes for Chinese labels (install fonts-wqy-microhei)"
fi
exit 0
