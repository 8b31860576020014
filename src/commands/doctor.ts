import {renameSync, writeFileSync} from 'node:fs'

import {Flags, type Interfaces} from '@oclif/core'

import {QdoctorCommand, QdoctorError} from '../lib/command/base.js'
import {DEFAULT_MAX_OPS, DEFAULT_URL} from '../lib/command/flags.js'
import {checkCatalog, SelectionError} from '../lib/checks/families/registry.js'
import {type Baseline, readBaseline, writeBaseline} from '../lib/doctor/baseline.js'
import {ConfigError, type DoctorConfig, loadDoctorConfig, type TargetSpec} from '../lib/doctor/config.js'
import {markAllKnown, runDoctor} from '../lib/doctor/doctor.js'
import {readTargetsFile} from '../lib/doctor/targets.js'
import {redactUrl} from '../lib/redis/redact.js'
import type {DoctorReport} from '../lib/report/doctor.js'
import {EXIT} from '../lib/report/exit-status.js'
import {renderDoctorJunit} from '../lib/report/formats/junit.js'
import {renderDoctorMarkdown} from '../lib/report/formats/markdown.js'
import {renderDoctorPrometheus} from '../lib/report/formats/prometheus.js'
import {renderDoctorTable} from '../lib/report/formats/table.js'
import {table} from '../lib/report/render.js'

export const FORMATS = ['table', 'json', 'markdown', 'junit', 'prometheus'] as const
export type Format = (typeof FORMATS)[number]

/** `--format json` (or `--format=json`) in argv: the run is a JSON run from the start (errors too). */
function formatInArgv(argv: readonly string[]): string | undefined {
  const end = argv.indexOf('--')
  const args = end === -1 ? argv : argv.slice(0, end)
  let found: string | undefined
  args.forEach((a, i) => {
    if (a === '--format') found = args[i + 1]
    else if (a.startsWith('--format=')) found = a.slice('--format='.length)
  })
  return found
}

/** --url is repeatable here (it replaces the base class's single --url). */
const doctorFlags = {
  url: Flags.string({
    helpGroup: 'GLOBAL',
    summary: `Redis URL; repeat for several targets (default ${DEFAULT_URL}).`,
    env: 'REDIS_URL',
    multiple: true,
  }),
  targets: Flags.string({summary: 'File listing targets, one per line: URL [name] (# comments); replaces --url and REDIS_URL.', helpValue: '<file>'}),
  concurrency: Flags.integer({summary: 'Targets checked at the same time (default 4).', min: 1, max: 64}),
  only: Flags.string({summary: 'Only these families or check ids (repeatable or comma-separated), e.g. queues,failinfo/no-ttl.', multiple: true, delimiter: ','}),
  skip: Flags.string({summary: 'Skip these families or check ids (repeatable or comma-separated), e.g. redis/persistence.', multiple: true, delimiter: ','}),
  config: Flags.string({summary: 'Config file (YAML or JSON) instead of searching for .qdoctor.yml / .qdoctor.json / package.json.', helpValue: '<file>'}),
  set: Flags.string({summary: 'Override one setting, e.g. --set queues.latency-warn=10m (repeatable).', multiple: true, helpValue: '<key=value>'}),
  baseline: Flags.string({summary: 'Findings listed in this file are known: reported, never failing the run.', helpValue: '<file>'}),
  'write-baseline': Flags.string({summary: "Record this run's findings as the baseline (they then count as known).", helpValue: '<file>'}),
  format: Flags.option({summary: 'Output format.', options: FORMATS, default: 'table' as const})(),
  output: Flags.string({summary: 'Write the output to this file (replaced atomically) instead of stdout.', helpValue: '<file>', char: 'o'}),
  'list-checks': Flags.boolean({summary: 'List every family and check id (with severities) and exit, without connecting.'}),
}

type CatalogEntry = ReturnType<typeof checkCatalog>[number]

type DoctorFlags = Interfaces.InferredFlags<Omit<typeof QdoctorCommand.baseFlags, 'url'> & typeof doctorFlags>

export default class Doctor extends QdoctorCommand<typeof Doctor> {
  static override aliases = ['check']
  static override summary = 'Every read-only check in one run, for on-call and for CI'
  static override description = `Runs every read-only check family against one or more Redis servers and prints one report: a table of families with their status, then the findings by severity, each with its fix command. Families that need keys by pattern share one SCAN pass over the keyspace.
Settings come from a config file found from the working directory upward (.qdoctor.yml, .qdoctor.yaml, .qdoctor.json, or a "qdoctor" key in package.json) or --config, then --set, then flags. Each family's section takes the same settings as its topic command's flags (e.g. queues: {latency-warn: 10m}).
--baseline FILE reports the findings it lists (by check id + subject) as known: they never fail the run. --write-baseline FILE records this run's findings (they then count as known).
Several targets (--url repeated, --targets FILE, or "targets" in the config) are checked concurrently (--concurrency); the report has one section per target and the exit code is the worst: 3 if any target could not be checked, else 1 if any has findings at or above --fail-on, else 0.`

  static override examples = [
    '<%= config.bin %> doctor',
    '<%= config.bin %> check --url redis://:secret@10.0.0.5:6379/0 --fail-on warn',
    '<%= config.bin %> doctor --only queues,failinfo --skip queue/paused',
    '<%= config.bin %> doctor --format junit --output qdoctor.xml',
    '<%= config.bin %> doctor --format prometheus --output /var/lib/node_exporter/textfile/qdoctor.prom',
    '<%= config.bin %> doctor --format markdown >> "$GITHUB_STEP_SUMMARY"',
    '<%= config.bin %> doctor --write-baseline .qdoctor-baseline.json   # accept what is there today',
    '<%= config.bin %> doctor --baseline .qdoctor-baseline.json         # fail only on new findings',
    '<%= config.bin %> doctor --url redis://shard-a:6379/0 --url redis://shard-b:6379/0',
    '<%= config.bin %> doctor --set queues.latency-warn=10m --set failinfo.warn-bytes=50mb',
    '<%= config.bin %> doctor --list-checks   # every check id, for --only/--skip and baselines',
  ]

  static override flags = doctorFlags

  private urls: string[] = []

  /** The parsed flags, typed (the base class's type cannot express a --url that became repeatable). */
  private get f(): DoctorFlags {
    return this.flags as unknown as DoctorFlags
  }

  public override async init(): Promise<void> {
    await super.init()
    // --url is repeatable here. The base class reads flags.url as one string (failure documents,
    // secrets): hand it the redacted list; the raw URLs stay in this.urls.
    const raw = this.f.url as unknown
    this.urls = raw === undefined ? [] : ([raw].flat() as string[])
    ;(this.flags as {url?: string}).url = this.urls.length ? this.urls.map(redactUrl).join(',') : undefined
  }

  public override jsonEnabled(): boolean {
    return super.jsonEnabled() || formatInArgv(this.argv) === 'json'
  }

  async run(): Promise<DoctorReport | CatalogEntry[] | undefined> {
    const format: Format = this.jsonEnabled() ? 'json' : this.f.format
    if (this.f['list-checks']) return this.listChecks(format)
    const config = await this.settings()
    const targets = this.resolveTargets(config)
    const baseline = this.baseline(config)
    const progress = this.progress('Checking…')
    let outcome: Awaited<ReturnType<typeof runDoctor>>
    try {
      outcome = await runDoctor({
        targets,
        config,
        baseline,
        version: this.config.version,
        connection: {
          sentinels: this.f.sentinel,
          sentinelName: this.f['sentinel-name'],
          tlsCa: this.f['tls-ca'],
          tlsInsecure: this.f['tls-insecure'],
          timeoutMs: config.timeoutMs ?? this.f.timeout,
          maxOps: config.maxOps ?? this.f['max-ops'] ?? DEFAULT_MAX_OPS,
        },
        progress: (text) => progress.update(text),
      })
    } catch (err) {
      if (err instanceof SelectionError) throw new QdoctorError(err.message, EXIT.usage)
      throw err
    } finally {
      progress.stop()
    }
    let {exitCode} = outcome
    const {report} = outcome
    const written = this.f['write-baseline']
    if (written) {
      const entries = writeBaseline(written, report.findings, this.config.version, targets.length > 1)
      exitCode = markAllKnown(report, written, entries)
      if (!report.complete) report.warnings = [...(report.warnings ?? []), `The baseline ${written} was written from an incomplete run: findings on what could not be checked are not in it.`]
    }
    process.exitCode = exitCode
    const text = format === 'json' ? undefined : this.render(format, report)
    if (this.f.output) {
      writeAtomically(this.f.output, text ?? JSON.stringify(report, null, 2) + '\n')
      if (!this.f.quiet) this.logToStderr(`qdoctor doctor: ${report.summary.counts.error} errors, ${report.summary.counts.warn} warnings, ${report.summary.counts.info} info → ${this.f.output} (exit ${exitCode})`)
      return undefined
    }
    if (text !== undefined) this.log(text.replace(/\n$/, ''))
    return report
  }

  /** The catalog, for --only/--skip and baselines: a table, or JSON (other formats have no use for it). */
  private listChecks(format: Format): CatalogEntry[] | undefined {
    const catalog = checkCatalog().map(({family, id, severities, title}) => ({family, id, severities: [...severities], title}))
    if (format === 'json') return catalog
    this.log(table(this.style, ['family', 'check id', 'severities', 'what it means'], catalog.map((c) => [c.family, c.id, c.severities.join(', '), c.title])))
    return undefined
  }

  private render(format: Exclude<Format, 'json'>, report: DoctorReport): string {
    switch (format) {
      case 'markdown':
        return renderDoctorMarkdown(report)
      case 'junit':
        return renderDoctorJunit(report)
      case 'prometheus':
        return renderDoctorPrometheus(report, new Map(checkCatalog().map((c) => [c.id, c.severities])))
      default:
        return renderDoctorTable(this.style, report, this.f.quiet)
    }
  }

  /** Config file and --set, then the flags given explicitly (a flag beats the file). */
  private async settings(): Promise<DoctorConfig> {
    let config: DoctorConfig
    try {
      config = await loadDoctorConfig({path: this.f.config, sets: this.f.set})
    } catch (err) {
      if (err instanceof ConfigError) throw new QdoctorError(err.message, EXIT.usage)
      throw err
    }
    const given = await this.givenFlags()
    const f = this.f
    if (given.has('fail-on')) config.failOn = f['fail-on']
    if (f.only) config.only = f.only
    if (f.skip) config.skip = f.skip
    if (f.baseline) config.baseline = f.baseline
    if (f.concurrency) config.concurrency = f.concurrency
    if (f.namespace) config.namespace = f.namespace
    if (given.has('timeout')) config.timeoutMs = f.timeout
    if (given.has('scan-count') || config.scanCount === undefined) config.scanCount = f['scan-count']
    if (given.has('max-ops')) config.maxOps = f['max-ops']
    return config
  }

  /** Flags given on the command line or through their environment variable (not defaults). */
  private async givenFlags(): Promise<{has: (name: string) => boolean}> {
    const {metadata} = await this.parse({
      flags: this.ctor.flags,
      baseFlags: (this.ctor as typeof QdoctorCommand).baseFlags,
      enableJsonFlag: this.ctor.enableJsonFlag,
      args: this.ctor.args,
      strict: this.ctor.strict,
    })
    // oclif records metadata only for flags it filled in itself (from their default).
    return {has: (name) => !metadata.flags[name]?.setFromDefault}
  }

  private resolveTargets(config: DoctorConfig): TargetSpec[] {
    let targets: TargetSpec[]
    try {
      // (Not oclif's `exclusive`: it would also refuse a REDIS_URL set in the environment.)
      if (this.f.targets && this.argv.some((a) => a === '--url' || a.startsWith('--url=')))
        throw new ConfigError('--targets and --url cannot be combined: list every target in the file.')
      if (this.f.targets) targets = readTargetsFile(this.f.targets)
      else if (this.urls.length) targets = this.urls.map((url) => ({url}))
      else targets = config.targets ?? [{url: DEFAULT_URL}]
    } catch (err) {
      if (err instanceof ConfigError) throw new QdoctorError(err.message, EXIT.usage)
      throw err
    }
    if (targets.length > 1 && this.f.sentinel?.length)
      throw new QdoctorError('--sentinel names one primary: it cannot be combined with several targets.', EXIT.usage)
    return targets
  }

  private baseline(config: DoctorConfig): Baseline | undefined {
    if (!config.baseline) return undefined
    try {
      return readBaseline(config.baseline)
    } catch (err) {
      if (err instanceof ConfigError) throw new QdoctorError(err.message, EXIT.usage)
      throw err
    }
  }
}

function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`
  writeFileSync(tmp, text)
  renameSync(tmp, file)
}
