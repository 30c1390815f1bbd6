// When to restart a server that exited: exponential back-off, and give up after too many crashes
// in a short window (the error is then shown once, with a "Restart Server" action).

export interface BackoffOptions {
  initialDelayMs: number;
  factor: number;
  maxDelayMs: number;
  /** Crashes allowed within `windowMs` before giving up. */
  maxRestarts: number;
  windowMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = {
  initialDelayMs: 500,
  factor: 2,
  maxDelayMs: 30_000,
  maxRestarts: 5,
  windowMs: 3 * 60_000,
};

export class RestartPolicy {
  private crashes: number[] = [];

  constructor(private readonly options: BackoffOptions = DEFAULT_BACKOFF) {}

  /** Records a crash at `now`; returns the delay before the next start, or undefined to give up. */
  onCrash(now: number): number | undefined {
    this.crashes = this.crashes.filter((t) => now - t < this.options.windowMs);
    this.crashes.push(now);
    const n = this.crashes.length;
    if (n > this.options.maxRestarts) {
      return undefined;
    }
    const delay = this.options.initialDelayMs * Math.pow(this.options.factor, n - 1);
    return Math.min(delay, this.options.maxDelayMs);
  }

  /** A manual restart (or a long healthy run) forgets earlier crashes. */
  reset(): void {
    this.crashes = [];
  }

  get recentCrashes(): number {
    return this.crashes.length;
  }
}
