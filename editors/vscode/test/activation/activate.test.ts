// Activates the bundled extension (dist/extension.js, as packaged) inside a fake `vscode` module
// and drives it as a user would: the real vscode-languageclient in the bundle starts the real
// splice-lsp. What this checks is the extension's wiring: its commands, the server path, the
// settings reaching the server, the status bar, restarts. What it cannot check is VS Code
// itself: see fakeVscode.ts, and the README's "What is tested".
//
// Needs dist/extension.js (`npm run build`, which `npm test` runs) and splice-lsp ($SPLICE_LSP,
// else ../../target/release/splice-lsp); skipped, saying so, without splice-lsp. The steps with
// a running program also need a Python with the agent ($SPLICE_TEST_PYTHON, else ../../.venv).

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import Module from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { EditorCommand, ServerCommand } from '../../src/protocol';
import { manifestDefaults, pythonWithAgent, ROOT, SERVER, SERVER_MISSING } from '../support';
import { FakeVscode, type TextDocument, ThemeColor } from './fakeVscode';

const BUNDLE = path.join(ROOT, 'dist', 'extension.js');
const WAIT_MS = 15_000;

interface Extension {
  activate(context: unknown): void;
  deactivate(): Promise<void>;
}

// `require('vscode')` from the bundle gets the fake of the test that loads it
let current: FakeVscode | undefined;
type Load = (request: string, parent: unknown, isMain: boolean) => unknown;
const loader = Module as unknown as { _load: Load };
const load = loader._load;
loader._load = function (this: unknown, request: string, parent: unknown, isMain: boolean): unknown {
  if (request === 'vscode') {
    assert.ok(current, 'the bundle asked for vscode with no fake set');
    return current.vscodeModule();
  }
  return load.call(this, request, parent, isMain);
};

/** A fresh copy of the bundle, activated against `fake`. */
function activate(fake: FakeVscode, extensionPath: string): Extension {
  assert.ok(fs.existsSync(BUNDLE), `${BUNDLE} is missing: run \`npm run build\``);
  current = fake;
  // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- a fresh module per activation
  delete require.cache[BUNDLE];
  const extension = require(BUNDLE) as Extension; // eslint-disable-line @typescript-eslint/no-require-imports
  extension.activate({ extensionPath, subscriptions: [] });
  return extension;
}

async function until<T>(what: string, probe: () => T | undefined | false, fake: FakeVscode): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) {
      return value;
    }
    if (Date.now() > deadline) {
      const status = fake.statusItems.map((i) => i.text).join(' | ');
      throw new Error(`timed out waiting for ${what}; status: ${status}\nlog:\n${fake.log.join('\n')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const APP = `import time

import handlers


def handle_request(x):
    return x * 2


if __name__ == "__main__":
    while True:
        time.sleep(0.05)
`;

const HANDLERS = `class Base:
    def handle_request(self, x):
        return x


class Handler(Base):
    def handle_request(self, x):
        return x + 1
`;

describe('the bundled extension, activated in a fake VS Code', { skip: SERVER_MISSING }, () => {
  let work: string;
  let runA: string;
  let runB: string;
  let fake: FakeVscode;
  let extension: Extension;
  let app: TextDocument;
  let handlers: TextDocument;
  const programs: ChildProcess[] = [];
  const status = (): string => fake.statusItems[0]?.text ?? '';
  const statusIs = (text: string): Promise<string> => until(`status "${text}"`, () => status() === text && text, fake);

  before(() => {
    work = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'splice-vscode-')));
    runA = path.join(work, 'run-a');
    runB = path.join(work, 'run-b');
    fs.mkdirSync(runA, { mode: 0o700 });
    fs.mkdirSync(runB, { mode: 0o700 });
    fs.writeFileSync(path.join(work, 'app.py'), APP);
    fs.writeFileSync(path.join(work, 'handlers.py'), HANDLERS);
    fake = new FakeVscode({ ...manifestDefaults(), serverPath: SERVER, runtimeDir: runA }, work);
    // unsaved edits in both buffers: the server patches what the editor shows
    app = fake.openPython(path.join(work, 'app.py'), APP.replace('return x * 2', 'return x * 3'));
    handlers = fake.openPython(
      path.join(work, 'handlers.py'),
      HANDLERS.replace('return x + 1', 'yield x + 1'),
    );
    extension = activate(fake, path.join(work, 'no-bundled-server'));
  });

  after(async () => {
    for (const program of programs) {
      program.kill('SIGKILL');
    }
    await extension.deactivate();
    fs.rmSync(work, { recursive: true, force: true });
  });

  test('activation registers the manifest commands and starts the server from splice.serverPath', async () => {
    for (const id of Object.values(EditorCommand)) {
      assert.ok(fake.commands.has(id), id);
    }
    const [item] = fake.statusItems;
    assert.equal(fake.statusItems.length, 1);
    assert.equal(item.command, EditorCommand.showAgents);
    assert.equal(item.visible, true);
    await statusIs('Splice: 0 programs');
    assert.ok(fake.log.some((l) => l.includes(`info starting ${SERVER} (setting; activation)`)), fake.log.join('\n'));
  });

  test("vscode-languageclient registers the server's commands next to the extension's", () => {
    for (const id of Object.values(ServerCommand)) {
      assert.ok(fake.commands.has(id), id);
    }
  });

  test('Patch Function at Cursor with no program running', async () => {
    fake.cursorAt(app, 'return x * 3');
    await run(fake, EditorCommand.patchFunctionAtCursor);
    await statusIs('Splice: 0 programs · ○ no program running');
    const item = fake.statusItems[0];
    assert.match(String(item.tooltip), new RegExp(`Patch function: app\\.py\\n.*looked in ${runA}`));
    assert.deepEqual(fake.messages, []);
  });

  test('Patch Function at Cursor outside a function says so', async () => {
    fake.cursorAt(app, 'import time');
    await run(fake, EditorCommand.patchFunctionAtCursor);
    assert.deepEqual(fake.messages.pop(), { kind: 'error', text: 'Splice: no function at the cursor', items: [] });
  });

  test('Show Agents with no program running', async () => {
    await run(fake, EditorCommand.showAgents);
    const message = fake.messages.pop();
    assert.equal(message?.kind, 'information');
    assert.match(message.text, /no program is running with the agent/);
    assert.equal(fake.quickPicks.length, 0);
  });

  const agentPython = pythonWithAgent();
  test('with a running program: Show Agents, patch, refusal, revert', { skip: agentPython.why ?? false }, async () => {
    const program = spawn(agentPython.python ?? '', ['-m', 'splice', 'app.py'], {
      cwd: work,
      env: { ...process.env, SPLICE_RUNTIME_DIR: runA },
      stdio: 'ignore',
    });
    programs.push(program);
    await until(
      'the program in Show Agents',
      () => {
        if (fake.quickPicks.length === 0) {
          void run(fake, EditorCommand.showAgents);
          fake.messages.length = 0;
          return false;
        }
        return true;
      },
      fake,
    );
    const [pick] = fake.quickPicks;
    assert.deepEqual(
      (pick.items as { label: string; description: string }[]).map((i) => [i.label, i.description.split(' · ')[0]]),
      [['app.py', `pid ${String(program.pid)}`]],
    );
    await statusIs('Splice: 1 program · ○ no program running');

    fake.cursorAt(app, 'return x * 3');
    await run(fake, EditorCommand.patchFunctionAtCursor);
    await statusIs('Splice: 1 program · ✓ patched handle_request');
    assert.equal(fake.statusItems[0].backgroundColor, undefined);
    const hints = await until('a diagnostic on app.py', () => fake.diagnostics.get(app.uri.toString())?.[0], fake);
    assert.equal(hints.source, 'splice');
    assert.equal(hints.code, 'patched');

    fake.cursorAt(handlers, 'yield x + 1');
    await run(fake, EditorCommand.patchFunctionAtCursor);
    await statusIs('Splice: 1 program · ✗ refused: generator/coroutine kind changed');
    assert.deepEqual(fake.statusItems[0].backgroundColor, new ThemeColor('statusBarItem.errorBackground'));
    const refusal = await until(
      'the refusal on handlers.py',
      () => fake.diagnostics.get(handlers.uri.toString())?.find((d) => d.code === 'refused'),
      fake,
    );
    assert.equal(refusal.source, 'splice');
    assert.equal(refusal.severity, 0); // vscode.DiagnosticSeverity.Error

    fake.cursorAt(app, 'return x * 3');
    await run(fake, EditorCommand.revertFunction);
    await statusIs('Splice: 1 program · ✓ reverted handle_request');

    await run(fake, EditorCommand.patchFile);
    await statusIs('Splice: 1 program · ✓ patched handle_request');
    assert.deepEqual(fake.messages, []);
  });

  test('a runtimeDir change reaches the server without a restart', async () => {
    const starts = fake.log.filter((l) => l.includes('info starting')).length;
    fake.changeSettings({ runtimeDir: runB });
    await until('the runtime folder change', () => /^Splice: 0 programs/.test(status()), fake);
    fake.cursorAt(app, 'return x * 3');
    await run(fake, EditorCommand.patchFunctionAtCursor);
    await until('a patch looking in run-b', () => String(fake.statusItems[0].tooltip).includes(`looked in ${runB}`), fake);
    assert.equal(fake.log.filter((l) => l.includes('info starting')).length, starts);
  });

  test('a serverPath change restarts the server; a wrong one says how to fix it', async () => {
    fake.changeSettings({ serverPath: path.join(work, 'nowhere', 'splice-lsp') });
    await statusIs('Splice: no server');
    const message = fake.messages.pop();
    assert.equal(message?.kind, 'error');
    assert.match(message.text, /"splice\.serverPath" is ".*nowhere\/splice-lsp", but .* is not an executable file/);
    assert.match(message.text, /cargo install --path \./);
    assert.deepEqual(message.items, ['Open Settings', 'Show Log']);
    for (const id of Object.values(ServerCommand)) {
      assert.equal(fake.commands.has(id), false, `${id} still registered`);
    }
    await run(fake, EditorCommand.patchFunctionAtCursor);
    assert.match(fake.messages.pop()?.text ?? '', /splice-lsp is not running/);

    fake.changeSettings({ serverPath: SERVER });
    await until('the server back', () => /^Splice: 0 programs$/.test(status()), fake);
    for (const id of Object.values(ServerCommand)) {
      assert.ok(fake.commands.has(id), id);
    }
    assert.ok(fake.log.some((l) => l.includes('(setting; splice.serverPath changed)')));
  });

  test('Restart Server', async () => {
    await run(fake, EditorCommand.restartServer);
    await until('a restart', () => fake.log.some((l) => l.includes('(setting; command)')) && status() === 'Splice: 0 programs', fake);
    assert.deepEqual(fake.messages, []);
  });
});

describe('finding the server', { skip: SERVER_MISSING }, () => {
  let work: string;
  let extension: Extension | undefined;

  before(() => {
    work = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'splice-vscode-')));
  });

  after(async () => {
    await extension?.deactivate();
    fs.rmSync(work, { recursive: true, force: true });
  });

  test('the bundled server/splice-lsp when splice.serverPath is empty', async () => {
    const extensionPath = path.join(work, 'extension');
    fs.mkdirSync(path.join(extensionPath, 'server'), { recursive: true });
    fs.symlinkSync(SERVER, path.join(extensionPath, 'server', 'splice-lsp'));
    const fake = new FakeVscode({ ...manifestDefaults(), runtimeDir: work }, work);
    extension = activate(fake, extensionPath);
    await until('the bundled server', () => fake.statusItems[0]?.text === 'Splice: 0 programs', fake);
    const bundled = path.join(extensionPath, 'server', 'splice-lsp');
    assert.ok(fake.log.some((l) => l.includes(`info starting ${bundled} (bundled; activation)`)), fake.log.join('\n'));
    await extension.deactivate();
    extension = undefined;
  });

  test('none anywhere: an error that says how to install it', async () => {
    const pathBefore = process.env.PATH;
    process.env.PATH = path.join(work, 'empty-bin');
    try {
      const fake = new FakeVscode(manifestDefaults(), work);
      extension = activate(fake, path.join(work, 'no-extension'));
      const message = await until('the error', () => fake.messages.find((m) => m.kind === 'error'), fake);
      assert.match(message.text, /^Splice: Cannot find splice-lsp/);
      assert.match(message.text, /cargo install --path \./);
      assert.match(message.text, /"splice\.serverPath"/);
      assert.equal(fake.statusItems[0].text, 'Splice: no server');
      assert.match(String(fake.statusItems[0].tooltip), /Cannot find splice-lsp/);
      await run(fake, EditorCommand.showAgents);
    } finally {
      process.env.PATH = pathBefore;
    }
  });
});

function run(fake: FakeVscode, id: string): Promise<unknown> {
  const handler = fake.commands.get(id);
  assert.ok(handler, `${id} is not registered`);
  return Promise.resolve(handler());
}
