import * as sqsModel from '@aws-sdk/client-sqs';
import { NormalizedSchema } from '@smithy/core/schema';

/**
 * SQS's Query protocol (form-encoded `Action=SendMessage&...` in, XML out), which the AWS CLI before 2.13 and boto3
 * before 1.28 still send, translated to and from the JSON protocol that fauxqs speaks. Both directions walk the SDK's
 * own model of SQS (the schemas @aws-sdk/client-sqs exports, with the xmlName / xmlFlattened traits that AWS kept
 * for Query compatibility), so member names, flattened lists and Name/Value maps are AWS's, not typed in here.
 * Pure functions: local/sqs-front.ts moves the bytes.
 */

export const SQS_XML_NAMESPACE = 'http://queue.amazonaws.com/doc/2012-11-05/';

type OperationSchema = typeof sqsModel.SendMessage$;
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const OPERATIONS = new Map<string, OperationSchema>();
/** JSON error shape name → Query error code (e.g. QueueDoesNotExist → AWS.SimpleQueueService.NonExistentQueue). */
const QUERY_ERROR_CODES = new Map<string, string>();
for (const value of Object.values(sqsModel) as unknown[]) {
  if (!Array.isArray(value) || typeof value[2] !== 'string') continue;
  if (value[0] === 9) OPERATIONS.set(value[2], value as OperationSchema);
  if (value[0] === -3) {
    const code = NormalizedSchema.of(value as OperationSchema).getMergedTraits().awsQueryError as unknown;
    if (Array.isArray(code) && typeof code[0] === 'string') QUERY_ERROR_CODES.set(value[2], code[0]);
  }
}

/** The SQS actions (ListQueues, SendMessage, ...) that the model defines. */
export function isSqsAction(action: string | undefined): action is string {
  return action !== undefined && OPERATIONS.has(action);
}

export class QueryDecodeError extends Error {
  override name = 'QueryDecodeError';
}

/** Form parameters of a Query request → the JSON protocol's input object for the same action. */
export function queryToJsonInput(action: string, params: ReadonlyMap<string, string>): Record<string, Json> {
  const operation = OPERATIONS.get(action);
  if (!operation) throw new QueryDecodeError(`Unknown action: ${action}`);
  const input = NormalizedSchema.of(operation[4]);
  if (!input.isStructSchema()) return {};
  const keys = [...params.keys()];
  const present = (prefix: string) => params.has(prefix) || keys.some((key) => key.startsWith(`${prefix}.`));
  return readStruct(input, '', params, present);
}

function readStruct(schema: NormalizedSchema, prefix: string, params: ReadonlyMap<string, string>, present: (prefix: string) => boolean) {
  const out: Record<string, Json> = {};
  const used = new Set<string>();
  for (const [memberName, member] of schema.structIterator()) {
    const key = `${prefix}${member.getMergedTraits().xmlName ?? memberName}`;
    // Members may share a Query name (ReceiveMessage's AttributeNames and the newer MessageSystemAttributeNames are
    // both `AttributeName.N`): the first, older one takes it, as the Query client meant.
    if (used.has(key) || !present(key)) continue;
    used.add(key);
    const value = readValue(member, key, params, present);
    if (value !== undefined) out[memberName] = value;
  }
  return out;
}

function readValue(schema: NormalizedSchema, key: string, params: ReadonlyMap<string, string>, present: (prefix: string) => boolean): Json | undefined {
  if (schema.isStructSchema()) return readStruct(schema, `${key}.`, params, present);
  if (schema.isListSchema()) {
    if (params.get(key) === '') return [];
    const itemSchema = schema.getValueSchema();
    const itemKey = schema.getMergedTraits().xmlFlattened ? key : `${key}.${itemSchema.getMergedTraits().xmlName ?? 'member'}`;
    const items: Json[] = [];
    for (let index = 1; present(`${itemKey}.${index}`); index++) {
      const item = readValue(itemSchema, `${itemKey}.${index}`, params, present);
      if (item !== undefined) items.push(item);
    }
    return items;
  }
  if (schema.isMapSchema()) {
    const entryKey = schema.getMergedTraits().xmlFlattened ? key : `${key}.entry`;
    const keyName = schema.getKeySchema().getMergedTraits().xmlName ?? 'key';
    const valueName = schema.getValueSchema().getMergedTraits().xmlName ?? 'value';
    const map: Record<string, Json> = {};
    for (let index = 1; present(`${entryKey}.${index}`); index++) {
      const name = params.get(`${entryKey}.${index}.${keyName}`);
      if (name === undefined) throw new QueryDecodeError(`${entryKey}.${index}.${keyName} is missing`);
      const value = readValue(schema.getValueSchema(), `${entryKey}.${index}.${valueName}`, params, present);
      if (value !== undefined) map[name] = value;
    }
    return map;
  }
  const text = params.get(key);
  if (text === undefined) return undefined;
  if (schema.isNumericSchema()) {
    const number = Number(text);
    if (text.trim() === '' || !Number.isFinite(number)) throw new QueryDecodeError(`${key} must be a number (got "${text}")`);
    return number;
  }
  if (schema.isBooleanSchema()) return text === 'true';
  // Strings as they are; blobs too, since both protocols carry them base64-encoded.
  return text;
}

/** A successful JSON response → the Query protocol's `<ActionResponse>` document. */
export function jsonOutputToQueryXml(action: string, output: Readonly<Record<string, unknown>>, requestId: string): string {
  const operation = OPERATIONS.get(action);
  if (!operation) throw new QueryDecodeError(`Unknown action: ${action}`);
  const schema = NormalizedSchema.of(operation[5]);
  const result = schema.isStructSchema() ? `<${action}Result>${writeStructMembers(schema, output)}</${action}Result>` : '';
  return (
    `<?xml version="1.0"?><${action}Response xmlns="${SQS_XML_NAMESPACE}">${result}` +
    `<ResponseMetadata><RequestId>${escapeXml(requestId)}</RequestId></ResponseMetadata></${action}Response>`
  );
}

function writeStructMembers(schema: NormalizedSchema, value: Readonly<Record<string, unknown>>): string {
  let xml = '';
  for (const [memberName, member] of schema.structIterator()) {
    const memberValue = value[memberName];
    if (memberValue === undefined || memberValue === null) continue;
    xml += writeMember(member, member.getMergedTraits().xmlName ?? memberName, memberValue);
  }
  return xml;
}

function writeMember(schema: NormalizedSchema, name: string, value: unknown): string {
  if (schema.isListSchema()) {
    const itemSchema = schema.getValueSchema();
    const items = (Array.isArray(value) ? value : []) as unknown[];
    if (schema.getMergedTraits().xmlFlattened) return items.map((item) => writeMember(itemSchema, name, item)).join('');
    const itemName = itemSchema.getMergedTraits().xmlName ?? 'member';
    return `<${name}>${items.map((item) => writeMember(itemSchema, itemName, item)).join('')}</${name}>`;
  }
  if (schema.isMapSchema()) {
    const keyName = schema.getKeySchema().getMergedTraits().xmlName ?? 'key';
    const valueName = schema.getValueSchema().getMergedTraits().xmlName ?? 'value';
    const entries = Object.entries((value ?? {}) as Record<string, unknown>).map(
      ([key, entryValue]) => `<${keyName}>${escapeXml(key)}</${keyName}>${writeMember(schema.getValueSchema(), valueName, entryValue)}`,
    );
    if (schema.getMergedTraits().xmlFlattened) return entries.map((entry) => `<${name}>${entry}</${name}>`).join('');
    return `<${name}>${entries.map((entry) => `<entry>${entry}</entry>`).join('')}</${name}>`;
  }
  if (schema.isStructSchema()) return `<${name}>${writeStructMembers(schema, value as Record<string, unknown>)}</${name}>`;
  return `<${name}>${escapeXml(String(value))}</${name}>`;
}

/** A JSON error (`{"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": ...}`) → the Query `<ErrorResponse>`. */
export function jsonErrorToQueryXml(error: { readonly type?: string; readonly message?: string; readonly statusCode: number }, requestId: string): string {
  const shape = (error.type ?? 'InternalError').split('#').pop()!;
  const code = QUERY_ERROR_CODES.get(shape) ?? shape;
  const type = error.statusCode >= 500 ? 'Receiver' : 'Sender';
  return (
    `<?xml version="1.0"?><ErrorResponse xmlns="${SQS_XML_NAMESPACE}"><Error><Type>${type}</Type><Code>${escapeXml(code)}</Code>` +
    `<Message>${escapeXml(error.message ?? '')}</Message><Detail/></Error><RequestId>${escapeXml(requestId)}</RequestId></ErrorResponse>`
  );
}

/** XML text: the five entities, and CR as a character reference so that XML parsers do not turn it into LF. */
function escapeXml(text: string): string {
  return text.replace(/[&<>"'\r]/g, (char) => `&#${char.charCodeAt(0)};`);
}
