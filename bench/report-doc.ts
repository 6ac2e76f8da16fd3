import {
  best,
  endToEndMarkdown,
  formatProfileTables,
  integer,
  machineLines,
  pytorchReference,
  ratio,
  referenceBest,
  throughputMarkdown,
} from './report.js';
import type { BenchResults, EndToEndSuite, MachineResults, ProfileSuite, ThroughputSuite } from './results.js';

/** The goals of issue 17 that these benchmarks measure. */
const GOAL_SINGLE_CLIENT = 0.6;
const GOAL_END_TO_END = 1.0;

function throughputSection(suite: ThroughputSuite): string {
  const { settings, tfjs, torch } = suite;
  const details = Object.entries(tfjs.details)
    .filter(([key]) => key !== 'binary' && key !== 'trainingKernels')
    .map(([key, value]) => `${key} ${String(value)}`)
    .join(', ');
  const against = (variant: Parameters<typeof referenceBest>[2], over: Parameters<typeof referenceBest>[2], invert = false) =>
    suite.rows
      .filter((row) => row.variant === variant)
      .map((row) => {
        const other = referenceBest(suite, row.model, over) ?? Number.NaN;
        return `${row.model} ${invert ? ratio(other, best(row)) : ratio(best(row), other)}`;
      })
      .join(', ');
  const sentences = [
    `PyTorch with 2 threads against flambda's single client: ${against('tfjs-single', 'torch-2', true)}.`,
    suite.rows.some((row) => row.variant === 'tfjs-single-xnnpack')
      ? `Our FMA kernels against XNNPACK (FLAMBDA_WASM_FMA=off), one client: ${against('tfjs-single', 'tfjs-single-xnnpack')}; ${settings.parallelClients} clients: ${against('tfjs-parallel', 'tfjs-parallel-xnnpack')}.`
      : '',
    suite.rows.some((row) => row.variant === 'tfjs-single-tape')
      ? `The fused step against tfjs autograd (the tape loop, with our kernel fixes), one client: ${against('tfjs-single', 'tfjs-single-tape')}.`
      : '',
    `${settings.parallelClients} clients in parallel worker threads against flambda's single client, in total: ${against('tfjs-parallel', 'tfjs-single')}.`,
    suite.rows.some((row) => row.variant === 'torch-1-glibc')
      ? `PyTorch with freed memory kept against glibc's default malloc (1 thread): ${against('torch-1', 'torch-1-glibc')} (see below).`
      : '',
  ];
  return [
    "### Local training speed (one client's `trainLocal`)",
    '',
    ...machineLines(suite),
    `- flambda: TensorFlow.js ${tfjs.tfjsVersion}, backend \`${tfjs.backend}\` (${details}), our training loop (shared/engine/train.ts; on wasm the fused step of shared/engine/fused-wasm.ts)`,
    `- PyTorch ${torch.torchVersion} (${torch.debianPackage ? `Debian python3-torch ${torch.debianPackage}` : 'not from Debian'}, Python ${torch.pythonVersion}), BLAS: ${torch.blas}; oneDNN ${torch.mkldnn ? 'on' : 'off'}`,
    `- Work: the first ${integer.format(settings.samples)} MNIST training images, one epoch, batch ${settings.batchSize}, SGD lr ${settings.learningRate} momentum ${settings.momentum}; ${settings.warmupBatches} warm-up batches before the clock starts; ${settings.repeats} interleaved round(s) (every engine once per round, order rotated); the best run leads, since other work on a shared machine only ever slows a run down, and the ratios compare best runs`,
    '',
    throughputMarkdown(suite),
    '',
    sentences.filter(Boolean).join(' '),
  ].join('\n');
}

function profileSection(suite: ProfileSuite): string {
  return [
    "### Where a training step's time goes",
    '',
    ...machineLines(suite),
    `- The fused step of shared/engine/fused-wasm.ts timed phase by phase (\`npm run bench:profile\`), for each kind of convolution kernels this runtime has; relaxed SIMD: ${suite.settings.relaxedSimd}. ${suite.settings.clock === 'cpu' ? "CPU time of the process, which other work on the machine disturbs less than the clock on the wall (it still inflates it: compare columns, not machines)." : 'Wall-clock time.'}`,
    '',
    formatProfileTables(suite),
  ].join('\n');
}

function endToEndSection(suite: EndToEndSuite): string {
  const { settings } = suite;
  return [
    '### End to end: the original experiment',
    '',
    ...machineLines(suite),
    `- ${settings.clients} clients × ${settings.rounds} rounds, ${settings.samplesPerClient === null ? 'all 60,000 MNIST training images' : `${integer.format(settings.samplesPerClient)} MNIST training images per client`}, ${settings.model}, E = ${settings.epochs}, B = ${settings.batchSize}, SGD lr ${settings.learningRate} momentum ${settings.momentum}, FedAvg, seed ${settings.seed}; test accuracy on ${settings.testSamples === null ? 'all 10,000' : `the first ${integer.format(settings.testSamples)}`} test images after every round`,
    `- flambda: \`flambda run\` on the local runtime (fauxqs S3 + SQS in process, train workers in worker threads), a separate process; the XNNPACK row runs it with FLAMBDA_WASM_FMA=off`,
    `- PyTorch: bench/reference/fedavg_torch.py --experiment with ${settings.torchThreads.join(' and ')} thread(s), clients trained one after another on flambda's exact shards`,
    `- "rounds 1–${settings.rounds} wall": first round's start to the last round's evaluation (flambda's \`summary.wallMs\`); "process wall": the whole command, start-up included`,
    '',
    endToEndMarkdown(suite),
  ].join('\n');
}

/** "0.45× (goal ≥ 0.6×: 1.3× to go)" */
function towards(value: number | undefined, goal: number, higherIsBetter: boolean): string {
  if (value === undefined || !Number.isFinite(value)) return '–';
  const shown = value >= 1 ? value.toFixed(2) : value.toFixed(2);
  const met = higherIsBetter ? value >= goal : value <= goal;
  const distance = higherIsBetter ? goal / value : value / goal;
  return `${shown}× (${met ? 'goal met' : `${distance.toFixed(2)}× short`})`;
}

function summaryRow(kind: string, results: MachineResults): string[] {
  const { throughput, endToEnd } = results;
  const vsTorch = (model: string, variant: 'tfjs-single' | 'tfjs-parallel') => {
    if (!throughput) return undefined;
    const row = throughput.rows.find((candidate) => candidate.model === model && candidate.variant === variant);
    const torch = referenceBest(throughput, model, 'torch-2');
    return row && torch ? best(row) / torch : undefined;
  };
  const fmaGain = (model: string) => {
    if (!throughput) return '–';
    const xnnpack = referenceBest(throughput, model, 'tfjs-single-xnnpack');
    const ours = referenceBest(throughput, model, 'tfjs-single');
    return ratio(ours ?? Number.NaN, xnnpack);
  };
  const e2e = (partition: string) => {
    if (!endToEnd) return undefined;
    const flambda = endToEnd.rows.find((row) => row.partition === partition && row.label === 'flambda local runtime')?.run;
    const torch = pytorchReference(endToEnd, partition);
    return flambda?.status === 'ok' && torch?.status === 'ok' ? flambda.roundsMs / torch.roundsMs : undefined;
  };
  const flags = (throughput ?? endToEnd ?? results.profile)?.machine.cpuFlags;
  return [
    `${kind}${flags ? ` (${flags.join(', ')})` : ''}`,
    [...new Set([throughput?.date, endToEnd?.date].filter((date) => date !== undefined).map((date) => date.slice(0, 10)))].join(', '),
    towards(vsTorch('cnn-small', 'tfjs-single'), GOAL_SINGLE_CLIENT, true),
    ratio(vsTorch('cnn-small', 'tfjs-parallel') ?? Number.NaN, 1),
    ratio(vsTorch('cnn-mcmahan', 'tfjs-single') ?? Number.NaN, 1),
    `${fmaGain('cnn-small')} / ${fmaGain('cnn-mcmahan')}`,
    towards(e2e('iid'), GOAL_END_TO_END, false),
    towards(e2e('label-skew'), GOAL_END_TO_END, false),
  ];
}

function summarySection(results: BenchResults, kinds: readonly string[]): string {
  const header = [
    'machine kind (SIMD)',
    'measured',
    'cnn-small, 1 client, vs PyTorch 2 threads (goal ≥ 0.6×)',
    'cnn-small, parallel clients, vs PyTorch 2 threads',
    'cnn-mcmahan, 1 client, vs PyTorch 2 threads',
    'FMA kernels vs XNNPACK, 1 client (cnn-small / cnn-mcmahan)',
    'original experiment, IID: time vs PyTorch 2 threads (goal ≤ 1.0×)',
    'label skew: time vs PyTorch 2 threads (goal ≤ 1.0×)',
  ];
  const rows = kinds.map((kind) => summaryRow(kind, results.machines[kind]!));
  const escape = (cell: string) => cell.replaceAll('|', '\\|');
  const table = [
    `| ${header.map(escape).join(' | ')} |`,
    `| ${header.map((_, i) => (i < 2 ? '---' : '---:')).join(' | ')} |`,
    ...rows.map((row) => `| ${row.map(escape).join(' | ')} |`),
  ].join('\n');
  const intelMissing = !kinds.some((kind) => /intel/i.test(kind));
  return [
    '## Summary by machine kind',
    '',
    'Our machines come as AMD EPYC or Intel Xeon (with AVX-512), and the same code runs at different speeds on them',
    'relative to PyTorch, so every figure below says which kind it comes from, and each kind keeps its own latest runs.',
    kinds.length === 0 ? 'Nothing measured yet: run `npm run bench:train`.' : '',
    intelMissing && kinds.length > 0
      ? 'No Intel Xeon run is recorded yet: `npm run bench:train` (and `-- --e2e`) on one adds its section without touching the others.'
      : '',
    '',
    kinds.length > 0 ? table : '',
  ]
    .filter((line, i, all) => line !== '' || all[i - 1] !== '')
    .join('\n');
}

function machineSection(kind: string, results: MachineResults): string {
  return [
    `## ${kind}`,
    '',
    results.throughput ? throughputSection(results.throughput) : '### Local training speed\n\nNot measured on this kind of machine yet: run `npm run bench:train`.',
    '',
    results.profile ? profileSection(results.profile) : "### Where a training step's time goes\n\nNot measured on this kind of machine yet: run `npm run bench:train`.",
    '',
    results.endToEnd ? endToEndSection(results.endToEnd) : '### End to end: the original experiment\n\nNot measured on this kind of machine yet: run `npm run bench:train -- --e2e`.',
  ].join('\n');
}

const WHAT_LIMITS_US = `## What limits us

- **What we did.** On wasm, flambda trains with a fused step (shared/engine/fused-wasm.ts) instead of a tfjs
  gradient tape: forward and backward written out for our layers, max-pool, relu and bias gradients in one pass
  over the wasm heap, the SGD update in place. Where the runtime has WebAssembly relaxed SIMD (Node 22, and Node
  20 with V8's \`--experimental-wasm-relaxed-simd\`, which flambda switches on at start) and the CPU a fused
  multiply-add, the convolutions and matrix products are our own kernels (shared/engine/simd/conv.wat, checked
  against float64 arithmetic and tfjs autograd in the tests): 4 × 8 blocks of outputs in eight accumulators,
  \`f32x4.relaxed_madd\`, filters packed in panels of 8 outputs, pixels taken in blocks of 4 across row ends, the
  pooling backward pass writing dz in the layouts the gradient kernels read. Elsewhere XNNPACK runs them, as
  before (\`FLAMBDA_WASM_FMA=off\` forces that; the XNNPACK rows above are that setting). Evaluation goes through
  the same forward pass where our kernels run (about half the CPU of the tfjs model's; no gain on XNNPACK).
- **128-bit SIMD is the ceiling.** WebAssembly has 128-bit vectors only: a core does at most two four-wide
  multiply-adds a cycle, while PyTorch runs oneDNN and OpenBLAS with 256-bit AVX2 (or AVX-512) FMA, twice the
  width or more, and two threads. The profile above shows what is left of our step: mostly the convolutions'
  forward passes, filter and input gradients and the dense layers, all multiply-adds; pooling, the optimizer and
  copies take the rest. On Intel Xeon machines, where a multiply and an add compete for the same two ports an
  FMA uses, XNNPACK's multiply + add code runs at half the FMA rate, so our kernels should gain more there than on
  AMD EPYC (not measured yet).
- **One thread per client, so clients train in parallel.** tfjs 4.22 hard-codes wasm multithreading off under
  Node (its thread pool needs \`blob:\` worker URLs). Clients are independent, so the local runtime trains them
  in worker threads, as separate Lambdas do in the cloud: the "parallel" row is the one to compare with a
  sequential PyTorch script running 2 threads. \`flambda run\` sizes that pool to the round (local/trainer-pool.ts):
  with 5 clients on 2 cores, 2 workers leave the fifth client training alone on one core while the other idles;
  3 workers share both cores to the end of the round.
- **PyTorch's threads are fragile under load.** With 2 OpenMP threads on 2 cores, any other busy process stalls
  every parallel region (we have seen 5,200 → 1,550 samples/s); 1 thread degrades gracefully. Compare runs only
  with a low load average, and read both PyTorch rows.
- **PyTorch pays for returning memory on this VM.** glibc hands each batch's freed activations back to the kernel;
  on VMs that report free pages to the host (virtio-balloon), re-touching them costs a host fault (~20 µs a page
  here). The reference keeps freed memory (\`mallopt\`, \`--malloc keep\`) so it measures PyTorch, not the VM;
  tfjs's wasm heap never shrinks, so it does not pay this either way.
- **Not measured here:** \`@tensorflow/tfjs-node\` cannot be installed offline.`;

/** docs/benchmarks.md from the stored results. */
export function renderBenchmarksDoc(results: BenchResults): string {
  const kinds = Object.keys(results.machines).sort();
  return [
    '# Benchmarks: client training, flambda vs PyTorch',
    '',
    '<!-- Generated by `npm run bench:train` (bench/train.ts) from bench/benchmarks.json: edit the generator, not this file. -->',
    '',
    'Every FedAvg round waits for client training, so this compares our training loop (TensorFlow.js) with the',
    'PyTorch script a user would otherwise write (bench/reference/fedavg_torch.py): same MNIST files, same models',
    '(layer for layer, same parameter counts), same batch size, optimizer and samples, run interleaved on the same',
    'machine. Reproduce with `npm run bench:train` (training speed and the step profile, ~5 min on 2 cores) and',
    '`npm run bench:train -- --e2e` (adds the end-to-end runs, ~12 min more). `bench/setup-python.sh` installs',
    "Debian's python3-torch and libopenblas0-openmp when missing (without OpenBLAS, Debian's torch falls back to",
    'the reference BLAS, ~5× slower).',
    '',
    summarySection(results, kinds),
    '',
    ...kinds.flatMap((kind) => [machineSection(kind, results.machines[kind]!), '']),
    WHAT_LIMITS_US,
    '',
  ].join('\n');
}
