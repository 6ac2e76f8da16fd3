import type { BoundedObject, ObjectStore } from '../cloud/ports.js';
import type { CompressionConfig } from '../config/compression.js';
import type { ExperimentConfig } from '../config/schema.js';
import type { ModelWeights } from '../weights/types.js';
import { weightSpecs, type ModelInput } from '../models/index.js';
import { keys } from '../protocol/keys.js';
import { clientReportSchema, type UpdateReport } from '../protocol/records.js';
import { experimentStrategy, StrategyError, type Strategy } from '../strategies/index.js';
import { assertSameLayout, decodeModelWeights, encodedWeightsSize, WeightsError, type TensorLayout } from '../weights/codec.js';
import { isCompressed, readCompressedUpdate } from './update-format.js';
import type { Verdict } from './round-machine.js';
import { clientUploadSlots } from './client-state.js';

/**
 * Checks one client's update before it may count, reading no more than the model's size: the report (at most 64 KiB)
 * and the update are each one GET whose body is read only if the size S3 announces is within bound; a claimed sample count is bounded by what partition.json says the client holds. What the client sent wrong becomes a rejection
 * with the reason; anything else (an S3 error, a record of ours missing) is thrown, so SQS retries the message.
 */

/** A report is a few hundred bytes; anything near this is not one. */
export const MAX_REPORT_BYTES = 64 * 1024;
/** A wrong-size update up to the whole model's size (+ this) is still read, to name exactly what is wrong with it. */
const DIAGNOSE_SLACK_BYTES = 64 * 1024;

/** The layout updates must have, worked out once per invocation from the config (no global model is read for it). */
export interface UpdateLayout {
  readonly model: string;
  readonly input: ModelInput;
  readonly modelLayout: readonly TensorLayout[];
  /** what clients upload and the server averages: the strategy's averaged part (e.g. without the layers clients keep) */
  readonly averaged: readonly TensorLayout[];
  readonly averagedBytes: number;
  readonly modelBytes: number;
  /** the strategy: what it refuses in an upload, and the files its clients send with each update */
  readonly strategy: Strategy;
  /** the experiment's update compression (undefined or "none": float32 weights) */
  readonly compression: CompressionConfig | undefined;
}

export function updateLayoutFor(config: ExperimentConfig, input: ModelInput): UpdateLayout {
  const model = weightSpecs(config.model, input);
  const strategy = experimentStrategy(config);
  const averaged = strategy.server.averagedPart(model);
  return {
    model: config.model,
    input,
    modelLayout: model,
    averaged,
    averagedBytes: encodedWeightsSize(averaged),
    modelBytes: encodedWeightsSize(model),
    strategy,
    compression: config.compression,
  };
}

/** Something the client sent is wrong: the update is rejected with this message. */
export class UpdateRejectedError extends Error {
  override name = 'UpdateRejectedError';
}

/** Errors that say the client's update is unusable, as opposed to the pipeline being unable to look at it right now. */
export function isClientFault(error: unknown): error is Error {
  return error instanceof UpdateRejectedError || error instanceof WeightsError || error instanceof StrategyError;
}

/** Control characters and undecodable bytes as escapes: a reason is read by people and must never carry raw binary. */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\ufffd]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const reject = (reason: string): never => {
  throw new UpdateRejectedError(reason);
};

export interface Inspection {
  readonly verdict: Verdict;
  /** when the client's report was written, by the store's clock (undefined when there is none, or the store does not say) */
  readonly reportedAt: string | undefined;
  /** the accepted update as decoded while checking it (float32 weights only), for a warm aggregator's running sum */
  readonly weights?: ModelWeights;
}

type ClientMessage = { readonly experimentId: string; readonly round: number; readonly clientId: string };

/** The client's report, as inspectUpdate reads it: at most MAX_REPORT_BYTES of its body. */
export function readUpdateReport(store: ObjectStore, message: ClientMessage): Promise<BoundedObject | undefined> {
  return store.getAtMost(keys.updateReport(message.experimentId, message.round, message.clientId), MAX_REPORT_BYTES);
}

/** How much of a weights object is read: the layout's size, or a little more so a wrong size can be named exactly. */
const weightsReadBound = (layout: UpdateLayout) => Math.max(layout.averagedBytes, layout.modelBytes + DIAGNOSE_SLACK_BYTES);

/** The client's update, read as inspectUpdate would read it under `layout`; none for a compressed one (read in parts). */
export interface UpdateRead {
  readonly maxBytes: number;
  readonly read: Promise<BoundedObject | undefined>;
}

export function readUpdate(store: ObjectStore, layout: UpdateLayout, message: ClientMessage): UpdateRead | undefined {
  if (isCompressed(layout.compression)) return undefined;
  const maxBytes = weightsReadBound(layout);
  return { maxBytes, read: store.getAtMost(keys.update(message.experimentId, message.round, message.clientId), maxBytes) };
}

/** Reads already under way for an inspection; each is used only if it is the read the inspection would make. */
export interface StartedReads {
  readonly report?: Promise<BoundedObject | undefined>;
  readonly update?: UpdateRead;
}

export async function inspectUpdate(
  store: ObjectStore,
  layout: UpdateLayout,
  message: ClientMessage,
  /** how many samples the client holds, as partition.json records them (its shard, or its natural data, capped) */
  samplesHeld: number | undefined,
  started: StartedReads = {},
): Promise<Inspection> {
  const found = await (started.report ?? readUpdateReport(store, message));
  const reportedAt = found?.info.lastModified;
  try {
    const { report, weights } = await checkUpdate(store, layout, message, found, samplesHeld, started.update);
    return { verdict: { outcome: 'accepted', report }, reportedAt, ...(weights ? { weights } : {}) };
  } catch (error) {
    if (isClientFault(error)) return { verdict: { outcome: 'rejected', reason: printable(error.message) }, reportedAt };
    throw error;
  }
}

function readReport(message: ClientMessage, found: BoundedObject | undefined) {
  const key = keys.updateReport(message.experimentId, message.round, message.clientId);
  if (!found) return reject(`announced an update but wrote no report (${key})`);
  if (!found.bytes) return reject(`its report is ${found.info.size} bytes; a report is at most ${MAX_REPORT_BYTES} bytes`);
  const text = new TextDecoder().decode(found.bytes);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return reject(`its report is not JSON: ${(error as Error).message}`);
  }
  const parsed = clientReportSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'report'}: ${issue.message}`);
    return reject(`its report is not valid: ${issues.slice(0, 5).join('; ')}`);
  }
  const report = parsed.data;
  for (const field of ['experimentId', 'round', 'clientId'] as const) {
    if (report[field] !== message[field]) {
      reject(`its report's ${field} is ${JSON.stringify(report[field])}, but the message's is ${JSON.stringify(message[field])}`);
    }
  }
  if ('failed' in report) return reject(`training failed: ${report.failed}`);
  return report;
}

/**
 * Reads and decodes a weights object of the update's layout, after checking its size; throws a client fault if
 * unusable. Its size, and the weights when they are float32 (a compressed update is decoded against the global model).
 */
async function readWeights(
  store: ObjectStore,
  layout: UpdateLayout,
  key: string,
  what: string,
  started?: UpdateRead,
): Promise<{ size: number; weights?: ModelWeights }> {
  if (what === 'update' && isCompressed(layout.compression)) return { size: await readCompressedUpdate(store, layout, layout.compression, key) };
  const maxBytes = weightsReadBound(layout);
  const found = await (started?.maxBytes === maxBytes ? started.read : store.getAtMost(key, maxBytes));
  if (!found) return reject(`its ${what} ${key} does not exist`);
  const { bytes } = found;
  if (!bytes) {
    const part = layout.averagedBytes === layout.modelBytes ? '' : 'without the layers its clients keep ';
    return reject(`its ${what} is ${found.info.size} bytes; weights of model ${layout.model} ${part}are exactly ${layout.averagedBytes} bytes`);
  }
  // The strategy's rule first (e.g. no local layer may leave a client), so the reason names what really went wrong.
  const update = decodeModelWeights(bytes);
  const problem = layout.strategy.server.uploadProblem(update.map((tensor) => tensor.name));
  if (problem) reject(problem);
  assertSameLayout(update, layout.averaged, 'weights');
  if (bytes.byteLength !== layout.averagedBytes) reject(`its ${what} is ${bytes.byteLength} bytes; it must be exactly ${layout.averagedBytes}`);
  return { size: bytes.byteLength, weights: update };
}

async function checkUpdate(
  store: ObjectStore,
  layout: UpdateLayout,
  message: ClientMessage,
  reportFound: BoundedObject | undefined,
  samplesHeld: number | undefined,
  updateRead: UpdateRead | undefined,
): Promise<{ report: UpdateReport; weights?: ModelWeights }> {
  const { experimentId, round, clientId } = message;
  const report = readReport(message, reportFound);

  if (samplesHeld === undefined) return reject(`it is not one of the experiment's clients (${keys.partition(experimentId)} does not list it)`);
  const claimed = report.samples + (report.holdoutSamples ?? 0);
  if (claimed > samplesHeld) {
    const held = report.holdoutSamples ? ` (${report.samples} trained on + ${report.holdoutSamples} held out)` : '';
    reject(`claims ${claimed} samples${held} but its data holds ${samplesHeld}`);
  }

  const { size: updateBytes, weights } = await readWeights(store, layout, keys.update(experimentId, round, clientId), 'update', updateRead);
  if (report.updateBytes !== updateBytes) reject(`its report says updateBytes ${report.updateBytes}, but the update is ${updateBytes} bytes`);
  for (const slot of clientUploadSlots(layout.strategy)) {
    await readWeights(store, layout, keys.clientUpload(experimentId, round, clientId, slot), `"${slot}" file`);
  }
  return { report, ...(weights ? { weights } : {}) };
}
