/** Limits of the workflow format: a workflow arrives over the local API too, so each bounds what one request can make the daemon do. */
export const MAX_WORKFLOW_JOBS = 256
export const MAX_WORKFLOW_NAME_CHARS = 64
export const MAX_WORKFLOW_DESCRIPTION_CHARS = 4096
export const MAX_WORKFLOW_BYTES = 1024 * 1024
/** A job's bid window may be set per job (the market's default is 100 ms), within the wire's limits. */
export { MAX_BID_WINDOW_MS, MIN_BID_WINDOW_MS } from '../wire/constants.ts'
