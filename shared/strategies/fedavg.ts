import type { StrategyConfig } from '../config/schema.js';
import type { Strategy } from './types.js';

/**
 * FedAvg (McMahan et al., 2017): the next global model is the sample-weighted mean of the clients' weights. That
 * mean is already folded by shared/aggregate, so the server step returns it unchanged and keeps no state.
 */
export function createFedAvg(_config: StrategyConfig): Strategy {
  return {
    name: 'fedavg',
    clientObjective: {},
    serverStep: ({ mean }) => ({ weights: mean }),
  };
}
