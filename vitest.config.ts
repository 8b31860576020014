import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    // Tests share one redis-server, each file on its own DB; CLI subprocesses need real stdout.
    disableConsoleIntercept: true,
    env: {FORCE_COLOR: '0', NO_COLOR: '1'},
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
})
