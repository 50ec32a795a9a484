#!/usr/bin/env bash
# Screenshot of a compare_runs report page with headless Chromium (how docs/img/compare_report.png
# was made):
#   utils/screenshot_report.sh REPORT_DIR OUT.png [WIDTHxHEIGHT]   (default 1200x1600 pixels)
# REPORT_DIR holds index.html (python -m pylib.bin.compare_runs ... --out REPORT_DIR, or a recipe's
# exp/<tag>_report/ after --seeds). The browser is $CHROMIUM, else chromium or chromium-browser on
# PATH; it runs sandbox-less, offline and with a throw-away profile, and reads the page as a file.
set -euo pipefail
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 REPORT_DIR OUT.png [WIDTHxHEIGHT]" >&2
  exit 2
fi
report=$1 out=$2 size=${3:-1200x1600}
[ -f "$report/index.html" ] || { echo "$0: $report/index.html not found: give the --out folder of pylib.bin.compare_runs" >&2; exit 2; }
[[ "$size" =~ ^[0-9]+x[0-9]+$ ]] || { echo "$0: size '$size': give WIDTHxHEIGHT in pixels, e.g. 1200x1600" >&2; exit 2; }
browser=${CHROMIUM:-}
if [ -z "$browser" ]; then
  browser=$(command -v chromium || command -v chromium-browser || true)
fi
if [ -z "$browser" ] || ! [ -x "$(command -v "$browser" || true)" ]; then
  echo "$0: no Chromium found (tried \$CHROMIUM, chromium, chromium-browser): install it (e.g." \
    "apt-get install chromium) or set CHROMIUM to its path" >&2
  exit 2
fi
mkdir -p "$(dirname "$out")"
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
page="file://$(cd "$report" && pwd)/index.html"
out_abs="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
tmp="$out_abs.tmp.png"
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync --hide-scrollbars \
  --user-data-dir="$profile" --window-size="${size/x/,}" --screenshot="$tmp" "$page" >/dev/null 2>&1 || true
[ -s "$tmp" ] || { echo "$0: $browser wrote no screenshot of $page" >&2; rm -f "$tmp"; exit 1; }
mv -f "$tmp" "$out_abs"
echo "wrote $out ($(wc -c <"$out_abs") bytes) of $page"
