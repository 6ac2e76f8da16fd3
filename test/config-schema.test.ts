import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_SCHEMA_PATH, experimentConfigJsonSchema, experimentConfigJsonSchemaText, type JsonSchema } from '../shared/config/json-schema.js';

const repoFile = (relative: string) => readFile(new URL(`../${relative}`, import.meta.url), 'utf8');

interface Field {
  readonly path: string;
  /** one node per union variant that has the field (e.g. strategy.serverLearningRate in several strategies) */
  readonly nodes: JsonSchema[];
}

/** Every field a user can write, as a dotted path, including the fields of each partition kind and strategy. */
function fieldsOf(node: JsonSchema, prefix = ''): Field[] {
  const variants = node.oneOf ?? (node.properties ? [node] : []);
  const fields = new Map<string, Field>();
  const add = (field: Field) => {
    const known = fields.get(field.path);
    if (known) known.nodes.push(...field.nodes);
    else fields.set(field.path, { path: field.path, nodes: [...field.nodes] });
  };
  for (const variant of variants) {
    for (const [key, child] of Object.entries(variant.properties ?? {})) {
      if (typeof child !== 'object') continue;
      const fieldPath = `${prefix}${key}`;
      add({ path: fieldPath, nodes: [child] });
      for (const nested of fieldsOf(child, `${fieldPath}.`)) add(nested);
    }
  }
  return [...fields.values()];
}

describe('docs/config.schema.json', () => {
  it('is what scripts/write-config-schema.ts generates from the zod schema (run `npm run schema` after a change)', async () => {
    expect(await repoFile(CONFIG_SCHEMA_PATH)).toBe(experimentConfigJsonSchemaText());
  });

  it('is the schema every example config points its $schema at', async () => {
    for (const example of ['mnist-iid.json', 'mnist-label-skew.json', 'quick.json', 'scale/mnist-1000-clients.json', 'scale/mnist-1000-per-round.json']) {
      const config = JSON.parse(await repoFile(`examples/${example}`)) as { $schema?: string };
      expect(config.$schema, example).toBeDefined();
      expect(path.posix.join(path.posix.dirname(`examples/${example}`), config.$schema!)).toBe(CONFIG_SCHEMA_PATH);
    }
  });

  it('rejects unknown keys at every level, so editors flag typos too', () => {
    const objects = [experimentConfigJsonSchema(), ...fieldsOf(experimentConfigJsonSchema()).flatMap((field) => field.nodes)]
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
    for (const { path: fieldPath, nodes } of fields) {
      const row = docs.split('\n').find((line) => line.startsWith(`| \`${fieldPath}\` |`));
      expect(row, `no row for ${fieldPath}`).toBeDefined();
      const cells = row!.split('|').map((cell) => cell.trim());
      const [, , , defaultCell, allowedCell] = cells;
      // A field several variants share may have a default per variant: the cell then names each of them.
      const defaults = [...new Set(nodes.filter((node) => node.default !== undefined && typeof node.default !== 'object').map((node) => `\`${JSON.stringify(node.default)}\``))];
      if (defaults.length === 1) expect(defaultCell, fieldPath).toBe(defaults[0]);
      for (const value of defaults) expect(defaultCell, fieldPath).toContain(value);
      for (const node of nodes) {
        const variants = node.anyOf ?? [node];
        for (const variant of variants) {
          for (const bound of [variant.minimum, variant.maximum, variant.exclusiveMinimum, variant.minLength, variant.maxLength]) {
            if (typeof bound === 'number') expect(allowedCell, fieldPath).toContain(String(bound));
          }
          for (const value of variant.enum ?? []) expect(allowedCell, fieldPath).toContain(JSON.stringify(value));
          // A union's tag (partition.kind, strategy.name) is one const per variant: the row lists them all.
          if (variant.const !== undefined) expect(allowedCell, fieldPath).toContain(JSON.stringify(variant.const));
        }
      }
    }
  });
});
