import type { CliIO } from './command.ts'

/** Exactly one JSON document, pretty-printed, newline-terminated. */
export function printJson (io: CliIO, value: unknown): void {
  io.stdout(`${JSON.stringify(value, null, 2)}\n`)
}

export function printLines (io: CliIO, lines: string[]): void {
  io.stdout(lines.length === 0 ? '' : `${lines.join('\n')}\n`)
}

/** A plain text table: a header row, columns padded to their widest cell. */
export function formatTable (header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => (r[i] ?? '').length)))
  const line = (cells: string[]): string => cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i]!)).join('  ').trimEnd()
  return [line(header), ...rows.map(line)]
}

/** A peer id cut to something a human can compare at a glance: the tail is what differs. */
export function shortPeerId (peerId: string): string {
  return peerId.length <= 14 ? peerId : `…${peerId.slice(-8)}`
}
