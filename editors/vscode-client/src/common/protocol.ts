// The custom parts of docs/protocol.md, as the client sees them. No vscode imports: unit-testable.

export const EXPLAIN_COMMAND = 'codehearth.explain';
export const EXPLAIN_CHUNK = 'codehearth/explainChunk';
export const CANCEL_EXPLAIN = 'codehearth/cancelExplain';
export const STATUS_NOTIFICATION = 'codehearth/status';
export const STATS_REQUEST = 'codehearth/stats';
export const SUGGESTION_READY = 'codehearth/suggestionReady';

export type ModelState = 'loading' | 'ready' | 'error';

/** `codehearth/explainChunk`: `text` is the new text since the previous chunk. */
export interface ExplainChunk {
  id: string;
  text: string;
  done: boolean;
  error?: string;
}

/** Result of `workspace/executeCommand` `codehearth.explain`. */
export interface ExplainResult {
  id: string;
  text: string;
  cached: boolean;
}

/** One role's model (completion or explanation): which, its state, and why `auto` chose it. */
export interface RoleStatus {
  model?: string;
  state?: ModelState | 'idle';
  auto?: boolean;
  reason?: string;
  error?: string | null;
}

export type RoleStatuses = Partial<Record<'completion' | 'explanation', RoleStatus>>;

/** `codehearth/status` notification. */
export interface StatusParams {
  state: ModelState;
  model: string;
  models?: RoleStatuses;
  message?: string;
}

export interface LatencySummary {
  p50?: number | null;
  p95?: number | null;
  p99?: number | null;
  count?: number;
}

/** `codehearth/stats` result (only the fields the client reads are typed strictly). */
export interface Stats {
  requests?: number;
  answeredFromCache?: number;
  cancelled?: number;
  superseded?: number;
  latencyMs?: LatencySummary;
  model?: string;
  models?: RoleStatuses;
  state?: ModelState;
  lastLatencyMs?: number | null;
  error?: string | null;
  speed?: SpeedSummary | null;
  [key: string]: unknown;
}

/** The measured speed of this machine and model, as `codehearth/stats` reports it. */
export interface SpeedSummary {
  promptTokensPerS: number;
  generatedTokensPerS: number;
  typicalKeystrokeMs?: number;
  threads?: number;
}

/** An LSP position (in the negotiated encoding; VS Code's client negotiates UTF-16). */
export interface WirePosition {
  line: number;
  character: number;
}

export function isExplainChunk(value: unknown): value is ExplainChunk {
  if (typeof value !== 'object' || value === null) {
    return false;
  }
  const v = value as Record<string, unknown>;
  return typeof v.id === 'string' && typeof v.text === 'string' && typeof v.done === 'boolean';
}

export function isWirePosition(value: unknown): value is WirePosition {
  if (typeof value !== 'object' || value === null) {
    return false;
  }
  const v = value as Record<string, unknown>;
  return Number.isInteger(v.line) && Number.isInteger(v.character);
}

/** `codehearth/suggestionReady`: the inline completion asked at `position` was cut short by the deadline, and the
 * full prompt's suggestion is ready now; asking again at the same place gets it at once. */
export interface SuggestionReady {
  textDocument: { uri: string };
  position: WirePosition;
}

export function isSuggestionReady(value: unknown): value is SuggestionReady {
  if (typeof value !== 'object' || value === null) {
    return false;
  }
  const v = value as Record<string, unknown>;
  const doc = v.textDocument as Record<string, unknown> | undefined;
  return typeof doc === 'object' && doc !== null && typeof doc.uri === 'string' && isWirePosition(v.position);
}

/** Ask again only where the user still is: the same document, the cursor at the position asked, nothing selected. */
export function asksAgain(ready: SuggestionReady, uri: string, cursor: WirePosition, selectionEmpty: boolean): boolean {
  return (
    selectionEmpty &&
    ready.textDocument.uri === uri &&
    ready.position.line === cursor.line &&
    ready.position.character === cursor.character
  );
}
