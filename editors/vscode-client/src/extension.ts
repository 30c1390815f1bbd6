import * as vscode from 'vscode';
import { ErrorReporter } from './common/errors';
import { ServerManager } from './common/server';
import { StatusBar } from './common/statusBar';

let manager: ServerManager | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<{ manager: ServerManager }> {
  const log = vscode.window.createOutputChannel('Codehearth', { log: true });
  const status = new StatusBar();
  const errors = new ErrorReporter(log);
  manager = new ServerManager(context, log, status, errors);
  const m = manager;
  context.subscriptions.push(
    log,
    status,
    { dispose: () => void m.dispose() },
    vscode.commands.registerCommand('codehearth.showLog', () => log.show(true)),
    vscode.commands.registerCommand('codehearth.restartServer', () => m.restart(true)),
    vscode.commands.registerCommand('codehearth.explainFunction', () => m.explainActiveEditor()),
    vscode.commands.registerCommand('codehearth.cancelExplain', () => m.cancelExplain()),
    vscode.commands.registerCommand('codehearth.eraseAcceptanceStats', () => m.eraseStats()),
    vscode.commands.registerCommand('codehearth.openSettings', () =>
      vscode.commands.executeCommand('workbench.action.openSettings', 'codehearth'),
    ),
  );
  log.info(`Codehearth ${context.extension.packageJSON.version} activating`);
  void m.start();
  return { manager: m };
}

export async function deactivate(): Promise<void> {
  await manager?.dispose();
  manager = undefined;
}
