// Colour and number formatting for human output. Colour is off with --no-color, NO_COLOR, or a non-TTY.
import bytes from 'bytes'
import {Chalk, type ChalkInstance} from 'chalk'

import type {Severity} from './types.js'

export interface Style {
  color: ChalkInstance
}

export function makeStyle(colorEnabled: boolean): Style {
  return {color: new Chalk({level: colorEnabled ? 1 : 0})}
}

export function paintSeverity(style: Style, severity: Severity, text: string = severity.toUpperCase()): string {
  if (severity === 'error') return style.color.red.bold(text)
  if (severity === 'warn') return style.color.yellow(text)
  return style.color.cyan(text)
}

/** 5.1 GB style; exact bytes belong in JSON. */
export function humanBytes(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '-'
  return bytes.format(n, {unitSeparator: ' ', decimalPlaces: 1}) ?? String(n)
}

/** 3d 4h, 12m 5s, 800ms. */
export function humanSeconds(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '-'
  const sign = seconds < 0 ? '-' : ''
  let s = Math.abs(seconds)
  if (s < 1) return `${sign}${Math.round(s * 1000)}ms`
  const units: Array<[string, number]> = [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ]
  const parts: string[] = []
  for (const [unit, size] of units) {
    const n = Math.floor(s / size)
    if (n > 0 || (unit === 's' && parts.length === 0)) parts.push(`${n}${unit}`)
    s -= n * size
    if (parts.length === 2) break
  }
  return sign + parts.join(' ')
}

export function humanCount(n: number | undefined): string {
  return n === undefined ? '-' : n.toLocaleString('en-US')
}
