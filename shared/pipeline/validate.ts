import { parseExperimentConfig, type ConfigParseResult } from '../config/parse.js';
import { personalizationProblems } from './personalization.js';

/**
 * The schema's checks plus those that need the model's layer names (personalization.localLayers), so a config that
 * cannot run is refused before anything starts, by the CLI and by the start step alike.
 */
export function validateExperimentConfig(input: string | Uint8Array | unknown): ConfigParseResult {
  const parsed = parseExperimentConfig(input);
  if (!parsed.ok) return parsed;
  const problems = personalizationProblems(parsed.config.model, parsed.config.personalization);
  return problems.length ? { ok: false, errors: problems } : parsed;
}
