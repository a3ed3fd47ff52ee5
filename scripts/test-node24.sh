#!/bin/sh
# `npm run test:node24`: the unit and server tests again on Node 24 LTS (README: supported versions).
# The Node 24 binary comes from the npm package node@24 (`npm run node24:install`), installed here when missing.
set -eu
NODE24=.tmp/node24/node_modules/.bin/node
# A fresh clone has none yet: README's one test command installs it (from the npm registry).
[ -x "$NODE24" ] || npm run --silent node24:install >/dev/null
if [ ! -x "$NODE24" ]; then
  echo "Node 24 is missing ($NODE24) and 'npm run node24:install' did not install it" >&2
  exit 1
fi
case "$("$NODE24" --version)" in
  v24.*) ;;
  *) echo "$NODE24 is $("$NODE24" --version), not Node 24: run 'npm run node24:install'" >&2; exit 1 ;;
esac
echo "Running the unit and server tests on Node $("$NODE24" --version)"
# Vitest's workers and the servers the tests start run on process.execPath: Node 24 throughout.
exec "$NODE24" node_modules/vitest/vitest.mjs run --project main test/unit test/server
