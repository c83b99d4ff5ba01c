#!/usr/bin/env bash
# install-tusjs.sh installs tus-js-client, the stock JavaScript tus client
# (browsers, React Native, Node), pinned, into .tools/node/node_modules,
# idempotently. server/http/tusjs_test.go drives it with node against the
# real server, to show a third-party tus client uploads photos unchanged.
#
# It needs node and npm (on the project's machines; else Debian's nodejs
# and npm, with root). Without them it says so and exits 0: the test then
# skips, except under CI, where it fails.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=4.3.1
DIR=.tools/node
if grep -qs "\"version\": \"$VERSION\"" "$DIR/node_modules/tus-js-client/package.json"; then
	echo "tus-js-client $VERSION already installed"
	exit 0
fi
if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
	if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
		echo "install-tusjs: need node and npm (or root and apt-get to install them); the tus-js-client test will skip (and fail under CI)" >&2
		exit 0
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq nodejs npm >/dev/null
fi
echo "installing tus-js-client $VERSION"
mkdir -p "$DIR"
npm install --prefix "$DIR" --no-audit --no-fund --no-save --loglevel=error "tus-js-client@$VERSION"
