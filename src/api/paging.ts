import { badRequest } from './errors.ts'

/** Items a list route returns when the request names no `limit`. */
export const DEFAULT_PAGE_LIMIT = 100
/** Largest `limit` a list route accepts. */
export const MAX_PAGE_LIMIT = 1000
/** The response header carrying the cursor of the next page; absent on the last page. */
export const NEXT_CURSOR_HEADER = 'x-next-cursor'

export interface PageRequest {
  limit: number
  /** The position after which the page starts (decoded from `cursor`), or null for the first page. */
  after: string | null
}

export interface Page<T> {
  items: T[]
  /** Pass as `cursor` to get the next page; null on the last one. */
  next: string | null
}

/**
 * `?limit=N&cursor=C` of a list route. A cursor is opaque to clients (base64url
 * of the position of the last item given), so its meaning can change without
 * breaking them; a cursor that does not decode is a 400 naming the parameter.
 */
export function pageRequest (query: URLSearchParams, options: { defaultLimit?: number, maxLimit?: number } = {}): PageRequest {
  const max = options.maxLimit ?? MAX_PAGE_LIMIT
  const raw = query.get('limit')
  let limit = options.defaultLimit ?? DEFAULT_PAGE_LIMIT
  if (raw != null && raw !== '') {
    const n = Number(raw)
    if (!/^\d+$/.test(raw) || n < 1 || n > max) {
      throw badRequest('invalid_request', `limit ${raw} is not a whole number from 1 to ${max}`, [{ path: 'limit', message: `must be a whole number from 1 to ${max}` }])
    }
    limit = n
  }
  const cursor = query.get('cursor')
  if (cursor == null || cursor === '') return { limit, after: null }
  const after = decodeCursor(cursor)
  if (after == null) {
    throw badRequest('invalid_request', `cursor ${JSON.stringify(cursor.slice(0, 40))} is not a cursor this node gave; pass the ${NEXT_CURSOR_HEADER} header (or the CLI's "next page" hint) of the previous page unchanged`, [{ path: 'cursor', message: 'not a cursor from a previous page' }])
  }
  return { limit, after }
}

export function encodeCursor (position: string): string {
  return Buffer.from(`c1:${position}`, 'utf8').toString('base64url')
}

function decodeCursor (cursor: string): string | null {
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) return null
  const text = Buffer.from(cursor, 'base64url').toString('utf8')
  return text.startsWith('c1:') ? text.slice(3) : null
}

/**
 * One page of a list sorted ascending by `keyOf`: the first `limit` items whose
 * key is above the cursor's. Keys must be unique and sort as strings; an item
 * added or removed between two pages shifts nothing else.
 */
export function pageAscending<T> (items: T[], keyOf: (item: T) => string, req: PageRequest): Page<T> {
  const rest = req.after == null ? items : items.filter(item => keyOf(item) > req.after!)
  const page = rest.slice(0, req.limit)
  const next = rest.length > req.limit ? encodeCursor(keyOf(page[page.length - 1]!)) : null
  return { items: page, next }
}

/**
 * One page of a time-ordered list (oldest first, ascending `keyOf`), read from
 * the newest end as a log is: the newest `limit` items below the cursor's key,
 * still oldest first. The next page holds older items. So a list shorter than
 * the limit comes back whole and in its usual order.
 */
export function pageNewestFirst<T> (items: T[], keyOf: (item: T) => string, req: PageRequest): Page<T> {
  const rest = req.after == null ? items : items.filter(item => keyOf(item) < req.after!)
  const page = rest.slice(Math.max(0, rest.length - req.limit))
  const next = rest.length > req.limit ? encodeCursor(keyOf(page[0]!)) : null
  return { items: page, next }
}

/** A position key from a time and an id: zero-padded so that string order is time order. */
export function timeKey (ms: number, id: string): string {
  return `${Math.max(0, Math.floor(ms)).toString().padStart(15, '0')}!${id}`
}

/** The headers a list route sends with a page. */
export function pageHeaders (page: Page<unknown>): Record<string, string> {
  return page.next == null ? {} : { [NEXT_CURSOR_HEADER]: page.next }
}
