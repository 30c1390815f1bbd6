import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RestartPolicy } from '../common/backoff';
import { Once } from '../common/once';
import { isExplainChunk, isWirePosition } from '../common/protocol';
import { formatLatency, formatSpeed, shortModelName, statusView } from '../common/status';

test('restart delays grow exponentially up to the cap, then give up', () => {
  const p = new RestartPolicy({ initialDelayMs: 100, factor: 2, maxDelayMs: 300, maxRestarts: 4, windowMs: 10_000 });
  assert.deepEqual([p.onCrash(0), p.onCrash(1), p.onCrash(2), p.onCrash(3)], [100, 200, 300, 300]);
  assert.equal(p.onCrash(4), undefined);
});

test('crashes outside the window are forgotten; reset forgets all', () => {
  const p = new RestartPolicy({ initialDelayMs: 100, factor: 2, maxDelayMs: 10_000, maxRestarts: 2, windowMs: 1000 });
  assert.equal(p.onCrash(0), 100);
  assert.equal(p.onCrash(10), 200);
  assert.equal(p.onCrash(5000), 100);
  p.reset();
  assert.equal(p.recentCrashes, 0);
  assert.equal(p.onCrash(5001), 100);
});

test('status text: model, state, latency', () => {
  const v = statusView({ state: 'ready', model: 'smollm2-135m-instruct', lastLatencyMs: 87.4 });
  assert.equal(v.text, '$(flame) smollm2-135m-instruct · ready · 87 ms');
  assert.equal(v.isError, false);
  assert.match(v.tooltip, /Click to show the log/);
  const l = statusView({ state: 'loading', model: '/m/qwen.Q4_K_M.gguf' });
  assert.equal(l.text, '$(sync~spin) qwen.Q4_K_M · loading');
  const e = statusView({ state: 'error', model: 'x', message: 'model not found' });
  assert.equal(e.isError, true);
  assert.match(e.tooltip, /model not found/);
});

test('status shows both roles: two names when they differ, why in the tooltip', () => {
  const models = {
    completion: { model: 'smollm2-135m-instruct', state: 'ready' as const, auto: true, reason: 'fastest' },
    explanation: { model: 'qwen2.5-coder-0.5b-instruct', state: 'loading' as const, auto: true, reason: 'best' },
  };
  const v = statusView({ state: 'loading', model: 'x', models });
  assert.equal(v.text, '$(sync~spin) smollm2-135m-instruct + qwen2.5-coder-0.5b-instruct · loading');
  assert.match(v.tooltip, /Completions: smollm2-135m-instruct \(ready, auto: fastest\)/);
  assert.match(v.tooltip, /Explanations: qwen2.5-coder-0.5b-instruct \(loading, auto: best\)/);
  const same = statusView({ state: 'ready', models: { completion: { model: 'a' }, explanation: { model: 'a' } } });
  assert.equal(same.text, '$(flame) a · ready');
});

test('latency and model formatting', () => {
  assert.equal(formatLatency(undefined), '');
  assert.equal(formatLatency(null), '');
  assert.equal(formatLatency(1234), '1.2 s');
  assert.equal(formatLatency(12_345), '12 s');
  assert.equal(shortModelName('C:\\models\\a.gguf'), 'a');
});

test('errors are shown once per message', () => {
  const once = new Once();
  assert.equal(once.first('model missing'), true);
  assert.equal(once.first('model missing '), false);
  assert.equal(once.first('crash'), true);
  once.forget();
  assert.equal(once.first('crash'), true);
});

test('wire guards', () => {
  assert.equal(isExplainChunk({ id: 'a', text: '', done: true }), true);
  assert.equal(isExplainChunk({ id: 'a', text: 1, done: true }), false);
  assert.equal(isExplainChunk(null), false);
  assert.equal(isWirePosition({ line: 1, character: 0 }), true);
  assert.equal(isWirePosition({ line: 1.5, character: 0 }), false);
});

test('status tooltip shows the measured speed', () => {
  const speed = { promptTokensPerS: 36.6, generatedTokensPerS: 14.2, threads: 1 };
  assert.equal(formatSpeed(speed), 'Speed: 37 prompt tok/s · 14 gen tok/s · 1 thread');
  assert.equal(formatSpeed(null), '');
  const v = statusView({ state: 'ready', model: 'qwen', speed });
  assert.match(v.tooltip, /Speed: 37 prompt tok\/s · 14 gen tok\/s · 1 thread/);
});
