export {
  Reputation,
  DEFAULT_HALF_LIFE_MS,
  DEFAULT_TELEPORT,
  DEFAULT_TRUST_REFRESH_MS,
  DEFAULT_TRUST_REFRESH_RECEIPTS,
  NEUTRAL_SCORE,
  CREDIBLE_MASS,
  OUTCOME_SCORE,
  type AgentReputation,
  type AwardPosterior,
  type ReportedAgent,
  type CoordinatorEvidence,
  type OutcomeCounts,
  type ReputationOptions,
  type ReputationReport,
  type ReputationSnapshot,
  type ReputationStats,
  type ReputationView,
  type TrustEntry
} from './reputation.ts'
export { eigenTrust, weightOf, type TrustGraph, type TrustOptions, type TrustResult } from './trust.ts'
export { loadReputationConfig, parseReputationConfig, ReputationConfigError, type ReputationConfig } from './config.ts'
export { ReceiptVerifierPool, type VerifierPoolOptions, type VerifyFailure } from './verify-pool.ts'
export { attachReputation, reputationOfNode, type AttachOptions, type NodeLike } from './attach.ts'
export { newcomerPrior, NEUTRAL_PRIOR_MEAN, PRIOR_STRENGTH, FULL_MEMBER_EVIDENCE, type NewcomerPrior } from './newcomer-prior.ts'
