// Errors are shown to the user once per distinct message (further occurrences only go to the log).

export class Once {
  private readonly seen = new Set<string>();

  /** True the first time `key` is seen. */
  first(key: string): boolean {
    const k = key.trim();
    if (this.seen.has(k)) {
      return false;
    }
    this.seen.add(k);
    return true;
  }

  forget(key?: string): void {
    if (key === undefined) {
      this.seen.clear();
    } else {
      this.seen.delete(key.trim());
    }
  }
}
