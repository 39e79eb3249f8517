// Starts the real splice-lsp the way the extension does (serverCommand, initializationOptions
// from the same builder, the settings section pushed with workspace/didChangeConfiguration)
// and talks LSP to it over stdio with vscode-jsonrpc: no `vscode` module, no VS Code.
//
// splice-lsp: $SPLICE_LSP, else ../../target/release/splice-lsp (`make server`). Without it
// the whole suite is skipped, saying so. The part with a running program needs a Python with
// the splice agent installed: $SPLICE_TEST_PYTHON, else ../../.venv/bin/python (`make wheel`);
// without one that part alone is skipped, saying so.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';

import {
  createMessageConnection,
  type MessageConnection,
  ResponseError,
  StreamMessageReader,
  StreamMessageWriter,
} from 'vscode-jsonrpc/node';
import {
  type CodeAction,
  CodeActionRequest,
  DidChangeConfigurationNotification,
  DidChangeTextDocumentNotification,
  DidOpenTextDocumentNotification,
  DidSaveTextDocumentNotification,
  type Diagnostic,
  ExecuteCommandRequest,
  ExitNotification,
  InitializedNotification,
  InitializeRequest,
  type InitializeResult,
  PublishDiagnosticsNotification,
  type PublishDiagnosticsParams,
  ShutdownRequest,
} from 'vscode-languageserver-protocol';

import {
  type AgentListing,
  PATCH_RESULT,
  type PatchResultParams,
  type PositionArgs,
  ServerCommand,
  type UriArgs,
} from '../../src/protocol';
import { serverCommand } from '../../src/serverPath';
import { initializationOptions, objectReader, type ServerSettings } from '../../src/settings';
import { describePatchResult, renderStatus } from '../../src/status';
import { manifestDefaults, pythonWithAgent, SERVER, SERVER_MISSING } from '../support';

const WAIT_MS = 15_000;

const APP = `import time


class Base:
    def handle_request(self, x):
        return x


class Handler(Base):
    def handle_request(self, x):
        return x + 1


def handle_request(x):
    return x * 2


if __name__ == "__main__":
    print("ready", flush=True)
    while True:
        time.sleep(0.05)
`;

/** Where `needle` is in `text` (UTF-16, as the extension negotiates), plus `offset` columns. */
function positionOf(text: string, needle: string, offset = 0): { line: number; character: number } {
  const index = text.indexOf(needle);
  assert.notEqual(index, -1, needle);
  const before = text.slice(0, index).split('\n');
  return { line: before.length - 1, character: before[before.length - 1].length + offset };
}

/** A client that keeps every notification until a test takes it. */
class Client {
  readonly connection: MessageConnection;
  stderr = '';
  private readonly received: { method: string; params: unknown }[] = [];
  private readonly waiting = new Set<() => void>();

  constructor(readonly process: ChildProcess) {
    const { stdout, stdin, stderr } = process;
    if (stdout === null || stdin === null || stderr === null) {
      throw new Error('splice-lsp has no stdio');
    }
    stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.connection = createMessageConnection(new StreamMessageReader(stdout), new StreamMessageWriter(stdin));
    this.connection.onNotification((method: string, params: unknown) => {
      this.received.push({ method, params });
      for (const wake of this.waiting) {
        wake();
      }
    });
    // answer whatever the server asks (it asks nothing today)
    this.connection.onRequest(() => null);
    this.connection.listen();
  }

  /** The first notification of `method` that `accept` takes, received before or later. */
  next<T>(method: string, accept: (params: T) => boolean = () => true, timeoutMs = WAIT_MS): Promise<T> {
    return new Promise((resolve, reject) => {
      const look = (): boolean => {
        const index = this.received.findIndex((n) => n.method === method && accept(n.params as T));
        if (index === -1) {
          return false;
        }
        const [found] = this.received.splice(index, 1);
        resolve(found.params as T);
        return true;
      };
      if (look()) {
        return;
      }
      const wake = (): void => {
        if (look()) {
          this.waiting.delete(wake);
          clearTimeout(timer);
        }
      };
      const timer = setTimeout(() => {
        this.waiting.delete(wake);
        reject(new Error(`no ${method} within ${timeoutMs} ms; stderr:\n${this.stderr}`));
      }, timeoutMs);
      this.waiting.add(wake);
    });
  }

  /** Whether a notification of `method` arrives within `ms`. */
  async arrives(method: string, ms: number): Promise<boolean> {
    try {
      await this.next(method, () => true, ms);
      return true;
    } catch {
      return false;
    }
  }

  drop(method: string): void {
    for (let i = this.received.length - 1; i >= 0; i--) {
      if (this.received[i].method === method) {
        this.received.splice(i, 1);
      }
    }
  }

  execute<T>(command: string, args?: PositionArgs | UriArgs): Promise<T> {
    return this.connection.sendRequest(ExecuteCommandRequest.type, {
      command,
      arguments: args === undefined ? [] : [args],
    }) as Promise<T>;
  }
}

describe('splice-lsp, started as the extension starts it', { skip: SERVER_MISSING }, () => {
  let work: string;
  let runA: string;
  let runB: string;
  let client: Client;
  let started: Client | undefined;
  let init: InitializeResult;
  let settings: Record<string, unknown>;
  const appPath = (): string => path.join(work, 'app.py');
  const uri = (): string => pathToFileURL(appPath()).href;
  let text = APP;
  let version = 1;
  const programs: ChildProcess[] = [];

  /** What the extension sends after a settings change: the same builder as initializationOptions. */
  const configure = async (changes: Record<string, unknown>): Promise<ServerSettings> => {
    settings = { ...settings, ...changes };
    const options = initializationOptions(objectReader(settings));
    await client.connection.sendNotification(DidChangeConfigurationNotification.type, { settings: options });
    return options.splice;
  };

  const edit = async (from: string, to: string): Promise<void> => {
    assert.ok(text.includes(from), from);
    text = text.replace(from, to);
    version += 1;
    await client.connection.sendNotification(DidChangeTextDocumentNotification.type, {
      textDocument: { uri: uri(), version },
      contentChanges: [{ text }],
    });
  };

  before(async () => {
    work = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'splice-vscode-')));
    runA = path.join(work, 'run-a');
    runB = path.join(work, 'run-b');
    for (const dir of [runA, runB, path.join(work, 'run-env')]) {
      fs.mkdirSync(dir, { mode: 0o700 });
    }
    fs.writeFileSync(appPath(), APP);
    settings = { ...manifestDefaults(), runtimeDir: runA };
    const { command, args } = serverCommand(SERVER);
    // the environment's folder loses to the setting
    const env = { ...process.env, SPLICE_RUNTIME_DIR: path.join(work, 'run-env') };
    client = new Client(spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] }));
    started = client;
    init = await client.connection.sendRequest(InitializeRequest.type, {
      processId: process.pid,
      clientInfo: { name: 'splice-vscode test' },
      // eslint-disable-next-line @typescript-eslint/no-deprecated -- required; vscode-languageclient sends it too
      rootUri: pathToFileURL(work).href,
      workspaceFolders: [{ uri: pathToFileURL(work).href, name: 'work' }],
      capabilities: {
        general: { positionEncodings: ['utf-16'] },
        workspace: { didChangeConfiguration: { dynamicRegistration: true }, workspaceFolders: true },
        textDocument: {
          synchronization: { didSave: true, dynamicRegistration: true },
          publishDiagnostics: { relatedInformation: true },
          codeAction: { codeActionLiteralSupport: { codeActionKind: { valueSet: ['source'] } } },
        },
      },
      initializationOptions: initializationOptions(objectReader(settings)),
    });
    await client.connection.sendNotification(InitializedNotification.type, {});
    // vscode-languageclient pushes the section once at start, through our middleware
    await configure({});
    await client.connection.sendNotification(DidOpenTextDocumentNotification.type, {
      textDocument: { uri: uri(), languageId: 'python', version, text },
    });
  });

  after(async () => {
    for (const program of programs) {
      program.kill('SIGKILL');
    }
    if (started !== undefined) {
      const { connection, process: server } = started;
      await Promise.race([
        connection.sendRequest(ShutdownRequest.type).then(() => connection.sendNotification(ExitNotification.type)),
        new Promise((resolve) => setTimeout(resolve, 3000)),
      ]).catch(() => undefined);
      connection.dispose();
      server.kill();
    }
    fs.rmSync(work, { recursive: true, force: true });
  });

  test('it offers exactly the commands the extension sends', () => {
    const offered = init.capabilities.executeCommandProvider?.commands ?? [];
    assert.deepEqual([...offered].sort(), Object.values(ServerCommand).sort());
    assert.equal(init.serverInfo?.name, 'splice-lsp');
    assert.equal(init.capabilities.positionEncoding ?? 'utf-16', 'utf-16');
    assert.ok(init.capabilities.codeActionProvider);
  });

  test('splice.listAgents answers', async () => {
    const agents = await client.execute<AgentListing[]>(ServerCommand.listAgents);
    assert.deepEqual(agents, []);
  });

  test('it takes the initializationOptions: the runtime folder is the one set', async () => {
    const answer = await client.execute<PatchResultParams>(ServerCommand.patchFile, { uri: uri() });
    const notified = await client.next<PatchResultParams>(PATCH_RESULT);
    assert.deepEqual(notified, answer);
    assert.equal(answer.uri, uri());
    assert.equal(answer.trigger, 'patchFile');
    assert.deepEqual(answer.agents, []);
    assert.equal(answer.notLoaded?.reason, 'no-program');
    assert.ok(answer.notLoaded.message.includes(`looked in ${runA}`), answer.notLoaded.message);
    assert.equal(describePatchResult(answer).text, '○ no program running');
    assert.doesNotMatch(client.stderr, /splice settings/);
  });

  test('it takes workspace/didChangeConfiguration from the same builder', async () => {
    await configure({ runtimeDir: runB, patchOnSave: false });
    const answer = await client.execute<PatchResultParams>(ServerCommand.patchFile, { uri: uri() });
    assert.equal(answer.notLoaded?.reason, 'no-program');
    assert.ok(answer.notLoaded.message.includes(`looked in ${runB}`), answer.notLoaded.message);
    client.drop(PATCH_RESULT);

    await client.connection.sendNotification(DidSaveTextDocumentNotification.type, { textDocument: { uri: uri() } });
    assert.equal(await client.arrives(PATCH_RESULT, 1000), false, 'patched on save with patchOnSave off');

    await configure({ patchOnSave: true });
    await client.connection.sendNotification(DidSaveTextDocumentNotification.type, { textDocument: { uri: uri() } });
    const saved = await client.next<PatchResultParams>(PATCH_RESULT);
    assert.equal(saved.trigger, 'save');
    assert.equal(await client.arrives('window/showMessage', 200), false, 'the server complained about the settings');
  });

  test('its code action runs a command the client registers', async () => {
    const at = positionOf(text, 'return x * 2');
    const actions = (await client.connection.sendRequest(CodeActionRequest.type, {
      textDocument: { uri: uri() },
      range: { start: at, end: at },
      context: { diagnostics: [] },
    })) as CodeAction[] | null;
    assert.equal(actions?.length, 1);
    const action = actions[0];
    assert.equal(action.title, "Patch function 'handle_request'");
    assert.equal(action.kind, 'refactor.rewrite');
    assert.equal(action.command?.command, ServerCommand.patchFunction);
    assert.deepEqual(action.command.arguments, [{ uri: uri(), position: at }]);
  });

  test('patching outside a function fails with a message the extension shows', async () => {
    await assert.rejects(
      client.execute(ServerCommand.patchFunction, { uri: uri(), position: { line: 0, character: 0 } }),
      (error: unknown) => error instanceof ResponseError && error.message === 'no function at the cursor',
    );
  });

  const agentPython = pythonWithAgent();
  test('with a running program: patch, refusal, revert, and the status bar text for each', { skip: agentPython.why ?? false }, async () => {
    await configure({ runtimeDir: runA });
    const program = spawn(agentPython.python ?? '', ['-m', 'splice', 'app.py'], {
      cwd: work,
      env: { ...process.env, SPLICE_RUNTIME_DIR: runA, PYTHONUNBUFFERED: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    programs.push(program);
    let output = '';
    program.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    program.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));

    let agents: AgentListing[] = [];
    const deadline = Date.now() + WAIT_MS;
    while (agents.length === 0) {
      assert.ok(Date.now() < deadline, `the program never showed up in splice.listAgents; its output:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      agents = await client.execute<AgentListing[]>(ServerCommand.listAgents);
    }
    assert.equal(agents.length, 1);
    const [listed] = agents;
    assert.equal(listed.pid, program.pid);
    assert.equal(listed.program, 'app.py');
    assert.ok(listed.argv.some((a) => a.endsWith('app.py')), JSON.stringify(listed.argv));
    assert.equal(listed.cwd, work);
    assert.match(listed.pythonVersion, /^3\.\d+/);
    assert.equal(typeof listed.address, 'string');
    assert.ok(listed.startedAt > 0);
    // A program of one process is the root of its own tree.
    assert.equal(listed.rootPid, program.pid);
    assert.equal(listed.tree, `app.py (pid ${program.pid})`);
    assert.equal(typeof listed.parentPid, 'number');

    const patch = async (command: string, needle: string): Promise<PatchResultParams> => {
      client.drop(PATCH_RESULT);
      const answer = await client.execute<PatchResultParams>(command, { uri: uri(), position: positionOf(text, needle) });
      assert.deepEqual(await client.next<PatchResultParams>(PATCH_RESULT), answer);
      return answer;
    };
    const diagnostics = (code: string): Promise<Diagnostic[]> =>
      client
        .next<PublishDiagnosticsParams>(PublishDiagnosticsNotification.method, (p) =>
          p.uri === uri() && p.diagnostics.some((d) => d.code === code),
        )
        .then((p) => p.diagnostics.filter((d) => d.code === code));

    await edit('return x * 2', 'return x * 3');
    const patched = await patch(ServerCommand.patchFunction, 'return x * 3');
    assert.equal(patched.agents.length, 1);
    assert.equal(patched.agents[0].pid, program.pid);
    assert.deepEqual(
      patched.agents[0].definitions.map((d) => [d.qualname, d.status]),
      [['handle_request', 'patched']],
    );
    const last = describePatchResult(patched);
    assert.equal(last.text, '✓ patched handle_request');
    assert.equal(renderStatus({ server: 'running', agents: 1, last }).text, 'Splice: 1 program · ✓ patched handle_request');
    const [hint] = await diagnostics('patched');
    assert.equal(hint.source, 'splice');

    await edit('return x + 1', 'yield x + 1');
    const refused = await patch(ServerCommand.patchFunction, 'yield x + 1');
    assert.deepEqual(
      refused.agents[0].definitions.map((d) => [d.qualname, d.status, d.reason]),
      [['Handler.handle_request', 'refused', 'kind-changed']],
    );
    assert.equal(describePatchResult(refused).text, '✗ refused: generator/coroutine kind changed');
    const [error] = await diagnostics('refused');
    assert.equal(error.source, 'splice');
    assert.equal(error.severity, 1);

    const reverted = await patch(ServerCommand.revertFunction, 'return x * 3');
    assert.deepEqual(
      reverted.agents[0].definitions.map((d) => [d.qualname, d.status]),
      [['handle_request', 'reverted']],
    );
    assert.equal(reverted.trigger, 'revertFunction');
    assert.equal(describePatchResult(reverted).text, '✓ reverted handle_request');
  });
});
