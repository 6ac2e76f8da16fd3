/**
 * Client-level differential privacy for federated averaging: the pure parts the pipeline calls.
 * Client half: clipUpdate. Server half: createPrivateSum (+ adaptive clipping), checkRelease before each release,
 * appendSteps/privacySpent for the per-round ε. Round planning: planPrivateRound. Config: shared/config/privacy.ts.
 */
export { defaultCountNoiseStddev, nextClipNorm, noisedUnclippedFraction, updateNoiseMultiplier } from './adaptive.js';
export type { ClipNormUpdate, UnclippedFractionArgs } from './adaptive.js';
export { calibrateNoiseMultiplier, checkRelease, NOISE_MULTIPLIER_RANGE } from './calibrate.js';
export type { Calibration, CalibrationRequest, PrivacyBudget, ReleaseDecision } from './calibrate.js';
export { applyDelta, clipToNorm, clipUpdate, l2Norm, modelDelta } from './clip.js';
export type { ClippedUpdate } from './clip.js';
export { gaussianNoise, secureGaussianNoise, seededGaussianNoise } from './noise.js';
export type { GaussianNoise, NoiseMode } from './noise.js';
export { createPrivateSum } from './private-sum.js';
export type { FoldedUpdate, PrivateSum } from './private-sum.js';
export { appendSteps, composeRdp, DEFAULT_RDP_ORDERS, epsilonFromRdp, privacySpent, rdpOfStep, rdpSampledGaussian } from './rdp.js';
export type { PrivacySpent, PrivacyStep } from './rdp.js';
export { planPrivateRound, poissonSample, samplingRandomness } from './sampling.js';
export type { PoissonSampleArgs, PrivateRoundPlan } from './sampling.js';
