import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { STRATEGY_NAMES } from '../shared/config/schema.js';

/**
 * The strategy lifecycle's promise (docs/strategies.md): a strategy is one file under shared/strategies/, and the
 * pipeline only runs the halves it is given. So no pipeline module may name a strategy, in code or in a message.
 * Comments are left out, and so is "DP-FedAvg", the name of the privacy mechanism (McMahan et al., 2018).
 */
const PIPELINE = join(import.meta.dirname, '..', 'shared', 'pipeline');
const STRATEGIES = [...STRATEGY_NAMES, 'fedper'];

function codeOf(source: string): string {
  return source
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/(^|[^:'"`])\/\/.*$/gm, '$1')
    .replace(/DP-FedAvg/g, '');
}

describe('the pipeline knows no strategy', () => {
  const files = readdirSync(PIPELINE).filter((file) => file.endsWith('.ts'));

  it('reads every pipeline module', () => {
    expect(files).toContain('train.ts');
    expect(files).toContain('aggregate-round.ts');
  });

  it.each(files)('%s names no strategy', (file) => {
    const code = codeOf(readFileSync(join(PIPELINE, file), 'utf8')).toLowerCase();
    const named = STRATEGIES.filter((name) => code.includes(name));
    expect(named, `${file} names ${named.join(', ')}`).toEqual([]);
  });

  it('would notice one', () => {
    expect(codeOf("if (config.strategy.name === 'scaffold') run(); // fedper").toLowerCase()).toContain('scaffold');
    expect(codeOf('const mean = fedAvgServerStep(input); /* scaffold */').toLowerCase()).toContain('fedavg');
  });
});
