import type { TimerMessage } from '../protocol/messages.js';
import type { PipelineContext } from './context.js';
import { notifyDeadline } from './notify.js';
import { delayUntil } from './rounds.js';

export async function forwardDueDeadline(context: PipelineContext, message: TimerMessage): Promise<'forwarded' | 'delayed-again'> {
  const delaySeconds = delayUntil(new Date(message.dueAt), context.now());
  if (delaySeconds > 0) {
    await context.queues.timer.send(message, { delaySeconds });
    return 'delayed-again';
  }
  await notifyDeadline(context, message.experimentId, message.round, message.dueAt, message.attempt);
  return 'forwarded';
}
