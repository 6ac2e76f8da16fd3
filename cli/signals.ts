/**
 * SIGINT and SIGTERM for the whole CLI. bin/flambda.js exits at once on a signal while the CLI is still loading
 * (nothing has started yet), then hands over to these handlers. A command that owns resources (the local cloud's
 * workers and emulator, a log file) calls `interruptSignal()` and cleans up when it fires; any other command simply
 * exits. A second signal exits at once, without waiting for the clean-up.
 */

const EXIT_CODES: Readonly<Record<StopSignal, number>> = { SIGINT: 130, SIGTERM: 143 };
export type StopSignal = 'SIGINT' | 'SIGTERM';

const controller = new AbortController();
let received: StopSignal | undefined;
let handledByCommand = false;
let installed = false;

export class InterruptedError extends Error {
  override name = 'InterruptedError';
  constructor(readonly signal: StopSignal) {
    super(`interrupted by ${signal}`);
  }
}

export function installSignalHandlers(): void {
  if (installed) return;
  installed = true;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => onSignal(signal));
}

function onSignal(signal: StopSignal): void {
  if (received) {
    process.stderr.write(`\nflambda: ${signal} again: exiting without clean-up\n`);
    process.exit(EXIT_CODES[signal]);
  }
  received = signal;
  if (!handledByCommand) process.exit(EXIT_CODES[signal]);
  process.stderr.write(`\nflambda: ${signal} received, stopping (${signal === 'SIGINT' ? 'Ctrl-C' : 'the same signal'} again to exit at once)\n`);
  controller.abort(new InterruptedError(signal));
}

/** For a command that cleans up after itself: aborts on the first SIGINT or SIGTERM, instead of exiting. */
export function interruptSignal(): AbortSignal {
  handledByCommand = true;
  return controller.signal;
}

/** Resolves when the first SIGINT or SIGTERM arrives (at once if one already has). */
export function interrupted(): Promise<StopSignal> {
  const signal = interruptSignal();
  return new Promise((resolve) => {
    if (signal.aborted) resolve(received!);
    else signal.addEventListener('abort', () => resolve(received!), { once: true });
  });
}

/** 130 after SIGINT, 143 after SIGTERM (the shell's convention), undefined when no signal came. */
export function interruptExitCode(): number | undefined {
  return received ? EXIT_CODES[received] : undefined;
}

export function throwIfInterrupted(): void {
  if (received) throw new InterruptedError(received);
}
