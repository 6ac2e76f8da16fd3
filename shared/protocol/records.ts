import { z } from 'zod';
import { backendInfoSchema } from '../metrics/schema.js';

/**
 * The JSON records the pipeline keeps in S3 besides configs and weights. They are validated when read back, so a
 * hand-edited or truncated object fails with a message naming the key instead of corrupting a round.
 */

const finite = z.number().refine(Number.isFinite, 'must be a finite number');

/**
 * experiments/<id>/rounds/<r>/updates/<client>.json: written by the trainer after its weights. It comes from a client,
 * so it is checked as strictly as the metrics it feeds (a negative time would make every later metrics read fail).
 */
export const updateReportSchema = z
  .object({
    experimentId: z.string(),
    round: z.int(),
    clientId: z.string(),
    /** samples trained on: the FedAvg weight (with personalization, the shard minus its held-out part) */
    samples: z.int().min(1),
    trainLoss: finite,
    trainAccuracy: z.number().min(0).max(1),
    trainMs: finite.pipe(z.number().min(0)),
    updateBytes: z.int().min(0),
    backend: backendInfoSchema,
    /** personalization: accuracy of the client's own model (global shared layers + its local layers) on its held-out samples */
    personalizedAccuracy: z.number().min(0).max(1).optional(),
    /** personalization: how many samples of the shard were held out for personalizedAccuracy */
    holdoutSamples: z.int().min(1).optional(),
    /** privacy: whether the client scaled its update Δ down to the round's clip norm C (adaptive clipping counts it) */
    clipped: z.boolean().optional(),
    /** privacy: ‖Δ‖ before clipping, for the per-round diagnostics (the upload itself is the clipped Δ) */
    updateNorm: finite.pipe(z.number().min(0)).optional(),
  })
  .refine((report) => (report.personalizedAccuracy === undefined) === (report.holdoutSamples === undefined), {
    message: 'personalizedAccuracy and holdoutSamples come together or not at all',
  });
export type UpdateReport = z.infer<typeof updateReportSchema>;

/**
 * The same key when training failed for a reason a retry cannot fix (the loss diverged, the client's own state is
 * corrupt): the aggregator records the client as rejected with this reason instead of waiting for it.
 */
export const trainingFailureSchema = z.strictObject({
  experimentId: z.string(),
  round: z.int(),
  clientId: z.string(),
  failed: z.string().min(1).max(2000),
});
export type TrainingFailure = z.infer<typeof trainingFailureSchema>;

export const clientReportSchema = z.union([trainingFailureSchema, updateReportSchema]);
export type ClientReport = z.infer<typeof clientReportSchema>;

/**
 * experiments/<id>/rounds/<r>/verdicts/<client>.json: what the aggregator decided about one client's update. One small
 * record per client, so recording an update costs the same with 3 clients or 1,000. `ordinal` is the round state's
 * `answered` count this verdict made: a verdict whose ordinal the state does not reach yet was recorded by an
 * invocation that crashed before saving the state, and the next message for the round brings the state up to it.
 */
export const verdictSchema = z.discriminatedUnion('outcome', [
  z.strictObject({ clientId: z.string(), ordinal: z.int().min(1), outcome: z.literal('accepted'), report: updateReportSchema }),
  z.strictObject({ clientId: z.string(), ordinal: z.int().min(1), outcome: z.literal('rejected'), reason: z.string() }),
  /** arrived after the round closed: kept for the record, never counted */
  z.strictObject({ clientId: z.string(), ordinal: z.literal(0), outcome: z.literal('late'), reason: z.string() }),
]);
export type VerdictRecord = z.infer<typeof verdictSchema>;

/**
 * experiments/<id>/rounds/<r>/state.json: the round's bookkeeping, small whatever the number of clients reporting.
 * Only the aggregator writes it, and the FIFO queue serialises the aggregator per experiment, so read-modify-write
 * needs no lock. The per-client verdicts are the truth; `answered` counts them so that the last one can close the
 * round without reading them all.
 */
export const roundStateSchema = z.object({
  experimentId: z.string(),
  round: z.int().min(1),
  expected: z.array(z.string()),
  startedAt: z.iso.datetime(),
  deadlineAt: z.iso.datetime(),
  globalModelBytes: z.int(),
  /** usable updates the round needs to be aggregated: round.minClients, at most the clients expected (0 when Poisson sampling chose nobody) */
  minClients: z.int().min(0),
  /** the experiment's last round: its follow-up completes the experiment instead of opening the next round */
  lastRound: z.boolean(),
  answered: z.int().min(0),
  /** when the latest counted update was announced (its "update ready" sent), for the round's orchestration time */
  lastUpdateAt: z.iso.datetime().optional(),
  closed: z
    .object({
      at: z.iso.datetime(),
      reason: z.enum(['all-reported', 'deadline']),
      outcome: z.enum(['aggregated', 'failed']),
    })
    .optional(),
  /** set once the next round's messages (or the completion records) are written: a retry redoes only what is missing */
  followUpDone: z.boolean(),
  /**
   * A round split into groups (config round.groups), its own state: how many groups, and those whose partial sums are
   * written (in the order their "group closed" came). Its `answered` stays 0: each group counts its own answers.
   */
  groups: z.int().min(2).optional(),
  groupsClosed: z.array(z.int().min(0)).optional(),
  /**
   * One group of a split round: this state records that group's clients (`expected`) as a round's state does, and its
   * close writes a partial sum instead of the global model. `minClients` is 0: the round decides the quorum.
   */
  group: z.int().min(0).optional(),
});
export type RoundState = z.infer<typeof roundStateSchema>;
export type CloseReason = NonNullable<RoundState['closed']>['reason'];

/** config.resolved.json's record of which upload of config.json the experiment runs. */
export const pinnedConfigSchema = z.object({ eTag: z.string(), bytes: z.int().min(0) });

export const statusSchema = z.object({
  experimentId: z.string(),
  state: z.enum(['running', 'completed', 'failed']),
  round: z.int().min(0),
  rounds: z.int().min(0),
  updatedAt: z.iso.datetime(),
  lastAccuracy: z.number().optional(),
  errors: z.array(z.string()).optional(),
  /** the ETag of the config.json upload this experiment runs */
  configETag: z.string().optional(),
  /** while running: the ETag of the global model the round trains from (round − 1), as the aggregator wrote it */
  globalModelETag: z.string().optional(),
  /** things a person should know that did not stop the experiment, e.g. a config.json uploaded again while it ran */
  notices: z.array(z.string()).optional(),
});
