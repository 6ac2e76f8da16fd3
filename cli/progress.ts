import cliProgress from 'cli-progress';
import type { Progress } from './watch.js';

/** Where `flambda run` shows progress: a live bar when both streams are terminals, else a line per round. */
export interface ProgressOutput {
  /** draw a bar (cli-progress frames) rather than a line per round */
  readonly tty: boolean;
  /** the bar's stream (default stderr, where cli-progress draws) */
  readonly stream?: NodeJS.WritableStream;
  /** the line per round (default console.log) */
  readonly line?: (text: string) => void;
}

export interface ProgressDisplay {
  update(progress: Progress): void;
  stop(): void;
}

/** The bar's resolution per round: a round is done when all the clients sampled for it have answered. */
const STEPS_PER_ROUND = 1000;

const accuracyText = (progress: Progress) => (progress.lastAccuracy === undefined ? '—' : `${(progress.lastAccuracy * 100).toFixed(2)} %`);

/**
 * Progress of one experiment: the round, and the clients that answered out of those sampled for it (the round state's
 * expected clients, not the whole federation: with `sampling` a round asks only some). One line per round when output
 * goes to a log (CI), where a bar's frames would be noise.
 */
export function createProgressDisplay(rounds: number, output: ProgressOutput): ProgressDisplay {
  if (!output.tty) {
    const line = output.line ?? ((text: string) => console.log(text));
    let lastRound = -1;
    return {
      update: (progress) => {
        if (progress.round === lastRound) return;
        lastRound = progress.round;
        const accuracy = progress.lastAccuracy === undefined ? '' : `, last accuracy ${accuracyText(progress)}`;
        line(progress.round === 0 ? '  partitioning…' : `  round ${progress.round}/${progress.rounds} · ${progress.clientsExpected} clients sampled${accuracy}`);
      },
      stop: () => {},
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      format: '  round {round}/{rounds} · {clients} clients |{bar}| accuracy {accuracy} | {duration_formatted}',
      hideCursor: true,
      ...(output.stream ? { stream: output.stream } : {}),
    },
    cliProgress.Presets.shades_classic,
  );
  const total = rounds * STEPS_PER_ROUND;
  bar.start(total, 0, { round: 0, rounds, clients: '0/0', accuracy: '—' });
  return {
    update: (progress) => {
      const share = progress.clientsExpected > 0 ? Math.min(1, progress.clientsDone / progress.clientsExpected) : 0;
      const done = Math.max(0, progress.round - 1) * STEPS_PER_ROUND + Math.floor(share * STEPS_PER_ROUND);
      bar.update(Math.min(done, total), {
        round: progress.round,
        rounds: progress.rounds || rounds,
        clients: `${progress.clientsDone}/${progress.clientsExpected}`,
        accuracy: accuracyText(progress),
      });
    },
    stop: () => bar.stop(),
  };
}
