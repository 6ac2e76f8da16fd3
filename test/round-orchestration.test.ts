import { describe, expect, it } from 'vitest';
import type { RoundMetrics } from '../shared/metrics/types.js';
import { orchestrationMs } from '../shared/pipeline/experiment.js';

/** metrics.json's timing.orchestrationMs, from a round's timing and the moment the next round opened (or completion). */
const timing = (change: Partial<RoundMetrics['timing']> = {}): RoundMetrics['timing'] => ({
  startedAt: '2026-11-30T10:00:00.000Z',
  closedAt: '2026-11-30T10:00:10.000Z',
  roundMs: 10_000,
  trainMs: 4000,
  waitMs: 6000,
  aggregateMs: 3000,
  lastUpdateAt: '2026-11-30T10:00:09.500Z',
  computeMs: 2500,
  ...change,
});

describe('orchestration time between rounds', () => {
  it('is the latest update announced to the next round opened, minus the aggregation and evaluation', () => {
    expect(orchestrationMs(timing(), '2026-11-30T10:00:13.250Z')).toBe(13_250 - 9500 - 2500);
  });

  it('starts no earlier than the round itself (an announcement time rounded to the second)', () => {
    expect(orchestrationMs(timing({ lastUpdateAt: '2026-11-30T09:59:59.000Z' }), '2026-11-30T10:00:04.000Z')).toBe(4000 - 2500);
  });

  it('is never negative, and unknown without an end or the round\'s own moments', () => {
    expect(orchestrationMs(timing({ computeMs: 60_000 }), '2026-11-30T10:00:13.000Z')).toBe(0);
    expect(orchestrationMs(timing(), undefined)).toBeUndefined();
    expect(orchestrationMs(timing({ lastUpdateAt: undefined }), '2026-11-30T10:00:13.000Z')).toBeUndefined();
    expect(orchestrationMs(timing({ computeMs: undefined }), '2026-11-30T10:00:13.000Z')).toBeUndefined();
  });
});
