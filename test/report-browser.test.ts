/**
 * The report and comparison pages in a real headless Chromium (Debian's `chromium` package, driven by
 * playwright-core): they must load from file:// with no console or page errors and no network request, and the
 * charts must hold the series, points and cells the metrics call for.
 *
 * Screenshots go to a temporary folder (path printed), or to $FLAMBDA_REPORT_SCREENSHOTS when set — that is how
 * docs/img/report.png and docs/img/compare.png are made.
 */

import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExperimentMetrics } from '../shared/metrics/types.js';
import { experimentLabels, renderComparisonHtml, renderReportHtml } from '../shared/report/index.js';
import { fabricateMetrics } from './report-fixtures.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
const title = available
  ? 'report pages in headless Chromium'
  : `report pages in headless Chromium — SKIPPED: ${CHROMIUM} is absent (apt-get install -y chromium)`;
if (!available) console.warn(`test/report-browser.test.ts: ${title}`);

describe.skipIf(!available)(title, () => {
  let workspace: string;
  let context: BrowserContext;
  let screenshots: string;

  beforeAll(async () => {
    workspace = await mkdtemp(path.join(os.tmpdir(), 'flambda-report-browser-'));
    screenshots = process.env.FLAMBDA_REPORT_SCREENSHOTS ?? path.join(workspace, 'screenshots');
    await mkdir(screenshots, { recursive: true });
    context = await chromium.launchPersistentContext(path.join(workspace, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1280, height: 900 },
    });
  });

  afterAll(async () => {
    await context?.close();
    await rm(workspace, { recursive: true, force: true });
  });

  /** Opens a page from file:// and records every console error, page error and request that leaves the file. */
  async function open(name: string, html: string): Promise<{ page: Page; problems: string[] }> {
    const file = path.join(workspace, name);
    await writeFile(file, html);
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(`console ${message.type()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('request', (request) => {
      if (!request.url().startsWith('file://')) problems.push(`network request: ${request.url()}`);
    });
    await page.goto(`file://${file}`, { waitUntil: 'load' });
    return { page, problems };
  }

  /** Every drawn mark of a chart must sit inside its SVG's viewBox: a scale bug would push points off the chart. */
  async function marksOutsideViewBox(page: Page, chartId: string): Promise<number> {
    return page.locator(`[data-chart="${chartId}"] > svg`).evaluate((node) => {
      // The project compiles without the DOM lib: just the two SVG members this check reads.
      interface Box { x: number; y: number; width: number; height: number }
      const svg = node as unknown as { viewBox: { baseVal: Box }; querySelectorAll(selector: string): ArrayLike<{ getBBox(): Box }> };
      const box = svg.viewBox.baseVal;
      const marks = Array.from(svg.querySelectorAll('[data-point], [data-cell], [data-bar]'));
      return marks.filter((mark) => {
        const bounds = mark.getBBox();
        return bounds.x < box.x - 0.5 || bounds.y < box.y - 0.5 || bounds.x + bounds.width > box.x + box.width + 0.5 || bounds.y + bounds.height > box.y + box.height + 0.5;
      }).length;
    });
  }

  it('renders a report with the expected series, points and heatmap cells, and nothing else goes wrong', async () => {
    const metrics = fabricateMetrics({
      partition: 'shards',
      rounds: 8,
      clients: 5,
      missing: [{ round: 3, clientId: 'client-002' }],
      rejected: [{ round: 6, clientId: 'client-004', reason: 'update contains NaN weights' }],
    });
    const { page, problems } = await open('report.html', renderReportHtml(metrics));
    const classes = metrics.rounds[0]!.perClassAccuracy.length;

    const series = page.locator('[data-chart="accuracy"] [data-series]');
    await expect(series.count()).resolves.toBe(1);
    await expect(page.locator('[data-chart="accuracy"] [data-point]').count()).resolves.toBe(metrics.rounds.length);
    await expect(page.locator('[data-chart="loss"] [data-point]').count()).resolves.toBe(metrics.rounds.length);
    await expect(page.locator('[data-chart="per-class-accuracy"] [data-cell]').count()).resolves.toBe(classes * metrics.rounds.length);
    await expect(page.locator('[data-chart="confusion"] [data-cell]').count()).resolves.toBe(classes * classes);
    const segments = metrics.partition.clients.reduce((sum, client) => sum + client.labelHistogram.filter((count) => count > 0).length, 0);
    await expect(page.locator('[data-chart="label-distribution"] [data-bar]').count()).resolves.toBe(segments);
    await expect(page.locator('[data-chart="timing"] [data-bar][data-segment="train"]').count()).resolves.toBe(metrics.rounds.length);

    for (const chartId of ['accuracy', 'loss', 'per-class-accuracy', 'confusion', 'label-distribution', 'timing', 'client-train-loss']) {
      const size = await page.locator(`[data-chart="${chartId}"] > svg`).boundingBox();
      expect(size?.width, `${chartId} width`).toBeGreaterThan(250);
      expect(size?.height, `${chartId} height`).toBeGreaterThan(100);
      expect(await marksOutsideViewBox(page, chartId), `${chartId} marks outside the chart`).toBe(0);
    }

    // The points climb as accuracy does: higher accuracy must be drawn higher up (smaller y).
    const heights = await page.locator('[data-chart="accuracy"] [data-point]').evaluateAll((circles) => circles.map((circle) => Number(circle.getAttribute('cy'))));
    const accuracies = metrics.rounds.map((round) => round.accuracy);
    const highest = accuracies.indexOf(Math.max(...accuracies));
    const lowest = accuracies.indexOf(Math.min(...accuracies));
    expect(heights[highest]!).toBeLessThan(heights[lowest]!);

    const screenshot = path.join(screenshots, 'report.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    console.log(`report screenshot: ${screenshot}`);
    expect((await stat(screenshot)).size).toBeGreaterThan(10_000);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('overlays every experiment of a comparison, one series each, with a point per round', async () => {
    const list: ExperimentMetrics[] = [
      fabricateMetrics({ partition: 'iid', rounds: 10, seed: 11, experimentId: 'mnist-iid' }),
      fabricateMetrics({ partition: 'shards', rounds: 10, seed: 12, experimentId: 'mnist-label-skew' }),
      fabricateMetrics({ partition: 'shards', rounds: 6, seed: 13, experimentId: 'mnist-skew-short', name: 'Label skew, <6 rounds> & stopped' }),
    ];
    const { page, problems } = await open('compare.html', renderComparisonHtml(list));
    const labels = experimentLabels(list);

    const names = await page.locator('[data-chart="accuracy"] [data-series]').evaluateAll((groups) => groups.map((group) => group.getAttribute('data-series')));
    expect(names).toEqual(labels);
    for (const [index, metrics] of list.entries()) {
      const points = page.locator('[data-chart="accuracy"] [data-series]').nth(index).locator('[data-point]');
      await expect(points.count()).resolves.toBe(metrics.rounds.length);
    }
    await expect(page.locator('[data-chart="gap"] [data-series]').count()).resolves.toBe(list.length - 1);
    await expect(page.locator('[data-chart="accuracy"] [data-legend]').allTextContents()).resolves.toEqual(labels);
    expect(await marksOutsideViewBox(page, 'accuracy')).toBe(0);
    expect(await marksOutsideViewBox(page, 'gap')).toBe(0);

    const screenshot = path.join(screenshots, 'compare.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    console.log(`comparison screenshot: ${screenshot}`);
    expect(problems).toEqual([]);
    await page.close();
  });
});
