import { z } from 'zod';
import { verdictSchema, type CloseReason, type VerdictRecord } from '../protocol/records.js';
import { WeightsError, type TensorLayout } from '../weights/codec.js';

/**
 * What a closed group of a split round (config round.groups) hands the round's close: the float64 sums of its accepted
 * updates (Σ wᵢ·xᵢ per model value, with Σ wᵢ and how many), and the verdicts it recorded, for the round's metrics.
 * Written once the group decided every client (groups/<g>/partial.bin); the round adds the partials in group order.
 * Nothing in it depends on when it is written, so a retried close writes the same bytes.
 */
export interface GroupPartial {
  readonly group: number;
  readonly reason: CloseReason;
  /** the latest moment an update the group counted was written */
  readonly lastUpdateAt?: string;
  /** the group's verdicts, late ones left out (as a round's close leaves them out) */
  readonly verdicts: readonly VerdictRecord[];
  readonly layout: readonly TensorLayout[];
  readonly count: number;
  readonly totalSamples: number;
  readonly sums: readonly Float64Array[];
}

const MAGIC = 'FLGP';
const HEADER_AT = 8;

const headerSchema = z.strictObject({
  group: z.int().min(0),
  reason: z.enum(['all-reported', 'deadline']),
  lastUpdateAt: z.iso.datetime().optional(),
  verdicts: z.array(verdictSchema),
  layout: z.array(z.strictObject({ name: z.string(), shape: z.array(z.int().min(0)) })),
  count: z.int().min(0),
  totalSamples: z.number().min(0),
});

/** the values a tensor of this shape holds */
export const valuesOf = (shape: readonly number[]) => shape.reduce((product, size) => product * size, 1);

/** "FLGP", the header's length (uint32 LE), the header (JSON), zero padding to 8 bytes, then every sum as float64 LE. */
export function encodeGroupPartial(partial: GroupPartial): Uint8Array {
  const { sums, ...rest } = partial;
  const header = new TextEncoder().encode(JSON.stringify(headerSchema.parse(rest)));
  const dataAt = Math.ceil((HEADER_AT + header.length) / 8) * 8;
  const values = sums.reduce((total, tensor) => total + tensor.length, 0);
  const bytes = new Uint8Array(dataAt + values * 8);
  bytes.set(new TextEncoder().encode(MAGIC), 0);
  const view = new DataView(bytes.buffer);
  view.setUint32(4, header.length, true);
  bytes.set(header, HEADER_AT);
  let offset = dataAt;
  for (const tensor of sums) {
    for (let i = 0; i < tensor.length; i++, offset += 8) view.setFloat64(offset, tensor[i]!, true);
  }
  return bytes;
}

/** The partial sum `encodeGroupPartial` wrote; throws WeightsError naming `where` for anything else. */
export function decodeGroupPartial(bytes: Uint8Array, where: string): GroupPartial {
  const fail = (problem: string): never => {
    throw new WeightsError(`${where}: not a group's partial sum (${problem})`);
  };
  if (bytes.length < HEADER_AT || new TextDecoder().decode(bytes.subarray(0, 4)) !== MAGIC) fail('no FLGP header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(4, true);
  if (HEADER_AT + headerLength > bytes.length) fail('its header runs past its end');
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(HEADER_AT, HEADER_AT + headerLength)));
  } catch {
    fail('its header is not JSON');
  }
  const header = headerSchema.safeParse(parsed);
  if (!header.success) return fail(`its header: ${header.error.issues[0]?.message ?? 'invalid'}`);
  const dataAt = Math.ceil((HEADER_AT + headerLength) / 8) * 8;
  const values = header.data.layout.reduce((total, { shape }) => total + valuesOf(shape), 0);
  if (bytes.length !== dataAt + values * 8) fail(`${bytes.length} bytes where its layout needs ${dataAt + values * 8}`);
  let offset = dataAt;
  const sums = header.data.layout.map(({ shape }) => {
    const tensor = new Float64Array(valuesOf(shape));
    for (let i = 0; i < tensor.length; i++, offset += 8) tensor[i] = view.getFloat64(offset, true);
    return tensor;
  });
  return { ...header.data, sums };
}
