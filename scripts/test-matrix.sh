#!/usr/bin/env bash
# Runs the suite on every supported Node line: 24 (the project's own, via `npm test`), then 22 and 26
# fetched from the npm registry. The build and type check run once, in `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."
npm test
for line in 22 26; do
  echo "=== Node ${line}"
  npx --yes -p "node@${line}" -c "node --version && node --test --test-reporter=spec 'test/**/*.test.ts'"
done
