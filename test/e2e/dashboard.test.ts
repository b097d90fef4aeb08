/**
 * The dashboard in a real browser: Debian's chromium, driven by playwright-core,
 * opens the URL `specmesh dashboard` prints on a real daemon with real jobs,
 * and finds what an operator would look for: the overview's counts, a job's
 * timeline with its attempts and receipt, the receipt's audit, the jobs list
 * filtered by status. Strangers write specs: one whose description is markup
 * must show as text and never run. A screenshot is saved to
 * bench-results/ (docs/dashboard.png is one of these).
 *
 * Without chromium the test is skipped with a message, except in CI (.ci/run
 * installs it), where a missing browser is a failure.
 */
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { BrowserContext, Page } from 'playwright-core'
import { killSpawned, removeTempHomes, ROOT, runCli, runJson } from '../helpers/cli.ts'
import { meshWithJobs, SPEC_NAME, type MeshWithJobs } from '../helpers/mesh-with-jobs.ts'
import { sampleSpec } from '../helpers/specs.ts'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const HAVE_CHROMIUM = existsSync(CHROMIUM)
if (!HAVE_CHROMIUM && process.env.CI != null) throw new Error(`no chromium at ${CHROMIUM}: .ci/run installs Debian's chromium package; the dashboard test must run in CI`)
if (!HAVE_CHROMIUM) console.warn(`dashboard browser test skipped: no chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`)

export const SCREENSHOT = join(ROOT, 'bench-results', 'dashboard.png')
const HOSTILE = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>entities, maybe'
const MARKUP = `python3 ${join(ROOT, 'test/fixtures/agents/markup.py')}`
const INPUT = join(ROOT, 'test/fixtures/agents/input.json')

let mesh: MeshWithJobs
let context: BrowserContext
let page: Page
let profile: string
let url: string
let xssJob: string

describe.skipIf(!HAVE_CHROMIUM)('the dashboard in a browser', () => {
  beforeAll(async () => {
    // The cheaper agent is hostile: it wins the first award and fails it with markup for a reason; the retry goes to the good one.
    mesh = await meshWithJobs({ succeed: 2, fail: 1, cheaperAgent: MARKUP })
    xssJob = mesh.succeeded[0]!
    const first = await runJson(['job', 'status', xssJob, '--home', mesh.daemon.home])
    if (first.attempts[0]?.agent !== mesh.cheaper!.peerId || first.attempts[0]?.outcome !== 'error') throw new Error(`the hostile agent did not get the first attempt: ${JSON.stringify(first.attempts)}`)

    // A stranger's spec whose description is markup meant to run in the page.
    const published = await fetch(`${mesh.daemon.api.url}/v1/specs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${(await readFile(join(mesh.daemon.home, 'api-token'), 'utf8')).trim()}`, 'content-type': 'application/json' },
      body: JSON.stringify(sampleSpec('hostile-description', { description: HOSTILE, deadline: '5m' }))
    })
    if (published.status !== 201) throw new Error(`could not publish the hostile spec: ${await published.text()}`)

    url = (await runJson(['dashboard', '--home', mesh.daemon.home])).url
    const { chromium } = await import('playwright-core')
    profile = await mkdtemp(join(tmpdir(), 'specmesh-chromium-'))
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1280, height: 900 }
    })
    page = context.pages()[0] ?? await context.newPage()
  }, 180_000)

  afterAll(async () => {
    await context?.close()
    if (profile != null) await rm(profile, { recursive: true, force: true })
    await killSpawned()
    await removeTempHomes()
  })

  /** Open a view and wait until the page says it has rendered it. */
  async function open (hash: string): Promise<void> {
    await page.evaluate(h => { location.hash = h }, hash)
    await page.waitForFunction(h => document.body.dataset.rendered === h, hash, { timeout: 15_000 })
  }

  it('opens with the token from the printed URL and shows the overview', async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/dashboard\/#token=[0-9a-f]{64}$/)
    await page.goto(url)
    await page.waitForFunction(() => document.body.dataset.rendered === '#/', null, { timeout: 15_000 })
    // The token left the address bar; the page keeps it for this tab only.
    expect(page.url()).not.toContain('token=')
    const cards = await page.locator('.card').allInnerTexts()
    expect(cards).toContain('2\npeers connected')
    expect(cards).toContain('2\njobs succeeded')
    expect(cards).toContain('1\njobs failed')
    // The failed job is among the last errors, linked to its page.
    expect(await page.locator(`main a[title="${mesh.failed[0]}"]`).count()).toBe(1)
  })

  it('shows a job\'s timeline with its attempts, receipt and cost against the budget', async () => {
    await open(`#/job/${xssJob}`)
    // The record's timeline shows first; the event stream's replaces it as the events arrive.
    await expect.poll(async () => await page.locator('#timeline-source').innerText(), { timeout: 15_000 }).toBe('(event stream, complete)')
    const timeline = await page.locator('#timeline').innerText()
    expect(timeline).toContain('submitted; calling for bids')
    expect(timeline).toMatch(/attempt 1 ended: error after \d+ ms — handler exited with code 1: /)
    expect(timeline).toMatch(/attempt 2 ended: success after \d+ ms/)
    expect(timeline).toMatch(/attempt 2 receipt \S+: success, charged 0\.04 USD/)
    // Every bid, not only the awarded ones: both agents bid.
    expect(timeline.match(/bid from/g)?.length).toBeGreaterThanOrEqual(2)
    expect(timeline).toContain('job succeeded')
    expect(await page.locator('#job-cost').innerText()).toMatch(/^0\.04 USD of a budget of 0\.5 USD/)
    await mkdir(join(ROOT, 'bench-results'), { recursive: true })
    await page.screenshot({ path: SCREENSHOT, fullPage: true })
    expect(existsSync(SCREENSHOT)).toBe(true)
  })

  it('shows a stranger\'s markup as text and never runs it', async () => {
    await open('#/specs')
    const row = page.locator('main tbody tr', { hasText: 'hostile-description' })
    expect(await row.innerText()).toContain(HOSTILE)
    expect(await page.locator('main img, main script').count()).toBe(0)
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined()
  })

  it('follows the receipt link to its audit', async () => {
    await open(`#/job/${xssJob}`)
    await expect.poll(async () => await page.locator('#timeline-source').innerText(), { timeout: 15_000 }).toBe('(event stream, complete)')
    await page.locator('#timeline a[href^="#/receipt/"]').last().click()
    await page.waitForFunction(() => document.body.dataset.rendered?.startsWith('#/receipt/'), null, { timeout: 15_000 })
    await expect.poll(async () => await page.locator('#audit-verdict').innerText()).toBe('every check made passes')
    const checks = await page.locator('main table').first().innerText()
    expect(checks).toContain('coordinator-signature')
    expect(checks).not.toContain('FAILED')
  })

  it('filters jobs by status and shows reputation and the ledger', async () => {
    await open('#/jobs?status=failed')
    const rows = await page.locator('main tbody tr').allInnerTexts()
    expect(rows).toHaveLength(1)
    expect(rows[0]).toContain('failed')
    expect(await page.locator(`main a[title="${mesh.failed[0]}"]`).count()).toBe(1)
    await open('#/reputation')
    expect(await page.locator('main tbody tr').count()).toBe(2)
    await open('#/ledger')
    expect(await page.locator('main').innerText()).toContain(SPEC_NAME)
  })

  it('updates live: a new job appears in the list, and its page follows its event stream to the end', async () => {
    await open('#/jobs')
    const before = await page.locator('main tbody tr').count()
    const run = await runCli(['job', 'submit', SPEC_NAME, '--input', INPUT, '--bid-window-ms', '1500', '--no-wait', '--home', mesh.daemon.home, '--json'], { timeoutMs: 30_000 })
    expect(run.code, run.stderr).toBe(0)
    const { jobId } = JSON.parse(run.stdout)
    await expect.poll(async () => await page.locator(`main a[title="${jobId}"]`).count(), { timeout: 20_000 }).toBe(1)
    expect(await page.locator('main tbody tr').count()).toBe(before + 1)

    await page.locator(`main a[title="${jobId}"]`).click()
    await expect.poll(async () => await page.locator('#timeline-source').innerText(), { timeout: 30_000 }).toBe('(event stream, complete)')
    expect(await page.locator('#timeline').innerText()).toContain('job succeeded')
    expect(await page.locator('#job-status').innerText()).toBe('succeeded')
  })
})
