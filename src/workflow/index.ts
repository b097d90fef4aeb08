/** Workflows: a DAG of jobs whose inputs come from earlier jobs' outputs, run on a node. */
export { type Workflow, type WorkflowJob, RawWorkflowSchema, RawJobSchema } from './schema.ts'
export { WorkflowValidationError, WorkflowFileError, formatWorkflowProblems, type WorkflowProblem } from './errors.ts'
export { validateWorkflow, workflowGraph, type WorkflowValidation } from './validate.ts'
export { parseWorkflowText, loadWorkflowFile } from './parse.ts'
export { parseReference, findReferences, resolveInput, readReference, JOB_ID_PATTERN, type Reference } from './references.ts'
export { findCycles, topologicalOrder, downstreamOf } from './graph.ts'
export { runWorkflow, resolveWorkflow, failureSummary, type WorkflowNode, type WorkflowReport, type JobReport, type JobStatus, type JobOutcome, type WorkflowEvent, type RunWorkflowOptions, type ResolvedWorkflow } from './runner.ts'
export { formatReport, headline, verdict, money, duration, type FormatOptions } from './report.ts'
