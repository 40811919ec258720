#!/usr/bin/env bash
# Runs the suite on every supported Node line: 24 (the project's own, via `npm test`), then 22 and 26
# fetched from the npm registry. The build and type check run once, in `npm test`. Two test files
# at a time, as `npm test` runs them: most of the suite waits on timers and servers, and node's
# default on two cores is one file at a time. The long checks are `npm run test:long`'s.
set -euo pipefail
cd "$(dirname "$0")/.."
npm test
for line in 22 26; do
  echo "=== Node ${line}"
  npx --yes -p "node@${line}" -c "node --version && node --test --test-concurrency=2 --test-reporter=spec 'test/**/*.test.ts'"
done
