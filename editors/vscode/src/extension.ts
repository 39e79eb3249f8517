// The VS Code side: starts splice-lsp for Python files and wires the manifest's commands, the
// status bar and the log to it. Everything that does not need `vscode` lives in the plain
// modules next to this one (settings, serverPath, status, protocol).

import * as vscode from 'vscode';
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  type LanguageClientOptions,
  RevealOutputChannelOn,
  type ServerOptions,
  State,
} from 'vscode-languageclient/node';

import {
  type AgentListing,
  EditorCommand,
  PATCH_RESULT,
  type PatchResultParams,
  type PositionArgs,
  ServerCommand,
  type UriArgs,
} from './protocol';
import { processLookup, resolveServerPath, serverCommand } from './serverPath';
import { initializationOptions, SECTION } from './settings';
import { describePatchResult, renderStatus, type StatusModel } from './status';

let splice: Splice | undefined;

export function activate(context: vscode.ExtensionContext): void {
  splice = new Splice(context);
  context.subscriptions.push(splice);
  void splice.restart('activation');
}

export async function deactivate(): Promise<void> {
  await splice?.stopClient();
  splice = undefined;
}

function configuration(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration(SECTION);
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

class Splice implements vscode.Disposable {
  private readonly log = vscode.window.createOutputChannel('Splice', { log: true });
  private readonly item = vscode.window.createStatusBarItem('splice.status', vscode.StatusBarAlignment.Left, 0);
  private readonly disposables: { dispose(): unknown }[] = [];
  private client: LanguageClient | undefined;
  private model: StatusModel = { server: 'starting' };
  /** Starts and stops run one after another, in the order asked. */
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly context: vscode.ExtensionContext) {
    this.item.name = 'Splice';
    this.item.command = EditorCommand.showAgents;
    this.render();
    this.item.show();
    const command = (id: string, run: () => Promise<void>): vscode.Disposable =>
      vscode.commands.registerCommand(id, () =>
        run().catch((error: unknown) => {
          this.log.error(`${id}: ${message(error)}`);
          void vscode.window.showErrorMessage(`Splice: ${message(error)}`);
        }),
      );
    this.disposables.push(
      this.log,
      this.item,
      command(EditorCommand.patchFunctionAtCursor, () => this.atCursor(ServerCommand.patchFunction)),
      command(EditorCommand.patchFile, () => this.patchFile()),
      command(EditorCommand.revertFunction, () => this.atCursor(ServerCommand.revertFunction)),
      command(EditorCommand.showAgents, () => this.showAgents()),
      command(EditorCommand.restartServer, () => this.restart('command')),
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (event.affectsConfiguration(`${SECTION}.serverPath`)) {
          void this.restart('splice.serverPath changed');
        }
      }),
      vscode.window.onDidChangeWindowState((state) => {
        if (state.focused) {
          void this.refreshAgents();
        }
      }),
    );
  }

  /** The one way the server starts, restarts after a settings change, or on command. */
  restart(reason: string): Promise<void> {
    this.queue = this.queue.then(async () => {
      try {
        await this.stopClient();
        await this.startClient(reason);
      } catch (error) {
        this.fail(`splice-lsp did not restart: ${message(error)}`);
      }
    });
    return this.queue;
  }

  async stopClient(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client === undefined) {
      return;
    }
    try {
      await client.dispose(2000);
    } catch (error) {
      this.log.warn(`stopping splice-lsp: ${message(error)}`);
    }
  }

  private async startClient(reason: string): Promise<void> {
    const found = resolveServerPath(
      configuration().get<string>('serverPath'),
      this.context.extensionPath,
      processLookup(),
    );
    if (!found.ok) {
      this.fail(found.message);
      return;
    }
    this.log.info(`starting ${found.path} (${found.source}; ${reason})`);
    this.setModel({ server: 'starting' });
    const { command, args } = serverCommand(found.path);
    const serverOptions: ServerOptions = { command, args };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: 'file', language: 'python' }],
      // the client sends workspace/didChangeConfiguration when a `splice.*` setting changes...
      synchronize: { configurationSection: SECTION },
      initializationOptions: () => initializationOptions(configuration()),
      outputChannel: this.log,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      middleware: {
        workspace: {
          // ...with the settings built like initializationOptions, not the raw section
          didChangeConfiguration: async () => {
            await client.sendNotification(DidChangeConfigurationNotification.type, {
              settings: initializationOptions(configuration()),
            });
            await this.refreshAgents();
          },
        },
      },
    };
    const client = new LanguageClient('splice', 'Splice', serverOptions, clientOptions);
    client.onDidChangeState(({ newState }) => {
      if (this.client !== client) {
        return;
      }
      if (newState === State.Running) {
        this.setModel({ server: 'running' });
        void this.refreshAgents();
      } else if (newState === State.Stopped && this.model.server !== 'failed') {
        this.setModel({ server: 'stopped' });
      }
    });
    client.onNotification(PATCH_RESULT, (params: PatchResultParams) => {
      const last = describePatchResult(params);
      this.log.info(`${last.text} (${last.details.join('; ')})`);
      this.setModel({ ...this.model, last });
      void this.refreshAgents();
    });
    this.client = client;
    try {
      await client.start();
    } catch (error) {
      if (this.client === client) {
        this.client = undefined;
        this.fail(`splice-lsp (${found.path}) did not start: ${message(error)}`);
      }
      await client.dispose(2000).catch(() => undefined);
    }
  }

  private fail(problem: string): void {
    this.log.error(problem);
    this.setModel({ server: 'failed', problem });
    void vscode.window.showErrorMessage(`Splice: ${problem}`, 'Open Settings', 'Show Log').then((choice) => {
      if (choice === 'Open Settings') {
        void vscode.commands.executeCommand('workbench.action.openSettings', `${SECTION}.serverPath`);
      } else if (choice === 'Show Log') {
        this.log.show();
      }
    });
  }

  private setModel(model: StatusModel): void {
    this.model = model;
    this.render();
  }

  private render(): void {
    const view = renderStatus(this.model);
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
    this.item.backgroundColor =
      view.tone === 'error'
        ? new vscode.ThemeColor('statusBarItem.errorBackground')
        : view.tone === 'warning'
          ? new vscode.ThemeColor('statusBarItem.warningBackground')
          : undefined;
  }

  private running(): LanguageClient {
    const client = this.client;
    if (client === undefined || client.state !== State.Running) {
      throw new Error('splice-lsp is not running; see the Splice output, or run "Splice: Restart Server"');
    }
    return client;
  }

  private execute<T>(command: string, args?: PositionArgs | UriArgs): Promise<T> {
    return this.running().sendRequest(ExecuteCommandRequest.type, {
      command,
      arguments: args === undefined ? [] : [args],
    }) as Promise<T>;
  }

  private pythonEditor(): vscode.TextEditor {
    const editor = vscode.window.activeTextEditor;
    if (editor === undefined || editor.document.languageId !== 'python' || editor.document.uri.scheme !== 'file') {
      throw new Error('open a saved Python file first');
    }
    return editor;
  }

  private async atCursor(command: string): Promise<void> {
    const editor = this.pythonEditor();
    const client = this.running();
    const args: PositionArgs = {
      uri: client.code2ProtocolConverter.asUri(editor.document.uri),
      position: client.code2ProtocolConverter.asPosition(editor.selection.active),
    };
    await this.execute<PatchResultParams>(command, args);
  }

  private async patchFile(): Promise<void> {
    const editor = this.pythonEditor();
    const uri = this.running().code2ProtocolConverter.asUri(editor.document.uri);
    await this.execute<PatchResultParams>(ServerCommand.patchFile, { uri });
  }

  private async listAgents(): Promise<AgentListing[]> {
    const agents = (await this.execute<AgentListing[] | null>(ServerCommand.listAgents)) ?? [];
    if (this.model.server === 'running' && this.model.agents !== agents.length) {
      this.setModel({ ...this.model, agents: agents.length });
    }
    return agents;
  }

  private async refreshAgents(): Promise<void> {
    if (this.client?.state !== State.Running) {
      return;
    }
    try {
      await this.listAgents();
    } catch (error) {
      this.log.warn(`listing agents: ${message(error)}`);
    }
  }

  private async showAgents(): Promise<void> {
    if (this.model.server === 'failed') {
      this.log.show();
      return;
    }
    const agents = await this.listAgents();
    if (agents.length === 0) {
      void vscode.window.showInformationMessage(
        'Splice: no program is running with the agent. Start one with `python -m splice app.py`, or call `splice.start()` in the program.',
      );
      return;
    }
    // Trees: each root, then the processes below it.
    const ordered = [...agents].sort(
      (a, b) => a.rootPid - b.rootPid || Number(a.pid !== a.rootPid) - Number(b.pid !== b.rootPid) || a.pid - b.pid,
    );
    const picked = await vscode.window.showQuickPick(
      ordered.map((agent) => ({
        label: agent.pid === agent.rootPid ? agent.program : `  └ ${agent.program}`,
        description:
          agent.pid === agent.rootPid && agent.tree.includes(':')
            ? `${agent.tree} · Python ${agent.pythonVersion}`
            : `pid ${agent.pid} · Python ${agent.pythonVersion}`,
        detail: `${agent.argv.join(' ')} — in ${agent.cwd}, since ${new Date(agent.startedAt * 1000).toLocaleTimeString()}`,
        agent,
      })),
      { title: 'Splice: programs running with the agent', matchOnDescription: true, matchOnDetail: true },
    );
    if (picked !== undefined) {
      this.log.info(`agent ${JSON.stringify(picked.agent)}`);
    }
  }

  dispose(): void {
    void this.stopClient();
    for (const disposable of this.disposables) {
      disposable.dispose();
    }
  }
}
