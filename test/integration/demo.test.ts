import { describe, expect, it } from 'vitest'
import { runNode } from '../helpers/cli.ts'

/** The lines of the demo's output between two headings. */
function section (text: string, from: RegExp, to?: RegExp): string {
  const start = text.search(from)
  expect(start, `heading ${from}`).toBeGreaterThanOrEqual(0)
  const rest = text.slice(start)
  const end = to != null ? rest.search(to) : -1
  return end === -1 ? rest : rest.slice(0, end)
}

describe('npm run demo', () => {
  it('runs the article\'s two scenarios and reports each in a table, with a verdict and checks', async () => {
    // `npm run demo`, as a real child process, to completion.
    const { code, stdout, stderr } = await runNode(['scripts/demo.ts'], 'the demo', { timeoutMs: 30_000 })
    // The demo reports which of its checks failed on stdout: a failure shows them.
    expect(code, stdout + stderr).toBe(0)
    expect(stderr, stdout).toBe('')
    expect(stdout).toMatch(/time is scaled down: 1 article minute = 200 ms of real time/)
    expect(stdout).toMatch(/transcribe-video\s+\$0\.10, deadline 5 min, budget \$0\.10, max 1 concurrent/)
    expect(stdout).toMatch(/extract-topics\s+\$0\.05, deadline 3 min/)
    expect(stdout).toMatch(/write-summary\s+\$0\.15, deadline 2 min/)

    const run1 = section(stdout, /== Run 1/, /== Run 2/)
    expect(run1).toMatch(/workflow article-pipeline: SUCCEEDED \(3 succeeded\)/)
    expect(run1).toMatch(/^ {2}audio\s+transcribe-video\s+succeeded\s+audio-agent\s+\d\.\d min \/ 5 min\s+\$0\.10 \/ \$0\.10\s*$/m)
    expect(run1).toMatch(/^ {2}nlp\s+extract-topics\s+succeeded\s+nlp-agent\s+\d\.\d min \/ 3 min\s+\$0\.05 \/ \$0\.05\s*$/m)
    expect(run1).toMatch(/^ {2}summ\s+write-summary\s+succeeded\s+summ-agent\s+\d\.\d min \/ 2 min\s+\$0\.15 \/ \$0\.15\s*$/m)
    expect(run1).toMatch(/^ {2}total\s+3\/3 ok\s+\d+\.\d min\s+\$0\.30 \/ \$0\.30/m)
    expect(run1).toMatch(/verdict: All 3 jobs succeeded, each within its deadline/)
    expect(run1).not.toMatch(/FAIL/i)

    const run2 = section(stdout, /== Run 2/, /^demo:/m)
    expect(run2).toMatch(/transcribing takes 8 min against a 5-minute deadline/)
    expect(run2).toMatch(/workflow article-pipeline: FAILED \(0 succeeded, 1 failed, 2 cancelled\)/)
    // Agent and coordinator both stop at the deadline: whichever records it first names it.
    expect(run2).toMatch(/^ {2}audio\s+transcribe-video\s+failed\s+audio-agent\s+5\.\d min \/ 5 min\s+\$0\.00 \/ \$0\.10\s+timeout: (no result by the deadline|deadline reached)$/m)
    expect(run2).toMatch(/^ {2}nlp\s+extract-topics\s+cancelled\s+-\s+- \/ 3 min\s+\$0\.00 \/ \$0\.05\s+not started: dependency audio failed: timeout/m)
    expect(run2).toMatch(/^ {2}summ\s+write-summary\s+cancelled\s+-\s+- \/ 2 min\s+\$0\.00 \/ \$0\.15\s+not started: dependency audio failed \(via nlp\): timeout/m)
    expect(run2).toMatch(/^ {2}total\s+0\/3 ok\s+\d+\.\d min\s+\$0\.00 \/ \$0\.30/m)
    const verdict = run2.slice(run2.indexOf('verdict:'), run2.indexOf('checks:')).replace(/\s+/g, ' ')
    expect(verdict).toMatch(/audio failed \(timeout: aborted at 5\.\d min of its 5 min deadline\); the 2 jobs downstream of it \(nlp, summ\) were cancelled and never submitted, so nothing was spent on them\./)
    expect(verdict).toMatch(/no job cost more than its spec's budget/)
    expect(run2).toMatch(/ok {3}run 2: the Audio agent was aborted at its 5-minute mark \(at 5\.\d min, by the node: deadline reached\)/)
    expect(run2).toMatch(/ok {3}run 2: the NLP and Summ agents were never called/)
    expect(run2).toMatch(/ok {3}both runs: no agent exceeded its budget/)
    expect(run2).not.toMatch(/^ +FAIL /m)

    expect(stdout).toMatch(/^demo: OK, both runs behaved as the article says \((\d+)\/\1 checks passed\)$/m)
  }, 40_000)
})
