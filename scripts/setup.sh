#!/usr/bin/env bash
# Installs what routeheap needs on Debian 12, prepares the sample's real CSV data and builds the
# project. Safe to rerun: each step checks first and is skipped when its result is already there.
# Usage: scripts/setup.sh [--no-build]   (ROUTEHEAP_BUILD_DIR overrides the build folder)
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${ROUTEHEAP_BUILD_DIR:-$REPO_DIR/build}"
SAMPLE_DIR="$REPO_DIR/samples/node-routes"

# The ASN data comes from the npm package @ip-location-db/asn at the exact version pinned in
# samples/node-routes/package-lock.json. Update both sums together with the pin.
ASN_SOURCE="$SAMPLE_DIR/node_modules/@ip-location-db/asn/asn-ipv4.csv"
ASN_SOURCE_SHA256="76afd7f575bc22d3b3d52f4666fb1ec20c254948829c8f23b1ecc8b8856106d5"
ASN_HEADER="ip_range_start,ip_range_end,autonomous_system_number,autonomous_system_organization"
ASN_DATA="$SAMPLE_DIR/data/asn-ipv4.csv"
OUI_DATA="/usr/share/ieee-data/oui.csv"

BUILD_PACKAGES=(cmake g++ make pkg-config git libunwind-dev libboost-program-options-dev
  nlohmann-json3-dev libzstd-dev zlib1g-dev libdw-dev libgtest-dev curl ieee-data ca-certificates
  libcurl4-openssl-dev qt6-base-dev qt6-charts-dev qt6-svg-dev libqt6opengl6-dev heaptrack binutils)

log() { printf 'setup: %s\n' "$*"; }
fail() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

package_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

install_packages() {
  local wanted=("${BUILD_PACKAGES[@]}")
  # Debian 12's nodejs is v18. An existing node (for example v20 from NodeSource) is kept as it is.
  if ! command -v node >/dev/null 2>&1; then
    wanted+=(nodejs npm)
  fi

  local missing=()
  local package
  for package in "${wanted[@]}"; do
    package_installed "$package" || missing+=("$package")
  done
  if ((${#missing[@]} == 0)); then
    log "Debian packages: all present"
    return
  fi

  if ((EUID != 0)); then
    fail "missing Debian packages: ${missing[*]}. Run this script as root, or install them with: apt-get install ${missing[*]}"
  fi
  log "installing Debian packages: ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

check_node() {
  command -v node >/dev/null 2>&1 || fail "node not found after installing nodejs: check the apt-get output above"
  command -v npm >/dev/null 2>&1 ||
    fail "node $(node --version) is installed but npm is not: install the npm that belongs to this node (for NodeSource builds, reinstall their nodejs package; for Debian's nodejs, apt-get install npm)"
  local major
  major="$(node -p 'process.versions.node.split(".")[0]')"
  ((major >= 18)) || fail "node $(node --version) is too old: the sample server needs Node 18 or newer (tested with 20)"
  log "node $(node --version), npm $(npm --version)"
}

# npm ci deletes node_modules and reinstalls from the lock, so it runs only when the lock file
# differs from the one recorded in node_modules by the previous run. Argument: the package folder
# (default: the sample server's).
install_node_modules() {
  local package_dir="${1:-$SAMPLE_DIR}"
  local lock="$package_dir/package-lock.json"
  local stamp="$package_dir/node_modules/.routeheap-lock.sha256"
  [[ -f "$lock" ]] || fail "missing $lock: restore it with git checkout -- ${lock#"$REPO_DIR"/}"

  local lock_sum
  lock_sum="$(sha256sum "$lock" | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$lock_sum" ]]; then
    log "npm packages: up to date with package-lock.json"
    return
  fi

  log "npm ci in ${package_dir#"$REPO_DIR"/}"
  (cd "$package_dir" && npm ci --no-audit --no-fund --loglevel=error </dev/null)
  printf '%s\n' "$lock_sum" >"$stamp"
}

prepare_asn_data() {
  [[ -f "$ASN_SOURCE" ]] ||
    fail "missing $ASN_SOURCE after npm ci: remove samples/node-routes/node_modules and rerun this script"

  local actual
  actual="$(sha256sum "$ASN_SOURCE" | cut -d' ' -f1)"
  if [[ "$actual" != "$ASN_SOURCE_SHA256" ]]; then
    fail "sha256 mismatch for $ASN_SOURCE: expected $ASN_SOURCE_SHA256, got $actual. The npm package differs from the pinned one: remove samples/node-routes/node_modules and rerun; if the pin in package-lock.json was changed on purpose, update ASN_SOURCE_SHA256 in scripts/setup.sh"
  fi

  # The package's file has no header row. The data file is the header plus the package's file,
  # rebuilt whenever it is not exactly that.
  local expected_size=$(($(stat -c %s "$ASN_SOURCE") + ${#ASN_HEADER} + 1))
  if [[ -f "$ASN_DATA" && "$(stat -c %s "$ASN_DATA")" == "$expected_size" ]] &&
    cmp -s <(tail -c +"$((${#ASN_HEADER} + 2))" "$ASN_DATA") "$ASN_SOURCE"; then
    log "data: $ASN_DATA is up to date"
    return
  fi

  mkdir -p "$(dirname "$ASN_DATA")"
  local partial="$ASN_DATA.partial"
  { printf '%s\n' "$ASN_HEADER"; cat "$ASN_SOURCE"; } >"$partial"
  mv -f "$partial" "$ASN_DATA"
  log "data: wrote $ASN_DATA ($(stat -c %s "$ASN_DATA") bytes, $(wc -l <"$ASN_DATA") lines with the header)"
}

check_oui_data() {
  [[ -s "$OUI_DATA" ]] || fail "missing $OUI_DATA: install the Debian package ieee-data (apt-get install ieee-data)"
  log "data: $OUI_DATA ($(stat -c %s "$OUI_DATA") bytes)"
}

build_project() {
  local werror=OFF
  if [[ -n "${CI:-}" ]]; then
    werror=ON
  fi
  log "building in $BUILD_DIR (RelWithDebInfo, ROUTEHEAP_WERROR=$werror)"
  cmake -S "$REPO_DIR" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DROUTEHEAP_WERROR="$werror" >/dev/null
  cmake --build "$BUILD_DIR" -j"$(nproc)"
}

main() {
  local build=1
  case "${1:-}" in
    "") ;;
    --no-build) build=0 ;;
    -h | --help)
      sed -n '2,4s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
      exit 0
      ;;
    *) fail "unknown option '$1': the only option is --no-build" ;;
  esac

  install_packages
  check_node
  install_node_modules
  install_node_modules "$REPO_DIR/samples/stream-processor"  # csv-spectrum for the csv2json tests
  if [[ -f "$REPO_DIR/samples/nextjs-app/package-lock.json" ]]; then
    install_node_modules "$REPO_DIR/samples/nextjs-app"
  fi
  prepare_asn_data
  check_oui_data
  if ((build)); then
    build_project
  fi
}

main "$@"
