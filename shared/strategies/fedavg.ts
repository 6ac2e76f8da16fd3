import type { StrategyConfig } from '../config/schema.js';
import { plainClient, wholeModelServer } from './halves.js';
import type { ServerStepInput, ServerStepResult, Strategy } from './types.js';

/** The next global model is the clients' sample-weighted mean: the server step of FedAvg and FedProx. */
export function fedAvgServerStep({ mean }: ServerStepInput): ServerStepResult {
  return { weights: mean };
}

/**
 * FedAvg (McMahan et al., 2017): the next global model is the sample-weighted mean of the clients' weights. That
 * mean is already folded by shared/aggregate, so the server step returns it unchanged and keeps no state.
 */
export function createFedAvg(_config: Extract<StrategyConfig, { name: 'fedavg' }>): Strategy {
  return { name: 'fedavg', client: plainClient(), server: wholeModelServer(fedAvgServerStep) };
}
