import * as vscode from 'vscode';
import { StatusInfo, statusView } from './status';

/** The status bar item: model, state, last completion latency; clicking it shows the log. */
export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private info: StatusInfo = { state: 'starting' };

  constructor() {
    this.item = vscode.window.createStatusBarItem('codehearth.status', vscode.StatusBarAlignment.Right, 100);
    this.item.name = 'Codehearth';
    this.item.command = 'codehearth.showLog';
    this.render();
    this.item.show();
  }

  get current(): StatusInfo {
    return { ...this.info };
  }

  update(change: Partial<StatusInfo>): void {
    this.info = { ...this.info, ...change };
    this.render();
  }

  private render(): void {
    const view = statusView(this.info);
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
    this.item.backgroundColor = view.isError ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}
