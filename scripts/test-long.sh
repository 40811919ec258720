#!/usr/bin/env bash
# The long checks, kept out of `npm test` ('test/**/*.test.ts' does not reach test/long/*.long.ts):
# the benchmarks under valgrind's callgrind, a few minutes. Run once, on the project's own Node
# line (`npm run test:long`); CI runs them after the matrix. `npm run typecheck` covers them.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build
node --version
node --test --test-reporter=spec 'test/long/*.long.ts'
