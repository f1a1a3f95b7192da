#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium for tests/test_mlflow_ui.py.
# Idempotent: does nothing when /usr/bin/chromium is already there, so CI can call it on every run.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y chromium chromium-driver
