/**
 * Scale on the local runtime, and a model of the AWS round time built from what it measures; writes docs/scale.md.
 *   npm run bench:scale -- [--clients 10,100,1000] [--rounds 2] [--population 1000] [--pairs 3] [--quick] [--resume] [--no-write]
 * --clients: clients sampled per round, one configuration each (MNIST split over --population clients, 60 samples
 * each). Every configuration runs in a child process (bench/scale-child.ts) with as many training worker threads as
 * `flambda run` starts for it (local/trainer-pool.ts) and the emulator where `flambda run` places it
 * (local/emulator-thread.ts), then once more with the emulator's other placement; --pairs: that pair of runs, at every
 * size, this many times in all, alternating which goes first. The largest once more with one training worker; two more small runs train
 * in-process to count the trainer's own S3 and SQS calls, each client in a container of its own (as on AWS) and all
 * in one warm container (as the local runtime's worker).
 * Results go to bench/scale-results.json after each configuration; --resume keeps the ones already there.
 * --quick: 10 and 100 clients a round, 1 round, 1 pair.
 * Then, per --clients, the aggregator's serial path alone (bench/scale-burst.ts): every update written first, all announced
 * at once, with the aggregator taking one message per invocation and with the stack's batches of 10, and (up to 100
 * updates) batches of 10 on an S3 slowed by 20 ms a request, each request in its message's turn and a batch's reads and
 * verdicts together; one after the other (interleaved). --no-burst skips them.
 * Last, each kind of request alone, SDK → emulator (bench/scale-floor.ts): the prices of the floor under the overhead.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { emulatorThreadFor } from '../local/emulator-thread.js';
import { trainBatchSize, trainerPoolSize } from '../local/trainer-pool.js';
import { describeMachine, withEndLoad, type MachineInfo } from './machine.js';
import { BURST_REPEATS, burstKey, burstVariants, type BurstOptions, type BurstResult } from './scale-burst.js';
import type { RequestCosts } from './scale-floor.js';
import type { ScaleRunOptions, ScaleRunResult } from './scale-run.js';
import { flag, positiveIntegers, runChild, SCALE_RESULTS_FILE as RESULTS_FILE } from './scale-child-process.js';
/** requests of each kind timed for the floor's prices */
const FLOOR_REPEATS = 300;

export interface ScaleResults {
  readonly date: string;
  readonly machine: MachineInfo;
  /** by key `${perRound}-of-${clients}-${rounds}r-${trainer}` */
  readonly runs: Record<string, ScaleRunResult>;
  /** the emulator's placements compared once more (--pairs), by the run's key and `-pair${n}`, n from 2 */
  readonly placementRepeats?: Record<string, ScaleRunResult>;
  /**
   * where `flambda run` gives a trainer invocation several clients: its runs against one client an invocation, pair by
   * pair (the order alternating), by the run's key and `-pair${n}`, n from 1
   */
  readonly trainBatchPairs?: Record<string, ScaleRunResult>;
  /** by key `burst-${perRound}-of-${clients}-batch${batchSize}-rep${repeat}` */
  readonly bursts?: Record<string, BurstResult>;
  /** one request of each kind, SDK → emulator, in a process of its own: the prices of the overhead's floor */
  readonly floor?: RequestCosts;
}


type PlannedRun = Required<Pick<ScaleRunOptions, 'perRound' | 'clients' | 'rounds' | 'trainer'>> & Pick<ScaleRunOptions, 'trainWorkers' | 'emulatorThread' | 'trainBatch'>;

export const runKey = (options: PlannedRun) =>
  `${options.perRound}-of-${options.clients}-${options.rounds}r-${options.trainer}${options.trainer === 'worker' ? `-w${options.trainWorkers ?? 1}` : ''}` +
  `${(options.trainBatch ?? 1) > 1 ? `-b${options.trainBatch}` : ''}${options.emulatorThread ? '-emulator-thread' : ''}`;


async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--help')) {
    console.log(
      'npm run bench:scale -- [--clients 10,100,1000] [--rounds 2] [--population 1000] [--pairs 3] [--quick] [--resume] [--no-write]\n' +
        '  --clients     clients sampled per round, one configuration each (default 10,100,1000)\n' +
        '  --rounds      rounds per configuration (default 2)\n' +
        '  --population  clients MNIST is split over, 60 samples each (default and at most 1000)\n' +
        '  --pairs       pairs of runs per size, the emulator on the main thread and on a thread of its own, alternating which goes first (default 3)\n' +
        '  --quick       10 and 100 clients a round, 1 round, 1 pair\n' +
        '  --resume      keep the configurations already in bench/scale-results.json\n' +
        '  --no-burst    skip the aggregator-only bursts (batches of 1 and of 10; up to 100 updates also on an S3 slowed by 20 ms, each request in its message\'s turn and a batch\'s together)\n' +
        '  --no-write    print the tables, leave docs/scale.md alone',
    );
    return;
  }
  const quick = args.includes('--quick');
  const perRoundList = positiveIntegers(flag(args, '--clients') ?? (quick ? '10,100' : '10,100,1000'), '--clients');
  const rounds = positiveIntegers(flag(args, '--rounds') ?? (quick ? '1' : '2'), '--rounds')[0]!;
  const population = positiveIntegers(flag(args, '--population') ?? '1000', '--population')[0]!;
  const pairs = positiveIntegers(flag(args, '--pairs') ?? (quick ? '1' : '3'), '--pairs')[0]!;
  if (population > 1000) throw new Error(`--population is at most 1000, the most clients a config may have (got ${population})`);
  const tooMany = perRoundList.find((n) => n > population);
  if (tooMany) throw new Error(`--clients ${tooMany} is more than the --population of ${population}`);

  const machine = await describeMachine();
  const previous: ScaleResults | undefined = args.includes('--resume') && existsSync(RESULTS_FILE) ? (JSON.parse(await readFile(RESULTS_FILE, 'utf8')) as ScaleResults) : undefined;
  const runs: Record<string, ScaleRunResult> = { ...(previous?.runs ?? {}) };
  const placementRepeats: Record<string, ScaleRunResult> = { ...(previous?.placementRepeats ?? {}) };
  const trainBatchPairs: Record<string, ScaleRunResult> = { ...(previous?.trainBatchPairs ?? {}) };
  const bursts: Record<string, BurstResult> = { ...(previous?.bursts ?? {}) };
  let floor = previous?.floor;
  const save = (end: MachineInfo) =>
    writeFile(RESULTS_FILE, `${JSON.stringify({ date: new Date().toISOString(), machine: end, runs, placementRepeats, trainBatchPairs, bursts, ...(floor ? { floor } : {}) } satisfies ScaleResults, null, 1)}\n`);

  const largestPerRound = Math.max(...perRoundList);
  // the trainer's own calls, counted in-process on a small round
  const countedRun = { perRound: Math.min(10, population), clients: population, rounds: 1, trainer: 'in-process' } as const;
  const warmRun = { perRound: Math.min(100, population), clients: population, rounds: 1, trainer: 'in-process-warm' } as const;
  const asRun = (perRound: number) => ({
    perRound,
    clients: population,
    rounds,
    trainer: 'worker' as const,
    trainWorkers: trainerPoolSize(perRound, machine.cores),
    trainBatch: trainBatchSize(perRound, trainerPoolSize(perRound, machine.cores)),
    emulatorThread: emulatorThreadFor(perRound),
  });
  const batched = perRoundList.filter((perRound) => asRun(perRound).trainBatch > 1);
  const otherPlacement = (run: PlannedRun) => ({ ...run, emulatorThread: !(run.emulatorThread ?? false) });
  const plan: { options: PlannedRun; key: string; into: Record<string, ScaleRunResult> }[] = [
    ...[
      countedRun,
      // and as a warm worker of the local runtime makes them (in the batches `flambda run` gives it), for the floor under the local overhead
      { ...warmRun, trainBatch: asRun(warmRun.perRound).trainBatch },
      // as many training workers as `flambda run` starts for that many clients here, the emulator where it places it,
      // and right after, the emulator's other placement: what its own thread changes
      ...perRoundList.flatMap((perRound) => [asRun(perRound), otherPlacement(asRun(perRound))]),
      // and the largest with one training worker, as this benchmark ran before: training one client at a time
      ...(trainerPoolSize(largestPerRound, machine.cores) > 1 ? [{ ...asRun(largestPerRound), trainWorkers: 1 }] : []),
    ].map((options) => ({ options, key: runKey(options), into: runs })),
    // the placements' pair again, the other one first every second time: one pair is within the runs' noise
    ...Array.from({ length: pairs - 1 }, (_, index) => index + 2).flatMap((pair) =>
      perRoundList.flatMap((perRound) => {
        const both = [asRun(perRound), otherPlacement(asRun(perRound))];
        return (pair % 2 === 0 ? both.reverse() : both).map((options) => ({ options, key: `${runKey(options)}-pair${pair}`, into: placementRepeats }));
      }),
    ),
    // where flambda run batches the trainer's clients: batched and one a time, pair by pair, the order alternating
    ...Array.from({ length: pairs }, (_, index) => index + 1).flatMap((pair) =>
      batched.flatMap((perRound) => {
        const both = [asRun(perRound), { ...asRun(perRound), trainBatch: 1 }];
        return (pair % 2 === 0 ? both.reverse() : both).map((options) => ({ options, key: `${runKey(options)}-pair${pair}`, into: trainBatchPairs }));
      }),
    ),
  ];
  for (const { options, key, into } of plan) {
    if (into[key]) {
      console.log(`${key}: kept from ${RESULTS_FILE}`);
      continue;
    }
    const started = Date.now();
    console.log(`${key}: running…`);
    const result = await runChild<ScaleRunResult>(options);
    into[key] = result;
    console.log(`${key}: ${result.state} in ${((Date.now() - started) / 1000).toFixed(0)} s, ${result.rounds.map((r) => `round ${r.round} ${(r.wallMs / 1000).toFixed(1)} s`).join(', ')}`);
    await save(withEndLoad(machine));
  }
  const burstPlan = args.includes('--no-burst')
    ? []
    : perRoundList.flatMap((perRound) =>
        Array.from({ length: BURST_REPEATS }, (_, repeat) =>
          burstVariants(perRound).map((variant) => ({ options: { clients: population, perRound, ...variant } satisfies BurstOptions, repeat })),
        ).flat(),
      );
  for (const { options, repeat } of burstPlan) {
    const key = burstKey(options, repeat);
    if (bursts[key]) {
      console.log(`${key}: kept from ${RESULTS_FILE}`);
      continue;
    }
    console.log(`${key}: running…`);
    const result = await runChild<BurstResult>({ burst: options });
    bursts[key] = result;
    console.log(`${key}: ${result.updates} updates in ${(result.wallMs / 1000).toFixed(1)} s, ${result.msPerUpdate.toFixed(1)} ms per update, ${result.invocations} invocations`);
    await save(withEndLoad(machine));
  }
  if (floor) console.log(`request costs: kept from ${RESULTS_FILE}`);
  else {
    const counted = runs[runKey(countedRun)];
    // The large bodies are an update's size: what the counted trainer wrote per update (its report is a few hundred bytes).
    const bodyBytes = counted && counted.updates > 0 ? Math.round(counted.counts.train.s3.putBytes / counted.updates) : 0;
    if (bodyBytes > 0) {
      console.log('request costs: running…');
      floor = await runChild<RequestCosts>({ floor: { repeats: FLOOR_REPEATS, bodyBytes } });
      await save(withEndLoad(machine));
    }
  }
  // Nothing new measured (--resume with every configuration kept): the file keeps the date and load of its runs.
  const measured = Object.keys(runs).length + Object.keys(placementRepeats).length + Object.keys(trainBatchPairs).length + Object.keys(bursts).length + (floor ? 1 : 0);
  const kept = previous
    ? Object.keys(previous.runs).length +
      Object.keys(previous.placementRepeats ?? {}).length +
      Object.keys(previous.trainBatchPairs ?? {}).length +
      Object.keys(previous.bursts ?? {}).length +
      (previous.floor ? 1 : 0)
    : 0;
  if (!previous || measured > kept) await save(withEndLoad(machine));
  const { writeScaleDoc } = await import('./scale-doc.js');
  await writeScaleDoc(JSON.parse(await readFile(RESULTS_FILE, 'utf8')) as ScaleResults, { write: !args.includes('--no-write'), perRound: perRoundList, rounds });
}

await main();
