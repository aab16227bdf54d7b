#!/usr/bin/env bash
# Installs the Debian packages the tests and checks use, only those missing (idempotent):
# Chromium and ChromeDriver (dashboard end-to-end test), promtool (deploy/prometheus checks),
# Alertmanager (bridge tests), openssl (the secure broker's throw-away CA), kcat and jq (input
# from a client that is not ours: compression codecs, unreadable batches, consumer examples).
#
#   deploy/local/system-deps.sh            # everything
#   deploy/local/system-deps.sh prometheus # only what `make check-deploy` needs
set -euo pipefail

# package -> the file that shows it is installed
declare -A marker=(
  [chromium]=/usr/bin/chromium
  [chromium-driver]=/usr/bin/chromedriver
  [prometheus]=/usr/bin/promtool
  [prometheus-alertmanager]=/usr/bin/prometheus-alertmanager
  [openssl]=/usr/bin/openssl
  [kcat]=/usr/bin/kcat
  [jq]=/usr/bin/jq
)
wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(chromium chromium-driver prometheus prometheus-alertmanager openssl kcat jq)

missing=()
for pkg in "${wanted[@]}"; do
  [ -x "${marker[$pkg]}" ] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  run=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  run=(sudo -n)
else
  echo "system-deps: missing Debian packages: ${missing[*]}" >&2
  echo "system-deps: install them (apt-get install ${missing[*]}) or run as root" >&2
  exit 1
fi
echo "system-deps: installing ${missing[*]}" >&2
"${run[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${run[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
