import type { StrategyConfig } from '../config/schema.js';
import type { ModelWeights } from '../weights/types.js';
import { packState, unpackState } from './server-state.js';
import { assertSameSize, elementwise, filledLike } from './tensor-math.js';
import { wholeModelServer } from './halves.js';
import type { ClientHalf, ClientRoundInput, SideUploadFold, Strategy } from './types.js';

/**
 * SCAFFOLD (Karimireddy et al., 2020). The server keeps a control variate c and every client i its own c_i, each
 * shaped like the model and zero before its first round. A client trains from the global x with every local step's
 * gradient corrected by c − c_i (`scaffoldCorrection`), then updates c_i with option II (`scaffoldClientUpdate`).
 * The server moves x along the clients' mean update and c along their mean Δc_i (`createScaffold`'s server step).
 * The server's c is the strategy's persisted state; each c_i is adopted client state (slot "control"), replaced only
 * when the aggregator accepts the client's update, and Δc_i its side upload ("control-delta").
 */

const SLOTS = ['control'] as const;

/** The server's control variate c as this round's clients need it: from the previous round's state, zero in round 1. */
export function scaffoldServerControl(state: ModelWeights | undefined, global: ModelWeights): ModelWeights {
  return state === undefined ? filledLike(global) : unpackState('scaffold', state, global, SLOTS).control;
}

/** c − c_i: what trainLocal adds to the gradient of every local step (`ClientObjective.gradientCorrection`). */
export function scaffoldCorrection(serverControl: ModelWeights, clientControl: ModelWeights): ModelWeights {
  return elementwise('scaffold: client control variate', [serverControl, clientControl], (c, ci) => c - ci);
}

/** How many optimizer steps trainLocal takes: ⌈samples / batchSize⌉ minibatches (the last one may be short) per epoch. */
export function localStepCount({ samples, epochs, batchSize }: { samples: number; epochs: number; batchSize: number }): number {
  for (const [name, value] of Object.entries({ samples, epochs, batchSize })) {
    if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`localStepCount: ${name} must be a positive integer (got ${value})`);
  }
  return epochs * Math.ceil(samples / batchSize);
}

/**
 * How far K local steps move the weights per unit of a constant gradient: K·η for plain SGD, and with heavy-ball
 * momentum β (tfjs's `a ← β·a + g; w ← w − η·a`, accumulator starting at 0)
 *   η·Σ_{k=1..K} (1 − β^k)/(1 − β) = η·(K − β·(1 − β^K)/(1 − β)) / (1 − β).
 * Option II divides the local displacement by this to recover the mean corrected gradient; with β = 0 it is the
 * paper's K·η.
 */
export function scaffoldStepScale(steps: number, learningRate: number, momentum = 0): number {
  if (!Number.isSafeInteger(steps) || steps < 1) throw new RangeError(`scaffold: steps must be a positive integer (got ${steps})`);
  if (!(learningRate > 0) || !Number.isFinite(learningRate)) throw new RangeError(`scaffold: learningRate must be positive (got ${learningRate})`);
  if (!(momentum >= 0 && momentum < 1)) throw new RangeError(`scaffold: momentum must be in [0, 1) (got ${momentum})`);
  if (momentum === 0) return steps * learningRate;
  return (learningRate * (steps - (momentum * (1 - momentum ** steps)) / (1 - momentum))) / (1 - momentum);
}

export interface ScaffoldClientUpdateArgs {
  /** x: the global model the client started the round from */
  readonly global: ModelWeights;
  /** y_i: the client's weights after local training */
  readonly trained: ModelWeights;
  /** c: the server control variate the client trained with */
  readonly serverControl: ModelWeights;
  /** c_i: the client's control variate before this round (zero before its first round) */
  readonly clientControl: ModelWeights;
  /** K: local optimizer steps taken (`localStepCount`) */
  readonly steps: number;
  /** η_l: the client learning rate */
  readonly learningRate: number;
  /** SGD momentum β of the client optimizer; 0 (the default) is plain SGD, as in the paper */
  readonly momentum?: number;
}

export interface ScaffoldClientUpdate {
  /** c_i⁺: the client's control variate from now on */
  readonly control: ModelWeights;
  /** Δc_i = c_i⁺ − c_i: what the server's control-variate update averages */
  readonly delta: ModelWeights;
}

/** Option II of Karimireddy et al.: c_i⁺ = c_i − c + (x − y_i)/(K·η_l), with K·η_l from `scaffoldStepScale`. */
export function scaffoldClientUpdate(args: ScaffoldClientUpdateArgs): ScaffoldClientUpdate {
  const scale = scaffoldStepScale(args.steps, args.learningRate, args.momentum);
  const control = elementwise(
    'scaffold: client update',
    [args.clientControl, args.serverControl, args.global, args.trained],
    (ci, c, x, y) => ci - c + (x - y) / scale,
  );
  const delta = elementwise('scaffold: client update', [control, args.clientControl], (next, previous) => next - previous);
  return { control, delta };
}

/** The server's control-variate update: c ← c + (|S|/N)·mean(Δc_i), which keeps c the mean of all N clients' c_i. */
export function scaffoldServerControlUpdate(serverControl: ModelWeights, round: SideUploadFold): ModelWeights {
  const { mean: meanDelta, contributors, clients } = round;
  if (!Number.isSafeInteger(clients) || clients < 1) throw new RangeError(`scaffold: clients must be a positive integer (got ${clients})`);
  if (!Number.isSafeInteger(contributors) || contributors < 1 || contributors > clients) {
    throw new RangeError(`scaffold: contributors must be an integer from 1 to clients, ${clients} (got ${contributors})`);
  }
  assertSameSize(meanDelta, serverControl, 'scaffold: mean control-variate delta');
  const share = contributors / clients;
  return elementwise('scaffold: server control update', [serverControl, meanDelta], (c, delta) => c + share * delta);
}

const CONTROL = 'control';
const CONTROL_DELTA = 'control-delta';

/** c from the server state, c_i as adopted (zero before the client's first accepted update). */
function controlsOf({ serverState, adopted, global }: ClientRoundInput) {
  return { serverControl: scaffoldServerControl(serverState, global), clientControl: adopted[CONTROL] ?? filledLike(global, 0) };
}

const scaffoldClient: ClientHalf = {
  adoptedState: [CONTROL],
  keptState: [],
  sideUploads: [CONTROL_DELTA],
  readsServerState: true,
  begin(input) {
    const { serverControl, clientControl } = controlsOf(input);
    return { start: input.global, trainSet: input.shard, objective: { gradientCorrection: scaffoldCorrection(serverControl, clientControl) } };
  },
  finish(input) {
    const { local } = input;
    const { control, delta } = scaffoldClientUpdate({
      global: input.global,
      trained: input.trained,
      ...controlsOf(input),
      steps: localStepCount({ samples: input.samples, epochs: local.epochs, batchSize: local.batchSize }),
      learningRate: local.learningRate,
      momentum: local.optimizer === 'sgd' ? local.momentum : 0,
    });
    return { upload: input.trained, uploadBase: input.global, proposals: { [CONTROL]: control }, side: { [CONTROL_DELTA]: delta }, kept: {} };
  },
};

/**
 * The SCAFFOLD server step: x ← x + η_g·(mean − x), where mean is the sample-weighted mean of the y_i (the paper
 * averages Δy_i unweighted; with equal shards they coincide), and c as in `scaffoldServerControlUpdate` from the
 * accepted clients' Δc_i (the "control-delta" side upload).
 */
export function createScaffold({ serverLearningRate }: Extract<StrategyConfig, { name: 'scaffold' }>): Strategy {
  return {
    name: 'scaffold',
    client: scaffoldClient,
    server: wholeModelServer(({ global, mean, state, side }) => {
      const controlDeltas = side?.[CONTROL_DELTA];
      if (controlDeltas === undefined) {
        throw new Error(
          "scaffold: the server step needs the \"control-delta\" side upload folded (the unweighted mean of the accepted clients' " +
            'c_i⁺ − c_i, how many clients it averages, and the number of clients); the pipeline passed none',
        );
      }
      const weights = elementwise('scaffold', [global, mean], (x, y) => x + serverLearningRate * (y - x));
      const control = scaffoldServerControlUpdate(scaffoldServerControl(state, global), controlDeltas);
      return { weights, state: packState(SLOTS, { control }) };
    }),
  };
}
