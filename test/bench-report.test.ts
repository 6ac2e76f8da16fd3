import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderBenchmarksDoc } from '../bench/report-doc.js';
import { formatThroughputTable } from '../bench/report.js';
import { mergeResults, readResults, type EndToEndSuite, type ProfileSuite, type ThroughputSuite } from '../bench/results.js';

const machine = (otherCpuShare: number, cpuModel = 'Test CPU') => ({
  cpuModel,
  cores: 2,
  memoryGiB: 4,
  os: 'Test OS',
  nodeVersion: 'v20.0.0',
  loadAverage: { start: 0.5, end: 3 },
  otherCpuShare,
});

type Medians = Partial<Record<'tfjs-single' | 'tfjs-single-xnnpack' | 'tfjs-parallel' | 'torch-2' | 'torch-1', number>>;

function throughputSuite(medians: Medians, otherCpuShare = 0.01, cpuModel = 'Test CPU'): ThroughputSuite {
  return {
    date: '2026-01-01T00:00:00.000Z',
    durationSeconds: 1,
    machine: machine(otherCpuShare, cpuModel),
    settings: { samples: 64, warmupBatches: 1, repeats: 1, parallelClients: 2, batchSize: 32, learningRate: 0.05, momentum: 0.9, models: ['cnn-small'] },
    tfjs: { backend: 'wasm', tfjsVersion: '4.22.0', details: { threads: 1 } },
    torch: { torchVersion: '1.13', pythonVersion: '3.11', blas: 'openblas', mkldnn: true },
    rows: (Object.entries(medians) as [keyof typeof medians, number][]).map(([variant, median]) => ({
      variant,
      engine: variant.startsWith('tfjs') ? 'tfjs' : 'pytorch',
      label: variant,
      threads: '1',
      model: 'cnn-small',
      runs: [median],
      median,
    })),
  };
}

const endToEnd: EndToEndSuite = {
  date: '2026-01-01T00:00:00.000Z',
  durationSeconds: 1,
  machine: machine(0.01),
  settings: { model: 'cnn-small', clients: 5, rounds: 5, epochs: 1, batchSize: 32, learningRate: 0.05, momentum: 0.9, seed: 42, samplesPerClient: null, testSamples: null, torchThreads: [2] },
  rows: [
    { partition: 'iid', system: 'flambda', label: 'flambda local runtime', run: { status: 'unavailable', reason: 'not available yet: bin/flambda.js does not exist' } },
    {
      partition: 'iid',
      system: 'pytorch',
      label: 'PyTorch, 2 threads',
      run: { status: 'ok', roundsMs: 50_000, processMs: 52_000, finalAccuracy: 0.98, accuracyPerRound: [0.9, 0.98], labelHistograms: [[1, 0, 2, 0, 0, 0, 0, 0, 0, 0]], engine: 'PyTorch' },
    },
  ],
};

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bench-report-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const profile: ProfileSuite = {
  date: '2026-01-01T00:00:00.000Z',
  durationSeconds: 1,
  machine: machine(0.01),
  settings: { steps: 10, rounds: 1, batchSize: 32, clock: 'cpu', relaxedSimd: 'flag, fused' },
  models: [
    {
      model: 'cnn-small',
      variants: [
        { kernels: 'xnnpack', msPerStep: 20, phases: [{ phase: 'conv 2 forward', ms: 5 }] },
        { kernels: 'fma', msPerStep: 10, phases: [{ phase: 'conv 2 forward', ms: 2 }, { phase: 'conv 2 filter gradient', ms: 3 }] },
      ],
    },
  ],
};

describe('benchmark results file', () => {
  it('replaces only the part a run measured, and only for the kind of machine it ran on', async () => {
    const file = path.join(dir, 'results', 'latest.json');
    const first = throughputSuite({ 'tfjs-single': 100, 'tfjs-parallel': 150, 'torch-2': 800, 'torch-1': 500 });
    await mergeResults(file, { throughput: first, endToEnd });
    const second = throughputSuite({ 'tfjs-single': 120, 'tfjs-parallel': 170, 'torch-2': 900, 'torch-1': 600 });
    await mergeResults(file, { throughput: second, profile });
    const intel = throughputSuite({ 'tfjs-single': 60, 'tfjs-parallel': 90, 'torch-2': 900, 'torch-1': 600 }, 0.01, 'Intel Xeon');
    await mergeResults(file, { throughput: intel });

    const stored = await readResults(file);
    expect(Object.keys(stored.machines).sort()).toEqual(['Intel Xeon', 'Test CPU']);
    expect(stored.machines['Test CPU']).toEqual({ throughput: second, profile, endToEnd });
    expect(stored.machines['Intel Xeon']).toEqual({ throughput: intel });
  });

  it('reads a file from before results were kept per machine kind as the runs of the machine each part names', async () => {
    const old = path.join(dir, 'old.json');
    const throughput = throughputSuite({ 'tfjs-single': 100, 'torch-2': 800 }, 0.01, 'AMD EPYC');
    await writeFile(old, JSON.stringify({ throughput, endToEnd }));
    const stored = await readResults(old);
    expect(stored.machines).toEqual({ 'AMD EPYC': { throughput }, 'Test CPU': { endToEnd } });
  });

  it('treats a missing file as no results and rejects one that is not a results file', async () => {
    expect(await readResults(path.join(dir, 'absent.json'))).toEqual({ machines: {} });
    const bad = path.join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ throughput: { rows: 'none' } }));
    await expect(readResults(bad)).rejects.toThrow(/not a benchmark results file/);
    expect(JSON.parse(await readFile(bad, 'utf8'))).toEqual({ throughput: { rows: 'none' } });
  });
});

describe('benchmark report', () => {
  it('gives each row its speed relative to both PyTorch rows of the same model', () => {
    const table = formatThroughputTable(throughputSuite({ 'tfjs-single': 100, 'tfjs-parallel': 150, 'torch-2': 800, 'torch-1': 500 }));
    const single = table.split('\n').find((line) => line.includes('tfjs-single'));
    expect(single).toMatch(/\b100\b.*\b0\.13×.*\b0\.20×/);
  });

  it('leads with each row\'s best run and compares best runs', () => {
    const suite = throughputSuite({ 'tfjs-single': 100, 'tfjs-parallel': 150, 'torch-2': 800, 'torch-1': 500 });
    const withRuns = {
      ...suite,
      rows: suite.rows.map((row) => (row.variant === 'torch-2' ? { ...row, runs: [200, 800, 400], median: 400 } : row)),
    };
    const single = formatThroughputTable(withRuns).split('\n').find((line) => line.includes('tfjs-single'));
    expect(single).toMatch(/\b0\.13×/);
  });

  it('says when a system could not run and warns when the machine was busy', () => {
    const quiet = renderBenchmarksDoc({ machines: { 'Test CPU': { throughput: throughputSuite({ 'tfjs-single': 1, 'tfjs-parallel': 1, 'torch-2': 1, 'torch-1': 1 }), endToEnd } } });
    expect(quiet).toContain('| iid | flambda local runtime | – | not available yet: bin/flambda.js does not exist |');
    expect(quiet).not.toContain('the machine was busy');
    const busy = renderBenchmarksDoc({ machines: { 'Test CPU': { throughput: throughputSuite({ 'tfjs-single': 1, 'tfjs-parallel': 1, 'torch-2': 1, 'torch-1': 1 }, 0.35) } } });
    expect(busy).toContain('the machine was busy** (other work took 35.0 % of its CPU time)');
    expect(busy).toContain('Not measured on this kind of machine yet: run `npm run bench:train -- --e2e`');
  });

  it('gives each machine kind its own section and a summary line against the goals, naming kinds not measured', () => {
    const amd = throughputSuite({ 'tfjs-single': 450, 'tfjs-single-xnnpack': 300, 'tfjs-parallel': 700, 'torch-2': 900, 'torch-1': 600 }, 0.01, 'AMD EPYC');
    const doc = renderBenchmarksDoc({ machines: { 'AMD EPYC': { throughput: amd, profile: { ...profile, machine: machine(0.01, 'AMD EPYC') } } } });
    expect(doc).toContain('## AMD EPYC');
    expect(doc).toContain('No Intel Xeon run is recorded yet');
    // 450 / 900 against a goal of 0.6: 1.2× short; FMA against XNNPACK 1.5×
    expect(doc).toMatch(/\| AMD EPYC \| 2026-01-01 \| 0\.50× \(1\.20× short\) \| 0\.78× \| – \| 1\.5× \/ – \|/);
    expect(doc).toContain('| conv 2 filter gradient | — | 3.00 (30 %) |');
    expect(doc).toContain('| **whole step** | **20.00** | **10.00** |');
    const both = renderBenchmarksDoc({ machines: { 'AMD EPYC': { throughput: amd }, 'Intel Xeon': { throughput: { ...amd, machine: machine(0.01, 'Intel Xeon') } } } });
    expect(both).not.toContain('No Intel Xeon run is recorded yet');
    expect(both.indexOf('## AMD EPYC')).toBeLessThan(both.indexOf('## Intel Xeon'));
  });
});
