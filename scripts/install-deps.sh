#!/usr/bin/env bash
# Installs every Debian and npm package that mlcc's build and tests need. Idempotent: packages
# already present are not touched, so `make chat` / `make test` can call it every time.
set -euo pipefail

DEBIAN_PACKAGES=(
  build-essential cmake pkg-config git
  libjansson-dev libpcre2-dev libutf8proc-dev libdlpack-dev libevent-dev
  libcurl4-openssl-dev libssl-dev libedit-dev libopenblas-dev zlib1g-dev
  clang libclang-rt-14-dev
  python3 python3-jinja2 python3-jsonschema curl nodejs npm tmux
  # the Vulkan backend: loader, headers, GLSL compiler, and lavapipe (Vulkan on the CPU) for CI
  libvulkan1 libvulkan-dev glslang-tools mesa-vulkan-drivers vulkan-tools
  # the ARM (NEON, dotprod) CPU intrinsics: cross-compiled and run under qemu in the tests
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
)

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    # nodejs/npm may come from elsewhere on the machine (e.g. a preinstalled Node.js).
    if { [ "$p" = nodejs ] && command -v node >/dev/null; } ||
       { [ "$p" = npm ] && command -v npm >/dev/null; }; then
      continue
    fi
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm test peers (Hugging Face tokenizers, ...), pinned in tests/peers/package.json.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
peers="$here/tests/peers"
if [ -f "$peers/package.json" ] && command -v npm >/dev/null; then
  stamp="$peers/node_modules/.mlcc-installed"
  if [ ! -f "$stamp" ] || [ "$peers/package.json" -nt "$stamp" ]; then
    echo "install-deps: npm install in tests/peers"
    (cd "$peers" && npm install --no-audit --no-fund --loglevel=error) && touch "$stamp"
  fi
fi
