import { createWeightedMean } from '../../shared/aggregate/weighted-mean.js';
import { experimentConfigSchema } from '../../shared/config/schema.js';
import type { Dataset } from '../../shared/data/types.js';
import type { ClientObjective, KeptState, SideUploadFold, Strategy } from '../../shared/strategies/index.js';
import type { ModelWeights } from '../../shared/weights/types.js';

/**
 * Runs a strategy's two halves in memory, as the pipeline does on S3 (every client sampled and accepted each round):
 * client state kept and adopted per client, side uploads folded unweighted, the server state carried. `train` stands
 * for local training: it gets where the client half says to start and the objective it asks for.
 */
export interface SimClient {
  readonly samples: number;
  train(start: ModelWeights, objective: ClientObjective): ModelWeights;
}

const EMPTY_SHARD: Dataset = { count: 0, rows: 1, cols: 1, channels: 1, classes: 10, images: new Uint8Array(0), labels: new Uint8Array(0) };

export function simulateRounds(
  strategy: Strategy,
  clients: readonly SimClient[],
  initial: ModelWeights,
  rounds: number,
  local = experimentConfigSchema.parse({}).local,
): ModelWeights {
  let global = initial;
  let serverState: ModelWeights | undefined;
  const adopted = clients.map(() => ({}) as Record<string, ModelWeights | undefined>);
  const kept = clients.map(() => ({}) as Record<string, KeptState | undefined>);
  for (let round = 1; round <= rounds; round++) {
    const averaged = [...strategy.server.averagedPart(global)];
    const mean = createWeightedMean(averaged);
    const side = new Map<string, ReturnType<typeof createWeightedMean>>(strategy.client.sideUploads.map((slot) => [slot, createWeightedMean(averaged)]));
    const proposals: Record<string, ModelWeights>[] = [];
    clients.forEach((client, index) => {
      const input = {
        round, clientId: `client-${index}`, seed: 1, local, global, shard: EMPTY_SHARD,
        serverState: strategy.client.readsServerState ? serverState : undefined,
        adopted: adopted[index]!, kept: kept[index]!,
      };
      const plan = strategy.client.begin(input);
      const trained = client.train(plan.start, plan.objective);
      const result = strategy.client.finish({ ...input, plan, trained, samples: client.samples });
      mean.add(result.upload, strategy.server.combineWeight({ clientId: `client-${index}`, samples: client.samples }));
      for (const [slot, value] of Object.entries(result.side)) side.get(slot)!.add(value, 1);
      for (const [slot, value] of Object.entries(result.kept)) kept[index]![slot] = { round, weights: value };
      proposals.push({ ...result.proposals });
    });
    const folds: Record<string, SideUploadFold> = {};
    for (const [slot, fold] of side) folds[slot] = { mean: fold.result(), contributors: clients.length, clients: clients.length };
    const accepted = clients.map((client, index) => ({ clientId: `client-${index}`, samples: client.samples }));
    const step = strategy.server.step({ round, global: averaged, mean: mean.result(), state: serverState, accepted, side: folds });
    global = strategy.server.complete(global, step.weights);
    serverState = step.state;
    proposals.forEach((proposal, index) => Object.assign(adopted[index]!, proposal));
  }
  return global;
}

/** What a client half's `begin` is given in round 1 for a client with no state yet, around `global`. */
export function clientInput(global: ModelWeights, overrides: Partial<Parameters<Strategy['client']['begin']>[0]> = {}) {
  return {
    round: 1, clientId: 'client-0', seed: 1, local: experimentConfigSchema.parse({}).local, global, shard: EMPTY_SHARD,
    serverState: undefined, adopted: {}, kept: {}, ...overrides,
  };
}
