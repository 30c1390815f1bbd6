import * as vscode from 'vscode';
import { Once } from './once';

export interface ErrorAction {
  title: string;
  run: () => unknown;
}

/** Shows each distinct error once, with actions; repeats go to the log only. */
export class ErrorReporter {
  private readonly once = new Once();

  constructor(private readonly log: vscode.LogOutputChannel) {}

  show(message: string, actions: ErrorAction[], key: string = message): void {
    this.log.error(message);
    if (!this.once.first(key)) {
      return;
    }
    void vscode.window.showErrorMessage(`Codehearth: ${message}`, ...actions.map((a) => a.title)).then((picked) => {
      actions.find((a) => a.title === picked)?.run();
    });
  }

  /** After a manual restart the same error may be shown again. */
  reset(): void {
    this.once.forget();
  }
}

export const showLogAction = (log: vscode.LogOutputChannel): ErrorAction => ({
  title: 'Show Log',
  run: () => log.show(true),
});

export const openSettingsAction = (query = 'codehearth'): ErrorAction => ({
  title: 'Open Settings',
  run: () => vscode.commands.executeCommand('workbench.action.openSettings', query),
});
