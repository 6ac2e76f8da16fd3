import { parseExperimentConfig, type ConfigParseResult } from '../config/parse.js';
import { describeBuiltin } from '../data/catalog.js';
import { isBuiltinDataset } from '../data/registry.js';
import { formatShape } from '../data/types.js';
import { modelInputProblem } from '../models/index.js';
import { personalizationProblems } from './personalization.js';

/**
 * The schema's checks plus those that need the model's layer names (personalization.localLayers) or a built-in
 * dataset's shape, so a config that cannot run is refused before anything starts, by the CLI and by the start step
 * alike. An imported dataset is checked against its dataset.json by the start step (shared/pipeline/datasets.ts).
 */
export function validateExperimentConfig(input: string | Uint8Array | unknown): ConfigParseResult {
  const parsed = parseExperimentConfig(input);
  if (!parsed.ok) return parsed;
  const { config } = parsed;
  const problems = personalizationProblems(config.model, config.personalization);
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
