// Reading qdoctor's Prometheus output back: the npm text-format parser, plus the strictness it lacks
// (it reads a malformed sample as an empty value and a split metric as a second family).
import parsePrometheusTextFormat, {type PromFamily} from 'parse-prometheus-text-format'
import {expect} from 'vitest'

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*'
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"'
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(?:${LABEL})(?:,${LABEL})*\\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$`)
const HELP = new RegExp(`^# HELP (${NAME}) .+$`)
const TYPE = new RegExp(`^# TYPE (${NAME}) gauge$`)

export interface Gauge {
  name: string
  help: string
  samples: Array<{labels: Record<string, string>; value: number}>
}

/** Parse exposition text strictly: every line well-formed, HELP and TYPE before each group, one group per name. */
export function parseExposition(text: string): Map<string, Gauge> {
  expect(text.endsWith('\n'), 'ends with a newline').toBe(true)
  const lines = text.slice(0, -1).split('\n')
  let current: string | undefined
  for (const [i, line] of lines.entries()) {
    const help = HELP.exec(line)
    const type = TYPE.exec(line)
    const sample = SAMPLE.exec(line)
    expect(help || type || sample, `line ${i + 1} is not a HELP, a gauge TYPE or a sample: ${line}`).toBeTruthy()
    if (help) current = help[1]
    if (type) expect(type[1], `TYPE after its HELP (line ${i + 1})`).toBe(current)
    if (sample) expect(sample[1], `sample of the current group (line ${i + 1})`).toBe(current)
  }
  const families: PromFamily[] = parsePrometheusTextFormat(text)
  const out = new Map<string, Gauge>()
  for (const f of families) {
    expect(out.has(f.name), `${f.name} appears in one group only`).toBe(false)
    expect(f.type).toBe('GAUGE')
    expect(f.help.length).toBeGreaterThan(0)
    const samples = f.metrics.map((m) => {
      const value = Number(m.value)
      expect(m.value !== undefined && m.value !== '' && !Number.isNaN(value), `${f.name} value ${m.value}`).toBe(true)
      return {labels: m.labels ?? {}, value}
    })
    out.set(f.name, {name: f.name, help: f.help, samples})
  }
  return out
}

export function gauge(metrics: Map<string, Gauge>, name: string): Gauge {
  const g = metrics.get(name)
  if (!g) throw new Error(`no metric ${name}; have ${[...metrics.keys()].join(', ')}`)
  return g
}
