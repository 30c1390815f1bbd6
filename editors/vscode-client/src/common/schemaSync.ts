// Compares the settings contributed in package.json with the server's JSON schema
// (`codehearth settings-schema`, msgspec). Pure; used by the unit test.

export interface JsonSchema {
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  type?: string | string[];
  enum?: unknown[];
  default?: unknown;
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  [key: string]: unknown;
}

export interface Contributed {
  type?: string | string[];
  enum?: unknown[];
  default?: unknown;
  items?: { type?: string };
}

function deref(schema: JsonSchema, root: JsonSchema): JsonSchema {
  let node = schema;
  for (let i = 0; i < 16 && node.$ref; i++) {
    const name = node.$ref.split('/').pop() ?? '';
    node = root.$defs?.[name] ?? {};
  }
  return node;
}

/** Every leaf setting of the schema, dotted (`engine.nGpuLayers`) -> its schema. */
export function schemaLeaves(root: JsonSchema): Map<string, JsonSchema> {
  const out = new Map<string, JsonSchema>();
  const walk = (node: JsonSchema, prefix: string) => {
    const n = deref(node, root);
    if (n.properties) {
      for (const [k, v] of Object.entries(n.properties)) {
        const d = deref(v, root);
        if (d.properties) {
          walk(d, `${prefix}${k}.`);
        } else {
          out.set(`${prefix}${k}`, d);
        }
      }
    }
  };
  walk(root, '');
  return out;
}

function schemaType(s: JsonSchema): string | undefined {
  if (typeof s.type === 'string') {
    return s.type;
  }
  if (Array.isArray(s.enum) && s.enum.every((v) => typeof v === 'string')) {
    return 'string';
  }
  return undefined;
}

const sorted = (v: unknown[]) => [...v].map(String).sort();

/** Problems (empty when in sync) for the contributed server keys (relative, e.g. `engine.nGpuLayers`). */
export function compareWithSchema(contributed: Record<string, Contributed>, root: JsonSchema): string[] {
  const leaves = schemaLeaves(root);
  const problems: string[] = [];
  for (const [key, c] of Object.entries(contributed)) {
    const s = leaves.get(key);
    if (!s) {
      problems.push(`${key}: contributed but not in the server's settings schema`);
      continue;
    }
    const st = schemaType(s);
    if (st !== c.type) {
      problems.push(`${key}: type ${JSON.stringify(c.type)} but the server has ${JSON.stringify(st)}`);
    }
    if (JSON.stringify(c.default) !== JSON.stringify(s.default)) {
      problems.push(`${key}: default ${JSON.stringify(c.default)} but the server has ${JSON.stringify(s.default)}`);
    }
    if (Array.isArray(s.enum) || Array.isArray(c.enum)) {
      if (JSON.stringify(sorted(s.enum ?? [])) !== JSON.stringify(sorted(c.enum ?? []))) {
        problems.push(`${key}: enum ${JSON.stringify(c.enum)} but the server has ${JSON.stringify(s.enum)}`);
      }
    }
    if (st === 'array' && s.items?.type !== c.items?.type) {
      problems.push(`${key}: items ${JSON.stringify(c.items?.type)} but the server has ${JSON.stringify(s.items?.type)}`);
    }
  }
  return problems;
}
