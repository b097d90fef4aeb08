import { readUserFile } from '../util/files.ts'
import YAML from 'yaml'
import { MAX_WORKFLOW_BYTES } from './constants.ts'
import { WorkflowFileError, WorkflowValidationError, type WorkflowProblem } from './errors.ts'
import type { Workflow } from './schema.ts'
import { validateWorkflow } from './validate.ts'

/**
 * Parses a workflow file's text (YAML, or JSON, which YAML 1.2 reads too) and validates
 * it. Throws WorkflowValidationError carrying every problem found.
 */
export function parseWorkflowText (text: string, options: { filename?: string } = {}): Workflow {
  const fail = (problems: WorkflowProblem[]): never => {
    throw new WorkflowValidationError(problems, options.filename != null ? { filename: options.filename } : {})
  }
  const bytes = Buffer.byteLength(text, 'utf8')
  if (bytes > MAX_WORKFLOW_BYTES) fail([{ path: '', message: `the file is ${bytes} bytes, more than the limit of ${MAX_WORKFLOW_BYTES}; split the workflow or shrink its inputs` }])
  const source = text.replace(/^\uFEFF/, '')
  const format = /^\s*[{[]/.test(source) ? 'JSON' : 'YAML'
  const doc = YAML.parseDocument(source, { schema: 'core', merge: false, uniqueKeys: true, strict: true, prettyErrors: true })
  const syntax = [...doc.errors, ...doc.warnings].map(e => {
    const where = e.linePos?.[0] != null ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}: ` : ''
    const what = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')
    return { path: '', message: `${where}${what}; fix the ${format} syntax` }
  })
  // The usual cause: an unquoted reference inside a flow mapping, where { and } are syntax.
  if (syntax.length > 0 && format === 'YAML' && source.includes('${')) syntax[0]!.message += ' (inside { } and [ ], quote a reference: "${audio.output.text}")'
  if (syntax.length > 0) fail(syntax)
  let raw: unknown
  try {
    raw = doc.toJS({ maxAliasCount: 100 })
  } catch (err) {
    fail([{ path: '', message: `${(err as Error).message}; fix the ${format}` }])
  }
  if (raw == null) fail([{ path: '', message: 'the file holds no workflow; write a mapping with a name and a list of jobs' }])
  const result = validateWorkflow(raw)
  if (!result.ok) fail(result.problems)
  return (result as { ok: true, workflow: Workflow }).workflow
}

/** Reads and parses a workflow file. A file that cannot be read throws WorkflowFileError naming the path. */
export async function loadWorkflowFile (path: string): Promise<Workflow> {
  const text = await readUserFile(path, 'workflow', WorkflowFileError)
  return parseWorkflowText(text, { filename: path })
}
