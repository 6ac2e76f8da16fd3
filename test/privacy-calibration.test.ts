import { describe, expect, it } from 'vitest';
import { calibrateNoiseMultiplier, checkRelease, NOISE_MULTIPLIER_RANGE } from '../shared/privacy/calibrate.js';
import { DEFAULT_RDP_ORDERS, privacySpent, type PrivacyStep } from '../shared/privacy/rdp.js';

const spentAfter = (sampleRate: number, noiseMultiplier: number, rounds: number, delta = 1e-5) =>
  privacySpent([{ sampleRate, noiseMultiplier, count: rounds }], delta).epsilon;

describe('calibrateNoiseMultiplier', () => {
  it.each([1, 2, 4, 8])('finds the smallest σ that ends 100 rounds at q 0.1 within ε %i (δ 1e-5)', (targetEpsilon) => {
    const calibration = calibrateNoiseMultiplier({ targetEpsilon, delta: 1e-5, sampleRate: 0.1, rounds: 100 });
    if (!calibration.ok) throw new Error('expected a reachable target');
    expect(calibration.epsilon).toBe(spentAfter(0.1, calibration.noiseMultiplier, 100));
    expect(calibration.epsilon).toBeLessThanOrEqual(targetEpsilon);
    // Minimal to the documented tolerance: 0.02 % less noise would overspend.
    expect(spentAfter(0.1, calibration.noiseMultiplier * (1 - 2e-4), 100)).toBeGreaterThan(targetEpsilon);
  });

  it('agrees with Opacus: ε 8, δ 1e-5, q 0.04, 2250 steps → σ 1.425307617 to its bisection tolerance of 0.01 (Opacus tests/accountants_test.py, test_get_noise_multiplier)', () => {
    const opacusOrders = DEFAULT_RDP_ORDERS.filter((order) => order < 64);
    const calibration = calibrateNoiseMultiplier({ targetEpsilon: 8, delta: 1e-5, sampleRate: 0.04, rounds: 2250, orders: opacusOrders });
    if (!calibration.ok) throw new Error('expected a reachable target');
    // Opacus stops with a bracket 0.01 wide, on the side that meets the budget; ours is the bracket's exact lower end.
    expect(calibration.noiseMultiplier).toBeLessThanOrEqual(1.425307617);
    expect(calibration.noiseMultiplier).toBeGreaterThan(1.425307617 - 0.01);
    expect(privacySpent([{ sampleRate: 0.04, noiseMultiplier: 1.425307617, count: 2250 }], 1e-5, opacusOrders).epsilon).toBeLessThan(8);
  });

  it('reports an unreachable budget with the smallest ε the documented σ range reaches', () => {
    const calibration = calibrateNoiseMultiplier({ targetEpsilon: 0.01, delta: 1e-5, sampleRate: 0.1, rounds: 100 });
    expect(calibration).toEqual({ ok: false, smallestEpsilon: spentAfter(0.1, NOISE_MULTIPLIER_RANGE.max, 100), noiseMultiplier: NOISE_MULTIPLIER_RANGE.max });
    if (calibration.ok) return;
    expect(calibration.smallestEpsilon).toBeGreaterThan(0.01);
  });

  it('stops at the bottom of the range when even that little noise meets the budget', () => {
    const calibration = calibrateNoiseMultiplier({ targetEpsilon: 100, delta: 1e-5, sampleRate: 1, rounds: 1 });
    expect(calibration.ok && calibration.noiseMultiplier).toBe(NOISE_MULTIPLIER_RANGE.min);
  });

  it('refuses inputs it cannot calibrate for', () => {
    expect(() => calibrateNoiseMultiplier({ targetEpsilon: 0, delta: 1e-5, sampleRate: 0.1, rounds: 10 })).toThrow('targetEpsilon must be a positive number (got 0)');
    expect(() => calibrateNoiseMultiplier({ targetEpsilon: 1, delta: 1e-5, sampleRate: 0, rounds: 10 })).toThrow('sampling rate must be greater than 0 and at most 1 (got 0)');
    expect(() => calibrateNoiseMultiplier({ targetEpsilon: 1, delta: 1e-5, sampleRate: 0.1, rounds: 0 })).toThrow('rounds must be a positive integer (got 0)');
  });
});

describe('checkRelease: never spend more than the budget', () => {
  it('allows exactly the calibrated rounds, then refuses, and ε never passes the budget', () => {
    const budget = { epsilon: 2, delta: 1e-5 };
    const calibration = calibrateNoiseMultiplier({ targetEpsilon: budget.epsilon, delta: budget.delta, sampleRate: 0.1, rounds: 30 });
    if (!calibration.ok) throw new Error('expected a reachable target');
    const round = { sampleRate: 0.1, noiseMultiplier: calibration.noiseMultiplier };
    let history: PrivacyStep[] = [];
    let previous = 0;
    for (let released = 1; released <= 30; released++) {
      const decision = checkRelease(history, round, budget);
      if (!decision.allowed) throw new Error(`round ${released} refused`);
      expect(decision.spent.epsilon).toBeGreaterThan(previous);
      expect(decision.spent.epsilon).toBeLessThanOrEqual(budget.epsilon);
      previous = decision.spent.epsilon;
      history = decision.history;
    }
    expect(history).toEqual([{ sampleRate: 0.1, noiseMultiplier: calibration.noiseMultiplier, count: 30 }]);
    expect(previous).toBe(calibration.epsilon);

    const refused = checkRelease(history, round, budget);
    expect(refused.allowed).toBe(false);
    if (refused.allowed) return;
    expect(refused.spent.epsilon).toBe(previous);
    expect(refused.wouldSpend.epsilon).toBeGreaterThan(budget.epsilon);
  });

  it('refuses a first round that alone would overspend, reporting 0 spent', () => {
    const decision = checkRelease([], { sampleRate: 1, noiseMultiplier: 0.5 }, { epsilon: 1, delta: 1e-5 });
    expect(decision.allowed).toBe(false);
    expect(decision.spent.epsilon).toBe(0);
  });
});
