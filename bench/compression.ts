/**
 * `npm run bench:compression`: the original study (MNIST, 5 clients, 5 rounds, cnn-small; IID and label skew,
 * examples/mnist-iid.json and examples/mnist-label-skew.json) with each update compression, each cell a real
 * `flambda run`: bytes up per client per round as metered, final accuracy, and its loss against float32. Writes
 * docs/compression.md (section compression-results).
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { replaceDocSection } from './doc-section.js';
import { finalAccuracies, GridConfigError, listFlag, loadRange, meanFinalAccuracy, NOT_RUN, percent, runGridCell, type GridResult } from './grid-run.js';
import { describeMachine, withEndLoad } from './machine.js';

const HELP = `Usage: npm run bench:compression -- [options]

  --kinds a,b        of none, float16, int8, topk-1, topk-10, topk-1-noef, topk-1-tensor (default all)
  --partitions a,b   of iid, label-skew (default both)
  --rounds N         rounds per run (default 5, as the original study)
  --seeds 1,2        seeds per cell (default 42)
  --quick            samplesPerClient 300, testSamples 1000 (default: the study's whole shards, all test images)
  --out DIR          result folders (default results/bench-compression)
  --resume           reuse completed runs in --out that ran exactly the same config
  --saved-only       run nothing: render the table from the runs saved in --out, the others shown as not run yet
  --no-write         print the table only`;

const KINDS = {
  none: { label: 'float32 (none)', compression: undefined },
  float16: { label: 'float16', compression: { kind: 'float16' } },
  int8: { label: 'int8, stochastic rounding', compression: { kind: 'int8' } },
  // Every top-k config names its scope: runs saved before scopes existed were per tensor and must not be reused as model-wide.
  'topk-1': { label: 'top-k 1 % of the model + error feedback', compression: { kind: 'topk', ratio: 0.01, scope: 'model', errorFeedback: true } },
  'topk-10': { label: 'top-k 10 % of the model + error feedback', compression: { kind: 'topk', ratio: 0.1, scope: 'model', errorFeedback: true } },
  'topk-1-noef': { label: 'top-k 1 % of the model, no error feedback', compression: { kind: 'topk', ratio: 0.01, scope: 'model', errorFeedback: false } },
  // The per-layer choice of Deep Gradient Compression: 13 of the 1,280 logits weights and 2 of conv1's 144 weights a round.
  'topk-1-tensor': { label: 'top-k 1 % of each tensor + error feedback', compression: { kind: 'topk', ratio: 0.01, scope: 'tensor', errorFeedback: true } },
} as const;
type KindName = keyof typeof KINDS;
const KIND_NAMES = Object.keys(KINDS) as KindName[];
const PARTITIONS = { iid: 'examples/mnist-iid.json', 'label-skew': 'examples/mnist-label-skew.json' } as const;
type PartitionName = keyof typeof PARTITIONS;
const PARTITION_NAMES = Object.keys(PARTITIONS) as PartitionName[];

const { values } = parseArgs({
  options: {
    kinds: { type: 'string' },
    partitions: { type: 'string' },
    rounds: { type: 'string', default: '5' },
    seeds: { type: 'string', default: '42' },
    quick: { type: 'boolean', default: false },
    out: { type: 'string', default: 'results/bench-compression' },
    resume: { type: 'boolean', default: false },
    'saved-only': { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

/** Metered bytes up per accepted update, over every round of every completed seed. */
function bytesPerUpdate(results: readonly GridResult[]): number | undefined {
  let bytes = 0;
  let updates = 0;
  for (const result of results) {
    for (const round of result.metrics?.rounds ?? []) {
      bytes += round.bytes.up;
      updates += round.clients.length;
    }
  }
  return updates ? bytes / updates : undefined;
}

async function main(): Promise<number> {
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const kinds = listFlag('kinds', values.kinds, KIND_NAMES, (item) => KIND_NAMES.find((name) => name === item));
  const partitions = listFlag('partitions', values.partitions, PARTITION_NAMES, (item) => PARTITION_NAMES.find((name) => name === item));
  const seeds = listFlag('seeds', values.seeds, [42], (item) => (/^\d+$/.test(item) ? Number(item) : undefined));
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) throw new GridConfigError(`--rounds must be a positive integer (got ${values.rounds})`);
  if (!kinds.includes('none')) kinds.unshift('none');

  const machine = await describeMachine();
  const cells = new Map<string, GridResult[]>();
  const tag = values.quick ? 'quick-' : '';
  for (const partition of partitions) {
    const { $schema: _editorOnly, name: _name, ...study } = JSON.parse(await readFile(PARTITIONS[partition], 'utf8')) as Record<string, unknown>;
    for (const kind of kinds) {
      const results: GridResult[] = [];
      for (const seed of seeds) {
        const id = `compression-${tag}${partition}-${kind}-r${rounds}-s${seed}`;
        const compression = KINDS[kind].compression;
        console.log(`\n▶ ${id}`);
        results.push(
          await runGridCell(values.out!, id, {
            ...study, rounds, seed, ...(compression ? { compression } : {}),
            ...(values.quick ? { samplesPerClient: 300, testSamples: 1000 } : {}),
          }, values.resume!, values['saved-only']),
        );
      }
      cells.set(`${partition}|${kind}`, results);
    }
  }
  const finished = withEndLoad(machine);
  const all = [...cells.values()].flat();

  const header = [
    'partition', 'compression', 'bytes up per client per round', 'of float32',
    seeds.length > 1 ? 'final accuracy: mean (seeds\' range)' : 'final accuracy',
    'loss against float32 (points, mean over seeds)',
    ...(seeds.length > 1 ? ['largest loss at one seed against float32 at that seed (points)'] : []),
  ];
  /** Points lost against float32 at each seed both completed: a mean over other seeds would compare other draws. */
  const seedLosses = (results: readonly GridResult[], reference: readonly GridResult[]) =>
    seeds.flatMap((_, index) => {
      const [own, float32] = [results[index], reference[index]].map((result) => (result ? finalAccuracies([result])[0] : undefined));
      return own !== undefined && float32 !== undefined ? [(float32 - own) * 100] : [];
    });
  /** The seeds' lowest and highest final accuracy: a mean alone hides how far one seed can land from it. */
  const seedRange = (results: readonly GridResult[]) => {
    const finals = finalAccuracies(results);
    const range = finals.length > 1 ? ` (${percent(Math.min(...finals), 2)}–${percent(Math.max(...finals), 2)})` : '';
    return `${range}${finals.length < results.length ? ` [${finals.length}/${results.length} seeds]` : ''}`;
  };
  const rows = partitions.flatMap((partition) => {
    const reference = cells.get(`${partition}|none`) ?? [];
    const referenceBytes = bytesPerUpdate(reference);
    return kinds.map((kind) => {
      const results = cells.get(`${partition}|${kind}`) ?? [];
      const bytes = bytesPerUpdate(results);
      const accuracy = meanFinalAccuracy(results);
      const losses = seedLosses(results, reference);
      const loss = losses.length ? (losses.reduce((sum, value) => sum + value, 0) / losses.length).toFixed(2) : '—';
      // The goal must hold at every seed, not only on average.
      const worst = losses.length ? Math.max(...losses).toFixed(2) : '—';
      return [
        partition,
        KINDS[kind].label,
        bytes !== undefined ? Math.round(bytes).toLocaleString('en-US') : '—',
        bytes !== undefined && referenceBytes ? percent(bytes / referenceBytes, 2) : '—',
        accuracy !== undefined ? `${percent(accuracy, 2)}${seedRange(results)}` : (results[0]?.failure ?? 'not run'),
        kind === 'none' ? '—' : loss,
        ...(seeds.length > 1 ? [kind === 'none' ? '—' : worst] : []),
      ];
    });
  });
  const table = [`| ${header.join(' | ')} |`, `| --- | --- | ${header.slice(2).map(() => '---:').join(' | ')} |`, ...rows.map((row) => `| ${row.join(' | ')} |`)].join('\n');
  const failures = all.flatMap((result) => (result.failure && result.failure !== NOT_RUN ? [`- ${result.id}: ${result.failure}`] : []));
  const notRun = all.filter((result) => result.failure === NOT_RUN);
  // What reproduces the table: --resume and --saved-only only choose what to reuse.
  const rerunArgs = process.argv.slice(2).filter((arg) => arg !== '--saved-only' && arg !== '--resume');
  const scale = values.quick ? 'samplesPerClient 300, testSamples 1,000 (--quick)' : 'the study\'s whole shards, all 10,000 test images';
  const body = [
    `Measured by \`npm run bench:compression${rerunArgs.length ? ` -- ${rerunArgs.join(' ')}` : ''}\` on ${new Date().toISOString().slice(0, 10)}: ${machine.cpuModel}, ${machine.cores} cores, Node ${machine.nodeVersion},`,
    `load average ${machine.loadAverage.start} at the start and ${finished.loadAverage.end} at the end (per run: ${loadRange(all)}).`,
    `The original study (MNIST, 5 clients, cnn-small, ${rounds} rounds; examples/mnist-iid.json and examples/mnist-label-skew.json), ${scale};`,
    `seeds ${seeds.join(', ')}. Bytes up are the round metrics' metered update bytes divided by the accepted updates; accuracy is the final round's.`,
    '',
    table,
    ...(failures.length ? ['', 'Failed:', '', ...failures] : []),
    ...(notRun.length ? ['', `${notRun.length} run(s) have not been measured yet (\`--resume\` runs them). A row marked [n/${seeds.length} seeds] averages the seeds that were, and its losses compare float32 at those seeds.`] : []),
  ].join('\n');
  console.log(`\n${body}`);
  if (!values['no-write']) await replaceDocSection('docs/compression.md', 'compression-results', body);
  return failures.length || (notRun.length && !values['saved-only']) ? 1 : 0;
}

try {
  process.exitCode = await main();
} catch (error) {
  if (!(error instanceof GridConfigError)) throw error;
  console.error(`bench:compression: ${error.message}`);
  process.exitCode = 1;
}
