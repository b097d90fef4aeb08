/**
 * Parsing of the two ways a spec can say "when": an absolute instant (ISO 8601 with a
 * time zone) and a duration (seconds, "5m", "1h30m", "PT5M"). Both return either a value
 * or a message saying what is wrong and how to write it instead.
 */

export type Parsed<T> = { ok: true, value: T } | { ok: false, message: string }

const UNIT_SECONDS: Record<string, number> = {
  ms: 0.001,
  s: 1, sec: 1, secs: 1, second: 1, seconds: 1,
  m: 60, min: 60, mins: 60, minute: 60, minutes: 60,
  h: 3600, hr: 3600, hrs: 3600, hour: 3600, hours: 3600,
  d: 86400, day: 86400, days: 86400
}

const DURATION_PART = /(\d+(?:\.\d+)?)\s*([a-z]+)/g
const DURATION_WHOLE = /^(?:\d+(?:\.\d+)?\s*[a-z]+\s*)+$/
const ISO_DURATION = /^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/
/** Full date, time to at least minutes, and an explicit zone: Z or ±hh:mm. */
const ISO_INSTANT = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?([Zz]|[+-]\d{2}:?\d{2})$/

const DURATION_HELP = 'write a number of seconds (300) or a duration such as "300s", "5m", "1h30m" or "PT5M"'

/** Seconds, with millisecond precision so that every spelling of one duration normalizes alike. */
export function parseDuration (value: unknown): Parsed<number> {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value <= 0) return { ok: false, message: `${value} is not a positive number of seconds; ${DURATION_HELP}` }
    return { ok: true, value: roundMs(value) }
  }
  if (typeof value !== 'string') return { ok: false, message: `expected a duration; ${DURATION_HELP}` }
  const text = value.trim()
  let seconds: number | undefined
  if (/^\d+(?:\.\d+)?$/.test(text)) {
    seconds = Number(text)
  } else if (/^P/i.test(text)) {
    const m = ISO_DURATION.exec(text.toUpperCase())
    if (m == null || text.length < 3 || /T$/i.test(text)) {
      return { ok: false, message: `${JSON.stringify(value)} is not an ISO 8601 duration this format accepts (days, hours, minutes and seconds only, e.g. "PT5M" or "P1DT2H"); ${DURATION_HELP}` }
    }
    seconds = Number(m[1] ?? 0) * 86400 + Number(m[2] ?? 0) * 3600 + Number(m[3] ?? 0) * 60 + Number(m[4] ?? 0)
  } else {
    const lower = text.toLowerCase()
    if (!DURATION_WHOLE.test(lower)) return { ok: false, message: `${JSON.stringify(value)} is not a duration; ${DURATION_HELP}` }
    seconds = 0
    for (const [, amount, unit] of lower.matchAll(DURATION_PART)) {
      const factor = UNIT_SECONDS[unit!]
      if (factor == null) return { ok: false, message: `${JSON.stringify(value)} uses an unknown unit "${unit}"; use ms, s, m, h or d, e.g. "5m"` }
      seconds += Number(amount) * factor
    }
  }
  if (!(seconds > 0)) return { ok: false, message: `${JSON.stringify(value)} is not longer than zero; ${DURATION_HELP}` }
  return { ok: true, value: roundMs(seconds) }
}

function roundMs (seconds: number): number {
  return Math.round(seconds * 1000) / 1000
}

/**
 * Epoch milliseconds of an ISO 8601 instant that names its zone. A bare date or a time
 * without a zone is refused rather than guessed: nodes in different zones must agree.
 */
export function parseInstant (value: unknown): Parsed<number> {
  if (typeof value !== 'string') return { ok: false, message: 'expected an ISO 8601 timestamp such as "2026-03-01T18:00:00Z"' }
  const text = value.trim()
  const m = ISO_INSTANT.exec(text)
  if (m == null) {
    if (/^\d{4}-\d{2}-\d{2}$/.test(text)) {
      return { ok: false, message: `${JSON.stringify(value)} has no time of day; write a full timestamp with a zone, e.g. "${text}T18:00:00Z"` }
    }
    if (/^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(text)) {
      return { ok: false, message: `${JSON.stringify(value)} has no time zone; add Z for UTC, e.g. "${text.replace(' ', 'T')}Z"` }
    }
    return { ok: false, message: `${JSON.stringify(value)} is not an ISO 8601 timestamp; write e.g. "2026-03-01T18:00:00Z"` }
  }
  const [, y, mo, d, h, mi, s] = m
  const ms = Date.parse(text.replace(' ', 'T').replace(/z$/, 'Z').replace(/([+-]\d{2})(\d{2})$/, '$1:$2'))
  // Date.parse rolls 2026-02-30 over to March; a round trip through the fields catches it.
  // setUTCFullYear, not Date.UTC, which reads years 0 to 99 as 1900 to 1999.
  const utcCheck = new Date(0)
  utcCheck.setUTCFullYear(Number(y), Number(mo) - 1, Number(d))
  if (Number.isNaN(ms) || utcCheck.getUTCDate() !== Number(d) || utcCheck.getUTCMonth() !== Number(mo) - 1 || Number(h) > 23 || Number(mi) > 59 || Number(s ?? 0) > 59) {
    return { ok: false, message: `${JSON.stringify(value)} is not a real date and time; check the day, month and time fields` }
  }
  return { ok: true, value: ms }
}

/** The canonical spelling of an instant: UTC, `Z`, milliseconds only when not zero. */
export function formatInstant (epochMs: number): string {
  return new Date(epochMs).toISOString().replace('.000Z', 'Z')
}
