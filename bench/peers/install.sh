#!/usr/bin/env bash
# Install the peers for bench/peers/run.py from the package registries, into gitignored folders:
#   bench/peers/node-red/    Node-RED + node-red-contrib-modbus (npm)
#   bench/peers/tb-gateway/  ThingsBoard IoT Gateway in its own venv (PyPI)
# Idempotent: a peer already installed at the pinned version is left alone.
set -euo pipefail
cd "$(dirname "$0")"

NODE_RED_VERSION=4.1.15
# 5.23.3 is the newest node-red-contrib-modbus whose dependencies all come from the npm registry:
# 5.45.2 and 5.60.2 depend on a tarball hosted outside the npm registry (npm: ENOTFOUND here).
NR_MODBUS_VERSION=5.23.3
TBG_VERSION=3.8.5
# the Modbus connector pip-installs exactly this pymodbus on first start unless it is already there
TBG_PYMODBUS=3.9.2
PYTHON=${PYTHON:-python3}

command -v mosquitto >/dev/null || { echo "mosquitto not found (apt-get install mosquitto)" >&2; exit 1; }

have_npm() { [ -f "node-red/node_modules/$1/package.json" ] &&
  grep -q "\"version\": *\"$2\"" "node-red/node_modules/$1/package.json"; }

if command -v npm >/dev/null && command -v node >/dev/null; then
  if have_npm node-red "$NODE_RED_VERSION" && have_npm node-red-contrib-modbus "$NR_MODBUS_VERSION"; then
    echo "node-red $NODE_RED_VERSION + node-red-contrib-modbus $NR_MODBUS_VERSION: already installed"
  else
    mkdir -p node-red
    [ -f node-red/package.json ] || echo '{"name":"peer-node-red","private":true}' > node-red/package.json
    (cd node-red && npm install --no-audit --no-fund \
      "node-red@$NODE_RED_VERSION" "node-red-contrib-modbus@$NR_MODBUS_VERSION")
  fi
else
  echo "node/npm not found: Node-RED will be reported as not installed" >&2
fi

tbg_installed=$(tb-gateway/venv/bin/pip show thingsboard-gateway 2>/dev/null || true)
if [[ "$tbg_installed" == *"Version: $TBG_VERSION"* ]]; then
  echo "thingsboard-gateway $TBG_VERSION: already installed"
else
  mkdir -p tb-gateway
  "$PYTHON" -m venv tb-gateway/venv
  tb-gateway/venv/bin/pip install --quiet "thingsboard-gateway==$TBG_VERSION" \
    "pymodbus==$TBG_PYMODBUS" pyserial pyserial-asyncio
  echo "thingsboard-gateway $TBG_VERSION: installed"
fi
echo "peers installed under $(pwd)"
