import { z } from 'zod';
import { experimentConfigSchema } from './schema.js';

export type JsonSchema = z.core.JSONSchema.JSONSchema;

/** Where the generated schema is committed (relative to the repo root); examples point their `$schema` at it. */
export const CONFIG_SCHEMA_PATH = 'docs/config.schema.json';

/**
 * The config's JSON Schema, generated from the zod schema so the two cannot drift. It describes what a user writes
 * (`io: 'input'`): fields with defaults are optional. Cross-field rules (round.minClients ≤ clients, …) are not
 * expressible there and are checked by parseExperimentConfig only.
 */
export function experimentConfigJsonSchema(): JsonSchema {
  const { $schema, ...rest } = z.toJSONSchema(experimentConfigSchema, { io: 'input' });
  return { $schema, title: 'flambda experiment config', ...rest };
}

/** The exact text of docs/config.schema.json. */
export function experimentConfigJsonSchemaText(): string {
  return `${JSON.stringify(experimentConfigJsonSchema(), null, 2)}\n`;
}
