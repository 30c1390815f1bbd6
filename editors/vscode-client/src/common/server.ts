import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as readline from 'readline';
import * as vscode from 'vscode';
import {
  CloseAction,
  CloseHandlerResult,
  ErrorAction as LcErrorAction,
  ErrorHandlerResult,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  MessageType,
  RevealOutputChannelOn,
  ServerOptions,
  ShowMessageParams,
  State,
  TransportKind,
} from 'vscode-languageclient/node';
import { ACCEPT_COMMAND, AcceptanceTracker, ERASE_STATS_COMMAND, SUGGESTION_EVENT, SuggestionEvent, suggestionRef } from './acceptance';
import { RestartPolicy } from './backoff';
import { ErrorReporter, openSettingsAction, showLogAction } from './errors';
import { ExplainPanel } from './explainPanel';
import { ExplainStream, ExplainStreams, newStreamId } from './explainStream';
import {
  CANCEL_EXPLAIN,
  EXPLAIN_CHUNK,
  EXPLAIN_COMMAND,
  ExplainResult,
  STATS_REQUEST,
  STATUS_NOTIFICATION,
  SUGGESTION_READY,
  Stats,
  StatusParams,
  WirePosition,
  asksAgain,
  isExplainChunk,
  isSuggestionReady,
  isWirePosition,
} from './protocol';
import { ServerCommand, ServerNotFoundError, resolveServerCommand } from './serverCommand';
import {
  SECTION,
  SettingsTree,
  changedSettingsTree,
  explicitSettingsTree,
  needsRestart,
  serverSettingKeys,
} from './settings';
import { StatusBar } from './statusBar';

function isExecutable(file: string): boolean {
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) {
      return false;
    }
    if (process.platform === 'win32') {
      return true;
    }
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Runs the language server, restarts it after a crash with back-off, and owns the explain flow. */
export class ServerManager implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private command: ServerCommand | undefined;
  private readonly policy = new RestartPolicy();
  private restartTimer: NodeJS.Timeout | undefined;
  private statsTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private disposed = false;
  private starting: Promise<void> | undefined;
  private lastSent: SettingsTree = {};
  /** The server's last stderr lines: logged at debug level, shown as errors when it crashes. */
  private stderrTail: string[] = [];
  private readonly streams = new ExplainStreams();
  private running: { stream: ExplainStream; cts: vscode.CancellationTokenSource } | undefined;
  private readonly panel: ExplainPanel;
  private readonly serverKeys: string[];
  private readonly defaults = new Map<string, unknown>();
  private readonly disposables: vscode.Disposable[] = [];
  private readonly acceptance = new AcceptanceTracker((e) => this.sendSuggestionEvent(e));

  constructor(
    context: vscode.ExtensionContext,
    private readonly log: vscode.LogOutputChannel,
    private readonly status: StatusBar,
    private readonly errors: ErrorReporter,
  ) {
    const props = (context.extension.packageJSON?.contributes?.configuration?.properties ?? {}) as Record<
      string,
      { default?: unknown }
    >;
    this.serverKeys = serverSettingKeys(props);
    for (const key of this.serverKeys) {
      this.defaults.set(key, props[`${SECTION}.${key}`]?.default);
    }
    this.panel = new ExplainPanel((id) => void this.cancelExplain(id), log);
    this.disposables.push(
      this.panel,
      vscode.workspace.onDidChangeConfiguration((e) => void this.onConfigurationChanged(e)),
      // What happens to a suggestion after it is shown (see acceptance.ts).
      vscode.workspace.onDidChangeTextDocument((e) =>
        this.acceptance.changed(
          e.document.uri.toString(),
          e.contentChanges.map((c) => ({ start: c.range.start, end: c.range.end, text: c.text })),
        ),
      ),
      vscode.window.onDidChangeTextEditorSelection((e) =>
        this.acceptance.cursorMoved(
          e.textEditor.document.uri.toString(),
          e.selections[0]?.active,
          e.kind === vscode.TextEditorSelectionChangeKind.Keyboard,
        ),
      ),
      vscode.window.onDidChangeActiveTextEditor((e) =>
        this.acceptance.cursorMoved(e?.document.uri.toString(), e?.selection.active),
      ),
    );
  }

  get languageClient(): LanguageClient | undefined {
    return this.client;
  }

  /** The settings the user set explicitly, as the server's tree. */
  settingsTree(): SettingsTree {
    const config = vscode.workspace.getConfiguration(SECTION);
    return explicitSettingsTree(this.serverKeys, (key) => config.inspect(key));
  }

  start(): Promise<void> {
    if (!this.starting) {
      this.starting = this.doStart().finally(() => {
        this.starting = undefined;
      });
    }
    return this.starting;
  }

  private resolveCommand(): ServerCommand | undefined {
    const config = vscode.workspace.getConfiguration(SECTION);
    const folders = (vscode.workspace.workspaceFolders ?? [])
      .filter((f) => f.uri.scheme === 'file')
      .map((f) => f.uri.fsPath);
    try {
      const cmd = resolveServerCommand(
        {
          command: config.get<string>('server.command', ''),
          args: config.get<string[]>('server.args', ['serve']),
          env: config.get<Record<string, string>>('server.env', {}),
          workspaceFolders: folders,
          pathEnv: process.env.PATH ?? '',
          platform: process.platform,
          isExecutable,
        },
        os.homedir(),
      );
      if (cmd.source === 'setting') {
        const found = /[\\/]/.test(cmd.command)
          ? isExecutable(cmd.command)
          : (process.env.PATH ?? '')
              .split(path.delimiter)
              .filter(Boolean)
              .some((dir) => ['', '.exe', '.cmd'].some((ext) => isExecutable(path.join(dir, cmd.command + ext))));
        if (!found) {
          throw new ServerNotFoundError(`codehearth.server.command is not an executable file: ${cmd.command}`);
        }
      }
      return cmd;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.status.update({ state: 'error', message });
      this.errors.show(message, [openSettingsAction('codehearth.server'), showLogAction(this.log)]);
      return undefined;
    }
  }

  private async doStart(): Promise<void> {
    if (this.disposed) {
      return;
    }
    await this.stopClient();
    const cmd = this.resolveCommand();
    if (!cmd) {
      return;
    }
    this.command = cmd;
    this.stderrTail = [];
    const cwd = vscode.workspace.workspaceFolders?.find((f) => f.uri.scheme === 'file')?.uri.fsPath;
    this.log.info(`starting server (${cmd.source}): ${[cmd.command, ...cmd.args].join(' ')}`);
    const serverOptions: ServerOptions = {
      command: cmd.command,
      args: cmd.args,
      transport: TransportKind.stdio,
      options: { env: { ...process.env, ...cmd.env }, cwd },
    };
    this.lastSent = this.settingsTree();
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
      initializationOptions: { [SECTION]: this.lastSent },
      outputChannel: this.log,
      traceOutputChannel: this.log,
      // Errors are shown by this extension, once each, with actions (see ErrorReporter).
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      progressOnInitialization: false,
      // The server logs through window/logMessage; its stderr repeats that, so it goes to debug level and
      // its tail is shown when the server exits unexpectedly (a traceback before LSP started, a crash).
      stdioOptions: {
        stdout: (input) => {
          readline.createInterface({ input, crlfDelay: Infinity, terminal: false }).on('line', (line) => this.log.info(line));
        },
        stderr: (input) => {
          readline.createInterface({ input, crlfDelay: Infinity, terminal: false }).on('line', (line) => {
            this.stderrTail.push(line);
            if (this.stderrTail.length > 40) {
              this.stderrTail.shift();
            }
            this.log.debug(`[server stderr] ${line}`);
          });
        },
      },
      errorHandler: {
        error: (): ErrorHandlerResult => ({ action: LcErrorAction.Continue, handled: true }),
        closed: (): CloseHandlerResult => this.onClosed(),
      },
      middleware: {
        executeCommand: (command, args, next) => {
          if (command === EXPLAIN_COMMAND) {
            return this.explainAt(args?.[0], args?.[1]);
          }
          if (command === ACCEPT_COMMAND) {
            // VS Code runs an inline item's command when it is accepted whole; the server records it.
            const ref = suggestionRef({ command, arguments: args });
            if (ref) {
              this.acceptance.accepted(ref.id);
            }
          }
          return next(command, args);
        },
        provideInlineCompletionItems: async (document, position, context, token, next) => {
          const started = Date.now();
          const result = await next(document, position, context, token);
          const items = Array.isArray(result) ? result.length : (result?.items.length ?? 0);
          this.log.trace(`inline completion ${Date.now() - started} ms, ${items} item(s)`);
          this.noteShown(document, position, result, token);
          this.scheduleStats();
          return result;
        },
      },
    };
    const client = new LanguageClient('codehearth', 'Codehearth', serverOptions, clientOptions);
    this.client = client;
    client.onNotification(STATUS_NOTIFICATION, (params: StatusParams) => this.onStatus(params));
    client.onNotification(EXPLAIN_CHUNK, (params: unknown) => {
      if (isExplainChunk(params)) {
        const stream = this.streams.route(params);
        if (stream) {
          this.panel.update(stream);
        }
      }
    });
    client.onNotification(SUGGESTION_READY, (params: unknown) => this.onSuggestionReady(client, params));
    client.onNotification('window/showMessage', (params: ShowMessageParams) => this.onShowMessage(params));
    this.status.update({ state: 'starting', message: undefined });
    try {
      await client.start();
    } catch (err) {
      if (this.client !== client) {
        return;
      }
      const message = `the server did not start: ${err instanceof Error ? err.message : String(err)}`;
      if (this.stderrTail.length) {
        this.log.error(`the server's stderr:\n${this.stderrTail.join('\n')}`);
      }
      this.status.update({ state: 'error', message });
      this.errors.show(message, [openSettingsAction('codehearth.server'), showLogAction(this.log)]);
      return;
    }
    if (this.client !== client) {
      return;
    }
    this.log.info('server started');
    // The model state may have been announced before our handler saw it: ask once.
    await this.refreshStats();
  }

  private onClosed(): CloseHandlerResult {
    if (this.stopping || this.disposed) {
      return { action: CloseAction.DoNotRestart, handled: true };
    }
    const delay = this.policy.onCrash(Date.now());
    this.failRunningExplain('the server stopped');
    if (this.stderrTail.length) {
      this.log.error(`the server exited; its last stderr lines:\n${this.stderrTail.join('\n')}`);
      this.stderrTail = [];
    }
    if (delay === undefined) {
      const message = `the server crashed ${this.policy.recentCrashes} times in a few minutes and was not restarted.`;
      this.status.update({ state: 'crashed', message });
      this.errors.show(message, [
        { title: 'Restart Server', run: () => void this.restart(true) },
        showLogAction(this.log),
      ]);
      return { action: CloseAction.DoNotRestart, handled: true, message };
    }
    const restartMessage = `the server exited; restarting it in ${delay} ms`;
    this.status.update({ state: 'crashed', message: `restarting in ${Math.round(delay / 100) / 10} s` });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      void this.start();
    }, delay);
    return { action: CloseAction.DoNotRestart, handled: true, message: restartMessage };
  }

  private onStatus(params: StatusParams): void {
    this.status.update({ state: params.state, model: params.model, models: params.models, message: params.message });
    if (params.state === 'ready') {
      this.log.info(`model ready: ${params.model}`);
    } else if (params.state === 'error') {
      this.log.error(`model error: ${params.message ?? ''}`);
    }
  }

  /** The last inline completion was cut short and a better one is ready: VS Code asks again if the cursor is still
   * where it asked (positions in UTF-16 on both sides: vscode-languageclient negotiates it). */
  private onSuggestionReady(client: LanguageClient, params: unknown): void {
    const editor = vscode.window.activeTextEditor;
    if (!editor || this.client !== client || !isSuggestionReady(params)) {
      return;
    }
    const uri = client.code2ProtocolConverter.asUri(editor.document.uri);
    const cursor = editor.selection.active;
    if (asksAgain(params, uri, { line: cursor.line, character: cursor.character }, editor.selection.isEmpty)) {
      this.log.trace('a suggestion cut short is ready: asking again');
      void vscode.commands.executeCommand('editor.action.inlineSuggest.trigger');
    }
  }

  private onShowMessage(params: ShowMessageParams): void {
    if (params.type === MessageType.Error) {
      const actions = [openSettingsAction(), showLogAction(this.log)];
      const pull = this.pullModelAction(params.message);
      if (pull) {
        actions.unshift(pull);
      }
      this.errors.show(params.message, actions);
    } else if (params.type === MessageType.Warning) {
      this.log.warn(params.message);
      void vscode.window.showWarningMessage(`Codehearth: ${params.message}`);
    } else {
      this.log.info(params.message);
    }
  }

  /** "Download Model" when the server says the model is missing. */
  private pullModelAction(message: string) {
    if (!/models pull|not found|missing|no such model/i.test(message) || !this.command) {
      return undefined;
    }
    const cmd = this.command;
    const serveAt = cmd.args.lastIndexOf('serve');
    const base = serveAt >= 0 ? cmd.args.slice(0, serveAt) : [];
    const model = vscode.workspace.getConfiguration(SECTION).get<string>('model', 'default') || 'default';
    const quote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
    const line = [cmd.command, ...base, 'models', 'pull', model].map(quote).join(' ');
    return {
      title: 'Download Model',
      run: () => {
        const terminal = vscode.window.createTerminal({ name: 'Codehearth: models pull', env: cmd.env });
        terminal.show();
        terminal.sendText(line);
      },
    };
  }

  /** An answer with an item, arriving while the cursor is still where it was asked, is shown. */
  private noteShown(
    document: vscode.TextDocument,
    position: vscode.Position,
    result: vscode.InlineCompletionItem[] | vscode.InlineCompletionList | null | undefined,
    token: vscode.CancellationToken,
  ): void {
    const item = Array.isArray(result) ? result[0] : result?.items[0];
    const ref = suggestionRef(item?.command);
    const editor = vscode.window.activeTextEditor;
    if (!item || !ref || token.isCancellationRequested || editor?.document !== document) {
      return;
    }
    if (!editor.selection.active.isEqual(position) || typeof item.insertText !== 'string') {
      return;
    }
    const start = item.range?.start ?? position;
    this.acceptance.offered(document.uri.toString(), { line: start.line, character: start.character }, item.insertText, ref);
  }

  private sendSuggestionEvent(event: SuggestionEvent): void {
    const client = this.client;
    if (!client || client.state !== State.Running) {
      return;
    }
    this.log.trace(`suggestion ${event.id}: ${event.event}${event.acceptedChars !== undefined ? ` (${event.acceptedChars} chars)` : ''}`);
    client.sendNotification(SUGGESTION_EVENT, event).catch((err) => this.log.debug(`suggestion event: ${String(err)}`));
  }

  /** Palette command: erase the local acceptance statistics (`codehearth stats --erase`). */
  async eraseStats(): Promise<void> {
    const client = this.client;
    if (!client || client.state !== State.Running) {
      void vscode.window.showWarningMessage('Codehearth: the server is not running.');
      return;
    }
    const result = await client.sendRequest<{ erased?: number; store?: string }>(ExecuteCommandRequest.type.method, {
      command: ERASE_STATS_COMMAND,
      arguments: [],
    });
    void vscode.window.showInformationMessage(`Codehearth: erased ${result?.erased ?? 0} suggestion records.`);
  }

  private scheduleStats(): void {
    if (this.statsTimer) {
      return;
    }
    this.statsTimer = setTimeout(() => {
      this.statsTimer = undefined;
      void this.refreshStats();
    }, 150);
  }

  async refreshStats(): Promise<Stats | undefined> {
    const client = this.client;
    if (!client || client.state !== State.Running) {
      return undefined;
    }
    try {
      // pygls needs a params member even for a request without parameters.
      const stats = await client.sendRequest<Stats>(STATS_REQUEST, {});
      const change: Parameters<StatusBar['update']>[0] = {};
      if (stats.state) {
        change.state = stats.state;
      }
      if (stats.model) {
        change.model = stats.model;
      }
      if (stats.models) {
        change.models = stats.models;
      }
      if (stats.lastLatencyMs !== undefined) {
        // Before the first completion the server reports 0: show no latency rather than "0 ms".
        const none = stats.latencyMs?.count === 0 || !stats.requests;
        change.lastLatencyMs = none ? null : stats.lastLatencyMs;
      }
      if (stats.error) {
        change.message = stats.error;
      }
      if (stats.speed !== undefined) {
        change.speed = stats.speed;
      }
      this.status.update(change);
      return stats;
    } catch (err) {
      this.log.debug(`codehearth/stats failed: ${String(err)}`);
      return undefined;
    }
  }

  private async onConfigurationChanged(e: vscode.ConfigurationChangeEvent): Promise<void> {
    if (!e.affectsConfiguration(SECTION)) {
      return;
    }
    if (needsRestart((s) => e.affectsConfiguration(s))) {
      this.log.info('server settings changed: restarting');
      await this.restart(true);
      return;
    }
    const client = this.client;
    if (!client || client.state !== State.Running) {
      return;
    }
    const current = this.settingsTree();
    const tree = changedSettingsTree(current, this.lastSent, (key) => this.defaults.get(key));
    this.lastSent = current;
    this.log.info(`settings changed: ${JSON.stringify(tree)}`);
    await client.sendNotification('workspace/didChangeConfiguration', { settings: { [SECTION]: tree } });
  }

  async restart(manual: boolean): Promise<void> {
    if (this.restartTimer) {
      clearTimeout(this.restartTimer);
      this.restartTimer = undefined;
    }
    if (manual) {
      this.policy.reset();
      this.errors.reset();
    }
    await this.start();
  }

  private async stopClient(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (!client) {
      return;
    }
    this.failRunningExplain('the server was restarted');
    this.stopping = true;
    try {
      if (client.state !== State.Stopped) {
        await client.stop(2000);
      }
    } catch (err) {
      this.log.debug(`stopping the client: ${String(err)}`);
    } finally {
      try {
        await client.dispose(1000);
      } catch {
        // already stopped
      }
      this.stopping = false;
    }
  }

  // --- Explain this function -------------------------------------------------------------------------

  /** Palette command: explains the function at the active editor's cursor. */
  async explainActiveEditor(): Promise<unknown> {
    const editor = vscode.window.activeTextEditor;
    const client = this.client;
    if (!editor) {
      void vscode.window.showInformationMessage('Codehearth: put the cursor inside a function to explain it.');
      return undefined;
    }
    if (!client || client.state !== State.Running) {
      void vscode.window.showWarningMessage('Codehearth: the server is not running.');
      return undefined;
    }
    const c2p = client.code2ProtocolConverter;
    return this.explainAt(c2p.asUri(editor.document.uri), c2p.asPosition(editor.selection.active));
  }

  /** Runs `codehearth.explain` at (uri, position) and streams the answer into the panel. */
  async explainAt(uri: unknown, position: unknown): Promise<ExplainResult | undefined> {
    const client = this.client;
    if (typeof uri !== 'string' || !isWirePosition(position)) {
      this.log.warn(`codehearth.explain: bad arguments ${JSON.stringify([uri, position])}`);
      return undefined;
    }
    if (!client || client.state !== State.Running) {
      void vscode.window.showWarningMessage('Codehearth: the server is not running.');
      return undefined;
    }
    if (this.running) {
      await this.cancelExplain(this.running.stream.id);
    }
    const stream = this.streams.open(newStreamId());
    const cts = new vscode.CancellationTokenSource();
    this.running = { stream, cts };
    this.panel.open(stream, describe(uri, position));
    this.log.info(`explain ${uri}:${position.line + 1}:${position.character + 1} (stream ${stream.id})`);
    try {
      const result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Window, title: 'Codehearth: explaining…' },
        () =>
          client.sendRequest<ExplainResult | null>(
            ExecuteCommandRequest.type.method,
            { command: EXPLAIN_COMMAND, arguments: [uri, position as WirePosition, { id: stream.id }] },
            cts.token,
          ),
      );
      if (result && typeof result === 'object') {
        stream.applyResult(result);
      }
      this.panel.update(stream);
      return result ?? undefined;
    } catch (err) {
      if (stream.state === 'cancelled' || cts.token.isCancellationRequested) {
        stream.cancel();
      } else {
        const message = err instanceof Error ? err.message : String(err);
        stream.fail(message);
        this.log.warn(`explain failed: ${message}`);
      }
      this.panel.update(stream);
      return undefined;
    } finally {
      if (this.running?.stream === stream) {
        this.running = undefined;
      }
      this.streams.close(stream.id);
      cts.dispose();
    }
  }

  async cancelExplain(id?: string): Promise<void> {
    const running = this.running;
    if (!running || (id !== undefined && running.stream.id !== id)) {
      return;
    }
    const { stream, cts } = running;
    if (stream.cancel()) {
      this.panel.update(stream);
      this.log.info(`explain cancelled (stream ${stream.id})`);
    }
    try {
      await this.client?.sendNotification(CANCEL_EXPLAIN, { id: stream.id });
    } catch {
      // the server is gone; nothing to cancel
    }
    cts.cancel();
  }

  private failRunningExplain(message: string): void {
    const running = this.running;
    if (running && running.stream.fail(message)) {
      this.panel.update(running.stream);
    }
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    if (this.restartTimer) {
      clearTimeout(this.restartTimer);
    }
    if (this.statsTimer) {
      clearTimeout(this.statsTimer);
    }
    this.disposables.forEach((d) => d.dispose());
    await this.stopClient();
  }
}

function describe(uri: string, position: WirePosition): string {
  let name = uri;
  try {
    name = path.basename(vscode.Uri.parse(uri).path);
  } catch {
    // keep the uri
  }
  return `${name}:${position.line + 1}`;
}
