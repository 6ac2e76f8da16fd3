import { z } from 'zod';

/** train queue (standard): one message per sampled client per round. */
export const trainMessageSchema = z.strictObject({
  type: z.literal('train'),
  experimentId: z.string().min(1),
  round: z.int().min(1),
  clientId: z.string().min(1),
});

/**
 * aggregate queue (FIFO, MessageGroupId = experimentId): all of an experiment's aggregation work is serialised,
 * so the read-check-write of a round's state never races, on AWS, LocalStack and the local runtime alike.
 */
export const aggregateMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('update'),
    experimentId: z.string().min(1),
    round: z.int().min(1),
    clientId: z.string().min(1),
  }),
  z.strictObject({
    type: z.literal('deadline'),
    experimentId: z.string().min(1),
    round: z.int().min(1),
  }),
]);

/**
 * timer queue (standard, per-message DelaySeconds ≤ 900): FIFO queues cannot delay single messages, so round
 * deadlines wait here and are forwarded to the aggregate queue when due (re-delayed if more than 15 min remain).
 */
export const timerMessageSchema = z.strictObject({
  type: z.literal('deadline'),
  experimentId: z.string().min(1),
  round: z.int().min(1),
  dueAt: z.iso.datetime(),
});

export type TrainMessage = z.infer<typeof trainMessageSchema>;
export type AggregateMessage = z.infer<typeof aggregateMessageSchema>;
export type TimerMessage = z.infer<typeof timerMessageSchema>;
