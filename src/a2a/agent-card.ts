import { A2A_PROTOCOL_VERSION, type AgentCard, type AgentSkill } from '@a2a-js/sdk'
import type { StoredSpec } from '../node-types.ts'

/** Where the local API serves A2A's JSON-RPC binding. */
export const A2A_JSONRPC_PATH = '/a2a'
/** The well-known path of the Agent Card (A2A discovery). */
export const AGENT_CARD_PATH = '/.well-known/agent-card.json'
/** Name of the bearer scheme in the card: the local API's token. */
const BEARER = 'specmeshApiToken'

/**
 * The node as an A2A agent: each spec it can run jobs for is a skill (id =
 * spec id), reached over JSON-RPC at <api>/a2a with the API's bearer token.
 */
export function agentCard (init: { apiUrl: string, peerId: string, version: string, specs: StoredSpec[] }): AgentCard {
  return {
    name: `specmesh node ${init.peerId}`,
    description: 'A specmesh node. Each skill is a spec: send a message with a data part that matches its input (name the skill in the message\'s metadata.skillId when several match), and the node runs it as a job on the peer-to-peer market, where agents bid and the best one runs it under the spec\'s deadline and budget. The task streams the job\'s steps; its artifact is the output, checked against the spec.',
    supportedInterfaces: [{ url: `${init.apiUrl}${A2A_JSONRPC_PATH}`, protocolBinding: 'JSONRPC', tenant: '', protocolVersion: A2A_PROTOCOL_VERSION }],
    provider: undefined,
    version: init.version,
    capabilities: { streaming: true, pushNotifications: false, extensions: [], extendedAgentCard: false },
    securitySchemes: {
      [BEARER]: { scheme: { $case: 'httpAuthSecurityScheme', value: { scheme: 'Bearer', bearerFormat: 'hex', description: 'the token in <home>/api-token of the node' } } }
    },
    securityRequirements: [{ schemes: { [BEARER]: { list: [] } } }],
    defaultInputModes: ['application/json'],
    defaultOutputModes: ['application/json'],
    skills: init.specs.map(skillOf),
    signatures: []
  }
}

function skillOf (record: StoredSpec): AgentSkill {
  const { spec } = record
  const label = `${spec.name}${spec.version != null ? ` ${spec.version}` : ''}${spec.variant != null ? ` (${spec.variant})` : ''}`
  return {
    id: record.id,
    name: label,
    description: `${spec.description ?? label}\n\nInput (JSON Schema): ${JSON.stringify(spec.input)}\nOutput (JSON Schema): ${JSON.stringify(spec.output)}`,
    tags: ['specmesh', spec.name, ...(spec.variant != null ? [spec.variant] : [])],
    examples: [],
    inputModes: ['application/json'],
    outputModes: ['application/json'],
    securityRequirements: []
  }
}
