// The manifest owns commands, keybindings and settings; these check it against the code.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';

import { EditorCommand, ServerCommand } from '../../src/protocol';
import { objectReader, serverSettings } from '../../src/settings';
import { manifest, manifestDefaults, ROOT } from '../support';

const sorted = (values: Iterable<string>): string[] => [...values].sort();

test('the manifest contributes exactly the commands the extension registers', () => {
  const contributed = manifest().contributes.commands;
  assert.deepEqual(sorted(contributed.map((c) => c.command)), sorted(Object.values(EditorCommand)));
  for (const command of contributed) {
    assert.equal(command.category, 'Splice', command.command);
  }
  assert.deepEqual(
    contributed.map((c) => c.title),
    ['Patch Function at Cursor', 'Patch File', 'Revert Function', 'Show Agents', 'Restart Server'],
  );
  const source = fs.readFileSync(path.join(ROOT, 'src', 'extension.ts'), 'utf8');
  for (const key of Object.keys(EditorCommand)) {
    assert.match(source, new RegExp(`command\\(EditorCommand\\.${key},`), `no handler for EditorCommand.${key}`);
  }
});

test("no extension command takes a server command's name (vscode-languageclient registers those)", () => {
  const server = new Set<string>(Object.values(ServerCommand));
  for (const command of Object.values(EditorCommand)) {
    assert.equal(server.has(command), false, command);
  }
});

test('Patch Function at Cursor has its keybinding in Python editors', () => {
  const bindings = manifest().contributes.keybindings.filter((k) => k.command === EditorCommand.patchFunctionAtCursor);
  assert.equal(bindings.length, 1);
  assert.equal(bindings[0].key, 'ctrl+alt+enter');
  assert.equal(bindings[0].mac, 'cmd+alt+enter');
  assert.match(bindings[0].when ?? '', /(^|&& )editorLangId == python( &&|$)/);
});

test('settings: the four the extension documents, plus the server settings it passes on', () => {
  const properties = manifest().contributes.configuration.properties;
  assert.equal(properties['splice.patchOnSave'].default, true);
  assert.equal(properties['splice.serverPath'].default, '');
  assert.equal(properties['splice.runtimeDir'].default, '');
  assert.equal(properties['splice.trace.server'].default, 'off');
  const extensionOnly = ['serverPath', 'trace.server'];
  const sent = Object.keys(serverSettings(objectReader(manifestDefaults())));
  sent.push('runtimeDir'); // sent once set
  assert.deepEqual(
    sorted(Object.keys(properties).map((key) => key.replace(/^splice\./, ''))),
    sorted([...sent, ...extensionOnly]),
  );
});

test('activation and entry point', () => {
  const pkg = manifest();
  assert.deepEqual(pkg.activationEvents, ['onLanguage:python']);
  assert.equal(pkg.main, './dist/extension.js');
  // vsce refuses @types/vscode newer than the engine
  assert.equal(pkg.engines.vscode.replace(/^\^/, ''), pkg.devDependencies['@types/vscode'].replace(/^~/, ''));
});
