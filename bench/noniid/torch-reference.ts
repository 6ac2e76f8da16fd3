import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ExperimentConfig, LocalObjectiveConfig } from '../../shared/config/schema.js';
import { loadMnistFromPackage } from '../../shared/data/mnist.js';
import { partitionIndices } from '../../shared/partition/index.js';
import { torchExperiment, torchExperimentSchema, type TorchExperiment, type TorchObjective } from '../torch.js';

/**
 * The PyTorch side of "reproduce before you trust": bench/reference/fedavg_torch.py with the same local objective,
 * on flambda's own partition of each seed (the exact shards), so the two engines differ only in their random
 * streams (initial weights, shuffles) and in the engine itself.
 */

export interface TorchCase {
  /** the bench's config key (e.g. "fedlc") whose objective and settings this mirrors */
  readonly key: string;
  readonly config: ExperimentConfig;
}

export interface TorchRun {
  readonly key: string;
  readonly seed: number;
  readonly result?: TorchExperiment;
  readonly failure?: string;
  readonly reused: boolean;
}

/** The one server step the reference has: only FedAvg configs can be mirrored. */
export function mirrorable(config: ExperimentConfig): boolean {
  // The reference trains on flambda's shards alone: it has no public subset to mix in.
  return config.strategy.name === 'fedavg' && config.personalization === undefined && config.sampling === undefined && config.sharedData === undefined && config.local.optimizer === 'sgd';
}

export function torchObjective(objective: LocalObjectiveConfig | undefined): TorchObjective {
  return objective ?? { kind: 'cross-entropy' };
}

/** run: always run; resume: reuse a result from the same arguments, run the rest; load: reuse only, run nothing. */
export type TorchMode = 'run' | 'resume' | 'load';

/**
 * Every case at every seed, one after the other (each uses both cores). Results are kept in `folder` with the
 * arguments that made them, so an interrupted comparison picks up where it stopped and a page can be rendered from
 * them; a case left out (mode load, no result yet) is simply absent from the list.
 */
export async function runTorchReference(
  cases: readonly TorchCase[],
  seeds: readonly number[],
  options: { readonly folder: string; readonly mode: (key: string) => TorchMode; readonly threads: number; readonly log?: (line: string) => void },
): Promise<TorchRun[]> {
  if (cases.length === 0) return [];
  let mnist: ReturnType<typeof loadMnistFromPackage> | undefined;
  await mkdir(options.folder, { recursive: true });
  const runs: TorchRun[] = [];
  for (const seed of seeds) {
    for (const { key, config } of cases) {
      const mode = options.mode(key);
      const seeded = { ...config, seed };
      const partitionFile = path.join(options.folder, `partition-${partitionName(seeded)}-s${seed}.json`);
      const request = {
        model: seeded.model,
        threads: options.threads,
        rounds: seeded.rounds,
        epochs: seeded.local.epochs,
        partitionFile,
        testSamples: seeded.testSamples,
        batchSize: seeded.local.batchSize,
        learningRate: seeded.local.learningRate,
        momentum: seeded.local.momentum,
        seed,
        objective: torchObjective(seeded.local.objective),
      };
      const resultFile = path.join(options.folder, `${key}-s${seed}.json`);
      if (mode !== 'run') {
        const previous = await readPrevious(resultFile, request);
        if (previous) {
          if (mode === 'resume') options.log?.(`↺ PyTorch ${key} seed ${seed}: reusing ${resultFile}`);
          runs.push({ key, seed, result: previous, reused: true });
          continue;
        }
        if (mode === 'load') continue;
      }
      const { clientIndices } = partitionIndices((await (mnist ??= loadMnistFromPackage())).train.labels, {
        clients: seeded.clients,
        partition: seeded.partition,
        seed,
        samplesPerClient: seeded.samplesPerClient,
      });
      await writeFile(partitionFile, JSON.stringify(clientIndices.map((indices) => Array.from(indices))));
      options.log?.(`▶ PyTorch ${key} seed ${seed}`);
      try {
        const result = await torchExperiment(request);
        await writeFile(resultFile, `${JSON.stringify({ request, result })}\n`);
        options.log?.(`  final accuracy ${(result.finalAccuracy * 100).toFixed(2)} % in ${(result.roundsMs / 1000).toFixed(0)} s`);
        runs.push({ key, seed, result, reused: false });
      } catch (error) {
        runs.push({ key, seed, failure: error instanceof Error ? error.message : String(error), reused: false });
      }
    }
  }
  return runs;
}

function partitionName(config: ExperimentConfig): string {
  const { partition } = config;
  const detail = partition.kind === 'shards' ? partition.shardsPerClient : partition.kind === 'dirichlet' ? partition.alpha : '';
  return `${partition.kind}${detail}-c${config.clients}${config.samplesPerClient === null ? '' : `-cap${config.samplesPerClient}`}`;
}

async function readPrevious(file: string, request: object): Promise<TorchExperiment | undefined> {
  try {
    const saved = JSON.parse(await readFile(file, 'utf8')) as { request?: unknown; result?: unknown };
    if (JSON.stringify(saved.request) !== JSON.stringify(request)) return undefined;
    const parsed = torchExperimentSchema.safeParse(saved.result);
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
