// What the status bar item says. Pure.

import { ModelState, RoleStatuses, SpeedSummary } from './protocol';

export type ClientState = 'starting' | 'stopped' | 'crashed' | ModelState;

export interface StatusInfo {
  state: ClientState;
  model?: string;
  models?: RoleStatuses;
  lastLatencyMs?: number | null;
  message?: string;
  speed?: SpeedSummary | null;
}

export interface StatusView {
  text: string;
  tooltip: string;
  isError: boolean;
}

const ICONS: Record<ClientState, string> = {
  starting: '$(sync~spin)',
  loading: '$(sync~spin)',
  ready: '$(flame)',
  error: '$(error)',
  crashed: '$(error)',
  stopped: '$(circle-slash)',
};

/** One line per role for the tooltip: "Completions: smollm2-135m-instruct (ready, auto: why)". */
export function roleLines(models: RoleStatuses | undefined): string[] {
  const lines: string[] = [];
  for (const [role, label] of [['completion', 'Completions'], ['explanation', 'Explanations']] as const) {
    const r = models?.[role];
    if (!r || !r.model) {
      continue;
    }
    const how = r.reason ? `, ${r.auto ? 'auto' : 'explicit'}: ${r.reason}` : '';
    lines.push(`${label}: ${shortModelName(r.model)} (${r.state ?? 'unknown'}${how})`);
  }
  return lines;
}

/** The status bar's model text: one name, or both roles' names when they differ. */
export function modelText(info: StatusInfo): string {
  const c = info.models?.completion?.model;
  const e = info.models?.explanation?.model;
  if (c && e) {
    return c === e ? shortModelName(c) : `${shortModelName(c)} + ${shortModelName(e)}`;
  }
  return shortModelName(info.model);
}

/** `smollm2-135m-instruct` stays; a path to a .gguf shows its file name. */
export function shortModelName(model: string | undefined): string {
  if (!model) {
    return '';
  }
  const base = model.split(/[\\/]/).pop() ?? model;
  return base.replace(/\.gguf$/i, '');
}

export function formatLatency(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) {
    return '';
  }
  return ms >= 10_000 ? `${(ms / 1000).toFixed(0)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

/** `Speed: 37 prompt tok/s · 14 gen tok/s · 1 thread` (empty before the model has been measured). */
export function formatSpeed(speed: SpeedSummary | null | undefined): string {
  if (!speed || !Number.isFinite(speed.promptTokensPerS) || !Number.isFinite(speed.generatedTokensPerS)) {
    return '';
  }
  const parts = [`${Math.round(speed.promptTokensPerS)} prompt tok/s`, `${Math.round(speed.generatedTokensPerS)} gen tok/s`];
  if (speed.threads) {
    parts.push(`${speed.threads} thread${speed.threads === 1 ? '' : 's'}`);
  }
  return `Speed: ${parts.join(' · ')}`;
}

export function statusView(info: StatusInfo): StatusView {
  const parts: string[] = [];
  const model = modelText(info);
  if (model) {
    parts.push(model);
  }
  parts.push(info.state);
  const latency = info.state === 'ready' ? formatLatency(info.lastLatencyMs) : '';
  if (latency) {
    parts.push(latency);
  }
  const text = `${ICONS[info.state]} ${parts.join(' · ')}`;
  const lines = [
    `Codehearth — ${info.state}`,
    ...(info.models ? roleLines(info.models) : [model ? `Model: ${info.model}` : '']),
    latency ? `Last completion: ${latency}` : '',
    formatSpeed(info.speed),
    info.message ? info.message : '',
    'Click to show the log.',
  ].filter(Boolean);
  return { text, tooltip: lines.join('\n'), isError: info.state === 'error' || info.state === 'crashed' };
}
