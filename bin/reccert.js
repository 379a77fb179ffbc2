#!/usr/bin/env node
// The `reccert` command. Plain CommonJS so that `npx reccert ...` works right after `npm ci`:
// tsx compiles the TypeScript sources on the fly (and caches them), no build step needed.

require('tsx/cjs');

const { main } = require('../cli/main.ts');

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    // main() catches everything itself; this is the last line of defence: one line, no stack.
    process.stderr.write(`reccert: internal error: ${error?.message ? error.message : String(error)}\n`);
    process.exitCode = 70;
  },
);
