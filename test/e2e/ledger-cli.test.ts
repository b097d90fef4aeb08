/**
 * The ledger, spec forks and spec statistics through the real command line:
 * a `specmesh daemon` coordinates, a `specmesh agent` executes with a Python
 * handler, and `ledger`, `spec fork`, `spec show` and `spec stats` run as a
 * user runs them. Every wait polls with its own deadline; nothing sleeps blindly.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { EXTRACT_EXEC, EXTRACT_INPUT, EXTRACT_SPEC, killSpawned, removeTempHomes, runCli, runJson, startAgent, startDaemon, tempHome, waitForPeers } from '../helpers/cli.ts'

afterEach(async () => {
  await killSpawned()
  await removeTempHomes()
})

describe('ledger, spec fork and spec stats through the command line', () => {
  it('ledger --json traces a job\'s spend to its receipt; spec fork publishes a variant; spec show prints the lineage', async () => {
    const daemon = await startDaemon(await tempHome())
    const home = ['--home', daemon.home]
    const published = await runJson(['spec', 'publish', EXTRACT_SPEC, ...home])
    const specId = published.id as string
    const id = await runJson(['id', ...home])

    // Nothing yet: an empty ledger, and the spec with zero jobs.
    expect(await runJson(['ledger', ...home])).toEqual({ specs: [], jobs: [] })
    expect((await runCli(['ledger', ...home])).stdout).toContain('nothing in the ledger yet')
    const before = await runJson(['ledger', '--spec', specId, ...home])
    expect(before.specs).toEqual([{ specId, jobs: 0, reservedUsd: 0, spentUsd: 0, remainingUsd: 0, name: 'extract-entities-e2e' }])

    const agent = await startAgent(['--spec', specId, '--exec', EXTRACT_EXEC, '--price', '0.04', '--bootstrap', id.multiaddrs[0]])
    await waitForPeers(daemon.home, [agent.peerId], 'the daemon to connect to the agent')
    const submitted = await runCli(['job', 'submit', specId, '--input', EXTRACT_INPUT, '--bid-window-ms', '1500', ...home, '--json'], { timeoutMs: 30_000 })
    expect(submitted.code, submitted.stdout + submitted.stderr).toBe(0)
    const result = JSON.parse(submitted.stdout)
    expect(result.status).toBe('succeeded')

    const ledger = await runJson(['ledger', ...home])
    expect(Object.keys(ledger)).toEqual(['specs', 'jobs'])
    // The fixture's budget (0.5 USD) includes fees; the daemon charges none by default.
    expect(ledger.specs).toEqual([{ specId, name: 'extract-entities-e2e', jobs: 1, reservedUsd: 0, spentUsd: 0.04, remainingUsd: 0.46 }])
    expect(ledger.jobs).toHaveLength(1)
    const job = ledger.jobs[0]
    expect(job).toMatchObject({ jobId: result.jobId, specId, budgetUsd: 0.5, reservedUsd: 0, spentUsd: 0.04, remainingUsd: 0.46 })
    expect(job.entries.map((e: { kind: string }) => e.kind)).toEqual(['reserve', 'settle'])
    const settle = job.entries[1]
    expect(settle).toMatchObject({ attempt: 1, agent: agent.peerId, priceUsd: 0.04, feeUsd: 0, receiptId: result.receipt.id })
    // The figure traces to a signed receipt the node holds.
    const receipt = await runJson(['receipt', 'show', settle.receiptId, ...home])
    expect(receipt.body).toMatchObject({ jobId: result.jobId, costUsd: 0.04, outcome: 'success' })
    expect(await runJson(['ledger', '--spec', specId, ...home])).toEqual(ledger)

    const table = await runCli(['ledger', ...home])
    expect(table.code).toBe(0)
    expect(table.stdout).toMatch(/^SPEC\s+NAME\s+JOBS\s+RESERVED\s+SPENT\s+REMAINING\n/)
    expect(table.stdout).toMatch(new RegExp(`${specId}\\s+extract-entities-e2e\\s+1\\s+0 USD\\s+0\\.04 USD\\s+0\\.46 USD`))
    expect(table.stdout).toContain(`job ${result.jobId}`)
    expect(table.stdout).toMatch(/budget\s+0\.5 USD\s+reserved 0 USD\s+spent 0\.04 USD\s+remaining 0\.46 USD/)
    expect(table.stdout).toMatch(new RegExp(`1\\s+settle\\s+\\S+\\s+0\\.04 USD\\s+-\\s+${result.receipt.id}`))

    const unknownSpec = await runCli(['ledger', '--spec', 'bagaaieranosuchspec', ...home])
    expect(unknownSpec.code).toBe(1)
    expect(unknownSpec.stderr).toContain('no spec with id bagaaieranosuchspec')

    // Stats from one receipt: reported, with a suggestion marked not confident.
    const stats = await runJson(['spec', 'stats', specId, ...home])
    expect(stats).toMatchObject({ specId, executions: 1, jobs: 1, successRate: 1, deadline: { kind: 'relative', seconds: 120 } })
    expect(stats.suggestion.confident).toBe(false)
    expect(stats.suggestion.notes[0]).toMatch(/only 1 execution/)
    const statsHuman = await runCli(['spec', 'stats', specId, ...home])
    expect(statsHuman.stdout).toMatch(/executions\s+1 receipt over 1 job/)
    expect(statsHuman.stdout).toMatch(/suggested\s+deadline \d+ s, budget\.maxUsd 0\.05 USD\s+\(not confident\)/)
    expect(statsHuman.stdout).toContain(`apply        specmesh spec fork ${specId} --set deadline=`)

    // A fork that breaks the spec: exit 1, one line per problem naming the field.
    const bad = await runCli(['spec', 'fork', specId, '--set', 'cost_usd=0.9', ...home])
    expect(bad.code).toBe(1)
    expect(bad.stdout).toMatch(/^fork of \S+: costUsd: 0\.9 is more than budget\.maxUsd/m)
    const usage = await runCli(['spec', 'fork', specId, '--set', 'deadline', ...home])
    expect(usage.code).toBe(2)
    expect(usage.stderr).toContain('is not FIELD=VALUE')

    // The SLA variant of the issue: tighter deadline, higher price.
    const fork = await runJson(['spec', 'fork', specId, '--set', 'variant=fast', '--set', 'deadline=1m', '--set', 'costUsd=0.3', '--set', 'budget.maxUsd=0.5', ...home])
    expect(fork.id).not.toBe(specId)
    expect(fork.spec).toMatchObject({ parent: specId, variant: 'fast', deadline: 60, costUsd: 0.3, budget: { maxUsd: 0.5 } })
    expect(fork.changes).toEqual([
      { path: 'costUsd', from: 0.05, to: 0.3 },
      { path: 'deadline', from: 120, to: 60 },
      { path: 'variant', to: 'fast' }
    ])
    const forkHuman = await runCli(['spec', 'fork', fork.id, '--set', 'variant=faster', '--set', 'deadline=45s', ...home])
    expect(forkHuman.code, forkHuman.stderr).toBe(0)
    const fasterId = /^forked (\S+)$/m.exec(forkHuman.stdout)![1]!
    expect(forkHuman.stdout).toContain(`parent   ${fork.id}`)
    expect(forkHuman.stdout).toMatch(/changed {2}deadline: 60 → 45/)
    expect(forkHuman.stdout).toMatch(/variant: fast → faster/)
    expect((await runJson(['spec', 'list', ...home])).map((s: { id: string }) => s.id).sort()).toEqual([specId, fork.id, fasterId].sort())

    // spec show: the parent chain up to the original, and the forks below.
    const showFaster = await runCli(['spec', 'show', fasterId, ...home])
    expect(showFaster.stdout).toMatch(new RegExp(`parent {4}${fork.id} {2}extract-entities-e2e 1\\.0\\.0 \\(fast\\)`))
    expect(showFaster.stdout).toMatch(new RegExp(`↑ ${specId} {2}extract-entities-e2e 1\\.0\\.0\\n`))
    expect(showFaster.stdout).toContain('forks     none known')
    const showRoot = await runCli(['spec', 'show', specId, ...home])
    expect(showRoot.stdout).toContain('parent    none (an original spec)')
    expect(showRoot.stdout).toMatch(new RegExp(`forks {5}${fork.id} {2}extract-entities-e2e 1\\.0\\.0 \\(fast\\)\\n {12}${fasterId} {2}extract-entities-e2e 1\\.0\\.0 \\(faster\\)`))
    // --json stays the stored record.
    expect(await runJson(['spec', 'show', fork.id, ...home])).toEqual({ id: fork.id, spec: fork.spec, signer: fork.signer, sig: fork.sig, receivedAt: fork.receivedAt })
  })
})
