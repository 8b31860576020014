#!/usr/bin/env -S node --import tsx
// Runs the TypeScript sources directly (no build); tsx, not ts-node, works with ESM on Node 20+.
// oclif.manifest.json describes dist/, not src/: it is never used here (see oclif-options.js).
import {execute} from '@oclif/core'

import {loadOptions} from './oclif-options.js'

await execute({development: true, loadOptions: await loadOptions({development: true})})
