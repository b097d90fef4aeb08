import { readUserFile } from '../util/files.ts'
import YAML, { isScalar } from 'yaml'
import { parseYamlOrJson } from '../util/yaml-text.ts'
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
  const parsed = parseYamlOrJson(text, { maxBytes: MAX_SPEC_BYTES, tooLargeFix: 'shrink the schemas or descriptions' })
  if (!parsed.ok) return fail(parsed.problems)
  const { doc, value: raw } = parsed
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
