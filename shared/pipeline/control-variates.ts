import type { ObjectStore } from '../cloud/ports.js';
import type { ExperimentConfig } from '../config/schema.js';
import { createWeightedMean } from '../aggregate/weighted-mean.js';
import { keys } from '../protocol/keys.js';
import {
  localStepCount,
  scaffoldClientUpdate,
  scaffoldCorrection,
  scaffoldServerControl,
} from '../strategies/scaffold.js';
import type { ControlVariateRound } from '../strategies/types.js';
import { filledLike } from '../strategies/tensor-math.js';
import { decodeModelWeights, encodeModelWeights } from '../weights/codec.js';
import type { ModelWeights } from '../weights/types.js';
import { readClientWeights, requireObject } from './context.js';

/**
 * SCAFFOLD's per-client state across rounds. A client's control variate c_i lives at clients/<client>/control.bin and
 * is replaced only by the aggregator, for clients whose update it accepted: a rejected, late or retried round can
 * never corrupt it. Trainers propose c_i⁺ and Δc_i next to their update, before the report that completes it.
 */
export interface ClientControls {
  readonly serverControl: ModelWeights;
  readonly clientControl: ModelWeights;
}

export async function readClientControls(
  store: ObjectStore,
  experimentId: string,
  round: number,
  clientId: string,
  global: ModelWeights,
): Promise<ClientControls> {
  const serverState = await store.get(keys.serverState(experimentId, round - 1));
  const stored = await store.get(keys.clientControl(experimentId, clientId));
  return {
    serverControl: scaffoldServerControl(serverState ? decodeModelWeights(serverState) : undefined, global),
    clientControl: stored ? decodeModelWeights(stored, global) : filledLike(global, 0),
  };
}

export function gradientCorrection(controls: ClientControls): ModelWeights {
  return scaffoldCorrection(controls.serverControl, controls.clientControl);
}

export async function proposeClientControl(
  store: ObjectStore,
  message: { experimentId: string; round: number; clientId: string },
  args: { config: ExperimentConfig; controls: ClientControls; global: ModelWeights; trained: ModelWeights; samples: number },
): Promise<void> {
  const { local } = args.config;
  const { control, delta } = scaffoldClientUpdate({
    global: args.global,
    trained: args.trained,
    ...args.controls,
    steps: localStepCount({ samples: args.samples, epochs: local.epochs, batchSize: local.batchSize }),
    learningRate: local.learningRate,
    momentum: local.optimizer === 'sgd' ? local.momentum : 0,
  });
  const { experimentId, round, clientId } = message;
  await store.put(keys.controlProposal(experimentId, round, clientId), encodeModelWeights(control));
  await store.put(keys.controlDelta(experimentId, round, clientId), encodeModelWeights(delta));
}

/** Both proposal files decode with the model's layout and finite values, or the update is rejected. */
export async function checkControlProposal(store: ObjectStore, experimentId: string, round: number, clientId: string, global: ModelWeights) {
  decodeModelWeights(await requireObject(store, keys.controlProposal(experimentId, round, clientId)), global);
  decodeModelWeights(await requireObject(store, keys.controlDelta(experimentId, round, clientId)), global);
}

/** The unweighted mean of the accepted clients' Δc_i, folded one client at a time. */
export async function foldControlDeltas(
  store: ObjectStore,
  experimentId: string,
  round: number,
  accepted: readonly string[],
  global: ModelWeights,
  clients: number,
): Promise<ControlVariateRound> {
  const mean = createWeightedMean(global);
  for (const clientId of accepted) {
    mean.add(await readClientWeights(store, keys.controlDelta(experimentId, round, clientId), clientId, global), 1);
  }
  return { meanDelta: mean.result(), contributors: accepted.length, clients };
}

/** After the server step: the accepted clients' proposals become their control variates. Idempotent. */
export async function adoptClientControls(store: ObjectStore, experimentId: string, round: number, accepted: readonly string[]) {
  for (const clientId of accepted) {
    await store.put(keys.clientControl(experimentId, clientId), await requireObject(store, keys.controlProposal(experimentId, round, clientId)));
  }
}
