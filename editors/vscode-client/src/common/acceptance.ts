// Tells the server what happened to each suggestion (docs/protocol.md, "Acceptance statistics").
// VS Code's stable API has no "shown" or "partially accepted" hook for inline completions (those are the proposed
// `inlineCompletionsAdditions` API, refused to published extensions), and vscode-languageclient 11 passes none on.
// So: "shown" when an answer with an item reaches the editor with the cursor still there; "partial" when a document
// change inserts the next characters of the live suggestion and the cursor then moves by something other than the
// keyboard (VS Code moves it with the source "inlineCompletionPartialAccept", which extensions see as no kind;
// typing moves it with the keyboard); "accepted" when VS Code runs the item's command (a whole accept);
// "dismissed" when the document or the cursor goes elsewhere, or another suggestion replaces it.
// No vscode imports: unit-tested in node.

export const ACCEPT_COMMAND = 'codehearth.acceptSuggestion';
export const ERASE_STATS_COMMAND = 'codehearth.eraseStats';
export const SUGGESTION_EVENT = 'codehearth/suggestionEvent';

export type SuggestionEventKind = 'shown' | 'accepted' | 'partial' | 'dismissed';

export interface SuggestionEvent {
  id: string;
  event: SuggestionEventKind;
  acceptedChars?: number;
}

export interface Pos {
  line: number;
  character: number;
}

/** One content change: the range it replaced and the text it put there. */
export interface Change {
  start: Pos;
  end: Pos;
  text: string;
}

export interface SuggestionRef {
  id: string;
  /** Characters of the suggestion counted from where it was first offered, once this item is accepted. */
  acceptedChars: number;
}

/** The suggestion id an item's command carries (`[{id, acceptedChars}]`), if it is ours. */
export function suggestionRef(command: { command?: string; arguments?: unknown[] } | undefined): SuggestionRef | undefined {
  if (!command || command.command !== ACCEPT_COMMAND || !Array.isArray(command.arguments)) {
    return undefined;
  }
  const arg = command.arguments[0] as Record<string, unknown> | undefined;
  if (!arg || typeof arg.id !== 'string' || typeof arg.acceptedChars !== 'number') {
    return undefined;
  }
  return { id: arg.id, acceptedChars: arg.acceptedChars };
}

export function advance(pos: Pos, text: string): Pos {
  const lines = text.split('\n');
  if (lines.length === 1) {
    return { line: pos.line, character: pos.character + text.length };
  }
  return { line: pos.line + lines.length - 1, character: lines[lines.length - 1].length };
}

const samePos = (a: Pos, b: Pos) => a.line === b.line && a.character === b.character;

interface Live {
  id: string;
  uri: string;
  at: Pos; // where the rest of the suggestion starts (the cursor, while it is live)
  rest: string; // what is still ghost text
  before: number; // characters of the suggestion already in the document
  partial: boolean;
  pending: number; // characters just inserted, typed or accepted: the cursor move that follows tells which
}

export class AcceptanceTracker {
  private live: Live | undefined;
  private readonly shown = new Set<string>();

  constructor(private readonly send: (event: SuggestionEvent) => void) {}

  get current(): { id: string; rest: string; before: number } | undefined {
    return this.live && { id: this.live.id, rest: this.live.rest, before: this.live.before };
  }

  /** An answer reached the editor: `text` shown at `at` in `uri` (the cursor is there). */
  offered(uri: string, at: Pos, text: string, ref: SuggestionRef): void {
    if (this.live && this.live.id !== ref.id) {
      this.dismiss();
    }
    const partial = this.live?.partial ?? false;
    const before = Math.max(0, ref.acceptedChars - text.length);
    this.live = { id: ref.id, uri, at, rest: text, before, partial, pending: 0 };
    if (!this.shown.has(ref.id)) {
      this.shown.add(ref.id);
      if (this.shown.size > 256) {
        this.shown.delete(this.shown.values().next().value as string);
      }
      this.send({ id: ref.id, event: 'shown' });
    }
  }

  /** The document `uri` changed. */
  changed(uri: string, changes: readonly Change[]): void {
    const live = this.live;
    if (!live || live.uri !== uri || changes.length === 0) {
      return;
    }
    const c = changes[0];
    const inserted = changes.length === 1 && samePos(c.start, live.at) && samePos(c.end, live.at) ? c.text : '';
    if (!inserted || !live.rest.startsWith(inserted)) {
      this.dismiss();
      return;
    }
    live.at = advance(live.at, inserted);
    live.rest = live.rest.slice(inserted.length);
    live.before += inserted.length;
    live.pending += inserted.length;
    if (!live.rest) {
      // Taken whole (VS Code then runs the item's command, which records the accept) or typed to the end.
      this.live = undefined;
    }
  }

  /**
   * The cursor of the editor showing `uri` is now at `pos` (another editor, or none: `uri` undefined).
   * `byKeyboard`: the move came from typing (unknown: an insertion of two or more characters is an accept).
   */
  cursorMoved(uri: string | undefined, pos: Pos | undefined, byKeyboard?: boolean): void {
    const live = this.live;
    if (!live) {
      return;
    }
    if (uri !== live.uri || !pos || !samePos(pos, live.at)) {
      this.dismiss();
      return;
    }
    const inserted = live.pending;
    live.pending = 0;
    if (inserted && (byKeyboard === undefined ? inserted >= 2 : !byKeyboard)) {
      live.partial = true;
      this.send({ id: live.id, event: 'partial', acceptedChars: live.before });
    }
  }

  /** VS Code ran the item's command: the suggestion was accepted whole. */
  accepted(id: string): void {
    if (this.live?.id === id) {
      this.live = undefined;
    }
  }

  dismiss(): void {
    const live = this.live;
    this.live = undefined;
    if (live) {
      this.send({ id: live.id, event: 'dismissed' });
    }
  }
}
