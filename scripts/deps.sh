#!/usr/bin/env bash
# Installs the Debian packages Holdfast builds and tests with, only those that are missing.
set -euo pipefail
packages=(build-essential cmake ccache pkg-config zlib1g-dev libspdlog-dev libfmt-dev
          libgtest-dev libgmock-dev libbenchmark-dev libasio-dev libcli11-dev
          clang libclang-rt-14-dev nlohmann-json3-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y --no-install-recommends "${missing[@]}" || {
  $SUDO apt-get update
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
}
