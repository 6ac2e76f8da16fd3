import type { z } from 'zod';
import { experimentConfigJsonSchema, type JsonSchema } from './json-schema.js';
import { experimentConfigSchema, type ExperimentConfig } from './schema.js';

/** Configs are small hand-written files; anything larger is a mistake (a dataset pasted in, the wrong file). */
export const MAX_CONFIG_BYTES = 64 * 1024;

/** Beyond this many problems the rest are counted, not listed: the first ones are what a person fixes first. */
const MAX_LISTED_ERRORS = 20;

export type ConfigParseResult = { ok: true; config: ExperimentConfig } | { ok: false; errors: string[] };

/** A config that failed validation; `errors` holds one line per problem, each naming the field and what is allowed. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly errors: string[];

  constructor(errors: readonly string[], source = 'experiment config') {
    super(`${source} is invalid:\n  - ${errors.join('\n  - ')}`);
    this.errors = [...errors];
  }
}

/**
 * Validates an experiment config and fills in its defaults. `input` is the JSON text (a string, or bytes as read from
 * a file or S3) or an already parsed value. Never throws for a user mistake: every problem found is returned as a
 * sentence such as `model: must be one of "cnn-mcmahan", "cnn-small", "mlp" (got "cnn")`.
 */
export function parseExperimentConfig(input: string | Uint8Array | unknown): ConfigParseResult {
  let value: unknown = input;
  if (typeof input === 'string' || input instanceof Uint8Array) {
    const json = parseJsonText(input);
    if (!json.ok) return { ok: false, errors: [json.error] };
    value = json.value;
  }
  const result = experimentConfigSchema.safeParse(value);
  if (result.success) return { ok: true, config: result.data };
  return { ok: false, errors: describeIssues(result.error.issues, value) };
}

/** parseExperimentConfig, throwing a ConfigError; `source` (e.g. the file name) starts its message. */
export function loadExperimentConfig(input: string | Uint8Array | unknown, options: { source?: string } = {}): ExperimentConfig {
  const parsed = parseExperimentConfig(input);
  if (!parsed.ok) throw new ConfigError(parsed.errors, options.source);
  return parsed.config;
}

/** The config `{}` resolves to: the original proof of concept. */
export function defaultExperimentConfig(): ExperimentConfig {
  return loadExperimentConfig({});
}

// ── JSON text ────────────────────────────────────────────────────────────────────────────────────────────────────

type JsonText = { ok: true; value: unknown } | { ok: false; error: string };

function parseJsonText(input: string | Uint8Array): JsonText {
  const tooLarge = sizeProblem(input);
  if (tooLarge !== undefined) return { ok: false, error: tooLarge };
  let text: string;
  if (typeof input === 'string') {
    text = input.replace(/^\uFEFF/, '');
  } else {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(input);
    } catch {
      return { ok: false, error: 'config is not UTF-8 text' };
    }
  }
  if (text.trim() === '') return { ok: false, error: 'config is empty: write a JSON object ({} runs the defaults)' };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    return { ok: false, error: describeJsonSyntaxError(error instanceof Error ? error.message : String(error), text) };
  }
}

function sizeProblem(input: string | Uint8Array): string | undefined {
  const limit = `the limit is ${MAX_CONFIG_BYTES} bytes (64 KiB)`;
  if (typeof input !== 'string') return input.byteLength > MAX_CONFIG_BYTES ? `config is ${input.byteLength} bytes; ${limit}` : undefined;
  // A UTF-16 code unit is at least one UTF-8 byte, so an over-long string is rejected before it is encoded.
  if (input.length > MAX_CONFIG_BYTES) return `config is at least ${input.length} bytes; ${limit}`;
  const byteLength = new TextEncoder().encode(input).byteLength;
  return byteLength > MAX_CONFIG_BYTES ? `config is ${byteLength} bytes; ${limit}` : undefined;
}

/**
 * V8's JSON.parse messages carry the error offset as "at position N" (Node 20) or "(line L column C)" (Node 22+);
 * both become "line L, column C". The echo of the input some messages end with is dropped: it can be the whole file.
 */
function describeJsonSyntaxError(message: string, text: string): string {
  let where: { line: number; column: number } | undefined;
  const lineColumn = /\(line (\d+) column (\d+)\)/.exec(message);
  const position = /at position (\d+)/.exec(message);
  if (lineColumn) where = { line: Number(lineColumn[1]), column: Number(lineColumn[2]) };
  else if (position) where = lineAndColumn(text, Number(position[1]));
  else if (/unexpected end of JSON input/i.test(message)) where = lineAndColumn(text, text.length);
  const reason = message
    .replace(/\s*in JSON at position \d+/, '')
    .replace(/\s*\(line \d+ column \d+\)/, '')
    .replace(/, ".*" is not valid JSON$/s, '')
    .replace(/ of JSON input$/, ' of input');
  return where ? `invalid JSON at line ${where.line}, column ${where.column}: ${reason}` : `invalid JSON: ${reason}`;
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const lineStart = before.lastIndexOf('\n') + 1;
  return { line: before.split('\n').length, column: offset - lineStart + 1 };
}

// ── schema issues → sentences ────────────────────────────────────────────────────────────────────────────────────

type Issue = z.core.$ZodIssue;
type Path = readonly PropertyKey[];

let cachedJsonSchema: JsonSchema | undefined;
/** The generated JSON Schema doubles as a readable description of every field's allowed values and keys. */
const jsonSchema = (): JsonSchema => (cachedJsonSchema ??= experimentConfigJsonSchema());

function describeIssues(issues: readonly Issue[], root: unknown): string[] {
  const messages = new Set<string>();
  for (const issue of issues) {
    // zod can report one value twice (e.g. 1e20 is both unsafe and too big); the wording here is per field.
    for (const message of describeIssue(issue, root)) messages.add(message);
  }
  const all = [...messages];
  if (all.length <= MAX_LISTED_ERRORS) return all;
  return [...all.slice(0, MAX_LISTED_ERRORS), `… and ${all.length - MAX_LISTED_ERRORS} more problems`];
}

function describeIssue(issue: Issue, root: unknown): string[] {
  const path = issue.path;
  const value = valueAt(root, path);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const allowed = Object.keys(schemaAt(path, root)?.properties ?? {});
      const where = path.length === 0 ? 'top-level keys' : `keys in ${formatPath(path)}`;
      return issue.keys.map((key) => {
        const suggestion = closest(key, allowed);
        const hint = suggestion === undefined ? '' : ` (did you mean ${JSON.stringify(suggestion)}?)`;
        return `${formatPath([...path, key])}: unknown key${hint}; allowed ${where}: ${quoteList(allowed)}`;
      });
    }
    case 'invalid_union':
      if (issue.discriminator !== undefined && 'options' in issue && issue.options !== undefined) {
        return [mustBe(path, `one of ${quoteList(issue.options.map(String))}`, value)];
      }
      break;
    case 'custom':
      return [`${formatPath(path)}: ${issue.message}`];
    case 'invalid_type':
      if (path.length === 0) return [mustBe(path, 'a JSON object', value)];
      break;
    case 'invalid_value':
      return [mustBe(path, issue.values.length === 1 ? JSON.stringify(issue.values[0]) : `one of ${quoteList(issue.values.map(String))}`, value)];
    default:
      break;
  }
  const node = schemaAt(path, root);
  if (node !== undefined) return [mustBe(path, describeAllowed(node), value)];
  return [`${formatPath(path)}: ${issue.message}`];
}

function mustBe(path: Path, allowed: string, value: unknown): string {
  if (value === undefined) return `${formatPath(path)}: missing; must be ${allowed}`;
  return `${formatPath(path)}: must be ${allowed} (got ${show(value)})`;
}

/** The schema node describing the value at `path`, with each union narrowed to the variant the input selects. */
function schemaAt(path: Path, root: unknown): JsonSchema | undefined {
  let node: JsonSchema | undefined = jsonSchema();
  let value = root;
  for (const key of path) {
    if (node === undefined) return undefined;
    const owner: JsonSchema | undefined = node.properties ? node : variantsOf(node).find((variant) => variant.properties?.[String(key)]);
    const child: JsonSchema | boolean | undefined = owner?.properties?.[String(key)];
    value = valueAt(value, [key]);
    node = typeof child === 'object' ? selectVariant(child, value) : undefined;
  }
  return node;
}

/** For a discriminated union (e.g. partition), the variant whose discriminator matches the input, if any. */
function selectVariant(node: JsonSchema, value: unknown): JsonSchema {
  const discriminator = discriminatorOf(node);
  if (discriminator === undefined || !isRecord(value)) return node;
  return variantsOf(node).find((variant) => constOf(variant, discriminator) === value[discriminator]) ?? node;
}

function describeAllowed(node: JsonSchema): string {
  const discriminator = discriminatorOf(node);
  if (discriminator !== undefined) {
    const values = variantsOf(node).map((variant) => String(constOf(variant, discriminator)));
    return `an object with "${discriminator}" one of ${quoteList(values)}`;
  }
  const variants = variantsOf(node);
  if (variants.length > 0) {
    const nonNull = variants.filter((variant) => variant.type !== 'null');
    const text = nonNull.map(describeAllowed).join(' or ');
    return nonNull.length < variants.length ? `${text}, or null` : text;
  }
  if (node.enum) return node.enum.length === 1 ? JSON.stringify(node.enum[0]) : `one of ${quoteList(node.enum.map(String))}`;
  if (node.const !== undefined) return JSON.stringify(node.const);
  switch (node.type) {
    case 'integer':
      return `an integer${describeRange(node)}`;
    case 'number':
      return `a number${describeRange(node)}`;
    case 'string': {
      const { minLength, maxLength } = node;
      if (minLength !== undefined && maxLength !== undefined) return `a string of ${minLength} to ${maxLength} characters`;
      if (maxLength !== undefined) return `a string of at most ${maxLength} characters`;
      if (minLength !== undefined) return `a string of at least ${minLength} characters`;
      return 'a string';
    }
    case 'object':
      return 'an object';
    case 'boolean':
      return 'true or false';
    case 'array':
      return 'an array';
    default:
      return 'a valid value';
  }
}

function describeRange(node: JsonSchema): string {
  const { minimum, maximum } = node;
  const exclusiveMinimum = typeof node.exclusiveMinimum === 'number' ? node.exclusiveMinimum : undefined;
  const exclusiveMaximum = typeof node.exclusiveMaximum === 'number' ? node.exclusiveMaximum : undefined;
  if (minimum !== undefined && maximum !== undefined) return ` from ${minimum} to ${maximum}`;
  const bounds = [
    minimum !== undefined ? `at least ${minimum}` : exclusiveMinimum !== undefined ? `greater than ${exclusiveMinimum}` : undefined,
    maximum !== undefined ? `at most ${maximum}` : exclusiveMaximum !== undefined ? `less than ${exclusiveMaximum}` : undefined,
  ].filter((bound) => bound !== undefined);
  return bounds.length > 0 ? ` ${bounds.join(' and ')}` : '';
}

function variantsOf(node: JsonSchema): JsonSchema[] {
  return node.oneOf ?? node.anyOf ?? [];
}

/** The property every variant pins to a constant (a discriminated union's tag), or undefined. */
function discriminatorOf(node: JsonSchema): string | undefined {
  const variants = variantsOf(node);
  const [first] = variants;
  if (first === undefined) return undefined;
  return Object.keys(first.properties ?? {}).find((key) => variants.every((variant) => constOf(variant, key) !== undefined));
}

function constOf(node: JsonSchema, key: string): unknown {
  const property = node.properties?.[key];
  return typeof property === 'object' ? property.const : undefined;
}

// ── small helpers ────────────────────────────────────────────────────────────────────────────────────────────────

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function valueAt(root: unknown, path: Path): unknown {
  let value = root;
  for (const key of path) {
    if (typeof key === 'number' && Array.isArray(value)) value = value[key];
    else if (isRecord(value) && Object.hasOwn(value, String(key))) value = value[String(key)];
    else return undefined;
  }
  return value;
}

/** `partition.alpha`, `local["odd key"]`; the root is called "config". */
function formatPath(path: Path): string {
  if (path.length === 0) return 'config';
  return path
    .map((key, index) => {
      if (typeof key === 'number') return `[${key}]`;
      const name = String(key);
      if (/^[A-Za-z_$][\w$]*$/.test(name)) return index === 0 ? name : `.${name}`;
      return `[${JSON.stringify(name)}]`;
    })
    .join('');
}

function show(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return String(value);
}

function quoteList(values: readonly string[]): string {
  return values.map((value) => JSON.stringify(value)).join(', ');
}

/** The allowed key a typo most likely meant: same letters ignoring case, or within a small edit distance. */
function closest(key: string, candidates: readonly string[]): string | undefined {
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = candidate.toLowerCase() === key.toLowerCase() ? 0 : editDistance(key, candidate);
    if (distance <= Math.max(1, Math.floor(candidate.length / 3)) && (best === undefined || distance < best.distance)) {
      best = { candidate, distance };
    }
  }
  return best?.candidate;
}

/** Optimal string alignment distance: Levenshtein plus adjacent swaps ("alpah" is one edit from "alpha"). */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let distance = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) distance = Math.min(distance, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = distance;
    }
  }
  return rows[a.length]![b.length]!;
}
