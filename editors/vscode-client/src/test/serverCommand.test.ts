import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ServerNotFoundError, expandCommand, resolveServerCommand } from '../common/serverCommand';

const base = {
  command: '',
  args: ['serve'],
  env: {},
  workspaceFolders: ['/ws'],
  pathEnv: '/usr/local/bin:/usr/bin',
  platform: 'linux' as NodeJS.Platform,
};

test('the setting wins', () => {
  const cmd = resolveServerCommand({ ...base, command: '/opt/ch/bin/codehearth', isExecutable: () => true });
  assert.deepEqual(cmd, { command: '/opt/ch/bin/codehearth', args: ['serve'], env: {}, source: 'setting' });
});

test('the workspace .venv comes before PATH', () => {
  const exe = new Set(['/ws/.venv/bin/codehearth', '/usr/bin/codehearth']);
  const cmd = resolveServerCommand({ ...base, isExecutable: (f) => exe.has(f) });
  assert.equal(cmd.command, '/ws/.venv/bin/codehearth');
  assert.equal(cmd.source, 'workspace .venv');
});

test('PATH is searched in order', () => {
  const exe = new Set(['/usr/bin/codehearth']);
  const cmd = resolveServerCommand({ ...base, isExecutable: (f) => exe.has(f) });
  assert.equal(cmd.command, '/usr/bin/codehearth');
  assert.equal(cmd.source, 'PATH');
});

test('windows looks in .venv\\Scripts for an .exe', () => {
  const exe = new Set(['C:\\ws\\.venv\\Scripts\\codehearth.exe']);
  const cmd = resolveServerCommand({
    ...base,
    workspaceFolders: ['C:\\ws'],
    pathEnv: 'C:\\bin',
    platform: 'win32',
    isExecutable: (f) => exe.has(f),
  });
  assert.equal(cmd.command, 'C:\\ws\\.venv\\Scripts\\codehearth.exe');
});

test('not found is a clear error', () => {
  assert.throws(() => resolveServerCommand({ ...base, isExecutable: () => false }), ServerNotFoundError);
});

test('${workspaceFolder} and ~ are expanded; args and env pass through', () => {
  assert.equal(expandCommand('${workspaceFolder}/.venv/bin/python', ['/ws'], '/home/u'), '/ws/.venv/bin/python');
  assert.equal(expandCommand('~/bin/codehearth', [], '/home/u'), '/home/u/bin/codehearth');
  const cmd = resolveServerCommand({
    ...base,
    command: 'python3',
    args: ['-m', 'codehearth', 'serve'],
    env: { PYTHONPATH: '/src' },
    isExecutable: () => false,
  });
  assert.deepEqual(cmd.args, ['-m', 'codehearth', 'serve']);
  assert.deepEqual(cmd.env, { PYTHONPATH: '/src' });
});
