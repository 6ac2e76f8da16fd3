import { z } from 'zod';
import type { ExperimentMetrics, ExperimentSummary } from './types.js';

/**
 * The metrics records (metrics.json, summary.json, partition.json) as schemas: the pipeline, the CLI and the report
 * read them back through these, so a wrong or truncated file is named, never half-read.
 */

/**
 * JSON has no NaN: a diverged loss is written as null. Reading it back as NaN lets the report show that round as a
 * gap instead of refusing the very experiment someone most needs to look at.
 */
const measurement = z
  .number()
  .nullable()
  .transform((value) => value ?? Number.NaN);

const count = z.number().int().nonnegative();

export const backendInfoSchema = z.object({
  backend: z.enum(['tensorflow', 'wasm', 'cpu']),
  tfjsVersion: z.string(),
  details: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
});

export const summarySchema = z.object({
  experimentId: z.string(),
  name: z.string(),
  state: z.enum(['running', 'completed', 'failed']),
  rounds: count,
  finalAccuracy: measurement,
  finalLoss: measurement,
  bestAccuracy: measurement,
  startedAt: z.string(),
  finishedAt: z.string(),
  wallMs: z.number().nonnegative(),
  backend: backendInfoSchema,
  parameters: count,
  privacy: z.object({ epsilon: z.number().min(0), delta: z.number(), noiseMultiplier: z.number(), targetEpsilon: z.number().optional() }).optional(),
});

const roundPrivacySchema = z.object({
  epsilon: z.number().min(0),
  delta: z.number(),
  noiseMultiplier: z.number(),
  clipNorm: z.number(),
  clippedFraction: z.number().nullable(),
  noisedUnclippedFraction: z.number().optional(),
  reported: count,
  signalNorm: z.number(),
  noiseNorm: z.number(),
  medianUpdateNorm: z.number().nullable(),
  distributed: z.object({ minContributors: z.number(), achievedNoiseMultiplier: z.number() }).optional(),
});

export const roundMetricsSchema = z.object({
  round: z.number().int(),
  accuracy: measurement,
  loss: measurement,
  perClassAccuracy: z.array(measurement),
  confusion: z.array(z.array(count)),
  clients: z.array(
    z.object({
      clientId: z.string(),
      samples: count,
      trainLoss: measurement,
      trainAccuracy: measurement,
      trainMs: z.number().nonnegative(),
      backend: backendInfoSchema.shape.backend,
      personalizedAccuracy: measurement.optional(),
      holdoutSamples: count.optional(),
    }),
  ),
  missingClients: z.array(z.string()),
  rejectedClients: z.array(z.object({ clientId: z.string(), reason: z.string() })),
  attackers: z.array(z.string()).optional(),
  secureAggregation: z
    .object({
      outcome: z.enum(['running', 'unmasked', 'failed']),
      failure: z.object({ stage: z.string(), reason: z.string() }).optional(),
      stages: z.array(
        z.object({
          stage: z.string(),
          startedAt: z.string(),
          closedAt: z.string().optional(),
          closedBy: z.enum(['all-answered', 'deadline']).optional(),
          ms: z.number().nonnegative().optional(),
          asked: count,
          answered: count,
          downBytes: z.record(z.string(), count),
          upBytes: z.record(z.string(), count),
        }),
      ),
    })
    .optional(),
  timing: z.object({
    startedAt: z.string(),
    closedAt: z.string(),
    roundMs: z.number().nonnegative(),
    trainMs: z.number().nonnegative(),
    waitMs: z.number().nonnegative(),
    aggregateMs: z.number().nonnegative(),
    /** when the round's latest counted update was announced (its "update ready" message sent) */
    lastUpdateAt: z.string().optional(),
    /** the close's aggregation (reading and folding the accepted updates, the server step) and evaluation */
    computeMs: z.number().nonnegative().optional(),
    /**
     * the pipeline's own time between rounds: latest update announced → next round opened (or the experiment
     * completed), minus computeMs. In metrics.json for every round with a successor or a completion.
     */
    orchestrationMs: z.number().nonnegative().optional(),
  }),
  bytes: z.object({ down: count, up: count }),
  personalizedAccuracy: measurement.optional(),
  privacy: roundPrivacySchema.optional(),
});

/** experiments/<id>/partition.json, and the partition inside metrics.json */
export const partitionStatsSchema = z.object({
  kind: z.string(),
  seed: z.number(),
  clients: z.array(z.object({ clientId: z.string(), samples: count, labelHistogram: z.array(count), sharedSamples: count.optional() })),
  sharedData: z
    .object({ fraction: z.number(), perClient: z.number(), samples: count, labelHistogram: z.array(count), samplesPerClient: count })
    .optional(),
  dataset: z.string().optional(),
  classNames: z.array(z.string()).optional(),
});

/** experiments/<id>/metrics.json */
export const experimentMetricsSchema = z.object({
  experimentId: z.string().min(1),
  config: z.unknown(),
  backend: backendInfoSchema,
  partition: partitionStatsSchema,
  rounds: z.array(roundMetricsSchema),
  summary: summarySchema.optional(),
});

// Compile-time guards: the validated shapes must stay assignable to the contracts in ./types.ts.
export const asExperimentMetrics: (parsed: z.output<typeof experimentMetricsSchema>) => ExperimentMetrics = (parsed) => parsed;
export const asExperimentSummary: (parsed: z.output<typeof summarySchema>) => ExperimentSummary = (parsed) => parsed;

