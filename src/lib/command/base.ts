// The base of every qdoctor command: global flags, one lazy connection that is always closed,
// progress on a TTY only, the report lifecycle and the exit-code contract (also under --json).
import {Command, Errors, type Interfaces} from '@oclif/core'
import chalk from 'chalk'
import type {Ora} from 'ora'

import {Connection, InvalidUrlError} from '../redis/connect.js'
import {classifyRedisError, RedisUnavailableError, ScanInterruptedError} from '../redis/errors.js'
import {redactSecrets, redactUrl, secretsOf} from '../redis/redact.js'
import {ReportBuilder} from '../report/builder.js'
import {EXIT, exitCodeFor} from '../report/exit-status.js'
import {renderFooter} from '../report/render.js'
import {makeStyle, type Style} from '../report/style.js'
import type {Report} from '../report/types.js'
import {SidekiqKeys} from '../sidekiq/keys.js'
import {globalFlags} from './flags.js'

export type QdoctorFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof QdoctorCommand)['baseFlags'] & T['flags']>
export type QdoctorArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

/** An error with an exit code of the contract and a sentence for the user. */
export class QdoctorError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message)
  }
}

export interface Progress {
  update(text: string): void
  stop(): void
}

export abstract class QdoctorCommand<T extends typeof Command> extends Command {
  static override enableJsonFlag = true
  static override baseFlags = globalFlags

  protected flags!: QdoctorFlags<T>
  protected args!: QdoctorArgs<T>
  private connection?: Connection
  private spinner?: {stop(): void}
  private currentReport?: ReportBuilder<object>

  public override async init(): Promise<void> {
    await super.init()
    const {args, flags} = await this.parse({
      flags: this.ctor.flags,
      baseFlags: (super.ctor as typeof QdoctorCommand).baseFlags,
      enableJsonFlag: this.ctor.enableJsonFlag,
      args: this.ctor.args,
      strict: this.ctor.strict,
    })
    this.flags = flags as QdoctorFlags<T>
    this.args = args as QdoctorArgs<T>
  }

  /** The connection of this run (not yet connected: the first read connects). */
  protected get conn(): Connection {
    if (!this.connection) {
      const f = this.flags
      this.connection = new Connection({
        url: f.url,
        sentinels: f.sentinel,
        sentinelName: f['sentinel-name'],
        tlsCa: f['tls-ca'],
        tlsInsecure: f['tls-insecure'],
        timeoutMs: f.timeout,
        maxOps: f['max-ops'],
      })
    }
    return this.connection
  }

  protected get keys(): SidekiqKeys {
    return new SidekiqKeys(this.flags.namespace)
  }

  protected get style(): Style {
    const enabled = this.flags.color && !('NO_COLOR' in process.env) && chalk.level > 0
    return makeStyle(enabled)
  }

  protected startReport<S extends object>(summary: S): ReportBuilder<S> {
    const builder = new ReportBuilder<S>(
      {qdoctor: this.config.version, command: this.id?.replace(/:/g, ' ') ?? this.ctor.name, target: this.conn.target},
      summary,
    )
    this.currentReport = builder
    return builder
  }

  /**
   * Connect, then run the collection. An interrupted scan keeps what was read and marks the report
   * incomplete (exit 3); a Redis that cannot be reached at all becomes an error with exit 3.
   */
  protected async collect(report: ReportBuilder<object>, work: () => Promise<void>): Promise<void> {
    await this.conn.redis()
    try {
      await work()
    } catch (err) {
      if (err instanceof ScanInterruptedError) report.markIncomplete(this.redact(err.message))
      else if (err instanceof RedisUnavailableError) report.markIncomplete(this.redact(err.message))
      else throw err
    } finally {
      this.stopProgress()
    }
  }

  /** Print (table or JSON via oclif), set the exit code, and hand the report back to oclif. */
  protected finish<S extends object>(builder: ReportBuilder<S>, renderSummary: (report: Report<S>, style: Style) => string): Report<S> {
    const report = builder.build()
    if (!this.jsonEnabled()) {
      const style = this.style
      if (!this.flags.quiet) {
        const summary = renderSummary(report, style)
        if (summary) this.log(summary + '\n')
      }
      this.log(renderFooter(style, report))
    }
    process.exitCode = exitCodeFor(report, this.flags['fail-on'])
    return report
  }

  protected progress(text: string): Progress {
    // A terminal reporting 0 columns (script(1), some CI ptys) makes ora clear endlessly: no spinner there.
    if (this.jsonEnabled() || this.flags?.quiet || !process.stderr.isTTY || !process.stderr.columns) return {update() {}, stop() {}}
    // ora (and all it imports) is loaded only when a spinner is shown: ~60 ms of every start otherwise.
    let current = text
    let stopped = false
    let spinner: Ora | undefined
    const stop = () => {
      stopped = true
      spinner?.stop()
    }
    this.spinner = {stop}
    void import('ora').then(
      ({default: ora}) => {
        if (!stopped) spinner = ora({text: current, stream: process.stderr}).start()
      },
      () => undefined,
    )
    return {
      update: (t: string) => {
        current = t
        if (spinner) spinner.text = t
      },
      stop,
    }
  }

  private stopProgress(): void {
    this.spinner?.stop()
    this.spinner = undefined
  }

  protected redact(text: string): string {
    return redactSecrets(text, this.secrets())
  }

  private secrets(): string[] {
    const urls = [this.flags?.url, process.env.REDIS_URL, ...this.argv.filter((a) => a.includes('://'))]
    return urls.flatMap((u) => secretsOf(u))
  }

  /**
   * JSON for pipes and files is written plainly: oclif colourises it token by token, which for a big
   * report (every ghost jid, every dead job) costs tens of MB and seconds. A terminal keeps colours.
   */
  public override logJson(json: unknown): void {
    if (process.stdout.isTTY) super.logJson(json)
    else process.stdout.write(JSON.stringify(json, null, 2) + '\n')
  }

  protected override async catch(err: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    this.stopProgress()
    const {code, message} = this.describeFailure(err)
    process.exitCode = code
    if (this.jsonEnabled()) {
      this.logJson(this.failureJson(message, code))
      return
    }
    // Usage errors keep oclif's own formatting (with the usage hint).
    if (code === EXIT.usage && err instanceof Errors.CLIError) throw new Errors.CLIError(this.redact(err.message), {exit: EXIT.usage})
    this.logToStderr(`${chalk.red('Error:')} ${message}`)
    if (this.flags?.verbose && err.stack && !(err instanceof QdoctorError) && !(err instanceof RedisUnavailableError))
      this.logToStderr(this.redact(err.stack))
    return undefined
  }

  private describeFailure(err: Error & {oclif?: {exit?: number}}): {code: number; message: string} {
    if (err instanceof QdoctorError) return {code: err.exitCode, message: this.redact(err.message)}
    if (err instanceof InvalidUrlError) return {code: EXIT.usage, message: this.redact(err.message)}
    if (err instanceof RedisUnavailableError || err instanceof ScanInterruptedError) return {code: EXIT.unavailable, message: this.redact(err.message)}
    // A reply error (NOPERM, LOADING, READONLY…) from a read: could not check.
    if (err.name === 'ReplyError') return {code: EXIT.unavailable, message: this.redact(classifyRedisError(err, this.conn.target).message)}
    if (err instanceof Errors.CLIError || typeof err.oclif?.exit === 'number')
      return {code: err.oclif?.exit === 0 ? 0 : EXIT.usage, message: this.redact(err.message)}
    return {code: EXIT.unavailable, message: this.redact(`internal error: ${err.message}`)}
  }

  /** Under --json a failure is still one report-shaped document, with `error` saying why. */
  private failureJson(message: string, exitCode: number): Record<string, unknown> {
    const partial = this.currentReport?.build()
    return {
      qdoctor: this.config.version,
      command: this.id?.replace(/:/g, ' ') ?? this.ctor.name,
      target: this.connection?.target ?? redactUrl(this.flags?.url ?? process.env.REDIS_URL ?? ''),
      startedAt: partial?.startedAt ?? new Date().toISOString(),
      durationMs: partial?.durationMs ?? 0,
      complete: false,
      incomplete: [message],
      summary: partial?.summary ?? {},
      findings: partial?.findings ?? [],
      ...(partial?.actions ? {actions: partial.actions} : {}),
      ...(partial?.journal ? {journal: partial.journal} : {}),
      error: {message, exitCode},
    }
  }

  protected override async finally(err: Error | undefined): Promise<unknown> {
    this.stopProgress()
    await this.connection?.quit()
    return super.finally(err)
  }
}
