import { describe, expect, it } from 'vitest';
import { clientIdFor } from '../shared/protocol/keys.js';
import { maskedInput, shareKeys, unmask } from '../shared/secagg/client.js';
import { encodeMaskedInput, type MaskedInputRequest, type UnmaskResponse } from '../shared/secagg/messages.js';
import { SecAggError } from '../shared/secagg/setup.js';
import { simulateRound, type SimulationOptions, type SimulationReport, type Transforms } from '../shared/secagg/simulate.js';

// n = 7, complete graph: k = 6, t = 4, so up to 2 clients may be missing from any one's neighbourhood.
const base: SimulationOptions = { clients: 7, vectorLength: 33, threshold: 4 };

function sumOf(report: SimulationReport): Buffer {
  if (!report.outcome.ok) throw new Error(`round failed: ${report.outcome.failure.stage}: ${report.outcome.failure.reason}`);
  return Buffer.from(report.outcome.aggregate.sum.buffer);
}

const twiceReversed = <T>(messages: T[]): T[] => [...messages, ...messages].reverse();

/** Flips one bit of a base64 value's decoded bytes. */
function flipBit(base64: string, byteIndex: number): string {
  const bytes = Buffer.from(base64, 'base64');
  bytes[byteIndex]! ^= 0x01;
  return bytes.toString('base64');
}

describe('replayed and duplicated messages change nothing', () => {
  it('every message of every stage delivered twice, in reverse order: same sum, duplicates reported', () => {
    const plain = simulateRound({ ...base, dropouts: { 'masked-input': [clientIdFor(2)] } });
    const everything: Transforms = {
      advertiseKeys: twiceReversed,
      shareKeysRequests: twiceReversed,
      shareKeys: twiceReversed,
      maskedInputRequests: twiceReversed,
      maskedInputs: twiceReversed,
      unmaskRequests: twiceReversed,
      unmaskResponses: twiceReversed,
    };
    const replayed = simulateRound({ ...base, dropouts: { 'masked-input': [clientIdFor(2)] }, transforms: everything });
    expect(sumOf(replayed).equals(sumOf(plain))).toBe(true);
    for (const stage of ['advertise-keys', 'share-keys', 'masked-input', 'unmask'] as const) {
      // Each message arrives twice, and from share keys on each client also answered its doubled request twice.
      const verdicts = replayed.verdicts[stage]!;
      const copies = stage === 'advertise-keys' ? 2 : 4;
      expect(verdicts.filter((v) => v.verdict === 'duplicate').length).toBe((copies - 1) * verdicts.filter((v) => v.verdict === 'accepted').length);
    }
    // Clients answered each request twice and sent the same bytes both times (the server saw duplicates, no conflicts).
    expect(Object.values(replayed.verdicts).flat().some((v) => v.verdict === 'conflict')).toBe(false);
    expect(replayed.clientErrors).toEqual([]);
  });

  it('a client stage run again on the same request returns the same bytes', () => {
    const report = simulateRound(base);
    const secret = report.secrets.get(clientIdFor(1))!;
    const { setup } = report;
    // Rebuild client-001's requests from a fresh, identical round: the simulation is deterministic.
    let shareRequest: Parameters<typeof shareKeys>[2] | undefined;
    let maskRequest: MaskedInputRequest | undefined;
    simulateRound({
      ...base,
      transforms: {
        shareKeysRequests: (requests) => ((shareRequest = requests.find((r) => r.clientId === clientIdFor(1))), requests),
        maskedInputRequests: (requests) => ((maskRequest = requests.find((r) => r.clientId === clientIdFor(1))), requests),
      },
    });
    const fresh = { ...secret, maskedInputFor: undefined, unmaskedFor: undefined };
    expect(shareKeys(setup, fresh, shareRequest!)).toEqual(shareKeys(setup, fresh, shareRequest!));
    const update = Float32Array.from({ length: 33 }, (_, i) => Math.sin(i));
    const first = maskedInput(setup, fresh, maskRequest!, update, 120);
    const again = maskedInput(setup, first.secret, maskRequest!, update, 120);
    expect(Buffer.from(encodeMaskedInput(again.vector)).equals(Buffer.from(encodeMaskedInput(first.vector)))).toBe(true);
    expect(again.notice).toEqual(first.notice);
    // A masked-input request with a different neighbour set, after one was answered, is refused.
    const fewer = { ...maskRequest!, neighbours: maskRequest!.neighbours.slice(1) };
    expect(() => maskedInput(setup, first.secret, fewer, update, 120)).toThrow('already sent a masked input for a different set of neighbours');
  });

  it('a different second message from an accepted client is a conflict: the first one stays', () => {
    const report = simulateRound({
      ...base,
      transforms: {
        maskedInputs: (notices) => [...notices, { ...notices[0]!, sha256: '0'.repeat(64) }],
      },
    });
    expect(report.outcome.ok).toBe(true);
    expect(report.verdicts['masked-input']!.at(-1)).toMatchObject({ clientId: clientIdFor(0), verdict: 'conflict' });
  });
});

describe('never both shares of one client', () => {
  it('the server refuses a response revealing both the self-mask and the mask-key share of a peer', () => {
    const dropped = clientIdFor(3);
    const cheat = (responses: UnmaskResponse[]) =>
      responses.map((response) =>
        response.clientId === clientIdFor(0)
          ? { ...response, selfMaskShares: [...response.selfMaskShares, { owner: dropped, share: response.maskKeyShares[0]!.share }] }
          : response,
      );
    // n = 6, k = 5, t = 4: one dropout at masked input, one refused responder: 4 answers remain, enough.
    const report = simulateRound({ ...base, dropouts: { 'masked-input': [dropped] }, transforms: { unmaskResponses: cheat } });
    const honest = simulateRound({ ...base, dropouts: { 'masked-input': [dropped] } });
    expect(sumOf(report).equals(sumOf(honest))).toBe(true);
    expect(report.verdicts.unmask!.find((v) => v.clientId === clientIdFor(0))).toEqual({
      clientId: clientIdFor(0),
      verdict: 'rejected',
      reason: `it reveals both the self-mask share and the mask-key share of ${dropped}; refused`,
    });
  });

  it('the server refuses a mask-key share of a contributor (whose self-mask share is what may be revealed)', () => {
    const contributor = clientIdFor(1);
    const swapKinds = (responses: UnmaskResponse[]) =>
      responses.map((response) =>
        response.clientId === clientIdFor(0)
          ? {
              ...response,
              selfMaskShares: response.selfMaskShares.filter((s) => s.owner !== contributor),
              maskKeyShares: [...response.maskKeyShares, { owner: contributor, share: response.selfMaskShares[0]!.share }],
            }
          : response,
      );
    const report = simulateRound({ ...base, dropouts: { 'masked-input': [clientIdFor(3)] }, transforms: { unmaskResponses: swapKinds } });
    const honest = simulateRound({ ...base, dropouts: { 'masked-input': [clientIdFor(3)] } });
    expect(sumOf(report).equals(sumOf(honest))).toBe(true);
    expect(report.verdicts.unmask!.find((v) => v.clientId === clientIdFor(0))).toEqual({
      clientId: clientIdFor(0),
      verdict: 'rejected',
      reason: `it reveals the mask-key share of ${contributor}, whose input is in the sum: only its self-mask share may be revealed`,
    });
  });

  it('a client refuses a second unmask request that splits its neighbours differently, and repeats the first answer', () => {
    const requests: Parameters<typeof unmask>[2][] = [];
    const report = simulateRound({ ...base, transforms: { unmaskRequests: (r) => (requests.push(...r), r) } });
    const request = requests.find((r) => r.clientId === clientIdFor(0))!;
    const answered = report.secrets.get(clientIdFor(0))!;
    expect(answered.unmaskedFor).toBeDefined();
    const again = unmask(report.setup, answered, request);
    expect(again.response.selfMaskShares).toHaveLength(6);
    // A server claiming client-004 dropped after all would get its mask-key share on top of its self-mask share.
    const other = { ...request, survivors: request.survivors.filter((id) => id !== clientIdFor(4)), dropped: [clientIdFor(4)] };
    expect(() => unmask(report.setup, answered, other)).toThrow('already revealed shares for a different survivor/dropped split');
  });
});

describe('tampered or misrouted ciphertexts are rejected (AES-GCM)', () => {
  it('a flipped bit in one envelope: its recipient refuses to mask, drops out, and the round still sums the rest', () => {
    const victim = clientIdFor(2);
    const tamper = (requests: MaskedInputRequest[]) =>
      requests.map((r) => (r.clientId === victim ? { ...r, neighbours: r.neighbours.map((n, i) => (i === 0 ? { ...n, ciphertext: flipBit(n.ciphertext, 40) } : n)) } : r));
    const report = simulateRound({ ...base, transforms: { maskedInputRequests: tamper } });
    expect(report.clientErrors.map((e) => [e.clientId, e.error.message])).toEqual([
      [victim, `masked-input: the envelope from ${clientIdFor(0)} does not open: AES-GCM authentication failed: the ciphertext, its tag or its associated data was altered`],
    ]);
    const withoutVictim = simulateRound({ ...base, dropouts: { 'masked-input': [victim] } });
    expect(sumOf(report).equals(sumOf(withoutVictim))).toBe(true);
  });

  it('an intact envelope presented as coming from another sender does not open (sender and recipient are bound)', () => {
    const victim = clientIdFor(2);
    const swap = (requests: MaskedInputRequest[]) =>
      requests.map((r) => {
        if (r.clientId !== victim) return r;
        const [a, b] = [r.neighbours[0]!, r.neighbours[1]!];
        return { ...r, neighbours: [{ ...a, ciphertext: b.ciphertext }, { ...b, ciphertext: a.ciphertext }, ...r.neighbours.slice(2)] };
      });
    const report = simulateRound({ ...base, transforms: { maskedInputRequests: swap } });
    expect(report.clientErrors).toHaveLength(1);
    expect(report.clientErrors[0]!.error).toBeInstanceOf(SecAggError);
    expect(report.clientErrors[0]!.error.message).toContain('AES-GCM authentication failed');
  });
});

describe('the server refuses malformed stage messages', () => {
  it('a repeated public key at advertise keys, a missing envelope at share keys', () => {
    const report = simulateRound({
      ...base,
      transforms: {
        advertiseKeys: (messages) => messages.map((m) => (m.clientId === clientIdFor(5) ? { ...m, maskPublicKey: messages[0]!.cipherPublicKey } : m)),
        shareKeys: (messages) => messages.map((m) => (m.clientId === clientIdFor(4) ? { ...m, envelopes: m.envelopes.slice(1) } : m)),
      },
    });
    expect(report.verdicts['advertise-keys']!.find((v) => v.clientId === clientIdFor(5))).toEqual({
      clientId: clientIdFor(5),
      verdict: 'rejected',
      reason: `a public key repeats one of ${clientIdFor(0)}'s`,
    });
    expect(report.verdicts['share-keys']!.find((v) => v.clientId === clientIdFor(4))).toMatchObject({ verdict: 'rejected', reason: `it has no envelope for ${clientIdFor(0)}` });
    expect(report.outcome.ok && report.outcome.aggregate.contributors).toEqual([0, 1, 2, 3, 6].map(clientIdFor));
  });
});
