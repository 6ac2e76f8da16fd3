import type { StrategyConfig } from '../config/schema.js';
import { packState, unpackState } from './server-state.js';
import { elementwise, filledLike } from './tensor-math.js';
import type { ClientHalf, Strategy, StrategyContext } from './types.js';
import { wholeModelServer } from './halves.js';

/**
 * FedDyn (Acar et al., ICLR 2021, Algorithm 1). Client k keeps g_k = ∇L_k(θ_k), zero before its first round, and
 * trains from the global θ on
 *   L_k(θ) − ⟨g_k, θ⟩ + α/2·‖θ − θ_global‖²
 * (a gradient correction −g_k plus a proximal term α), then g_k ← g_k − α·(θ_k − θ_global). The server keeps h:
 *   h ← h − α·(|P|/m)·mean(θ_k − θ_global),   θ ← mean(θ_k) − h/α.
 * The paper's means are unweighted over the round's clients; ours is the sample-weighted mean every strategy steps
 * on (they coincide with equal shards, as in the original study). g_k is adopted client state (slot "gradient"):
 * the aggregator adopts it only with an accepted update, so a rejected or retried round never changes it.
 */
const GRADIENT = 'gradient';
const SLOTS = ['h'] as const;

export function createFedDyn({ alpha }: Extract<StrategyConfig, { name: 'feddyn' }>, context: StrategyContext): Strategy {
  const client: ClientHalf = {
    adoptedState: [GRADIENT],
    keptState: [],
    sideUploads: [],
    readsServerState: false,
    begin({ global, shard, adopted }) {
      const gradient = adopted[GRADIENT] ?? filledLike(global, 0);
      return {
        start: global,
        trainSet: shard,
        objective: { proximalMu: alpha, gradientCorrection: elementwise('feddyn: client state', [gradient], (g) => -g) },
      };
    },
    finish({ global, trained, adopted }) {
      const gradient = adopted[GRADIENT] ?? filledLike(global, 0);
      const next = elementwise('feddyn: client update', [gradient, trained, global], (g, theta, start) => g - alpha * (theta - start));
      return { upload: trained, uploadBase: global, proposals: { [GRADIENT]: next }, side: {}, kept: {} };
    },
  };
  return {
    name: 'feddyn',
    client,
    server: wholeModelServer(({ global, mean, state, accepted }) => {
      const previous = state === undefined ? filledLike(global, 0) : unpackState('feddyn', state, global, SLOTS).h;
      const share = (accepted?.length ?? 0) / context.clients;
      const h = elementwise('feddyn', [previous, mean, global], (hPrevious, y, x) => hPrevious - alpha * share * (y - x));
      const weights = elementwise('feddyn', [mean, h], (y, hNext) => y - hNext / alpha);
      return { weights, state: packState(SLOTS, { h }) };
    }),
  };
}
