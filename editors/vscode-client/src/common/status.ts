// What the status bar item says. Pure.

import { ModelState, SpeedSummary } from './protocol';

export type ClientState = 'starting' | 'stopped' | 'crashed' | ModelState;

export interface StatusInfo {
  state: ClientState;
  model?: string;
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
  const model = shortModelName(info.model);
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
    model ? `Model: ${info.model}` : '',
    latency ? `Last completion: ${latency}` : '',
    formatSpeed(info.speed),
    info.message ? info.message : '',
    'Click to show the log.',
  ].filter(Boolean);
  return { text, tooltip: lines.join('\n'), isError: info.state === 'error' || info.state === 'crashed' };
}
