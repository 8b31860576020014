import {Flags} from '@oclif/core'
import {Redis} from 'ioredis'

import {QdoctorCommand, QdoctorError} from '../lib/command/base.js'
import {familyNamed} from '../lib/checks/families/registry.js'
import {loadDemoConfig, nextSteps} from '../lib/demo/scenario.js'
import {openIdleClients} from '../lib/demo/idle-clients.js'
import {RedisServerMissing, startThrowawayRedis, type ThrowawayRedis} from '../lib/demo/redis-server.js'
import {seedDemo} from '../lib/demo/seed.js'
import {runDoctor} from '../lib/doctor/doctor.js'
import type {DoctorReport} from '../lib/report/doctor.js'
import {EXIT} from '../lib/report/exit-status.js'
import {renderDoctorTable} from '../lib/report/formats/table.js'

export default class Demo extends QdoctorCommand<typeof Demo> {
  static override summary = 'Try qdoctor on a throwaway Redis seeded with a broken Sidekiq'
  static override description = `Starts a throwaway redis-server (from PATH) on a free port of 127.0.0.1, seeds it with a realistic broken Sidekiq (queued, scheduled, retrying and dead jobs; Pro batches with ghost and stranded jobs; bloated failinfo; dead-set retry-loop traces; a stale process and a stuck job; idle connections), runs \`qdoctor doctor\` against it and prints the repair commands to try next. The server is stopped and its directory removed at the end, unless --keep leaves it running so the repairs can be tried.
Exits 0 when the demo ran (its findings are the point), 3 when redis-server is missing or the demo could not run.`

  static override examples = ['<%= config.bin %> demo', '<%= config.bin %> demo --keep    # then try the printed commands; stop it with redis-cli -p <port> shutdown nosave']

  static override flags = {
    keep: Flags.boolean({summary: 'Leave the demo redis-server running (its URL is printed) to try the repairs on.'}),
  }

  async run(): Promise<DoctorReport> {
    let server: ThrowawayRedis
    const progress = this.progress('Starting a throwaway redis-server…')
    try {
      server = await startThrowawayRedis()
    } catch (err) {
      progress.stop()
      if (err instanceof RedisServerMissing) throw new QdoctorError(err.message, EXIT.unavailable)
      throw new QdoctorError(`The demo could not start redis-server: ${(err as Error).message}`, EXIT.unavailable)
    }
    const stopOnSignal = () => void server.stop().finally(() => process.exit(130))
    process.once('SIGINT', stopOnSignal)
    process.once('SIGTERM', stopOnSignal)
    let idle: Awaited<ReturnType<typeof openIdleClients>> | undefined
    let keep = false
    try {
      progress.update(`Seeding a broken Sidekiq into ${server.url}…`)
      const seeder = new Redis(server.url, {lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 1})
      seeder.on('error', () => {})
      let seed: Awaited<ReturnType<typeof seedDemo>>
      try {
        await seeder.connect()
        seed = await seedDemo(seeder)
      } finally {
        seeder.disconnect()
      }
      idle = await openIdleClients(server.url)
      const config = loadDemoConfig()
      if (familyNamed('connections')) {
        // Let the idle connections age past the demo's idle-after.
        progress.update('Letting the idle connections idle…')
        await new Promise((r) => setTimeout(r, 2100))
      }
      progress.update('Running qdoctor doctor…')
      const {report} = await runDoctor({
        targets: [{url: server.url}],
        config,
        version: this.config.version,
        command: 'demo',
        connection: {timeoutMs: this.flags.timeout, maxOps: 0},
        progress: (text) => progress.update(text),
      })
      progress.stop()
      keep = this.flags.keep === true
      const next = nextSteps(server.url, (id) => Boolean(this.config.findCommand(id)))
      report.summary.demo = {
        url: server.url,
        port: server.port,
        pid: server.pid,
        dir: server.dir,
        kept: keep,
        seeded: {queues: seed.queues, scheduled: seed.scheduled, retries: seed.retries, dead: seed.dead, batches: seed.batches, staleProcess: seed.staleProcess, loopingJid: seed.loopingJid},
        idleConnections: idle.names,
        next,
      }
      process.exitCode = report.complete ? EXIT.ok : EXIT.unavailable
      if (!this.jsonEnabled()) this.print(report, server, next, keep)
      return report
    } finally {
      progress.stop()
      process.removeListener('SIGINT', stopOnSignal)
      process.removeListener('SIGTERM', stopOnSignal)
      await idle?.close()
      if (keep) server.release()
      else await server.stop()
    }
  }

  private print(report: DoctorReport, server: ThrowawayRedis, next: Array<{command: string; why: string}>, keep: boolean): void {
    const style = this.style
    this.log(style.color.bold(`qdoctor demo: a broken Sidekiq on a throwaway Redis (${server.url})\n`))
    this.log(renderDoctorTable(style, report))
    this.log('')
    this.log(style.color.bold(keep ? 'Try next (the server is still running):' : 'Try next (run `qdoctor demo --keep` to keep the server for these):'))
    for (const step of next) this.log(`  ${style.color.cyan(step.command)}\n      ${style.color.dim(step.why)}`)
    this.log('')
    if (keep)
      this.log(`The demo Redis keeps running at ${server.url} (pid ${server.pid}). Stop it with: redis-cli -p ${server.port} shutdown nosave\nThen remove its directory: rm -r ${server.dir}`)
    else this.log(style.color.dim(`The demo Redis on port ${server.port} was stopped and its files removed.`))
  }
}
