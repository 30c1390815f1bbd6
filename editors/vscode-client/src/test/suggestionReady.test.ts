import assert from 'node:assert/strict';
import { test } from 'node:test';
import { asksAgain, isSuggestionReady } from '../common/protocol';

const ready = { textDocument: { uri: 'file:///w/a.py' }, position: { line: 4, character: 8 } };

test('a well-formed suggestionReady is recognised, a malformed one is not', () => {
  assert.equal(isSuggestionReady(ready), true);
  assert.equal(isSuggestionReady({ textDocument: { uri: 'file:///w/a.py' } }), false);
  assert.equal(isSuggestionReady({ textDocument: {}, position: { line: 1, character: 2 } }), false);
  assert.equal(isSuggestionReady({ textDocument: { uri: 'x' }, position: { line: 1.5, character: 2 } }), false);
  assert.equal(isSuggestionReady(null), false);
});

test('asks again only where the request was asked, with nothing selected', () => {
  assert.equal(asksAgain(ready, 'file:///w/a.py', { line: 4, character: 8 }, true), true);
  assert.equal(asksAgain(ready, 'file:///w/a.py', { line: 4, character: 9 }, true), false); // typed on
  assert.equal(asksAgain(ready, 'file:///w/a.py', { line: 5, character: 8 }, true), false);
  assert.equal(asksAgain(ready, 'file:///w/b.py', { line: 4, character: 8 }, true), false); // another file
  assert.equal(asksAgain(ready, 'file:///w/a.py', { line: 4, character: 8 }, false), false); // a selection
});
