import type { StrategyConfig } from '../config/schema.js';
import { fedAvgServerStep } from './fedavg.js';
import { plainClient, wholeModelServer } from './halves.js';
import type { Strategy } from './types.js';

/**
 * FedProx (Li et al., 2020): each client minimises its loss plus μ/2·‖w − w_global‖², which keeps its model near the
 * round's global model however skewed its data; the server then averages exactly like FedAvg.
 */
export function createFedProx(config: Extract<StrategyConfig, { name: 'fedprox' }>): Strategy {
  return { name: 'fedprox', client: plainClient({ proximalMu: config.mu }), server: wholeModelServer(fedAvgServerStep) };
}
