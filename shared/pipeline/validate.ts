import { parseExperimentConfig, type ConfigParseResult } from '../config/parse.js';
import { privacyProblems } from '../config/privacy.js';
import { describeBuiltin } from '../data/catalog.js';
import { isBuiltinDataset } from '../data/registry.js';
import { formatShape } from '../data/types.js';
import { modelInputProblem } from '../models/index.js';
import { strategyConfigProblems } from '../strategies/index.js';
import { aggregatorMemoryProblems } from './robust-config.js';
import type { ExperimentConfig } from '../config/schema.js';

/**
 * The schema's checks plus those that need the model's layer names (personalization.localLayers) or a built-in
 * dataset's shape, so a config that cannot run is refused before anything starts, by the CLI and by the start step
 * alike. An imported dataset is checked against its dataset.json by the start step (shared/pipeline/datasets.ts).
 */
export function validateExperimentConfig(input: string | Uint8Array | unknown): ConfigParseResult {
  const parsed = parseExperimentConfig(input);
  if (!parsed.ok) return parsed;
  const { config } = parsed;
  const problems = [...strategyConfigProblems(config), ...aggregatorMemoryProblems(config)];
  // Needs the accountant (calibrating σ for targetEpsilon), so it runs here, once, rather than on every schema parse.
  problems.push(...privacyProblems(config));
  problems.push(...privacyCombinationProblems(config));
  if (isBuiltinDataset(config.dataset)) {
    const dataset = describeBuiltin(config.dataset);
    const problem = modelInputProblem(config.model, { shape: dataset.shape, classes: dataset.classes });
    if (problem) problems.push(`model: ${problem} (dataset ${dataset.name} has ${formatShape(dataset.shape)} images)`);
    if (config.partition.kind === 'natural') {
      problems.push(`partition: "natural" needs a dataset imported per client (flambda dataset import <name> --client <id> …); ${dataset.name} has one central train set`);
    }
  }
  return problems.length ? { ok: false, errors: problems } : parsed;
}

/**
 * DP-FedAvg aggregates on its own path (clip, noised sum, fixed denominator: shared/pipeline/privacy-round.ts), which
 * neither a robust aggregator, compressed uploads nor simulated attackers go through yet; refused rather than run with
 * a section silently ignored.
 */
function privacyCombinationProblems(config: ExperimentConfig): string[] {
  if (!config.privacy) return [];
  const problems: string[] = [];
  if (config.aggregator && config.aggregator.kind !== 'mean') {
    problems.push(`aggregator.kind: "${config.aggregator.kind}" cannot be combined with privacy yet: DP-FedAvg sums the clipped updates with noise over a fixed denominator; use "mean" or remove privacy`);
  }
  if (config.compression && config.compression.kind !== 'none') {
    problems.push(`compression.kind: "${config.compression.kind}" cannot be combined with privacy yet: a DP client uploads its clipped update uncompressed; use "none" or remove privacy`);
  }
  if (config.adversaries) {
    problems.push('adversaries: simulated attackers cannot be combined with privacy yet (a DP client uploads its clipped update, which the attacks do not shape); remove one of the two sections');
  }
  return problems;
}
