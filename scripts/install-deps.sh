#!/usr/bin/env bash
# Installs what the tests need beyond Go, Java and Maven: promtool (Debian
# package "prometheus"), used to check the /metrics output. Idempotent.
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
	exit 0
fi
echo "installing promtool (Debian package prometheus)…"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
command -v promtool >/dev/null 2>&1 || { echo "promtool still missing after installing prometheus" >&2; exit 1; }
