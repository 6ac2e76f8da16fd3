import type { S3Event } from 'aws-lambda';
import { contextFromEnv } from '../shared/pipeline/context-from-env.js';
import type { PipelineContext } from '../shared/pipeline/context.js';
import { startExperiment } from '../shared/pipeline/start.js';
import { experimentIdFromConfigKey } from '../shared/protocol/keys.js';

/** S3 ObjectCreated on experiments/<id>/config.json → partition, shards, round-0 model, round 1. */
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
      const outcome = await startExperiment(context, experimentId);
      context.log('start.outcome', { experimentId, ...outcome });
    }
  };
}

export const handler = createStartHandler(contextFromEnv);
