export interface Ticks {
  readonly min: number;
  readonly max: number;
  readonly ticks: readonly number[];
}

function niceStep(rawStep: number): number {
  const exponent = Math.floor(Math.log10(rawStep));
  const fraction = rawStep / 10 ** exponent;
  const nice = fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10;
  return nice * 10 ** exponent;
}

/** Round tick values (1, 2 or 5 × 10^k apart) that cover [min, max] with about `target` intervals. */
export function niceTicks(min: number, max: number, target = 5): Ticks {
  let low = min;
  let high = max;
  if (!(high > low)) {
    const pad = low === 0 ? 1 : Math.abs(low) * 0.1;
    low -= pad;
    high += pad;
  }
  const step = niceStep((high - low) / target);
  const first = Math.floor(low / step + 1e-9) * step;
  const last = Math.ceil(high / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let index = 0; first + index * step <= last + step / 2; index += 1) {
    // toPrecision removes the 0.30000000000000004 that repeated addition leaves behind.
    ticks.push(Number((first + index * step).toPrecision(12)));
  }
  return { min: ticks[0] ?? low, max: ticks.at(-1) ?? high, ticks };
}

/** Label every k-th category, k a round 1, 2, 5, 10, … so labels are 10, 20, 30 rather than 1, 12, 23. */
export function labelStep(slotSize: number, minimumSpacing: number): number {
  const needed = Math.ceil(minimumSpacing / slotSize);
  for (let magnitude = 1; ; magnitude *= 10) {
    for (const multiple of [1, 2, 5]) if (multiple * magnitude >= needed) return multiple * magnitude;
  }
}

/** With step k, label categories k, 2k, 3k, … (1-based) and the first one when it stands clear of the next label. */
export function isLabelled(index: number, step: number): boolean {
  return step === 1 || (index + 1) % step === 0 || (index === 0 && step >= 4);
}

/** Integer ticks for round numbers: every round when there are few, otherwise round multiples. */
export function integerTicks(min: number, max: number): Ticks {
  if (max - min <= 12) {
    const ticks = Array.from({ length: max - min + 1 }, (_, index) => min + index);
    return { min, max, ticks };
  }
  const step = Math.max(1, niceStep((max - min) / 8));
  const ticks: number[] = [];
  for (let value = Math.ceil(min / step) * step; value <= max; value += step) ticks.push(value);
  return { min, max, ticks };
}
