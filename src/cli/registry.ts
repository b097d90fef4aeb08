import type { CommandEntry } from './command.ts'

/**
 * Every top-level command. Adding one (job, agent, receipts, ledger,
 * reputation, workflow, …) is a module under commands/ exporting a Command,
 * plus one line here. Modules load on use, so a light command stays fast.
 */
export const COMMANDS: CommandEntry[] = [
  { name: 'init', summary: 'create the data folder and this node\'s identity', load: async () => (await import('./commands/init.ts')).initCommand },
  { name: 'config', summary: 'show this data folder\'s settings (config.json, SPECMESH_* variables, defaults)', load: async () => (await import('./commands/config.ts')).configCommand },
  { name: 'daemon', summary: 'run a node: join the mesh and serve the local API', load: async () => (await import('./commands/daemon.ts')).daemonCommand },
  { name: 'id', summary: 'show the running node\'s peer id, addresses and API', load: async () => (await import('./commands/node.ts')).idCommand },
  { name: 'status', summary: 'what the running node is doing: peers, specs, jobs in flight, last errors', load: async () => (await import('./commands/status.ts')).statusCommand },
  { name: 'dashboard', summary: 'print (or open) the URL of the running node\'s web dashboard', load: async () => (await import('./commands/dashboard.ts')).dashboardCommand },
  { name: 'peers', summary: 'list the peers the running node is connected to', load: async () => (await import('./commands/node.ts')).peersCommand },
  { name: 'spec', summary: 'validate, publish and browse specs', load: async () => (await import('./commands/spec.ts')).specCommand },
  { name: 'agent', summary: 'run a node that executes a spec\'s jobs with a program in any language', load: async () => (await import('./commands/agent.ts')).agentCommand },
  { name: 'job', summary: 'submit jobs and follow them', load: async () => (await import('./commands/job.ts')).jobCommand },
  { name: 'receipts', summary: 'list the execution receipts this node holds', load: async () => (await import('./commands/receipts.ts')).receiptsCommand },
  { name: 'receipt', summary: 'show and verify one execution receipt', load: async () => (await import('./commands/receipts.ts')).receiptCommand },
  { name: 'ledger', summary: 'show what this node reserved, spent and may still spend, per spec and per job', load: async () => (await import('./commands/ledger.ts')).ledgerCommand },
  { name: 'reputation', summary: 'show how this node rates agents, from the receipts it holds', load: async () => (await import('./commands/reputation.ts')).reputationCommand },
  { name: 'mcp', summary: 'serve the running node\'s specs as MCP tools, on stdio', load: async () => (await import('./commands/mcp.ts')).mcpCommand },
  { name: 'workflow', summary: 'run DAGs of jobs whose inputs come from earlier jobs\' outputs', load: async () => (await import('./commands/workflow.ts')).workflowCommand }
]
