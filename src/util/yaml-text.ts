import YAML from 'yaml'

/** A problem with a file's text itself, before any of its fields are looked at. */
export interface TextProblem {
  path: string
  message: string
}

export type ParsedText =
  | { ok: true, doc: YAML.Document, value: unknown, format: 'JSON' | 'YAML' }
  | { ok: false, problems: TextProblem[] }

/**
 * Parse a user's YAML or JSON file text (YAML 1.2 reads both; the first
 * character tells which one to name in errors) into a plain value, with the
 * size limit checked first and every syntax error reported with its line and
 * column. YAML 1.2 core schema: yes/no and timestamps stay strings; no merge
 * keys; duplicate keys are errors; aliases are capped (no billion laughs).
 */
export function parseYamlOrJson (text: string, limits: { maxBytes: number, tooLargeFix: string, syntaxHint?: (source: string) => string | undefined }): ParsedText {
  const bytes = Buffer.byteLength(text, 'utf8')
  if (bytes > limits.maxBytes) {
    return { ok: false, problems: [{ path: '', message: `the file is ${bytes} bytes, more than the limit of ${limits.maxBytes}; ${limits.tooLargeFix}` }] }
  }
  const source = text.replace(/^\uFEFF/, '')
  const format = /^\s*[{[]/.test(source) ? 'JSON' : 'YAML'
  const doc = YAML.parseDocument(source, { schema: 'core', merge: false, uniqueKeys: true, strict: true, prettyErrors: true })
  const syntax = [...doc.errors, ...doc.warnings].map(e => {
    const where = e.linePos?.[0] != null ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}: ` : ''
    const what = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')
    return { path: '', message: `${where}${what}; fix the ${format} syntax` }
  })
  if (syntax.length > 0) {
    const hint = limits.syntaxHint?.(source)
    if (hint != null) syntax[0]!.message += ` (${hint})`
    return { ok: false, problems: syntax }
  }
  try {
    return { ok: true, doc, value: doc.toJS({ maxAliasCount: 100 }), format }
  } catch (err) {
    return { ok: false, problems: [{ path: '', message: `${(err as Error).message}; fix the ${format}` }] }
  }
}
