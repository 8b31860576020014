// One shared redis-server for the whole run; each test file takes its own DB (test/helpers/db.ts).
import type {TestProject} from 'vitest/node'

import {type RedisServer, startRedis} from './redis-server.js'

let server: RedisServer | undefined

declare module 'vitest' {
  export interface ProvidedContext {
    redisPort: number
  }
}

export async function setup(project: TestProject): Promise<void> {
  server = await startRedis()
  project.provide('redisPort', server.port)
}

export async function teardown(): Promise<void> {
  await server?.stop()
}
