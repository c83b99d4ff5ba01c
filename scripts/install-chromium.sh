#!/usr/bin/env bash
# install-chromium.sh installs Debian's headless-capable Chromium, its
# driver, its Chinese locale and a CJK font for the station dashboard's browser tests
# (server/web), idempotently. The tests drive /usr/bin/chromium with
# chromedp; the font makes the Chinese pages render in the screenshots.
#
# It needs root (CI and the dev machines run as root) and apt. Without
# them it says so and exits 0: the browser tests then skip, except under
# CI, where a missing Chromium fails them.
set -euo pipefail

packages=(chromium chromium-driver chromium-l10n fonts-wqy-zenhei)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
	exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
	echo "install-chromium: need root and apt-get to install ${missing[*]}; the dashboard browser tests will skip (and fail under CI)" >&2
	exit 0
fi
echo "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
/usr/bin/chromium --version
