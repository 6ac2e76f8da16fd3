import { configLabel, configValues, meanSd, patchValues, percent, points } from './labels.js';
import type { PageInput, Row } from './page.js';
import { rowFor } from './page.js';
import { flattenPatch, isLabelSkew } from './plan.js';
import { finalOf, summarise } from './stats.js';

/** The PyTorch reference against our runs of the same configs: same partitions and seeds, different engine and RNG. */
export function torchSection(input: PageInput, skew: readonly Row[]): string {
  const mirrored = skew.filter((row) => input.torch.some((run) => run.key === row.source.key));
  const mirrorable = skew.filter((row) => row.config.strategy.name === 'fedavg');
  if (mirrorable.length === 0) return '';
  const anyResult = input.torch.find((run) => run.result)?.result;
  const lines = mirrorable.map((row) => {
    const runs = input.torch.filter((run) => run.key === row.source.key && run.result);
    const theirs = summarise(runs.map((run) => ({ seed: run.seed, accuracy: run.result!.rounds.map((round) => round.accuracy), wallMs: run.result!.roundsMs })));
    const ours = row.summary;
    const perSeed = (summary: typeof ours) => summary?.seeds.map((seed) => `${(finalOf(seed) * 100).toFixed(2)} (s${seed.seed})`).join(', ') ?? '—';
    const roundOne = (summary: typeof ours) => (summary ? percent(summary.perRound[0]?.mean ?? Number.NaN) : '—');
    const difference = ours && theirs ? points((ours.mean - theirs.mean) * 100) : '—';
    const pending = theirs && theirs.seeds.length < row.planned.length ? ` (${theirs.seeds.length} of ${row.planned.length} seeds)` : '';
    return `| ${row.label} | ${configValues(row.config)} | ${ours ? meanSd(ours.mean, ours.sd) : 'pending'} | ${theirs ? `${meanSd(theirs.mean, theirs.sd)}${pending}` : 'pending'} | ${difference} | ${roundOne(ours)} / ${roundOne(theirs)} | ${perSeed(ours)} | ${perSeed(theirs)} |`;
  });
  const engine = anyResult
    ? `PyTorch ${anyResult.torchVersion} (Python ${anyResult.pythonVersion}, ${anyResult.threads} threads, BLAS ${anyResult.blas})`
    : 'PyTorch (no result yet)';
  return `## Reproduced in PyTorch

[\`bench/reference/fedavg_torch.py\`](../bench/reference/fedavg_torch.py) \`--objective\` trains the same model, optimizer, batch size and
local objective on flambda's own partition of each seed (the exact shards, via \`--partition-file\`), with FedAvg on the
server. The engines share the data and the maths, not the random streams (initial weights, shuffles), so single seeds
differ; the means should agree within the spread. ${mirrored.length < mirrorable.length ? '**Some rows have no PyTorch result yet** (`--parts torch`).' : ''}
Engine: ${engine}.

| configuration | values | flambda mean ± sd | PyTorch mean ± sd | flambda − PyTorch (points) | round 1 mean (flambda / PyTorch) | flambda per seed | PyTorch per seed |
|---|---|---|---|---|---|---|---|
${lines.join('\n')}`;
}

export function tuningSection(input: PageInput): string {
  const skewed = input.sources.filter(isLabelSkew).filter((source) => (input.tuningGrid[source.key] ?? []).length > 0);
  if (skewed.length === 0) return '';
  const notes: string[] = [];
  const lines = skewed.flatMap((source) => {
    const candidates = (input.tuningGrid[source.key] ?? []).map((patch) => rowFor(source, { kind: 'tuning', patch }, input.planning.tuning, input.outcomes.tuning));
    const measured = candidates.filter((row) => row.summary);
    const best = measured.length > 0 ? measured.reduce((a, b) => (b.summary!.mean > a.summary!.mean ? b : a)) : undefined;
    const inConfig = (row: Row) => row.planned[0]?.file === source.file;
    if (best && measured.length === candidates.length && !inConfig(best)) {
      notes.push(`\`${source.file}\` uses ${configValues(source.config)}, not this grid's best (${configValues(best.config)}).`);
    }
    return candidates.map((row) => {
      const scenario = row.planned[0]?.scenario;
      const values = scenario?.kind === 'tuning' ? patchValues(flattenPatch(scenario.patch)) : '—';
      const result = row.summary ? percent(row.summary.mean) : 'pending';
      return `| ${configLabel(source.config, false)} | ${values} | ${result} | ${row === best ? 'best' : ''} | ${inConfig(row) ? 'yes' : ''} |`;
    });
  });
  const seed = input.planning.tuning[0]?.seed;
  const pendingCandidates = lines.filter((line) => line.includes('| pending |')).length;
  return `## How the values were tuned

At full scale, one seed (${seed ?? '—'}, the first of the seeds above, so a candidate equal to a config's value shares its
run): the \`TUNING_GRID\` in \`bench/noniid.ts\`, the paper's or documented default first and one step either side. A
candidate costs about a minute on a quiet 2-core machine, so the grid is small, and one seed cannot separate values
closer than the seed spread above: the chosen value is a guide.${pendingCandidates > 0 ? ` ${pendingCandidates} candidate(s) have not run at full scale yet (\`--parts tune\`) and are listed as pending.` : ''}

| configuration | candidate | final accuracy | | in the config |
|---|---|---|---|---|
${lines.join('\n')}${notes.length > 0 ? `\n\n${notes.join(' ')}` : ''}`;
}

export function extraSections(skew: readonly Row[]): string[] {
  return [sharedDataSection(skew), partitionSection(skew), pendingSection(skew), scopeSection()];
}

function partitionSection(skew: readonly Row[]): string {
  const reference = skew.find((row) => row.completed.length > 0);
  if (!reference) return '';
  const lines = reference.completed.flatMap((outcome) =>
    outcome.metrics.partition.clients.map((client) => {
      const digits = client.labelHistogram.flatMap((count, digit) => (count > 0 ? [`${digit}×${count.toLocaleString('en-US')}`] : []));
      return `| ${outcome.planned.seed} | ${client.clientId} | ${client.samples.toLocaleString('en-US')} | ${digits.length} | ${digits.join(', ')} |`;
    }),
  );
  return `## Who holds which digits

Every label-skew configuration gets the same partition at the same seed. Shards of the label-sorted training set
straddle label boundaries, so clients hold a few more digits than 2 (from \`${reference.source.file}\`):

| seed | client | samples | digits | digit × samples |
|---|---|---|---|---|
${lines.join('\n')}`;
}

function pendingSection(skew: readonly Row[]): string {
  const incomplete = skew.filter((row) => !row.complete).map((row) => `${row.label} (\`${row.source.file}\`): ${row.completed.length} of ${row.planned.length} seeds`);
  return `## Pending

${incomplete.length > 0 ? `Configurations with seeds still to run: ${incomplete.join('; ')}.` : 'Every configuration in `examples/noniid/` has run at every seed.'}

FedDyn and FedNova ([strategies.md](strategies.md#feddyn-feddyn)) each came as one file on the strategy lifecycle and
one config here; how to read their rows:

- **FedDyn** (Acar et al., ICLR 2021): each client keeps the gradient of its previous local objective as adopted state,
  the server keeps h. Default α 0.01, from the paper's grid α ∈ {0.001, 0.01, 0.1}, which
  [How the values were tuned](#how-the-values-were-tuned) runs at full scale.
- **FedNova** (Wang et al., NeurIPS 2020): the server weighs each update by nᵢ/τᵢ and rescales by τ_eff. On the
  original label skew every client holds 12,000 images and takes the same number of steps, so FedNova *is* FedAvg
  there (tested) and its seeds differ from FedAvg's only by float rounding, which label skew amplifies; its gain needs
  unequal shard sizes, as in the Dirichlet partitions.`;
}

/** What the "+ shared data" rows did, from their own partition.json, and what it costs in privacy. */
function sharedDataSection(skew: readonly Row[]): string {
  const rows = skew.filter((row) => row.config.sharedData !== undefined);
  if (rows.length === 0) return '';
  const recorded = rows.flatMap((row) => row.completed).find((outcome) => outcome.metrics.partition.sharedData)?.metrics.partition;
  const stats = recorded?.sharedData;
  const own = recorded ? recorded.clients.reduce((sum, client) => sum + client.samples, 0) : undefined;
  const measured = stats && own !== undefined
    ? `In these runs G held ${stats.samples.toLocaleString('en-US')} images (${stats.labelHistogram.join(' / ')} per digit), each client trained on ${stats.samplesPerClient.toLocaleString('en-US')} of them besides its own, and the clients together kept ${own.toLocaleString('en-US')} images of their own (from partition.json of seed ${recorded.seed}).`
    : 'No shared-data run has completed yet.';
  return `## Shared data

The "+ shared data" rows use \`sharedData\` (Zhao et al., 2018, "Federated Learning with Non-IID Data"): the start step
draws a class-balanced subset G of the training set with the experiment's seed (\`fraction\` of it: 0.05 is 3,000
MNIST images, 300 per digit), takes those images out of the clients' shards (each client is dealt exactly its pure-FL
partition minus G, so no image is both public and private), and stores G once under the experiment. Each client
receives a seeded, class-balanced share α·|G| of G (\`perClient\`, ${rows.map((row) => row.config.sharedData!.perClient).filter((value, i, all) => all.indexOf(value) === i).join(' or ')} here${rows.every((row) => row.config.sharedData!.perClient === 1) ? ': all of it' : ''}) and trains on its own images plus
that share every round; its updates are weighted by that total, which adds the same α·|G| to every client's weight.
Unlike the paper, the initial model is not warmed up on G. ${measured}

**Privacy trade-off.** This is not pure federated learning: G is public data that the server sends to every client. The
clients' own data still never moves (only G travels, and only from the server to the clients), but the method needs a
public, balanced sample of the task's data to exist and to be shared, which many deployments (data that is private
precisely because no one else has it) cannot provide. Its rows are therefore ranked apart from the pure FL rows in the
verdict, and every report of such a run says so.`;
}

function scopeSection(): string {
  return `## What is not here

- Local training (E, B, the client learning rate) is the same for every configuration and for the baseline, so the gaps
  measure the strategies, the local objectives and shared data alone.
- Client sampling: with 5 clients, training fewer per round only removes data from each round.
- Personalization (FedPer) reports each client's accuracy with its own local layers, a different metric from the global
  model's test accuracy compared here.`;
}
