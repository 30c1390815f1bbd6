import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AcceptanceTracker, SuggestionEvent, advance, suggestionRef } from '../common/acceptance';

const at = (line: number, character: number) => ({ line, character });
const insert = (line: number, character: number, text: string) => [{ start: at(line, character), end: at(line, character), text }];

function tracker(): { t: AcceptanceTracker; events: SuggestionEvent[] } {
  const events: SuggestionEvent[] = [];
  return { t: new AcceptanceTracker((e) => events.push(e)), events };
}

test('the id comes from the item command', () => {
  assert.deepEqual(suggestionRef({ command: 'codehearth.acceptSuggestion', arguments: [{ id: 'a', acceptedChars: 5 }] }), {
    id: 'a',
    acceptedChars: 5,
  });
  assert.equal(suggestionRef({ command: 'other', arguments: [{ id: 'a', acceptedChars: 5 }] }), undefined);
  assert.equal(suggestionRef(undefined), undefined);
  assert.deepEqual(advance(at(2, 4), 'ab\ncd'), at(3, 2));
});

test('shown once, a word taken is partial, typing through is not, the rest accepted by the command', () => {
  const { t, events } = tracker();
  t.offered('u', at(0, 4), 'x * factor', { id: 'a', acceptedChars: 10 });
  t.offered('u', at(0, 4), 'x * factor', { id: 'a', acceptedChars: 10 });
  t.changed('u', insert(0, 4, 'x'));
  t.cursorMoved('u', at(0, 5));
  t.changed('u', insert(0, 5, ' *'));
  t.cursorMoved('u', at(0, 7));
  assert.deepEqual(t.current, { id: 'a', rest: ' factor', before: 3 });
  t.changed('u', insert(0, 7, ' factor'));
  t.accepted('a');
  t.cursorMoved('u', at(0, 14));
  assert.deepEqual(events, [
    { id: 'a', event: 'shown' },
    { id: 'a', event: 'partial', acceptedChars: 3 },
  ]);
});

test('a one-character accept is told from typing by how the cursor moved', () => {
  const { t, events } = tracker();
  t.offered('u', at(0, 0), '"name")', { id: 'a', acceptedChars: 7 });
  t.changed('u', insert(0, 0, '"'));
  t.cursorMoved('u', at(0, 1), false); // VS Code's partial accept: not a keyboard move
  t.changed('u', insert(0, 1, 'n'));
  t.cursorMoved('u', at(0, 2), true); // typed
  t.changed('u', insert(0, 2, 'ame'));
  t.cursorMoved('u', at(0, 5), false);
  assert.deepEqual(events, [
    { id: 'a', event: 'shown' },
    { id: 'a', event: 'partial', acceptedChars: 1 },
    { id: 'a', event: 'partial', acceptedChars: 5 },
  ]);
});

test('typing something else, moving away or a new suggestion dismisses', () => {
  const { t, events } = tracker();
  t.offered('u', at(1, 0), 'return x', { id: 'a', acceptedChars: 8 });
  t.changed('u', insert(1, 0, 'y'));
  t.offered('u', at(1, 1), ' = 2', { id: 'b', acceptedChars: 4 });
  t.cursorMoved('u', at(5, 0));
  t.offered('u', at(5, 0), 'pass', { id: 'c', acceptedChars: 4 });
  t.offered('u', at(5, 0), 'print()', { id: 'd', acceptedChars: 7 });
  t.changed('other', insert(0, 0, 'z'));
  t.cursorMoved(undefined, undefined);
  assert.deepEqual(
    events.map((e) => `${e.id}:${e.event}`),
    ['a:shown', 'a:dismissed', 'b:shown', 'b:dismissed', 'c:shown', 'c:dismissed', 'd:shown', 'd:dismissed'],
  );
});

test('an answer continuing the same suggestion after a partial accept keeps counting from its start', () => {
  const { t, events } = tracker();
  t.offered('u', at(0, 0), 'total = a * b', { id: 'a', acceptedChars: 13 });
  t.changed('u', insert(0, 0, 'total'));
  t.cursorMoved('u', at(0, 5), false);
  t.offered('u', at(0, 5), ' = a * b', { id: 'a', acceptedChars: 13 });
  t.changed('u', insert(0, 5, ' = '));
  t.cursorMoved('u', at(0, 8));
  t.cursorMoved('u', at(3, 0));
  assert.deepEqual(events, [
    { id: 'a', event: 'shown' },
    { id: 'a', event: 'partial', acceptedChars: 5 },
    { id: 'a', event: 'partial', acceptedChars: 8 },
    { id: 'a', event: 'dismissed' },
  ]);
});
