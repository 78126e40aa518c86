#!/usr/bin/env bash
# Installs the dependencies, builds routeheap and runs every test (unit and integration) with CTest.
# Usage: scripts/test.sh [extra ctest arguments, e.g. -L integration or -R report]
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${ROUTEHEAP_BUILD_DIR:-$REPO_DIR/build}"

bash "$REPO_DIR/scripts/setup.sh"

# Each test also carries its own TIMEOUT property; this limit only catches a test without one.
ctest --test-dir "$BUILD_DIR" --output-on-failure --no-tests=error \
  -j"$(nproc)" --timeout 900 "$@"
