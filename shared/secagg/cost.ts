import { KEY_BYTES } from './crypto.js';
import {
  type AdvertiseKeys,
  encodedBytes,
  ENVELOPE_BYTES,
  type MaskedInputNotice,
  type MaskedInputRequest,
  PROTOCOL,
  type RoundSetupRecord,
  type ShareKeys,
  type ShareKeysRequest,
  type UnmaskRequest,
  type UnmaskResponse,
} from './messages.js';
import { SHARE_BYTES } from './shamir.js';

/**
 * What secure aggregation costs one client and the server, from the record formats themselves: sizes are measured on
 * representative records (right field lengths, placeholder values), so they track the formats as they change.
 * Compute is counted in the operations that dominate: X25519 agreements, PRG words, Shamir evaluations.
 */

export interface CostParameters {
  /** n: clients in the round */
  readonly clients: number;
  /** k: neighbours per client (n − 1 for the complete graph) */
  readonly neighbours: number;
  readonly threshold: number;
  /** parameters in the masked vector */
  readonly vectorLength: number;
  /** neighbours of a client that dropped before masked input (they cost unmask work); default 0 */
  readonly droppedNeighbours?: number;
  /** clients of the round that dropped before masked input; default 0 */
  readonly droppedClients?: number;
  /** length of a client id; default 10 ("client-000") */
  readonly idLength?: number;
  readonly experimentId?: string;
}

export interface DirectionBytes {
  /** server → client (requests, the setup record) */
  readonly down: number;
  /** client → server (messages, the masked vector) */
  readonly up: number;
}

export type StageBytes = Record<'setup' | 'advertise-keys' | 'share-keys' | 'masked-input' | 'unmask' | 'total', DirectionBytes>;

const placeholder = (bytes: number) => 'A'.repeat(4 * Math.ceil(bytes / 3));

/** Bytes one client receives and sends at each stage of one round, and their total. */
export function bytesPerClient(params: CostParameters): StageBytes {
  const idLength = params.idLength ?? 10;
  const id = (i: number) => String(i).padStart(idLength, 'c').slice(-idLength);
  const header = { protocol: PROTOCOL, experimentId: params.experimentId ?? 'experiment', round: 1 } as const;
  const key = placeholder(KEY_BYTES);
  const k = params.neighbours;
  const neighbourIds = Array.from({ length: k }, (_, i) => id(i + 1));
  const dropped = Math.min(params.droppedNeighbours ?? 0, k);
  const setup: RoundSetupRecord = {
    ...header,
    kind: 'setup',
    clients: Array.from({ length: params.clients }, (_, i) => id(i)),
    threshold: params.threshold,
    neighbours: k >= params.clients - 1 ? null : k,
    graphSeed: placeholder(32),
    vectorLength: params.vectorLength,
    maxWeight: 1000,
    quantization: { clippingRange: 1, bits: 16, rounding: 'stochastic' },
  };
  const advertise: AdvertiseKeys = { ...header, kind: 'advertise-keys', clientId: id(0), cipherPublicKey: key, maskPublicKey: key };
  const peers = neighbourIds.map((clientId) => ({ clientId, cipherPublicKey: key, maskPublicKey: key }));
  const shareRequest: ShareKeysRequest = { ...header, kind: 'share-keys-request', clientId: id(0), neighbours: peers };
  const share: ShareKeys = { ...header, kind: 'share-keys', clientId: id(0), envelopes: neighbourIds.map((to) => ({ to, ciphertext: placeholder(ENVELOPE_BYTES) })) };
  const incoming = peers.map((peer) => ({ ...peer, ciphertext: placeholder(ENVELOPE_BYTES) }));
  const maskRequest: MaskedInputRequest = { ...header, kind: 'masked-input-request', clientId: id(0), neighbours: incoming };
  const notice: MaskedInputNotice = { ...header, kind: 'masked-input', clientId: id(0), words: params.vectorLength + 1, sha256: '0'.repeat(64) };
  const unmaskRequest: UnmaskRequest = {
    ...header,
    kind: 'unmask-request',
    clientId: id(0),
    contributorCount: params.clients - (params.droppedClients ?? 0),
    survivors: neighbourIds.slice(dropped),
    dropped: neighbourIds.slice(0, dropped),
    neighbours: incoming,
  };
  const shareOf = (owner: string) => ({ owner, share: placeholder(SHARE_BYTES) });
  const unmaskResponse: UnmaskResponse = {
    ...header,
    kind: 'unmask',
    clientId: id(0),
    selfMaskShares: neighbourIds.slice(dropped).map(shareOf),
    maskKeyShares: neighbourIds.slice(0, dropped).map(shareOf),
  };
  const stages = {
    setup: { down: encodedBytes(setup), up: 0 },
    'advertise-keys': { down: 0, up: encodedBytes(advertise) },
    'share-keys': { down: encodedBytes(shareRequest), up: encodedBytes(share) },
    'masked-input': { down: encodedBytes(maskRequest), up: encodedBytes(notice) + 4 * (params.vectorLength + 1) },
    unmask: { down: encodedBytes(unmaskRequest), up: encodedBytes(unmaskResponse) },
  };
  const total = Object.values(stages).reduce((sum, stage) => ({ down: sum.down + stage.down, up: sum.up + stage.up }), { down: 0, up: 0 });
  return { ...stages, total };
}

export interface ComputeCost {
  readonly client: {
    /** X25519: k to seal shares, k to open them, k pairwise masks, k to re-open at unmask */
    readonly keyAgreements: number;
    /** mask words expanded: the self mask and one pairwise mask per neighbour */
    readonly prgWords: number;
    /** Shamir share evaluations (two secrets, k points, t coefficients each) */
    readonly shamirTerms: number;
  };
  readonly server: {
    readonly keyAgreements: number;
    readonly prgWords: number;
    /** secrets reconstructed: one self-mask seed per contributor, one mask key per dropped client */
    readonly reconstructions: number;
  };
}

/**
 * The dominant work per round. A client's cost is O(k·L), k = n − 1 for SecAgg and O(log n) for SecAgg+; the
 * server's is O(n·L) plus O(d·k·L) for d dropped clients (Bonawitz et al. 2017, §7; Bell et al. 2020, Table 1).
 */
export function computeCost(params: CostParameters): ComputeCost {
  const k = params.neighbours;
  const words = params.vectorLength + 1;
  const droppedClients = params.droppedClients ?? 0;
  const contributors = params.clients - droppedClients;
  // Each dropped client's pairwise masks with its contributing neighbours must be regenerated.
  const droppedPairs = droppedClients * Math.min(k, contributors);
  return {
    client: { keyAgreements: 4 * k, prgWords: (k + 1) * words, shamirTerms: 2 * k * params.threshold },
    server: { keyAgreements: droppedPairs, prgWords: (contributors + droppedPairs) * words, reconstructions: contributors + droppedClients },
  };
}

/** An O(log n) neighbour count for comparisons: 2⌈log₂ n⌉, even, at most n − 1 (illustrative, not Bell et al.'s bound). */
export function logarithmicNeighbours(clients: number): number {
  return Math.min(clients - 1, 2 * Math.ceil(Math.log2(clients)));
}
