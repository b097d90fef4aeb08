import { describe, expect, it } from 'vitest'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { resolveSettings } from '../../../src/config/settings.ts'
import { followListOf, isFollowEntry } from '../../../src/config/schema.ts'
import { networkFlags } from '../../../src/cli/network-flags.ts'

const ID = 'bagaaierabrqu67t2yyvmnithx26j6fye7kqlek2edqo3bzqk4voryydg7efa'

describe('the follow setting (--follow, SPECMESH_FOLLOW, config.json "follow")', () => {
  it('takes spec ids, names, name@version and "all"; nothing else', () => {
    for (const entry of [ID, 'extract-entities', 'extract-entities@1.0.0', 'all']) expect(isFollowEntry(entry), entry).toBe(true)
    for (const entry of ['', '@1.0', 'extract entities', 'name@', '-bad']) expect(isFollowEntry(entry), entry).toBe(false)
    expect(followListOf(['a', 'all'])).toBe('all')
    expect(followListOf(['a@1'])).toEqual(['a@1'])
  })

  it('flags win over SPECMESH_FOLLOW, which wins over config.json; each is checked with a message naming it', async () => {
    const home = await mkdtemp(join(tmpdir(), 'specmesh-follow-'))
    await writeFile(join(home, 'config.json'), JSON.stringify({ follow: ['from-file@1'] }))
    expect((await resolveSettings({ home, env: {} })).values.follow).toEqual(['from-file@1'])
    const fromEnv = await resolveSettings({ home, env: { SPECMESH_FOLLOW: 'all' } })
    expect(fromEnv.values.follow).toBe('all')
    expect(fromEnv.sources.follow).toBe('env')
    expect((await resolveSettings({ home, env: { SPECMESH_FOLLOW: 'a, b@2' } })).values.follow).toEqual(['a', 'b@2'])
    const flags = networkFlags({ follow: ['x@1', 'y'] }, ['daemon'])
    expect(flags.follow).toEqual(['x@1', 'y'])
    expect(networkFlags({ follow: ['x', 'all'] }, ['daemon']).follow).toBe('all')
    expect((await resolveSettings({ home, env: { SPECMESH_FOLLOW: 'all' }, flags })).values.follow).toEqual(['x@1', 'y'])
    expect(() => networkFlags({ follow: ['not a spec'] }, ['daemon'])).toThrow(/--follow not a spec is not a spec id, a spec name or name@version/)
    await expect(resolveSettings({ home, env: { SPECMESH_FOLLOW: '@bad' } })).rejects.toThrow(/SPECMESH_FOLLOW=@bad: entry 0 is not a spec id, name or name@version/)
    await writeFile(join(home, 'config.json'), JSON.stringify({ follow: 'everything' }))
    await expect(resolveSettings({ home, env: {} })).rejects.toThrow(/follow/)
  })
})
