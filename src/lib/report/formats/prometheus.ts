// `--format prometheus`: the text exposition format (0.0.4) for node_exporter's textfile collector.
// One gauge series per check id and severity (0 when clean, so alerts and dashboards have a steady
// series), per-target up/complete/exit code, and the families' key figures (failinfo bytes, dead-set
// size, ghost jobs, connections…). Every metric is one group with its HELP and TYPE.
import type {DoctorReport} from '../doctor.js'
import type {Severity} from '../types.js'

export const METRIC_PREFIX = 'qdoctor_'

type Labels = Record<string, string>

interface Group {
  help: string
  samples: Array<{labels: Labels; value: number}>
}

/** The check ids a family declares and the severities each may take. */
export type CheckSeverities = ReadonlyMap<string, readonly Severity[]>

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')
}

function formatValue(n: number): string {
  if (Number.isNaN(n)) return 'NaN'
  if (n === Number.POSITIVE_INFINITY) return '+Inf'
  if (n === Number.NEGATIVE_INFINITY) return '-Inf'
  return String(n)
}

/** A metric or label name: [a-zA-Z_:][a-zA-Z0-9_:]* (label names without ':'). */
export function metricName(name: string): string {
  const clean = name.replace(/[^a-zA-Z0-9_:]/g, '_')
  return /^[a-zA-Z_:]/.test(clean) ? clean : `_${clean}`
}

class Exposition {
  private readonly groups = new Map<string, Group>()

  gauge(name: string, help: string, labels: Labels, value: number): void {
    const full = metricName(`${METRIC_PREFIX}${name}`)
    let group = this.groups.get(full)
    if (!group) this.groups.set(full, (group = {help, samples: []}))
    group.samples.push({labels, value})
  }

  toString(): string {
    const lines: string[] = []
    for (const [name, group] of this.groups) {
      lines.push(`# HELP ${name} ${escapeHelp(group.help)}`, `# TYPE ${name} gauge`)
      for (const {labels, value} of group.samples) {
        const pairs = Object.entries(labels).map(([k, v]) => `${metricName(k).replace(/:/g, '_')}="${escapeLabel(v)}"`)
        lines.push(`${name}${pairs.length ? `{${pairs.join(',')}}` : ''} ${formatValue(value)}`)
      }
    }
    return lines.join('\n') + '\n'
  }
}

export function renderDoctorPrometheus(report: DoctorReport, catalog: CheckSeverities): string {
  const out = new Exposition()
  const known = report.summary.baseline !== undefined
  for (const t of report.summary.targets) {
    const target = {target: t.target}
    const reached = t.families.some((f) => f.status !== 'not-run')
    out.gauge('up', '1 when qdoctor could connect to the target.', target, reached ? 1 : 0)
    out.gauge('complete', '1 when every check of the target finished (0: results are partial).', target, t.complete ? 1 : 0)
    out.gauge('exit_code', "The target's exit code (0 ok, 1 findings at or above --fail-on, 3 could not check).", target, t.exitCode)
    out.gauge('duration_seconds', 'How long checking the target took.', target, t.durationMs / 1000)
    for (const family of t.families) {
      if (family.status === 'not-run') continue
      const fl = {...target, family: family.name}
      out.gauge('family_complete', '1 when the check family finished.', fl, family.status === 'incomplete' ? 0 : 1)
      out.gauge('family_duration_seconds', 'How long the check family took.', fl, family.durationMs / 1000)
      const findings = report.findings.filter((f) => f.target === t.target && f.family === family.name)
      const series = new Map<string, Set<Severity>>()
      for (const check of family.checks) series.set(check, new Set(catalog.get(check) ?? []))
      for (const f of findings) {
        if (!series.has(f.check)) series.set(f.check, new Set())
        series.get(f.check)!.add(f.severity)
      }
      for (const [check, severities] of series)
        for (const severity of severities) {
          const of = findings.filter((f) => f.check === check && f.severity === severity)
          const labels = {...fl, check, severity}
          out.gauge('check_findings', 'Findings of a check in the last run, by severity (baseline findings included).', labels, of.length)
          if (known) out.gauge('check_known_findings', 'Findings of a check that are in the baseline.', labels, of.filter((f) => f.known).length)
        }
      for (const figure of family.figures) out.gauge(figure.name, figure.help, {...target, ...figure.labels}, figure.value)
    }
  }
  out.gauge('last_run_timestamp_seconds', 'When this qdoctor doctor run started (Unix time).', {}, Math.floor(Date.parse(report.startedAt) / 1000))
  return out.toString()
}
