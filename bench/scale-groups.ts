/**
 * A tree of sums on the local runtime (config round.groups, docs/protocol.md): each size run with one group and with
 * treeGroups(size) groups, one right after the other, the order alternating pair by pair, as `flambda run` runs them
 * (its training workers, the emulator where it places it):
 *   npm run bench:scale-groups -- [--clients 100,1000] [--rounds 2] [--pairs 2] [--no-write]
 * Results go to bench/scale-groups-results.json, then docs/scale.md is written again from both results files.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { emulatorThreadFor } from '../local/emulator-thread.js';
import { trainerPoolSize } from '../local/trainer-pool.js';
import { describeMachine, withEndLoad, type MachineInfo } from './machine.js';
import { flag, positiveIntegers, runChild, SCALE_GROUPS_RESULTS_FILE, SCALE_RESULTS_FILE } from './scale-child-process.js';
import { groupsTable, type GroupsResults } from './scale-groups-doc.js';
import { treeGroups } from './scale-model.js';
import type { ScaleRunOptions, ScaleRunResult } from './scale-run.js';
import type { ScaleResults } from './scale.js';

const POPULATION = 1000;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--help')) {
    console.log(
      'npm run bench:scale-groups -- [--clients 100,1000] [--rounds 2] [--pairs 2] [--no-write]\n' +
        '  --clients  clients sampled per round (of 1,000, 60 samples each), each run with 1 group and with about √n\n' +
        '  --rounds   rounds per run (default 2)\n' +
        '  --pairs    pairs of runs per size, one group and √n groups, alternating which goes first (default 2)\n' +
        '  --no-write print the table, leave docs/scale.md alone',
    );
    return;
  }
  const sizes = positiveIntegers(flag(args, '--clients') ?? '100,1000', '--clients');
  const rounds = positiveIntegers(flag(args, '--rounds') ?? '2', '--rounds')[0]!;
  const pairs = positiveIntegers(flag(args, '--pairs') ?? '2', '--pairs')[0]!;
  const tooSmall = sizes.find((size) => treeGroups(size) < 2 || size > POPULATION);
  if (tooSmall !== undefined) throw new Error(`--clients ${tooSmall}: groups need 100 to ${POPULATION} clients a round (treeGroups gives 1 below 100)`);
  const machine: MachineInfo = await describeMachine();
  const runs: Record<string, ScaleRunResult> = {};
  const save = () => writeFile(SCALE_GROUPS_RESULTS_FILE, `${JSON.stringify({ date: new Date().toISOString(), machine: withEndLoad(machine), runs } satisfies GroupsResults, null, 1)}\n`);
  for (let pair = 1; pair <= pairs; pair++) {
    for (const perRound of sizes) {
      const asRun: ScaleRunOptions = {
        perRound,
        clients: POPULATION,
        rounds,
        trainer: 'worker',
        trainWorkers: trainerPoolSize(perRound, machine.cores),
        emulatorThread: emulatorThreadFor(perRound),
      };
      const both = [1, treeGroups(perRound)];
      for (const groups of pair % 2 === 1 ? both : both.reverse()) {
        const key = `${perRound}-g${groups}-pair${pair}`;
        console.log(`${key}: running…`);
        const result = await runChild<ScaleRunResult>({ ...asRun, groups });
        runs[key] = result;
        console.log(`${key}: ${result.state}, ${result.rounds.map((round) => `round ${round.round} ${(round.wallMs / 1000).toFixed(1)} s, ${round.overheadMsPerUpdate.toFixed(1)} ms overhead per update`).join('; ')}`);
        await save();
      }
    }
  }
  const results = JSON.parse(await readFile(SCALE_GROUPS_RESULTS_FILE, 'utf8')) as GroupsResults;
  console.log(`\n${groupsTable(results)}`);
  if (args.includes('--no-write')) return;
  const scale = JSON.parse(await readFile(SCALE_RESULTS_FILE, 'utf8')) as ScaleResults;
  const { writeScaleDoc, scaleDocOptionsOf } = await import('./scale-doc.js');
  await writeScaleDoc(scale, { write: true, ...scaleDocOptionsOf(scale) });
}

await main();
