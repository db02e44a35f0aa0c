#!/usr/bin/env bash
# Installs what the tests need beyond Go, Java and Maven, from Debian's
# packages: promtool (package "prometheus"), used to check the /metrics
# output, and Alertmanager (package "prometheus-alertmanager"), which the
# notifier's tests deliver to. Idempotent; the packages' services are not
# started (tests start their own Alertmanager on loopback).
set -euo pipefail

missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
echo "installing ${missing[*]} (Debian packages)…"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
command -v promtool >/dev/null 2>&1 || { echo "promtool still missing after installing prometheus" >&2; exit 1; }
command -v prometheus-alertmanager >/dev/null 2>&1 || { echo "prometheus-alertmanager still missing after installing it" >&2; exit 1; }
