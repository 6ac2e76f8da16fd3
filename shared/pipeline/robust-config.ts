import { AGGREGATOR_MEMORY_MB } from '../cloud/resources.js';
import type { ExperimentConfig } from '../config/schema.js';
import { parameterCount } from '../models/index.js';
import { formatProblem, robustProblems } from '../robust/problems.js';
import { clientsPerRound } from '../sampling/count.js';

/**
 * The aggregator-memory rule, which needs the model's size (the other robustness rules are the schema's,
 * shared/config/robustness-rules.ts): a robust aggregator holds every update of a round at once, so a config whose
 * sampled clients' updates would not fit the aggregator function's memory is refused at start, saying how many fit.
 */
export function aggregatorMemoryProblems(config: ExperimentConfig, memoryMb = AGGREGATOR_MEMORY_MB): string[] {
  const aggregator = config.aggregator;
  if (!aggregator || aggregator.kind === 'mean') return [];
  const sampled = config.sampling ? clientsPerRound(config.sampling, config.clients) : config.clients;
  const parameters = parameterCount(config.model);
  // Only the memory problem: the parameter rules were checked (and reported) by the schema already.
  return robustProblems(aggregator, { clientsPerRound: sampled, memory: { memoryMb, parameters } })
    .filter((problem) => problem.path.at(-1) === 'kind')
    .map(formatProblem);
}
