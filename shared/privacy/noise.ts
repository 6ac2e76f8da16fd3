import { randomFillSync } from 'node:crypto';
import { createRandom, deriveSeed } from '../random.js';

/**
 * Standard normal draws for the Gaussian mechanism.
 *
 * `secure` (the default) draws from Node's `crypto` CSPRNG: what the noise is must be unpredictable to anyone
 * who knows the code and the config, or it can be subtracted. Each draw is Marsaglia's polar method on 53-bit
 * uniforms. Floating-point samplers are not exactly Gaussian: Mironov ("On Significance of the Least Significant
 * Bits for Differential Privacy", CCS 2012) showed that the set of doubles a textbook sampler can output differs
 * between neighbouring inputs, which breaks the guarantee for the Laplace mechanism, and Jin et al. (arXiv:2112.05307)
 * did the same to Opacus's Gaussian noise. As Opacus's `secure_mode` does (after Holohan & Braghin, "Secure Random
 * Sampling in Differential Privacy", arXiv:2107.10138, §5.1), each secure draw is the sum of four independent
 * normals divided by 2: still N(0, 1), with the attack's search space raised from 2⁵³ to about 2¹⁵⁹. This is a
 * mitigation, not a proof; a discrete Gaussian (Canonne, Kamath & Steinke, 2020) would be, and is not implemented.
 *
 * `seeded` is for experiments only, NOT FOR PRODUCTION: the noise is a pure function of a seed in the config, so the
 * same config gives the same model bytes (tests and benchmarks need that), and anyone with the config can remove
 * the noise and with it every privacy guarantee.
 */
export type NoiseMode = 'secure' | 'seeded';

export interface GaussianNoise {
  readonly mode: NoiseMode;
  /** one N(0, 1) draw */
  next(): number;
}

/** 64 KiB of CSPRNG output per refill: one `randomFillSync` call per ~4,000 normals. */
const SECURE_BUFFER_WORDS = 16_384;
const TWO_POW_26 = 2 ** 26;
const TWO_POW_53 = 2 ** 53;

/** Uniform draws in [0, 1) with 53 random bits each, from Node's CSPRNG. */
export class SecureUniform {
  readonly #words = new Uint32Array(SECURE_BUFFER_WORDS);
  #position = SECURE_BUFFER_WORDS;

  next(): number {
    if (this.#position + 2 > SECURE_BUFFER_WORDS) {
      randomFillSync(this.#words);
      this.#position = 0;
    }
    // 27 bits from one word and 26 from the next: every double k/2⁵³ equally likely.
    const high = this.#words[this.#position++]! >>> 5;
    const low = this.#words[this.#position++]! >>> 6;
    return (high * TWO_POW_26 + low) / TWO_POW_53;
  }
}

class SecureGaussian implements GaussianNoise {
  readonly mode = 'secure';
  readonly #uniform = new SecureUniform();
  #spare: number | undefined;

  next(): number {
    return (this.#normal() + this.#normal() + this.#normal() + this.#normal()) / 2;
  }

  #normal(): number {
    if (this.#spare !== undefined) {
      const spare = this.#spare;
      this.#spare = undefined;
      return spare;
    }
    for (;;) {
      const u = 2 * this.#uniform.next() - 1;
      const v = 2 * this.#uniform.next() - 1;
      const s = u * u + v * v;
      if (s > 0 && s < 1) {
        const factor = Math.sqrt((-2 * Math.log(s)) / s);
        this.#spare = v * factor;
        return u * factor;
      }
    }
  }
}

/** Gaussian noise from Node's CSPRNG, hardened against floating-point attacks: for real deployments. */
export function secureGaussianNoise(): GaussianNoise {
  return new SecureGaussian();
}

/**
 * NOT FOR PRODUCTION. Reproducible Gaussian noise, a pure function of (seed, labels): e.g.
 * `seededGaussianNoise(config.seed, 'dp-noise', round)`. Anyone who knows the seed can subtract the noise.
 */
export function seededGaussianNoise(seed: number, ...labels: readonly (string | number)[]): GaussianNoise {
  const random = createRandom(deriveSeed(seed, 'privacy-noise', ...labels));
  return { mode: 'seeded', next: () => random.nextGaussian() };
}

/** The noise source a config asks for: `secure` ignores the seed and labels. */
export function gaussianNoise(mode: NoiseMode, seed: number, ...labels: readonly (string | number)[]): GaussianNoise {
  return mode === 'secure' ? secureGaussianNoise() : seededGaussianNoise(seed, ...labels);
}
