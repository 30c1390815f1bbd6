import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { Contributed, JsonSchema, compareWithSchema, schemaLeaves } from '../common/schemaSync';
import { isClientOnly } from '../common/settings';

const EXT = path.join(__dirname, '..', '..');
const REPO = path.join(EXT, '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(EXT, 'package.json'), 'utf8'));
const props: Record<string, Contributed> = pkg.contributes.configuration.properties;

function contributedServerSettings(): Record<string, Contributed> {
  const out: Record<string, Contributed> = {};
  for (const [full, c] of Object.entries(props)) {
    const key = full.replace(/^codehearth\./, '');
    if (!isClientOnly(key)) {
      out[key] = c;
    }
  }
  return out;
}

/** The server's schema from its own code, when a Python with the server is around. */
function serverSchema(): JsonSchema | undefined {
  const pythons = [path.join(REPO, '.venv', 'bin', 'python'), 'python3'];
  for (const py of pythons) {
    const r = spawnSync(
      py,
      ['-c', 'import json, codehearth.config as c; print(json.dumps(c.settings_schema()))'],
      { env: { ...process.env, PYTHONPATH: path.join(REPO, 'server') }, encoding: 'utf8', timeout: 60_000 },
    );
    if (r.status === 0 && r.stdout.trim()) {
      return JSON.parse(r.stdout);
    }
  }
  return undefined;
}

const FAKE_SCHEMA: JsonSchema = {
  $ref: '#/$defs/Settings',
  $defs: {
    Settings: {
      properties: {
        model: { type: 'string', default: 'default' },
        logLevel: { enum: ['debug', 'error', 'info', 'warning'], default: 'info' },
        disabledLanguages: { type: 'array', items: { type: 'string' }, default: [] },
        engine: { $ref: '#/$defs/EngineSettings' },
      },
    },
    EngineSettings: { properties: { nGpuLayers: { type: 'integer', default: 0 } } },
  },
};

test('schema leaves follow $ref into nested structs', () => {
  assert.deepEqual([...schemaLeaves(FAKE_SCHEMA).keys()].sort(), ['disabledLanguages', 'engine.nGpuLayers', 'logLevel', 'model']);
});

test('comparison finds type, default, enum and unknown-key drift', () => {
  const problems = compareWithSchema(
    {
      model: { type: 'string', default: 'other' },
      logLevel: { type: 'string', enum: ['info'], default: 'info' },
      'engine.nGpuLayers': { type: 'number', default: 0 },
      gone: { type: 'string', default: '' },
    },
    FAKE_SCHEMA,
  );
  assert.equal(problems.length, 4, problems.join('\n'));
  assert.deepEqual(
    compareWithSchema(
      {
        model: { type: 'string', default: 'default' },
        logLevel: { type: 'string', enum: ['info', 'debug', 'warning', 'error'], default: 'info' },
        disabledLanguages: { type: 'array', items: { type: 'string' }, default: [] },
        'engine.nGpuLayers': { type: 'integer', default: 0 },
      },
      FAKE_SCHEMA,
    ),
    [],
  );
});

test("package.json's settings match the server's settings schema", (t) => {
  const schema = serverSchema();
  if (!schema) {
    t.skip('no Python with the codehearth server found (run from the repository with .venv)');
    return;
  }
  const problems = compareWithSchema(contributedServerSettings(), schema);
  assert.deepEqual(problems, [], problems.join('\n'));
  const contributed = Object.keys(contributedServerSettings());
  for (const key of ['model', 'latencyBudgetMs', 'engine.nGpuLayers', 'disabledLanguages', 'logLevel']) {
    assert.ok(contributed.includes(key), `codehearth.${key} must be contributed`);
  }
});
