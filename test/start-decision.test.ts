import { describe, expect, it } from 'vitest';
import { parseExperimentConfig } from '../shared/config/parse.js';
import type { ExperimentStatus } from '../shared/metrics/types.js';
import { reuploadNotice, retentionProblem, startDecision } from '../shared/pipeline/start.js';

const status = (change: Partial<ExperimentStatus>): ExperimentStatus => ({
  experimentId: 'exp', state: 'running', round: 2, rounds: 5, updatedAt: '2026-11-26T12:00:00.000Z', configETag: 'aaa', ...change,
});
const config = (input: object) => {
  const parsed = parseExperimentConfig(input);
  if (!parsed.ok) throw new Error(parsed.errors.join('; '));
  return parsed.config;
};

describe('what a config.json upload means', () => {
  it('starts an experiment that has no status', () => {
    expect(startDecision(undefined, 'aaa')).toBe('start');
  });

  it('does nothing for the upload the experiment already runs, quoted or not', () => {
    expect(startDecision(status({}), '"aaa"')).toBe('already-started');
    expect(startDecision(status({ state: 'completed' }), 'aaa')).toBe('already-started');
  });

  it('starts a new upload to an experiment whose config was refused at start (nothing ran)', () => {
    expect(startDecision(status({ state: 'failed', round: 0, rounds: 0 }), 'bbb')).toBe('start');
  });

  it('refuses another upload to an experiment that runs or ran, in any state', () => {
    for (const state of ['running', 'completed', 'failed'] as const) expect(startDecision(status({ state }), 'bbb')).toBe('re-upload');
  });

  it('says in the notice what still runs, or how to run a failed experiment again', () => {
    const at = new Date('2026-11-26T13:00:00.000Z');
    expect(reuploadNotice(status({}), '"bbb"', at)).toBe(
      '2026-11-26T13:00:00.000Z: config.json was uploaded again (ETag bbb); the experiment still runs the config it started with ' +
        '(config.resolved.json, ETag aaa). Run the new config under a new id.',
    );
    expect(reuploadNotice(status({ state: 'completed' }), 'bbb', at)).toMatch(/after the experiment completed; nothing was run/);
    expect(reuploadNotice(status({ state: 'failed' }), 'bbb', at)).toMatch(/flambda run <config> --id exp --restart/);
  });
});

describe('experiments that would outlive the bucket\'s retention', () => {
  it('accepts any experiment when objects never expire, and one whose worst case fits', () => {
    expect(retentionProblem(config({ rounds: 1000, round: { deadlineSeconds: 86_400 } }), undefined)).toBeUndefined();
    // 30 rounds × (900 + 600) s = 12.5 hours
    expect(retentionProblem(config({ rounds: 30 }), 1)).toBeUndefined();
  });

  it('refuses one whose rounds × (deadline + close) exceed it, with the numbers and what to change', () => {
    const problem = retentionProblem(config({ rounds: 50, round: { deadlineSeconds: 3600 } }), 1);
    expect(problem).toBe(
      'rounds × (round.deadlineSeconds + 600 s to close a round) = 50 × 4200 s = 2.4 days, longer than the 1-day retention of ' +
        'experiment objects in this bucket (they would expire while the experiment may still need them): use fewer rounds or a ' +
        'shorter round.deadlineSeconds, or deploy with a longer experimentRetentionDays',
    );
  });
});
