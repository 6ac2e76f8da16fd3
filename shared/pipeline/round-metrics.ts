import type { RoundMetrics } from '../metrics/types.js';
import type { RoundState, UpdateReport } from '../protocol/records.js';
import type { Closing } from './round-machine.js';

/** The global model's evaluation on the test set after a round. */
export interface Evaluation {
  readonly accuracy: number;
  readonly loss: number;
  readonly perClassAccuracy: readonly number[];
  readonly confusion: readonly (readonly number[])[];
}

/** Σ accuracyᵢ·heldOutᵢ / Σ heldOutᵢ over the clients that measured one; undefined when none did. */
export function pooledPersonalizedAccuracy(reports: readonly UpdateReport[]): number | undefined {
  let correct = 0;
  let heldOut = 0;
  for (const { personalizedAccuracy, holdoutSamples } of reports) {
    if (personalizedAccuracy === undefined || holdoutSamples === undefined) continue;
    correct += personalizedAccuracy * holdoutSamples;
    heldOut += holdoutSamples;
  }
  return heldOut > 0 ? correct / heldOut : undefined;
}

/** A closed round's metrics, from its state, its verdicts (in expected order) and the evaluation. Pure. */
export function buildRoundMetrics(state: RoundState, closing: Closing, evaluation: Evaluation, finishedAt: string, computeMs?: number): RoundMetrics {
  const accepted = closing.verdicts.flatMap((verdict) => (verdict.outcome === 'accepted' ? [verdict.report] : []));
  const answered = new Set(closing.verdicts.map((verdict) => verdict.clientId));
  const closedAt = Date.parse(closing.closedAt);
  const roundMs = Math.max(0, closedAt - Date.parse(state.startedAt));
  const trainMs = Math.max(0, ...accepted.map((report) => report.trainMs));
  const personalizedAccuracy = pooledPersonalizedAccuracy(accepted);
  return {
    round: state.round,
    accuracy: evaluation.accuracy,
    loss: evaluation.loss,
    perClassAccuracy: evaluation.perClassAccuracy,
    confusion: evaluation.confusion,
    ...(personalizedAccuracy !== undefined ? { personalizedAccuracy } : {}),
    clients: accepted.map((report) => ({
      clientId: report.clientId,
      samples: report.samples,
      trainLoss: report.trainLoss,
      trainAccuracy: report.trainAccuracy,
      trainMs: report.trainMs,
      backend: report.backend.backend,
      ...(report.personalizedAccuracy !== undefined
        ? { personalizedAccuracy: report.personalizedAccuracy, holdoutSamples: report.holdoutSamples }
        : {}),
    })),
    missingClients: state.expected.filter((clientId) => !answered.has(clientId)),
    rejectedClients: closing.verdicts.flatMap((verdict) => (verdict.outcome === 'rejected' ? [{ clientId: verdict.clientId, reason: verdict.reason }] : [])),
    timing: {
      startedAt: state.startedAt,
      closedAt: closing.closedAt,
      roundMs,
      trainMs,
      waitMs: Math.max(0, roundMs - trainMs),
      aggregateMs: Math.max(0, Date.parse(finishedAt) - closedAt),
      ...(closing.lastUpdateAt ? { lastUpdateAt: closing.lastUpdateAt } : {}),
      ...(computeMs !== undefined ? { computeMs: Math.max(0, Math.round(computeMs)) } : {}),
    },
    bytes: {
      down: state.globalModelBytes * state.expected.length,
      up: accepted.reduce((total, report) => total + report.updateBytes, 0),
    },
  };
}
