import { ObjectChangedError } from '../cloud/ports.js';
import { MAX_CONFIG_BYTES } from '../config/parse.js';
import { resolvePrivacyPlan } from '../config/privacy.js';
import type { ExperimentConfig } from '../config/schema.js';
import { initBackend } from '../engine/backend.js';
import { initialWeights } from '../engine/build-model.js';
import type { ExperimentStatus } from '../metrics/types.js';
import { keys } from '../protocol/keys.js';
import type { StartMessage } from '../protocol/messages.js';
import { encodeModelWeights } from '../weights/codec.js';
import { writeRecord, type PipelineContext } from './context.js';
import { prepareClientData } from './datasets.js';
import { readStatus, resolvedConfigRecord, writeStatus } from './experiment.js';
import { openRound } from './rounds.js';
import { validateExperimentConfig } from './validate.js';

export type StartOutcome = 'started' | 'invalid-config' | 'already-started' | 'superseded' | 're-upload-refused';

/** Seconds a round may take beyond its deadline: the aggregator's close (its Lambda timeout is 5 min) and the timer's hop. */
export const ROUND_CLOSE_ALLOWANCE_SECONDS = 600;
/** status.json keeps the latest notices only. */
const MAX_NOTICES = 20;

const unquote = (eTag: string) => eTag.replace(/"/g, '');

/**
 * What a config.json upload means for the experiment (pure): start it; nothing, as it is the upload the experiment
 * already runs; or a re-upload to refuse, visibly. A refused config (failed at round 0) ran nothing, so a new upload
 * simply starts it: that is how a config rejected at start is fixed.
 */
export function startDecision(status: ExperimentStatus | undefined, configETag: string): 'start' | 'already-started' | 're-upload' {
  if (!status) return 'start';
  if (status.configETag !== undefined && unquote(status.configETag) === unquote(configETag)) return 'already-started';
  if (status.state === 'failed' && status.round === 0) return 'start';
  return 're-upload';
}

/** The line status.json gets for a config.json uploaded again to an experiment that runs or ran another one. */
export function reuploadNotice(status: ExperimentStatus, configETag: string, at: Date): string {
  const upload = `${at.toISOString()}: config.json was uploaded again (ETag ${unquote(configETag)})`;
  if (status.state === 'running') {
    return `${upload}; the experiment still runs the config it started with (config.resolved.json, ETag ${status.configETag ?? 'unknown'}). Run the new config under a new id.`;
  }
  if (status.state === 'completed') return `${upload} after the experiment completed; nothing was run. Run the new config under a new id.`;
  return (
    `${upload} after the experiment failed; nothing was run. To run it again under this id: ` +
    `flambda run <config> --id ${status.experimentId} --restart (or delete experiments/${status.experimentId}/ and upload the config again).`
  );
}

/**
 * Why an experiment may not start in a bucket whose experiment objects expire after `retentionDays` (undefined: it may).
 * A round lasts at most its deadline plus the close, so rounds × that bounds the run; longer, and its shards could
 * expire under it.
 */
export function retentionProblem(config: ExperimentConfig, retentionDays: number | undefined): string | undefined {
  if (retentionDays === undefined) return undefined;
  const perRound = config.round.deadlineSeconds + ROUND_CLOSE_ALLOWANCE_SECONDS;
  const worstSeconds = config.rounds * perRound;
  if (worstSeconds <= retentionDays * 86_400) return undefined;
  return (
    `rounds × (round.deadlineSeconds + ${ROUND_CLOSE_ALLOWANCE_SECONDS} s to close a round) = ${config.rounds} × ${perRound} s ` +
    `= ${(worstSeconds / 86_400).toFixed(1)} days, longer than the ${retentionDays}-day retention of experiment objects in this bucket ` +
    '(they would expire while the experiment may still need them): use fewer rounds or a shorter round.deadlineSeconds, ' +
    'or deploy with a longer experimentRetentionDays'
  );
}

/**
 * config → partition → shards + round-0 model → round 1, run by the aggregator for a `start` message, in the
 * experiment's FIFO group: two uploads of config.json are started one after the other, never interleaved. The start
 * reads exactly the upload its message names (IfMatch its ETag): an older upload whose config has been replaced since
 * starts nothing (the newer upload's own message follows), and an upload to an experiment that runs or ran another
 * config is refused with a line in status.json. Everything it writes is a deterministic function of the config, so a
 * retry after a crash rewrites the same bytes; status.json, written last (by openRound), marks it done.
 */
export async function startExperiment(context: PipelineContext, message: StartMessage): Promise<StartOutcome> {
  const { store } = context;
  const { experimentId } = message;
  const configKey = keys.config(experimentId);
  const info = await store.head(configKey);
  if (!info) {
    context.log('start.config-missing', { experimentId });
    return 'superseded';
  }
  const eTag = unquote(message.configETag || info.eTag);
  if (unquote(info.eTag) !== eTag) {
    // An older upload (S3 notifications come in any order): the upload that replaced it has a message of its own.
    context.log('start.superseded', { experimentId, eTag, current: unquote(info.eTag) });
    return 'superseded';
  }
  const status = await readStatus(store, experimentId);
  const decision = startDecision(status, eTag);
  if (decision === 'already-started') {
    context.log('start.duplicate', { experimentId });
    return 'already-started';
  }
  if (decision === 're-upload') {
    const notices = status!.notices ?? [];
    if (!notices.some((notice) => notice.includes(`(ETag ${eTag})`))) {
      const notice = reuploadNotice(status!, eTag, context.now());
      await writeRecord(store, keys.status(experimentId), { ...status, notices: [...notices, notice].slice(-MAX_NOTICES), updatedAt: context.now().toISOString() });
      context.log('start.re-upload-refused', { experimentId, eTag, notice });
    }
    return 're-upload-refused';
  }

  const refuse = async (errors: string[]): Promise<StartOutcome> => {
    await writeStatus(context, { experimentId, state: 'failed', round: 0, rounds: 0, errors, configETag: eTag });
    context.log('start.invalid-config', { experimentId, errors });
    return 'invalid-config';
  };
  const size = Math.max(info.size, message.configBytes ?? 0);
  if (size > MAX_CONFIG_BYTES) return refuse([`config is ${size} bytes; the limit is ${MAX_CONFIG_BYTES} bytes (64 KiB)`]);
  let configBytes: Uint8Array | undefined;
  try {
    configBytes = await store.get(configKey, { ifMatch: `"${eTag}"` });
  } catch (error) {
    if (!(error instanceof ObjectChangedError)) throw error;
  }
  if (configBytes === undefined) {
    context.log('start.superseded', { experimentId, eTag });
    return 'superseded';
  }
  const parsed = validateExperimentConfig(configBytes);
  if (!parsed.ok) return refuse(parsed.errors);
  const tooLong = retentionProblem(parsed.config, context.experimentRetentionDays);
  if (tooLong) return refuse([tooLong]);

  // Partition a central dataset into shards, or read a natural one's client metadata (shared/pipeline/datasets.ts).
  const prepared = await prepareClientData(store, experimentId, parsed.config);
  if (!prepared.ok) return refuse([...prepared.errors]);
  const config = prepared.config;
  const privacy = resolvePrivacyPlan(config);
  if (!privacy.ok) return refuse(privacy.errors);
  await writeRecord(store, keys.resolvedConfig(experimentId), resolvedConfigRecord(config, { eTag, bytes: configBytes.byteLength }, privacy.plan));

  await initBackend();
  const initialModel = encodeModelWeights(initialWeights(config.model, config.seed, prepared.input));
  await store.put(keys.globalModel(experimentId, 0), initialModel);
  // Its ETag as S3 computed it, for the train messages (the store's put does not return it); S3 reads after writes.
  const initial = (await store.head(keys.globalModel(experimentId, 0))) ?? { size: initialModel.byteLength, eTag: '' };

  context.log('start.partitioned', { experimentId, clients: config.clients, partition: config.partition.kind });
  await openRound(context, experimentId, config, 1, initial, { configETag: eTag });
  return 'started';
}
