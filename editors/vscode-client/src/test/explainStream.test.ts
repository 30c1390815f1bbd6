import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExplainStream, ExplainStreams, newStreamId } from '../common/explainStream';

test('chunks append in order and done finishes the stream', () => {
  const s = new ExplainStream('a');
  assert.equal(s.applyChunk({ id: 'a', text: 'This ', done: false }), true);
  assert.equal(s.applyChunk({ id: 'a', text: 'function ', done: false }), true);
  assert.equal(s.applyChunk({ id: 'a', text: 'adds.', done: false }), true);
  assert.equal(s.text, 'This function adds.');
  assert.equal(s.state, 'streaming');
  assert.equal(s.applyChunk({ id: 'a', text: '', done: true }), true);
  assert.equal(s.state, 'done');
  assert.equal(s.chunks, 3);
  assert.equal(s.applyChunk({ id: 'a', text: 'late', done: false }), false);
  assert.equal(s.text, 'This function adds.');
});

test('chunks of another stream are ignored', () => {
  const s = new ExplainStream('a');
  assert.equal(s.applyChunk({ id: 'b', text: 'x', done: false }), false);
  assert.equal(s.text, '');
});

test('an error chunk fails the stream and keeps the text so far', () => {
  const s = new ExplainStream('a');
  s.applyChunk({ id: 'a', text: 'Partial', done: false });
  assert.equal(s.applyChunk({ id: 'a', text: '', done: true, error: 'model not loaded' }), true);
  assert.equal(s.state, 'error');
  assert.equal(s.error, 'model not loaded');
  assert.equal(s.text, 'Partial');
});

test('the result is authoritative (cached answers come without chunks)', () => {
  const s = new ExplainStream('a');
  assert.equal(s.applyResult({ id: 'a', text: 'Full text.', cached: true }), true);
  assert.equal(s.text, 'Full text.');
  assert.equal(s.cached, true);
  assert.equal(s.state, 'done');
  const t = new ExplainStream('b');
  t.applyChunk({ id: 'b', text: 'Same', done: false });
  t.applyChunk({ id: 'b', text: '', done: true });
  assert.equal(t.applyResult({ id: 'b', text: 'Same', cached: false }), false);
  assert.equal(t.text, 'Same');
});

test('cancel stops the stream; later chunks and results are ignored', () => {
  const s = new ExplainStream('a');
  s.applyChunk({ id: 'a', text: 'Hal', done: false });
  assert.equal(s.cancel(), true);
  assert.equal(s.cancel(), false);
  assert.equal(s.applyChunk({ id: 'a', text: 'f', done: false }), false);
  assert.equal(s.applyResult({ id: 'a', text: 'Half done', cached: false }), false);
  assert.equal(s.state, 'cancelled');
  assert.equal(s.text, 'Hal');
});

test('fail does not override a finished stream', () => {
  const s = new ExplainStream('a');
  s.applyChunk({ id: 'a', text: 'ok', done: true });
  assert.equal(s.fail('server stopped'), false);
  assert.equal(s.state, 'done');
});

test('streams are routed by id', () => {
  const streams = new ExplainStreams();
  const a = streams.open('a');
  const b = streams.open('b');
  assert.equal(streams.route({ id: 'b', text: 'B', done: false }), b);
  assert.equal(streams.route({ id: 'a', text: 'A', done: false }), a);
  assert.equal(streams.route({ id: 'zzz', text: 'Z', done: false }), undefined);
  assert.equal(a.text, 'A');
  assert.equal(b.text, 'B');
  streams.close('a');
  assert.equal(streams.get('a'), undefined);
  assert.equal(streams.size, 1);
});

test('stream ids are unique', () => {
  const ids = new Set(Array.from({ length: 100 }, () => newStreamId(1)));
  assert.equal(ids.size, 100);
});
