import { describe, expect, it } from 'vitest';
import { roundMakespan, trainBatchSize, trainerPoolSize } from '../local/trainer-pool.js';

describe('local trainer pool size', () => {
  it('a round lasts as long as its waves of jobs, the cores shared among a wave', () => {
    // 5 clients, 2 cores: two workers leave the fifth client training alone on one core.
    expect(roundMakespan(5, 2, 2)).toBe(3);
    expect(roundMakespan(5, 3, 2)).toBe(2.5);
    expect(roundMakespan(5, 5, 2)).toBe(2.5);
    expect(roundMakespan(4, 3, 2)).toBe(2.5);
    expect(roundMakespan(1, 1, 2)).toBe(1);
  });

  it('picks the fewest workers that keep every core busy to the end of the round', () => {
    expect(trainerPoolSize(5, 2)).toBe(3);
    expect(trainerPoolSize(4, 2)).toBe(2);
    expect(trainerPoolSize(10, 2)).toBe(2);
    expect(trainerPoolSize(9, 2)).toBe(3);
    expect(trainerPoolSize(3, 2)).toBe(3);
    expect(trainerPoolSize(1, 2)).toBe(1);
    expect(trainerPoolSize(7, 4)).toBe(7);
    expect(trainerPoolSize(5, 1)).toBe(1);
  });

  it('never goes past its cap, and refuses nonsense', () => {
    expect(trainerPoolSize(11, 2, 4)).toBeLessThanOrEqual(4);
    expect(() => trainerPoolSize(0, 2)).toThrow(/clientsPerRound must be a positive integer/);
    expect(() => trainerPoolSize(5, 1.5)).toThrow(/cores/);
  });
});

describe('local trainer batch size', () => {
  it('keeps one client an invocation for small rounds, so every worker stays busy', () => {
    expect(trainBatchSize(5, trainerPoolSize(5, 2))).toBe(1);
    expect(trainBatchSize(10, 2)).toBe(1);
    expect(trainBatchSize(39, 2)).toBe(1);
  });

  it('gives each worker at least 10 invocations a round, up to SQS\'s 10 messages a receive', () => {
    expect(trainBatchSize(40, 2)).toBe(2);
    expect(trainBatchSize(100, 2)).toBe(5);
    expect(trainBatchSize(1000, 2)).toBe(10);
    expect(trainBatchSize(1000, 1)).toBe(10);
    expect(trainBatchSize(1000, 8)).toBe(10);
    expect(trainBatchSize(1000, 16)).toBe(6);
  });

  it('refuses nonsense', () => {
    expect(() => trainBatchSize(0, 2)).toThrow(/clientsPerRound must be a positive integer/);
    expect(() => trainBatchSize(100, 0)).toThrow(/workers/);
  });
});
