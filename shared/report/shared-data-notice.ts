import type { ExperimentMetrics } from '../metrics/types.js';
import { escapeHtml } from './escape.js';
import { formatCount } from './format.js';

/**
 * An experiment run with `sharedData` (Zhao et al., 2018) is not pure federated learning: every report says so where
 * the result is read, so its accuracy is never mistaken for what the clients' data alone achieved.
 */

export const SHARED_DATA_MARK = 'shared data';

/** One sentence about the public subset, or undefined for a pure FL experiment. */
export function sharedDataSentence(metrics: ExperimentMetrics): string | undefined {
  const shared = metrics.partition.sharedData;
  if (!shared) return undefined;
  const percent = `${+(shared.fraction * 100).toPrecision(3)} %`;
  const each = shared.samplesPerClient === shared.samples ? 'all of them' : `${formatCount(shared.samplesPerClient)} of them`;
  return (
    `Not pure federated learning: the server sent a public, class-balanced subset of ${formatCount(shared.samples)} training images ` +
    `(${percent} of the training set, config sharedData) to every client, and each client trained on ${each} besides its own data. ` +
    "The clients' own data never left them."
  );
}

/** The HTML report's notice at the top of the page; empty for a pure FL experiment. */
export function sharedDataNoticeHtml(metrics: ExperimentMetrics): string {
  const sentence = sharedDataSentence(metrics);
  return sentence ? `<p class="notice" data-shared-data><b>Shared data.</b> ${escapeHtml(sentence)}</p>` : '';
}
