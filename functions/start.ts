import type { S3Event } from 'aws-lambda';
import { contextFromEnv } from '../shared/pipeline/context-from-env.js';
import type { PipelineContext } from '../shared/pipeline/context.js';
import { notifyStart } from '../shared/pipeline/notify.js';
import { experimentIdFromConfigKey } from '../shared/protocol/keys.js';

/**
 * S3 ObjectCreated on experiments/<id>/config.json → a "start" message in the experiment's FIFO group, naming the
 * upload (its ETag and size). The aggregator starts it there, so two uploads moments apart are started one after the
 * other and never build a mixed experiment.
 */
export function createStartHandler(getContext: () => Promise<PipelineContext>) {
  return async (event: S3Event): Promise<void> => {
    const context = await getContext();
    for (const record of event.Records) {
      // S3 URL-encodes keys in notifications, with '+' for spaces.
      const key = decodeURIComponent(record.s3.object.key.replace(/\+/g, ' '));
      const experimentId = experimentIdFromConfigKey(key);
      if (!experimentId) {
        context.log('start.ignored-key', { key });
        continue;
      }
      const { eTag = '', size } = record.s3.object as { eTag?: string; size?: number };
      await notifyStart(context, experimentId, eTag, size);
      context.log('start.forwarded', { experimentId, eTag, size });
    }
  };
}

export const handler = createStartHandler(contextFromEnv);
