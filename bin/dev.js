#!/usr/bin/env -S node --import tsx
// Runs the TypeScript sources directly (no build); tsx, not ts-node, works with ESM on Node 20+.
import {execute} from '@oclif/core'

await execute({development: true, dir: import.meta.url})
