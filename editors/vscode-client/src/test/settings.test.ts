import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  InspectLike,
  changedSettingsTree,
  explicitSettingsTree,
  explicitValue,
  isClientOnly,
  leafKeys,
  needsRestart,
  serverSettingKeys,
  setPath,
} from '../common/settings';

const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8'));
const props: Record<string, { default?: unknown }> = pkg.contributes.configuration.properties;

test('client-only keys are recognised', () => {
  assert.equal(isClientOnly('server.command'), true);
  assert.equal(isClientOnly('trace.server'), true);
  assert.equal(isClientOnly('serverless'), false);
  assert.equal(isClientOnly('engine.nGpuLayers'), false);
});

test('server keys come from package.json, without the client-only ones', () => {
  const keys = serverSettingKeys(props);
  for (const key of ['model', 'latencyBudgetMs', 'engine.nGpuLayers', 'disabledLanguages', 'logLevel']) {
    assert.ok(keys.includes(key), key);
  }
  assert.ok(!keys.some((k) => k.startsWith('server.') || k.startsWith('trace.')));
});

test('explicit values: the most specific scope wins, defaults are not sent', () => {
  assert.equal(explicitValue({ defaultValue: 1 }), undefined);
  assert.equal(explicitValue({ defaultValue: 1, globalValue: 2 }), 2);
  assert.equal(explicitValue({ globalValue: 2, workspaceValue: 3 }), 3);
  assert.equal(explicitValue({ globalValue: 2, workspaceValue: 3, workspaceFolderValue: 4 }), 4);
  assert.equal(explicitValue(undefined), undefined);
});

test('the settings tree is nested camelCase with only explicit values', () => {
  const values: Record<string, InspectLike> = {
    model: { defaultValue: 'default', globalValue: 'qwen2.5-coder-0.5b' },
    latencyBudgetMs: { defaultValue: 400 },
    'engine.nGpuLayers': { defaultValue: 0, workspaceValue: -1 },
    'engine.kind': { defaultValue: 'embedded' },
    disabledLanguages: { defaultValue: [], globalValue: ['markdown'] },
    'server.command': { defaultValue: '', globalValue: '/x/codehearth' },
  };
  const tree = explicitSettingsTree(Object.keys(values), (k) => values[k]);
  assert.deepEqual(tree, {
    model: 'qwen2.5-coder-0.5b',
    engine: { nGpuLayers: -1 },
    disabledLanguages: ['markdown'],
  });
});

test('setPath builds nested objects and leafKeys reads them back', () => {
  const tree = {};
  setPath(tree, 'engine.nGpuLayers', 3);
  setPath(tree, 'engine.kind', 'openai');
  setPath(tree, 'model', 'm');
  assert.deepEqual(tree, { engine: { nGpuLayers: 3, kind: 'openai' }, model: 'm' });
  assert.deepEqual(leafKeys(tree).sort(), ['engine.kind', 'engine.nGpuLayers', 'model']);
});

test('a setting the user unset goes back to its default on didChangeConfiguration', () => {
  const defaults: Record<string, unknown> = { latencyBudgetMs: 400, 'engine.nGpuLayers': 0, model: 'default' };
  const tree = changedSettingsTree(
    { model: 'x' },
    { model: 'y', latencyBudgetMs: 200, engine: { nGpuLayers: 4 } },
    (k) => defaults[k],
  );
  assert.deepEqual(tree, { model: 'x', latencyBudgetMs: 400, engine: { nGpuLayers: 0 } });
});

test('only server.* changes restart the server', () => {
  assert.equal(needsRestart((s) => s === 'codehearth.server'), true);
  assert.equal(needsRestart((s) => s === 'codehearth.model'), false);
});
