import type { QueueRole } from '../../shared/cloud/resources.js';
import { keys, SECAGG_CLIENT_STAGES } from '../../shared/protocol/keys.js';
import { declaredClientState } from '../../shared/strategies/index.js';

/**
 * What each function reads and writes, as IAM object-key patterns (`*` also spans `/`), built from the key layout in
 * shared/protocol/keys.ts so a renamed key moves its grant along. Derived from shared/pipeline/*: test/infra-access
 * runs the real pipeline against a store that checks every access against this table, so a new read or write in the
 * pipeline fails there before it fails in AWS with AccessDenied.
 */
export type FunctionName = 'start' | 'train' | 'aggregate' | 'timer';

export interface FunctionAccess {
  /** GetObject/HeadObject; grantRead also allows listing, which S3 needs to answer 404 (not 403) for a missing key. */
  readonly read: readonly string[];
  /** PutObject (single and multipart). Nothing in the pipeline deletes or overwrites outside these. */
  readonly write: readonly string[];
  /** Queues it sends to; its own trigger queue is granted by the event source. */
  readonly sendsTo: readonly QueueRole[];
}

const ANY = '*';
// Rounds are numbered keys (rounds/0001/); IAM patterns need the number replaced by a wildcard.
const anyRound = (key: string) => key.replace(/\/rounds\/\d+\//, '/rounds/*/');

const clientState = declaredClientState();

const pattern = {
  config: keys.config(ANY),
  resolvedConfig: keys.resolvedConfig(ANY),
  status: keys.status(ANY),
  partition: keys.partition(ANY),
  shard: keys.shard(ANY, ANY),
  sharedData: keys.sharedData(ANY),
  globalModel: anyRound(keys.globalModel(ANY, 0)),
  roundState: anyRound(keys.roundState(ANY, 0)),
  /** a split round's groups (config round.groups): each group's state and partial sum */
  groupState: anyRound(keys.groupState(ANY, 0, 0)).replace(/\/groups\/\d+\//, '/groups/*/'),
  groupPartial: anyRound(keys.groupPartial(ANY, 0, 0)).replace(/\/groups\/\d+\//, '/groups/*/'),
  roundMetrics: anyRound(keys.roundMetrics(ANY, 0)),
  update: anyRound(keys.update(ANY, 0, ANY)),
  updateReport: anyRound(keys.updateReport(ANY, 0, ANY)),
  verdict: anyRound(keys.verdict(ANY, 0, ANY)),
  backend: keys.backend(ANY),
  serverState: anyRound(keys.serverState(ANY, 0)),
  /** the strategies' adopted client state (SCAFFOLD's c_i, FedDyn's g_k), one pattern per declared slot */
  adoptedState: clientState.adopted.map((slot) => keys.adoptedState(ANY, ANY, slot)),
  /** the strategies' kept client state (FedPer's local layers), one prefix per declared slot */
  keptState: clientState.kept.map((slot) => keys.keptStatePrefix(ANY, ANY, slot) + ANY),
  residual: keys.residualPrefix(ANY, ANY) + ANY,
  robustState: anyRound(keys.robustState(ANY, 0)),
  metrics: keys.metrics(ANY),
  summary: keys.summary(ANY),
  finalModel: keys.finalModel(ANY),
  mnistTrain: keys.mnist('train-images').replace('train-images', 'train-*'),
  mnistTest: keys.mnist('test-images').replace('test-images', 'test-*'),
  datasetInfo: keys.datasetInfo(ANY),
  datasetTrain: keys.datasetSplit(ANY, 'train'),
  datasetTest: keys.datasetSplit(ANY, 'test'),
  datasetClientInfo: keys.datasetClientInfo(ANY, ANY),
  datasetClientData: keys.datasetClientData(ANY, ANY),
  // secure aggregation (shared/pipeline/secagg-*.ts): the round's protocol records, one pattern per kind
  /** everything of a round's protocol: what the clients publish and the aggregator's own records, no client secret */
  secaggRound: anyRound(keys.secaggPrefix(ANY, 0)) + ANY,
  secaggSetup: anyRound(keys.secaggSetup(ANY, 0)),
  secaggState: anyRound(keys.secaggState(ANY, 0)),
  secaggRoster: anyRound(keys.secaggRoster(ANY, 0)),
  secaggMaskedInputClosed: anyRound(keys.secaggMaskedInputClosed(ANY, 0)),
  secaggMean: anyRound(keys.secaggMean(ANY, 0)),
  secaggRequests: (['share-keys', 'masked-input', 'unmask'] as const).map((stage) => anyRound(keys.secaggRequest(ANY, 0, stage, ANY))),
  secaggAnswers: SECAGG_CLIENT_STAGES.map((stage) => anyRound(keys.secaggAnswer(ANY, 0, stage, ANY))),
  secaggMaskedVector: anyRound(keys.secaggMaskedVector(ANY, 0, ANY)),
  /** a client's secret between stages: the trainer's only, like the kept state (no aggregator grant) */
  secaggSecret: keys.secaggSecretPrefix(ANY, ANY) + ANY,
} as const;

export const BUCKET_ACCESS: Readonly<Record<FunctionName, FunctionAccess>> = {
  // Forwards each config.json upload (its ETag and size, from the S3 event) to the experiment's FIFO group, where the
  // aggregator starts it: two uploads can never interleave two starts. It touches no object.
  start: { read: [], write: [], sendsTo: ['aggregate'] },
  train: {
    // serverState, adoptedState: what a strategy's client half reads (SCAFFOLD's c and c_i, FedDyn's g_k)
    // keptState: a strategy's client-private state (FedPer's local layers), which only the trainer ever touches
    // datasetClientData: a natural partition's client data, which no other function may read
    // residual: compression's error-feedback residual, client-private like the personal layers
    // roundState: who is sampled, for the simulated "a little is enough" attackers (docs/robustness.md)
    // sharedData: the public subset G (config sharedData), of which each client mixes its share into its training
    read: [
      pattern.status, pattern.resolvedConfig, pattern.globalModel, pattern.shard, pattern.updateReport,
      pattern.serverState, ...pattern.adoptedState, ...pattern.keptState, pattern.datasetClientData, pattern.residual,
      pattern.roundState, pattern.sharedData,
      // secure aggregation: the round's setup, its own requests, its own secret, its answers (to re-announce them)
      pattern.secaggSetup, ...pattern.secaggRequests, pattern.secaggSecret, ...pattern.secaggAnswers, pattern.secaggMaskedVector,
    ],
    write: [pattern.update, pattern.updateReport, ...pattern.keptState, pattern.residual, pattern.secaggSecret, ...pattern.secaggAnswers, pattern.secaggMaskedVector],
    sendsTo: ['aggregate'],
  },
  // The one writer of an experiment's records, one message at a time: the start (config → partition, shards, round-0
  // model, round 1; partition also for stratified sampling and to bound a client's claimed samples), verdicts, rounds
  // and results. dataset*: an imported dataset's description, train set (the start) and test
  // set (evaluation); of a natural partition's clients only their metadata, never their data.
  aggregate: {
    read: [
      pattern.config, pattern.status, pattern.mnistTrain, pattern.roundState, pattern.resolvedConfig, pattern.partition,
      pattern.globalModel, pattern.update, pattern.updateReport, pattern.verdict, pattern.serverState,
      pattern.roundMetrics, pattern.backend, pattern.mnistTest, pattern.robustState, pattern.groupState, pattern.groupPartial,
      pattern.datasetInfo, pattern.datasetTrain, pattern.datasetTest, pattern.datasetClientInfo,
      // secure aggregation: the round's protocol records (answers, masked vectors, its own), never a client's secret,
      // which lives under clients/<id>/secagg/; one pattern, or the role's inline policy outgrows IAM's size limit
      pattern.secaggRound,
    ],
    write: [
      pattern.shard, pattern.sharedData, pattern.partition, pattern.resolvedConfig, pattern.roundState, pattern.verdict, pattern.status,
      pattern.globalModel, pattern.serverState, pattern.roundMetrics, pattern.backend, pattern.metrics, pattern.summary,
      pattern.finalModel, ...pattern.adoptedState, pattern.robustState, pattern.groupState, pattern.groupPartial,
      pattern.secaggSetup, pattern.secaggState, pattern.secaggRoster, pattern.secaggMaskedInputClosed, pattern.secaggMean, ...pattern.secaggRequests,
    ],
    // aggregate: a split round's groups tell the round they closed, and the round passes its deadline on to them
    sendsTo: ['train', 'timer', 'aggregate'],
  },
  timer: { read: [], write: [], sendsTo: ['timer', 'aggregate'] },
};

/** Whether `key` matches an IAM object-key pattern (`*` any run of characters, `?` one character). */
export function keyMatches(patternText: string, key: string): boolean {
  const source = patternText.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${source}$`).test(key);
}
