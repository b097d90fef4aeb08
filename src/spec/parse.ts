import { readUserFile } from '../util/files.ts'
import YAML, { isScalar } from 'yaml'
import { MAX_SPEC_BYTES } from '../wire/constants.ts'
import type { Spec } from './schema.ts'
import { SpecValidationError, SpecFileError, type Problem } from './errors.ts'
import { validateSpec, type ValidateOptions } from './validate.ts'

export interface ParseOptions extends ValidateOptions {
  /** Named in error messages. */
  filename?: string
}

/**
 * Parses a spec file's text (YAML or JSON: the YAML 1.2 parser reads both, and the first
 * character tells which one to name in syntax errors), then normalizes and validates it.
 * The size limit is checked before anything is parsed. Throws SpecValidationError with
 * every problem found.
 */
export function parseSpecText (text: string, options: ParseOptions = {}): Spec {
  const fail = (problems: Problem[]): never => {
    throw new SpecValidationError(problems, options.filename != null ? { filename: options.filename } : {})
  }
  const bytes = Buffer.byteLength(text, 'utf8')
  if (bytes > MAX_SPEC_BYTES) {
    fail([{ path: '', message: `the file is ${bytes} bytes, more than the limit of ${MAX_SPEC_BYTES}; shrink the schemas or descriptions` }])
  }
  const source = text.replace(/^\uFEFF/, '')
  const format = /^\s*[{[]/.test(source) ? 'JSON' : 'YAML'
  const doc = YAML.parseDocument(source, {
    schema: 'core', // YAML 1.2: yes/no stay strings, timestamps stay strings
    merge: false,
    uniqueKeys: true,
    strict: true,
    prettyErrors: true
  })
  const syntax = [...doc.errors, ...doc.warnings].map(e => {
    const where = e.linePos?.[0] != null ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}: ` : ''
    const what = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')
    return { path: '', message: `${where}${what}; fix the ${format} syntax` }
  })
  if (syntax.length > 0) fail(syntax)

  let raw: unknown
  try {
    raw = doc.toJS({ maxAliasCount: 100 })
  } catch (err) {
    fail([{ path: '', message: `${(err as Error).message}; fix the ${format}` }])
  }
  if (raw == null) fail([{ path: '', message: 'the file holds no spec; write a mapping with at least name, input and output' }])

  // `version: 1.0` would otherwise reach us as the number 1: keep what the author wrote.
  const version = doc.contents != null && YAML.isMap(doc.contents) ? doc.contents.get('version', true) : undefined
  if (isScalar(version) && typeof version.value === 'number' && typeof version.source === 'string' && raw != null && typeof raw === 'object') {
    (raw as Record<string, unknown>).version = version.source
  }

  const result = validateSpec(raw, options)
  if (!result.ok) fail(result.problems)
  return (result as { ok: true, spec: Spec }).spec
}

/** Reads and parses a spec file. A file that cannot be read throws SpecFileError naming the path. */
export async function loadSpecFile (path: string, options: ValidateOptions = {}): Promise<Spec> {
  const text = await readUserFile(path, 'spec', SpecFileError)
  return parseSpecText(text, { ...options, filename: path })
}
