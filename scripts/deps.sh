#!/usr/bin/env bash
# Installs the Debian packages Holdfast builds and tests with, only those that are missing.
set -euo pipefail
packages=(build-essential cmake ccache pkg-config zlib1g-dev libspdlog-dev libfmt-dev
          libgtest-dev libgmock-dev libbenchmark-dev libasio-dev libcli11-dev
          clang libclang-rt-14-dev nlohmann-json3-dev libcurl4-openssl-dev etcd-server
          libfuse3-dev fuse3 libfaketime)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The java tests (ctest -L java) compile against the stock RocketMQ 4.9.8 client of the peer in
# ../shared when it is there: they need javac and the Debian jars that peer runs on.
peer="$(cd "$(dirname "$0")/.." && pwd)/../shared/peers/rocketmq-4.9.8"
if [ -d "$peer" ] && ! command -v javac >/dev/null 2>&1; then
  dpkg-query -W -f='${Status}' openjdk-17-jdk-headless 2>/dev/null | grep -q "install ok installed" \
    || missing+=(openjdk-17-jdk-headless)
fi
if [ ${#missing[@]} -ne 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}" || {
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
  }
fi
if [ -x "$peer/bin/deps.sh" ]; then
  "$peer/bin/deps.sh" >/dev/null || echo "warning: $peer/bin/deps.sh failed; the java tests will be skipped" >&2
fi
exit 0
