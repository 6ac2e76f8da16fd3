import { ObjectChangedError } from '../cloud/ports.js';
import type { ExperimentConfig } from '../config/schema.js';
import type { ExperimentStatus } from '../metrics/types.js';
import { keys } from '../protocol/keys.js';
import type { TrainMessage } from '../protocol/messages.js';
import { PipelineRecordError, requireObject, type PipelineContext } from './context.js';
import { readResolvedConfig, readResolvedConfigRecord } from './experiment.js';
import { keepRecent } from './keep-recent.js';

/**
 * What a warm trainer (a Lambda container, a local training worker) keeps between the clients it trains: the global
 * model a round starts from and the experiment's resolved config. Without it every client of a 1,000-client round
 * reads both again, the model being the largest read of a client-update (docs/scale.md).
 *
 * A copy is used only for the version it was read as, so an experiment restarted under the same id (new objects under
 * the same keys) is never trained from an old copy:
 * - the global model for the ETag status.json gives the round in progress (S3 gives new bytes a new ETag), read with
 *   that ETag as a condition so that the copy is exactly that version; status.json, not the message, names it, so
 *   that a message left from before a restart trains from the restarted run's model, as it always did;
 * - the config for the uploaded config's ETag that status.json names and the resolved config pins.
 * A status without those ETags (written before they existed, or before the round's status) reads as before.
 */
interface WarmCopies {
  /** by key and ETag: the read of that version (shared while in flight: the local runtime may train clients concurrently) */
  readonly models: Map<string, Promise<Uint8Array>>;
  /** by experiment and the uploaded config's ETag: the read of the config resolved from it (shared while in flight too) */
  readonly configs: Map<string, Promise<ExperimentConfig>>;
}

/** Copies kept per kind: a container may train for a few experiments at once; more would only hold memory. */
const COPIES_KEPT = 2;

const warmCopies = new WeakMap<object, WarmCopies>();

const unquote = (eTag: string) => eTag.replace(/"/g, '');

function copiesOf(context: PipelineContext): WarmCopies {
  const owner = context.warm ?? context.store;
  let copies = warmCopies.get(owner);
  if (!copies) warmCopies.set(owner, (copies = { models: new Map(), configs: new Map() }));
  return copies;
}

/** A shared copy must stay what was read: a caller that tried to change it would throw instead (ES modules are strict). */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/**
 * The bytes of the global model the client's round trains from (never to be modified: callers decode them into fresh
 * arrays). While status.json says the experiment runs this round, it names that model's version: a copy this process
 * read for an earlier client of the round is reused. A message from another round (a redelivery) or from before a
 * restart reads what S3 holds, as every client did before.
 */
export async function readGlobalModelBytes(context: PipelineContext, message: Pick<TrainMessage, 'experimentId' | 'round'>, status: ExperimentStatus | undefined): Promise<Uint8Array> {
  const { store } = context;
  const key = keys.globalModel(message.experimentId, message.round - 1);
  const eTag = status?.state === 'running' && status.round === message.round ? status.globalModelETag : undefined;
  if (!eTag) return requireObject(store, key);
  const { models } = copiesOf(context);
  const version = `${key}\u0000${unquote(eTag)}`;
  let read = models.get(version);
  if (!read) {
    read = store.get(key, { ifMatch: eTag }).then((bytes) => {
      if (bytes === undefined) throw new PipelineRecordError(`s3://${store.bucket}/${key} does not exist`);
      return bytes;
    });
    keepRecent(models, version, read, COPIES_KEPT);
  }
  try {
    return await read;
  } catch (error) {
    if (models.get(version) === read) models.delete(version);
    if (!(error instanceof ObjectChangedError)) throw error;
    // Not the version the message was sent for (the experiment restarted since): train on what is there, as a
    // message without an ETag does, and keep no copy, since nothing says which version a later message wants.
    return requireObject(store, key);
  }
}

/** The experiment's resolved config; reused while status.json names the uploaded config it was resolved from. */
export async function readConfigForTraining(context: PipelineContext, experimentId: string, status: ExperimentStatus | undefined): Promise<ExperimentConfig> {
  const { store } = context;
  const configETag = status?.configETag;
  if (!configETag) return readResolvedConfig(store, experimentId);
  const { configs } = copiesOf(context);
  const version = `${experimentId}\u0000${unquote(configETag)}`;
  let read = configs.get(version);
  if (!read) {
    read = readResolvedConfigRecord(store, experimentId).then(({ config, pinned }) => {
      // Resolved from another upload than status.json names (a restart under way): right for this read, kept for none.
      if (!pinned || unquote(pinned.eTag) !== unquote(configETag)) configs.delete(version);
      return deepFreeze(config);
    });
    keepRecent(configs, version, read, COPIES_KEPT);
    read.catch(() => configs.get(version) === read && configs.delete(version));
  }
  return read;
}
