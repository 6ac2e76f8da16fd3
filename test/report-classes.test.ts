import { describe, expect, it } from 'vitest';
import { formatRoundTable } from '../cli/tables.js';
import { BUILTIN_DATASETS } from '../shared/data/registry.js';
import { renderComparisonHtml, renderReportHtml, renderSummaryMarkdown } from '../shared/report/index.js';
import { fabricateMetrics } from './report-fixtures.js';

/** Reports name the classes (Fashion-MNIST's "T-shirt/top", CIFAR-10's "airplane"), not only their indices. */

const fashionNames = BUILTIN_DATASETS['fashion-mnist'].classNames;

function fashionMetrics() {
  const metrics = fabricateMetrics({ name: 'Fashion IID' });
  return { ...metrics, config: { dataset: 'fashion-mnist' }, partition: { ...metrics.partition, dataset: 'fashion-mnist', classNames: [...fashionNames] } };
}

describe('class names in reports', () => {
  it('the HTML report labels per-class accuracy, label mix and confusion with the recorded names', () => {
    const html = renderReportHtml(fashionMetrics());
    for (const name of ['T-shirt/top', 'Ankle boot', 'Sneaker']) expect(html).toContain(name);
    expect(html).toContain('True class');
    expect(html).toContain('share of test images of that class');
    expect(html).not.toContain('Per-client label mix by digit');
  });

  it('the Markdown summary too', () => {
    const markdown = renderSummaryMarkdown(fashionMetrics());
    expect(markdown).toMatch(/## Accuracy by class after round 5/);
    expect(markdown).toMatch(/\| Class \| T-shirt\/top \| Trouser \|/);
    expect(markdown).toMatch(/Classes held/);
  });

  it('falls back to a built-in dataset\'s names from the config, and keeps MNIST\'s digits', () => {
    const metrics = fabricateMetrics();
    const cifar = { ...metrics, config: { dataset: 'cifar10' } };
    expect(renderReportHtml(cifar)).toContain('airplane');
    const mnist = renderSummaryMarkdown({ ...metrics, config: { dataset: 'mnist' } });
    expect(mnist).toMatch(/## Accuracy by digit after round/);
    expect(mnist).toMatch(/\| Digit \| 0 \| 1 \|/);
  });

  it('the comparison names the classes of its experiments', () => {
    const html = renderComparisonHtml([fashionMetrics(), { ...fashionMetrics(), experimentId: 'other' }]);
    expect(html).toContain('Final accuracy by class');
    expect(html).toContain('Ankle boot');
  });

  it('the CLI\'s round table (flambda run, flambda status) ends with the accuracy of each class by name', () => {
    expect(formatRoundTable(fashionMetrics())).toMatch(/\n\naccuracy by class \(round 5\): T-shirt\/top \d+\.\d\d %, Trouser .*Ankle boot \d+\.\d\d %$/);
    const many = fabricateMetrics({ classes: 20 });
    expect(formatRoundTable(many)).toMatch(/weakest of 20 classes \(round 5\): /);
  });
});
