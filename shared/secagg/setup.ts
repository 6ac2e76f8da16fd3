import { fromBase64, sha256, systemRandomBytes, toBase64, utf8 } from './crypto.js';
import { isCompleteGraph, neighbourCount, neighbourGraph, neighbourGraphProblem } from './graph.js';
import { PROTOCOL, roundSetupSchema, type RoundSetupRecord } from './messages.js';
import { quantizationProblem, type Rounding } from './quantize.js';

/** The protocol's stages, in order; a failure names the one it happened in. */
export const STAGES = ['setup', 'advertise-keys', 'share-keys', 'masked-input', 'unmask'] as const;
export type Stage = (typeof STAGES)[number];

/**
 * A stage refused its input: a client asked to act against the protocol (a changed request, too few neighbours, a
 * forged share) or a setup that cannot work. The message says what and why; `stage` says where.
 */
export class SecAggError extends Error {
  override name = 'SecAggError';
  constructor(
    readonly stage: Stage,
    message: string,
  ) {
    super(`${stage}: ${message}`);
  }
}

/** What the round's parameters are made of: the config section plus what the server knows at the round's start. */
export interface RoundSetupInput {
  readonly experimentId: string;
  readonly round: number;
  /** the round's sampled clients, in the order that numbers them (their Shamir points are 1 … n) */
  readonly clients: readonly string[];
  readonly threshold: number;
  /** omitted or null: the complete graph */
  readonly neighbours?: number | null | undefined;
  readonly clippingRange: number;
  readonly quantizationBits: number;
  readonly rounding: Rounding;
  /** parameters in the masked vector (the weight word is added on top) */
  readonly vectorLength: number;
  /** the largest sample count among the round's clients */
  readonly maxWeight: number;
  /** the fewest masked inputs to unmask, from the threshold up to the round's clients (default: the threshold) */
  readonly minContributors?: number | undefined;
}

/** The setup record with what every party derives from it: the clients' positions and the neighbour graph. */
export interface RoundSetup {
  readonly record: RoundSetupRecord;
  /** k: neighbours per client */
  readonly neighbourCount: number;
  readonly threshold: number;
  /** the fewest masked inputs the round is unmasked with: the record's minContributors, else the threshold */
  readonly minContributors: number;
  /** client id → its Shamir point, 1 … n */
  readonly points: ReadonlyMap<string, number>;
  readonly graph: ReadonlyMap<string, readonly string[]>;
}

/**
 * Why a round with these parameters cannot run (one sentence per problem, naming the parameter), empty when it can.
 * The same rules as the config check (shared/config/secure-aggregation.ts), applied to the round actually sampled.
 */
export function roundSetupProblems(input: Omit<RoundSetupInput, 'experimentId' | 'round'>): string[] {
  const problems: string[] = [];
  const n = input.clients.length;
  if (n < 2) problems.push(`secure aggregation needs at least 2 clients in a round: the sum of one client is its update (got ${n})`);
  if (new Set(input.clients).size !== n) problems.push('clients must not repeat');
  const graphProblem = neighbourGraphProblem(input.neighbours, n);
  if (graphProblem !== undefined) problems.push(graphProblem);
  const k = neighbourCount(input.neighbours, n);
  const t = input.threshold;
  const graph = isCompleteGraph(input.neighbours, n) ? `the complete graph of ${n} clients` : `${k} neighbours`;
  if (!Number.isSafeInteger(t) || t < 1) {
    problems.push(`threshold must be a positive integer (got ${t})`);
  } else if (n >= 2) {
    if (t > k) problems.push(`threshold must be at most k = ${k}, the neighbours each client shares its secrets with (${graph}) (got ${t})`);
    else if (2 * t <= k) problems.push(`threshold must be more than half of k = ${k} (${graph}), i.e. at least ${Math.floor(k / 2) + 1}, or the server could collect both shares of a client (got ${t})`);
  }
  const quantization = quantizationProblem({ clippingRange: input.clippingRange, bits: input.quantizationBits, rounding: input.rounding }, n);
  if (quantization !== undefined) problems.push(quantization);
  if (!Number.isSafeInteger(input.vectorLength) || input.vectorLength < 1) problems.push(`vectorLength must be a positive integer (got ${input.vectorLength})`);
  if (!Number.isSafeInteger(input.maxWeight) || input.maxWeight < 1) problems.push(`maxWeight must be a positive integer (got ${input.maxWeight})`);
  const least = input.minContributors;
  if (least !== undefined && (!Number.isSafeInteger(least) || least < t || least > n)) {
    problems.push(`minContributors must be an integer from the threshold, ${t}, to the round's ${n} clients (got ${least})`);
  }
  return problems;
}

/**
 * The round's setup record. `graphSeed` fixes the neighbour graph and is public; production draws it fresh, a
 * reproducible experiment may derive it from its seed. Throws SecAggError listing every problem.
 */
export function createRoundSetup(input: RoundSetupInput, graphSeed: Uint8Array = systemRandomBytes(32)): RoundSetupRecord {
  const problems = roundSetupProblems(input);
  if (graphSeed.length !== 32) problems.push(`graphSeed must be 32 bytes (got ${graphSeed.length})`);
  if (problems.length > 0) throw new SecAggError('setup', problems.join('; '));
  const record: RoundSetupRecord = {
    protocol: PROTOCOL,
    experimentId: input.experimentId,
    round: input.round,
    kind: 'setup',
    clients: [...input.clients],
    threshold: input.threshold,
    neighbours: isCompleteGraph(input.neighbours, input.clients.length) ? null : input.neighbours!,
    graphSeed: toBase64(graphSeed),
    vectorLength: input.vectorLength,
    maxWeight: input.maxWeight,
    ...(input.minContributors !== undefined && input.minContributors !== input.threshold ? { minContributors: input.minContributors } : {}),
    quantization: { clippingRange: input.clippingRange, bits: input.quantizationBits, rounding: input.rounding },
  };
  return roundSetupSchema.parse(record);
}

/** Every party's view of the round: validates the record (e.g. as read from S3) and derives the graph. */
export function loadRoundSetup(record: unknown): RoundSetup {
  const parsed = roundSetupSchema.parse(record);
  const problems = roundSetupProblems({
    clients: parsed.clients,
    threshold: parsed.threshold,
    neighbours: parsed.neighbours,
    clippingRange: parsed.quantization.clippingRange,
    quantizationBits: parsed.quantization.bits,
    rounding: parsed.quantization.rounding,
    vectorLength: parsed.vectorLength,
    maxWeight: parsed.maxWeight,
    minContributors: parsed.minContributors,
  });
  if (problems.length > 0) throw new SecAggError('setup', problems.join('; '));
  return {
    record: parsed,
    neighbourCount: neighbourCount(parsed.neighbours, parsed.clients.length),
    threshold: parsed.threshold,
    minContributors: parsed.minContributors ?? parsed.threshold,
    points: new Map(parsed.clients.map((clientId, index) => [clientId, index + 1])),
    graph: neighbourGraph(parsed.clients, parsed.neighbours, fromBase64(parsed.graphSeed, 32, 'graphSeed')),
  };
}

/** A deterministic graph seed for reproducible experiments: the graph is public, so public values suffice. */
export function graphSeedFor(experimentSeed: number, experimentId: string, round: number): Uint8Array {
  return sha256(utf8(`${PROTOCOL}|neighbour graph|${experimentId}|${round}|${experimentSeed}`));
}
