import { z } from 'zod';
import { MAX_ROUND_GROUPS } from '../config/grouping.js';
import { CLIENT_ID_PATTERN, CLIENT_ID_RULE, EXPERIMENT_ID_PATTERN, EXPERIMENT_ID_RULE, SECAGG_CLIENT_STAGES } from './keys.js';

/**
 * Every id in a message must be one an S3 key of the layout can hold (shared/protocol/keys.ts): a message naming
 * anything else is malformed, fails at the handler's edge and ends in the dead-letter queue, never in a record.
 */
const experimentId = z.string().regex(EXPERIMENT_ID_PATTERN, `an experiment id is ${EXPERIMENT_ID_RULE}`);
const clientId = z.string().regex(CLIENT_ID_PATTERN, `a client id is ${CLIENT_ID_RULE}`);
/** The config allows at most 1000 rounds. */
const round = z.int().min(1).max(1000);
/** How often a deadline was re-armed after firing early: part of its deduplication id, so a re-armed one is never dropped. */
const attempt = z.int().min(0).max(1000).default(0);
const group = z.int().min(0).max(MAX_ROUND_GROUPS - 1);

/** train queue (standard): one message per sampled client per round. */
export const trainMessageSchema = z.strictObject({
  type: z.literal('train'),
  experimentId,
  round,
  clientId,
  /** secure aggregation: the protocol stage to run (docs/secure-aggregation.md); absent for a plain round */
  stage: z.enum(SECAGG_CLIENT_STAGES).optional(),
  /** a round split into groups: the client's group, which its "update ready" names (the trainer cannot work it out) */
  group: z.int().min(0).max(MAX_ROUND_GROUPS - 1).optional(),
});

/**
 * aggregate queue (FIFO, MessageGroupId = experimentId): everything that changes an experiment's records after its
 * config was uploaded is serialised here, so no read-check-write ever races, on AWS, LocalStack and the local runtime
 * alike. `start` comes from the start function (one per config.json upload), `update` from trainers, `deadline`
 * from the timer. A round split into groups (config round.groups) sends its groups' `update` and `deadline` messages
 * to a FIFO group per group (`<experimentId>:<round>:<group>`), whose records no other group writes.
 */
export const aggregateMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('start'),
    experimentId,
    /** the uploaded config.json's ETag from the S3 event: the start reads exactly that version (empty: whatever is there) */
    configETag: z.string().max(200),
    /** its size from the S3 event, so an oversized config is refused before it is read */
    configBytes: z.int().min(0).optional(),
  }),
  z.strictObject({
    type: z.literal('update'),
    experimentId,
    round,
    clientId,
    /** a round split into groups: the group whose FIFO group (`<experiment>:<round>:<group>`) carries this message */
    group: group.optional(),
  }),
  z.strictObject({
    type: z.literal('deadline'),
    experimentId,
    round,
    dueAt: z.iso.datetime().optional(),
    attempt,
    /** a split round's deadline, passed on to one of its groups by the round's own */
    group: group.optional(),
  }),
  /** a split round: the group wrote its partial sum (in the experiment's own FIFO group, where the round closes) */
  z.strictObject({
    type: z.literal('group-closed'),
    experimentId,
    round,
    group,
  }),
  /** secure aggregation: a client wrote its answer to a stage */
  z.strictObject({
    type: z.literal('secagg'),
    experimentId,
    round,
    clientId,
    stage: z.enum(SECAGG_CLIENT_STAGES),
  }),
]);

/**
 * timer queue (standard, per-message DelaySeconds ≤ 900): FIFO queues cannot delay single messages, so round
 * deadlines wait here and are forwarded to the aggregate queue when due (re-delayed if more than 15 min remain).
 */
export const timerMessageSchema = z.strictObject({
  type: z.literal('deadline'),
  experimentId,
  round,
  dueAt: z.iso.datetime(),
  attempt,
});

export type TrainMessage = z.infer<typeof trainMessageSchema>;
export type AggregateMessage = z.infer<typeof aggregateMessageSchema>;
export type StartMessage = Extract<AggregateMessage, { type: 'start' }>;
export type UpdateMessage = Extract<AggregateMessage, { type: 'update' }>;
export type SecAggMessage = Extract<AggregateMessage, { type: 'secagg' }>;
export type DeadlineMessage = Extract<AggregateMessage, { type: 'deadline' }>;
export type GroupClosedMessage = Extract<AggregateMessage, { type: 'group-closed' }>;
export type TimerMessage = z.infer<typeof timerMessageSchema>;

/** A message as a queue delivered it: its parsed body, and how often SQS has delivered it (ApproximateReceiveCount: 1 the first time). */
export interface Delivery<M> {
  readonly message: M;
  readonly receiveCount: number;
}
