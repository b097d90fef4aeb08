// specmesh dashboard: plain JavaScript, no build step. Every value shown comes
// from the mesh (specs, receipts and reasons are written by strangers), so the
// page is built with createElement and textContent only: nothing is ever
// parsed as HTML, and the server's Content-Security-Policy allows no inline script.
'use strict'

const POLL_MS = 2000
const TOKEN_KEY = 'specmesh-token'

// The token arrives in the URL fragment (#token=…), which the browser never
// sends to a server; it is kept for this tab only and removed from the address bar.
function takeToken () {
  const match = /(?:^#|&)token=([0-9a-f]+)/.exec(location.hash)
  if (match != null) {
    sessionStorage.setItem(TOKEN_KEY, match[1])
    history.replaceState(null, '', location.pathname + '#/')
  }
  return sessionStorage.getItem(TOKEN_KEY)
}
const token = takeToken()

class ApiFailure extends Error {}

async function api (path) {
  const res = await fetch(path, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' } })
  const body = await res.json().catch(() => null)
  if (!res.ok) throw new ApiFailure(body?.error?.message ?? `the node answered ${res.status}`)
  return { body, next: res.headers.get('x-next-cursor') }
}

// ---- building the page without HTML ----

function h (tag, attrs, ...children) {
  const el = document.createElement(tag)
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value == null || value === false) continue
    if (key === 'class') el.className = value
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value)
    else if (key === 'href') el.setAttribute('href', safeHref(value))
    else el.setAttribute(key, String(value))
  }
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue
    el.append(child instanceof Node ? child : document.createTextNode(String(child)))
  }
  return el
}

// Only this page's own routes are ever linked.
function safeHref (value) {
  const text = String(value)
  return text.startsWith('#/') ? text : '#/'
}

const link = (href, text) => h('a', { href }, text)
const idLink = (kind, id) => id == null ? h('span', { class: 'muted' }, '–') : h('a', { href: `#/${kind}/${encodeURIComponent(id)}`, class: 'id', title: id }, shortId(id))
const shortId = id => id.length > 22 ? `${id.slice(0, 10)}…${id.slice(-8)}` : id
const shortPeer = id => id.length > 14 ? `…${id.slice(-8)}` : id
const usd = n => n == null ? '–' : `${Number(Number(n).toFixed(6))} USD`
const time = ms => ms == null ? '–' : new Date(ms).toISOString().replace('T', ' ').replace('Z', '')
const ms = n => `${Math.round(n)} ms`

function table (header, rows, empty) {
  if (rows.length === 0) return h('p', { class: 'muted' }, empty)
  return h('table', null,
    h('thead', null, h('tr', null, header.map(c => h('th', null, c)))),
    h('tbody', null, rows.map(r => h('tr', null, r.map(c => c instanceof Node ? h('td', null, c) : h('td', { class: typeof c === 'number' ? 'num' : null }, c))))))
}

function card (label, value, cls) {
  return h('div', { class: 'card' }, h('div', { class: `value ${cls ?? ''}` }, value), h('div', { class: 'label' }, label))
}

const status = s => h('span', { class: s }, s)

// ---- views ----

async function overview () {
  // The status already reads every job: it counts those that ended in the last minute too.
  const { body: st } = await api('/v1/status')
  const failures = st.jobs.byStatus.failed ?? 0
  return [
    h('h2', null, 'Overview'),
    h('div', { class: 'cards' },
      card('peers connected', st.peers.count),
      card('specs held', st.specs.held),
      card('specs served', st.specs.served.length),
      card('jobs per second (last minute)', (st.jobs.finishedLastMinute / 60).toFixed(2)),
      card('jobs in flight', Object.values(st.jobs.inFlight).reduce((a, b) => a + b, 0)),
      card('jobs succeeded', st.jobs.byStatus.succeeded ?? 0, 'succeeded'),
      card('jobs failed', failures, failures > 0 ? 'failed' : '')),
    h('h2', null, 'Specs served'),
    table(['spec', 'id', 'price', 'running'], st.specs.served.map(s => [s.name, h('code', null, shortId(s.specId)), usd(s.priceUsd), `${s.inFlight} / ${s.limit}`]), 'this node serves no spec'),
    h('h2', null, 'Last errors'),
    table(['when', 'kind', 'ref', 'message'], st.lastErrors.map(e => [time(e.at), e.kind, e.kind === 'job' ? idLink('job', e.ref) : h('code', null, shortPeer(e.ref)), e.message]), 'no errors'),
    h('h2', null, 'Peers'),
    table(['peer id'], st.peers.peerIds.map(p => [h('code', null, p)]), 'no peers connected')
  ]
}

async function jobs (params) {
  const query = new URLSearchParams()
  for (const key of ['status', 'spec', 'agent']) if (params.get(key)) query.set(key, params.get(key))
  query.set('limit', '200')
  const { body: list } = await api(`/v1/jobs?${query}`)
  const filter = (name, label, input) => h('label', null, label, input)
  const apply = () => {
    const next = new URLSearchParams()
    for (const key of ['status', 'spec', 'agent']) {
      const value = document.getElementById(`filter-${key}`).value.trim()
      if (value !== '') next.set(key, value)
    }
    location.hash = `#/jobs?${next}`
  }
  const select = h('select', { id: 'filter-status', onchange: apply },
    ['', 'bidding', 'running', 'succeeded', 'failed', 'cancelled'].map(s => {
      const o = h('option', { value: s }, s === '' ? 'any' : s)
      if (s === (params.get('status') ?? '')) o.selected = true
      return o
    }))
  const text = key => {
    const el = h('input', { id: `filter-${key}`, placeholder: key === 'spec' ? 'name, name@version or id' : 'peer id (start or end)', onchange: apply })
    el.value = params.get(key) ?? ''
    return el
  }
  return [
    h('h2', null, 'Jobs'),
    h('div', { class: 'filters' }, filter('status', 'status', select), filter('spec', 'spec', text('spec')), filter('agent', 'agent', text('agent'))),
    table(['job', 'spec', 'status', 'cost', 'attempts', 'submitted', 'reason'],
      [...list].reverse().map(j => [idLink('job', j.jobId), j.specName, status(j.status), usd(j.costUsd), j.attempts.length, time(j.submittedAt), j.reason ?? '']),
      'no jobs match')
  ]
}

// ---- one job: its record, and its timeline from the job's event stream ----

// The timeline follows GET /v1/jobs/:id/events (Server-Sent Events) as it
// happens. EventSource cannot send the bearer token, so the stream is read
// with fetch; a cut stream resumes after the last event seen (Last-Event-ID).
let following = null

function follow (jobId) {
  if (following?.jobId === jobId) return following
  following?.controller.abort()
  const state = { jobId, events: [], ended: false, unavailable: false, controller: new AbortController() }
  following = state
  ;(async () => {
    for (let tries = 0; tries < 5 && !state.ended; tries++) {
      try {
        const headers = { authorization: `Bearer ${token}`, accept: 'text/event-stream' }
        const last = state.events[state.events.length - 1]
        if (last != null) headers['last-event-id'] = String(last.seq)
        const res = await fetch(`/v1/jobs/${encodeURIComponent(jobId)}/events`, { headers, signal: state.controller.signal })
        if (!res.ok || !String(res.headers.get('content-type')).startsWith('text/event-stream')) {
          state.unavailable = true
          break
        }
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
        let buffer = ''
        for (;;) {
          const { value, done } = await reader.read()
          if (done) break
          buffer += value
          let end
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end)
            buffer = buffer.slice(end + 2)
            const data = block.split('\n').filter(l => l.startsWith('data:')).map(l => l.slice(5).replace(/^ /, '')).join('\n')
            if (data === '') continue
            const event = JSON.parse(data)
            if (event.seq == null) continue
            state.events.push(event)
            if (event.type === 'done') state.ended = true
            if (following === state) render()
          }
        }
        if (state.ended) break
      } catch (err) {
        if (state.controller.signal.aborted) return
      }
      await new Promise(resolve => setTimeout(resolve, 1000))
    }
    state.ended = true
    if (following === state) render()
  })()
  return state
}

function stopFollowing () {
  following?.controller.abort()
  following = null
}

function eventLine (e, t0) {
  const d = e.data ?? {}
  const at = h('span', { class: 'at' }, `+${ms(e.at - t0)}`)
  const agent = a => h('code', { title: a }, shortPeer(String(a ?? '')))
  switch (e.type) {
    case 'submitted': return h('li', null, at, 'submitted; calling for bids ', h('span', { class: 'muted' }, `(ceiling ${usd(d.maxUsd)} per attempt, window ${ms(d.bidWindowMs ?? 0)})`))
    case 'waiting-capacity': return h('li', null, at, `waiting for capacity: ${d.agents ?? 0} agents serve the spec, none has a free slot`)
    case 'bid': return h('li', null, at, 'bid from ', agent(d.agent), ` at ${usd(d.priceUsd)}`, d.estimatedMs != null ? h('span', { class: 'muted' }, ` (estimates ${ms(d.estimatedMs)})`) : '')
    case 'award': return h('li', null, at, `attempt ${d.attempt}: awarded to `, agent(d.agent), ` at ${usd(d.priceUsd)}`, d.score != null ? h('span', { class: 'muted' }, ` (score ${Number(d.score).toFixed(3)})`) : '')
    case 'attempt-started': return h('li', null, at, `attempt ${d.attempt} started at `, agent(d.agent))
    case 'attempt-ended': return h('li', { class: d.outcome === 'success' ? 'ok' : 'bad' }, at, `attempt ${d.attempt} ended: `, status(String(d.outcome ?? 'unknown')), d.durationMs != null ? ` after ${ms(d.durationMs)}` : '', d.reason ? ` — ${d.reason}` : '')
    case 'backoff': return h('li', null, at, `backing off ${ms(d.delayMs ?? 0)} before retry ${d.retry ?? ''}`)
    case 'receipt': return h('li', null, at, `attempt ${d.attempt} receipt `, idLink('receipt', d.receiptId), `: ${d.outcome}, charged ${usd(d.costUsd)}`)
    case 'done': return h('li', { class: d.status === 'succeeded' ? 'ok' : 'bad' }, at, 'job ', status(String(d.status)), d.reason ? ` — ${d.reason}` : '', ` · cost ${usd(d.costUsd)}`)
    default: return h('li', null, at, e.type)
  }
}

/** A node without the event stream: the timeline as the job's record tells it (no bids but the awarded ones). */
function recordTimeline (j) {
  const t0 = j.submittedAt
  const at = t => h('span', { class: 'at' }, `+${ms(t - t0)}`)
  const items = [h('li', null, at(t0), 'submitted; calling for bids ', h('span', { class: 'muted' }, `(ceiling ${usd(j.maxUsd)} per attempt)`))]
  for (const a of j.attempts) {
    items.push(h('li', null, at(a.startedAt ?? t0), `attempt ${a.attempt}: awarded to `, h('code', { title: a.agent }, shortPeer(a.agent)), ` at ${usd(a.priceUsd)}`))
    if (a.endedAt != null) {
      items.push(h('li', { class: a.outcome === 'success' ? 'ok' : 'bad' }, at(a.endedAt), `attempt ${a.attempt} ended: `, status(a.outcome ?? 'unknown'),
        a.startedAt != null ? ` after ${ms(a.endedAt - a.startedAt)}` : '', a.reason ? ` — ${a.reason}` : ''))
      if (a.receiptId) items.push(h('li', null, at(a.endedAt), `attempt ${a.attempt} receipt `, idLink('receipt', a.receiptId)))
    }
  }
  if (j.finishedAt != null) items.push(h('li', { class: j.status === 'succeeded' ? 'ok' : 'bad' }, at(j.finishedAt), 'job ', status(j.status), j.reason ? ` — ${j.reason}` : ''))
  return items
}

async function job (id) {
  const { body: j } = await api(`/v1/jobs/${encodeURIComponent(id)}`)
  const stream = follow(j.jobId)
  const { body: spec } = await api(`/v1/specs/${encodeURIComponent(j.specId)}`).catch(() => ({ body: null }))
  const budget = spec?.spec?.budget?.maxUsd ?? j.maxUsd
  const t0 = stream.events[0]?.at ?? j.submittedAt
  const fromRecord = stream.unavailable || stream.events.length === 0
  const events = fromRecord ? recordTimeline(j) : stream.events.map(e => eventLine(e, t0))
  // The stream's 'done' event can come before the job's record says so (the record is written beside it): the
  // page shows what the timeline shows, not a status that contradicts its last line until the next refresh.
  const done = fromRecord ? undefined : stream.events.find(e => e.type === 'done')?.data
  const shownStatus = done?.status ?? j.status
  const share = budget > 0 ? Math.min(1, j.costUsd / budget) : 0
  return [
    h('h2', null, 'Job ', h('code', null, j.jobId)),
    h('dl', { class: 'kv' },
      h('dt', null, 'spec'), h('dd', null, `${j.specName} `, h('code', null, j.specId)),
      h('dt', null, 'status'), h('dd', { id: 'job-status' }, status(shownStatus)),
      h('dt', null, 'submitted'), h('dd', null, time(j.submittedAt)),
      h('dt', null, 'deadline'), h('dd', null, time(j.deadline)),
      h('dt', null, 'cost'), h('dd', { id: 'job-cost' }, `${usd(j.costUsd)} of a budget of ${usd(budget)}`,
        h('div', { class: `bar ${j.costUsd > budget ? 'over' : ''}` }, h('span', { 'data-share': share }))),
      h('dt', null, 'receipt'), h('dd', null, idLink('receipt', j.receiptId ?? null))),
    h('h2', null, 'Timeline ', h('span', { class: 'muted', id: 'timeline-source' }, fromRecord ? '(from the job record)' : stream.ended ? '(event stream, complete)' : '(event stream, live)')),
    h('ol', { class: 'timeline', id: 'timeline' }, events),
    'output' in j ? [h('h2', null, 'Output'), h('pre', null, JSON.stringify(j.output, null, 2))] : null
  ]
}

async function specs (params) {
  const query = new URLSearchParams({ limit: '100' })
  if (params.get('cursor')) query.set('cursor', params.get('cursor'))
  const { body: list, next } = await api(`/v1/specs?${query}`)
  return [
    h('h2', null, 'Specs'),
    h('p', { class: 'muted' }, 'Specs come from anyone on the mesh; what they say is shown as they say it.'),
    table(['id', 'name', 'version', 'variant', 'description', 'budget', 'signer'],
      list.map(s => [h('code', { title: s.id }, shortId(s.id)), s.spec.name, s.spec.version ?? '', s.spec.variant ?? '', s.spec.description ?? '', usd(s.spec.budget?.maxUsd), h('code', { title: s.signer }, shortPeer(s.signer))]),
      'no specs yet'),
    next != null ? h('p', null, link(`#/specs?cursor=${encodeURIComponent(next)}`, 'next page')) : null
  ]
}

async function receipts (params) {
  const query = new URLSearchParams({ limit: '200' })
  if (params.get('job')) query.set('job', params.get('job'))
  const { body: list } = await api(`/v1/receipts?${query}`)
  return [
    h('h2', null, 'Receipts'),
    table(['receipt', 'job', 'agent', 'outcome', 'cost', 'duration', 'reason'],
      [...list].reverse().map(({ id, envelope: { body: r } }) => [idLink('receipt', id), idLink('job', r.jobId), h('code', { title: r.agent }, shortPeer(r.agent)), status(r.outcome), usd(r.costUsd), ms(r.endedAt - r.startedAt), r.reason ?? '']),
      'no receipts yet')
  ]
}

async function receipt (id) {
  const [{ body: stored }, { body: audit }] = await Promise.all([
    api(`/v1/receipts/${encodeURIComponent(id)}`),
    api(`/v1/receipts/${encodeURIComponent(id)}/verify`)
  ])
  const r = stored.envelope.body
  return [
    h('h2', null, 'Receipt ', h('code', null, stored.id)),
    h('dl', { class: 'kv' },
      h('dt', null, 'job'), h('dd', null, idLink('job', r.jobId)),
      h('dt', null, 'spec'), h('dd', null, h('code', null, r.specId)),
      h('dt', null, 'agent'), h('dd', null, h('code', null, r.agent)),
      h('dt', null, 'coordinator'), h('dd', null, h('code', null, stored.envelope.signer)),
      h('dt', null, 'attempt'), h('dd', null, r.attempt),
      h('dt', null, 'outcome'), h('dd', null, status(r.outcome), r.reason ? ` — ${r.reason}` : ''),
      h('dt', null, 'cost'), h('dd', null, usd(r.costUsd)),
      h('dt', null, 'ran'), h('dd', null, `${time(r.startedAt)} → ${time(r.endedAt)} (${ms(r.endedAt - r.startedAt)})`)),
    h('h2', null, 'Audit: ', h('span', { class: audit.ok ? 'ok' : 'bad', id: 'audit-verdict' }, audit.ok ? 'every check made passes' : 'a check fails')),
    table(['check', 'result', 'detail'], audit.checks.map(c => [c.check, h('span', { class: c.ok ? 'ok' : 'bad' }, c.ok ? 'ok' : 'FAILED'), c.detail]), 'no checks'),
    audit.skipped.length > 0 ? [h('h2', null, 'Not checked'), table(['check', 'why'], audit.skipped.map(s => [s.check, s.detail]), '')] : null
  ]
}

async function reputation () {
  const { body: report } = await api('/v1/reputation?limit=200')
  return [
    h('h2', null, 'Reputation'),
    h('p', { class: 'muted' }, 'score = α/(α+β) from the receipts this node holds, each weighted by how far it trusts the coordinator who signed the verdict.'),
    table(['agent', 'spec', 'score', 'α', 'β', 'receipts', 'success', 'failed', 'refused', 'coordinators'],
      report.agents.map(a => {
        const o = a.evidence.outcomes
        return [h('code', { title: a.agent }, shortPeer(a.agent)), a.spec, a.score.toFixed(3), a.alpha.toFixed(2), a.beta.toFixed(2), a.receipts, o.success, o['criteria-failed'] + o.timeout + o.error, o.refused,
          a.evidence.coordinators.map(c => `${shortPeer(c.coordinator)}: ${c.success} ok, ${c.failure} failed, weight ${c.weight.toFixed(2)}`).join('; ')]
      }),
      'no agents rated yet')
  ]
}

async function ledger () {
  const { body: view } = await api('/v1/ledger?limit=200')
  return [
    h('h2', null, 'Ledger by spec'),
    table(['spec', 'name', 'jobs', 'reserved', 'spent', 'remaining'], view.specs.map(s => [h('code', null, shortId(s.specId)), s.name ?? '?', s.jobs, usd(s.reservedUsd), usd(s.spentUsd), usd(s.remainingUsd)]), 'nothing in the ledger yet'),
    h('h2', null, 'Ledger by job'),
    table(['job', 'budget', 'reserved', 'spent', 'remaining', 'entries'],
      [...view.jobs].reverse().map(j => [idLink('job', j.jobId), usd(j.budgetUsd), usd(j.reservedUsd), usd(j.spentUsd), usd(j.remainingUsd),
        j.entries.map(e => `${e.kind} ${usd(e.priceUsd)} (attempt ${e.attempt})`).join('; ')]),
      'no jobs')
  ]
}

// ---- routing and live updates ----

const routes = [
  [/^#\/?$/, () => overview()],
  [/^#\/jobs(?:\?(.*))?$/, m => jobs(new URLSearchParams(m[1] ?? ''))],
  [/^#\/job\/([^?]+)$/, m => job(decodeURIComponent(m[1]))],
  [/^#\/receipts(?:\?(.*))?$/, m => receipts(new URLSearchParams(m[1] ?? ''))],
  [/^#\/specs(?:\?(.*))?$/, m => specs(new URLSearchParams(m[1] ?? ''))],
  [/^#\/receipt\/([^?]+)$/, m => receipt(decodeURIComponent(m[1]))],
  [/^#\/reputation$/, () => reputation()],
  [/^#\/ledger$/, () => ledger()]
]

let rendering = false
let again = false
async function render () {
  // An event arriving mid-render is shown by one more render right after.
  if (rendering) {
    again = true
    return
  }
  rendering = true
  const main = document.getElementById('main')
  const live = document.getElementById('live')
  try {
    if (token == null) {
      main.replaceChildren(h('div', { class: 'error-box' }, 'No token: open the URL that `specmesh dashboard` prints (it ends in #token=…).'))
      return
    }
    const hash = location.hash === '' ? '#/' : location.hash
    if (!hash.startsWith('#/job/')) stopFollowing()
    const route = routes.find(([pattern]) => pattern.test(hash))
    const content = route == null ? [h('p', null, 'no such page; ', link('#/', 'back to the overview'))] : await route[1](route[0].exec(hash))
    // Keep focus and typing in a filter field across a refresh.
    const focused = document.activeElement?.id
    main.replaceChildren(...[content].flat(Infinity).filter(c => c != null))
    for (const bar of main.querySelectorAll('[data-share]')) bar.style.width = `${Math.round(Number(bar.dataset.share) * 100)}%`
    if (focused) document.getElementById(focused)?.focus()
    for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', hash.startsWith(a.getAttribute('href')) && (a.getAttribute('href') !== '#/' || hash === '#/'))
    live.className = 'live on'
    document.getElementById('footer').textContent = `updated ${new Date().toLocaleTimeString()}`
    document.body.dataset.rendered = hash
  } catch (err) {
    live.className = 'live off'
    main.replaceChildren(h('div', { class: 'error-box' }, err instanceof ApiFailure ? err.message : `cannot reach the node: ${err.message}`))
  } finally {
    rendering = false
    if (again) {
      again = false
      render()
    }
  }
}

window.addEventListener('hashchange', render)
render()
// A job's page follows its event stream; the lists and the overview, which have no stream of their own, are polled.
setInterval(() => {
  if (document.visibilityState !== 'visible' || document.activeElement?.matches?.('input, select')) return
  if (following != null && !following.ended && !following.unavailable) return
  render()
}, POLL_MS)
