import { z } from 'zod';
import { backendInfoSchema } from '../metrics/schema.js';

/**
 * The JSON records the pipeline keeps in S3 besides configs and weights. They are validated when read back, so a
 * hand-edited or truncated object fails with a message naming the key instead of corrupting a round.
 */


/** experiments/<id>/rounds/<r>/updates/<client>.json: written by the trainer next to its weights. */
export const updateReportSchema = z
  .object({
    experimentId: z.string(),
    round: z.int(),
    clientId: z.string(),
    /** samples trained on: the FedAvg weight (with personalization, the shard minus its held-out part) */
    samples: z.int().min(1),
    trainLoss: z.number(),
    trainAccuracy: z.number(),
    trainMs: z.number(),
    updateBytes: z.int(),
    backend: backendInfoSchema,
    /** personalization: accuracy of the client's own model (global shared layers + its local layers) on its held-out samples */
    personalizedAccuracy: z.number().min(0).max(1).optional(),
    /** personalization: how many samples of the shard were held out for personalizedAccuracy */
    holdoutSamples: z.int().min(1).optional(),
  })
  .refine((report) => (report.personalizedAccuracy === undefined) === (report.holdoutSamples === undefined), {
    message: 'personalizedAccuracy and holdoutSamples come together or not at all',
  });
export type UpdateReport = z.infer<typeof updateReportSchema>;

/**
 * experiments/<id>/rounds/<r>/state.json: the round's bookkeeping. Only the aggregator writes it after the round
 * opens, and the FIFO queue serialises the aggregator per experiment, so read-modify-write needs no lock.
 */
export const roundStateSchema = z.object({
  experimentId: z.string(),
  round: z.int().min(1),
  expected: z.array(z.string()),
  startedAt: z.iso.datetime(),
  deadlineAt: z.iso.datetime(),
  globalModelBytes: z.int(),
  reported: z.record(z.string(), updateReportSchema),
  rejected: z.record(z.string(), z.string()),
  /** messages for clients that were not expected or arrived after the round closed: kept for the record */
  ignored: z.array(z.object({ clientId: z.string(), reason: z.string() })).default([]),
  closed: z
    .object({
      at: z.iso.datetime(),
      reason: z.enum(['all-reported', 'deadline']),
      outcome: z.enum(['aggregated', 'failed']),
    })
    .optional(),
  /** set once the next round's messages (or the completion records) are written: a retry redoes only what is missing */
  followUpDone: z.boolean().default(false),
});
export type RoundState = z.infer<typeof roundStateSchema>;

export const statusSchema = z.object({
  experimentId: z.string(),
  state: z.enum(['running', 'completed', 'failed']),
  round: z.int().min(0),
  rounds: z.int().min(0),
  updatedAt: z.iso.datetime(),
  lastAccuracy: z.number().optional(),
  errors: z.array(z.string()).optional(),
});

