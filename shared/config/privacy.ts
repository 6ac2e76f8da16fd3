import { z } from 'zod';
import { defaultCountNoiseStddev, updateNoiseMultiplier } from '../privacy/adaptive.js';
import { calibrateNoiseMultiplier, NOISE_MULTIPLIER_RANGE } from '../privacy/calibrate.js';
import { privacySpent } from '../privacy/rdp.js';
import { distributedPrivacyProblems, distributedRangeProblem } from './distributed-privacy.js';

/**
 * The `privacy` section: client-level differential privacy (DP-FedAvg with Gaussian noise, Poisson client sampling
 * and a Rényi-DP accountant; see docs/privacy.md). experimentConfigSchema holds it as `privacy`; the cross-field rules
 * (`privacyProblems`, which needs the accountant) run in validateExperimentConfig, once, not on every schema parse.
 */

export const PRIVACY_RANDOMNESS = ['secure', 'seeded'] as const;

/** ε above this is no meaningful guarantee (e^100); a larger target is almost surely a typo. */
const MAX_TARGET_EPSILON = 100;
const MAX_CLIP_NORM = 1e6;

const clippingSchema = z
  .discriminatedUnion('kind', [
    z
      .strictObject({
        kind: z.literal('fixed').describe('Every update is clipped to the same L2 norm C.'),
        norm: z.number().positive().max(MAX_CLIP_NORM).describe('C: the L2 norm, over all tensors, each client update Δ = w_local − w_global is clipped to.'),
      })
      .describe('Fixed clipping (McMahan et al., 2018).'),
    z
      .strictObject({
        kind: z.literal('adaptive').describe('C follows a quantile of the update norms, estimated privately each round.'),
        initialNorm: z.number().positive().max(MAX_CLIP_NORM).default(0.1).describe('C in the first round.'),
        targetQuantile: z.number().gt(0).lt(1).default(0.5).describe('γ: the fraction of updates that should be left unclipped; 0.5 clips to the median norm.'),
        learningRate: z.number().positive().max(10).default(0.2).describe('η_C: C changes by at most a factor e^η_C per round.'),
        countNoise: z
          .number()
          .positive()
          .max(1e6)
          .optional()
          .describe('σ_b: noise on the count of unclipped updates; must exceed half the noise multiplier. Defaults to the expected clients per round / 20.'),
      })
      .describe('Adaptive clipping (Andrew et al., 2021); its count query is included in the accounting.'),
  ])
  .describe('How client updates are clipped before they are summed.');

export const privacySchema = z
  .strictObject({
    clipping: clippingSchema,
    noiseMultiplier: z
      .number()
      .positive()
      .max(NOISE_MULTIPLIER_RANGE.max)
      .optional()
      .describe('σ: the noise on the sum of updates has standard deviation σ·C. Give this or targetEpsilon.'),
    targetEpsilon: z
      .number()
      .positive()
      .max(MAX_TARGET_EPSILON)
      .optional()
      .describe('The privacy budget ε at δ for the whole run; σ is calibrated so that the configured rounds end at it. Give this or noiseMultiplier.'),
    delta: z
      .number()
      .positive()
      .lt(1)
      .optional()
      .describe('δ of the (ε, δ) guarantee; must be less than 1/clients. Defaults to the smaller of 1e-5 and 0.1/clients.'),
    randomness: z
      .enum(PRIVACY_RANDOMNESS)
      .default('secure')
      .describe('secure: noise and client sampling from the OS CSPRNG. seeded: both derived from seed, so runs are reproducible; for experiments only, it offers no privacy.'),
  })
  .superRefine(({ noiseMultiplier, targetEpsilon }, ctx) => {
    if ((noiseMultiplier === undefined) === (targetEpsilon === undefined)) {
      ctx.addIssue({
        code: 'custom',
        message: `give exactly one of "noiseMultiplier" (σ) or "targetEpsilon" (a budget σ is calibrated to) (got ${noiseMultiplier === undefined ? 'neither' : 'both'})`,
      });
    }
  })
  .describe(
    'Client-level differential privacy (DP-FedAvg). Omit it to train without DP. With secureAggregation the noise is distributed: each client adds its share before masking. See docs/privacy.md.',
  );

export type PrivacyConfigInput = z.input<typeof privacySchema>;
export type PrivacyConfig = z.output<typeof privacySchema>;
export type ClippingConfig = PrivacyConfig['clipping'];

/** The parts of an experiment config the privacy rules look at; `ExperimentConfig & { privacy? }` fits it. */
export interface PrivacyExperiment {
  readonly clients: number;
  readonly rounds: number;
  readonly strategy: { readonly name: string };
  readonly sampling?: { readonly method: string; readonly fraction?: number | undefined; readonly perRound?: number | undefined } | undefined;
  readonly personalization?: { readonly localLayers: readonly string[] } | undefined;
  readonly privacy?: PrivacyConfig | undefined;
  /** present: the noise is distributed (each client adds its share before masking), see distributed-privacy.ts */
  readonly secureAggregation?: { readonly threshold: number; readonly clippingRange: number } | undefined;
  readonly round?: { readonly minClients?: number | undefined } | undefined;
}

/** Everything a DP run needs, resolved from the config: what the pipeline integration reads. */
export interface PrivacyPlan {
  /** q: each client's probability of being sampled in a round (1 when every client trains every round) */
  readonly sampleRate: number;
  /** m = q·N: the fixed denominator of the noised mean, and of adaptive clipping's count */
  readonly expectedClients: number;
  readonly delta: number;
  /** σ: what the accountant charges each round */
  readonly noiseMultiplier: number;
  /** σ_Δ: the multiplier of the noise on the updates (σ with fixed clipping, larger with adaptive) */
  readonly updateNoiseMultiplier: number;
  /** present when the config gave targetEpsilon: no round may be released past it */
  readonly budget?: { readonly epsilon: number; readonly delta: number };
  /** ε after all configured rounds at σ */
  readonly projectedEpsilon: number;
  readonly clipping:
    | { readonly kind: 'fixed'; readonly norm: number }
    | { readonly kind: 'adaptive'; readonly initialNorm: number; readonly targetQuantile: number; readonly learningRate: number; readonly countNoiseStddev: number };
  readonly randomness: (typeof PRIVACY_RANDOMNESS)[number];
}

/** δ when the config gives none: 1e-5, the literature's usual value, or less for federations above 10,000 clients. */
export function defaultDelta(clients: number): number {
  return Math.min(1e-5, 0.1 / clients);
}

type Analysis = { readonly problems: string[]; readonly plan?: PrivacyPlan };

/**
 * Every reason the `privacy` section cannot run with the rest of `config`, one sentence each naming the field, in
 * the style of parseExperimentConfig's errors. Empty when privacy is off or the config is fine.
 */
export function privacyProblems(config: PrivacyExperiment): string[] {
  return analyse(config).problems;
}

export type PrivacyPlanResult =
  | { readonly ok: true; readonly plan: PrivacyPlan | undefined }
  | { readonly ok: false; readonly errors: string[] };

/**
 * The resolved plan of a DP run (plan undefined without a `privacy` section), or every problem, as
 * `privacyProblems` words them (not thrown: shared/config/parse.ts wraps errors in its ConfigError, and importing
 * it here would make a cycle once schema.ts imports this file).
 */
export function resolvePrivacyPlan(config: PrivacyExperiment): PrivacyPlanResult {
  if (config.privacy === undefined) return { ok: true, plan: undefined };
  const { problems, plan } = analyse(config);
  if (problems.length > 0 || plan === undefined) return { ok: false, errors: problems };
  return { ok: true, plan };
}

function analyse(config: PrivacyExperiment): Analysis {
  const { privacy, clients, rounds } = config;
  if (privacy === undefined) return { problems: [] };
  const problems: string[] = [];
  const problem = (path: string, message: string) => problems.push(`${path}: ${message}`);

  const unprotected = {
    scaffold: 'its control variates c_i go to the server without clipping or noise and leak each client\'s data',
    feddyn: "each client's state g_k goes to the server without clipping or noise and leaks its data",
    fednova: 'it weights each update by its sample count and local steps, where DP-FedAvg needs one fixed denominator',
  } as const;
  const name = config.strategy.name;
  if (name === 'scaffold' || name === 'feddyn' || name === 'fednova') {
    problem('strategy.name', `must not be "${name}" with privacy: ${unprotected[name]}; use "fedavg", "fedprox", "fedavgm", "fedadam", "fedyogi" or "fedadagrad"`);
  }
  if (config.personalization !== undefined) {
    problem(
      'personalization',
      'cannot be combined with privacy: DP-FedAvg would protect the shared layers the server averages, but the local layers are trained on the same data and the personalized accuracy each client reports is released without noise, so the run would claim a guarantee it does not have; remove one of the two sections',
    );
  }

  const distributed = config.secureAggregation === undefined ? undefined : { clients, round: config.round, sampling: config.sampling, privacy, secureAggregation: config.secureAggregation };
  if (distributed) for (const { path, message } of distributedPrivacyProblems(distributed)) problem(path, message);
  const sampleRate = distributed && config.sampling !== undefined ? undefined : samplingRateProblems(config, problem);
  const clipNorm = privacy.clipping.kind === 'fixed' ? privacy.clipping.norm : privacy.clipping.initialNorm;
  const clipField = privacy.clipping.kind === 'fixed' ? 'privacy.clipping.norm' : 'privacy.clipping.initialNorm';
  if (!(clipNorm > 0) || clipNorm === Infinity) problem(clipField, `must be a number greater than 0 (got ${clipNorm})`);
  if (privacy.clipping.kind === 'adaptive') {
    const { targetQuantile, learningRate } = privacy.clipping;
    if (!(targetQuantile > 0 && targetQuantile < 1)) problem('privacy.clipping.targetQuantile', `must be a number greater than 0 and less than 1 (got ${targetQuantile})`);
    if (!(learningRate > 0) || learningRate === Infinity) problem('privacy.clipping.learningRate', `must be a number greater than 0 (got ${learningRate})`);
  }

  const maxDelta = 1 / clients;
  const delta = privacy.delta ?? defaultDelta(clients);
  if (!(delta > 0 && delta < maxDelta)) {
    problem('privacy.delta', `must be greater than 0 and less than 1/clients = ${maxDelta} (got ${delta}): with δ ≥ 1/N a mechanism may publish one client's data outright and still meet (ε, δ)`);
  }

  const { noiseMultiplier: givenSigma, targetEpsilon } = privacy;
  if ((givenSigma === undefined) === (targetEpsilon === undefined)) {
    problem('privacy', `give exactly one of "noiseMultiplier" (σ) or "targetEpsilon" (a budget σ is calibrated to) (got ${givenSigma === undefined ? 'neither' : 'both'})`);
  }
  if (givenSigma !== undefined && (!(givenSigma > 0) || givenSigma === Infinity)) problem('privacy.noiseMultiplier', `must be a number greater than 0 (got ${givenSigma})`);
  if (targetEpsilon !== undefined && (!(targetEpsilon > 0) || targetEpsilon === Infinity)) problem('privacy.targetEpsilon', `must be a number greater than 0 (got ${targetEpsilon})`);
  // Calibration needs sound inputs; with broken ones it would only add noise to the list.
  if (problems.length > 0 || sampleRate === undefined) return { problems };

  let sigma = givenSigma;
  if (sigma === undefined) {
    const calibration = calibrateNoiseMultiplier({ targetEpsilon: targetEpsilon!, delta, sampleRate, rounds });
    if (!calibration.ok) {
      problem(
        'privacy.targetEpsilon',
        `${targetEpsilon} cannot be met in ${rounds} rounds at sampling rate ${sampleRate} with δ = ${delta}: the smallest reachable ε is ${round4(calibration.smallestEpsilon)} (at noiseMultiplier ${calibration.noiseMultiplier}, the largest flambda uses); raise targetEpsilon, or lower rounds or the sampling rate`,
      );
      return { problems };
    }
    sigma = calibration.noiseMultiplier;
  }

  const expectedClients = sampleRate * clients;
  let clipping: PrivacyPlan['clipping'];
  let updateSigma = sigma;
  if (privacy.clipping.kind === 'adaptive') {
    const countNoiseStddev = privacy.clipping.countNoise ?? defaultCountNoiseStddev(expectedClients);
    if (!(countNoiseStddev > sigma / 2)) {
      const given = privacy.clipping.countNoise === undefined ? `the default, expected clients per round / 20 = ${round4(countNoiseStddev)}` : String(countNoiseStddev);
      problem(
        'privacy.clipping.countNoise',
        `must be greater than half the noise multiplier, ${round4(sigma / 2)} (got ${given}): the clipped-count query would spend the whole budget; raise countNoise, use more clients per round, or use fixed clipping`,
      );
      return { problems };
    }
    updateSigma = updateNoiseMultiplier(sigma, countNoiseStddev);
    const { initialNorm, targetQuantile, learningRate } = privacy.clipping;
    clipping = { kind: 'adaptive', initialNorm, targetQuantile, learningRate, countNoiseStddev };
  } else {
    clipping = { kind: 'fixed', norm: privacy.clipping.norm };
  }

  if (distributed && clipping.kind === 'fixed') {
    const range = distributedRangeProblem(distributed, sigma, clipping.norm);
    if (range) {
      problem(range.path, range.message);
      return { problems };
    }
  }

  const projectedEpsilon = privacySpent([{ sampleRate, noiseMultiplier: sigma, count: rounds }], delta).epsilon;
  return {
    problems,
    plan: {
      sampleRate,
      expectedClients,
      delta,
      noiseMultiplier: sigma,
      updateNoiseMultiplier: updateSigma,
      ...(targetEpsilon !== undefined ? { budget: { epsilon: targetEpsilon, delta } } : {}),
      projectedEpsilon,
      clipping,
      randomness: privacy.randomness,
    },
  };
}

/** q from the `sampling` section: omitted means every client every round (q = 1); otherwise it must be Poisson. */
function samplingRateProblems(config: PrivacyExperiment, problem: (path: string, message: string) => void): number | undefined {
  const { sampling, clients } = config;
  if (sampling === undefined) return 1;
  if (sampling.method !== 'poisson') {
    problem(
      'sampling.method',
      `must be "poisson" with privacy (got ${JSON.stringify(sampling.method)}): the accountant's amplification by sampling assumes each client takes part independently with probability q; a fixed-size or stratified sample is a different mechanism, and a stratified one also depends on the clients' data`,
    );
    return undefined;
  }
  if (sampling.fraction !== undefined) {
    if (!(sampling.fraction > 0 && sampling.fraction <= 1)) {
      problem('sampling.fraction', `must be the sampling rate q, greater than 0 and at most 1 (got ${sampling.fraction})`);
      return undefined;
    }
    return sampling.fraction;
  }
  if (sampling.perRound !== undefined) {
    if (!(sampling.perRound > 0 && sampling.perRound <= clients)) {
      problem('sampling.perRound', `must be the expected clients per round, greater than 0 and at most the number of clients, ${clients} (got ${sampling.perRound})`);
      return undefined;
    }
    return sampling.perRound / clients;
  }
  problem('sampling', 'give the Poisson sampling rate as "fraction" (q) or the expected clients per round as "perRound"');
  return undefined;
}

function round4(value: number): number {
  return Number(value.toPrecision(4));
}
