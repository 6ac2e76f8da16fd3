/**
 * The S3 key layout: the one place that knows it. Documented in docs/protocol.md.
 */
export const EXPERIMENTS_PREFIX = 'experiments/';
export const DATASETS_PREFIX = 'datasets/';

/** What an experiment id may be: one path segment of a key, never `.` or `..`. Messages and the CLI check the same rule. */
export const EXPERIMENT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$/;
export const EXPERIMENT_ID_RULE = '1–80 characters of A–Z a–z 0–9 . _ -, starting with a letter or digit';
/**
 * What a client id may be: one path segment of a key, never `.` or `..`. clientIdFor writes client-000 … client-999
 * (wider once there are more clients); a natural partition's clients keep the ids they were imported under.
 */
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const CLIENT_ID_RULE = 'letters, digits, ".", "_" and "-", starting with a letter or digit, at most 64 characters';
const CONFIG_KEY = /^experiments\/([A-Za-z0-9][A-Za-z0-9._-]{0,79})\/config\.json$/;

export function clientIdFor(index: number): string {
  return `client-${String(index).padStart(3, '0')}`;
}

export function isExperimentId(value: string): boolean {
  return EXPERIMENT_ID_PATTERN.test(value);
}

const round = (r: number) => String(r).padStart(4, '0');
const groupName = (group: number) => String(group).padStart(3, '0');
const clientPrefix = (id: string, clientId: string) => `experiments/${id}/clients/${clientId}/`;
const keptPrefix = (id: string, clientId: string, slot: string) => `${clientPrefix(id, clientId)}${slot}/`;
const clientUpload = (id: string, r: number, clientId: string, slot: string) => `experiments/${id}/rounds/${round(r)}/updates/${clientId}.${slot}.bin`;
const adoptedState = (id: string, clientId: string, slot: string) => `${clientPrefix(id, clientId)}${slot}.bin`;
const keptState = (id: string, clientId: string, slot: string, r: number) => `${keptPrefix(id, clientId, slot)}${round(r)}.bin`;

const secagg = (id: string, r: number) => `experiments/${id}/rounds/${round(r)}/secagg/`;

/** The secure-aggregation stages a trainer is asked to run, in order (docs/secure-aggregation.md). */
export const SECAGG_CLIENT_STAGES = ['advertise-keys', 'share-keys', 'masked-input', 'unmask'] as const;
export type SecAggClientStage = (typeof SECAGG_CLIENT_STAGES)[number];
/** Where each stage's requests (aggregator → one client) and answers (client → aggregator) live. */
const SECAGG_REQUESTS = { 'share-keys': 'share-keys-request', 'masked-input': 'masked-input-request', unmask: 'unmask-request' } as const;
const SECAGG_ANSWERS = { 'advertise-keys': 'advertise', 'share-keys': 'share-keys', 'masked-input': 'masked', unmask: 'unmask' } as const;

export const keys = {
  config: (id: string) => `experiments/${id}/config.json`,
  /** the config with every default filled in, as the pipeline ran it */
  resolvedConfig: (id: string) => `experiments/${id}/config.resolved.json`,
  status: (id: string) => `experiments/${id}/status.json`,
  partition: (id: string) => `experiments/${id}/partition.json`,
  /** the training backend of the first accepted update, written when round 1 closes */
  backend: (id: string) => `experiments/${id}/backend.json`,
  shard: (id: string, clientId: string) => `experiments/${id}/shards/${clientId}.bin`,
  /** sharedData: the public subset G (shard format), written once by the start step; every trainer reads its share */
  sharedData: (id: string) => `experiments/${id}/shared-data.bin`,
  /** global model after round r; r = 0 is the initial model */
  globalModel: (id: string, r: number) => `experiments/${id}/rounds/${round(r)}/global.bin`,
  roundState: (id: string, r: number) => `experiments/${id}/rounds/${round(r)}/state.json`,
  /** a round split into groups (config round.groups): one group's state, like a round's for its own clients */
  groupState: (id: string, r: number, group: number) => `experiments/${id}/rounds/${round(r)}/groups/${groupName(group)}/state.json`,
  /** a closed group's partial sum (Σ wᵢ·xᵢ in float64, Σ wᵢ) and its verdicts, for the round's close to add up */
  groupPartial: (id: string, r: number, group: number) => `experiments/${id}/rounds/${round(r)}/groups/${groupName(group)}/partial.bin`,
  roundMetrics: (id: string, r: number) => `experiments/${id}/rounds/${round(r)}/metrics.json`,
  updatesPrefix: (id: string, r: number) => `experiments/${id}/rounds/${round(r)}/updates/`,
  update: (id: string, r: number, clientId: string) => `experiments/${id}/rounds/${round(r)}/updates/${clientId}.bin`,
  updateReport: (id: string, r: number, clientId: string) => `experiments/${id}/rounds/${round(r)}/updates/${clientId}.json`,
  /** the aggregator's verdict on one client's update (accepted with its report, rejected with the reason, or late) */
  verdict: (id: string, r: number, clientId: string) => `experiments/${id}/rounds/${round(r)}/verdicts/${clientId}.json`,
  /**
   * A strategy's per-client file sent with an update (shared/strategies/types.ts: `adoptedState` proposals and
   * `sideUploads`), written before the update report. SCAFFOLD's are "control" (c_i⁺) and "control-delta" (Δc_i).
   */
  clientUpload,
  /** a strategy's adopted client state (SCAFFOLD's c_i): replaced by the aggregator only, from an accepted update's proposal */
  adoptedState,
  /**
   * A strategy's or the upload's kept client state, saved by the client after training round r (FedPer's local layers
   * "personal", compression's error-feedback "residual"). Trainer only: read and written by the client, never by the
   * aggregator; round-stamped so a retried round re-reads the same starting state.
   */
  keptState,
  /** everything of one kept slot of one client lives under this prefix (e.g. for an IAM grant to the trainer) */
  keptStatePrefix: keptPrefix,
  controlProposal: (id: string, r: number, clientId: string) => clientUpload(id, r, clientId, 'control'),
  controlDelta: (id: string, r: number, clientId: string) => clientUpload(id, r, clientId, 'control-delta'),
  clientControl: (id: string, clientId: string) => adoptedState(id, clientId, 'control'),
  personalLayers: (id: string, clientId: string, r: number) => keptState(id, clientId, 'personal', r),
  personalLayersPrefix: (id: string, clientId: string) => keptPrefix(id, clientId, 'personal'),
  residual: (id: string, clientId: string, r: number) => keptState(id, clientId, 'residual', r),
  residualPrefix: (id: string, clientId: string) => keptPrefix(id, clientId, 'residual'),
  /** centered clipping: the aggregated Δ of round r, the centre round r + 1 starts clipping from (aggregator only) */
  robustState: (id: string, r: number) => `experiments/${id}/rounds/${round(r)}/robust-state.bin`,
  /** DP runs: what round r released and what it cost (ε so far, clip norm, noise); written before global model r */
  privacyRound: (id: string, r: number) => `experiments/${id}/rounds/${round(r)}/privacy.json`,
  serverState: (id: string, r: number) => `experiments/${id}/rounds/${round(r)}/server-state.bin`,
  /** secure aggregation: everything of a round's protocol (setup, requests, answers, the aggregator's stage state) */
  secaggPrefix: secagg,
  secaggSetup: (id: string, r: number) => `${secagg(id, r)}setup.json`,
  /** the aggregator's stage bookkeeping: which stage, its deadline, who answered, bytes and times per stage */
  secaggState: (id: string, r: number) => `${secagg(id, r)}state.json`,
  secaggRoster: (id: string, r: number) => `${secagg(id, r)}roster.json`,
  secaggMaskedInputClosed: (id: string, r: number) => `${secagg(id, r)}masked-input-closed.json`,
  /** the unmasked, sample-weighted mean of the contributors' updates (an aggregate; written before global model r) */
  secaggMean: (id: string, r: number) => `${secagg(id, r)}mean.bin`,
  secaggRequest: (id: string, r: number, stage: keyof typeof SECAGG_REQUESTS, clientId: string) => `${secagg(id, r)}${SECAGG_REQUESTS[stage]}/${clientId}.json`,
  /** a client's answer to a stage; for masked-input the notice (its digest), written after the masked vector */
  secaggAnswer: (id: string, r: number, stage: SecAggClientStage, clientId: string) => `${secagg(id, r)}${SECAGG_ANSWERS[stage]}/${clientId}.json`,
  secaggMaskedVector: (id: string, r: number, clientId: string) => `${secagg(id, r)}masked/${clientId}.bin`,
  /**
   * A client's secret of round r (its root secret and what it already answered). Trainer only, like the kept state:
   * the aggregator has no grant here, so it cannot read what would unmask one client's update.
   */
  secaggSecret: (id: string, clientId: string, r: number) => `${clientPrefix(id, clientId)}secagg/${round(r)}.json`,
  secaggSecretPrefix: (id: string, clientId: string) => `${clientPrefix(id, clientId)}secagg/`,
  /** every closed round's metrics, assembled once when the experiment ends (each round's own file is written as it closes) */
  metrics: (id: string) => `experiments/${id}/metrics.json`,
  summary: (id: string) => `experiments/${id}/summary.json`,
  finalModel: (id: string) => `experiments/${id}/model/final.bin`,
  mnist: (file: 'train-images' | 'train-labels' | 'test-images' | 'test-labels') => `datasets/mnist/${file}.idx`,
  /** an imported dataset's description (shared/data/catalog.ts), written last by an import */
  datasetInfo: (name: string) => `datasets/${name}/dataset.json`,
  /** an imported dataset's train or test set, in the shard format */
  datasetSplit: (name: string, split: 'train' | 'test') => `datasets/${name}/${split}.bin`,
  /** natural partitions: a client's sample count and label histogram, all the start step reads of it */
  datasetClientInfo: (name: string, clientId: string) => `datasets/${name}/clients/${clientId}/meta.json`,
  /** natural partitions: a client's own training data, read by that client's trainer only */
  datasetClientData: (name: string, clientId: string) => `datasets/${name}/clients/${clientId}/data.bin`,
} as const;

/** The experiment id of an `experiments/<id>/config.json` key, or undefined for any other key. */
export function experimentIdFromConfigKey(key: string): string | undefined {
  return CONFIG_KEY.exec(key)?.[1];
}
