import { readUserFile } from '../util/files.ts'
import { parseYamlOrJson } from '../util/yaml-text.ts'
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
  const parsed = parseYamlOrJson(text, {
    maxBytes: MAX_WORKFLOW_BYTES,
    tooLargeFix: 'split the workflow or shrink its inputs',
    // The usual cause: an unquoted reference inside a flow mapping, where { and } are syntax.
    syntaxHint: source => source.includes('${') ? 'inside { } and [ ], quote a reference: "${audio.output.text}"' : undefined
  })
  if (!parsed.ok) return fail(parsed.problems)
  const raw = parsed.value
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
