/**
 * Secure aggregation (SecAgg, Bonawitz et al. CCS 2017; SecAgg+, Bell et al. CCS 2020): the protocol core as pure
 * stage functions. The pipeline drives it one stage at a time; docs/secure-aggregation.md has the stages, the
 * threat model and what each stage stores where.
 *
 *   server                                   client (trainer)
 *   createRoundSetup → loadRoundSetup        loadRoundSetup
 *                                            createClientSecret (persist) → advertiseKeys
 *   closeAdvertiseKeys → roster, requests
 *                                            shareKeys
 *   closeShareKeys → masked-input requests
 *                                            maskedInput (persist secret, upload vector)
 *   closeMaskedInput → closed, unmask requests
 *   maskedInputProblem + addMaskedInput (fold)
 *                                            unmask (persist secret)
 *   unmaskSum → sum, decoded mean
 */
export { advertiseKeys, createClientSecret, maskedInput, quantizedInput, shareKeys, unmask } from './client.js';
export type { MaskedInputOptions, MaskedInputResult, UnmaskResult } from './client.js';
export { bytesPerClient, computeCost, logarithmicNeighbours } from './cost.js';
export type { ComputeCost, CostParameters, StageBytes } from './cost.js';
export { SecAggCryptoError, systemRandomBytes } from './crypto.js';
export type { RandomBytes } from './crypto.js';
export {
  advertiseKeysSchema,
  clientSecretSchema,
  decodeMaskedInput,
  encodedBytes,
  encodeMaskedInput,
  maskedInputClosedSchema,
  maskedInputNoticeSchema,
  maskedInputRequestSchema,
  PROTOCOL,
  rosterSchema,
  roundSetupSchema,
  shareKeysRequestSchema,
  shareKeysSchema,
  unmaskRequestSchema,
  unmaskResponseSchema,
} from './messages.js';
export type {
  AdvertiseKeys,
  ClientSecret,
  MaskedInputClosed,
  MaskedInputNotice,
  MaskedInputRequest,
  Roster,
  RoundSetupRecord,
  ShareKeys,
  ShareKeysRequest,
  UnmaskRequest,
  UnmaskResponse,
} from './messages.js';
export { gaussianNoiseShare, hardenedGaussianNoiseShare, perClientNoiseStd } from './noise.js';
export type { DistributedNoise } from './noise.js';
export { dequantizeSum, maxQuantizationBits, quantizationProblem } from './quantize.js';
export type { DequantizedSum, QuantizationParameters, Rounding } from './quantize.js';
export { closeAdvertiseKeys, closeMaskedInput, closeShareKeys } from './server.js';
export type { AdvertiseKeysClosed, MaskedInputStageClosed, ShareKeysClosed } from './server.js';
export { createRoundSetup, graphSeedFor, loadRoundSetup, roundSetupProblems, SecAggError, STAGES } from './setup.js';
export type { RoundSetup, RoundSetupInput, Stage } from './setup.js';
export { simulateRound, simulationSetup } from './simulate.js';
export type { SimulationOptions, SimulationReport } from './simulate.js';
export { addMaskedInput, emptyMaskedSum, maskedInputProblem, unmaskSum } from './unmask.js';
export type { UnmaskedAggregate } from './unmask.js';
export type { SecAggFailure, StageResult, Verdict } from './verdicts.js';
export { flattenWeights, unflattenWeights } from './weights-adapter.js';
export type { TensorLayout } from './weights-adapter.js';
