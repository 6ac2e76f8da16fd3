import type { AggregatorConfig } from '../config/robust.js';
import { maxUpdatesThatFit, robustMemoryBytes, type AggregatorMemory } from './memory.js';
import { trimmedPerSide } from './order-statistics.js';

/**
 * A config problem as the experiment schema's cross-field rules report them: `path` for `ctx.addIssue({ path })`
 * and a message that says what is allowed and what was given; `formatProblem` renders it as shared/config/parse.ts
 * does ("aggregator.f: …").
 */
export interface ConfigProblem {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

export function formatProblem(problem: ConfigProblem): string {
  return `${problem.path.join('.')}: ${problem.message}`;
}

export interface RoundSize {
  /** clients asked to train each round (all of them, or what `sampling` asks for) */
  readonly clientsPerRound: number;
  /** the fewest updates a round can close with (round.minClients); defaults to clientsPerRound */
  readonly minClients?: number | undefined;
  /** when given, also refuse rounds whose updates would not fit the aggregator function's memory */
  readonly memory?: (AggregatorMemory & { readonly parameters: number }) | undefined;
}

/**
 * Why this aggregator cannot work with rounds of this size, one problem per cause (empty when it can). A round
 * holds between `minClients` and `clientsPerRound` updates, so each rule is checked where it is tightest: Krum's
 * n ≥ 2f + 3 and the trimmed mean's trimming at the smallest round, memory at the largest.
 */
export function robustProblems(aggregator: AggregatorConfig, round: RoundSize): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const sampled = round.clientsPerRound;
  const smallest = Math.min(round.minClients ?? sampled, sampled);
  const smallestText = smallest === sampled ? `${sampled} clients are sampled per round` : `a round can close with round.minClients = ${smallest} updates`;
  const at = (...path: (string | number)[]) => ['aggregator', ...path];

  switch (aggregator.kind) {
    case 'trimmed-mean': {
      if (!(aggregator.beta >= 0 && aggregator.beta < 0.5)) {
        problems.push({ path: at('beta'), message: `must be at least 0 and less than 0.5: trimming β·n updates from each side of n must leave some (got ${aggregator.beta})` });
        break;
      }
      const cut = trimmedPerSide(aggregator.beta, smallest);
      if (cut === 0 && aggregator.beta > 0) {
        problems.push({
          path: at('beta'),
          message: `trims ⌊β·n⌋ = 0 updates per side when ${smallestText}, so it is the plain mean; beta must be at least 1/${smallest} = ${roundUp(1 / smallest)} (got ${aggregator.beta})`,
        });
      }
      break;
    }
    case 'krum':
    case 'multi-krum': {
      const { f } = aggregator;
      if (f >= sampled) {
        problems.push({ path: at('f'), message: `must be less than the ${sampled} clients sampled per round (got ${f})` });
      } else if (smallest < 2 * f + 3) {
        const largest = Math.floor((smallest - 3) / 2);
        const fix = largest >= 0 ? `f must be at most ⌊(n − 3)/2⌋ = ${largest}` : 'Krum needs at least 3 updates per round';
        problems.push({ path: at('f'), message: `Krum tolerates f attackers only with n ≥ 2f + 3 = ${2 * f + 3} updates, but ${smallestText}; ${fix} (got ${f})` });
      }
      if (aggregator.kind === 'multi-krum' && aggregator.m !== undefined && aggregator.m > smallest - f) {
        problems.push({
          path: at('m'),
          message: `must be at most n − f = ${smallest} − ${f} = ${smallest - f} so that no attacker is averaged in when ${smallestText} (got ${aggregator.m})`,
        });
      }
      break;
    }
    default:
      break;
  }

  if (round.memory !== undefined && aggregator.kind !== 'mean') {
    const { parameters, memoryMb } = round.memory;
    const fit = maxUpdatesThatFit(aggregator.kind, parameters, round.memory);
    if (sampled > fit) {
      const needMiB = Math.ceil(robustMemoryBytes(aggregator.kind, parameters, sampled) / 2 ** 20);
      problems.push({
        path: at('kind'),
        message: `"${aggregator.kind}" holds every update of a round at once: ${sampled} updates of ${parameters} values need about ${needMiB} MiB besides the aggregator's baseline, and only ${fit} fit in its ${memoryMb} MB; sample at most ${fit} clients per round or use "mean"`,
      });
    }
  }
  return problems;
}

function roundUp(value: number): number {
  return Math.ceil(value * 1000) / 1000;
}
