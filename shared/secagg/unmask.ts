import { addPrgWords, fromBase64, KEY_BYTES, sha256Hex, toBase64, x25519PublicKey } from './crypto.js';
import { pairwiseMaskSeed } from './derive.js';
import { encodeMaskedInput, type MaskedInputClosed, type Roster, type UnmaskResponse } from './messages.js';
import { dequantizeSum, type DequantizedSum, QuantizationError } from './quantize.js';
import type { RoundSetup } from './setup.js';
import { reconstructSecret, SHARE_BYTES, ShamirError } from './shamir.js';
import { firstValidPerClient, type StageResult } from './verdicts.js';

/**
 * The server's last step: fold the masked inputs into one sum, then remove the masks with the shares the
 * contributors reveal. The server learns b_u of every contributor and s_v^SK of every dropped client, and from them
 * nothing but the sum: a contributor's pairwise masks with other contributors are never revealed, and cancel.
 */

/** An all-zero running sum for the round's masked inputs. */
export function emptyMaskedSum(setup: RoundSetup): Uint32Array {
  return new Uint32Array(setup.record.vectorLength + 1);
}

/** Why `vector` is not the masked input `clientId` announced (not a contributor, wrong size, other bytes), or undefined. */
export function maskedInputProblem(closed: MaskedInputClosed, clientId: string, vector: Uint32Array): string | undefined {
  const contributor = closed.contributors.find((c) => c.clientId === clientId);
  if (contributor === undefined) return `${clientId} is not a contributor of this round`;
  if (sha256Hex(encodeMaskedInput(vector)) !== contributor.sha256) return `${clientId}'s masked input is not the one it announced (SHA-256 differs): it was replaced or corrupted`;
  return undefined;
}

/** sum ← sum + vector mod 2³², in place: masked inputs can be folded one at a time, in any order. */
export function addMaskedInput(sum: Uint32Array, vector: Uint32Array): void {
  if (vector.length !== sum.length) throw new RangeError(`a masked input of ${vector.length} words cannot be added to a sum of ${sum.length}`);
  for (let i = 0; i < sum.length; i++) sum[i] = (sum[i]! + vector[i]!) >>> 0;
}

export interface UnmaskedAggregate {
  /** Σ of the contributors' quantized inputs mod 2³² (the weight word last) */
  readonly sum: Uint32Array;
  /** U3, whose inputs the sum holds */
  readonly contributors: readonly string[];
  readonly decoded: DequantizedSum;
  /** clients whose self-mask seed was reconstructed, and dropped clients whose mask key was */
  readonly revealed: { readonly selfMaskSeeds: number; readonly maskKeys: number };
}

/**
 * Checks a response against the roles of its owners: only contributors answer; only about their neighbours that
 * shared keys; self-mask shares only of contributors, mask-key shares only of dropped clients; and never both for one
 * client, which would let the server remove every mask of that client's input.
 */
function responseProblem(setup: RoundSetup, closed: MaskedInputClosed, response: UnmaskResponse): string | undefined {
  const contributors = new Set(closed.contributors.map((c) => c.clientId));
  const sharedKeys = new Set(closed.survivors);
  if (!contributors.has(response.clientId)) return `${response.clientId} is not a contributor, so it is not asked to unmask`;
  const selfOwners = response.selfMaskShares.map((s) => s.owner);
  const keyOwners = response.maskKeyShares.map((s) => s.owner);
  const both = selfOwners.filter((owner) => keyOwners.includes(owner));
  if (both.length > 0) return `it reveals both the self-mask share and the mask-key share of ${both.join(', ')}; refused`;
  const neighbours = new Set(setup.graph.get(response.clientId));
  const seen = new Set<string>();
  for (const [owner, kind] of [...selfOwners.map((o) => [o, 'self-mask'] as const), ...keyOwners.map((o) => [o, 'mask-key'] as const)]) {
    if (!neighbours.has(owner) || !sharedKeys.has(owner)) return `it reveals a share of ${owner}, which is not one of its neighbours that shared keys`;
    if (seen.has(owner)) return `it reveals two ${kind} shares of ${owner}`;
    seen.add(owner);
    if (kind === 'self-mask' && !contributors.has(owner)) return `it reveals the self-mask share of ${owner}, which dropped: only its mask-key share may be revealed`;
    if (kind === 'mask-key' && contributors.has(owner)) return `it reveals the mask-key share of ${owner}, whose input is in the sum: only its self-mask share may be revealed`;
  }
  return undefined;
}

/**
 * Removes every mask from `maskedSum` (the fold of exactly the contributors' inputs, checked against their digests)
 * using the accepted unmask responses, and decodes the result. Fails, naming the client, when some mask has fewer
 * than t shares.
 */
export function unmaskSum(
  setup: RoundSetup,
  roster: Roster,
  closed: MaskedInputClosed,
  maskedSum: Uint32Array,
  responses: readonly UnmaskResponse[],
): StageResult<UnmaskedAggregate> {
  const { accepted, verdicts } = firstValidPerClient(responses, setup.record, (response) => responseProblem(setup, closed, response));
  const t = setup.threshold;
  const contributors = closed.contributors.map((c) => c.clientId);
  const contributorSet = new Set(contributors);
  const dropped = closed.survivors.filter((id) => !contributorSet.has(id));
  const selfShares = new Map<string, { x: number; value: Uint8Array }[]>();
  const keyShares = new Map<string, { x: number; value: Uint8Array }[]>();
  for (const response of accepted.values()) {
    const x = setup.points.get(response.clientId)!;
    for (const { owner, share } of response.selfMaskShares) pushTo(selfShares, owner, { x, value: fromBase64(share, SHARE_BYTES, 'a share') });
    for (const { owner, share } of response.maskKeyShares) pushTo(keyShares, owner, { x, value: fromBase64(share, SHARE_BYTES, 'a share') });
  }
  const shortfalls: string[] = [];
  const reconstruct = (owner: string, shares: Map<string, { x: number; value: Uint8Array }[]>, what: string): Uint8Array | undefined => {
    const found = shares.get(owner) ?? [];
    if (found.length < t) {
      shortfalls.push(`${owner}'s ${what} has ${found.length} shares from answering neighbours; ${t} are needed`);
      return undefined;
    }
    try {
      return reconstructSecret(found, t);
    } catch (error) {
      if (!(error instanceof ShamirError)) throw error;
      shortfalls.push(`${owner}'s ${what} cannot be reconstructed: ${error.message}`);
      return undefined;
    }
  };
  const sum = maskedSum.slice();
  if (sum.length !== setup.record.vectorLength + 1) throw new RangeError(`the masked sum has ${sum.length} words; this round's inputs have ${setup.record.vectorLength + 1}`);
  for (const owner of contributors) {
    const seed = reconstruct(owner, selfShares, 'self-mask seed');
    if (seed !== undefined) addPrgWords(sum, seed, -1);
  }
  const maskKeyOf = new Map(roster.clients.map((entry) => [entry.clientId, entry.maskPublicKey]));
  let maskKeys = 0;
  for (const owner of dropped) {
    const maskedWith = setup.graph.get(owner)!.filter((id) => contributorSet.has(id));
    if (maskedWith.length === 0) continue;
    const privateKey = reconstruct(owner, keyShares, 'mask private key');
    if (privateKey === undefined) continue;
    if (toBase64(x25519PublicKey(privateKey)) !== maskKeyOf.get(owner)) {
      shortfalls.push(`${owner}'s reconstructed mask key does not match the public key it advertised: its shares are inconsistent`);
      continue;
    }
    maskKeys++;
    const ownerPoint = setup.points.get(owner)!;
    for (const contributor of maskedWith) {
      const seed = pairwiseMaskSeed(setup.record, privateKey, fromBase64(maskKeyOf.get(contributor)!, KEY_BYTES, 'a mask key'), owner, contributor);
      // The contributor added +PRG when its point is below the dropped client's, −PRG above: take it back out.
      addPrgWords(sum, seed, setup.points.get(contributor)! < ownerPoint ? -1 : 1);
    }
  }
  if (shortfalls.length > 0) {
    const reason = shortfalls.slice(0, 5).join('; ') + (shortfalls.length > 5 ? `; and ${shortfalls.length - 5} more` : '');
    return { ok: false, failure: { stage: 'unmask', reason: `${accepted.size} of ${contributors.length} contributors answered: ${reason}` }, verdicts };
  }
  const { maxWeight, quantization } = setup.record;
  let decoded: DequantizedSum;
  try {
    decoded = dequantizeSum(sum, contributors.length, maxWeight, quantization);
  } catch (error) {
    if (!(error instanceof QuantizationError)) throw error;
    return { ok: false, failure: { stage: 'unmask', reason: error.message }, verdicts };
  }
  return { ok: true, value: { sum, contributors, decoded, revealed: { selfMaskSeeds: contributors.length, maskKeys } }, verdicts };
}

function pushTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}
