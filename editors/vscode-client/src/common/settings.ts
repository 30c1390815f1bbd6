// Maps VS Code's `codehearth.*` configuration to the server's settings tree (camelCase, nested).
// Pure: the vscode API is passed in as plain functions so the mapping is unit-tested in node.

export const SECTION = 'codehearth';

/** Keys under `codehearth.` that only the extension reads; never sent to the server. */
export const CLIENT_ONLY_PREFIXES = ['server', 'trace'] as const;

export type SettingsTree = { [key: string]: unknown };

/** What `WorkspaceConfiguration.inspect` returns, reduced to what we read. */
export interface InspectLike<T = unknown> {
  defaultValue?: T;
  globalValue?: T;
  workspaceValue?: T;
  workspaceFolderValue?: T;
}

export function isClientOnly(key: string): boolean {
  return CLIENT_ONLY_PREFIXES.some((p) => key === p || key.startsWith(p + '.'));
}

/**
 * The server-side setting keys contributed in package.json, relative to the section
 * (`codehearth.engine.nGpuLayers` -> `engine.nGpuLayers`).
 */
export function serverSettingKeys(contributedProperties: Record<string, unknown>): string[] {
  const keys: string[] = [];
  for (const full of Object.keys(contributedProperties)) {
    if (!full.startsWith(SECTION + '.')) {
      continue;
    }
    const key = full.slice(SECTION.length + 1);
    if (!isClientOnly(key)) {
      keys.push(key);
    }
  }
  return keys.sort();
}

export function setPath(tree: SettingsTree, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let node: SettingsTree = tree;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) {
      node[part] = {};
    }
    node = node[part] as SettingsTree;
  }
  node[parts[parts.length - 1]] = value;
}

export function getPath(tree: SettingsTree, dotted: string): unknown {
  let node: unknown = tree;
  for (const part of dotted.split('.')) {
    if (typeof node !== 'object' || node === null) {
      return undefined;
    }
    node = (node as SettingsTree)[part];
  }
  return node;
}

/** The value a user set explicitly (most specific scope wins), or undefined. */
export function explicitValue<T>(inspected: InspectLike<T> | undefined): T | undefined {
  if (!inspected) {
    return undefined;
  }
  for (const v of [inspected.workspaceFolderValue, inspected.workspaceValue, inspected.globalValue]) {
    if (v !== undefined && v !== null) {
      return v;
    }
  }
  return undefined;
}

/**
 * The settings tree sent to the server: only the values the user set, so the server's own sources
 * (user config file, workspace `.codehearth.toml`) still apply to everything else.
 */
export function explicitSettingsTree(
  keys: readonly string[],
  inspect: (key: string) => InspectLike | undefined,
): SettingsTree {
  const tree: SettingsTree = {};
  for (const key of keys) {
    if (isClientOnly(key)) {
      continue;
    }
    const value = explicitValue(inspect(key));
    if (value !== undefined) {
      setPath(tree, key, value);
    }
  }
  return tree;
}

/** Dotted keys of every leaf in a tree. */
export function leafKeys(tree: SettingsTree, prefix = ''): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(tree)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      out.push(...leafKeys(v as SettingsTree, key));
    } else {
      out.push(key);
    }
  }
  return out;
}

/**
 * The tree for `workspace/didChangeConfiguration`. A key the user has just unset is sent with its
 * contributed default, because the server would otherwise keep the value it got at initialization.
 */
export function changedSettingsTree(
  current: SettingsTree,
  previouslySent: SettingsTree,
  defaultOf: (key: string) => unknown,
): SettingsTree {
  const tree: SettingsTree = JSON.parse(JSON.stringify(current));
  for (const key of leafKeys(previouslySent)) {
    if (getPath(tree, key) === undefined) {
      const def = defaultOf(key);
      if (def !== undefined) {
        setPath(tree, key, def);
      }
    }
  }
  return tree;
}

/** Whether a configuration change needs the server process restarted (not just re-configured). */
export function needsRestart(affects: (section: string) => boolean): boolean {
  return affects(`${SECTION}.server`);
}
