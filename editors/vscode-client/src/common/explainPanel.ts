import * as vscode from 'vscode';
import { ExplainStream } from './explainStream';

/** The side panel that shows one explanation while it streams in. */
export class ExplainPanel implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private stream: ExplainStream | undefined;
  private title = '';
  private renderTimer: NodeJS.Timeout | undefined;
  private rendering = false;
  private dirty = false;

  constructor(
    private readonly onCancel: (id: string) => void,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  /** Opens (or reuses) the panel beside the editor for a new stream. */
  open(stream: ExplainStream, title: string): void {
    this.stream = stream;
    this.title = title;
    if (!this.panel) {
      this.panel = vscode.window.createWebviewPanel(
        'codehearth.explain',
        'Codehearth: Explanation',
        { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
        { enableScripts: true, retainContextWhenHidden: true, localResourceRoots: [] },
      );
      this.panel.webview.html = this.html(this.panel.webview);
      this.panel.webview.onDidReceiveMessage(
        (msg: { type?: string; id?: string }) => {
          if (msg?.type === 'cancel' && this.stream && msg.id === this.stream.id) {
            this.onCancel(this.stream.id);
          }
        },
        undefined,
        this.disposables,
      );
      this.panel.onDidDispose(
        () => {
          this.panel = undefined;
          if (this.stream && !this.stream.finished) {
            this.onCancel(this.stream.id);
          }
        },
        undefined,
        this.disposables,
      );
    } else {
      this.panel.reveal(vscode.ViewColumn.Beside, true);
    }
    this.panel.title = `Explain: ${title}`;
    void this.panel.webview.postMessage({ type: 'reset', id: stream.id, title });
    this.update(stream);
  }

  /** Schedules a render; renders are coalesced so a fast stream does not flood the webview. */
  update(stream: ExplainStream): void {
    if (stream !== this.stream || !this.panel) {
      return;
    }
    this.dirty = true;
    if (stream.finished) {
      if (this.renderTimer) {
        clearTimeout(this.renderTimer);
        this.renderTimer = undefined;
      }
      void this.render();
      return;
    }
    if (!this.renderTimer) {
      this.renderTimer = setTimeout(() => {
        this.renderTimer = undefined;
        void this.render();
      }, 40);
    }
  }

  isShowing(id: string): boolean {
    return this.panel !== undefined && this.stream?.id === id;
  }

  private async render(): Promise<void> {
    if (this.rendering) {
      return; // the running render picks the change up (dirty) when it finishes
    }
    this.rendering = true;
    try {
      while (this.dirty && this.panel && this.stream) {
        this.dirty = false;
        const stream = this.stream;
        const text = stream.text;
        const html = await renderMarkdown(text);
        if (!this.panel || stream !== this.stream) {
          break;
        }
        await this.panel.webview.postMessage({
          type: 'update',
          id: stream.id,
          title: this.title,
          text,
          html,
          state: stream.state,
          error: stream.error,
          chunks: stream.chunks,
          cached: stream.cached,
        });
      }
    } catch (err) {
      this.log.warn(`explain panel render failed: ${String(err)}`);
    } finally {
      this.rendering = false;
    }
  }

  private html(webview: vscode.Webview): string {
    const nonce = Array.from({ length: 24 }, () => Math.floor(Math.random() * 36).toString(36)).join('');
    const csp = [
      "default-src 'none'",
      `style-src ${webview.cspSource} 'unsafe-inline'`,
      `script-src 'nonce-${nonce}'`,
      `img-src ${webview.cspSource} data:`,
    ].join('; ');
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<style>
  body { font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); color: var(--vscode-foreground); padding: 0 16px 16px; }
  header { display: flex; align-items: center; gap: 8px; position: sticky; top: 0; padding: 8px 0; background: var(--vscode-editor-background); border-bottom: 1px solid var(--vscode-panel-border, transparent); }
  header h1 { font-size: 1.05em; margin: 0; flex: 1; font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  #state { opacity: .8; font-size: .9em; }
  #state.error { color: var(--vscode-errorForeground); opacity: 1; }
  button { background: var(--vscode-button-secondaryBackground); color: var(--vscode-button-secondaryForeground); border: none; padding: 3px 10px; cursor: pointer; }
  button:hover { background: var(--vscode-button-secondaryHoverBackground); }
  button[hidden] { display: none; }
  #content { line-height: 1.5; }
  #content pre { background: var(--vscode-textCodeBlock-background); padding: 8px; overflow-x: auto; }
  #content code { font-family: var(--vscode-editor-font-family); }
  .cursor::after { content: '▍'; opacity: .6; }
</style>
</head>
<body>
<header><h1 id="title">Explanation</h1><span id="state"></span><button id="cancel" hidden>Cancel</button></header>
<main id="codehearth-explain" data-id="" data-state="" data-chunks="0" data-updates="0"><div id="content"></div></main>
<script nonce="${nonce}">
  const vscode = acquireVsCodeApi();
  const root = document.getElementById('codehearth-explain');
  const content = document.getElementById('content');
  const stateEl = document.getElementById('state');
  const cancel = document.getElementById('cancel');
  const titleEl = document.getElementById('title');
  const labels = { streaming: 'Generating…', done: 'Done', cancelled: 'Cancelled', error: 'Error' };
  let updates = 0;
  cancel.addEventListener('click', () => vscode.postMessage({ type: 'cancel', id: root.dataset.id }));
  window.addEventListener('message', (event) => {
    const msg = event.data || {};
    if (msg.type === 'reset') {
      updates = 0;
      root.dataset.id = msg.id; root.dataset.state = 'streaming'; root.dataset.chunks = '0'; root.dataset.updates = '0';
      titleEl.textContent = msg.title || 'Explanation';
      content.textContent = ''; content.className = 'cursor';
      stateEl.textContent = labels.streaming; stateEl.className = ''; cancel.hidden = false;
      return;
    }
    if (msg.type !== 'update' || msg.id !== root.dataset.id) { return; }
    updates += 1;
    root.dataset.state = msg.state; root.dataset.chunks = String(msg.chunks); root.dataset.updates = String(updates);
    if (msg.html) { content.innerHTML = msg.html; } else { content.textContent = msg.text; content.style.whiteSpace = 'pre-wrap'; }
    content.className = msg.state === 'streaming' ? 'cursor' : '';
    stateEl.textContent = msg.state === 'error' ? (msg.error || labels.error) : (labels[msg.state] || '') + (msg.cached ? ' (cached)' : '');
    stateEl.className = msg.state === 'error' ? 'error' : '';
    cancel.hidden = msg.state !== 'streaming';
  });
</script>
</body>
</html>`;
  }

  dispose(): void {
    if (this.renderTimer) {
      clearTimeout(this.renderTimer);
    }
    this.panel?.dispose();
    this.disposables.forEach((d) => d.dispose());
  }
}

/** Renders markdown with VS Code's built-in markdown extension; plain text when it is unavailable. */
async function renderMarkdown(text: string): Promise<string | undefined> {
  if (!text) {
    return '';
  }
  try {
    const html = await vscode.commands.executeCommand<string>('markdown.api.render', text);
    return typeof html === 'string' ? html : undefined;
  } catch {
    return undefined;
  }
}
