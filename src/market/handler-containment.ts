/**
 * Containment of `--exec` handlers: nothing a handler starts may outlive it,
 * not even what detaches itself (`setsid`), and not even after the agent is
 * killed with SIGKILL and cannot clean up.
 *
 * Two mechanisms, chosen once at start():
 *
 * - **cgroup v2** (Linux, where this process may create cgroups: root, or a
 *   delegated subtree): each job runs in a cgroup of its own, which the program
 *   joins before it execs, so everything it forks is inside; ending the job
 *   writes `cgroup.kill`, which kills every process in it, session leaders too.
 * - **process group** (everywhere else): the program leads a process group and
 *   the group is killed; a child that calls setsid() leaves the group and is
 *   out of reach (documented in README "What a handler can leave behind").
 *
 * Each running job is recorded in `<home>/run/handlers/` (pid, its start time,
 * its cgroup). At the next start the sweep kills whatever a killed agent left
 * there: the cgroup whole, or the process group when its leader's start time
 * still matches (so a reused pid is never hit).
 */
import { mkdirSync, readFileSync, readdirSync, rmdirSync, unlinkSync, writeFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { join } from 'node:path'

export type ContainmentMode = 'cgroup' | 'process-group'

export interface HandlerContainmentInit {
  /** Data folder: running jobs are recorded under `<home>/run/handlers`. */
  home: string
  /** @default 'auto': cgroup v2 when it works here, else process group */
  mode?: 'auto' | ContainmentMode
  log?: (event: string, fields?: Record<string, unknown>) => void
}

/** One job's confinement. */
export interface Cell {
  /** The argv that runs `command` inside the cell, through /bin/sh. */
  readonly argv: [string, ...string[]]
  /** Record the started program (its pid leads the process group). */
  started: (pid: number) => void
  /** Kill everything in the cell now. */
  kill: () => void
  /** The job is over: kill what is left, forget the record. */
  close: () => void
}

interface HandlerRecord {
  pid: number
  startTime: string
  cgroup?: string
}

/** The shell that joins the cgroup ($1) and then becomes the handler ($2). Exit 125 when it cannot join. */
const JOIN_CGROUP = 'echo $$ > "$1/cgroup.procs" || { echo "specmesh: could not join the handler cgroup $1" >&2; exit 125; }; exec /bin/sh -c "$2"'

export const CGROUP_JOIN_FAILED = 125

export class HandlerContainment {
  private readonly runDir: string
  private readonly requested: 'auto' | ContainmentMode
  private readonly log: NonNullable<HandlerContainmentInit['log']>
  private cgroupRoot: string | null = null
  private counter = 0
  mode: ContainmentMode = 'process-group'

  constructor (init: HandlerContainmentInit) {
    this.runDir = join(init.home, 'run', 'handlers')
    this.requested = init.mode ?? 'auto'
    this.log = init.log ?? (() => {})
    const tag = createHash('sha256').update(init.home).digest('hex').slice(0, 12)
    if (this.requested !== 'process-group') this.cgroupRoot = cgroupParent(`specmesh-${tag}`)
  }

  /** Choose the mechanism, then sweep what an earlier run of this agent left behind. */
  start (): { mode: ContainmentMode, swept: number } {
    mkdirSync(this.runDir, { recursive: true, mode: 0o700 })
    if (this.cgroupRoot != null && probeCgroup(this.cgroupRoot)) this.mode = 'cgroup'
    else if (this.requested === 'cgroup') throw new Error('cgroup containment was asked for, but this process cannot create and join cgroup v2 groups here')
    const swept = this.sweep()
    this.log('handlers.containment', { mode: this.mode, swept })
    return { mode: this.mode, swept }
  }

  open (command: string): Cell {
    const id = `${process.pid}-${++this.counter}`
    const cgroup = this.mode === 'cgroup' ? join(this.cgroupRoot!, id) : undefined
    if (cgroup != null) mkdirSync(cgroup)
    const recordFile = join(this.runDir, `${id}.json`)
    let pid: number | undefined
    const kill = (): void => {
      if (cgroup != null) killCgroup(cgroup)
      if (pid != null) killGroup(pid)
    }
    return {
      argv: cgroup != null ? ['/bin/sh', '-c', JOIN_CGROUP, 'sh', cgroup, command] : ['/bin/sh', '-c', command],
      started: (startedPid) => {
        pid = startedPid
        const record: HandlerRecord = { pid: startedPid, startTime: startTimeOf(startedPid) ?? '', ...(cgroup != null ? { cgroup } : {}) }
        try {
          writeFileSync(recordFile, JSON.stringify(record), { mode: 0o600 })
        } catch (err) {
          this.log('handlers.record-failed', { level: 'warn', error: (err as Error).message })
        }
      },
      kill,
      close: () => {
        kill()
        if (cgroup != null) removeCgroupWhenEmpty(cgroup)
        try { unlinkSync(recordFile) } catch {}
      }
    }
  }

  /** Kill what records of an earlier run name; returns how many were found still running. */
  private sweep (): number {
    let swept = 0
    for (const name of safeReaddir(this.runDir)) {
      if (!name.endsWith('.json')) continue
      const file = join(this.runDir, name)
      try {
        const record = JSON.parse(readFileSync(file, 'utf8')) as HandlerRecord
        const alive = record.startTime !== '' && startTimeOf(record.pid) === record.startTime
        const cgroupPopulated = record.cgroup != null && cgroupHasProcesses(record.cgroup)
        if (alive || cgroupPopulated) swept++
        if (record.cgroup != null) killCgroup(record.cgroup)
        if (alive) killGroup(record.pid)
        if (record.cgroup != null) removeCgroupWhenEmpty(record.cgroup)
        this.log('handlers.swept', { pid: record.pid, alive, cgroup: record.cgroup ?? null })
      } catch (err) {
        this.log('handlers.sweep-failed', { level: 'warn', file, error: (err as Error).message })
      }
      try { unlinkSync(file) } catch {}
    }
    // Cgroups of this agent with no record (it died between mkdir and the record) go too.
    if (this.cgroupRoot != null) {
      for (const name of safeReaddir(this.cgroupRoot)) {
        const dir = join(this.cgroupRoot, name)
        if (!/^\d+-\d+$/.test(name)) continue
        if (cgroupHasProcesses(dir)) swept++
        killCgroup(dir)
        removeCgroupWhenEmpty(dir)
      }
    }
    return swept
  }
}

function safeReaddir (dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch {
    return []
  }
}

function killGroup (pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL')
  } catch {
    // ESRCH: gone already.
  }
}

function killCgroup (dir: string): void {
  try {
    writeFileSync(join(dir, 'cgroup.kill'), '1')
  } catch {
    // Gone already, or never created.
  }
}

function cgroupHasProcesses (dir: string): boolean {
  try {
    return readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim() !== ''
  } catch {
    return false
  }
}

/** A killed cgroup empties once the kernel has reaped its processes: a few tries, then leave it to the next sweep. */
function removeCgroupWhenEmpty (dir: string, tries = 20): void {
  try {
    rmdirSync(dir)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EBUSY' && tries > 0) setTimeout(() => removeCgroupWhenEmpty(dir, tries - 1), 50).unref()
  }
}

/** Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot; null where there is no /proc. */
function startTimeOf (pid: number): string | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return text.slice(text.lastIndexOf(')') + 2).split(' ')[19] ?? null
  } catch {
    return null
  }
}

/** `<cgroup2 mount><our own cgroup>/<name>`, or null where there is no cgroup v2. */
function cgroupParent (name: string): string | null {
  try {
    const mount = readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
      .map(line => line.split(' '))
      .find(fields => fields[fields.indexOf('-') + 1] === 'cgroup2')?.[4]
    const own = readFileSync('/proc/self/cgroup', 'utf8').split('\n').find(line => line.startsWith('0::'))?.slice(3)
    if (mount == null || own == null) return null
    return join(mount, own, name)
  } catch {
    return null
  }
}

/** Can we create a cgroup here, move a process into it, and kill it there? */
function probeCgroup (parent: string): boolean {
  const probe = join(parent, `probe-${process.pid}`)
  try {
    mkdirSync(parent, { recursive: true })
    mkdirSync(probe)
  } catch {
    return false
  }
  try {
    const run = spawnSync('/bin/sh', ['-c', JOIN_CGROUP, 'sh', probe, 'exit 0'], { stdio: 'ignore', timeout: 5000 })
    return run.status === 0 && readdirSync(probe).includes('cgroup.kill')
  } catch {
    return false
  } finally {
    try { rmdirSync(probe) } catch {}
  }
}
