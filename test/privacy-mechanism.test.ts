import { describe, expect, it } from 'vitest';
import { createRandom } from '../shared/random.js';
import { defaultCountNoiseStddev, nextClipNorm, noisedUnclippedFraction, updateNoiseMultiplier } from '../shared/privacy/adaptive.js';
import { checkRelease } from '../shared/privacy/calibrate.js';
import { applyDelta, clipToNorm, clipUpdate, l2Norm, modelDelta } from '../shared/privacy/clip.js';
import { gaussianNoise, secureGaussianNoise, seededGaussianNoise, type GaussianNoise } from '../shared/privacy/noise.js';
import { createPrivateSum } from '../shared/privacy/private-sum.js';
import type { PrivacyStep } from '../shared/privacy/rdp.js';
import { planPrivateRound, poissonSample } from '../shared/privacy/sampling.js';
import { encodeModelWeights } from '../shared/weights/codec.js';
import type { ModelWeights } from '../shared/weights/types.js';

const LAYOUT = [
  { name: 'dense/kernel', shape: [6, 4] },
  { name: 'dense/bias', shape: [4] },
  { name: 'logits/kernel', shape: [4, 3] },
] as const;

/** A model of LAYOUT's shapes with N(0, scale²) values from `seed`. */
function randomModel(seed: number, scale = 1): ModelWeights {
  const random = createRandom(seed);
  return LAYOUT.map(({ name, shape }) => ({
    name,
    shape: [...shape],
    values: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => scale * random.nextGaussian()),
  }));
}

function sampleStats(noise: GaussianNoise, count: number): { mean: number; variance: number } {
  let sum = 0;
  let sumOfSquares = 0;
  for (let i = 0; i < count; i++) {
    const value = noise.next();
    sum += value;
    sumOfSquares += value * value;
  }
  const mean = sum / count;
  return { mean, variance: sumOfSquares / count - mean * mean };
}

describe('clipping (the client half)', () => {
  it('scales Δ = local − global to L2 norm ≤ C over all tensors together, and reports the norm before', () => {
    const global = randomModel(1);
    const local = randomModel(2);
    const delta = modelDelta(local, global);
    const norm = l2Norm(delta);
    expect(norm).toBeGreaterThan(3);

    const clipped = clipUpdate(local, global, 1.5);
    expect(clipped.clipped).toBe(true);
    expect(clipped.norm).toBe(norm);
    // Still ≤ C after rounding to float32, and only a hair below it.
    expect(l2Norm(clipped.delta)).toBeLessThanOrEqual(1.5);
    expect(l2Norm(clipped.delta)).toBeGreaterThan(1.5 * (1 - 1e-5));
    // Same direction: every value scaled by the same factor.
    const factor = clipped.delta[0]!.values[0]! / delta[0]!.values[0]!;
    clipped.delta.forEach((tensor, index) => tensor.values.forEach((value, i) => expect(value).toBeCloseTo(delta[index]!.values[i]! * factor, 6)));

    const untouched = clipToNorm(delta, norm * 2);
    expect(untouched.clipped).toBe(false);
    expect(untouched.delta).toEqual(delta);
    expect(untouched.delta[0]!.values).not.toBe(delta[0]!.values);
  });

  it('keeps the bound for every scale of update, from tiny to huge', () => {
    let seed = 0;
    for (const scale of [1e-6, 1e-2, 1, 1e3, 1e6]) {
      for (const clipNorm of [1e-3, 0.1, 1, 10]) {
        const update = randomModel(seed++, scale);
        const { delta, clipped } = clipToNorm(update, clipNorm);
        expect(l2Norm(delta), `scale ${scale}, C ${clipNorm}`).toBeLessThanOrEqual(clipNorm);
        expect(clipped).toBe(l2Norm(update) > clipNorm);
      }
    }
  });

  it('refuses a non-positive C and non-finite updates', () => {
    expect(() => clipToNorm(randomModel(1), 0)).toThrow('clip norm must be a positive finite number (got 0)');
    const broken = randomModel(1);
    broken[1]!.values[2] = NaN;
    expect(() => clipToNorm(broken, 1)).toThrow(/dense\/bias/);
  });
});

describe('the private sum (the server half)', () => {
  it('releases (Σ clipped Δ + σ·C·g) / m, with g the noise stream, folding updates one at a time', () => {
    const global = randomModel(10);
    const clipNorm = 0.8;
    const updates = [11, 12, 13].map((seed) => clipUpdate(randomModel(seed), global, clipNorm));
    const sum = createPrivateSum(global, clipNorm);
    for (const update of updates) sum.add(update.delta, { clipped: update.clipped });
    expect(sum.count).toBe(3);

    const noiseMultiplier = 1.3;
    const denominator = 2.5;
    const released = sum.release({ noise: seededGaussianNoise(7, 'round', 1), noiseMultiplier, denominator });
    const twin = seededGaussianNoise(7, 'round', 1);
    released.forEach((tensor, index) => {
      expect(tensor.name).toBe(global[index]!.name);
      tensor.values.forEach((value, i) => {
        const exactSum = updates.reduce((total, update) => total + update.delta[index]!.values[i]!, 0);
        expect(value).toBeCloseTo((exactSum + noiseMultiplier * clipNorm * twin.next()) / denominator, 6);
      });
    });
    expect(() => sum.release({ noise: seededGaussianNoise(7), noiseMultiplier, denominator })).toThrow('already released');
    expect(() => sum.add(updates[0]!.delta)).toThrow('already released');
  });

  it('clips again on the server, so a client that did not clip cannot raise the sensitivity above C', () => {
    const global = randomModel(20);
    const raw = modelDelta(randomModel(21, 50), global);
    const sum = createPrivateSum(global, 1);
    const folded = sum.add(raw);
    expect(folded).toEqual({ norm: l2Norm(raw), clipped: true });
    expect(sum.unclippedCount).toBe(0);
    // With noise far below the signal, the released mean of one update has norm C/m.
    const released = sum.release({ noise: seededGaussianNoise(1), noiseMultiplier: 1e-9, denominator: 1 });
    expect(l2Norm(released)).toBeCloseTo(1, 5);
  });

  it('counts unclipped updates by the client report, else by the norm the server sees', () => {
    const global = randomModel(30);
    const sum = createPrivateSum(global, 100);
    const small = modelDelta(randomModel(31, 0.01), global);
    sum.add(clipToNorm(small, 100).delta, { clipped: false });
    sum.add(clipToNorm(small, 100).delta, { clipped: true });
    sum.add(clipToNorm(small, 100).delta);
    expect([sum.count, sum.unclippedCount]).toEqual([3, 2]);
  });

  it('releases pure noise of standard deviation σ·C/m when nobody was sampled', () => {
    const template = [{ name: 'w', shape: [200_000], values: new Float32Array(200_000) }];
    for (const noise of [seededGaussianNoise(3), secureGaussianNoise()]) {
      const sum = createPrivateSum(template, 2);
      const [released] = sum.release({ noise, noiseMultiplier: 1.5, denominator: 10 });
      let sumOfSquares = 0;
      for (const value of released!.values) sumOfSquares += value * value;
      const std = Math.sqrt(sumOfSquares / 200_000);
      // Expected 0.3; the sample std of 200k normals is within 0.16 % (1σ) of it: 1 % is over 6σ.
      expect(Math.abs(std / 0.3 - 1), noise.mode).toBeLessThan(0.01);
    }
  });

  it('rejects an update of another layout without changing the sum', () => {
    const global = randomModel(40);
    const sum = createPrivateSum(global, 1);
    expect(() => sum.add(global.slice(1))).toThrow();
    expect(sum.count).toBe(0);
  });
});

describe('noise sources', () => {
  it('are standard normal, secure and seeded alike (and secure draws are sums of four, halved)', () => {
    for (const noise of [secureGaussianNoise(), seededGaussianNoise(99)]) {
      const { mean, variance } = sampleStats(noise, 400_000);
      // Standard errors: mean 0.0016, variance 0.0022; the bounds are over 6 of them.
      expect(Math.abs(mean), noise.mode).toBeLessThan(0.01);
      expect(Math.abs(variance - 1), noise.mode).toBeLessThan(0.015);
    }
  });

  it('seeded: the same seed and labels give the same stream, others another; secure never repeats', () => {
    const draw = (noise: GaussianNoise) => Array.from({ length: 5 }, () => noise.next());
    expect(draw(seededGaussianNoise(5, 'round', 3))).toEqual(draw(seededGaussianNoise(5, 'round', 3)));
    expect(draw(seededGaussianNoise(5, 'round', 3))).not.toEqual(draw(seededGaussianNoise(5, 'round', 4)));
    expect(draw(secureGaussianNoise())).not.toEqual(draw(secureGaussianNoise()));
    expect(gaussianNoise('secure', 5).mode).toBe('secure');
    expect(draw(gaussianNoise('seeded', 5, 'round', 3))).toEqual(draw(seededGaussianNoise(5, 'round', 3)));
  });
});

describe('adaptive clipping (Andrew et al. 2021)', () => {
  it('splits σ between the updates and the count: σ_Δ = (σ⁻² − (2σ_b)⁻²)^(−1/2)', () => {
    // by hand: σ 2, σ_b 1.25 → (1/4 − 1/6.25)^(−1/2) = 0.09^(−1/2) = 10/3
    expect(updateNoiseMultiplier(2, 1.25)).toBeCloseTo(10 / 3, 12);
    // σ 1, σ_b 5 (m = 100 at Andrew et al.'s m/20) → (1 − 0.01)^(−1/2) = 1.0050378152592121
    expect(updateNoiseMultiplier(1, defaultCountNoiseStddev(100))).toBeCloseTo(1.0050378152592121, 12);
    expect(() => updateNoiseMultiplier(2, 1)).toThrow('must be greater than half the noise multiplier, 1 (got 1)');
  });

  it('estimates b̃ = (Σ(bᵢ − ½) + σ_b·g)/m + ½, clipped to [0, 1]', () => {
    const g = seededGaussianNoise(8).next();
    // by hand: 30 of 40 unclipped, m 50, σ_b 2.5 → (30 − 20 + 2.5g)/50 + 0.5
    const estimate = noisedUnclippedFraction({ unclipped: 30, reported: 40, countNoiseStddev: 2.5, expectedClients: 50, noise: seededGaussianNoise(8) });
    expect(estimate).toBeCloseTo((10 + 2.5 * g) / 50 + 0.5, 14);
    const huge = { unclipped: 0, reported: 0, countNoiseStddev: 1e6, expectedClients: 1 };
    const extremes = Array.from({ length: 20 }, (_, index) => noisedUnclippedFraction({ ...huge, noise: seededGaussianNoise(index) }));
    expect(new Set(extremes)).toEqual(new Set([0, 1]));
    expect(() => noisedUnclippedFraction({ ...huge, unclipped: 2, reported: 1, noise: seededGaussianNoise(1) })).toThrow('unclipped must be an integer from 0 to reported, 1 (got 2)');
  });

  it('moves C geometrically: C·exp(−η(b̃ − γ))', () => {
    // by hand: C 1, b̃ 0.8, γ 0.5, η 0.2 → e^(−0.06) = 0.9417645335842487
    expect(nextClipNorm({ clipNorm: 1, unclippedFraction: 0.8, targetQuantile: 0.5, learningRate: 0.2 })).toBeCloseTo(0.9417645335842487, 14);
    expect(nextClipNorm({ clipNorm: 2, unclippedFraction: 0.5, targetQuantile: 0.5, learningRate: 0.2 })).toBe(2);
    expect(nextClipNorm({ clipNorm: 1, unclippedFraction: 0, targetQuantile: 1, learningRate: 0.2 })).toBeCloseTo(Math.exp(0.2), 14);
  });

  it('tracks the target quantile of the update norms through the noise', () => {
    // 200 clients with norms spread evenly over (0, 10]: the 0.5-quantile is 5; start far below it.
    const norms = Array.from({ length: 200 }, (_, index) => (10 * (index + 1)) / 200);
    let clipNorm = 0.1;
    const noise = seededGaussianNoise(2024, 'adaptive');
    for (let round = 0; round < 150; round++) {
      const unclipped = norms.filter((norm) => norm <= clipNorm).length;
      const fraction = noisedUnclippedFraction({ unclipped, reported: norms.length, countNoiseStddev: defaultCountNoiseStddev(200), expectedClients: 200, noise });
      clipNorm = nextClipNorm({ clipNorm, unclippedFraction: fraction, targetQuantile: 0.5, learningRate: 0.2 });
    }
    expect(clipNorm).toBeGreaterThan(4);
    expect(clipNorm).toBeLessThan(6);
  });
});

describe('Poisson client sampling', () => {
  const clientIds = Array.from({ length: 1000 }, (_, index) => `client-${String(index).padStart(4, '0')}`);

  it('takes each client independently with probability q, a pure function of (seed, round)', () => {
    let total = 0;
    const rounds = 50;
    for (let round = 1; round <= rounds; round++) {
      const sample = poissonSample({ clientIds, sampleRate: 0.1, round, randomness: { mode: 'seeded', seed: 42 } });
      expect(sample).toEqual(clientIds.filter((id) => sample.includes(id)));
      expect(poissonSample({ clientIds, sampleRate: 0.1, round, randomness: { mode: 'seeded', seed: 42 } })).toEqual(sample);
      total += sample.length;
    }
    // Binomial(50 000, 0.1): mean 5000, sd 67; the bound is 6 sd.
    expect(Math.abs(total - 5000)).toBeLessThan(400);
    const first = poissonSample({ clientIds, sampleRate: 0.1, round: 1, randomness: { mode: 'seeded', seed: 42 } });
    expect(poissonSample({ clientIds, sampleRate: 0.1, round: 2, randomness: { mode: 'seeded', seed: 42 } })).not.toEqual(first);
    expect(poissonSample({ clientIds, sampleRate: 0.1, round: 1, randomness: { mode: 'seeded', seed: 43 } })).not.toEqual(first);
  });

  it('secure mode draws from the CSPRNG: the right rate, a different sample each time', () => {
    const a = poissonSample({ clientIds, sampleRate: 0.3, round: 1, randomness: { mode: 'secure' } });
    const b = poissonSample({ clientIds, sampleRate: 0.3, round: 1, randomness: { mode: 'secure' } });
    expect(a).not.toEqual(b);
    // Binomial(1000, 0.3): sd 14.5; 6 sd.
    expect(Math.abs(a.length - 300)).toBeLessThan(87);
  });

  it('q = 1 takes everyone; a round that samples nobody is planned as noise-only, never skipped', () => {
    expect(poissonSample({ clientIds, sampleRate: 1, round: 3, randomness: { mode: 'seeded', seed: 1 } })).toEqual(clientIds);
    const few = ['a', 'b', 'c'];
    const plans = Array.from({ length: 200 }, (_, index) => planPrivateRound({ clientIds: few, sampleRate: 0.1, round: index + 1, randomness: { mode: 'seeded', seed: 5 } }));
    const empty = plans.find((plan) => plan.kind === 'noise-only');
    expect(empty).toBeDefined();
    expect(empty!.clients).toEqual([]);
    expect(empty!.kind === 'noise-only' && empty!.reason).toMatch(/chose none of the 3 clients in round \d+; the round releases noise only and is still accounted/);
    expect(plans.some((plan) => plan.kind === 'train' && plan.clients.length > 0)).toBe(true);
    expect(() => poissonSample({ clientIds: few, sampleRate: 0, round: 1, randomness: { mode: 'seeded', seed: 5 } })).toThrow('sampling rate must be greater than 0 and at most 1 (got 0)');
  });
});

/**
 * The rounds the pipeline will run, through this module's public functions only: sample, clip on each client,
 * fold on the server, check the budget, release, apply, adapt C. Client training is stood in for by a seeded
 * perturbation of the global model.
 */
function runPrivateRounds(noiseSeed: number, mode: 'seeded' | 'secure'): { model: ModelWeights; history: PrivacyStep[]; clipNorms: number[] } {
  const clientIds = Array.from({ length: 40 }, (_, index) => `c${index}`);
  const sampleRate = 0.25;
  const expectedClients = sampleRate * clientIds.length;
  const noiseMultiplier = 1.1;
  const countNoiseStddev = defaultCountNoiseStddev(expectedClients) * 2;
  let model = randomModel(1);
  let clipNorm = 0.5;
  let history: PrivacyStep[] = [];
  const clipNorms: number[] = [];
  for (let round = 1; round <= 4; round++) {
    const plan = planPrivateRound({ clientIds, sampleRate, round, randomness: mode === 'seeded' ? { mode, seed: noiseSeed } : { mode } });
    const sum = createPrivateSum(model, clipNorm);
    for (const clientId of plan.clients) {
      const local = model.map((tensor, index) => ({ ...tensor, values: tensor.values.map((value, i) => value + 0.05 * Math.sin(index + i + clientId.length + round)) }));
      const update = clipUpdate(local, model, clipNorm);
      sum.add(update.delta, { clipped: update.clipped });
    }
    const decision = checkRelease(history, { sampleRate, noiseMultiplier }, { epsilon: 50, delta: 1e-5 });
    if (!decision.allowed) throw new Error('budget');
    const noise = gaussianNoise(mode, noiseSeed, 'round', round);
    const meanDelta = sum.release({ noise, noiseMultiplier: updateNoiseMultiplier(noiseMultiplier, countNoiseStddev), denominator: expectedClients });
    model = applyDelta(model, meanDelta);
    history = decision.history;
    const fraction = noisedUnclippedFraction({ unclipped: sum.unclippedCount, reported: sum.count, countNoiseStddev, expectedClients, noise });
    clipNorm = nextClipNorm({ clipNorm, unclippedFraction: fraction, targetQuantile: 0.5, learningRate: 0.2 });
    clipNorms.push(clipNorm);
  }
  return { model, history, clipNorms };
}

describe('a private run end to end', () => {
  it('seeded: the same seed gives the same final model bytes; another seed, or secure noise, does not', () => {
    const first = runPrivateRounds(7, 'seeded');
    const again = runPrivateRounds(7, 'seeded');
    expect(encodeModelWeights(again.model)).toEqual(encodeModelWeights(first.model));
    expect(again.clipNorms).toEqual(first.clipNorms);
    expect(first.history).toEqual([{ sampleRate: 0.25, noiseMultiplier: 1.1, count: 4 }]);
    expect(encodeModelWeights(runPrivateRounds(8, 'seeded').model)).not.toEqual(encodeModelWeights(first.model));
    expect(encodeModelWeights(runPrivateRounds(7, 'secure').model)).not.toEqual(encodeModelWeights(first.model));
  });
});
