import { createWeightedMean, type WeightedMean } from '../aggregate/weighted-mean.js';
import type { ExperimentConfig } from '../config/schema.js';
import type { RoundState, VerdictRecord } from '../protocol/records.js';
import { holdsAllUpdates } from '../robust/index.js';
import { assertSameLayout, type TensorLayout } from '../weights/codec.js';
import type { ModelWeights } from '../weights/types.js';
import type { PipelineContext } from './context.js';
import { keepRecent } from './keep-recent.js';
import type { AcceptedUpdate } from './round-machine.js';

/**
 * What a warm aggregator remembers of a round while it records it, so that the close does not read back what this
 * process already wrote and read:
 * - the verdicts it wrote (once S3 took them): gathering the answers GETs only the clients it has none for;
 * - the weighted sum of the accepted updates it inspected, folded in their verdicts' ordinal order: the close reads
 *   only the updates after that prefix.
 * It holds only what is durable already, and the close uses the sum only if the round's verdicts say it is exactly
 * the first updates of the order the close folds in (accepted, by ordinal). A cold aggregator (another Lambda container,
 * a restarted process, a retried close) reads everything instead and folds the same updates in the same order: the
 * same float64 additions, so the same global model, byte for byte.
 */
export class RoundMemory {
  /** the verdicts this process wrote for the round, by client */
  readonly verdicts = new Map<string, VerdictRecord>();
  private mean: WeightedMean | undefined;
  private layout: readonly TensorLayout[] | undefined;
  private readonly folded: AcceptedUpdate[] = [];
  /** the highest ordinal of the contiguous run 1, 2, … this process recorded; the fold covers exactly those */
  private lastOrdinal = 0;
  /** an ordinal came out of turn, or an update could not be folded: the sum stays what it was, a prefix */
  private sealed = false;

  constructor(private readonly foldable: boolean) {}

  /**
   * A verdict S3 has taken. `weights`: the update its inspection decoded (averaged part, float32), when it has one;
   * `weightOf`: the strategy's combine weight, the one the close folds with.
   */
  remember(verdict: VerdictRecord, weights: ModelWeights | undefined, weightOf: (update: AcceptedUpdate) => number): void {
    this.verdicts.set(verdict.clientId, verdict);
    // A late verdict takes no ordinal and is never aggregated.
    if (verdict.ordinal < 1 || this.sealed) return;
    if (verdict.ordinal !== this.lastOrdinal + 1) return this.seal();
    if (verdict.outcome === 'accepted') {
      if (!this.foldable || !weights) return this.seal();
      const update = { clientId: verdict.clientId, samples: verdict.report.samples };
      try {
        this.mean ??= createWeightedMean(weights);
        this.layout ??= weights.map(({ name, shape }) => ({ name, shape }));
        // Checks before it adds: an update the close will refuse leaves the sum as it was.
        this.mean.add(weights, weightOf(update));
      } catch {
        return this.seal();
      }
      this.folded.push(update);
    }
    this.lastOrdinal = verdict.ordinal;
  }

  private seal(): void {
    this.sealed = true;
  }

  /**
   * The sum of the first `count` updates of `accepted` (the close's order), if that is what was folded here; handed
   * out once: the close goes on adding to it, so a retried close reads everything again.
   */
  takeFolded(accepted: readonly AcceptedUpdate[], verdicts: readonly VerdictRecord[], global: readonly TensorLayout[]): { mean: WeightedMean; count: number } | undefined {
    const { mean, layout, folded } = this;
    this.mean = undefined;
    this.sealed = true;
    if (!mean || !layout || folded.length > accepted.length) return undefined;
    const sameStart = folded.every((update, index) => accepted[index]?.clientId === update.clientId && accepted[index]?.samples === update.samples);
    if (!sameStart) return undefined;
    // Every accepted verdict the fold's ordinals cover is in it: the next one to fold comes after them.
    const next = accepted[folded.length];
    const nextOrdinal = next && verdicts.find((verdict) => verdict.clientId === next.clientId)?.ordinal;
    if (next && (nextOrdinal === undefined || nextOrdinal <= this.lastOrdinal)) return undefined;
    try {
      assertSameLayout(layout, global, 'folded updates');
    } catch {
      return undefined;
    }
    return { mean, count: folded.length };
  }
}

/** Whether the close folds plain float32 updates into a weighted mean (combineUpdates' streaming path), and so may start from a sum folded earlier. */
export function foldsPlainUpdates(config: ExperimentConfig): boolean {
  return !config.privacy && !config.secureAggregation && config.compression === undefined && (!config.aggregator || !holdsAllUpdates(config.aggregator));
}

/**
 * Rounds remembered per warm key: a few experiments at once, each with its open round (and one just closed), and the
 * groups of a split round (config round.groups) that one warm process records, each its own memory: up to 32 groups
 * (√1,000) of one round stay remembered together. Each holds a float64 copy of the averaged model, so this bounds the
 * memory to 40 of those; a group or round forgotten is read back at its close, as by a cold aggregator.
 */
const ROUNDS_REMEMBERED = 40;
const memories = new WeakMap<object, Map<string, RoundMemory>>();

/**
 * The memory of `state`'s round in this warm process, created empty the first time. Keyed by what a warm container
 * keeps between invocations (`context.warm`, else the store) and by the round's start time: a restarted experiment's
 * rounds start with nothing remembered.
 */
export function roundMemory(context: PipelineContext, state: RoundState, config: ExperimentConfig): RoundMemory {
  const owner = context.warm ?? context.store;
  let rounds = memories.get(owner);
  if (!rounds) memories.set(owner, (rounds = new Map()));
  // A split round's groups share its start time: each group's memory is its own.
  const key = `${state.experimentId}\u0000${state.round}\u0000${state.group ?? ''}\u0000${state.startedAt}`;
  let memory = rounds.get(key);
  if (!memory) {
    memory = new RoundMemory(foldsPlainUpdates(config));
    keepRecent(rounds, key, memory, ROUNDS_REMEMBERED);
  }
  return memory;
}
