/**
 * Log-space arithmetic for the privacy accountant. The moments it sums span hundreds of orders of magnitude
 * (a term of order 1024 at σ = 0.5 is e^(2·10⁶)), so every sum is kept as a logarithm and nothing is exponentiated
 * before it has been shifted by the largest term.
 */

const LOG_SQRT_PI = 0.5 * Math.log(Math.PI);
const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/**
 * A running log Σ exp(termᵢ) over terms added one at a time: the scale is the largest term seen so far, so the
 * partial sum never overflows, and adding a term far below the scale costs nothing in precision.
 */
export class LogSum {
  #scale = -Infinity;
  /** Σ exp(termᵢ − scale) */
  #scaled = 0;

  add(logTerm: number): void {
    if (logTerm === -Infinity) return;
    if (Number.isNaN(logTerm)) throw new RangeError('LogSum: a term is NaN');
    if (logTerm === Infinity) {
      this.#scale = Infinity;
      this.#scaled = 1;
      return;
    }
    if (logTerm <= this.#scale) {
      this.#scaled += Math.exp(logTerm - this.#scale);
    } else {
      this.#scaled = this.#scaled * Math.exp(this.#scale - logTerm) + 1;
      this.#scale = logTerm;
    }
  }

  /** log of the sum; −∞ for an empty sum */
  get value(): number {
    if (this.#scale === -Infinity || this.#scale === Infinity) return this.#scale;
    return this.#scale + Math.log(this.#scaled);
  }
}

/** log(eˣ − eʸ) for x ≥ y; −∞ when they are equal. Throws for x < y: the caller's maths has gone wrong. */
export function logSubExp(x: number, y: number): number {
  if (x < y) throw new RangeError(`logSubExp: log(e^${x} − e^${y}) is the log of a negative number`);
  if (y === -Infinity) return x;
  if (x === y) return -Infinity;
  return x + Math.log(-Math.expm1(y - x));
}

/**
 * log(erfc(x)), accurate to a few units in the 14th digit for every real x, including x in the thousands where
 * erfc(x) itself underflows (the accountant's fractional-order series evaluates it that far out).
 * - x < 0: erfc(x) = 2 − erfc(−x) lies in (1, 2], no cancellation;
 * - 0 ≤ x < 2: 1 − erf(x) with erf from its Maclaurin series (at most 1.3 digits lost to its alternating terms);
 * - x ≥ 2: −x² + log(√π·erfc(x)·e^(x²)) with the scaled part from the classical continued fraction
 *   erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))) (Abramowitz & Stegun 7.1.14).
 */
export function logErfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x === Infinity) return -Infinity;
  if (x < 0) return Math.log(2 - Math.exp(logErfc(-x)));
  if (x < 2) return Math.log1p(-erfSeries(x));
  return -x * x - LOG_SQRT_PI + Math.log(erfcContinuedFraction(x));
}

/** erf(x) = 2/√π · Σₙ (−1)ⁿ x^(2n+1) / (n!·(2n+1)), for |x| < 2 */
function erfSeries(x: number): number {
  const xSquared = x * x;
  let power = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    power *= -xSquared / n;
    const term = power / (2 * n + 1);
    sum += term;
    if (Math.abs(term) < 1e-17 * Math.abs(sum)) break;
  }
  return TWO_OVER_SQRT_PI * sum;
}

/**
 * K(x) = 1/(x + a₁/(x + a₂/(x + …))) with aₙ = n/2, evaluated by the modified Lentz method (Numerical Recipes
 * §5.2); for x ≥ 2 it converges to full double precision in under 100 steps.
 */
function erfcContinuedFraction(x: number): number {
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 1000; n++) {
    const a = n / 2;
    d = x + a * d;
    d = Math.abs(d) < tiny ? tiny : d;
    c = x + a / c;
    c = Math.abs(c) < tiny ? tiny : c;
    d = 1 / d;
    const change = c * d;
    f *= change;
    if (Math.abs(change - 1) < 1e-16) return 1 / f;
  }
  throw new RangeError(`logErfc: the continued fraction did not converge at x = ${x}`);
}
