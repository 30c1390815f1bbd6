// Finds the command that starts the language server. Pure: file system and environment are injected.
import * as path from 'path';

export interface ServerCommandInput {
  /** `codehearth.server.command`; empty means "find it". */
  command: string;
  /** `codehearth.server.args`. */
  args: readonly string[];
  /** `codehearth.server.env`. */
  env: Readonly<Record<string, string>>;
  workspaceFolders: readonly string[];
  /** The PATH of the extension host. */
  pathEnv: string;
  platform: NodeJS.Platform;
  isExecutable: (file: string) => boolean;
}

export interface ServerCommand {
  command: string;
  args: string[];
  env: Record<string, string>;
  /** Where the command came from, for the log. */
  source: 'setting' | 'workspace .venv' | 'PATH';
}

export class ServerNotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ServerNotFoundError';
  }
}

const EXECUTABLE = 'codehearth';

function candidates(dir: string, platform: NodeJS.Platform): string[] {
  if (platform === 'win32') {
    return [path.win32.join(dir, `${EXECUTABLE}.exe`), path.win32.join(dir, `${EXECUTABLE}.cmd`)];
  }
  return [path.posix.join(dir, EXECUTABLE)];
}

/** Expands `${workspaceFolder}` and a leading `~` in the configured command. */
export function expandCommand(command: string, workspaceFolders: readonly string[], home: string): string {
  let out = command.trim();
  if (workspaceFolders.length > 0) {
    out = out.split('${workspaceFolder}').join(workspaceFolders[0]);
  }
  if (out === '~' || out.startsWith('~/')) {
    out = home + out.slice(1);
  }
  return out;
}

export function resolveServerCommand(input: ServerCommandInput, home = ''): ServerCommand {
  const args = [...input.args];
  const env = { ...input.env };
  const configured = expandCommand(input.command, input.workspaceFolders, home);
  if (configured) {
    return { command: configured, args, env, source: 'setting' };
  }
  const sep = input.platform === 'win32' ? ';' : ':';
  const binDir = input.platform === 'win32' ? 'Scripts' : 'bin';
  for (const folder of input.workspaceFolders) {
    for (const venv of ['.venv', 'venv']) {
      const dir = input.platform === 'win32' ? path.win32.join(folder, venv, binDir) : path.posix.join(folder, venv, binDir);
      for (const file of candidates(dir, input.platform)) {
        if (input.isExecutable(file)) {
          return { command: file, args, env, source: 'workspace .venv' };
        }
      }
    }
  }
  for (const dir of input.pathEnv.split(sep).filter(Boolean)) {
    for (const file of candidates(dir, input.platform)) {
      if (input.isExecutable(file)) {
        return { command: file, args, env, source: 'PATH' };
      }
    }
  }
  throw new ServerNotFoundError(
    'The codehearth server was not found: install it (pip install codehearth) into the workspace\'s .venv ' +
      'or onto PATH, or set codehearth.server.command.',
  );
}
