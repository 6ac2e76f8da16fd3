import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_SCHEMA_PATH, experimentConfigJsonSchema, experimentConfigJsonSchemaText, type JsonSchema } from '../shared/config/json-schema.js';

const repoFile = (relative: string) => readFile(new URL(`../${relative}`, import.meta.url), 'utf8');

interface Field {
  readonly path: string;
  readonly node: JsonSchema;
}

/** Every field a user can write, as a dotted path, including the fields of each partition kind. */
function fieldsOf(node: JsonSchema, prefix = ''): Field[] {
  const variants = node.oneOf ?? (node.properties ? [node] : []);
  const fields = new Map<string, Field>();
  for (const variant of variants) {
    for (const [key, child] of Object.entries(variant.properties ?? {})) {
      if (typeof child !== 'object') continue;
      const fieldPath = `${prefix}${key}`;
      if (!fields.has(fieldPath)) fields.set(fieldPath, { path: fieldPath, node: child });
      for (const nested of fieldsOf(child, `${fieldPath}.`)) if (!fields.has(nested.path)) fields.set(nested.path, nested);
    }
  }
  return [...fields.values()];
}

describe('docs/config.schema.json', () => {
  it('is what scripts/write-config-schema.ts generates from the zod schema (run `npm run schema` after a change)', async () => {
    expect(await repoFile(CONFIG_SCHEMA_PATH)).toBe(experimentConfigJsonSchemaText());
  });

  it('is the schema every example config points its $schema at', async () => {
    for (const example of ['mnist-iid.json', 'mnist-label-skew.json', 'quick.json']) {
      const config = JSON.parse(await repoFile(`examples/${example}`)) as { $schema?: string };
      expect(config.$schema, example).toBeDefined();
      expect(path.posix.join('examples', config.$schema!)).toBe(CONFIG_SCHEMA_PATH);
    }
  });

  it('rejects unknown keys at every level, so editors flag typos too', () => {
    const objects = [experimentConfigJsonSchema(), ...fieldsOf(experimentConfigJsonSchema()).map((field) => field.node)]
      .flatMap((node) => node.oneOf ?? [node])
      .filter((node) => node.type === 'object');
    expect(objects.length).toBeGreaterThanOrEqual(7);
    for (const node of objects) expect(node.additionalProperties).toBe(false);
  });
});

describe('docs/config.md', () => {
  it('has a row for every field, with its default and its bounds', async () => {
    const docs = await repoFile('docs/config.md');
    const fields = fieldsOf(experimentConfigJsonSchema());
    expect(fields.length).toBeGreaterThanOrEqual(20);
    for (const { path: fieldPath, node } of fields) {
      const row = docs.split('\n').find((line) => line.startsWith(`| \`${fieldPath}\` |`));
      expect(row, `no row for ${fieldPath}`).toBeDefined();
      const cells = row!.split('|').map((cell) => cell.trim());
      const [, , , defaultCell, allowedCell] = cells;
      if (node.default !== undefined && typeof node.default !== 'object') {
        expect(defaultCell, fieldPath).toBe(`\`${JSON.stringify(node.default)}\``);
      }
      const variants = node.anyOf ?? [node];
      for (const variant of variants) {
        for (const bound of [variant.minimum, variant.maximum, variant.exclusiveMinimum, variant.minLength, variant.maxLength]) {
          if (typeof bound === 'number') expect(allowedCell, fieldPath).toContain(String(bound));
        }
        for (const value of variant.enum ?? []) expect(allowedCell, fieldPath).toContain(JSON.stringify(value));
      }
    }
  });
});
