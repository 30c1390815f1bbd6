// Assembles a streamed explanation from `codehearth/explainChunk` notifications (each carries the
// new text since the previous chunk) and the executeCommand result (the full text).

import { ExplainChunk, ExplainResult } from './protocol';

export type StreamState = 'streaming' | 'done' | 'cancelled' | 'error';

let counter = 0;

/** A stream id the client chooses, passed as the third executeCommand argument `{id}`. */
export function newStreamId(now: number = Date.now()): string {
  counter += 1;
  return `vscode-${now.toString(36)}-${counter}`;
}

export class ExplainStream {
  private parts: string[] = [];
  private _state: StreamState = 'streaming';
  private _error: string | undefined;
  private _chunks = 0;
  private _cached = false;

  constructor(readonly id: string) {}

  get text(): string {
    return this.parts.join('');
  }
  get state(): StreamState {
    return this._state;
  }
  get error(): string | undefined {
    return this._error;
  }
  /** Chunks that carried text. */
  get chunks(): number {
    return this._chunks;
  }
  get cached(): boolean {
    return this._cached;
  }
  get finished(): boolean {
    return this._state !== 'streaming';
  }

  /** Applies one notification; returns whether anything visible changed. */
  applyChunk(chunk: ExplainChunk): boolean {
    if (chunk.id !== this.id || this.finished) {
      return false;
    }
    let changed = false;
    if (chunk.text) {
      this.parts.push(chunk.text);
      this._chunks += 1;
      changed = true;
    }
    if (chunk.error) {
      this._state = 'error';
      this._error = chunk.error;
      return true;
    }
    if (chunk.done) {
      this._state = 'done';
      changed = true;
    }
    return changed;
  }

  /** The request's result is authoritative: it has the full text even when chunks were missed. */
  applyResult(result: ExplainResult): boolean {
    if (this._state === 'cancelled' || this._state === 'error') {
      return false;
    }
    this._cached = Boolean(result.cached);
    const changed = typeof result.text === 'string' && result.text !== this.text;
    if (changed) {
      this.parts = [result.text];
    }
    const wasStreaming = this._state === 'streaming';
    this._state = 'done';
    return changed || wasStreaming;
  }

  cancel(): boolean {
    if (this.finished) {
      return false;
    }
    this._state = 'cancelled';
    return true;
  }

  fail(message: string): boolean {
    if (this.finished && this._state !== 'done') {
      return false;
    }
    if (this._state === 'done') {
      return false;
    }
    this._state = 'error';
    this._error = message;
    return true;
  }
}

/** Routes chunks to their stream by id. */
export class ExplainStreams {
  private readonly streams = new Map<string, ExplainStream>();

  open(id: string = newStreamId()): ExplainStream {
    const stream = new ExplainStream(id);
    this.streams.set(id, stream);
    return stream;
  }

  get(id: string): ExplainStream | undefined {
    return this.streams.get(id);
  }

  /** Returns the stream the chunk changed, if any. */
  route(chunk: ExplainChunk): ExplainStream | undefined {
    const stream = this.streams.get(chunk.id);
    if (stream && stream.applyChunk(chunk)) {
      return stream;
    }
    return undefined;
  }

  close(id: string): void {
    this.streams.delete(id);
  }

  get size(): number {
    return this.streams.size;
  }
}
