import { enabled, logger } from '@libp2p/logger'
import type { ComponentLogger, Logger } from '@libp2p/interface'

/**
 * libp2p's component logger, that creates nothing for a topic whose debug output is off.
 * libp2p makes a logger scope for every stream it opens or accepts (yamux, multistream-select,
 * each protocol), and @libp2p/logger builds three debug instances for each (the topic, its
 * errors and its trace: a colour hashed from the name, the DEBUG patterns matched), whether or
 * not anything is ever printed. In idle CPU profiles of bench:scale at 100 nodes that was 2–4 ms/s
 * per node process, on every stream of every connection. Topics turned on (DEBUG, `--debug`,
 * read as each logger is made, as libp2p's own does) get libp2p's logger, unchanged.
 */
export function quietLogger (): ComponentLogger {
  return { forComponent: (name: string) => scoped(name) }
}

const noop = (): void => {}

function scoped (name: string): Logger {
  if (enabled(name) || enabled(`${name}:error`) || enabled(`${name}:trace`)) return logger(name)
  return Object.assign(noop.bind(null), { error: noop, trace: noop, enabled: false, newScope: (scope: string) => scoped(`${name}:${scope}`) })
}
