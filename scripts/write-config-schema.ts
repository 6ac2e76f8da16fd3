/** Regenerates docs/config.schema.json from the zod schema (npm run schema); a test fails while it is stale. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONFIG_SCHEMA_PATH, experimentConfigJsonSchemaText } from '../shared/config/json-schema.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const target = path.join(repoRoot, CONFIG_SCHEMA_PATH);
await writeFile(target, experimentConfigJsonSchemaText());
console.log(`wrote ${path.relative(process.cwd(), target) || target}`);
